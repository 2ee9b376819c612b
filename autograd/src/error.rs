//! The typed error of the autograd engine.

use ferrograd_tensor::{Shape, TensorError};
use std::fmt;

/// What went wrong while recording or differentiating.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A tensor operation failed (shapes, indices, …).
    Tensor(TensorError),
    /// `grad`/`backward` of an output with more than one element was asked
    /// for without a seed gradient.
    NonScalarOutput {
        /// The output's shape.
        shape: Shape,
    },
    /// A seed gradient's shape differs from its output's.
    SeedShape {
        /// The output's shape.
        output: Shape,
        /// The seed's shape.
        seed: Shape,
    },
    /// Input `index` of `grad` does not influence any output (and unused
    /// inputs were not allowed).
    UnusedInput {
        /// Position of the input in the `inputs` list.
        index: usize,
    },
    /// An output of `grad`/`backward` does not require a gradient (no input
    /// recorded on its graph requires one).
    NoGraph {
        /// Position of the output in the `outputs` list.
        index: usize,
    },
    /// Anomaly mode found an operation that produced a NaN or an infinity
    /// (see [`crate::anomaly`]).
    Anomaly(Box<crate::anomaly::Anomaly>),
    /// Any other invalid call, with an explanation.
    Invalid(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Tensor(e) => write!(f, "{e}"),
            Error::NonScalarOutput { shape } => write!(
                f,
                "grad of an output of shape {shape} needs a seed gradient (only one-element outputs get an implicit 1)"
            ),
            Error::SeedShape { output, seed } => {
                write!(f, "seed gradient of shape {seed} does not match its output of shape {output}")
            }
            Error::UnusedInput { index } => write!(
                f,
                "input {index} does not influence the outputs; pass allow_unused to get zeros instead"
            ),
            Error::NoGraph { index } => write!(
                f,
                "output {index} does not require a gradient: nothing on its graph was created with requires_grad (or it was computed under no_grad)"
            ),
            Error::Anomaly(a) => write!(f, "{a}"),
            Error::Invalid(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<TensorError> for Error {
    fn from(e: TensorError) -> Error {
        Error::Tensor(e)
    }
}

/// Result of a fallible autograd operation.
pub type Result<T> = std::result::Result<T, Error>;
