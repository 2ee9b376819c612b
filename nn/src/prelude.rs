//! The names most programs need, in one import: `use ferrograd_nn::prelude::*;`.
//!
//! It brings [`Var`] (with its operators, see `ferrograd_autograd`) and
//! [`Tensor`], the [`Module`]/[`Forward`]/[`Optimizer`] traits, the common
//! layers, the optimizers with their configurations, [`grad`],
//! [`GradOptions`] and [`no_grad`], this crate's [`Result`] and [`Error`],
//! the usual losses with [`Reduction`], and checkpoints. `Result` here takes
//! an optional error type (`Result<T>` is `Result<T, Error>`), so
//! `Result<T, E>` still works after the glob import.
//!
//! ```
//! use ferrograd_nn::prelude::*;
//!
//! fn train() -> Result<f32> {
//!     let model = Mlp::new(&[1, 16, 1], Activation::Tanh, 7)?;
//!     let mut opt = Adam::new(model.params(), AdamConfig { lr: 1e-2, ..AdamConfig::default() })?;
//!     let x = Var::constant(Tensor::from_vec(vec![-1.0, 0.0, 1.0], &[3, 1])?);
//!     let y = Var::constant(Tensor::from_vec(vec![-0.8, 0.0, 0.8], &[3, 1])?);
//!     let mut last = f32::INFINITY;
//!     for _ in 0..50 {
//!         let pred = model.forward(&x)?;
//!         // MSE plus a small penalty on the outputs, written with operators.
//!         let loss = (mse(&pred, &y, Reduction::Mean)? + pred.square().mean_all() * 1e-3)?;
//!         opt.zero_grad();
//!         loss.backward()?;
//!         opt.step()?;
//!         last = loss.item()?;
//!     }
//!     let dir = std::env::temp_dir().join(format!("ferrograd-prelude-{}", std::process::id()));
//!     std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
//!     save_module(dir.join("model.safetensors"), &model, &Default::default())?;
//!     let copy = Mlp::new(&[1, 16, 1], Activation::Tanh, 8)?;
//!     load_module(dir.join("model.safetensors"), &copy)?;
//!     let same = no_grad(|| -> Result<bool> {
//!         Ok(copy.forward(&x)?.value().data() == model.forward(&x)?.value().data())
//!     })?;
//!     assert!(same);
//!     # std::fs::remove_dir_all(&dir).ok();
//!     Ok(last)
//! }
//! let last: Result<f32, Box<dyn std::error::Error>> = train().map_err(Into::into);
//! assert!(last.unwrap() < 0.05);
//! ```

pub use crate::checkpoint::{load_module, save_module, Checkpoint};
pub use crate::losses::{
    binary_cross_entropy_with_logits, cross_entropy, diag_gaussian_mixture_nll, gaussian_nll,
    huber, kl_diag_gaussians, l1, mse, Reduction,
};
pub use crate::optim::{clip_grad_norm, Adam, AdamConfig, AdamW, Optimizer, Sgd, SgdConfig};
pub use crate::{
    Activation, AttentionMask, Collector, Conv2d, ConvTranspose2d, Dropout, Embedding, Error,
    Forward, LayerNorm, Linear, Lstm, LstmCell, Mlp, Module, MultiHeadAttention, Param, Result,
    Sequential, TransformerEncoder, TransformerEncoderLayerConfig,
};
pub use ferrograd_autograd::{grad, no_grad, GradOptions, Var};
pub use ferrograd_tensor::Tensor;
