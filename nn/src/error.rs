//! The typed error of the nn layer.

use ferrograd_tensor::TensorError;
use std::fmt;
use std::path::PathBuf;

/// What went wrong in a layer, loss, optimizer, checkpoint or data utility.
#[derive(Debug)]
pub enum Error {
    /// An autograd or tensor operation failed.
    Autograd(ferrograd_autograd::Error),
    /// A layer or utility was configured or called wrongly.
    Config(String),
    /// A state dict does not fit the module: every problem is listed.
    StateDict(Vec<String>),
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file's contents are invalid (truncated, corrupted, wrong field).
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        problem: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Autograd(e) => write!(f, "{e}"),
            Error::Config(m) => write!(f, "{m}"),
            Error::StateDict(problems) => {
                write!(f, "state dict does not fit: {}", problems.join("; "))
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Format { path, problem } => write!(f, "{}: {problem}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Autograd(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ferrograd_autograd::Error> for Error {
    fn from(e: ferrograd_autograd::Error) -> Self {
        Error::Autograd(e)
    }
}

impl From<TensorError> for Error {
    fn from(e: TensorError) -> Self {
        Error::Autograd(e.into())
    }
}

/// Result of a fallible nn operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
