//! Layers.

pub mod linear;
