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

/// A tiny seeded VAE (z = 4) and MDN-RNN (hidden 8, 2 components per
/// dimension) for unit tests.
#[cfg(test)]
pub(crate) fn tiny_models() -> (vae::ConvVae, MdnRnn) {
    let vae = vae::ConvVae::new(
        vae::VaeConfig {
            z_dim: 4,
            ..vae::VaeConfig::default()
        },
        0,
    )
    .unwrap();
    let rnn = MdnRnn::new(
        &MdnRnnConfig {
            z_dim: 4,
            action_dim: env::ACTIONS,
            hidden: 8,
            components: 2,
            per_dim: true,
            reward_hidden: 8,
        },
        0,
    )
    .unwrap();
    (vae, rnn)
}
