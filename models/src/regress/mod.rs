//! Regression surrogates of simulation rollouts: a smooth model of an
//! outcome (say, the metabolic cost of transport) as a function of a few
//! simulation parameters, to call inside an optimisation loop or on a
//! device.
//!
//! * [`data`]: inputs by name and outputs by label from HDF5 rollout files
//!   ([`h5`], feature `hdf5`; read in a forked child process,
//!   `h5_child`), CSV files or the built-in synthetic rollouts (noise and
//!   5% gross outliers);
//! * [`model`]: [`RegressionNet`], a residual or plain MLP with its
//!   normalisation as checkpoint buffers;
//! * [`loss`]: robust reconstruction losses, L1/L2 penalties and the
//!   gradient penalty (second-order autograd);
//! * [`train`]: training on the shared harness ([`crate::run`]), with the
//!   plateau schedule, and the evaluation; [`plots`]: its PNGs.

pub mod config;
pub mod data;
#[cfg(feature = "hdf5")]
pub mod h5;
#[cfg(feature = "hdf5")]
pub mod h5_child;
pub mod loss;
pub mod model;

pub use config::RegressConfig;
pub use loss::{Objective, ReconKind};
pub use model::{load, NetSpec, RegressionNet};
pub mod plots;
pub mod train;

#[cfg(test)]
mod export_tests;
