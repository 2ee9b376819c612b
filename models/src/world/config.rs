//! The configuration of the world-model pipeline: rollout collection, the
//! VAE, the MDN-RNN and the planner. Every key is a long flag of the
//! `ferrograd world` commands (with `-` for `_`) and a YAML key.

use super::controller::ControllerConfig;
use super::dream::{PlanConfig, Planner};
use super::mdn_rnn::MdnRnnConfig;
use super::vae::VaeConfig;
use crate::run::config::{Checks, MAX_WIDTH};
use clap::Args;
use ferrograd_nn::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

fn d() -> WorldConfig {
    WorldConfig::default()
}

/// Settings of every stage of `ferrograd world`.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldConfig {
    /// Folder of episode files (written by `world collect`, read by the
    /// training stages).
    #[arg(long, value_name = "DIR")]
    pub episodes_dir: Option<PathBuf>,
    /// Episodes to collect.
    #[arg(long, default_value_t = d().episodes)]
    pub episodes: usize,
    /// Least chance of a random action in the collecting policy (the rest
    /// follow the lowest fruit): the episodes cycle through `noise_levels`
    /// levels from this to 1 (fully random), so the data hold good and bad
    /// play.
    #[arg(long, default_value_t = d().noise)]
    pub noise: f64,
    /// Levels of play the collected episodes cycle through (1: every
    /// episode at `noise`).
    #[arg(long, default_value_t = d().noise_levels)]
    pub noise_levels: usize,
    /// Latent size of the VAE.
    #[arg(long, default_value_t = d().z_dim)]
    pub z_dim: usize,
    /// Frames sampled from the episodes to train the VAE on.
    #[arg(long, default_value_t = d().vae_frames)]
    pub vae_frames: usize,
    /// VAE passes over its frames.
    #[arg(long, default_value_t = d().vae_epochs)]
    pub vae_epochs: usize,
    /// VAE learning rate (Adam).
    #[arg(long, default_value_t = d().vae_lr)]
    pub vae_lr: f64,
    /// Frames per VAE batch.
    #[arg(long, default_value_t = d().vae_batch)]
    pub vae_batch: usize,
    /// LSTM hidden units of the MDN-RNN.
    #[arg(long, default_value_t = d().hidden)]
    pub hidden: usize,
    /// Mixture components per latent dimension.
    #[arg(long, default_value_t = d().components)]
    pub components: usize,
    /// Hidden units of the MDN-RNN's reward classifier on `[h, z, a]`
    /// (cross-entropy over the outcomes −1, 0, +1); 0 for the paper's
    /// linear reward output trained by MSE.
    #[arg(long, default_value_t = d().reward_hidden)]
    pub reward_hidden: usize,
    /// Steps per training window of the MDN-RNN (shorter episode ends are
    /// padded and masked).
    #[arg(long, default_value_t = d().seq_len)]
    pub seq_len: usize,
    /// MDN-RNN passes over the windows.
    #[arg(long, default_value_t = d().rnn_epochs)]
    pub rnn_epochs: usize,
    /// MDN-RNN learning rate (Adam).
    #[arg(long, default_value_t = d().rnn_lr)]
    pub rnn_lr: f64,
    /// Windows per MDN-RNN batch.
    #[arg(long, default_value_t = d().rnn_batch)]
    pub rnn_batch: usize,
    /// Global gradient-norm clip of the MDN-RNN (0: none). The mixture NLL,
    /// summed over the latent dimensions, has gradients of norm well above
    /// 1: a clip of 1 shrinks every step, and starves the reward classifier
    /// most (its mean prediction at catches 0.18 against 0.38 at 100).
    #[arg(long, default_value_t = d().clip)]
    pub clip: f32,
    /// Share of the episodes held out to score the MDN-RNN.
    #[arg(long, default_value_t = d().test_fraction)]
    pub test_fraction: f64,
    /// Real episodes per agent when scoring the planner.
    #[arg(long, default_value_t = d().eval_episodes)]
    pub eval_episodes: usize,
    /// The planner's search.
    #[arg(long, value_enum, default_value_t = d().planner)]
    pub planner: Planner,
    /// Steps the planner simulates.
    #[arg(long, default_value_t = d().horizon)]
    pub horizon: usize,
    /// Candidate action sequences per planning round.
    #[arg(long, default_value_t = d().candidates)]
    pub candidates: usize,
    /// Rounds of the cross-entropy method.
    #[arg(long, default_value_t = d().iterations)]
    pub iterations: usize,
    /// Temperature of the planner's simulated draws (0: most likely means).
    #[arg(long, default_value_t = d().temperature)]
    pub temperature: f32,
    /// Draws the planner simulates per candidate sequence, their predicted
    /// returns averaged (more than 1 only helps at a temperature above 0).
    #[arg(long, default_value_t = d().plan_samples)]
    pub plan_samples: usize,
    /// Weight `discount^t` of the planner's predicted reward `t` steps
    /// ahead (1: every step the same).
    #[arg(long, default_value_t = d().plan_discount)]
    pub plan_discount: f32,
    /// Generations of the controller's training in the dream.
    #[arg(long, default_value_t = d().controller_generations)]
    pub controller_generations: usize,
    /// Parameter vectors per generation of the controller's training.
    #[arg(long, default_value_t = d().controller_population)]
    pub controller_population: usize,
    /// Dream rollouts per member and generation.
    #[arg(long, default_value_t = d().controller_rollouts)]
    pub controller_rollouts: usize,
    /// Steps per dream rollout of the controller's training.
    #[arg(long, default_value_t = d().controller_horizon)]
    pub controller_horizon: usize,
    /// Temperature of the controller's training dreams.
    #[arg(long, default_value_t = d().controller_temperature)]
    pub controller_temperature: f32,
    /// Seed of everything.
    #[arg(long, default_value_t = d().seed)]
    pub seed: u64,
    /// Stop after this many non-finite losses in a row.
    #[arg(long, default_value_t = d().max_nonfinite)]
    pub max_nonfinite: u64,
}

impl Default for WorldConfig {
    fn default() -> WorldConfig {
        WorldConfig {
            episodes_dir: None,
            episodes: 200,
            noise: 0.3,
            noise_levels: 5,
            z_dim: 32,
            vae_frames: 10_000,
            vae_epochs: 8,
            vae_lr: 1e-3,
            vae_batch: 32,
            hidden: 256,
            components: 5,
            reward_hidden: 128,
            seq_len: 32,
            rnn_epochs: 30,
            rnn_lr: 1e-3,
            rnn_batch: 32,
            clip: 100.0,
            test_fraction: 0.15,
            eval_episodes: 200,
            planner: Planner::Cem,
            horizon: 12,
            candidates: 48,
            iterations: 2,
            temperature: 0.0,
            plan_samples: 1,
            plan_discount: 1.0,
            controller_generations: 20,
            controller_population: 32,
            controller_rollouts: 4,
            controller_horizon: 40,
            controller_temperature: 1.0,
            seed: 0,
            max_nonfinite: 20,
        }
    }
}

impl WorldConfig {
    /// `--test`: a pipeline of seconds.
    pub fn test_preset(c: &mut WorldConfig) {
        c.episodes = 8;
        c.z_dim = 8;
        c.vae_frames = 64;
        c.vae_epochs = 1;
        c.hidden = 16;
        c.components = 2;
        c.reward_hidden = 8;
        c.seq_len = 8;
        c.rnn_epochs = 2;
        c.eval_episodes = 2;
        c.horizon = 3;
        c.candidates = 4;
        c.iterations = 1;
        c.controller_generations = 2;
        c.controller_population = 4;
        c.controller_rollouts = 1;
        c.controller_horizon = 3;
    }

    /// Checks every setting, naming the first bad flag.
    pub fn validate(&self) -> Result<()> {
        let c = Checks("world");
        c.at_least(&[
            ("episodes", self.episodes, 1),
            ("noise_levels", self.noise_levels, 1),
            ("z_dim", self.z_dim, 1),
            ("vae_frames", self.vae_frames, 1),
            ("vae_epochs", self.vae_epochs, 1),
            ("vae_batch", self.vae_batch, 1),
            ("hidden", self.hidden, 1),
            ("components", self.components, 1),
            ("seq_len", self.seq_len, 1),
            ("rnn_epochs", self.rnn_epochs, 1),
            ("rnn_batch", self.rnn_batch, 1),
            ("eval_episodes", self.eval_episodes, 1),
            ("horizon", self.horizon, 1),
            ("candidates", self.candidates, 1),
            ("iterations", self.iterations, 1),
            ("plan_samples", self.plan_samples, 1),
            ("controller_generations", self.controller_generations, 1),
            ("controller_population", self.controller_population, 2),
            ("controller_rollouts", self.controller_rollouts, 1),
            ("controller_horizon", self.controller_horizon, 1),
        ])?;
        // Sizes that become tensor dimensions or batch rows: a file or a
        // flag asking for 10¹² of them is refused before any allocation.
        for (f, v) in [
            ("z_dim", self.z_dim),
            ("hidden", self.hidden),
            ("components", self.components),
            ("reward_hidden", self.reward_hidden.max(1)),
            ("vae_batch", self.vae_batch),
            ("rnn_batch", self.rnn_batch),
            ("seq_len", self.seq_len),
            ("horizon", self.horizon),
            ("controller_population", self.controller_population),
            ("controller_rollouts", self.controller_rollouts),
            ("controller_horizon", self.controller_horizon),
        ] {
            c.widths(f, &[v])?;
        }
        // Products that are one LSTM batch.
        for (f, a, g, b, batch) in [
            (
                "candidates",
                self.candidates,
                "plan-samples",
                self.plan_samples,
                "the planner's",
            ),
            (
                "controller_population",
                self.controller_population,
                "controller-rollouts",
                self.controller_rollouts,
                "the controller's dream",
            ),
        ] {
            if a.checked_mul(b).is_none_or(|n| n > MAX_WIDTH) {
                return Err(c.fail(
                    f,
                    format!("times --{g} is {batch} batch, at most {MAX_WIDTH}: got {a} × {b}"),
                ));
            }
        }
        c.positive("vae_lr", self.vae_lr)?;
        c.positive("rnn_lr", self.rnn_lr)?;
        if !(0.0..=1.0).contains(&self.noise) {
            return Err(c.fail("noise", format!("must be in [0, 1], got {}", self.noise)));
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return Err(c.fail(
                "test_fraction",
                format!(
                    "must be strictly between 0 and 1, got {}",
                    self.test_fraction
                ),
            ));
        }
        for (f, v) in [
            ("clip", self.clip),
            ("temperature", self.temperature),
            ("controller_temperature", self.controller_temperature),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(c.fail(f, format!("must be finite and ≥ 0, got {v}")));
            }
        }
        if !(self.plan_discount > 0.0 && self.plan_discount <= 1.0) {
            return Err(c.fail(
                "plan_discount",
                format!("must be in (0, 1], got {}", self.plan_discount),
            ));
        }
        c.loop_limits(self.max_nonfinite, None)
    }

    /// The VAE's settings.
    pub fn vae(&self) -> VaeConfig {
        VaeConfig {
            z_dim: self.z_dim,
            ..VaeConfig::default()
        }
    }

    /// The MDN-RNN's settings (a mixture per latent dimension, as in the
    /// paper).
    pub fn rnn(&self) -> MdnRnnConfig {
        MdnRnnConfig {
            z_dim: self.z_dim,
            action_dim: super::env::ACTIONS,
            hidden: self.hidden,
            components: self.components,
            per_dim: true,
            reward_hidden: self.reward_hidden,
        }
    }

    /// The controller's training settings.
    pub fn controller(&self) -> ControllerConfig {
        ControllerConfig {
            generations: self.controller_generations,
            population: self.controller_population,
            rollouts: self.controller_rollouts,
            horizon: self.controller_horizon,
            temperature: self.controller_temperature,
        }
    }

    /// The planner's settings.
    pub fn plan(&self) -> PlanConfig {
        PlanConfig {
            planner: self.planner,
            horizon: self.horizon,
            candidates: self.candidates,
            iterations: self.iterations,
            temperature: self.temperature,
            samples: self.plan_samples,
            discount: self.plan_discount,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_the_test_preset_are_valid() {
        let mut c = WorldConfig::default();
        c.validate().unwrap();
        WorldConfig::test_preset(&mut c);
        c.validate().unwrap();
    }

    #[test]
    fn sizes_that_would_allocate_without_bound_are_refused() {
        let huge = 1usize << 40;
        type Set = fn(&mut WorldConfig, usize);
        let cases: [(&str, Set); 6] = [
            ("--hidden", |c, v| c.hidden = v),
            ("--z-dim", |c, v| c.z_dim = v),
            ("--reward-hidden", |c, v| c.reward_hidden = v),
            ("--horizon", |c, v| c.horizon = v),
            ("--candidates", |c, v| c.candidates = v),
            ("--controller-population", |c, v| {
                c.controller_population = v
            }),
        ];
        for (flag, set) in cases {
            let mut c = WorldConfig::default();
            set(&mut c, huge);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(flag), "{flag}: {e}");
        }
        // Each within bounds, but their product is the batch.
        let c = WorldConfig {
            candidates: 1 << 10,
            plan_samples: 1 << 10,
            ..WorldConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("--candidates") && e.contains("batch"), "{e}");
        let c = WorldConfig {
            plan_discount: 0.0,
            ..WorldConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--plan-discount"));
    }
}
