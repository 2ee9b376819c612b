//! A CLIP-style dual encoder (issue 15): a built-in renderer of shape
//! scenes with captions ([`scenes`]), a word vocabulary ([`vocab`]), a
//! convolutional image encoder and a Transformer text encoder projected to
//! one L2-normalised space and trained with symmetric InfoNCE and a
//! learnable temperature ([`model`]), retrieval and zero-shot evaluation
//! ([`eval`]), its picture ([`plots`]) and training on the run harness
//! ([`train`]).

pub mod config;
pub mod eval;
pub mod model;
pub mod pairs;
pub mod plots;
pub mod scenes;
pub mod train;
pub mod vocab;

pub use config::ClipRunConfig;
pub use eval::EvalReport;
pub use model::{DualEncoder, DualEncoderConfig};
pub use train::{evaluate_checkpoint, load, train, FAMILY};
