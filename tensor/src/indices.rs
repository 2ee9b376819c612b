//! Integer index tensors, for gather, scatter and arg-reductions.

use crate::error::{Result, TensorError};
use crate::tensor::Shared;
use crate::Shape;
use alloc::vec::Vec;

/// A shared, row-major tensor of `usize` indices.
///
/// ```
/// use ferrograd_tensor::Indices;
/// let i = Indices::new(vec![0, 2, 1, 1], &[2, 2]).unwrap();
/// assert_eq!(i.dims(), &[2, 2]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Indices {
    data: Shared<Vec<usize>>,
    shape: Shape,
    bound: usize,
}

/// One more than the largest index (0 for none).
fn bound_of(data: &[usize]) -> usize {
    data.iter().max().map_or(0, |&m| m + 1)
}

impl Indices {
    /// Indices with dimensions `dims`; an error if the length does not match.
    pub fn new(data: Vec<usize>, dims: &[usize]) -> Result<Indices> {
        let shape = Shape::new(dims)?;
        if data.len() != shape.numel() {
            return Err(TensorError::DataLength {
                shape,
                len: data.len(),
            });
        }
        Ok(Indices {
            bound: bound_of(&data),
            data: Shared::new(data),
            shape,
        })
    }

    pub(crate) fn from_parts(data: Vec<usize>, shape: Shape) -> Indices {
        debug_assert_eq!(data.len(), shape.numel());
        Indices {
            bound: bound_of(&data),
            data: Shared::new(data),
            shape,
        }
    }

    /// The indices, row-major.
    pub fn data(&self) -> &[usize] {
        &self.data
    }

    /// One more than the largest index (0 when there are none): the
    /// smallest axis length every index fits, known without a scan.
    ///
    /// ```
    /// use ferrograd_tensor::Indices;
    /// assert_eq!(Indices::new(vec![3, 0, 5], &[3]).unwrap().bound(), 6);
    /// ```
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions as a slice.
    pub fn dims(&self) -> &[usize] {
        self.shape.as_slice()
    }
}
