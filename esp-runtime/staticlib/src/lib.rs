//! `ferrograd-esp`'s C ABI as a `staticlib` (see `Cargo.toml`): the
//! `fg_*` functions of [`ferrograd_esp::capi`], a panic handler that calls
//! the C library's `abort`, and a global allocator that refuses every
//! request, since inference never allocates.
#![no_std]

pub use ferrograd_esp::capi::*;

/// An allocator that never hands out memory.
struct NoHeap;

// SAFETY: `alloc` always returns null (allocation failure), which is a
// valid answer; `dealloc` is never given a pointer from it.
unsafe impl core::alloc::GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
}

#[global_allocator]
static HEAP: NoHeap = NoHeap;

extern "C" {
    fn abort() -> !;
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: the C library's `abort` takes no arguments and never returns.
    unsafe { abort() }
}
