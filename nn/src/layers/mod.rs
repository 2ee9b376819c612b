//! Layers.

pub mod linear;
pub mod masked_linear;
pub mod mlp;
pub mod activation;
pub mod dropout;
pub mod layer_norm;
pub mod embedding;
pub mod attention;
pub mod transformer;
pub mod lstm;
pub mod conv;
