//! A Transformer token classifier: token embedding plus learned positions,
//! an encoder of `layers` layers, the mean over positions, a linear map to
//! class logits. Its parameter names are PyTorch's for the same modules
//! (`tok.weight`, `pos`, `enc.layers.0.self_attn.in_proj_weight`,
//! `out.weight`, …), so a PyTorch state dict loads without renaming.

use ferrograd_autograd::Var;
use ferrograd_nn::layers::transformer::{TransformerActivation, TransformerEncoderLayerConfig};
use ferrograd_nn::losses::{cross_entropy, Reduction};
use ferrograd_nn::{
    init, Collector, Embedding, Error, Forward, Linear, Module, Param, Result, TransformerEncoder,
};
use ferrograd_tensor::Indices;

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
        let t = match (ids.dims().len(), t) {
            (2, Some(t)) if t >= 1 && t <= seq_len => t,
            _ => {
                return Err(Error::Config(format!(
                    "token classifier: ids must be [batch, time] with 1 ≤ time ≤ {seq_len}, \
                     got {:?}",
                    ids.dims()
                )))
            }
        };
        let pos = self.pos.var();
        let pos = if t < seq_len {
            pos.narrow(0, 0, t)?
        } else {
            pos
        };
        let x = self.tok.forward_ids(ids)?.add(&pos)?;
        let h = self.enc.forward(&x)?.mean(&[1], false)?;
        self.out.forward(&h)
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
