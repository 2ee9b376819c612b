//! The dual encoder: a convolutional image encoder and a Transformer text
//! encoder, each ending in a linear projection to a shared space, and a
//! learnable temperature on CLIP's log scale. [`DualEncoder::loss`] is
//! CLIP's symmetric InfoNCE ([`info_nce`], which L2-normalises both sides).

use super::vocab::Encoded;
use ferrograd_autograd::Var;
use ferrograd_nn::layers::attention::AttentionMask;
use ferrograd_nn::layers::transformer::{TransformerActivation, TransformerEncoderLayerConfig};
use ferrograd_nn::losses::{info_nce, Reduction};
use ferrograd_nn::{
    init, Collector, Conv2d, Embedding, Error, Forward, Linear, Module, Param, Result,
    TransformerEncoder,
};
use ferrograd_tensor::Tensor;
use serde::{Deserialize, Serialize};

/// CLIP's cap on the logit scale: 1/τ ≤ 100.
pub const MAX_LOGIT_SCALE: f32 = 4.605_170_2; // ln 100

/// The hyper-parameters of a [`DualEncoder`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DualEncoderConfig {
    /// Image side in pixels (square RGB images).
    pub image_side: usize,
    /// Output channels of each 3×3, stride-2 convolution.
    pub channels: Vec<usize>,
    /// Width of the hidden layer between the flattened features and the
    /// image projection.
    pub image_hidden: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Longest caption in tokens.
    pub max_tokens: usize,
    /// Width of the text Transformer.
    pub d_model: usize,
    /// Attention heads (dividing `d_model`).
    pub heads: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Feed-forward width of each layer.
    pub ff_dim: usize,
    /// Dimension of the shared embedding space.
    pub embed: usize,
    /// Initial temperature τ (CLIP: 0.07).
    pub temperature: f32,
}

impl DualEncoderConfig {
    /// Side of the last feature map.
    fn feature_side(&self) -> usize {
        let mut s = self.image_side;
        for _ in &self.channels {
            s = (s - 1) / 2 + 1;
        }
        s
    }

    /// The number of weights and biases of a [`DualEncoder`] of this
    /// configuration (both towers and the temperature), `None` if it
    /// overflows `usize`; computed without building anything, so a loader
    /// can refuse a configuration claiming more than its file holds.
    /// Call it on a configuration whose `validate` passed.
    pub fn min_value_count(&self) -> Option<usize> {
        use crate::run::sizes::{conv, linear, sum, transformer_layer};
        let mut inp = 3;
        let mut convs = Some(0usize);
        for &out in &self.channels {
            convs = sum([convs, conv(inp, out, 3)]);
            inp = out;
        }
        let s = self.feature_side();
        let flat = inp.checked_mul(s.checked_mul(s)?)?;
        let d = self.d_model;
        sum([
            convs,
            linear(flat, self.image_hidden),
            linear(self.image_hidden, self.embed),
            self.vocab.checked_add(self.max_tokens)?.checked_mul(d),
            transformer_layer(d, self.ff_dim)?.checked_mul(self.layers),
            d.checked_mul(2),
            linear(d, self.embed),
            Some(1),
        ])
    }

    /// Checks the sizes.
    pub fn validate(&self) -> Result<()> {
        let c = self;
        let positive = [
            ("image_side", c.image_side),
            ("image_hidden", c.image_hidden),
            ("vocab", c.vocab),
            ("max_tokens", c.max_tokens),
            ("d_model", c.d_model),
            ("heads", c.heads),
            ("layers", c.layers),
            ("ff_dim", c.ff_dim),
            ("embed", c.embed),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(Error::Config(format!(
                "dual encoder: {name} must be at least 1"
            )));
        }
        if c.channels.is_empty() || c.channels.contains(&0) {
            return Err(Error::Config(format!(
                "dual encoder: channels must be one or more positive widths, got {:?}",
                c.channels
            )));
        }
        if !c.d_model.is_multiple_of(c.heads) {
            return Err(Error::Config(format!(
                "dual encoder: heads ({}) must divide d_model ({})",
                c.heads, c.d_model
            )));
        }
        if !(c.temperature.is_finite()
            && c.temperature > 0.0
            && -c.temperature.ln() <= MAX_LOGIT_SCALE)
        {
            return Err(Error::Config(format!(
                "dual encoder: the temperature must be in [0.01, ∞), got {}",
                c.temperature
            )));
        }
        Ok(())
    }
}

/// Stride-2 3×3 convolutions with ReLU, flattened, a hidden layer with
/// ReLU, and the projection `proj` to the shared space.
pub struct ImageEncoder {
    convs: Vec<Conv2d>,
    hidden: Linear,
    /// The projection to the shared space.
    pub proj: Linear,
}

impl ImageEncoder {
    fn new(c: &DualEncoderConfig, seed: u64) -> Result<ImageEncoder> {
        let mut convs = Vec::new();
        let mut inp = 3;
        for (i, &out) in c.channels.iter().enumerate() {
            convs.push(
                Conv2d::new(inp, out, (3, 3), seed.wrapping_add(i as u64))?
                    .with_stride((2, 2))
                    .with_padding((1, 1)),
            );
            inp = out;
        }
        let s = c.feature_side();
        let flat = inp * s * s;
        Ok(ImageEncoder {
            convs,
            hidden: Linear::new(flat, c.image_hidden, seed.wrapping_add(100)),
            proj: Linear::new(c.image_hidden, c.embed, seed.wrapping_add(101)),
        })
    }

    /// Embeddings `[B, embed]` (not normalised) of images `[B, 3, H, W]`.
    pub fn forward(&self, x: &Var) -> Result<Var> {
        crate::guard::rank("clip image encoder", "images", x.value(), 4)?;
        crate::guard::finite_tensor("clip image encoder", "images", x.value())?;
        let b = x.dims()[0];
        if b == 0 {
            return Err(Error::Config(
                "clip image encoder: the batch of images is empty".into(),
            ));
        }
        let mut h = x.clone();
        for conv in &self.convs {
            h = conv.forward(&h)?.relu();
        }
        let n = h.numel() / b.max(1);
        let h = self.hidden.forward(&h.reshape(&[b, n])?)?.relu();
        self.proj.forward(&h)
    }
}

impl Module for ImageEncoder {
    fn visit(&self, c: &mut Collector) {
        for (i, conv) in self.convs.iter().enumerate() {
            c.child(&format!("convs.{i}"), conv);
        }
        c.child("hidden", &self.hidden);
        c.child("proj", &self.proj);
    }
}

/// Token embedding plus learned positions, a pre-norm Transformer encoder
/// with a final layer norm and a key padding mask, the mean over the real
/// tokens, and the projection `proj` to the shared space.
pub struct TextEncoder {
    tok: Embedding,
    pos: Param,
    enc: TransformerEncoder,
    /// The projection to the shared space.
    pub proj: Linear,
    max_tokens: usize,
}

impl TextEncoder {
    fn new(c: &DualEncoderConfig, seed: u64) -> Result<TextEncoder> {
        let layer = TransformerEncoderLayerConfig {
            ff_dim: c.ff_dim,
            dropout: 0.0,
            activation: TransformerActivation::Gelu,
            norm_first: true,
            ..TransformerEncoderLayerConfig::new(c.d_model, c.heads)
        };
        let pos = init::normal(
            &[c.max_tokens, c.d_model],
            0.0,
            0.02,
            &mut init::rng(seed.wrapping_add(3)),
        );
        let tok = Embedding::new(c.vocab, c.d_model, seed);
        // N(0, 0.02²) token vectors, as CLIP's text tower starts.
        tok.weight.set(init::normal(
            &[c.vocab, c.d_model],
            0.0,
            0.02,
            &mut init::rng(seed.wrapping_add(4)),
        ));
        Ok(TextEncoder {
            tok,
            pos: Param::new(pos),
            enc: TransformerEncoder::new(&layer, c.layers, true, seed.wrapping_add(1))?,
            proj: Linear::new(c.d_model, c.embed, seed.wrapping_add(2)),
            max_tokens: c.max_tokens,
        })
    }

    /// Embeddings `[B, embed]` (not normalised) of encoded texts.
    pub fn forward(&self, text: &Encoded) -> Result<Var> {
        let dims = text.ids.dims();
        if dims.len() != 2 || dims[1] != self.max_tokens {
            return Err(Error::Config(format!(
                "text encoder: token ids must be [batch, {}], got {dims:?}",
                self.max_tokens
            )));
        }
        let x = self.tok.forward_ids(&text.ids)?.add(&self.pos.var())?;
        let mask = AttentionMask::none().with_key_padding(text.padding.clone());
        let h = self
            .enc
            .forward_masked_with(&ferrograd_nn::OwnParams, &x, &mask)?;
        let keep = Var::constant(text.keep.clone());
        let pooled = h
            .mul(&keep)?
            .sum(&[1], false)?
            .div(&Var::constant(text.lengths.clone()))?;
        self.proj.forward(&pooled)
    }
}

impl Module for TextEncoder {
    fn visit(&self, c: &mut Collector) {
        c.child("tok", &self.tok);
        c.param("pos", &self.pos);
        c.child("enc", &self.enc);
        c.child("proj", &self.proj);
    }
}

/// The image and text towers and the log-scale temperature
/// `logit_scale` (1/τ = exp(logit_scale), capped at 100 as in CLIP).
pub struct DualEncoder {
    /// The image tower.
    pub image: ImageEncoder,
    /// The text tower.
    pub text: TextEncoder,
    /// ln(1/τ), a scalar parameter.
    pub logit_scale: Param,
    config: DualEncoderConfig,
}

impl DualEncoder {
    /// A seeded model with `config`.
    pub fn new(config: &DualEncoderConfig, seed: u64) -> Result<DualEncoder> {
        config.validate()?;
        Ok(DualEncoder {
            image: ImageEncoder::new(config, seed)?,
            text: TextEncoder::new(config, seed.wrapping_add(1000))?,
            logit_scale: Param::new(Tensor::scalar(-config.temperature.ln())),
            config: config.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DualEncoderConfig {
        &self.config
    }

    /// The temperature τ = exp(−min(logit_scale, ln 100)), a scalar `Var`
    /// (no gradient to `logit_scale` while it is above the cap).
    pub fn temperature(&self) -> Result<Var> {
        let cap = Var::constant(Tensor::scalar(MAX_LOGIT_SCALE));
        Ok(self.logit_scale.var().minimum(&cap)?.neg().exp())
    }

    /// Symmetric InfoNCE of images `[B, 3, H, W]` against their captions.
    pub fn loss(&self, images: &Var, text: &Encoded) -> Result<Var> {
        let i = self.image.forward(images)?;
        let t = self.text.forward(text)?;
        info_nce(&i, &t, self.temperature()?, Reduction::Mean)
    }
}

impl Module for DualEncoder {
    fn visit(&self, c: &mut Collector) {
        c.child("image", &self.image);
        c.child("text", &self.text);
        c.param("logit_scale", &self.logit_scale);
    }
}

/// Each row of `[N, D]` divided by its L2 norm, as plain numbers.
pub fn normalise_rows(x: &Tensor) -> Vec<Vec<f32>> {
    let d = x.dims().last().copied().unwrap_or(0).max(1);
    x.data()
        .chunks(d)
        .map(|r| {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            r.iter().map(|v| v / n).collect()
        })
        .collect()
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
