//! The configuration of an imitation-policy run: the `decision policy
//! train` flags and the `config.json` of its run folder, one struct.

use super::sim::SimConfig;
use crate::run::config::{Checks, List};
use clap::Args;
use ferrograd_nn::Result;
use serde::{Deserialize, Serialize};

fn d() -> PolicyRunConfig {
    PolicyRunConfig::default()
}

/// Every setting of a `decision policy train` run: its flags, the keys of
/// its YAML configuration and of `config.json`.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyRunConfig {
    /// Cells per side of the square arena.
    #[arg(long, default_value_t = d().size)]
    pub size: usize,
    /// Rectangular obstacles per episode (they may overlap).
    #[arg(long, default_value_t = d().obstacles)]
    pub obstacles: usize,
    /// Longest side of an obstacle, in cells.
    #[arg(long, default_value_t = d().max_side)]
    pub max_side: usize,
    /// Shortest start-to-goal path of an episode, in straight moves.
    #[arg(long, default_value_t = d().min_distance)]
    pub min_distance: usize,
    /// Step limit of an episode.
    #[arg(long, default_value_t = d().max_steps)]
    pub max_steps: usize,
    /// Radius of the robot's occupancy view, in cells.
    #[arg(long, default_value_t = d().view)]
    pub view: usize,
    /// Expert state→action pairs to train on.
    #[arg(long, default_value_t = d().demos)]
    pub demos: usize,
    /// Expert states (of other episodes) for the validation accuracy.
    #[arg(long, default_value_t = d().valid_states)]
    pub valid_states: usize,
    /// Expert states (of yet other episodes) for the held-out accuracy.
    #[arg(long, default_value_t = d().test_states)]
    pub test_states: usize,
    /// Hidden widths of the policy network (comma list).
    #[arg(long, value_name = "W,W", default_value_t = d().hidden)]
    pub hidden: List<usize>,
    /// Train on the states as drawn only; by default each training state is
    /// turned or mirrored by one of the square's eight symmetries, drawn at
    /// random per state and step (the expert's choice turns with it).
    #[arg(long)]
    pub no_augment: bool,
    /// Passes over the demonstrations (behaviour cloning).
    #[arg(long, default_value_t = d().epochs)]
    pub epochs: usize,
    /// States per batch.
    #[arg(long, default_value_t = d().batch)]
    pub batch: usize,
    /// Adam learning rate (cosine-annealed to --min-lr over behaviour
    /// cloning, and again over each DAgger round).
    #[arg(long, default_value_t = d().lr)]
    pub lr: f64,
    /// The learning rate at the end of each phase.
    #[arg(long, default_value_t = d().min_lr)]
    pub min_lr: f64,
    /// After behaviour cloning, run DAgger rounds: the policy drives, the
    /// expert relabels the states it visits, the data grows, training goes on.
    #[arg(long)]
    pub dagger: bool,
    /// DAgger rounds (with --dagger).
    #[arg(long, default_value_t = d().dagger_rounds)]
    pub dagger_rounds: usize,
    /// Episodes the policy drives in each DAgger round.
    #[arg(long, default_value_t = d().dagger_episodes)]
    pub dagger_episodes: usize,
    /// Optimizer steps of each DAgger round (batches drawn from the whole
    /// aggregate).
    #[arg(long, default_value_t = d().dagger_steps)]
    pub dagger_steps: usize,
    /// New episodes of the closed-loop evaluation.
    #[arg(long, default_value_t = d().eval_episodes)]
    pub eval_episodes: usize,
    /// Validate (and save the last checkpoint) every this many epochs.
    #[arg(long, default_value_t = d().eval_every)]
    pub eval_every: usize,
    /// Episodes drawn in trajectories.png.
    #[arg(long, default_value_t = d().plot_episodes)]
    pub plot_episodes: usize,
    /// Seed of the episodes, the initialisation and the batches.
    #[arg(long, default_value_t = d().seed)]
    pub seed: u64,
    /// Stop with an error after this many non-finite steps in a row.
    #[arg(long, default_value_t = d().max_nonfinite)]
    pub max_nonfinite: u64,
}

/// The most demonstrations or scored states a run may ask for (each is a
/// simulated rollout or state held in memory).
pub const MAX_STATES: usize = 1 << 24;

impl Default for PolicyRunConfig {
    /// The default arena ([`SimConfig::default`]), 10,000 demonstrations,
    /// a 256-256 ReLU network, 80 epochs of batch 128 at Adam 1e-3 (cosine to 1e-5); DAgger:
    /// 4 rounds of 200 episodes and 600 steps; 500 evaluation episodes.
    fn default() -> Self {
        let s = SimConfig::default();
        PolicyRunConfig {
            size: s.size,
            obstacles: s.obstacles,
            max_side: s.max_side,
            min_distance: s.min_distance,
            max_steps: s.max_steps,
            view: s.view,
            demos: 10_000,
            valid_states: 1_000,
            test_states: 2_000,
            hidden: List(vec![256, 256]),
            no_augment: false,
            epochs: 80,
            batch: 128,
            lr: 1e-3,
            min_lr: 1e-5,
            dagger: false,
            dagger_rounds: 4,
            dagger_episodes: 200,
            dagger_steps: 600,
            eval_episodes: 500,
            eval_every: 5,
            plot_episodes: 4,
            seed: 0,
            max_nonfinite: 20,
        }
    }
}

impl PolicyRunConfig {
    /// The `--test` preset: 1,500 demonstrations, a 64-unit network, 4
    /// epochs, 2 DAgger rounds of 30 episodes, 100 evaluation episodes.
    pub fn test_preset(cfg: &mut PolicyRunConfig) {
        cfg.demos = 1_500;
        cfg.valid_states = 300;
        cfg.test_states = 500;
        cfg.hidden = List(vec![64]);
        cfg.epochs = 4;
        cfg.batch = 64;
        cfg.lr = 3e-3;
        cfg.dagger_rounds = 2;
        cfg.dagger_episodes = 30;
        cfg.dagger_steps = 40;
        cfg.eval_episodes = 100;
        cfg.eval_every = 2;
    }

    /// The simulator's settings.
    pub fn sim(&self) -> SimConfig {
        SimConfig {
            size: self.size,
            obstacles: self.obstacles,
            max_side: self.max_side,
            min_distance: self.min_distance,
            max_steps: self.max_steps,
            view: self.view,
        }
    }

    /// The network's widths `[obs_dim, hidden…, 9]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![self.sim().obs_dim()];
        s.extend_from_slice(&self.hidden.0);
        s.push(super::sim::NUM_ACTIONS);
        s
    }

    /// `behaviour cloning` or `behaviour cloning + 4 DAgger rounds`.
    pub fn method(&self) -> String {
        match self.dagger {
            false => "behaviour cloning".into(),
            true => format!("behaviour cloning + {} DAgger rounds", self.dagger_rounds),
        }
    }

    /// Checks every setting, naming the first bad flag.
    pub fn validate(&self) -> Result<()> {
        let c = Checks("decision policy train");
        self.sim().validate()?;
        c.at_least(&[
            ("demos", self.demos, 10),
            ("valid_states", self.valid_states, 1),
            ("test_states", self.test_states, 1),
            ("epochs", self.epochs, 1),
            ("batch", self.batch, 1),
            ("eval_episodes", self.eval_episodes, 1),
            ("eval_every", self.eval_every, 1),
        ])?;
        if self.demos > 10_000_000 {
            return Err(c.fail(
                "demos",
                format!("must be at most 10,000,000, got {}", self.demos),
            ));
        }
        if self.dagger {
            c.at_least(&[
                ("dagger_rounds", self.dagger_rounds, 1),
                ("dagger_episodes", self.dagger_episodes, 1),
                ("dagger_steps", self.dagger_steps, 1),
            ])?;
        }
        c.positive("lr", self.lr)?;
        if !(self.min_lr.is_finite() && (0.0..=self.lr).contains(&self.min_lr)) {
            return Err(c.fail(
                "min_lr",
                format!("must be in [0, --lr], got {}", self.min_lr),
            ));
        }
        if self.hidden.0.is_empty() {
            return Err(c.fail("hidden", "needs at least one width"));
        }
        c.widths("hidden", &self.hidden.0)?;
        for (f, v) in [
            ("demos", self.demos),
            ("valid_states", self.valid_states),
            ("test_states", self.test_states),
        ] {
            if v > MAX_STATES {
                return Err(c.fail(f, format!("must be at most {MAX_STATES}, got {v}")));
            }
        }
        c.loop_limits(self.max_nonfinite, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_counts_that_would_allocate_without_bound_are_refused() {
        PolicyRunConfig::default().validate().unwrap();
        for (flag, c) in [
            (
                "--test-states",
                PolicyRunConfig {
                    test_states: 1 << 40,
                    ..PolicyRunConfig::default()
                },
            ),
            (
                "--demos",
                PolicyRunConfig {
                    demos: 1 << 40,
                    ..PolicyRunConfig::default()
                },
            ),
        ] {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(flag) && e.contains("at most"), "{e}");
        }
    }
}
