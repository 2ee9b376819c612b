//! The `Tensor` type: a shared, contiguous, row-major f32 buffer plus a shape.

use crate::buffer::{self, Buffer};
use crate::error::{Result, TensorError};
use crate::Shape;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

// Arc where the target has atomic pointers (and so `Tensor: Send + Sync`),
// Rc on cores without them (such as riscv32imc).
#[cfg(target_has_atomic = "ptr")]
pub(crate) type Shared<T> = alloc::sync::Arc<T>;
#[cfg(not(target_has_atomic = "ptr"))]
pub(crate) type Shared<T> = alloc::rc::Rc<T>;

/// An f32 tensor: contiguous row-major data and a [`Shape`].
///
/// Clones share the buffer (a reference-count increment); [`Tensor::data_mut`]
/// copies it first if it is shared. Reshaping never copies.
///
/// ```
/// use ferrograd_tensor::Tensor;
/// let t = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
/// let s = t.sum(&[1], false).unwrap();
/// assert_eq!(s.data(), &[6.0, 15.0]);
/// assert!(t.reshape(&[4, 2]).is_err()); // 6 values cannot be 4×2
/// ```
#[derive(Clone)]
pub struct Tensor {
    data: Shared<Buffer>,
    shape: Shape,
}

impl Tensor {
    /// A tensor owning `data` with dimensions `dims`; an error if the length
    /// does not match.
    pub fn from_vec(data: Vec<f32>, dims: &[usize]) -> Result<Tensor> {
        Tensor::with_shape(data, Shape::new(dims)?)
    }

    /// A tensor owning `data` with shape `shape`; an error if the length does not match.
    pub fn with_shape(data: Vec<f32>, shape: Shape) -> Result<Tensor> {
        if data.len() != shape.numel() {
            return Err(TensorError::DataLength {
                shape,
                len: data.len(),
            });
        }
        Ok(Tensor {
            data: Shared::new(Buffer(data)),
            shape,
        })
    }

    /// Internal constructor for kernel outputs whose length is right by construction.
    pub(crate) fn from_parts(data: Vec<f32>, shape: Shape) -> Tensor {
        debug_assert_eq!(data.len(), shape.numel());
        Tensor {
            data: Shared::new(Buffer(data)),
            shape,
        }
    }

    /// A copy of `data` with dimensions `dims`.
    pub fn from_slice(data: &[f32], dims: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(data.to_vec(), dims)
    }

    /// A rank-0 tensor holding `value`.
    pub fn scalar(value: f32) -> Tensor {
        Tensor::from_parts(vec![value], Shape::scalar())
    }

    /// A tensor of the given shape filled with `value`.
    pub fn full(dims: &[usize], value: f32) -> Result<Tensor> {
        let shape = Shape::new(dims)?;
        Ok(Tensor::full_shape(shape, value))
    }

    /// A tensor of shape `shape` filled with `value`.
    pub fn full_shape(shape: Shape, value: f32) -> Tensor {
        Tensor::from_parts(buffer::filled(shape.numel(), value), shape)
    }

    /// Zeros of the given shape.
    pub fn zeros(dims: &[usize]) -> Result<Tensor> {
        Tensor::full(dims, 0.0)
    }

    /// Ones of the given shape.
    pub fn ones(dims: &[usize]) -> Result<Tensor> {
        Tensor::full(dims, 1.0)
    }

    /// Zeros shaped like `self`.
    pub fn zeros_like(&self) -> Tensor {
        Tensor::full_shape(self.shape, 0.0)
    }

    /// The `n × n` identity matrix.
    pub fn eye(n: usize) -> Tensor {
        let mut d = buffer::zeros(n * n);
        for i in 0..n {
            d[i * n + i] = 1.0;
        }
        Tensor::from_parts(d, Shape::new(&[n, n]).expect("rank 2"))
    }

    /// `[start, start + step, …]`, `n` values, as a 1-D tensor.
    pub fn linspace_step(start: f32, step: f32, n: usize) -> Tensor {
        let d = (0..n).map(|i| start + step * i as f32).collect();
        Tensor::from_parts(d, Shape::new(&[n]).expect("rank 1"))
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data.0
    }

    /// Mutable access to the values; copies the buffer first if another tensor shares it.
    pub fn data_mut(&mut self) -> &mut [f32] {
        Shared::make_mut(&mut self.data).0.as_mut_slice()
    }

    /// The values as an owned vector (no copy if the buffer is not shared).
    pub fn into_vec(self) -> Vec<f32> {
        match Shared::try_unwrap(self.data) {
            Ok(mut b) => b.take(),
            Err(shared) => shared.0.clone(),
        }
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions as a slice.
    pub fn dims(&self) -> &[usize] {
        self.shape.as_slice()
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        if self.numel() == 1 {
            Ok(self.data.0[0])
        } else {
            Err(TensorError::InvalidArgument {
                op: "item",
                reason: alloc::format!(
                    "needs exactly one element, the tensor has shape {}",
                    self.shape
                ),
            })
        }
    }

    /// The same values with new dimensions (no copy); the element count must match.
    pub fn reshape(&self, dims: &[usize]) -> Result<Tensor> {
        self.reshape_to(Shape::new(dims)?)
    }

    /// The same values with a new shape (no copy); the element count must match.
    pub fn reshape_to(&self, shape: Shape) -> Result<Tensor> {
        if shape.numel() != self.numel() {
            return Err(TensorError::ShapeMismatch {
                op: "reshape",
                lhs: self.shape,
                rhs: shape,
            });
        }
        Ok(Tensor {
            data: self.data.clone(),
            shape,
        })
    }

    /// Whether two tensors share one buffer (for tests of copy-free paths).
    pub fn shares_buffer_with(&self, other: &Tensor) -> bool {
        Shared::ptr_eq(&self.data, &other.data)
    }

    /// Largest absolute elementwise difference to `other` (∞ if shapes differ).
    pub fn max_abs_diff(&self, other: &Tensor) -> f32 {
        if self.shape != other.shape {
            return f32::INFINITY;
        }
        self.data
            .0
            .iter()
            .zip(other.data.0.iter())
            .map(|(a, b)| libm::fabsf(a - b))
            .fold(0.0, f32::max)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 16;
        write!(f, "Tensor{} [", self.shape)?;
        for (i, v) in self.data.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{v}")?;
        }
        if self.numel() > SHOWN {
            write!(f, ", … ({} values)", self.numel())?;
        }
        write!(f, "]")
    }
}

impl PartialEq for Tensor {
    fn eq(&self, other: &Tensor) -> bool {
        self.shape == other.shape && self.data.0[..] == other.data.0[..]
    }
}
