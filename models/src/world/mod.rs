//! World models: models of an environment's dynamics. The family starts
//! with [`MdnRnn`], the memory model of Ha & Schmidhuber's World Models
//! (the anchors' `mdnrnn_step` model).

pub mod config;
pub mod controller;
pub mod dream;
pub mod env;
pub mod episodes;
pub mod evaluate;
pub mod mdn_rnn;
pub mod strip;
pub mod train;
pub mod vae;

pub use mdn_rnn::{MdnRnn, MdnRnnConfig, MdnRnnOutput};
