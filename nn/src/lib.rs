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
//! * [`prelude`] imports the common names at once:
//!   `use ferrograd_nn::prelude::*;`.
//!
//! ```
//! use ferrograd_autograd::Var;
//! use ferrograd_nn::{Activation, Adam, AdamConfig, Forward, Mlp, Module, Optimizer};
//! use ferrograd_tensor::Tensor;
//!
//! let model = Mlp::new(&[1, 32, 32, 1], Activation::Tanh, /* seed */ 3).unwrap();
//! let mut opt = Adam::new(model.params(), AdamConfig { lr: 1e-2, ..AdamConfig::default() }).unwrap();
//! let x = Var::constant(Tensor::from_vec(vec![-1.0, 0.0, 1.0], &[3, 1]).unwrap());
//! let y = Var::constant(Tensor::from_vec(vec![-0.84, 0.0, 0.84], &[3, 1]).unwrap());
//! let first = model.forward(&x).unwrap().mse(&y).unwrap().item().unwrap();
//! for _ in 0..100 {
//!     let loss = model.forward(&x).unwrap().mse(&y).unwrap();
//!     opt.zero_grad();
//!     loss.backward().unwrap();
//!     opt.step().unwrap();
//! }
//! assert!(model.forward(&x).unwrap().mse(&y).unwrap().item().unwrap() < first / 10.0);
//! let dir = std::env::temp_dir().join(format!("ferrograd-nn-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! ferrograd_nn::save_module(dir.join("model.safetensors"), &model, &Default::default()).unwrap();
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
#![warn(missing_docs)]

pub mod atomic;
pub mod checkpoint;
pub mod data;
mod error;
pub mod init;
pub mod layers;
pub mod losses;
mod module;
pub mod mutate;
pub mod optim;
mod param;
pub mod prelude;
pub mod schedule;
pub mod train;

pub use checkpoint::{load_module, save_module, Checkpoint};
pub use data::{DataLoader, Dataset, Normalizer, TensorDataset};
pub use error::{Error, Result};
pub use layers::activation::Activation;
pub use layers::attention::{AttentionMask, MultiHeadAttention};
pub use layers::conv::{Conv2d, ConvTranspose2d};
pub use layers::dropout::Dropout;
pub use layers::embedding::Embedding;
pub use layers::layer_norm::{AdaLayerNorm, LayerNorm};
pub use layers::linear::Linear;
pub use layers::lstm::{Lstm, LstmCell, LstmState};
pub use layers::masked_linear::MaskedLinear;
pub use layers::mlp::{Layer, LinearInit, Mlp, ResidualMlp, Sequential};
pub use layers::transformer::{
    TransformerActivation, TransformerEncoder, TransformerEncoderLayer,
    TransformerEncoderLayerConfig,
};
pub use losses::Reduction;
pub use module::{Collector, Forward, Module};
pub use optim::{Adam, AdamConfig, AdamW, Optimizer, Sgd, SgdConfig};
pub use param::{Buffer, FastWeights, OwnParams, Param, ParamSource};
pub use schedule::{CosineAnnealing, LrScheduler, PlateauConfig, ReduceLrOnPlateau, StepLr};
pub use train::{derive_seed, MetricsLogger};
