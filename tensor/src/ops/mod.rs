//! The checked operations of [`crate::Tensor`], one file per family. Each
//! validates shapes and indices, returning [`crate::TensorError`], then calls
//! a kernel from [`crate::kernels`].

mod elementwise;
mod layout;
mod linalg;
mod reduce;

pub(crate) use reduce::axis_view;
