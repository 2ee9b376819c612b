//! Helpers shared by the kernels' unit tests.

use alloc::vec::Vec;

/// `f()` on a fresh rayon pool of `threads` threads (to compare a kernel's
/// split result with its serial one).
pub(crate) fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a test thread pool")
        .install(f)
}

/// `len` deterministic values: a multiplicative hash of the index mixed with
/// `seed`, modulo `modulus`, divided by `div`, minus `shift`.
pub(crate) fn hashed(len: usize, seed: u32, modulus: u32, div: f32, shift: f32) -> Vec<f32> {
    (0..len)
        .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % modulus) as f32 / div - shift)
        .collect()
}
