//! The typed error of every fallible tensor operation.

use crate::Shape;
use alloc::string::String;
use core::fmt;

/// What went wrong in a tensor operation. Every variant names the operation
/// and carries the shapes or values involved, so the message alone explains
/// the problem.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorError {
    /// Two shapes that the operation needs to agree (or broadcast) do not.
    ShapeMismatch {
        /// The operation, for example `"add"` or `"matmul"`.
        op: &'static str,
        /// The first operand's shape.
        lhs: Shape,
        /// The second operand's shape.
        rhs: Shape,
    },
    /// A data buffer's length does not match the element count of its shape.
    DataLength {
        /// The shape that was asked for.
        shape: Shape,
        /// The number of values that were given.
        len: usize,
    },
    /// An axis index is out of range for the tensor's rank.
    InvalidAxis {
        /// The operation.
        op: &'static str,
        /// The axis that was asked for.
        axis: isize,
        /// The tensor's rank.
        rank: usize,
    },
    /// A tensor has more dimensions than [`crate::MAX_RANK`].
    RankTooLarge {
        /// The rank that was asked for.
        rank: usize,
    },
    /// An index (for slicing or gathering) is out of range.
    IndexOutOfRange {
        /// The operation.
        op: &'static str,
        /// The offending index.
        index: usize,
        /// The size of the indexed dimension.
        size: usize,
    },
    /// A matrix that must be symmetric positive definite is not (Cholesky).
    NotPositiveDefinite {
        /// The batch entry in which the factorisation failed.
        batch: usize,
        /// The pivot (row) at which it failed.
        pivot: usize,
    },
    /// Any other invalid argument, with an explanation.
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for TensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorError::ShapeMismatch { op, lhs, rhs } => {
                write!(f, "{op}: incompatible shapes {lhs} and {rhs}")
            }
            TensorError::DataLength { shape, len } => write!(
                f,
                "tensor of shape {shape} needs {} values, got {len}",
                shape.numel()
            ),
            TensorError::InvalidAxis { op, axis, rank } => {
                write!(
                    f,
                    "{op}: axis {axis} is out of range for a tensor of rank {rank}"
                )
            }
            TensorError::RankTooLarge { rank } => write!(
                f,
                "rank {rank} exceeds the maximum of {} dimensions",
                crate::MAX_RANK
            ),
            TensorError::IndexOutOfRange { op, index, size } => {
                write!(
                    f,
                    "{op}: index {index} is out of range for a dimension of size {size}"
                )
            }
            TensorError::NotPositiveDefinite { batch, pivot } => write!(
                f,
                "cholesky: matrix {batch} of the batch is not positive definite (pivot {pivot})"
            ),
            TensorError::InvalidArgument { op, reason } => write!(f, "{op}: {reason}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TensorError {}

/// Result of a fallible tensor operation.
pub type Result<T> = core::result::Result<T, TensorError>;
