//! Reading commands with a trained model: [`IntentModel::load`] a
//! checkpoint of `decision intent train`, then [`IntentModel::predict`].

use super::config::IntentRunConfig;
use super::labels::{INTENTS, SLOTS, TAGS};
use super::metrics::Parse;
use super::model::{Batch, IntentTransformer};
use super::text::{decode, words};
use super::tokenizer::Tokenizer;
use super::train::{FAMILY, META_TOKENIZER};
use crate::run::family_checkpoint;
use ferrograd_autograd::no_grad;
use ferrograd_nn::checkpoint::Checkpoint;
use ferrograd_nn::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Commands per forward pass when parsing many.
const CHUNK: usize = 64;

/// The parse of one command, as `decision intent predict` prints it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The command.
    pub text: String,
    /// The intent's name.
    pub intent: String,
    /// The intent's probability.
    pub probability: f32,
    /// Each slot found, with its value as written in the text (the first
    /// value where a slot is found twice).
    pub slots: BTreeMap<String, String>,
}

/// The parses of `texts` by `model` reading through `tok` (in chunks,
/// without recording a graph).
pub fn parse_texts(
    model: &IntentTransformer,
    tok: &Tokenizer,
    texts: &[&str],
) -> Result<Vec<Parse>> {
    let max_len = model.base.config().seq_len;
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(CHUNK) {
        let batch = Batch::new(tok, chunk, max_len, None)?;
        let o = no_grad(|| model.forward(&batch))?;
        let probs = o.intent.value().softmax(-1)?;
        let (ni, nt) = (INTENTS.len(), o.slots.dims()[1]);
        let slot_logits = o.slots.value();
        for (row, text) in chunk.iter().enumerate() {
            let p = &probs.data()[row * ni..(row + 1) * ni];
            let (intent, &probability) = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .expect("12 intents");
            let ws = words(text);
            let tags: Vec<usize> = (0..ws.len())
                .map(|j| {
                    let r = (row * batch.t + j) * nt;
                    let l = &slot_logits.data()[r..r + nt];
                    (0..nt)
                        .max_by(|&a, &b| l[a].total_cmp(&l[b]))
                        .expect("tags")
                })
                .collect();
            out.push(Parse {
                intent,
                probability,
                spans: decode(&ws, &tags),
            });
        }
    }
    Ok(out)
}

/// A trained intent transformer with its tokeniser and configuration.
pub struct IntentModel {
    /// The network.
    pub model: IntentTransformer,
    /// The tokeniser it was trained with.
    pub tokenizer: Tokenizer,
    /// The run's configuration.
    pub config: IntentRunConfig,
    /// The checkpoint's contents.
    pub checkpoint: Checkpoint,
}

impl IntentModel {
    /// Loads a checkpoint of `decision intent train`; a file of another
    /// family, without a tokeniser or with tensors that do not fit is an
    /// [`Error::Format`] naming the file.
    ///
    /// ```no_run
    /// use ferrograd_models::decision::intent::IntentModel;
    /// let m = IntentModel::load("runs/intent/checkpoints/best.safetensors")?;
    /// let p = m.predict("bring me the water from the kitchen")?;
    /// println!("{} {:?}", p.intent, p.slots.get("location"));
    /// # Ok::<(), ferrograd_nn::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<IntentModel> {
        let path = path.as_ref();
        let bad = |problem: String| Error::Format {
            path: path.to_path_buf(),
            problem,
        };
        let (checkpoint, config): (Checkpoint, IntentRunConfig) = family_checkpoint(path, FAMILY)?;
        config
            .validate()
            .map_err(|e| bad(format!("bad configuration: {e}")))?;
        let json = checkpoint
            .metadata
            .get(META_TOKENIZER)
            .ok_or_else(|| bad(format!("metadata '{META_TOKENIZER}' is missing")))?;
        let tokenizer = Tokenizer::from_json(json).map_err(|e| bad(e.to_string()))?;
        let model_config = config.model(tokenizer.units());
        let claimed = model_config
            .min_value_count()
            .and_then(|n| n.checked_add(crate::run::sizes::linear(config.d_model, TAGS)?));
        crate::run::check_claimed_size(claimed, &checkpoint, path)?;
        let model = IntentTransformer::new(&model_config, 0)?;
        checkpoint
            .load_into(&model)
            .map_err(|e| bad(format!("the tensors do not fit the recorded model: {e}")))?;
        Ok(IntentModel {
            model,
            tokenizer,
            config,
            checkpoint,
        })
    }

    /// The parses of `texts` (intent index, probability, spans).
    pub fn parse(&self, texts: &[&str]) -> Result<Vec<Parse>> {
        parse_texts(&self.model, &self.tokenizer, texts)
    }

    /// The intent and slots of `text`; an error if it has no words or more
    /// than the model reads.
    pub fn predict(&self, text: &str) -> Result<Prediction> {
        Ok(self.predict_all(&[text])?.remove(0))
    }

    /// [`Self::predict`] of each of `texts`.
    pub fn predict_all(&self, texts: &[&str]) -> Result<Vec<Prediction>> {
        Ok(self
            .parse(texts)?
            .into_iter()
            .zip(texts)
            .map(|(p, text)| to_prediction(text, &p))
            .collect())
    }
}

/// The [`Prediction`] of `text` from its parse.
pub fn to_prediction(text: &str, p: &Parse) -> Prediction {
    let mut slots = BTreeMap::new();
    for s in &p.spans {
        slots
            .entry(SLOTS[s.slot].to_string())
            .or_insert_with(|| text[s.start..s.end].to_string());
    }
    Prediction {
        text: text.to_string(),
        intent: INTENTS[p.intent].to_string(),
        probability: p.probability,
        slots,
    }
}
