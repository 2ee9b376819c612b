//! What the MAML families (sinusoid, classification, a user's tasks) share
//! on the run harness: Adam on the meta-parameters, the loop settings, a
//! validation metric that picks the best checkpoint, and meta-batch `s`
//! drawn from a seed derived from `s` (so a resumed run sees the same tasks).

use super::learner::Maml;
use crate::run::{fit, FitSummary, Goal, LoopSettings, Monitor, Reporter, RunDir, TrainTask};
use ferrograd_autograd::Var;
use ferrograd_nn::checkpoint::{Checkpoint, META_CONFIG};
use ferrograd_nn::optim::{Adam, AdamConfig};
use ferrograd_nn::train::{derive_seed, derive_seed_index};
use ferrograd_nn::{Forward, Module, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use std::collections::BTreeMap;

/// The loop settings of a meta-training run.
#[derive(Clone, Debug, PartialEq)]
pub struct MetaLoop {
    /// Meta-iterations (Adam steps).
    pub iterations: usize,
    /// Adam's learning rate.
    pub meta_lr: f64,
    /// Log every this many iterations.
    pub log_every: usize,
    /// Validate every this many iterations.
    pub valid_every: usize,
    /// Stop after this many validations without improvement.
    pub patience: Option<u64>,
    /// Stop after this many non-finite meta-losses in a row.
    pub max_nonfinite: u64,
    /// The run's base seed.
    pub seed: u64,
}

/// The generator of meta-batch `step` of a run with base seed `seed`.
pub fn step_rng(seed: u64, step: u64) -> StdRng {
    StdRng::seed_from_u64(derive_seed_index(
        derive_seed(seed, "meta-train tasks"),
        step,
    ))
}

/// The metadata of a MAML checkpoint: its family and configuration.
pub fn metadata<C: Serialize>(family: &str, cfg: &C) -> Result<BTreeMap<String, String>> {
    let mut c = Checkpoint::new();
    c.set_json(crate::run::META_FAMILY, family)?;
    c.set_json(META_CONFIG, cfg)?;
    Ok(c.metadata)
}

struct MetaTask<'a, L, V> {
    module: &'a dyn Module,
    loss: L,
    validate: V,
    metadata: BTreeMap<String, String>,
}

impl<L, V> TrainTask for MetaTask<'_, L, V>
where
    L: FnMut(u64) -> Result<Var>,
    V: FnMut() -> Result<Vec<(String, f64)>>,
{
    fn module(&self) -> &dyn Module {
        self.module
    }

    fn loss(&mut self, step: u64) -> Result<Var> {
        (self.loss)(step)
    }

    fn validate(&mut self) -> Result<Vec<(String, f64)>> {
        (self.validate)()
    }

    fn metadata(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.metadata.clone())
    }
}

/// Meta-trains `m` (checkpointing `module`, its parameters) with Adam:
/// `loss(step)` is the meta-loss of iteration `step`, `validate` returns
/// the metric `monitor` names. Continues the run in `run` with `resume`.
#[allow(clippy::too_many_arguments)]
pub fn meta_fit<M: Forward>(
    m: &Maml<M>,
    module: &dyn Module,
    settings: &MetaLoop,
    monitor: Monitor,
    metadata: BTreeMap<String, String>,
    loss: impl FnMut(u64) -> Result<Var>,
    validate: impl FnMut() -> Result<Vec<(String, f64)>>,
    run: &RunDir,
    resume: bool,
    reporter: &mut dyn Reporter,
) -> Result<FitSummary> {
    let mut opt = Adam::new(
        m.meta_params(),
        AdamConfig {
            lr: settings.meta_lr,
            ..AdamConfig::default()
        },
    )?;
    let loop_settings = LoopSettings {
        valid_every: settings.valid_every as u64,
        monitor: Some(monitor),
        patience: settings.patience,
        max_nonfinite: settings.max_nonfinite,
        ..LoopSettings::steps(settings.iterations as u64, settings.log_every as u64)
    };
    let mut task = MetaTask {
        module,
        loss,
        validate,
        metadata,
    };
    fit(
        &mut task,
        &mut opt,
        None,
        &loop_settings,
        run,
        resume,
        settings.seed,
        reporter,
    )
}

/// A monitor of `metric` (smaller is better unless `maximize`).
pub fn monitor(metric: &str, maximize: bool) -> Monitor {
    Monitor {
        metric: metric.into(),
        goal: if maximize {
            Goal::Maximize
        } else {
            Goal::Minimize
        },
    }
}
