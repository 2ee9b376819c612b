//! Kernels: plain functions over slices, shared by host and device.
//!
//! Each kernel documents the layout it expects. Kernels check slice lengths
//! with assertions (a caller bug, not a user error); the checked, typed-error
//! API is [`crate::Tensor`].

pub mod act_grad;
pub mod attention;
pub mod binary;
pub mod index;
pub mod linalg;
pub mod lstm;
pub mod matmul;
pub mod mixture;
pub mod mixture_lanes;
pub mod norm;
pub mod reduce;
pub mod simd;
#[cfg(all(test, feature = "std"))]
mod test_util;
pub mod unary;
pub mod vmath;
#[cfg(feature = "std")]
pub mod warm;
