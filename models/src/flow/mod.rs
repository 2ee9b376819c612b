//! A flow-matching generator of 2-D point clouds (issue 14): a PointNet
//! encoder with an optional VAE head, an AdaLN-modulated per-point velocity
//! network, straight-path flow matching with Euler or Heun sampling, and the
//! Chamfer distance used to evaluate it.

pub mod chamfer;
pub mod config;
pub mod matching;
pub mod model;
pub mod plots;
pub mod source;
pub mod train;

pub use config::FlowRunConfig;
pub use train::{evaluate_checkpoint, load, train, EvalReport, FAMILY};
