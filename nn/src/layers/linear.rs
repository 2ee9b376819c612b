//! Fully connected layer.

use crate::init;
use crate::module::{Collector, Forward, Module};
use crate::param::{Param, ParamSource};
use crate::Result;
use ferrograd_autograd::Var;

/// `y = x Wᵀ + b` with `W` of shape `[out, in]` (PyTorch's layout); `x` is
/// `[..., in]`. Initialised as PyTorch does: W and b ~ U(−1/√in, 1/√in).
///
/// ```
/// use ferrograd_nn::{Forward, Linear, Module};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let l = Linear::new(3, 2, 7);
/// assert_eq!(l.named_params().iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["weight", "bias"]);
/// let y = l.forward(&Var::constant(Tensor::ones(&[4, 3]).unwrap())).unwrap();
/// assert_eq!(y.dims(), &[4, 2]);
/// ```
pub struct Linear {
    /// `[out, in]`.
    pub weight: Param,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Param>,
}

impl Linear {
    /// A layer from `inputs` to `outputs` with a bias, seeded.
    pub fn new(inputs: usize, outputs: usize, seed: u64) -> Linear {
        let mut rng = init::rng(seed);
        let weight = init::lecun_uniform(&[outputs, inputs], inputs, &mut rng);
        let bias = init::lecun_uniform(&[outputs], inputs, &mut rng);
        Linear {
            weight: Param::new(weight),
            bias: Some(Param::new(bias)),
        }
    }

    /// A layer with the given weight `[out, in]` and optional bias `[out]`.
    pub fn from_params(weight: Param, bias: Option<Param>) -> Linear {
        Linear { weight, bias }
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.weight.dims()[0]
    }
}

impl Module for Linear {
    fn visit(&self, c: &mut Collector) {
        c.param("weight", &self.weight);
        if let Some(b) = &self.bias {
            c.param("bias", b);
        }
    }
}

impl Forward for Linear {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        let y = x.matmul_t(&p.var(&self.weight), false, true)?;
        Ok(match &self.bias {
            Some(b) => y.add(&p.var(b))?,
            None => y,
        })
    }
}
