//! Layer normalisation ([`LayerNorm`]) and its conditional form with a
//! scale and shift computed from a conditioning vector ([`AdaLayerNorm`]).

use crate::init;
use crate::layers::linear::Linear;
use crate::module::{Collector, Forward, Module};
use crate::param::{OwnParams, Param, ParamSource};
use crate::{Error, Result};
use ferrograd_autograd::Var;
use ferrograd_tensor::MAX_RANK;

/// The default ε added to the variance (PyTorch's).
pub const DEFAULT_EPS: f32 = 1e-5;

/// `(x − mean) / √(var + eps)` over the last `k = shape.len()` axes of `x`,
/// which must equal `shape` (a configuration error otherwise).
fn normalize_last(x: &Var, shape: &[usize], eps: f32, who: &str) -> Result<Var> {
    let dims = x.dims();
    let k = shape.len();
    if dims.len() < k || dims[dims.len() - k..] != *shape {
        return Err(Error::Config(format!(
            "{who}: input of shape {dims:?} does not end with the normalised shape {shape:?}"
        )));
    }
    if k == 1 {
        return Ok(x.normalize(-1, eps)?);
    }
    // Several axes: view them as one, normalise, view back (no copies).
    let mut flat = dims[..dims.len() - k].to_vec();
    flat.push(shape.iter().product());
    let y = x.reshape(&flat)?.normalize(-1, eps)?;
    Ok(y.reshape(dims)?)
}

/// Layer normalisation over the trailing axes (PyTorch's `nn.LayerNorm`):
/// `y = (x − E[x]) / √(Var[x] + eps) · weight + bias`, the statistics taken
/// over the last `normalized_shape.len()` axes (population variance).
/// `weight` starts at ones and `bias` at zeros, both of shape
/// `normalized_shape`; without the affine part there are no parameters.
///
/// ```
/// use ferrograd_nn::layers::layer_norm::LayerNorm;
/// use ferrograd_nn::{Forward, Module};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let ln = LayerNorm::new(2);
/// assert_eq!(ln.named_params().iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["weight", "bias"]);
/// let x = Var::constant(Tensor::from_vec(vec![1.0, 3.0], &[1, 2]).unwrap());
/// let y = ln.forward(&x).unwrap();
/// assert!((y.value().data()[1] - 1.0).abs() < 1e-4); // (3 − 2) / √(1 + 1e-5)
/// ```
pub struct LayerNorm {
    /// The trailing dimensions normalised over.
    pub normalized_shape: Vec<usize>,
    /// Added to the variance.
    pub eps: f32,
    /// Elementwise scale (shape `normalized_shape`), if affine.
    pub weight: Option<Param>,
    /// Elementwise shift (shape `normalized_shape`), if affine.
    pub bias: Option<Param>,
}

impl LayerNorm {
    /// Normalises over the last axis, of size `features`, with the affine part
    /// and ε = 1e-5.
    pub fn new(features: usize) -> LayerNorm {
        LayerNorm::affine_over(vec![features])
    }

    /// Normalises over the last axis without the affine part (no parameters).
    pub fn without_affine(features: usize) -> LayerNorm {
        LayerNorm {
            normalized_shape: vec![features],
            eps: DEFAULT_EPS,
            weight: None,
            bias: None,
        }
    }

    /// Normalises over the last `normalized_shape.len()` axes (at least one,
    /// at most [`MAX_RANK`]), with the affine part.
    pub fn over(normalized_shape: &[usize]) -> Result<LayerNorm> {
        if normalized_shape.is_empty() || normalized_shape.len() > MAX_RANK {
            return Err(Error::Config(format!(
                "layer norm: the normalised shape needs 1 to {MAX_RANK} dimensions, got {normalized_shape:?}"
            )));
        }
        Ok(LayerNorm::affine_over(normalized_shape.to_vec()))
    }

    fn affine_over(shape: Vec<usize>) -> LayerNorm {
        LayerNorm {
            weight: Some(Param::new(init::ones(&shape))),
            bias: Some(Param::new(init::zeros(&shape))),
            normalized_shape: shape,
            eps: DEFAULT_EPS,
        }
    }

    /// The same layer without the bias (PyTorch's `bias=False`): only the
    /// elementwise `weight` remains, if affine.
    pub fn without_bias(mut self) -> LayerNorm {
        self.bias = None;
        self
    }

    /// The same layer with another ε.
    pub fn with_eps(mut self, eps: f32) -> LayerNorm {
        self.eps = eps;
        self
    }
}

impl Module for LayerNorm {
    fn visit(&self, c: &mut Collector) {
        if let Some(w) = &self.weight {
            c.param("weight", w);
        }
        if let Some(b) = &self.bias {
            c.param("bias", b);
        }
    }
}

impl Forward for LayerNorm {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        let mut y = normalize_last(x, &self.normalized_shape, self.eps, "layer norm")?;
        if let Some(w) = &self.weight {
            y = y.mul(&p.var(w))?;
        }
        if let Some(b) = &self.bias {
            y = y.add(&p.var(b))?;
        }
        Ok(y)
    }
}

/// Adaptive layer normalisation (as in DiT's adaLN): `x` is normalised over
/// its last axis without an affine part, then modulated by a shift and a
/// scale computed from a conditioning vector `c`:
///
/// `[shift, scale] = proj(c)`, `y = x̂ · (1 + scale) + shift`.
///
/// `proj` is a [`Linear`] from `cond_features` to `2 · features` outputs
/// (the first `features` are the shift, the next the scale, DiT's order),
/// initialised to zero so the layer starts as plain normalisation. DiT
/// applies SiLU to `c` before the projection; do that in the caller if
/// wanted. `x` is `[B, D]` or `[B, ..., D]` and `c` is `[B, C]`: the
/// modulation broadcasts over the middle axes (for example the tokens of
/// `[B, T, D]`). Parameters: `proj.weight`, `proj.bias`.
///
/// ```
/// use ferrograd_nn::layers::layer_norm::AdaLayerNorm;
/// use ferrograd_nn::Module;
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let ada = AdaLayerNorm::new(4, 3);
/// let x = Var::constant(Tensor::from_vec((0..24).map(|i| i as f32).collect(), &[2, 3, 4]).unwrap());
/// let c = Var::constant(Tensor::ones(&[2, 3]).unwrap());
/// let y = ada.forward_cond(&x, &c).unwrap();
/// assert_eq!(y.dims(), &[2, 3, 4]);
/// assert_eq!(ada.named_params().len(), 2);
/// ```
pub struct AdaLayerNorm {
    /// Number of features normalised (the last axis of `x`).
    pub features: usize,
    /// Added to the variance.
    pub eps: f32,
    /// `cond_features → 2·features`: shift then scale.
    pub proj: Linear,
}

impl AdaLayerNorm {
    /// Normalises `features` with a modulation computed from `cond_features`
    /// conditioning inputs; ε = 1e-5, `proj` zero-initialised (so no seed).
    pub fn new(features: usize, cond_features: usize) -> AdaLayerNorm {
        let proj = Linear::from_params(
            Param::new(init::zeros(&[2 * features, cond_features])),
            Some(Param::new(init::zeros(&[2 * features]))),
        );
        AdaLayerNorm {
            features,
            eps: DEFAULT_EPS,
            proj,
        }
    }

    /// The same layer with another ε (DiT uses 1e-6).
    pub fn with_eps(mut self, eps: f32) -> AdaLayerNorm {
        self.eps = eps;
        self
    }

    /// The modulated normalisation of `x` given `c`, with the layer's own
    /// parameters.
    pub fn forward_cond(&self, x: &Var, c: &Var) -> Result<Var> {
        self.forward_cond_with(&OwnParams, x, c)
    }

    /// The modulated normalisation of `x` given `c`, with parameters read
    /// from `params`.
    pub fn forward_cond_with(&self, params: &dyn ParamSource, x: &Var, c: &Var) -> Result<Var> {
        let (xd, cd) = (x.dims(), c.dims());
        if xd.len() < 2 || cd.len() != 2 || xd[0] != cd[0] {
            return Err(Error::Config(format!(
                "adaptive layer norm: x must be [B, ..., D] and c [B, C] with the same B, got x {xd:?} and c {cd:?}"
            )));
        }
        let x_hat = normalize_last(x, &[self.features], self.eps, "adaptive layer norm")?;
        let d = self.features;
        let modulation = self.proj.forward_with(params, c)?;
        // [B, 2D] → [B, 1, ..., 1, 2D] so it broadcasts over x's middle axes.
        let mut dims = vec![1; xd.len()];
        dims[0] = cd[0];
        dims[xd.len() - 1] = 2 * d;
        let modulation = modulation.reshape(&dims)?;
        let shift = modulation.narrow(-1, 0, d)?;
        let scale = modulation.narrow(-1, d, d)?;
        Ok(x_hat.mul(&scale.add_scalar(1.0))?.add(&shift)?)
    }
}

impl Module for AdaLayerNorm {
    fn visit(&self, c: &mut Collector) {
        c.child("proj", &self.proj);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::activation::to_autograd;
    use crate::FastWeights;
    use ferrograd_autograd::{gradcheck, gradgradcheck, GradcheckOptions};
    use ferrograd_tensor::Tensor;

    fn t(d: &[f32], dims: &[usize]) -> Tensor {
        Tensor::from_vec(d.to_vec(), dims).unwrap()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn forward_by_hand() {
        // Row [1, 2, 3]: mean 2, var 2/3; row [0, 0, 6]: mean 2, var 8.
        let ln = LayerNorm::new(3);
        ln.weight.as_ref().unwrap().set(t(&[1.0, 2.0, 0.5], &[3]));
        ln.bias.as_ref().unwrap().set(t(&[0.0, 1.0, -1.0], &[3]));
        let x = Var::constant(t(&[1.0, 2.0, 3.0, 0.0, 0.0, 6.0], &[2, 3]));
        let y = ln.forward(&x).unwrap();
        let s1 = (2.0f32 / 3.0 + 1e-5).sqrt();
        let s2 = (8.0f32 + 1e-5).sqrt();
        let expected = [
            -1.0 / s1,
            1.0,
            0.5 / s1 - 1.0,
            -2.0 / s2,
            -4.0 / s2 + 1.0,
            0.5 * 4.0 / s2 - 1.0,
        ];
        close(y.value().data(), &expected, 1e-5);
    }

    #[test]
    fn several_axes_and_no_affine() {
        // Normalising [2, 2] trailing axes = normalising the flattened 4.
        let data = [1.0, 2.0, 3.0, 6.0, -1.0, 0.0, 0.0, 1.0];
        let x4 = Var::constant(t(&data, &[2, 2, 2]));
        let y = LayerNorm::over(&[2, 2]).unwrap().forward(&x4).unwrap();
        let flat = Var::constant(t(&data, &[2, 4]));
        let z = LayerNorm::without_affine(4).forward(&flat).unwrap();
        assert_eq!(y.dims(), &[2, 2, 2]);
        close(y.value().data(), z.value().data(), 1e-6);
        // [1, 2, 3, 6]: mean 3, var 3.5.
        let s = (3.5f32 + 1e-5).sqrt();
        close(
            &z.value().data()[..4],
            &[-2.0 / s, -1.0 / s, 0.0, 3.0 / s],
            1e-5,
        );
        assert!(LayerNorm::without_affine(4).named_params().is_empty());
        let no_bias = LayerNorm::new(4).without_bias().with_eps(0.0);
        assert_eq!(no_bias.named_params()[0].0, "weight");
        assert_eq!(no_bias.named_params().len(), 1);
        let exact = no_bias.forward(&flat).unwrap();
        close(
            &exact.value().data()[..4],
            &[
                -2.0 / 3.5f32.sqrt(),
                -1.0 / 3.5f32.sqrt(),
                0.0,
                3.0 / 3.5f32.sqrt(),
            ],
            1e-6,
        );
    }

    #[test]
    fn shape_errors_are_typed() {
        let x = Var::constant(Tensor::ones(&[2, 3]).unwrap());
        assert!(matches!(
            LayerNorm::new(4).forward(&x),
            Err(Error::Config(_))
        ));
        assert!(matches!(LayerNorm::over(&[]), Err(Error::Config(_))));
        assert!(matches!(
            LayerNorm::over(&[2, 3])
                .unwrap()
                .forward(&x.reshape(&[6]).unwrap()),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn layer_norm_gradients_first_and_second_order() {
        let ln = LayerNorm::new(3);
        let (w, b) = (ln.weight.clone().unwrap(), ln.bias.clone().unwrap());
        let f = |v: &[Var]| {
            let mut fast = FastWeights::new();
            fast.insert(&w, v[1].clone());
            fast.insert(&b, v[2].clone());
            to_autograd(ln.forward_with(&fast, &v[0]))
        };
        let inputs = [
            t(&[0.3, -1.0, 2.0, 1.5, 0.2, -0.7], &[2, 3]),
            t(&[1.1, 0.8, -0.6], &[3]),
            t(&[0.1, -0.2, 0.3], &[3]),
        ];
        gradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
        gradgradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
    }

    #[test]
    fn ada_starts_as_plain_normalisation() {
        let ada = AdaLayerNorm::new(3, 2);
        let names: Vec<String> = ada.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["proj.weight", "proj.bias"]);
        let x = Var::constant(t(&[1.0, 2.0, 3.0, 0.0, 0.0, 6.0], &[2, 3]));
        let c = Var::constant(t(&[0.5, -1.0, 2.0, 0.0], &[2, 2]));
        let y = ada.forward_cond(&x, &c).unwrap();
        let z = LayerNorm::without_affine(3).forward(&x).unwrap();
        assert_eq!(y.value(), z.value());
    }

    #[test]
    fn ada_modulation_by_hand_broadcasts_over_tokens() {
        // D = 2, C = 1: shift = [1, 2]·c, scale = [0.5, −1]·c + [0, 0.5].
        let ada = AdaLayerNorm::new(2, 1);
        ada.proj.weight.set(t(&[1.0, 2.0, 0.5, -1.0], &[4, 1]));
        ada.proj
            .bias
            .as_ref()
            .unwrap()
            .set(t(&[0.0, 0.0, 0.0, 0.5], &[4]));
        // Every token is [−a, a], normalised to ≈ [−1, 1].
        let x = Var::constant(t(&[-1.0, 1.0, -3.0, 3.0, -2.0, 2.0, -5.0, 5.0], &[2, 2, 2]));
        let c = Var::constant(t(&[1.0, 2.0], &[2, 1]));
        let y = ada.forward_cond(&x, &c).unwrap();
        // Batch 0 (c = 1): shift [1, 2], 1 + scale [1.5, 0.5] → [−0.5, 2.5].
        // Batch 1 (c = 2): shift [2, 4], 1 + scale [2, −0.5] → [0, 3.5].
        let n = |a: f32| a / (a * a + 1e-5).sqrt();
        let (n1, n3, n2, n5) = (n(1.0), n(3.0), n(2.0), n(5.0));
        let expected = [
            1.0 - 1.5 * n1,
            2.0 + 0.5 * n1,
            1.0 - 1.5 * n3,
            2.0 + 0.5 * n3,
            2.0 - 2.0 * n2,
            4.0 - 0.5 * n2,
            2.0 - 2.0 * n5,
            4.0 - 0.5 * n5,
        ];
        close(y.value().data(), &expected, 1e-5);
        let bad = Var::constant(Tensor::ones(&[3, 1]).unwrap());
        assert!(matches!(ada.forward_cond(&x, &bad), Err(Error::Config(_))));
    }

    #[test]
    fn ada_gradients_first_order() {
        let ada = AdaLayerNorm::new(3, 2);
        let (w, b) = (ada.proj.weight.clone(), ada.proj.bias.clone().unwrap());
        let f = |v: &[Var]| {
            let mut fast = FastWeights::new();
            fast.insert(&w, v[2].clone());
            fast.insert(&b, v[3].clone());
            to_autograd(ada.forward_cond_with(&fast, &v[0], &v[1]))
        };
        let x = [
            0.3, -1.0, 2.0, 1.5, 0.2, -0.7, 0.9, 0.1, -0.4, 1.1, -0.3, 0.6,
        ];
        let w0 = [
            0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.2, -0.1, 0.7, -0.3, 0.25, 0.15,
        ];
        let inputs = [
            t(&x, &[2, 2, 3]),
            t(&[0.5, -0.4, 1.2, 0.3], &[2, 2]),
            t(&w0, &[6, 2]),
            t(&[0.05, -0.1, 0.2, 0.0, 0.1, -0.3], &[6]),
        ];
        gradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
    }
}
