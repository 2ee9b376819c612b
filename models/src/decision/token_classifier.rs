//! A Transformer token classifier: token embedding plus learned positions,
//! an encoder of `layers` layers, the mean over positions, a linear map to
//! class logits. Its parameter names are PyTorch's for the same modules
//! (`tok.weight`, `pos`, `enc.layers.0.self_attn.in_proj_weight`,
//! `out.weight`, …), so a PyTorch state dict loads without renaming.

use ferrograd_autograd::Var;
use ferrograd_nn::layers::transformer::{TransformerActivation, TransformerEncoderLayerConfig};
use ferrograd_nn::losses::{cross_entropy, Reduction};
use ferrograd_nn::{
    init, AttentionMask, Collector, Embedding, Error, Forward, Linear, Module, OwnParams, Param,
    Result, TransformerEncoder,
};
use ferrograd_tensor::{Indices, Tensor};

/// Settings of a [`TokenClassifier`]; the default is the anchors' model.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenClassifierConfig {
    /// Vocabulary size (token ids are below it); default 2000.
    pub vocab: usize,
    /// Longest sequence (rows of the positional table); default 32.
    pub seq_len: usize,
    /// Model width; default 128.
    pub d_model: usize,
    /// Attention heads (must divide `d_model`); default 4.
    pub heads: usize,
    /// Encoder layers; default 2.
    pub layers: usize,
    /// Hidden width of each feed-forward block; default 512.
    pub ff_dim: usize,
    /// Number of classes; default 20.
    pub classes: usize,
    /// Dropout in the encoder (training mode only); default 0.
    pub dropout: f32,
    /// Feed-forward activation; default GELU (erf).
    pub activation: TransformerActivation,
    /// Pre-norm (`true`) or post-norm (`false`, the default) layers.
    pub norm_first: bool,
    /// A layer norm after the last layer (`enc.norm`); default false.
    pub final_norm: bool,
}

impl Default for TokenClassifierConfig {
    fn default() -> Self {
        TokenClassifierConfig {
            vocab: 2000,
            seq_len: 32,
            d_model: 128,
            heads: 4,
            layers: 2,
            ff_dim: 512,
            classes: 20,
            dropout: 0.0,
            activation: TransformerActivation::Gelu,
            norm_first: false,
            final_norm: false,
        }
    }
}

impl TokenClassifierConfig {
    /// The number of weights and biases of a [`TokenClassifier`] of this
    /// configuration (token and position tables, encoder layers, final
    /// norm, classifier), `None` if it overflows `usize`; computed without
    /// building anything, so a loader can refuse a configuration claiming
    /// more than its file holds.
    pub fn min_value_count(&self) -> Option<usize> {
        use crate::run::sizes::{linear, sum, transformer_layer};
        let d = self.d_model;
        let norm = match self.final_norm {
            true => d.checked_mul(2)?,
            false => 0,
        };
        sum([
            self.vocab.checked_add(self.seq_len)?.checked_mul(d),
            transformer_layer(d, self.ff_dim)?.checked_mul(self.layers),
            Some(norm),
            linear(d, self.classes),
        ])
    }

    /// The configuration of each encoder layer (layer-norm ε 1e-5, biases).
    pub fn encoder_layer(&self) -> TransformerEncoderLayerConfig {
        TransformerEncoderLayerConfig {
            ff_dim: self.ff_dim,
            dropout: self.dropout,
            activation: self.activation,
            layer_norm_eps: 1e-5,
            norm_first: self.norm_first,
            bias: true,
            ..TransformerEncoderLayerConfig::new(self.d_model, self.heads)
        }
    }
}

/// Token embedding `tok` plus learned positions `pos`, the encoder `enc`,
/// mean over positions, linear `out`; see the module documentation.
///
/// ```
/// use ferrograd_models::decision::{TokenClassifier, TokenClassifierConfig};
/// use ferrograd_tensor::Indices;
/// let config = TokenClassifierConfig {
///     vocab: 10, seq_len: 6, d_model: 8, heads: 2, layers: 1, ff_dim: 16, classes: 3,
///     ..TokenClassifierConfig::default()
/// };
/// let model = TokenClassifier::new(&config, 0).unwrap();
/// let ids = Indices::new(vec![1, 2, 3, 4, 9, 0, 0, 5], &[2, 4]).unwrap(); // 2 sequences of 4
/// assert_eq!(model.forward_ids(&ids).unwrap().dims(), &[2, 3]);
/// let y = Indices::new(vec![0, 2], &[2]).unwrap();
/// assert!(model.loss(&ids, &y).unwrap().item().unwrap() > 0.0);
/// ```
pub struct TokenClassifier {
    /// Token embedding `[vocab, d_model]`.
    pub tok: Embedding,
    /// Positional embedding `[seq_len, d_model]`.
    pub pos: Param,
    /// The encoder layers.
    pub enc: TransformerEncoder,
    /// The classifier `d_model → classes`.
    pub out: Linear,
    config: TokenClassifierConfig,
}

impl TokenClassifier {
    /// A classifier with `config`, seeded: N(0, 1) token vectors, N(0,
    /// 0.02²) positions, PyTorch's default initialisation elsewhere.
    pub fn new(config: &TokenClassifierConfig, seed: u64) -> Result<TokenClassifier> {
        let c = config;
        if c.vocab == 0 || c.seq_len == 0 || c.classes == 0 || c.layers == 0 {
            return Err(Error::Config(format!(
                "token classifier: vocab, seq_len, classes and layers must be at least 1, \
                 got {c:?}"
            )));
        }
        let pos = init::normal(
            &[c.seq_len, c.d_model],
            0.0,
            0.02,
            &mut init::rng(seed.wrapping_add(3)),
        );
        Ok(TokenClassifier {
            tok: Embedding::new(c.vocab, c.d_model, seed),
            pos: Param::new(pos),
            enc: TransformerEncoder::new(
                &c.encoder_layer(),
                c.layers,
                c.final_norm,
                seed.wrapping_add(1),
            )?,
            out: Linear::new(c.d_model, c.classes, seed.wrapping_add(2)),
            config: c.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TokenClassifierConfig {
        &self.config
    }

    /// Logits `[B, classes]` for token ids `[B, T]`, `T ≤ seq_len` (the
    /// first `T` positions are used).
    pub fn forward_ids(&self, ids: &Indices) -> Result<Var> {
        let (seq_len, t) = (self.config.seq_len, ids.dims().get(1).copied());
        match (ids.dims().len(), t) {
            (2, Some(t)) if t >= 1 && t <= seq_len => {}
            _ => {
                return Err(Error::Config(format!(
                    "token classifier: ids must be [batch, time] with 1 ≤ time ≤ {seq_len}, \
                     got {:?}",
                    ids.dims()
                )))
            }
        };
        let x = self.tok.forward_ids(ids)?;
        let h = self.encode(&x, None)?.mean(&[1], false)?;
        self.out.forward(&h)
    }

    /// Logits `[B, classes]` for token ids `[B, T]` with a key padding mask
    /// `padding` `[B, T]` (nonzero marks padding): padded positions are
    /// neither attended to nor pooled, so a sequence's logits do not depend
    /// on how much padding follows it. `None` is [`Self::forward_ids`].
    pub fn forward_ids_masked(&self, ids: &Indices, padding: Option<&Tensor>) -> Result<Var> {
        if ids.dims().len() != 2 {
            return Err(Error::Config(format!(
                "token classifier: ids must be [batch, time], got {:?}",
                ids.dims()
            )));
        }
        let x = self.tok.forward_ids(ids)?;
        let h = self.encode(&x, padding)?;
        self.out.forward(&self.pool(&h, padding)?)
    }

    fn check_time(&self, dims: &[usize]) -> Result<usize> {
        let seq_len = self.config.seq_len;
        match dims {
            [_, t, ..] if *t >= 1 && *t <= seq_len => Ok(*t),
            _ => Err(Error::Config(format!(
                "token classifier: inputs must be [batch, time, ...] with 1 ≤ time ≤ {seq_len}, \
                 got {dims:?}"
            ))),
        }
    }

    /// Hidden states `[B, T, d_model]` of already embedded tokens `x`
    /// `[B, T, d_model]`: the first `T` learned positions are added and the
    /// encoder runs with the key padding mask `padding` `[B, T]` (nonzero
    /// marks padding), if any. Padded positions get hidden states too
    /// (computed from the real ones); callers ignore them.
    pub fn encode(&self, x: &Var, padding: Option<&Tensor>) -> Result<Var> {
        let t = self.check_time(x.dims())?;
        let pos = self.pos.var();
        let pos = if t < self.config.seq_len {
            pos.narrow(0, 0, t)?
        } else {
            pos
        };
        let x = x.add(&pos)?;
        match padding {
            None => self.enc.forward(&x),
            Some(p) => self.enc.forward_masked_with(
                &OwnParams,
                &x,
                &AttentionMask::none().with_key_padding(p.clone()),
            ),
        }
    }

    /// The mean of hidden states `h` `[B, T, D]` over the positions that
    /// are not padding (`padding` `[B, T]`, nonzero marks padding), `[B,
    /// D]`; over every position without a mask. A row that is all padding
    /// pools to zeros.
    pub fn pool(&self, h: &Var, padding: Option<&Tensor>) -> Result<Var> {
        let Some(p) = padding else {
            return Ok(h.mean(&[1], false)?);
        };
        let (b, t) = match h.dims() {
            &[b, t, _] if p.dims() == [b, t] => (b, t),
            other => {
                return Err(Error::Config(format!(
                    "token classifier: padding {:?} does not fit hidden states {other:?}",
                    p.dims()
                )))
            }
        };
        let keep: Vec<f32> = p.data().iter().map(|&v| (v == 0.0) as u8 as f32).collect();
        let counts: Vec<f32> = keep
            .chunks_exact(t)
            .map(|r| r.iter().sum::<f32>().max(1.0))
            .collect();
        let keep = Var::constant(Tensor::from_vec(keep, &[b, t, 1])?);
        let counts = Var::constant(Tensor::from_vec(counts, &[b, 1])?);
        Ok(h.mul(&keep)?.sum(&[1], false)?.div(&counts)?)
    }

    /// Mean cross-entropy of the logits for `ids` `[B, T]` against the
    /// classes `labels` `[B]`.
    pub fn loss(&self, ids: &Indices, labels: &Indices) -> Result<Var> {
        cross_entropy(&self.forward_ids(ids)?, labels, Reduction::Mean)
    }
}

impl Module for TokenClassifier {
    fn visit(&self, c: &mut Collector) {
        c.child("tok", &self.tok);
        c.param("pos", &self.pos);
        c.child("enc", &self.enc);
        c.child("out", &self.out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> TokenClassifierConfig {
        TokenClassifierConfig {
            vocab: 7,
            seq_len: 5,
            d_model: 8,
            heads: 2,
            layers: 2,
            ff_dim: 12,
            classes: 3,
            ..TokenClassifierConfig::default()
        }
    }

    #[test]
    fn parameter_names_are_pytorchs() {
        let m = TokenClassifier::new(&TokenClassifierConfig::default(), 0).unwrap();
        let sd = m.state_dict();
        assert_eq!(sd["tok.weight"].dims(), &[2000, 128]);
        assert_eq!(sd["pos"].dims(), &[32, 128]);
        assert_eq!(
            sd["enc.layers.1.self_attn.in_proj_weight"].dims(),
            &[384, 128]
        );
        assert_eq!(sd["enc.layers.0.linear1.weight"].dims(), &[512, 128]);
        assert_eq!(sd["out.weight"].dims(), &[20, 128]);
        assert!(!sd.keys().any(|k| k.starts_with("enc.norm")));
    }

    #[test]
    fn shorter_sequences_use_the_first_positions_and_bad_ids_are_errors() {
        let m = TokenClassifier::new(&small(), 1).unwrap();
        let ids = Indices::new(vec![1, 2, 3, 4, 5, 6], &[2, 3]).unwrap();
        let logits = m.forward_ids(&ids).unwrap();
        assert_eq!(logits.dims(), &[2, 3]);
        assert!(logits.value().data().iter().all(|v| v.is_finite()));
        let too_long = Indices::new(vec![0; 6], &[1, 6]).unwrap();
        let out_of_vocab = Indices::new(vec![7, 0], &[1, 2]).unwrap();
        let flat = Indices::new(vec![0, 1], &[2]).unwrap();
        for bad in [too_long, out_of_vocab, flat] {
            assert!(matches!(m.forward_ids(&bad), Err(Error::Config(_))));
        }
        let zero = TokenClassifierConfig {
            classes: 0,
            ..small()
        };
        assert!(matches!(
            TokenClassifier::new(&zero, 0),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn padding_changes_nothing() {
        let m = TokenClassifier::new(&small(), 3).unwrap();
        // Row 0 is 2 tokens long, row 1 is 3; padded to 5 with arbitrary ids.
        let ids = Indices::new(vec![1, 2, 6, 6, 3, 4, 5, 6, 0, 2], &[2, 5]).unwrap();
        let pad = Tensor::from_vec(vec![0., 0., 1., 1., 1., 0., 0., 0., 1., 1.], &[2, 5]).unwrap();
        let padded = m.forward_ids_masked(&ids, Some(&pad)).unwrap();
        let alone = [
            m.forward_ids(&Indices::new(vec![1, 2], &[1, 2]).unwrap())
                .unwrap(),
            m.forward_ids(&Indices::new(vec![4, 5, 6], &[1, 3]).unwrap())
                .unwrap(),
        ];
        for (row, want) in alone.iter().enumerate() {
            let got = &padded.value().data()[row * 3..row * 3 + 3];
            for (g, w) in got.iter().zip(want.value().data()) {
                assert!((g - w).abs() < 1e-5, "row {row}: {g} vs {w}");
            }
        }
        // Without the mask the padding does change the result.
        let unmasked = m.forward_ids(&ids).unwrap();
        assert!(unmasked.value().data()[..3]
            .iter()
            .zip(alone[0].value().data())
            .any(|(a, b)| (a - b).abs() > 1e-4));
    }

    #[test]
    fn the_loss_backpropagates_into_every_parameter() {
        let m = TokenClassifier::new(&small(), 2).unwrap();
        let ids = Indices::new(vec![1, 2, 3, 4, 5, 6, 0, 1, 2, 3], &[2, 5]).unwrap();
        let y = Indices::new(vec![0, 2], &[2]).unwrap();
        let loss = m.loss(&ids, &y).unwrap();
        // Near-uniform logits at initialisation: the loss is about ln 3.
        assert!((loss.item().unwrap() - 3f32.ln()).abs() < 1.0);
        loss.backward().unwrap();
        for (name, p) in m.named_params() {
            assert!(p.grad().is_some(), "{name} has no gradient");
        }
    }
}
