//! The configuration of a dual-encoder run: the `decision clip train`
//! flags and the `config.json` of its run folder, one struct.

use super::model::DualEncoderConfig;
use super::scenes::{combinations, Split, SIDE};
use crate::run::config::{Checks, List};
use clap::Args;
use ferrograd_nn::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

fn d() -> ClipRunConfig {
    ClipRunConfig::default()
}

/// Every setting of a `decision clip train` run: its flags, the keys of its
/// YAML configuration and of `config.json`.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClipRunConfig {
    /// Your own image–caption pairs instead of the built-in scenes: a JSON
    /// lines file of {"image": PATH, "caption": TEXT} (PNG, JPEG or BMP of
    /// any size, resized to 32×32; paths relative to the file), split
    /// 80/10/10 into training, validation and test by --seed.
    #[arg(long, value_name = "FILE.jsonl")]
    pub pairs: Option<PathBuf>,
    /// Optimizer steps (each on a freshly rendered batch).
    #[arg(long, default_value_t = d().steps)]
    pub steps: u64,
    /// Image–caption pairs per batch; built-in scenes are of distinct
    /// attribute combinations (at most 240, the seen combinations).
    #[arg(long, default_value_t = d().batch)]
    pub batch: usize,
    /// Adam learning rate (cosine-annealed to --min-lr).
    #[arg(long, default_value_t = d().lr)]
    pub lr: f64,
    /// The learning rate at the end of the run.
    #[arg(long, default_value_t = d().min_lr)]
    pub min_lr: f64,
    /// Clip the gradient's global norm to this (0: no clipping).
    #[arg(long, default_value_t = d().clip)]
    pub clip: f32,
    /// Output channels of the image encoder's stride-2 convolutions.
    #[arg(long, value_name = "C,C", default_value_t = d().channels)]
    pub channels: List<usize>,
    /// Hidden width of the image encoder after the convolutions.
    #[arg(long, default_value_t = d().image_hidden)]
    pub image_hidden: usize,
    /// Width of the text Transformer.
    #[arg(long, default_value_t = d().d_model)]
    pub d_model: usize,
    /// Attention heads of the text Transformer.
    #[arg(long, default_value_t = d().heads)]
    pub heads: usize,
    /// Layers of the text Transformer.
    #[arg(long, default_value_t = d().layers)]
    pub layers: usize,
    /// Feed-forward width of each Transformer layer.
    #[arg(long, default_value_t = d().ff_dim)]
    pub ff_dim: usize,
    /// Dimension of the shared embedding space.
    #[arg(long, default_value_t = d().embed)]
    pub embed: usize,
    /// Longest caption in tokens (longer ones are cut).
    #[arg(long, default_value_t = d().max_tokens)]
    pub max_tokens: usize,
    /// Initial temperature τ of InfoNCE (learned; 1/τ capped at 100).
    #[arg(long, default_value_t = d().temperature)]
    pub temperature: f32,
    /// Validation scenes (seen combinations, new drawings): they pick the
    /// best checkpoint.
    #[arg(long, default_value_t = d().valid_scenes)]
    pub valid_scenes: usize,
    /// Scenes of each test set (seen combinations, new drawings; and the
    /// held-out combinations).
    #[arg(long, default_value_t = d().test_scenes)]
    pub test_scenes: usize,
    /// Validate (and checkpoint) every this many steps.
    #[arg(long, default_value_t = d().valid_every)]
    pub valid_every: u64,
    /// Log the training loss every this many steps.
    #[arg(long, default_value_t = d().log_every)]
    pub log_every: u64,
    /// Seed of the scenes, initialisation and batches.
    #[arg(long, default_value_t = d().seed)]
    pub seed: u64,
    /// Stop with an error after this many non-finite steps in a row.
    #[arg(long, default_value_t = d().max_nonfinite)]
    pub max_nonfinite: u64,
}

impl Default for ClipRunConfig {
    /// 800 steps of batch 128, Adam 2e-3 cosine to 1e-5, convolutions
    /// 16,32,64, a 2-layer Transformer of width 64 with 4 heads, a shared
    /// space of 64 dimensions, τ from 0.07.
    fn default() -> Self {
        ClipRunConfig {
            pairs: None,
            steps: 800,
            batch: 128,
            lr: 2e-3,
            min_lr: 1e-5,
            clip: 1.0,
            channels: List(vec![16, 32, 64]),
            image_hidden: 128,
            d_model: 64,
            heads: 4,
            layers: 2,
            ff_dim: 128,
            embed: 64,
            max_tokens: 16,
            temperature: 0.07,
            valid_scenes: 256,
            test_scenes: 500,
            valid_every: 100,
            log_every: 20,
            seed: 0,
            max_nonfinite: 20,
        }
    }
}

impl ClipRunConfig {
    /// The `--test` preset: a small model, 60 steps of batch 32.
    pub fn test_preset(cfg: &mut ClipRunConfig) {
        cfg.steps = 60;
        cfg.batch = 32;
        cfg.channels = List(vec![8, 16, 16]);
        cfg.image_hidden = 32;
        cfg.d_model = 32;
        cfg.heads = 2;
        cfg.layers = 1;
        cfg.ff_dim = 64;
        cfg.embed = 32;
        cfg.valid_scenes = 64;
        cfg.test_scenes = 100;
        cfg.valid_every = 30;
        cfg.log_every = 10;
    }

    /// The model's configuration for a vocabulary of `vocab` tokens.
    pub fn model(&self, vocab: usize) -> DualEncoderConfig {
        DualEncoderConfig {
            image_side: SIDE,
            channels: self.channels.0.clone(),
            image_hidden: self.image_hidden,
            vocab,
            max_tokens: self.max_tokens,
            d_model: self.d_model,
            heads: self.heads,
            layers: self.layers,
            ff_dim: self.ff_dim,
            embed: self.embed,
            temperature: self.temperature,
        }
    }

    /// A short name of the data: `built-in scenes` or the pairs file.
    pub fn data_name(&self) -> String {
        match &self.pairs {
            Some(p) => p.display().to_string(),
            None => "built-in scenes".into(),
        }
    }

    /// Checks every setting, naming the first bad flag.
    pub fn validate(&self) -> Result<()> {
        let c = Checks("decision clip train");
        let seen = combinations(Split::Seen).len();
        c.at_least(&[
            ("steps", self.steps as usize, 1),
            ("batch", self.batch, 2),
            ("image_hidden", self.image_hidden, 1),
            ("d_model", self.d_model, 1),
            ("heads", self.heads, 1),
            ("layers", self.layers, 1),
            ("ff_dim", self.ff_dim, 1),
            ("embed", self.embed, 1),
            ("max_tokens", self.max_tokens, 4),
            ("valid_scenes", self.valid_scenes, 2),
            ("test_scenes", self.test_scenes, 5),
            ("valid_every", self.valid_every as usize, 1),
            ("log_every", self.log_every as usize, 1),
        ])?;
        if self.pairs.is_none() && self.batch > seen {
            return Err(c.fail(
                "batch",
                format!(
                    "must be at most {seen} (a batch holds distinct seen combinations), got {}",
                    self.batch
                ),
            ));
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(c.fail(
                "heads",
                format!(
                    "must divide --d-model ({}), got {}",
                    self.d_model, self.heads
                ),
            ));
        }
        if self.channels.0.is_empty() {
            return Err(c.fail("channels", "needs at least one width"));
        }
        c.widths("channels", &self.channels.0)?;
        c.positive("lr", self.lr)?;
        if !(self.min_lr.is_finite() && (0.0..=self.lr).contains(&self.min_lr)) {
            return Err(c.fail(
                "min_lr",
                format!("must be in [0, --lr], got {}", self.min_lr),
            ));
        }
        if !(self.clip.is_finite() && self.clip >= 0.0) {
            return Err(c.fail("clip", format!("must be finite and ≥ 0, got {}", self.clip)));
        }
        if !(self.temperature.is_finite() && (0.01..=10.0).contains(&self.temperature)) {
            return Err(c.fail(
                "temperature",
                format!("must be in [0.01, 10], got {}", self.temperature),
            ));
        }
        c.loop_limits(self.max_nonfinite, None)?;
        self.model(2).validate()
    }
}
