//! A bump allocator over a static array: `alloc` hands out aligned slices of
//! the arena in order and `dealloc` frees nothing (except the newest block,
//! which it gives back). Enough for a test program that allocates a few
//! small tensors; out of memory is a null pointer (`handle_alloc_error`).
//!
//! Not thread- or interrupt-safe: the firmware runs on one hart (riscv-rt
//! parks the others) with interrupts disabled, so plain `Cell`s suffice.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::{Cell, UnsafeCell};
use core::ptr;

/// A bump allocator over an `N`-byte arena.
#[repr(C, align(16))]
pub struct Bump<const N: usize> {
    arena: UnsafeCell<[u8; N]>,
    /// Offset of the first free byte.
    next: Cell<usize>,
    /// The most bytes ever in use.
    peak: Cell<usize>,
}

// SAFETY: single hart, no interrupts (see the module docs); nothing else
// touches the cells concurrently.
unsafe impl<const N: usize> Sync for Bump<N> {}

impl<const N: usize> Bump<N> {
    /// An empty arena.
    pub const fn new() -> Self {
        Bump {
            arena: UnsafeCell::new([0; N]),
            next: Cell::new(0),
            peak: Cell::new(0),
        }
    }

    /// The most bytes that were in use at once.
    pub fn peak(&self) -> usize {
        self.peak.get()
    }
}

unsafe impl<const N: usize> GlobalAlloc for Bump<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.arena.get() as *mut u8;
        let addr = base as usize + self.next.get();
        // Align the address (the alignment is a power of two).
        let aligned = match addr.checked_add(layout.align() - 1) {
            Some(a) => a & !(layout.align() - 1),
            None => return ptr::null_mut(),
        };
        let start = aligned - base as usize;
        match start.checked_add(layout.size()) {
            Some(end) if end <= N => {
                self.next.set(end);
                self.peak.set(self.peak.get().max(end));
                base.wrapping_add(start)
            }
            _ => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // Give the block back only if it is the newest one.
        let base = self.arena.get() as *mut u8 as usize;
        if p as usize + layout.size() == base + self.next.get() {
            self.next.set(p as usize - base);
        }
    }
}
