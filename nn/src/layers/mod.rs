//! Layers.

pub mod activation;
pub mod attention;
pub mod conv;
pub mod dropout;
pub mod embedding;
pub mod layer_norm;
pub mod linear;
pub mod lstm;
pub mod masked_linear;
pub mod mlp;
pub mod transformer;
