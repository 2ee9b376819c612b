//! The policy network (an MLP from the observation to the nine action
//! logits) and [`PolicyModel`], a trained policy loaded from its
//! checkpoint with the arena it was trained for.

use super::config::PolicyRunConfig;
use super::plots::{self, EpisodePanel, PathSpec};
use super::rollout::{rollout, Controller, Expert, Trajectory};
use super::sim::{Action, Cell, Nav, Scenario, SimConfig, World};
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::checkpoint::Checkpoint;
use ferrograd_nn::{Activation, Collector, Error, Forward, Mlp, Module, Result};
use ferrograd_tensor::Tensor;
use std::path::Path;

/// A feed-forward policy: observation → ReLU MLP → action logits.
pub struct PolicyNet {
    mlp: Mlp,
}

impl PolicyNet {
    /// A network of widths `sizes` (`[obs_dim, hidden…, 9]`), seeded.
    pub fn new(sizes: &[usize], seed: u64) -> Result<PolicyNet> {
        Ok(PolicyNet {
            mlp: Mlp::new(sizes, Activation::Relu, seed)?,
        })
    }

    /// The input width.
    pub fn obs_dim(&self) -> usize {
        self.mlp.sizes()[0]
    }

    /// Logits `[N, 9]` of observations `[N, obs_dim]`.
    pub fn logits(&self, obs: &Var) -> Result<Var> {
        self.mlp.forward(obs)
    }

    /// The most likely action class of each row of `obs` (row-major,
    /// `obs_dim` wide), without recording a graph.
    pub fn predict(&self, obs: &[f32]) -> Result<Vec<usize>> {
        let d = self.obs_dim();
        if !obs.len().is_multiple_of(d) {
            return Err(Error::Config(format!(
                "policy: {} observation values are not rows of width {d}",
                obs.len()
            )));
        }
        crate::guard::finite_input("policy predict", "observations", obs, d)?;
        let n = obs.len() / d;
        if n == 0 {
            return Ok(Vec::new());
        }
        no_grad(|| {
            let x = Var::constant(Tensor::from_vec(obs.to_vec(), &[n, d])?);
            let l = self.logits(&x)?;
            Ok(l.value().argmax(1, false)?.data().to_vec())
        })
    }
}

impl Module for PolicyNet {
    fn visit(&self, c: &mut Collector) {
        c.child("net", &self.mlp);
    }
}

impl Controller for PolicyNet {
    fn act(&self, navs: &[&Nav]) -> Result<Vec<Action>> {
        let mut obs = Vec::with_capacity(navs.len() * self.obs_dim());
        for n in navs {
            obs.extend(n.observation());
        }
        Ok(self
            .predict(&obs)?
            .into_iter()
            .map(|i| Action::from_index(i).unwrap_or(Action::Stay))
            .collect())
    }
}

/// A trained policy with the configuration of its run.
pub struct PolicyModel {
    /// The run's configuration (the arena, the network).
    pub config: PolicyRunConfig,
    /// The network.
    pub net: PolicyNet,
}

impl PolicyModel {
    /// Loads a `decision policy train` checkpoint; a file of another
    /// family, or tensors that do not fit the recorded network, is an
    /// error naming the file.
    pub fn load(path: impl AsRef<Path>) -> Result<PolicyModel> {
        let path = path.as_ref();
        let bad = |problem: String| Error::Format {
            path: path.to_path_buf(),
            problem,
        };
        let (ckpt, config): (Checkpoint, PolicyRunConfig) =
            crate::run::family_checkpoint(path, super::FAMILY)?;
        config
            .validate()
            .map_err(|e| bad(format!("bad configuration: {e}")))?;
        let claimed = crate::run::sizes::dense(&config.sizes());
        crate::run::check_claimed_size(claimed, &ckpt, path)?;
        let net = PolicyNet::new(&config.sizes(), 0)?;
        ckpt.load_into(&net)
            .map_err(|e| bad(format!("the tensors do not fit the recorded network: {e}")))?;
        Ok(PolicyModel { config, net })
    }

    /// The simulator settings the policy was trained for.
    pub fn sim(&self) -> SimConfig {
        self.config.sim()
    }

    /// The episode of `seed` in the policy's arena.
    pub fn scenario(&self, seed: u64) -> Result<Scenario> {
        Scenario::generate(&self.sim(), seed)
    }

    /// An episode in `world` from `start` to `goal` (an error if either is
    /// blocked, outside, or cut off, or the arena's size is not the
    /// policy's).
    pub fn scenario_in(&self, world: World, start: Cell, goal: Cell) -> Result<Scenario> {
        if world.size() != self.config.size {
            return Err(Error::Config(format!(
                "the policy was trained on a {0}×{0} arena, not {1}×{1}",
                self.config.size,
                world.size()
            )));
        }
        Scenario::new(world, start, goal)
    }

    /// The action the policy takes in `nav`'s current state.
    pub fn act(&self, nav: &Nav) -> Result<Action> {
        Ok(self.net.act(&[nav])?[0])
    }

    /// Drives `scenario` to its end (goal, collision or step limit).
    pub fn run_episode(&self, scenario: Scenario) -> Result<Trajectory> {
        Ok(no_grad(|| rollout(&self.sim(), vec![scenario], &self.net))?.remove(0))
    }

    /// The expert's (shortest) drive through `scenario`, for comparison.
    pub fn expert_episode(&self, scenario: Scenario) -> Result<Trajectory> {
        Ok(rollout(&self.sim(), vec![scenario], &Expert)?.remove(0))
    }

    /// Draws `scenario` with the policy's `learned` path (red) and, if
    /// given, the expert's (blue) to the PNG `path`.
    pub fn draw_episode(
        &self,
        path: &Path,
        title: &str,
        scenario: &Scenario,
        learned: &Trajectory,
        expert: Option<&Trajectory>,
    ) -> Result<()> {
        let mut paths = Vec::new();
        if let Some(e) = expert {
            paths.push(PathSpec {
                label: "expert".into(),
                colour: plots::EXPERT,
                trajectory: e.clone(),
            });
        }
        paths.push(PathSpec {
            label: "policy".into(),
            colour: plots::BC,
            trajectory: learned.clone(),
        });
        let panel = EpisodePanel {
            caption: plots::outcome_caption(&paths),
            scenario: scenario.clone(),
            paths,
        };
        plots::trajectories(path, title, &[panel], 1)
    }
}
