//! Layers, losses, optimizers, schedulers, checkpoints and training
//! utilities for ferrograd.
//!
//! * A [`Module`] owns named [`Param`]s (dotted paths such as
//!   `encoder.layers.0.attn.q_proj.weight`) and [`Buffer`]s, has a
//!   train/eval mode, and gives a state dict.
//! * A [`Forward`] layer runs on its own parameters or, through
//!   [`Forward::forward_with`] and a [`ParamSource`] such as
//!   [`FastWeights`], on explicit replacements (MAML's θ' = θ − α∇L)
//!   without copying the module.
#![warn(missing_docs)]

pub mod checkpoint;
pub mod data;
mod error;
pub mod init;
pub mod layers;
pub mod losses;
mod module;
pub mod optim;
mod param;
pub mod schedule;
pub mod train;

pub use error::{Error, Result};
pub use layers::linear::Linear;
pub use module::{Collector, Forward, Module};
pub use param::{Buffer, FastWeights, OwnParams, Param, ParamSource};
