//! Fully connected layer with a fixed binary connectivity mask (MADE).

use crate::init;
use crate::module::{Collector, Forward, Module};
use crate::param::{Buffer, Param, ParamSource};
use crate::{Error, Result};
use ferrograd_autograd::Var;
use ferrograd_tensor::Tensor;

/// `y = x (W ⊙ M)ᵀ + b`: a [`Linear`](crate::Linear) whose weight `W`
/// `[out, in]` is multiplied by a fixed binary mask `M` of the same shape in
/// every forward pass, so masked-out connections stay cut during training
/// (their gradient is zero). The mask is a buffer named `"mask"` and is
/// saved with the model; the parameters are `"weight"` and `"bias"`, as in
/// the usual PyTorch MADE implementations. Initialised like `Linear`:
/// W and b ~ U(−1/√in, 1/√in).
///
/// ```
/// use ferrograd_nn::layers::masked_linear::MaskedLinear;
/// use ferrograd_nn::{Forward, Module};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// // Output 0 sees no input, output 1 sees input 0 only (autoregressive order).
/// let mask = Tensor::from_vec(vec![0.0, 0.0, 1.0, 0.0], &[2, 2]).unwrap();
/// let l = MaskedLinear::new(2, 2, mask, 3).unwrap();
/// assert_eq!(l.state_dict().keys().collect::<Vec<_>>(), ["bias", "mask", "weight"]);
/// let y = l.forward(&Var::constant(Tensor::ones(&[5, 2]).unwrap())).unwrap();
/// assert_eq!(y.dims(), &[5, 2]);
/// ```
pub struct MaskedLinear {
    /// `[out, in]`, used as `W ⊙ M`.
    pub weight: Param,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Param>,
    /// The fixed mask `[out, in]` of zeros and ones.
    pub mask: Buffer,
}

/// Checks that `mask` is `[outputs, inputs]` and holds only zeros and ones.
fn check_mask(mask: &Tensor, outputs: usize, inputs: usize) -> Result<()> {
    if mask.dims() != [outputs, inputs] {
        return Err(Error::Config(format!(
            "masked linear: the mask has shape {:?}, the weight needs [{outputs}, {inputs}]",
            mask.dims()
        )));
    }
    if let Some(v) = mask.data().iter().find(|&&v| v != 0.0 && v != 1.0) {
        return Err(Error::Config(format!(
            "masked linear: the mask must hold only 0 and 1, found {v}"
        )));
    }
    Ok(())
}

impl MaskedLinear {
    /// A layer from `inputs` to `outputs` with a bias and the given mask
    /// `[outputs, inputs]`, seeded. An error if the mask has another shape or
    /// holds values other than 0 and 1.
    pub fn new(inputs: usize, outputs: usize, mask: Tensor, seed: u64) -> Result<MaskedLinear> {
        check_mask(&mask, outputs, inputs)?;
        let mut rng = init::rng(seed);
        let weight = init::lecun_uniform(&[outputs, inputs], inputs, &mut rng);
        let bias = init::lecun_uniform(&[outputs], inputs, &mut rng);
        Ok(MaskedLinear {
            weight: Param::new(weight),
            bias: Some(Param::new(bias)),
            mask: Buffer::new(mask),
        })
    }

    /// A layer with the given weight `[out, in]`, optional bias `[out]` and
    /// mask (checked as in [`MaskedLinear::new`]; the bias must be `[out]`).
    pub fn from_params(weight: Param, bias: Option<Param>, mask: Tensor) -> Result<MaskedLinear> {
        let dims = weight.dims();
        let [outputs, inputs] = dims[..] else {
            return Err(Error::Config(format!(
                "masked linear: the weight has shape {dims:?}, expected [out, in]"
            )));
        };
        if let Some(b) = &bias {
            if b.dims() != [outputs] {
                return Err(Error::Config(format!(
                    "masked linear: the bias has shape {:?}, expected [{outputs}]",
                    b.dims()
                )));
            }
        }
        check_mask(&mask, outputs, inputs)?;
        Ok(MaskedLinear {
            weight,
            bias,
            mask: Buffer::new(mask),
        })
    }

    /// Replaces the mask (checked as in [`MaskedLinear::new`]).
    pub fn set_mask(&self, mask: Tensor) -> Result<()> {
        check_mask(&mask, self.outputs(), self.inputs())?;
        self.mask.set(mask);
        Ok(())
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

impl Module for MaskedLinear {
    fn visit(&self, c: &mut Collector) {
        c.param("weight", &self.weight);
        if let Some(b) = &self.bias {
            c.param("bias", b);
        }
        c.buffer("mask", &self.mask);
    }
}

impl Forward for MaskedLinear {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        let w = p.var(&self.weight).mul(&Var::constant(self.mask.value()))?;
        let y = x.matmul_t(&w, false, true)?;
        Ok(match &self.bias {
            Some(b) => y.add(&p.var(b))?,
            None => y,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::activation::to_autograd;
    use crate::FastWeights;
    use ferrograd_autograd::{gradcheck, gradgradcheck, GradcheckOptions};

    fn t(d: &[f32], dims: &[usize]) -> Tensor {
        Tensor::from_vec(d.to_vec(), dims).unwrap()
    }

    fn layer() -> MaskedLinear {
        let w = Param::new(t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
        let b = Param::new(t(&[0.5, -0.5], &[2]));
        MaskedLinear::from_params(w, Some(b), t(&[1.0, 0.0, 1.0, 0.0, 1.0, 1.0], &[2, 3])).unwrap()
    }

    #[test]
    fn forward_by_hand() {
        // W ⊙ M = [[1, 0, 3], [0, 5, 6]]; x = [1, 1, 2].
        let y = layer()
            .forward(&Var::constant(t(&[1.0, 1.0, 2.0], &[1, 3])))
            .unwrap();
        assert_eq!(y.value().data(), &[1.0 + 6.0 + 0.5, 5.0 + 12.0 - 0.5]);
    }

    #[test]
    fn masked_weights_get_zero_gradient() {
        let l = layer();
        let x = Var::constant(t(&[0.3, -1.0, 2.0, 1.5, 0.2, -0.7], &[2, 3]));
        l.forward(&x).unwrap().sum_all().backward().unwrap();
        let g = l.weight.grad().unwrap();
        for (gi, mi) in g.data().iter().zip(l.mask.value().data()) {
            assert!(*mi == 1.0 || *gi == 0.0, "{g:?}");
        }
    }

    #[test]
    fn bad_masks_are_config_errors() {
        let m = |d: &[f32], dims: &[usize]| MaskedLinear::new(3, 2, t(d, dims), 0);
        assert!(matches!(m(&[1.0; 6], &[3, 2]), Err(Error::Config(_))));
        assert!(matches!(
            m(&[1.0, 0.5, 1.0, 1.0, 1.0, 1.0], &[2, 3]),
            Err(Error::Config(_))
        ));
        assert!(m(&[1.0; 6], &[2, 3]).is_ok());
        assert!(layer().set_mask(t(&[1.0; 4], &[2, 2])).is_err());
    }

    #[test]
    fn mask_is_saved_and_loaded() {
        let a = layer();
        let b = MaskedLinear::new(3, 2, Tensor::ones(&[2, 3]).unwrap(), 9).unwrap();
        b.load_state_dict(&a.state_dict()).unwrap();
        assert_eq!(b.mask.value(), a.mask.value());
        assert_eq!(b.weight.value(), a.weight.value());
    }

    #[test]
    fn gradients_first_and_second_order() {
        let l = layer();
        let f = |v: &[Var]| {
            let mut fast = FastWeights::new();
            fast.insert(&l.weight, v[1].clone());
            fast.insert(l.bias.as_ref().unwrap(), v[2].clone());
            to_autograd(l.forward_with(&fast, &v[0]).map(|y| y.tanh()))
        };
        let inputs = [
            t(&[0.3, -1.0, 2.0, 1.5, 0.2, -0.7], &[2, 3]),
            t(&[0.1, -0.2, 0.3, 0.4, -0.5, 0.6], &[2, 3]),
            t(&[0.05, -0.1], &[2]),
        ];
        gradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
        gradgradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
    }
}
