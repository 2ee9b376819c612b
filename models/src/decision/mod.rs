//! Models that map an observation to a choice. The family starts with
//! [`TokenClassifier`], a Transformer encoder over token sequences (the
//! anchors' `transformer_step` model).

pub mod intent;
pub mod policy;
pub mod token_classifier;

pub use token_classifier::{TokenClassifier, TokenClassifierConfig};

pub mod clip;
