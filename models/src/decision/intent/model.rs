//! [`IntentTransformer`]: word vectors (the mean of each word's tokeniser
//! units in the table `tok`), learned positions, a Transformer encoder with
//! a key padding mask, the masked mean of the hidden states into the intent
//! head `out`, and each word's hidden state into the slot-tag head `slot`.
//! The first four are a [`TokenClassifier`] (same parameter names); the
//! batch is a flat list of units with the word each belongs to, so words of
//! any length cost what they have.

use super::labels::{INTENTS, TAGS};
use super::text::words;
use super::tokenizer::{Tokenizer, UNK};
use crate::decision::{TokenClassifier, TokenClassifierConfig};
use ferrograd_autograd::Var;
use ferrograd_nn::losses::{cross_entropy, cross_entropy_with, CrossEntropyOptions, Reduction};
use ferrograd_nn::{Collector, Error, Forward, Linear, Module, Result};
use ferrograd_tensor::{Indices, Tensor};
use rand::rngs::StdRng;
use rand::Rng;

/// Words of a batch of texts as the model reads them.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Texts.
    pub b: usize,
    /// Words of the longest text (the padded length).
    pub t: usize,
    /// Words of each text.
    pub lengths: Vec<usize>,
    /// Every unit of every word, `[N]`.
    pub units: Indices,
    /// The weight of each unit (1 / units of its word), `[N, 1]`.
    pub weights: Tensor,
    /// The word (row of `[B·T]`) each unit belongs to, `[N]`.
    pub word_of: Indices,
    /// `[B, T]`, 1 at padding.
    pub padding: Tensor,
}

impl Batch {
    /// The batch of `texts` (each with 1 to `max_len` words). With
    /// `word_dropout`, each word's vocabulary id is replaced by `<unk>`
    /// with that probability (training), so the model learns to read the
    /// n-grams of a word it does not know.
    pub fn new(
        tok: &Tokenizer,
        texts: &[&str],
        max_len: usize,
        mut word_dropout: Option<(f64, &mut StdRng)>,
    ) -> Result<Batch> {
        let all: Vec<Vec<&str>> = texts
            .iter()
            .map(|t| words(t).iter().map(|w| &t[w.start..w.end]).collect())
            .collect();
        for (text, w) in texts.iter().zip(&all) {
            if w.is_empty() {
                return Err(Error::Config(format!("the text {text:?} has no words")));
            }
            if w.len() > max_len {
                return Err(Error::Config(format!(
                    "the text {text:?} has {} words; the model reads at most {max_len}",
                    w.len()
                )));
            }
        }
        let b = texts.len();
        let t = all.iter().map(Vec::len).max().unwrap_or(1);
        let (mut units, mut weights, mut word_of) = (Vec::new(), Vec::new(), Vec::new());
        let mut padding = vec![1f32; b * t];
        for (row, ws) in all.iter().enumerate() {
            for (j, w) in ws.iter().enumerate() {
                let mut u = tok.word_units(w);
                if let Some((p, rng)) = word_dropout.as_mut() {
                    if *p > 0.0 && rng.random_bool(*p) {
                        u[0] = UNK;
                    }
                }
                let weight = 1.0 / u.len() as f32;
                weights.extend(std::iter::repeat_n(weight, u.len()));
                word_of.extend(std::iter::repeat_n(row * t + j, u.len()));
                units.extend(u);
                padding[row * t + j] = 0.0;
            }
        }
        let n = units.len();
        Ok(Batch {
            b,
            t,
            lengths: all.iter().map(Vec::len).collect(),
            units: Indices::new(units, &[n])?,
            weights: Tensor::from_vec(weights, &[n, 1])?,
            word_of: Indices::new(word_of, &[n])?,
            padding: Tensor::from_vec(padding, &[b, t])?,
        })
    }
}

/// The model's outputs for a batch.
pub struct Outputs {
    /// Intent logits `[B, intents]`.
    pub intent: Var,
    /// Slot-tag logits `[B·T, tags]` (rows of padding included).
    pub slots: Var,
}

/// See the module docs.
pub struct IntentTransformer {
    /// Unit table `tok`, positions `pos`, encoder `enc`, intent head `out`.
    pub base: TokenClassifier,
    /// The slot-tag head `d_model → tags`.
    pub slot: Linear,
}

impl IntentTransformer {
    /// A model of `config` (its `vocab` the tokeniser's units, its
    /// `classes` the intents), seeded.
    pub fn new(config: &TokenClassifierConfig, seed: u64) -> Result<IntentTransformer> {
        if config.classes != INTENTS.len() {
            return Err(Error::Config(format!(
                "intent transformer: {} classes, expected the {} intents",
                config.classes,
                INTENTS.len()
            )));
        }
        Ok(IntentTransformer {
            base: TokenClassifier::new(config, seed)?,
            slot: Linear::new(config.d_model, TAGS, seed.wrapping_add(4)),
        })
    }

    /// Intent and slot-tag logits for `batch`.
    pub fn forward(&self, batch: &Batch) -> Result<Outputs> {
        let d = self.base.config().d_model;
        let rows = self.base.tok.forward_ids(&batch.units)?;
        let x = rows
            .mul(&Var::constant(batch.weights.clone()))?
            .index_add(0, &batch.word_of, batch.b * batch.t)?
            .reshape(&[batch.b, batch.t, d])?;
        let h = self.base.encode(&x, Some(&batch.padding))?;
        let pooled = self.base.pool(&h, Some(&batch.padding))?;
        Ok(Outputs {
            intent: self.base.out.forward(&pooled)?,
            slots: self.slot.forward(&h.reshape(&[batch.b * batch.t, d])?)?,
        })
    }

    /// Mean intent cross-entropy plus `slot_weight` × the mean slot-tag
    /// cross-entropy over the real words; `intents` `[B]`, `tags` one list
    /// per text (its words' tags).
    pub fn loss(
        &self,
        batch: &Batch,
        intents: &[usize],
        tags: &[Vec<usize>],
        slot_weight: f32,
    ) -> Result<Var> {
        let out = self.forward(batch)?;
        let mut flat = vec![TAGS; batch.b * batch.t];
        for (row, tg) in tags.iter().enumerate() {
            if tg.len() != batch.lengths[row] {
                return Err(Error::Config(format!(
                    "intent transformer: text {row} has {} words but {} tags",
                    batch.lengths[row],
                    tg.len()
                )));
            }
            flat[row * batch.t..row * batch.t + tg.len()].copy_from_slice(tg);
        }
        let n = flat.len();
        let slot_loss = cross_entropy_with(
            &out.slots,
            &Indices::new(flat, &[n])?,
            &CrossEntropyOptions {
                ignore_index: Some(TAGS),
                ..CrossEntropyOptions::default()
            },
            Reduction::Mean,
        )?;
        let intent_loss = cross_entropy(
            &out.intent,
            &Indices::new(intents.to_vec(), &[intents.len()])?,
            Reduction::Mean,
        )?;
        Ok(intent_loss.add(&slot_loss.mul_scalar(slot_weight))?)
    }
}

impl Module for IntentTransformer {
    fn visit(&self, c: &mut Collector) {
        self.base.visit(c);
        c.child("slot", &self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn setup() -> (Tokenizer, IntentTransformer) {
        let tok = Tokenizer::learn(
            ["bring me the water", "stop now", "open the door"],
            1,
            64,
            3,
            4,
        )
        .unwrap();
        let cfg = TokenClassifierConfig {
            vocab: tok.units(),
            seq_len: 8,
            d_model: 16,
            heads: 2,
            layers: 2,
            ff_dim: 32,
            classes: INTENTS.len(),
            ..TokenClassifierConfig::default()
        };
        (tok, IntentTransformer::new(&cfg, 1).unwrap())
    }

    #[test]
    fn padding_changes_nothing() {
        let (tok, m) = setup();
        let texts = ["stop", "bring me the waterr from the kitchen"];
        let both = m
            .forward(&Batch::new(&tok, &texts, 8, None).unwrap())
            .unwrap();
        let alone = m
            .forward(&Batch::new(&tok, &texts[..1], 8, None).unwrap())
            .unwrap();
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
        let n = INTENTS.len();
        assert!(close(
            &both.intent.value().data()[..n],
            alone.intent.value().data()
        ));
        // "stop" is word 0 of row 0 of both batches.
        assert!(close(
            &both.slots.value().data()[..TAGS],
            &alone.slots.value().data()[..TAGS]
        ));
        assert_eq!(both.slots.dims(), &[2 * 7, TAGS]);
    }

    #[test]
    fn loss_reaches_every_parameter_and_bad_inputs_are_errors() {
        let (tok, m) = setup();
        let mut rng = StdRng::seed_from_u64(0);
        let batch = Batch::new(
            &tok,
            &["bring me the water", "stop"],
            8,
            Some((0.5, &mut rng)),
        )
        .unwrap();
        assert_eq!(batch.padding.data(), &[0., 0., 0., 0., 0., 1., 1., 1.]);
        let loss = m
            .loss(&batch, &[0, 9], &[vec![0, 0, 0, 1], vec![0]], 1.0)
            .unwrap();
        let l = loss.item().unwrap();
        // Near-uniform at initialisation: about ln 12 + ln 11.
        assert!((l - (12f32.ln() + 11f32.ln())).abs() < 1.5, "{l}");
        loss.backward().unwrap();
        for (name, p) in m.named_params() {
            assert!(p.grad().is_some(), "{name}");
        }
        assert!(m.named_params().iter().any(|(n, _)| n == "slot.weight"));
        assert!(m.loss(&batch, &[0, 9], &[vec![0], vec![0]], 1.0).is_err());
        assert!(Batch::new(&tok, &["?!"], 8, None)
            .unwrap_err()
            .to_string()
            .contains("no words"));
        let long = "a b c d e f g h i";
        assert!(Batch::new(&tok, &[long], 8, None)
            .unwrap_err()
            .to_string()
            .contains("at most 8"));
    }
}
