//! ferrograd's forward-only inference runtime: exported masked autoregressive
//! flows ([`Maf`]), mixture density networks ([`Mdn`]) and plain MLPs
//! ([`Mlp`]) evaluated with no heap, on the host and on ESP32 (RISC-V
//! ESP32-C3 and Xtensa ESP32) alike.
//!
//! * A model is a borrowed view of an exported blob ([`format`]): the f32
//!   arrays are read in place (no copy out of flash), after the header, the
//!   dimensions and a CRC-32 have been checked. Parsing never panics.
//! * Inference needs no allocator: every model reports the scratch it needs
//!   (`scratch_len`, in f32s) and the caller passes it.
//! * Arithmetic is the tensor crate's portable scalar code
//!   ([`ferrograd_tensor::kernels::matmul::matmul_portable`], the unary ops
//!   through `libm`), so a blob gives the same f32 bits on every target.
//! * [`Rng`] is a tiny seeded generator (SplitMix64 + Box–Muller through
//!   `libm`), identical on every target, so seeded samples are too.
//!
//! ```
//! # #[cfg(feature = "export")] {
//! use ferrograd_esp::{export, Activation, Mlp};
//! // A 2-3-1 MLP (weights in PyTorch's [out, in] layout), exported and read back.
//! let w0 = [0.1, 0.2, 0.3, -0.1, 0.5, 0.0];
//! let w1 = [1.0, -1.0, 0.5];
//! let layers = [
//!     export::DenseLayer { inputs: 2, outputs: 3, weight: &w0, bias: &[0.0, 0.1, 0.2] },
//!     export::DenseLayer { inputs: 3, outputs: 1, weight: &w1, bias: &[0.5] },
//! ];
//! let blob = export::encode_mlp(Activation::Relu, &layers).unwrap();
//! let aligned = ferrograd_esp::AlignedBlob::new(&blob);
//! let mlp = Mlp::from_bytes(aligned.bytes()).unwrap();
//! let mut scratch = vec![0.0; mlp.scratch_len()];
//! let mut y = [0.0];
//! mlp.forward(&[1.0, 2.0], &mut y, &mut scratch).unwrap();
//! // h = relu([0.5, 0.2, 0.7]); y = 0.5 - 0.2 + 0.35 + 0.5
//! assert!((y[0] - 1.15).abs() < 1e-6);
//! # }
//! ```
#![no_std]
#![warn(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!(
    "ferrograd-esp reads little-endian blobs in place: big-endian targets are not supported"
);

#[cfg(feature = "alloc")]
extern crate alloc;

mod activation;
#[cfg(feature = "capi")]
pub mod capi;
mod dense;
mod error;
#[cfg(feature = "export")]
pub mod export;
pub mod format;
mod maf;
mod mdn;
mod mlp;
mod model;
mod norm;
mod resmlp;
mod rng;
pub mod selftest;

pub use activation::Activation;
pub use error::Error;
pub use format::Kind;
pub use maf::Maf;
pub use mdn::{DiagTransform, Mdn};
pub use mlp::Mlp;
pub use model::Model;
pub use norm::Normalisation;
pub use resmlp::ResMlp;
pub use rng::Rng;

/// ½·ln 2π, as the training framework's MAF uses it.
pub(crate) const HALF_LN_2PI: f32 = 0.918_938_5;

/// A blob copied into 4-byte aligned storage, for blobs read from a file
/// (a `Vec<u8>` need not be aligned; the exported `static` is).
///
/// ```
/// let blob = [1u8, 2, 3, 4, 5];
/// let a = ferrograd_esp::AlignedBlob::new(&blob);
/// assert_eq!(a.bytes(), &blob);
/// assert_eq!(a.bytes().as_ptr() as usize % 4, 0);
/// ```
#[cfg(feature = "alloc")]
#[derive(Clone, Debug)]
pub struct AlignedBlob {
    words: alloc::vec::Vec<u32>,
    len: usize,
}

#[cfg(feature = "alloc")]
impl AlignedBlob {
    /// Copies `bytes` (zero-padded to whole words).
    pub fn new(bytes: &[u8]) -> AlignedBlob {
        let words = bytes
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect();
        AlignedBlob {
            words,
            len: bytes.len(),
        }
    }

    /// The blob's bytes, starting at a 4-byte boundary.
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.words)[..self.len]
    }
}

/// Checks that a caller's slice has the length the model needs.
pub(crate) fn check_len(what: &'static str, got: usize, expected: usize) -> Result<(), Error> {
    if got == expected {
        Ok(())
    } else {
        Err(Error::InputLength {
            what,
            expected,
            got,
        })
    }
}

/// Checks that the caller's scratch holds at least `needed` f32s.
pub(crate) fn check_scratch(got: usize, needed: usize) -> Result<(), Error> {
    if got >= needed {
        Ok(())
    } else {
        Err(Error::ScratchTooSmall { needed, got })
    }
}
