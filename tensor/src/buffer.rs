//! Tensor storage and, with the `std` feature, a per-thread cache of freed
//! buffers.
//!
//! Training allocates and frees the same large buffers every step (a batch
//! of activations, their gradients). Without a cache, the system allocator
//! returns each one to the operating system and page-faults it back in on
//! the next step (measured: a quarter of a gradient-penalty training step).
//! Like PyTorch's caching allocator, freed buffers of at least
//! [`MIN_CACHED`] values are kept per thread, by exact length, and handed
//! out again: at most [`MAX_PER_LENGTH`] per length and [`MAX_CACHED_BYTES`]
//! per thread. Without `std` (microcontrollers) buffers are plain vectors.

use alloc::vec::Vec;

/// Buffers shorter than this many values are not cached (small
/// allocations are cheap).
pub const MIN_CACHED: usize = 1 << 12;
/// At most this many idle buffers of one length are kept per thread.
pub const MAX_PER_LENGTH: usize = 64;
/// At most this many bytes of idle buffers are kept per thread.
pub const MAX_CACHED_BYTES: usize = 256 << 20;

/// A tensor's values; the vector goes back to the cache when dropped.
#[derive(Debug, Default)]
pub(crate) struct Buffer(pub(crate) Vec<f32>);

impl Buffer {
    /// Takes the vector out (the buffer is left empty).
    pub(crate) fn take(&mut self) -> Vec<f32> {
        core::mem::take(&mut self.0)
    }
}

impl Clone for Buffer {
    fn clone(&self) -> Buffer {
        let mut v = for_overwrite(self.0.len());
        v.copy_from_slice(&self.0);
        Buffer(v)
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        #[cfg(feature = "std")]
        cache::give(core::mem::take(&mut self.0));
    }
}

/// A vector of `n` values, all `value`, from the cache when one fits.
pub fn filled(n: usize, value: f32) -> Vec<f32> {
    #[cfg(feature = "std")]
    if let Some(mut v) = cache::take(n) {
        v.fill(value);
        return v;
    }
    alloc::vec![value; n]
}

/// A vector of `n` zeros (a cached buffer, zeroed, when one fits).
pub fn zeros(n: usize) -> Vec<f32> {
    filled(n, 0.0)
}

/// A vector of length `n` whose values are unspecified (but initialised):
/// a cached buffer's old contents, or zeros. For outputs a kernel
/// overwrites completely. Code outside this crate that fills large scratch
/// vectors (a fused op's saved activations) takes them here and hands them
/// back with [`recycle`], so they are not page-faulted in anew every step.
///
/// ```
/// use ferrograd_tensor::buffer::{for_overwrite, recycle};
/// let mut v = for_overwrite(1 << 14);
/// v.fill(1.0);
/// recycle(v);
/// assert_eq!(for_overwrite(3).len(), 3);
/// ```
pub fn for_overwrite(n: usize) -> Vec<f32> {
    #[cfg(feature = "std")]
    if let Some(v) = cache::take(n) {
        return v;
    }
    alloc::vec![0.0; n]
}

/// Gives a vector back to this thread's cache (if it is large enough and
/// the cache has room; otherwise it is freed). Without `std` it is freed.
pub fn recycle(v: Vec<f32>) {
    #[cfg(feature = "std")]
    cache::give(v);
    #[cfg(not(feature = "std"))]
    drop(v);
}

#[cfg(feature = "std")]
mod cache {
    use super::{MAX_CACHED_BYTES, MAX_PER_LENGTH, MIN_CACHED};
    use alloc::vec::Vec;
    use core::cell::RefCell;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Cache {
        free: HashMap<usize, Vec<Vec<f32>>>,
        bytes: usize,
    }

    std::thread_local! {
        static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    }

    pub(super) fn take(n: usize) -> Option<Vec<f32>> {
        if n < MIN_CACHED {
            return None;
        }
        CACHE
            .try_with(|c| {
                let mut c = c.borrow_mut();
                let v = c.free.get_mut(&n)?.pop()?;
                c.bytes -= n * 4;
                Some(v)
            })
            .ok()
            .flatten()
    }

    pub(super) fn give(v: Vec<f32>) {
        let n = v.len();
        if n < MIN_CACHED || v.capacity() != n {
            return;
        }
        // During thread teardown the cache may be gone: then just free.
        let _ = CACHE.try_with(|c| {
            let mut c = c.borrow_mut();
            if c.bytes + n * 4 > MAX_CACHED_BYTES {
                return;
            }
            let list = c.free.entry(n).or_default();
            if list.len() < MAX_PER_LENGTH {
                list.push(v);
                c.bytes += n * 4;
            }
        });
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn freed_buffers_are_reused_and_zeroed_on_request() {
        let n = MIN_CACHED * 3 + 1;
        let mut b = Buffer(filled(n, 7.0));
        let ptr = b.0.as_ptr();
        drop(core::mem::take(&mut b));
        drop(b);
        // The buffer dropped above is handed out again, zeroed.
        let v = zeros(n);
        assert!(v.iter().all(|&x| x == 0.0));
        let _ = ptr; // reuse is likely but not guaranteed (another test may take it)
        let small = zeros(3);
        assert_eq!(small, [0.0; 3]);
    }
}
