//! Transformer encoder layers with PyTorch's `nn.TransformerEncoderLayer`
//! parameter names and arithmetic (batch-first inputs).

use crate::init;
use crate::layers::attention::{AttentionMask, InvertedDropout, MultiHeadAttention};
use crate::layers::layer_norm::LayerNorm;
use crate::layers::linear::Linear;
use crate::module::{Collector, Forward, Module};
use crate::param::ParamSource;
use crate::{Error, Result};
use ferrograd_autograd::Var;
use rand::Rng;

/// The feed-forward block's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TransformerActivation {
    /// max(x, 0) (PyTorch's default).
    #[default]
    Relu,
    /// GELU, exact erf form (PyTorch's `"gelu"`).
    Gelu,
}

/// Settings of a [`TransformerEncoderLayer`]; [`TransformerEncoderLayerConfig::new`]
/// gives PyTorch's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TransformerEncoderLayerConfig {
    /// Model width `D`.
    pub d_model: usize,
    /// Attention heads (must divide `d_model`).
    pub heads: usize,
    /// Hidden width of the feed-forward block (default 2048).
    pub ff_dim: usize,
    /// Dropout probability on the attention weights, after the activation
    /// and on both residual branches (default 0.1); training mode only.
    pub dropout: f32,
    /// Feed-forward activation (default ReLU).
    pub activation: TransformerActivation,
    /// Layer-norm epsilon (default 1e-5).
    pub layer_norm_eps: f32,
    /// Pre-norm (`true`) or post-norm (`false`, the default).
    pub norm_first: bool,
    /// Biases in the linear and layer-norm parts (default `true`).
    pub bias: bool,
}

impl TransformerEncoderLayerConfig {
    /// PyTorch's defaults for `d_model` and `heads`.
    pub fn new(d_model: usize, heads: usize) -> TransformerEncoderLayerConfig {
        TransformerEncoderLayerConfig {
            d_model,
            heads,
            ff_dim: 2048,
            dropout: 0.1,
            activation: TransformerActivation::Relu,
            layer_norm_eps: 1e-5,
            norm_first: false,
            bias: true,
        }
    }
}

/// PyTorch's `nn.LayerNorm(d, eps, bias=bias)` over the last axis.
fn norm(d: usize, bias: bool, eps: f32) -> LayerNorm {
    let n = LayerNorm::new(d).with_eps(eps);
    if bias {
        n
    } else {
        n.without_bias()
    }
}

/// One transformer encoder layer, as PyTorch's `nn.TransformerEncoderLayer`
/// with `batch_first=True`. Post-norm (default):
/// `x ← LN₁(x + SA(x))`, `x ← LN₂(x + FF(x))`; pre-norm:
/// `x ← x + SA(LN₁(x))`, `x ← x + FF(LN₂(x))`, where
/// `FF(x) = W₂ act(W₁x + b₁) + b₂`. Parameter names are PyTorch's
/// (`self_attn.in_proj_weight`, `linear1.weight`, `norm1.bias`, …).
///
/// ```
/// use ferrograd_nn::layers::transformer::{TransformerEncoderLayer, TransformerEncoderLayerConfig};
/// use ferrograd_nn::{Forward, Module};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let config = TransformerEncoderLayerConfig { ff_dim: 16, dropout: 0.0, ..TransformerEncoderLayerConfig::new(8, 2) };
/// let layer = TransformerEncoderLayer::new(&config, 0).unwrap();
/// let y = layer.forward(&Var::constant(Tensor::ones(&[2, 3, 8]).unwrap())).unwrap();
/// assert_eq!(y.dims(), &[2, 3, 8]);
/// assert_eq!(layer.named_params()[4].0, "linear1.weight");
/// ```
pub struct TransformerEncoderLayer {
    /// Self-attention.
    pub self_attn: MultiHeadAttention,
    /// First feed-forward projection `[ff, D]`.
    pub linear1: Linear,
    /// Second feed-forward projection `[D, ff]`.
    pub linear2: Linear,
    norm1: LayerNorm,
    norm2: LayerNorm,
    dropout: InvertedDropout,
    activation: TransformerActivation,
    norm_first: bool,
    training: bool,
}

impl TransformerEncoderLayer {
    /// A layer with `config`, seeded (initialised as PyTorch does).
    pub fn new(
        config: &TransformerEncoderLayerConfig,
        seed: u64,
    ) -> Result<TransformerEncoderLayer> {
        let c = config;
        if c.ff_dim == 0 || c.layer_norm_eps.is_nan() || c.layer_norm_eps < 0.0 {
            return Err(Error::Config(format!(
                "transformer: ff_dim must be positive and layer_norm_eps non-negative, got {} and {}",
                c.ff_dim, c.layer_norm_eps
            )));
        }
        let mut rng = init::rng(seed);
        let linear = |i: usize, o: usize, seed: u64| {
            let l = Linear::new(i, o, seed);
            if c.bias {
                l
            } else {
                Linear::from_params(l.weight, None)
            }
        };
        Ok(TransformerEncoderLayer {
            self_attn: MultiHeadAttention::new(c.d_model, c.heads, c.bias, rng.random())?
                .with_dropout(c.dropout)?,
            linear1: linear(c.d_model, c.ff_dim, rng.random()),
            linear2: linear(c.ff_dim, c.d_model, rng.random()),
            norm1: norm(c.d_model, c.bias, c.layer_norm_eps),
            norm2: norm(c.d_model, c.bias, c.layer_norm_eps),
            dropout: InvertedDropout::new(c.dropout, rng.random(), "transformer")?,
            activation: c.activation,
            norm_first: c.norm_first,
            training: true,
        })
    }

    /// Whether the layer normalises before (pre-norm) each block.
    pub fn norm_first(&self) -> bool {
        self.norm_first
    }

    fn self_attention_block(
        &self,
        p: &dyn ParamSource,
        x: &Var,
        mask: &AttentionMask,
    ) -> Result<Var> {
        let y = self.self_attn.self_attention_with(p, x, mask)?;
        self.dropout.apply(&y, self.training)
    }

    fn feed_forward_block(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        let h = self.linear1.forward_with(p, x)?;
        let h = match self.activation {
            TransformerActivation::Relu => h.relu(),
            TransformerActivation::Gelu => h.gelu(),
        };
        let h = self.dropout.apply(&h, self.training)?;
        let y = self.linear2.forward_with(p, &h)?;
        self.dropout.apply(&y, self.training)
    }

    /// The layer applied to `x [B, T, D]` with attention mask `mask` and
    /// parameters from `p`.
    pub fn forward_masked_with(
        &self,
        p: &dyn ParamSource,
        x: &Var,
        mask: &AttentionMask,
    ) -> Result<Var> {
        if self.norm_first {
            let x =
                x.add(&self.self_attention_block(p, &self.norm1.forward_with(p, x)?, mask)?)?;
            x.add(&self.feed_forward_block(p, &self.norm2.forward_with(p, &x)?)?)
                .map_err(Into::into)
        } else {
            let x = self
                .norm1
                .forward_with(p, &x.add(&self.self_attention_block(p, x, mask)?)?)?;
            self.norm2
                .forward_with(p, &x.add(&self.feed_forward_block(p, &x)?)?)
        }
    }
}

impl Module for TransformerEncoderLayer {
    fn visit(&self, c: &mut Collector) {
        c.child("self_attn", &self.self_attn);
        c.child("linear1", &self.linear1);
        c.child("linear2", &self.linear2);
        c.child("norm1", &self.norm1);
        c.child("norm2", &self.norm2);
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
        self.self_attn.set_training(training);
    }
}

/// Unmasked forward.
impl Forward for TransformerEncoderLayer {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        self.forward_masked_with(p, x, &AttentionMask::none())
    }
}

/// A stack of [`TransformerEncoderLayer`]s (`layers.0`, `layers.1`, …) with
/// an optional final layer norm (`norm`), as PyTorch's
/// `nn.TransformerEncoder`. Unlike PyTorch, whose layers start as deep
/// copies of one layer, each layer gets its own seeded initialisation.
///
/// ```
/// use ferrograd_nn::layers::transformer::{TransformerEncoder, TransformerEncoderLayerConfig};
/// use ferrograd_nn::layers::attention::AttentionMask;
/// use ferrograd_nn::{Module, OwnParams};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let config = TransformerEncoderLayerConfig { ff_dim: 16, ..TransformerEncoderLayerConfig::new(8, 2) };
/// let enc = TransformerEncoder::new(&config, 2, true, 0).unwrap();
/// let x = Var::constant(Tensor::ones(&[1, 4, 8]).unwrap());
/// let y = enc.forward_masked_with(&OwnParams, &x, &AttentionMask::none().with_causal()).unwrap();
/// assert_eq!(y.dims(), &[1, 4, 8]);
/// assert!(enc.state_dict().contains_key("layers.1.norm2.bias"));
/// assert!(enc.state_dict().contains_key("norm.weight"));
/// ```
pub struct TransformerEncoder {
    /// The layers, applied in order.
    pub layers: Vec<TransformerEncoderLayer>,
    norm: Option<LayerNorm>,
}

impl TransformerEncoder {
    /// `num_layers` layers with `config`, and a final layer norm if
    /// `final_norm`, seeded.
    pub fn new(
        config: &TransformerEncoderLayerConfig,
        num_layers: usize,
        final_norm: bool,
        seed: u64,
    ) -> Result<TransformerEncoder> {
        let mut rng = init::rng(seed);
        let layers = (0..num_layers)
            .map(|_| TransformerEncoderLayer::new(config, rng.random()))
            .collect::<Result<_>>()?;
        let norm = final_norm.then(|| norm(config.d_model, config.bias, config.layer_norm_eps));
        Ok(TransformerEncoder { layers, norm })
    }

    /// Every layer, then the final norm, applied to `x [B, T, D]` with
    /// attention mask `mask` and parameters from `p`.
    pub fn forward_masked_with(
        &self,
        p: &dyn ParamSource,
        x: &Var,
        mask: &AttentionMask,
    ) -> Result<Var> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward_masked_with(p, &x, mask)?;
        }
        match &self.norm {
            Some(n) => n.forward_with(p, &x),
            None => Ok(x),
        }
    }
}

impl Module for TransformerEncoder {
    fn visit(&self, c: &mut Collector) {
        for (i, layer) in self.layers.iter().enumerate() {
            c.child(&format!("layers.{i}"), layer);
        }
        if let Some(n) = &self.norm {
            c.child("norm", n);
        }
    }

    fn set_training(&mut self, training: bool) {
        for layer in &mut self.layers {
            layer.set_training(training);
        }
    }
}

/// Unmasked forward.
impl Forward for TransformerEncoder {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        self.forward_masked_with(p, x, &AttentionMask::none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::attention::tests::naive as naive_attention;
    use crate::{FastWeights, OwnParams};
    use ferrograd_autograd::{gradcheck, GradcheckOptions};
    use ferrograd_tensor::Tensor;

    fn config(
        norm_first: bool,
        activation: TransformerActivation,
    ) -> TransformerEncoderLayerConfig {
        TransformerEncoderLayerConfig {
            ff_dim: 6,
            dropout: 0.0,
            activation,
            norm_first,
            ..TransformerEncoderLayerConfig::new(4, 2)
        }
    }

    /// A layer whose every parameter (biases and norms included) is random.
    fn layer(config: &TransformerEncoderLayerConfig) -> TransformerEncoderLayer {
        let l = TransformerEncoderLayer::new(config, 1).unwrap();
        for (i, p) in l.params().iter().enumerate() {
            p.set(init::normal(
                &p.dims(),
                0.0,
                0.6,
                &mut init::rng(20 + i as u64),
            ));
        }
        l
    }

    /// Layer norm over rows of width `d`, with plain loops.
    fn naive_norm(x: &[f32], d: usize, norm: &LayerNorm) -> Vec<f32> {
        let (w, b) = (
            norm.weight.as_ref().unwrap().value(),
            norm.bias.as_ref().unwrap().value(),
        );
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks(d) {
            let mean = row.iter().sum::<f32>() / d as f32;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / d as f32;
            for (j, v) in row.iter().enumerate() {
                out.push((v - mean) / (var + 1e-5).sqrt() * w.data()[j] + b.data()[j]);
            }
        }
        out
    }

    /// `x Wᵀ + b` over rows, with plain loops.
    fn naive_linear(x: &[f32], l: &Linear) -> Vec<f32> {
        let (w, b) = (l.weight.value(), l.bias.as_ref().unwrap().value());
        let (w, b) = (w.data(), b.data());
        let (o, i) = (l.outputs(), l.inputs());
        x.chunks(i)
            .flat_map(|row| {
                (0..o).map(move |r| {
                    let dot: f32 = (0..i).map(|c| row[c] * w[r * i + c]).sum();
                    dot + b[r]
                })
            })
            .collect()
    }

    fn naive_layer(
        l: &TransformerEncoderLayer,
        x: &Tensor,
        act: TransformerActivation,
    ) -> Vec<f32> {
        let dims = x.dims().to_vec();
        let d = dims[2];
        let attend = |v: &[f32]| {
            let t = Tensor::from_slice(v, &dims).unwrap();
            naive_attention(&l.self_attn, &t, &t, &t, |_, _, _| false)
        };
        let ff = |v: &[f32]| {
            let h = Tensor::from_vec(naive_linear(v, &l.linear1), &[v.len() / d, 6]).unwrap();
            let h = match act {
                TransformerActivation::Relu => h.relu(),
                TransformerActivation::Gelu => h.gelu(),
            };
            naive_linear(h.data(), &l.linear2)
        };
        let add =
            |a: &[f32], b: &[f32]| -> Vec<f32> { a.iter().zip(b).map(|(x, y)| x + y).collect() };
        let x = x.data();
        if l.norm_first() {
            let x = add(x, &attend(&naive_norm(x, d, &l.norm1)));
            add(&x, &ff(&naive_norm(&x, d, &l.norm2)))
        } else {
            let x = naive_norm(&add(x, &attend(x)), d, &l.norm1);
            naive_norm(&add(&x, &ff(&x)), d, &l.norm2)
        }
    }

    #[test]
    fn pre_and_post_norm_match_naive_reference() {
        let x = init::normal(&[2, 3, 4], 0.0, 1.0, &mut init::rng(5));
        for norm_first in [false, true] {
            for act in [TransformerActivation::Relu, TransformerActivation::Gelu] {
                let l = layer(&config(norm_first, act));
                let y = l.forward(&Var::constant(x.clone())).unwrap();
                let want = naive_layer(&l, &x, act);
                for (a, b) in y.value().data().iter().zip(&want) {
                    assert!(
                        (a - b).abs() < 1e-4,
                        "norm_first {norm_first} {act:?}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for norm_first in [false, true] {
            let l = layer(&config(norm_first, TransformerActivation::Gelu));
            let params = l.params();
            let mut inputs: Vec<Tensor> = params.iter().map(|p| p.value()).collect();
            inputs.push(init::normal(&[1, 3, 4], 0.0, 1.0, &mut init::rng(6)));
            let mask = AttentionMask::none().with_causal();
            let f = |v: &[Var]| {
                let mut fast = FastWeights::new();
                for (p, x) in params.iter().zip(v) {
                    fast.insert(p, x.clone());
                }
                l.forward_masked_with(&fast, &v[params.len()], &mask)
                    .map_err(|e| ferrograd_autograd::Error::Invalid(e.to_string()))
            };
            gradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
        }
    }

    #[test]
    fn parameter_names_are_pytorchs() {
        let l =
            TransformerEncoderLayer::new(&config(false, TransformerActivation::Relu), 0).unwrap();
        let names: Vec<String> = l.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "self_attn.in_proj_weight",
                "self_attn.in_proj_bias",
                "self_attn.out_proj.weight",
                "self_attn.out_proj.bias",
                "linear1.weight",
                "linear1.bias",
                "linear2.weight",
                "linear2.bias",
                "norm1.weight",
                "norm1.bias",
                "norm2.weight",
                "norm2.bias",
            ]
        );
        let sd = l.state_dict();
        assert_eq!(sd["linear1.weight"].dims(), &[6, 4]);
        assert_eq!(sd["norm1.weight"].data(), &[1.0; 4]);
        let no_bias = TransformerEncoderLayerConfig {
            bias: false,
            ..config(false, TransformerActivation::Relu)
        };
        assert_eq!(
            TransformerEncoderLayer::new(&no_bias, 0)
                .unwrap()
                .params()
                .len(),
            6
        );
        let bad = TransformerEncoderLayerConfig {
            dropout: -0.1,
            ..config(false, TransformerActivation::Relu)
        };
        assert!(matches!(
            TransformerEncoderLayer::new(&bad, 0),
            Err(Error::Config(_))
        ));
        let bad = TransformerEncoderLayerConfig {
            heads: 3,
            ..config(false, TransformerActivation::Relu)
        };
        assert!(matches!(
            TransformerEncoderLayer::new(&bad, 0),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn dropout_acts_in_training_only() {
        let cfg = TransformerEncoderLayerConfig {
            dropout: 0.5,
            ..config(false, TransformerActivation::Relu)
        };
        let mut l = layer(&cfg);
        let x = Var::constant(init::normal(&[2, 3, 4], 0.0, 1.0, &mut init::rng(7)));
        let a = l.forward(&x).unwrap().value().clone();
        let b = l.forward(&x).unwrap().value().clone();
        assert!(a.max_abs_diff(&b) > 1e-3);
        l.set_training(false);
        let e = l.forward(&x).unwrap().value().clone();
        let plain = layer(&config(false, TransformerActivation::Relu));
        assert_eq!(e, plain.forward(&x).unwrap().value().clone());
    }

    #[test]
    fn encoder_stacks_layers_then_norm() {
        let cfg = config(true, TransformerActivation::Gelu);
        let enc = TransformerEncoder::new(&cfg, 2, true, 3).unwrap();
        let names: Vec<String> = enc.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 26);
        assert_eq!(names[12], "layers.1.self_attn.in_proj_weight");
        assert_eq!(&names[24..], ["norm.weight", "norm.bias"]);
        let x = Var::constant(init::normal(&[2, 3, 4], 0.0, 1.0, &mut init::rng(8)));
        let mask = AttentionMask::none().with_causal();
        let mut want = x.clone();
        for layer in &enc.layers {
            want = layer.forward_masked_with(&OwnParams, &want, &mask).unwrap();
        }
        let want = want.normalize(-1, 1e-5).unwrap().value().clone();
        let got = enc.forward_masked_with(&OwnParams, &x, &mask).unwrap();
        assert!(got.value().max_abs_diff(&want) < 1e-5);
        assert_ne!(
            enc.layers[0].params()[0].value(),
            enc.layers[1].params()[0].value()
        );
    }
}
