//! f32 tensors and kernels for ferrograd.
//!
//! The core is `#![no_std]` + `alloc`, so the same kernels serve the training
//! framework on the host and the inference runtime on a microcontroller. The
//! default `std` feature adds rayon parallelism for large problems and
//! run-time SIMD dispatch on x86_64 (AVX-512F, else AVX2+FMA, else scalar).
//! On the scalar path (every `no_std` build and every non-x86 target)
//! transcendental functions come from `libm`, so a microcontroller and the
//! host's scalar path agree bit for bit; the SIMD paths use
//! [`kernels::vmath`], within 2 ulp of the correctly rounded result.
//!
//! * [`kernels`]: plain functions over slices (`&[f32]`, `&mut [f32]`).
//! * [`Tensor`]: an owned, contiguous, row-major f32 buffer plus a [`Shape`];
//!   clones share the buffer. Its methods check shapes and return
//!   [`TensorError`] instead of panicking.
//!
//! ```
//! use ferrograd_tensor::Tensor;
//! let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
//! let b = Tensor::from_vec(vec![10.0, 20.0], &[2]).unwrap();
//! let c = a.add(&b).unwrap(); // broadcasts b over the rows
//! assert_eq!(c.data(), &[11.0, 22.0, 13.0, 24.0]);
//! ```
#![no_std]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod buffer;
mod error;
mod indices;
pub mod kernels;
mod ops;
mod shape;
mod tensor;

pub use error::{Result, TensorError};
pub use indices::Indices;
pub use shape::{Shape, MAX_RANK};
pub use tensor::Tensor;
