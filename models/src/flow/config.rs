//! The configuration of a flow-matching run: the `flow train` flags and the
//! `config.json` of its run folder, one struct.

use super::matching::{Solver, Target};
use super::model::FlowConfig;
use crate::run::config::{Checks, List};
use clap::Args;
use ferrograd_nn::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

fn d() -> FlowRunConfig {
    FlowRunConfig::default()
}

/// Every setting of a `flow train` run: its flags, the keys of its YAML
/// configuration and of `config.json`.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowRunConfig {
    /// The digit to learn (0–9).
    #[arg(long, default_value_t = d().digit)]
    pub digit: u8,
    /// An MNIST-format IDX image file (gzipped or not) instead of the
    /// built-in 10,000 MNIST digits; needs --labels.
    #[arg(long, value_name = "FILE", requires = "labels")]
    pub images: Option<PathBuf>,
    /// The IDX label file of --images.
    #[arg(long, value_name = "FILE", requires = "images")]
    pub labels: Option<PathBuf>,
    /// Train on synthetic stroke digits instead of images (quick tests).
    #[arg(long, conflicts_with = "images")]
    pub synthetic: bool,
    /// Number of synthetic clouds (with --synthetic), before the 90/10 split.
    #[arg(long, default_value_t = d().synthetic_clouds)]
    pub synthetic_clouds: usize,
    /// Points per cloud.
    #[arg(long, default_value_t = d().points)]
    pub points: usize,
    /// Passes over the training clouds.
    #[arg(long, default_value_t = d().epochs)]
    pub epochs: usize,
    /// Clouds per batch.
    #[arg(long, default_value_t = d().batch)]
    pub batch: usize,
    /// Adam learning rate (cosine-annealed to --min-lr over the run).
    #[arg(long, default_value_t = d().lr)]
    pub lr: f64,
    /// The learning rate at the end of the run.
    #[arg(long, default_value_t = d().min_lr)]
    pub min_lr: f64,
    /// Clip the gradient's global norm to this (0: no clipping).
    #[arg(long, default_value_t = d().clip)]
    pub clip: f32,
    /// Integration steps of sampling (evaluation and plots).
    #[arg(long, default_value_t = d().steps)]
    pub steps: usize,
    /// The ODE solver of sampling.
    #[arg(long, value_enum, default_value_t = d().solver)]
    pub solver: Solver,
    /// What the velocity network predicts.
    #[arg(long, value_enum, default_value_t = d().target)]
    pub target: Target,
    /// Size of the encoder's global code.
    #[arg(long, default_value_t = d().code)]
    pub code: usize,
    /// Hidden widths of the encoder's per-point MLP (comma list).
    #[arg(long, value_name = "W,W", default_value_t = d().encoder_hidden)]
    pub encoder_hidden: List<usize>,
    /// Width of the velocity network.
    #[arg(long, default_value_t = d().velocity_width)]
    pub velocity_width: usize,
    /// AdaLN residual blocks of the velocity network.
    #[arg(long, default_value_t = d().velocity_blocks)]
    pub velocity_blocks: usize,
    /// Give the encoder a VAE head, so clouds can be generated from
    /// z ~ N(0, I) without a reference cloud.
    #[arg(long)]
    pub vae: bool,
    /// Weight of the KL term (with --vae).
    #[arg(long, default_value_t = d().kl_weight)]
    pub kl_weight: f32,
    /// Test clouds scored at each evaluation during training (the whole
    /// test split is scored at the end).
    #[arg(long, default_value_t = d().eval_clouds)]
    pub eval_clouds: usize,
    /// Evaluate, checkpoint and redraw the plots every this many epochs.
    #[arg(long, default_value_t = d().eval_every)]
    pub eval_every: usize,
    /// Write the last checkpoint every this many epochs (and at the end).
    #[arg(long, default_value_t = d().save_every)]
    pub save_every: usize,
    /// Seed of the clouds, the split, initialisation, batches and noise.
    #[arg(long, default_value_t = d().seed)]
    pub seed: u64,
    /// Stop with an error after this many non-finite steps in a row.
    #[arg(long, default_value_t = d().max_nonfinite)]
    pub max_nonfinite: u64,
}

impl Default for FlowRunConfig {
    /// Digit 4 of the built-in MNIST, 500 points, batch 32, Adam 2e-3
    /// cosine to 1e-5, 20 Euler steps, velocity target, code 64.
    fn default() -> Self {
        let m = FlowConfig::default();
        FlowRunConfig {
            digit: 4,
            images: None,
            labels: None,
            synthetic: false,
            synthetic_clouds: 2_000,
            points: crate::data::digits::DEFAULT_POINTS,
            epochs: 40,
            batch: 32,
            lr: 2e-3,
            min_lr: 1e-5,
            clip: 1.0,
            steps: 20,
            solver: Solver::Euler,
            target: m.target,
            code: m.code,
            encoder_hidden: List(m.encoder_hidden),
            velocity_width: m.velocity_width,
            velocity_blocks: m.velocity_blocks,
            vae: m.vae,
            kl_weight: m.kl_weight,
            eval_clouds: 64,
            eval_every: 5,
            save_every: 10,
            seed: 0,
            max_nonfinite: 20,
        }
    }
}

impl FlowRunConfig {
    /// The `--test` preset: synthetic clouds of 100 points, a small model,
    /// 2 epochs.
    pub fn test_preset(cfg: &mut FlowRunConfig) {
        cfg.synthetic = true;
        cfg.synthetic_clouds = 80;
        cfg.points = 100;
        cfg.epochs = 2;
        cfg.batch = 16;
        cfg.encoder_hidden = List(vec![32]);
        cfg.code = 16;
        cfg.velocity_width = 32;
        cfg.velocity_blocks = 1;
        cfg.eval_clouds = 8;
        cfg.eval_every = 1;
        cfg.save_every = 1;
        cfg.steps = 5;
    }

    /// The model's configuration.
    pub fn model(&self) -> FlowConfig {
        FlowConfig {
            encoder_hidden: self.encoder_hidden.0.clone(),
            code: self.code,
            time_embedding: FlowConfig::default().time_embedding,
            velocity_width: self.velocity_width,
            velocity_blocks: self.velocity_blocks,
            vae: self.vae,
            kl_weight: self.kl_weight,
            target: self.target,
        }
    }

    /// A short name of the data: `mnist digit 4`, `synthetic digit 4` or
    /// the image file.
    pub fn data_name(&self) -> String {
        match (&self.images, self.synthetic) {
            (_, true) => format!("synthetic digit {}", self.digit),
            (Some(p), _) => format!("{} digit {}", p.display(), self.digit),
            (None, _) => format!("built-in MNIST digit {}", self.digit),
        }
    }

    /// Checks every setting, naming the first bad flag.
    pub fn validate(&self) -> Result<()> {
        let c = Checks("flow train");
        if self.digit > 9 {
            return Err(c.fail("digit", format!("must be 0 to 9, got {}", self.digit)));
        }
        c.at_least(&[
            ("points", self.points, 1),
            ("epochs", self.epochs, 1),
            ("batch", self.batch, 1),
            ("steps", self.steps, 1),
            ("code", self.code, 1),
            ("velocity_width", self.velocity_width, 1),
            ("velocity_blocks", self.velocity_blocks, 1),
            ("eval_clouds", self.eval_clouds, 1),
            ("eval_every", self.eval_every, 1),
            ("save_every", self.save_every, 1),
            ("synthetic_clouds", self.synthetic_clouds, 10),
        ])?;
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
        if self.encoder_hidden.0.is_empty() {
            return Err(c.fail("encoder_hidden", "needs at least one width"));
        }
        c.widths("encoder_hidden", &self.encoder_hidden.0)?;
        // Points per cloud size every generated batch (`b × points × 2`).
        c.widths("points", &[self.points])?;
        if !(self.kl_weight.is_finite() && self.kl_weight >= 0.0) {
            return Err(c.fail(
                "kl_weight",
                format!("must be finite and ≥ 0, got {}", self.kl_weight),
            ));
        }
        c.loop_limits(self.max_nonfinite, None)?;
        self.model().validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_count_that_would_allocate_without_bound_is_refused() {
        FlowRunConfig::default().validate().unwrap();
        let c = FlowRunConfig {
            points: 1 << 40,
            ..FlowRunConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("--points"), "{e}");
    }
}
