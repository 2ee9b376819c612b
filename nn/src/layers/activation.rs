//! Elementwise activation functions as a value ([`Activation`]) that is also
//! a parameter-free layer, so it can sit in a
//! [`Sequential`](crate::layers::mlp::Sequential).

use crate::module::{Collector, Forward, Module};
use crate::param::ParamSource;
use crate::{Error, Result};
use ferrograd_autograd::Var;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An elementwise nonlinearity. Every variant is differentiable to any
/// order (each is an autograd primitive with a differentiable backward
/// rule), so MAML and gradient penalties can differentiate through it twice.
///
/// Names (for [`FromStr`], [`fmt::Display`] and serde) are the lower-case
/// ones PyTorch's functional API uses: `relu`, `gelu`, `gelu_tanh`, `silu`,
/// `tanh`, `sigmoid`, `softplus`, `identity`.
///
/// ```
/// use ferrograd_nn::layers::activation::Activation;
/// use ferrograd_nn::Forward;
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let x = Var::constant(Tensor::from_vec(vec![-1.0, 2.0], &[2]).unwrap());
/// assert_eq!(Activation::Relu.apply(&x).value().data(), &[0.0, 2.0]);
/// // As a layer (no parameters):
/// assert_eq!(Activation::Identity.forward(&x).unwrap().value().data(), &[-1.0, 2.0]);
/// assert_eq!("gelu_tanh".parse::<Activation>().unwrap(), Activation::GeluTanh);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(x, 0).
    #[default]
    Relu,
    /// GELU, exact form x·Φ(x) with the erf (PyTorch's default `gelu`).
    Gelu,
    /// GELU, tanh approximation (`gelu(approximate="tanh")`).
    GeluTanh,
    /// x·sigmoid(x) (SiLU / swish).
    Silu,
    /// tanh x.
    Tanh,
    /// 1 / (1 + e⁻ˣ).
    Sigmoid,
    /// ln(1 + eˣ), computed without overflow.
    Softplus,
    /// x unchanged.
    Identity,
}

impl Activation {
    /// Every variant, in declaration order.
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

    /// The activation applied elementwise to `x`.
    pub fn apply(&self, x: &Var) -> Var {
        match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu(),
            Activation::GeluTanh => x.gelu_tanh(),
            Activation::Silu => x.silu(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Softplus => x.softplus(),
            Activation::Identity => x.clone(),
        }
    }

    /// The lower-case name (`"gelu_tanh"`, …).
    pub fn name(&self) -> &'static str {
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
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = Error;

    /// Parses a name as printed by [`Activation::name`] (case-insensitive;
    /// `swish` is accepted for SiLU).
    fn from_str(s: &str) -> Result<Activation> {
        let lower = s.to_ascii_lowercase();
        if lower == "swish" {
            return Ok(Activation::Silu);
        }
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == lower)
            .ok_or_else(|| {
                let names: Vec<&str> = Activation::ALL.iter().map(|a| a.name()).collect();
                Error::Config(format!(
                    "activation: unknown name '{s}'; expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

impl Module for Activation {
    fn visit(&self, _c: &mut Collector) {}
}

impl Forward for Activation {
    fn forward_with(&self, _params: &dyn ParamSource, x: &Var) -> Result<Var> {
        Ok(self.apply(x))
    }
}

/// Converts an nn result into an autograd one, for the closures given to
/// `gradcheck`/`gradgradcheck` in this crate's tests.
#[cfg(test)]
pub(crate) fn to_autograd(r: Result<Var>) -> ferrograd_autograd::Result<Var> {
    r.map_err(|e| match e {
        Error::Autograd(e) => e,
        other => ferrograd_autograd::Error::Invalid(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Module;
    use ferrograd_autograd::{gradcheck, gradgradcheck, GradcheckOptions};
    use ferrograd_tensor::Tensor;

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn hand_computed_values() {
        let x = Var::constant(Tensor::from_vec(vec![-1.0, 0.0, 2.0], &[3]).unwrap());
        let at = |a: Activation| a.apply(&x).value().data().to_vec();
        close(&at(Activation::Relu), &[0.0, 0.0, 2.0], 0.0);
        // Φ(−1) = 0.158655, Φ(2) = 0.977250.
        close(&at(Activation::Gelu), &[-0.158655, 0.0, 1.9545], 1e-5);
        // 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
        close(&at(Activation::GeluTanh), &[-0.158808, 0.0, 1.954598], 1e-5);
        close(&at(Activation::Silu), &[-0.268941, 0.0, 1.761594], 1e-5);
        close(&at(Activation::Tanh), &[-0.761594, 0.0, 0.964028], 1e-5);
        close(&at(Activation::Sigmoid), &[0.268941, 0.5, 0.880797], 1e-5);
        close(
            &at(Activation::Softplus),
            &[0.313262, std::f32::consts::LN_2, 2.126928],
            1e-5,
        );
        close(&at(Activation::Identity), &[-1.0, 0.0, 2.0], 0.0);
    }

    #[test]
    fn is_a_parameter_free_layer() {
        let a = Activation::Tanh;
        assert!(a.named_params().is_empty() && a.state_dict().is_empty());
        let x = Var::constant(Tensor::from_vec(vec![0.5], &[1]).unwrap());
        close(
            a.forward(&x).unwrap().value().data(),
            &[0.5f32.tanh()],
            1e-6,
        );
    }

    #[test]
    fn names_round_trip() {
        for a in Activation::ALL {
            assert_eq!(a.to_string().parse::<Activation>().unwrap(), a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.name()));
            assert_eq!(serde_json::from_str::<Activation>(&json).unwrap(), a);
        }
        assert_eq!("SiLU".parse::<Activation>().unwrap(), Activation::Silu);
        assert!(matches!(
            "leaky".parse::<Activation>(),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn first_and_second_derivatives() {
        // Away from ReLU's kink at 0.
        let x = Tensor::from_vec(vec![-1.3, -0.4, 0.7, 1.6], &[2, 2]).unwrap();
        for a in Activation::ALL {
            let f = |v: &[Var]| Ok(a.apply(&v[0]));
            gradcheck(f, std::slice::from_ref(&x), GradcheckOptions::default())
                .unwrap_or_else(|e| panic!("{a}: {e}"));
            gradgradcheck(f, std::slice::from_ref(&x), GradcheckOptions::default())
                .unwrap_or_else(|e| panic!("{a}: {e}"));
        }
    }
}
