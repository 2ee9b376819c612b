//! The configuration of an intent-transformer run: the `decision intent
//! train` flags and the `config.json` of its run folder, one struct.

use crate::decision::TokenClassifierConfig;
use crate::run::config::Checks;
use clap::Args;
use ferrograd_nn::layers::transformer::TransformerActivation;
use ferrograd_nn::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::labels::INTENTS;

fn d() -> IntentRunConfig {
    IntentRunConfig::default()
}

/// Every setting of a `decision intent train` run.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntentRunConfig {
    /// Train on your labelled commands (JSON lines: text, intent, slots)
    /// instead of the built-in generator; 10% of them validate.
    #[arg(long, value_name = "FILE.jsonl")]
    pub data: Option<PathBuf>,
    /// Your test commands (JSON lines), scored at the end instead of the
    /// built-in held-out and typo sets.
    #[arg(long, value_name = "FILE.jsonl")]
    pub test_data: Option<PathBuf>,
    /// Generated training commands (training phrasings only).
    #[arg(long, default_value_t = d().train_examples)]
    pub train_examples: usize,
    /// Generated validation commands (training phrasings, another seed).
    #[arg(long, default_value_t = d().valid_examples)]
    pub valid_examples: usize,
    /// Generated commands of each test set (held-out phrasings; the typo
    /// set is the same commands with typos).
    #[arg(long, default_value_t = d().test_examples)]
    pub test_examples: usize,
    /// Per-word typo probability of the generated training commands.
    #[arg(long, default_value_t = d().train_typo_rate)]
    pub train_typo_rate: f64,
    /// Per-word typo probability of the typo test set (at least one typo
    /// per command).
    #[arg(long, default_value_t = d().test_typo_rate)]
    pub test_typo_rate: f64,
    /// Words seen fewer times in the training text are not in the
    /// vocabulary (they are read by their n-grams alone).
    #[arg(long, default_value_t = d().min_count)]
    pub min_count: usize,
    /// Hash buckets of the character n-grams.
    #[arg(long, default_value_t = d().buckets)]
    pub buckets: usize,
    /// Shortest character n-gram.
    #[arg(long, default_value_t = d().min_n)]
    pub min_n: usize,
    /// Longest character n-gram.
    #[arg(long, default_value_t = d().max_n)]
    pub max_n: usize,
    /// Probability of hiding a training word's vocabulary id (so its
    /// n-grams learn to stand for it).
    #[arg(long, default_value_t = d().word_dropout)]
    pub word_dropout: f64,
    /// Longest command in words (rows of the position table).
    #[arg(long, default_value_t = d().max_len)]
    pub max_len: usize,
    /// Model width.
    #[arg(long, default_value_t = d().d_model)]
    pub d_model: usize,
    /// Attention heads (must divide --d-model).
    #[arg(long, default_value_t = d().heads)]
    pub heads: usize,
    /// Encoder layers.
    #[arg(long, default_value_t = d().layers)]
    pub layers: usize,
    /// Hidden width of each feed-forward block.
    #[arg(long, default_value_t = d().ff_dim)]
    pub ff_dim: usize,
    /// Optimizer steps.
    #[arg(long, default_value_t = d().steps)]
    pub steps: u64,
    /// Commands per batch.
    #[arg(long, default_value_t = d().batch)]
    pub batch: usize,
    /// Gradient accumulation: batches per optimizer step (their gradients
    /// averaged, as one batch of `batch × accumulate` commands).
    #[arg(long, default_value_t = d().accumulate)]
    pub accumulate: usize,
    /// AdamW learning rate (linear warm-up, then cosine to --min-lr).
    #[arg(long, default_value_t = d().lr)]
    pub lr: f64,
    /// The learning rate at the end of the run.
    #[arg(long, default_value_t = d().min_lr)]
    pub min_lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = d().warmup)]
    pub warmup: u64,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = d().weight_decay)]
    pub weight_decay: f64,
    /// Clip the gradient's global norm to this (0: no clipping).
    #[arg(long, default_value_t = d().clip)]
    pub clip: f32,
    /// Weight of the slot-tag loss beside the intent loss.
    #[arg(long, default_value_t = d().slot_weight)]
    pub slot_weight: f32,
    /// Validate and checkpoint every this many steps (and at the end).
    #[arg(long, default_value_t = d().valid_every)]
    pub valid_every: u64,
    /// Log the training loss every this many steps.
    #[arg(long, default_value_t = d().log_every)]
    pub log_every: u64,
    /// Seed of the data, initialisation and batches.
    #[arg(long, default_value_t = d().seed)]
    pub seed: u64,
    /// Stop with an error after this many non-finite steps in a row.
    #[arg(long, default_value_t = d().max_nonfinite)]
    pub max_nonfinite: u64,
}

impl Default for IntentRunConfig {
    /// 20,000 generated commands, n-grams 3–5 in 4,096 buckets, d = 128, 4
    /// heads, 2 layers, 2,000 steps of 32 with AdamW 1e-3.
    fn default() -> Self {
        IntentRunConfig {
            data: None,
            test_data: None,
            train_examples: 20_000,
            valid_examples: 1_000,
            test_examples: 2_000,
            train_typo_rate: 0.04,
            test_typo_rate: 0.15,
            min_count: 3,
            buckets: 4096,
            min_n: 3,
            max_n: 5,
            word_dropout: 0.15,
            max_len: 32,
            d_model: 128,
            heads: 4,
            layers: 2,
            ff_dim: 256,
            steps: 2_000,
            batch: 32,
            accumulate: 1,
            lr: 1e-3,
            min_lr: 1e-5,
            warmup: 100,
            weight_decay: 0.01,
            clip: 1.0,
            slot_weight: 1.0,
            valid_every: 250,
            log_every: 50,
            seed: 0,
            max_nonfinite: 20,
        }
    }
}

impl IntentRunConfig {
    /// The `--test` preset: a small model for a run of seconds.
    pub fn test_preset(cfg: &mut IntentRunConfig) {
        cfg.train_examples = 1_500;
        cfg.valid_examples = 100;
        cfg.test_examples = 200;
        cfg.buckets = 512;
        cfg.d_model = 32;
        cfg.heads = 2;
        cfg.ff_dim = 64;
        cfg.steps = 150;
        cfg.warmup = 10;
        cfg.lr = 3e-3;
        cfg.valid_every = 50;
        cfg.log_every = 10;
    }

    /// The encoder's configuration for a tokeniser of `units` units.
    pub fn model(&self, units: usize) -> TokenClassifierConfig {
        TokenClassifierConfig {
            vocab: units,
            seq_len: self.max_len,
            d_model: self.d_model,
            heads: self.heads,
            layers: self.layers,
            ff_dim: self.ff_dim,
            classes: INTENTS.len(),
            dropout: 0.0,
            activation: TransformerActivation::Gelu,
            norm_first: false,
            final_norm: false,
        }
    }

    /// A short name of the data.
    pub fn data_name(&self) -> String {
        match &self.data {
            Some(p) => p.display().to_string(),
            None => "built-in commands".into(),
        }
    }

    /// Checks every setting, naming the first bad flag.
    pub fn validate(&self) -> Result<()> {
        let c = Checks("decision intent train");
        c.at_least(&[
            ("train_examples", self.train_examples, 10),
            ("valid_examples", self.valid_examples, 1),
            ("test_examples", self.test_examples, 1),
            ("min_count", self.min_count, 1),
            ("buckets", self.buckets, 1),
            ("min_n", self.min_n, 1),
            ("max_n", self.max_n, self.min_n.max(1)),
            ("max_len", self.max_len, 1),
            ("d_model", self.d_model, 1),
            ("heads", self.heads, 1),
            ("layers", self.layers, 1),
            ("ff_dim", self.ff_dim, 1),
            ("batch", self.batch, 1),
            ("accumulate", self.accumulate, 1),
        ])?;
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(c.fail(
                "heads",
                format!("must divide --d-model {}, got {}", self.d_model, self.heads),
            ));
        }
        for (f, v) in [
            ("steps", self.steps),
            ("valid_every", self.valid_every),
            ("log_every", self.log_every),
        ] {
            if v == 0 {
                return Err(c.fail(f, "must be at least 1"));
            }
        }
        for (f, v) in [
            ("train_typo_rate", self.train_typo_rate),
            ("test_typo_rate", self.test_typo_rate),
            ("word_dropout", self.word_dropout),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(c.fail(f, format!("must be a probability in [0, 1], got {v}")));
            }
        }
        c.positive("lr", self.lr)?;
        if !(self.min_lr.is_finite() && (0.0..=self.lr).contains(&self.min_lr)) {
            return Err(c.fail(
                "min_lr",
                format!("must be in [0, --lr], got {}", self.min_lr),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(c.fail(
                "weight_decay",
                format!("must be ≥ 0, got {}", self.weight_decay),
            ));
        }
        if !(self.clip.is_finite() && self.clip >= 0.0) {
            return Err(c.fail("clip", format!("must be finite and ≥ 0, got {}", self.clip)));
        }
        if !(self.slot_weight.is_finite() && self.slot_weight >= 0.0) {
            return Err(c.fail(
                "slot_weight",
                format!("must be finite and ≥ 0, got {}", self.slot_weight),
            ));
        }
        if self.warmup >= self.steps {
            return Err(c.fail(
                "warmup",
                format!("must be below --steps {}, got {}", self.steps, self.warmup),
            ));
        }
        c.loop_limits(self.max_nonfinite, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_preset_validate_and_bad_flags_are_named() {
        IntentRunConfig::default().validate().unwrap();
        let mut t = IntentRunConfig::default();
        IntentRunConfig::test_preset(&mut t);
        t.validate().unwrap();
        let bad = |f: fn(&mut IntentRunConfig), flag: &str| {
            let mut c = IntentRunConfig::default();
            f(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(flag), "{e}");
        };
        bad(|c| c.heads = 3, "--heads");
        bad(|c| c.word_dropout = 1.5, "--word-dropout");
        bad(|c| c.min_n = 6, "--max-n");
        bad(|c| c.lr = -1.0, "--lr");
        bad(|c| c.warmup = 5000, "--warmup");
        bad(|c| c.steps = 0, "--steps");
    }
}
