//! Hidden-layer nonlinearities, by code, evaluated with the tensor crate's
//! scalar definitions.

use crate::Error;
use ferrograd_tensor::kernels::unary::{apply, UnaryOp};

/// A hidden-layer nonlinearity (the training framework's `Activation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// max(x, 0).
    Relu,
    /// x·Φ(x) with the erf.
    Gelu,
    /// GELU, tanh approximation.
    GeluTanh,
    /// x·sigmoid(x).
    Silu,
    /// tanh x.
    Tanh,
    /// 1 / (1 + e⁻ˣ).
    Sigmoid,
    /// ln(1 + eˣ).
    Softplus,
    /// x unchanged.
    Identity,
}

impl Activation {
    /// Every activation, in code order.
    pub const ALL: [Activation; 8] = [
        Activation::Relu,
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softplus,
        Activation::Identity,
    ];

    /// The code stored in blobs.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The activation with this code.
    pub fn from_code(code: u32) -> Result<Activation, Error> {
        Activation::ALL
            .get(code as usize)
            .copied()
            .ok_or(Error::Inconsistent("unknown activation code"))
    }

    /// The lower-case name, as the training framework prints it.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Silu => "silu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Softplus => "softplus",
            Activation::Identity => "identity",
        }
    }

    /// Applies the activation to every value in place.
    pub fn apply_in_place(self, values: &mut [f32]) {
        let op = match self {
            Activation::Relu => UnaryOp::Relu,
            Activation::Gelu => UnaryOp::GeluErf,
            Activation::GeluTanh => UnaryOp::GeluTanh,
            Activation::Silu => UnaryOp::Silu,
            Activation::Tanh => UnaryOp::Tanh,
            Activation::Sigmoid => UnaryOp::Sigmoid,
            Activation::Softplus => UnaryOp::Softplus,
            Activation::Identity => return,
        };
        for v in values {
            *v = apply(op, *v);
        }
    }
}
