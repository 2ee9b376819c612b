//! The one training driver every family uses.
//!
//! A family implements [`TrainTask`]: the loss of global step `s` (a pure
//! function of `s` and the parameters, so a resumed run sees the same
//! batches as an uninterrupted one), an optional validation, and the
//! metadata its checkpoints carry. [`fit`] runs the steps and owns
//! everything around them:
//!
//! * the optimizer step, optional gradient clipping, and a learning-rate
//!   scheduler stepped every step or after every validation;
//! * one policy for a non-finite loss or gradient: the step is skipped (no
//!   update), counted in the metrics (`skipped_steps`) and reported; after
//!   [`LoopSettings::max_nonfinite`] such steps in a row the run stops with
//!   an error naming the step and the learning rate;
//! * a log period (`metrics.jsonl`: the mean training loss over the period,
//!   the learning rate, the skipped count, and the validation metrics where
//!   a validation falls on the same step), a validation period with
//!   best-by-metric checkpointing and optional early stopping, and a save
//!   period for `checkpoints/last.safetensors`;
//! * resuming: [`fit`] with `resume` restores the model, the optimizer,
//!   the scheduler and its own counters from the last checkpoint, cuts the
//!   metrics log back to that step, and continues bit for bit.

use super::dir::RunDir;
use super::report::{Event, Reporter};
use ferrograd_autograd::Var;
use ferrograd_nn::checkpoint::{
    Checkpoint, TrainingState, META_OPTIMIZER, META_SCHEDULER, META_TRAINING_STATE,
};
use ferrograd_nn::optim::{clip_grad_norm, Optimizer, OptimizerState};
use ferrograd_nn::schedule::LrScheduler;
use ferrograd_nn::train::{read_metrics, MetricsLogger};
use ferrograd_nn::{Error, Module, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Checkpoint metadata key of the family name (`"cde"`, `"maml-sinusoid"`).
pub const META_FAMILY: &str = "family";
/// Checkpoint metadata key of the driver's [`RunState`].
pub const META_RUN_STATE: &str = "run_state";

/// What a model family gives the driver.
pub trait TrainTask {
    /// The module whose parameters are trained and checkpointed.
    fn module(&self) -> &dyn Module;

    /// The (scalar) training loss of global step `step` (0-based). It must
    /// depend only on `step` and the parameters (draw the batch from a seed
    /// derived from `step`), so that a resumed run repeats an uninterrupted
    /// one exactly.
    fn loss(&mut self, step: u64) -> Result<Var>;

    /// Validation metrics by name (called every
    /// [`LoopSettings::valid_every`] steps); none by default.
    fn validate(&mut self) -> Result<Vec<(String, f64)>> {
        Ok(Vec::new())
    }

    /// Metadata stored in every checkpoint (the family's name under
    /// [`META_FAMILY`], its configuration, its model's hyper-parameters).
    fn metadata(&self) -> Result<BTreeMap<String, String>>;
}

/// Whether a smaller or a larger monitored metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Goal {
    /// Smaller is better (a loss).
    Minimize,
    /// Larger is better (an accuracy).
    Maximize,
}

/// The validation metric that picks the best checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Monitor {
    /// A name returned by [`TrainTask::validate`].
    pub metric: String,
    /// Which direction is better.
    pub goal: Goal,
}

/// When the learning-rate scheduler steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedulerTiming {
    /// After every optimizer step.
    EveryStep,
    /// After every validation, given the monitored metric (for
    /// `ReduceLrOnPlateau`).
    EveryValidation,
}

/// A scheduler and when it steps.
pub struct Schedule<'a> {
    /// The scheduler (its rate is set on the optimizer after each step).
    pub scheduler: &'a mut dyn LrScheduler,
    /// When it steps.
    pub timing: SchedulerTiming,
}

/// The driver's settings (each family fills them from its configuration).
#[derive(Clone, Debug, PartialEq)]
pub struct LoopSettings {
    /// Optimizer steps of the whole run.
    pub total_steps: u64,
    /// Steps per epoch, for families that train in epochs (logged as
    /// `epoch`).
    pub steps_per_epoch: Option<u64>,
    /// Log every this many steps (and at the last step).
    pub log_every: u64,
    /// Validate every this many steps (and at the last step); 0: never.
    pub valid_every: u64,
    /// Write the last checkpoint every this many steps as well as at each
    /// validation and at the end; 0: only then.
    pub save_every: u64,
    /// The metric of the best checkpoint; `None`: no best checkpoint.
    pub monitor: Option<Monitor>,
    /// Stop after this many validations without improvement.
    pub patience: Option<u64>,
    /// Stop with an error after this many non-finite steps in a row.
    pub max_nonfinite: u64,
    /// Clip the gradient's global L2 norm to this value.
    pub clip_grad_norm: Option<f32>,
    /// Gradient accumulation: micro-batches per optimizer step (1: none).
    /// Step `s` asks the task for the losses of micro-steps `s·k .. s·k +
    /// k − 1` and back-propagates each divided by `k`, so `k` micro-batches
    /// of `b` rows give the gradient of one batch of `k·b` rows (for a
    /// loss that is a mean over rows). The logged loss is their mean.
    pub accumulate: u64,
}

impl LoopSettings {
    /// `total_steps` steps, logging every `log_every`, nothing else.
    pub fn steps(total_steps: u64, log_every: u64) -> LoopSettings {
        LoopSettings {
            total_steps,
            steps_per_epoch: None,
            log_every,
            valid_every: 0,
            save_every: 0,
            monitor: None,
            patience: None,
            max_nonfinite: 20,
            clip_grad_norm: None,
            accumulate: 1,
        }
    }

    fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(format!("training loop: {m}")));
        if self.total_steps == 0 {
            return bad("the run has no steps (total_steps 0)");
        }
        if self.log_every == 0 {
            return bad("log_every must be at least 1");
        }
        if self.max_nonfinite == 0 {
            return bad("max_nonfinite must be at least 1");
        }
        if self.monitor.is_some() && self.valid_every == 0 {
            return bad("a monitored metric needs valid_every ≥ 1");
        }
        if self.patience.is_some() && self.monitor.is_none() {
            return bad("early stopping (patience) needs a monitored metric");
        }
        if self.accumulate == 0 {
            return bad("accumulate must be at least 1");
        }
        if self.steps_per_epoch == Some(0) {
            return bad("steps_per_epoch must be at least 1");
        }
        Ok(())
    }
}

/// The driver's counters, saved in every checkpoint under
/// [`META_RUN_STATE`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Optimizer steps done (including skipped ones).
    pub step: u64,
    /// Best monitored value so far.
    pub best: Option<f64>,
    /// Step of the best value.
    pub best_step: Option<u64>,
    /// Validations since the best one.
    pub stale_validations: u64,
    /// Steps skipped for a non-finite loss or gradient, in all.
    pub skipped_steps: u64,
    /// Non-finite steps in a row, now.
    pub nonfinite_in_row: u64,
    /// Sum of the finite losses of the current log period.
    pub window_sum: f64,
    /// Finite losses in the current log period.
    pub window_count: u64,
    /// Training wall time of every process that worked on the run.
    pub train_seconds: f64,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

/// What [`fit`] reports at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct FitSummary {
    /// The final counters.
    pub state: RunState,
    /// Steps this call ran (fewer than the total when resumed).
    pub steps_this_run: u64,
}

fn nonfinite_grad(params: &[ferrograd_nn::Param]) -> bool {
    params
        .iter()
        .filter_map(|p| p.grad())
        .any(|g| g.data().iter().any(|v| !v.is_finite()))
}

/// A checkpoint of `task`'s module with the optimizer, scheduler and run
/// state, and the task's metadata.
fn checkpoint(
    task: &dyn TrainTask,
    opt: &dyn Optimizer,
    sched: Option<&Schedule>,
    state: &RunState,
    seed: u64,
) -> Result<Checkpoint> {
    let mut ckpt = Checkpoint::from_module(task.module());
    ckpt.metadata = task.metadata()?;
    let o = opt.state_dict();
    ckpt.insert_optimizer_state(&o.tensors);
    ckpt.set_json(META_OPTIMIZER, &o.meta)?;
    if let Some(s) = sched {
        ckpt.set_json(META_SCHEDULER, &s.scheduler.state_dict())?;
    }
    ckpt.set_json(META_RUN_STATE, state)?;
    ckpt.set_json(
        META_TRAINING_STATE,
        &TrainingState {
            epoch: 0,
            step: state.step,
            seed,
        },
    )?;
    Ok(ckpt)
}

/// Restores `task`, `opt` and `sched` from the checkpoint at `path` and
/// returns its run state.
fn restore(
    path: &Path,
    task: &dyn TrainTask,
    opt: &mut dyn Optimizer,
    sched: Option<&mut Schedule>,
) -> Result<RunState> {
    let bad = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let ckpt = Checkpoint::load(path)?;
    ckpt.load_into(task.module())
        .map_err(|e| bad(format!("does not fit the run's model: {e}")))?;
    let meta = ckpt
        .json::<serde_json::Value>(META_OPTIMIZER)?
        .ok_or_else(|| bad("no optimizer state: cannot resume".into()))?;
    opt.load_state_dict(&OptimizerState {
        tensors: ckpt.optimizer_state(),
        meta,
    })
    .map_err(|e| bad(format!("optimizer state: {e}")))?;
    if let Some(s) = sched {
        let st = ckpt
            .json::<serde_json::Value>(META_SCHEDULER)?
            .ok_or_else(|| bad("no scheduler state: cannot resume".into()))?;
        s.scheduler
            .load_state_dict(&st)
            .map_err(|e| bad(format!("scheduler state: {e}")))?;
        opt.set_lr(s.scheduler.lr());
    }
    ckpt.json(META_RUN_STATE)?.ok_or_else(|| {
        bad(format!(
            "metadata '{META_RUN_STATE}' is missing: cannot resume"
        ))
    })
}

/// Rewrites the metrics log keeping only records up to `step` (a resumed
/// run repeats the steps after its last checkpoint).
fn truncate_metrics(path: &Path, step: u64) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let keep_lines = read_metrics(path)?
        .iter()
        .take_while(|r| r.step <= step)
        .count();
    let mut kept = String::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(keep_lines)
    {
        kept.push_str(line);
        kept.push('\n');
    }
    ferrograd_nn::atomic::write_bytes(path, kept.as_bytes())
}

fn due(step: u64, every: u64, total: u64) -> bool {
    every > 0 && (step.is_multiple_of(every) || step == total)
}

/// Trains `task` with `opt` (and `sched`) into `run` (see the module docs);
/// `seed` is recorded in the checkpoints. With `resume`, continues from
/// `run`'s last checkpoint.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    task: &mut dyn TrainTask,
    opt: &mut dyn Optimizer,
    mut sched: Option<Schedule>,
    settings: &LoopSettings,
    run: &RunDir,
    resume: bool,
    seed: u64,
    reporter: &mut dyn Reporter,
) -> Result<FitSummary> {
    settings.check()?;
    let mut state = if resume {
        let s = restore(&run.last(), task, opt, sched.as_mut())?;
        truncate_metrics(&run.metrics(), s.step)?;
        s
    } else {
        RunState::default()
    };
    let log = if resume {
        MetricsLogger::append(run.metrics())?
    } else {
        MetricsLogger::create(run.metrics())?
    };
    let start_step = state.step;
    reporter.report(Event::Start {
        total_steps: settings.total_steps,
        start_step,
    });
    let clock = Instant::now();
    let base_seconds = state.train_seconds;
    let save = |state: &mut RunState,
                path: &Path,
                task: &dyn TrainTask,
                opt: &dyn Optimizer,
                sched: Option<&Schedule>| {
        state.train_seconds = base_seconds + clock.elapsed().as_secs_f64();
        checkpoint(task, opt, sched, state, seed)?.save(path)
    };
    while state.step < settings.total_steps && !state.stopped_early {
        let index = state.step;
        let k = settings.accumulate;
        let (mut value, mut finite) = (0.0, true);
        opt.zero_grad();
        for j in 0..k {
            let loss = task.loss(index * k + j)?;
            // Anomaly mode: stop at the op that made a NaN or an infinity
            // (one atomic load when off).
            ferrograd_autograd::anomaly::check()?;
            let v = loss.item()? as f64;
            value += v / k as f64;
            finite &= v.is_finite();
            if !finite {
                break;
            }
            let scaled = if k == 1 {
                loss
            } else {
                loss.mul_scalar(1.0 / k as f32)
            };
            scaled.backward()?;
        }
        if finite {
            finite = !nonfinite_grad(opt.params());
            if finite {
                if let Some(max) = settings.clip_grad_norm {
                    clip_grad_norm(opt.params(), max)?;
                }
                opt.step()?;
            }
        }
        opt.zero_grad();
        state.step += 1;
        let step = state.step;
        if finite {
            state.nonfinite_in_row = 0;
            state.window_sum += value;
            state.window_count += 1;
        } else {
            state.skipped_steps += 1;
            state.nonfinite_in_row += 1;
            let what = if value.is_finite() {
                "a gradient".to_string()
            } else {
                format!("the loss ({value})")
            };
            reporter.report(Event::Warning(format!(
                "step {step}: {what} is not finite; step skipped ({} skipped so far)",
                state.skipped_steps
            )));
            if state.nonfinite_in_row >= settings.max_nonfinite {
                return Err(Error::Config(format!(
                    "stopping at step {step}: {} steps in a row had a non-finite loss or \
                     gradient (learning rate {}); lower the learning rate or check the data",
                    state.nonfinite_in_row,
                    opt.lr()
                )));
            }
        }
        if let Some(s) = sched
            .as_mut()
            .filter(|s| s.timing == SchedulerTiming::EveryStep)
        {
            let lr = s.scheduler.step(None)?;
            opt.set_lr(lr);
        }
        reporter.report(Event::Step {
            step,
            loss: if finite { value } else { f64::NAN },
        });
        let mut metrics: Vec<(String, f64)> = Vec::new();
        if due(step, settings.log_every, settings.total_steps) {
            let mean = if state.window_count > 0 {
                state.window_sum / state.window_count as f64
            } else {
                f64::NAN
            };
            if let Some(spe) = settings.steps_per_epoch {
                metrics.push(("epoch".into(), (step as f64 / spe as f64).ceil()));
            }
            metrics.push(("train_loss".into(), mean));
            metrics.push(("lr".into(), opt.lr()));
            metrics.push(("skipped_steps".into(), state.skipped_steps as f64));
            state.window_sum = 0.0;
            state.window_count = 0;
        }
        let validated = due(step, settings.valid_every, settings.total_steps);
        let mut improved = false;
        if validated {
            let values = task.validate()?;
            if let Some(m) = &settings.monitor {
                let v = values
                    .iter()
                    .find(|(n, _)| *n == m.metric)
                    .map(|(_, v)| *v)
                    .ok_or_else(|| {
                        Error::Config(format!(
                            "training loop: the monitored metric '{}' is not among the \
                             validation metrics {:?}",
                            m.metric,
                            values.iter().map(|(n, _)| n).collect::<Vec<_>>()
                        ))
                    })?;
                improved = v.is_finite()
                    && match (state.best, m.goal) {
                        (None, _) => true,
                        (Some(b), Goal::Minimize) => v < b,
                        (Some(b), Goal::Maximize) => v > b,
                    };
                if improved {
                    state.best = Some(v);
                    state.best_step = Some(step);
                    state.stale_validations = 0;
                } else {
                    state.stale_validations += 1;
                }
                if let Some(s) = sched
                    .as_mut()
                    .filter(|s| s.timing == SchedulerTiming::EveryValidation)
                {
                    let lr = s.scheduler.step(Some(v))?;
                    opt.set_lr(lr);
                }
                if settings
                    .patience
                    .is_some_and(|p| state.stale_validations >= p)
                {
                    state.stopped_early = true;
                    reporter.report(Event::Warning(format!(
                        "early stopping at step {step}: {} has not improved for {} validations \
                         (best {:.6} at step {})",
                        m.metric,
                        state.stale_validations,
                        state.best.unwrap_or(f64::NAN),
                        state.best_step.unwrap_or(0)
                    )));
                }
            }
            if metrics.is_empty() {
                if let Some(spe) = settings.steps_per_epoch {
                    metrics.push(("epoch".into(), (step as f64 / spe as f64).ceil()));
                }
            }
            metrics.extend(values);
        }
        if !metrics.is_empty() {
            let pairs: Vec<(&str, f64)> = metrics.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            log.log_values(step, &pairs)?;
            reporter.report(Event::Log { step, metrics });
        }
        if improved {
            save(&mut state, &run.best(), task, opt, sched.as_ref())?;
        }
        let last_due = validated
            || due(step, settings.save_every, settings.total_steps)
            || step == settings.total_steps
            || state.stopped_early;
        if last_due {
            save(&mut state, &run.last(), task, opt, sched.as_ref())?;
        }
    }
    state.train_seconds = base_seconds + clock.elapsed().as_secs_f64();
    if let Some(m) = &settings.monitor {
        if state.best.is_none() {
            return Err(Error::Config(format!(
                "the validation metric '{}' was never finite in {} steps: no best checkpoint \
                 was written; lower the learning rate or check the data",
                m.metric, state.step
            )));
        }
    }
    reporter.report(Event::Finished {
        steps: state.step,
        seconds: clock.elapsed().as_secs_f64(),
    });
    Ok(FitSummary {
        steps_this_run: state.step - start_step,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Collect, OpenMode};
    use ferrograd_nn::optim::{Sgd, SgdConfig};
    use ferrograd_nn::schedule::{PlateauConfig, ReduceLrOnPlateau, StepLr};
    use ferrograd_nn::{Linear, Param};
    use ferrograd_tensor::Tensor;

    /// Fits w·x to 2x; the loss of step `s` is NaN where `poison(s)`, and
    /// the validation metrics are scripted.
    struct Toy {
        layer: Linear,
        poison: fn(u64) -> bool,
        valid: Vec<f64>,
        validations: usize,
    }

    impl TrainTask for Toy {
        fn module(&self) -> &dyn Module {
            &self.layer
        }

        fn loss(&mut self, step: u64) -> Result<Var> {
            let x = Var::constant(Tensor::from_vec(vec![1.0, 2.0], &[2, 1])?);
            let y = Var::constant(Tensor::from_vec(vec![2.0, 4.0], &[2, 1])?);
            let loss = ferrograd_nn::Forward::forward(&self.layer, &x)?.mse(&y)?;
            Ok(if (self.poison)(step) {
                loss.mul_scalar(f32::NAN)
            } else {
                loss
            })
        }

        fn validate(&mut self) -> Result<Vec<(String, f64)>> {
            let v = self.valid.get(self.validations).copied().unwrap_or(1.0);
            self.validations += 1;
            Ok(vec![("score".into(), v)])
        }

        fn metadata(&self) -> Result<BTreeMap<String, String>> {
            Ok(BTreeMap::new())
        }
    }

    fn toy(poison: fn(u64) -> bool, valid: Vec<f64>) -> (Toy, Sgd) {
        let layer = Linear::new(1, 1, 3);
        let params: Vec<Param> = layer.params();
        let opt = Sgd::new(
            params,
            SgdConfig {
                lr: 0.05,
                ..SgdConfig::default()
            },
        )
        .unwrap();
        (
            Toy {
                layer,
                poison,
                valid,
                validations: 0,
            },
            opt,
        )
    }

    /// Two micro-batches of one row each, accumulated, take the same step
    /// as the two rows in one batch.
    #[test]
    fn accumulated_micro_batches_equal_one_batch() {
        struct Rows {
            layer: Linear,
            per_loss: usize,
        }
        impl TrainTask for Rows {
            fn module(&self) -> &dyn Module {
                &self.layer
            }
            fn loss(&mut self, step: u64) -> Result<Var> {
                let all = [(1.0f32, 2.0f32), (3.0, 5.0)];
                let rows: Vec<(f32, f32)> = if self.per_loss == 2 {
                    all.to_vec()
                } else {
                    vec![all[(step % 2) as usize]]
                };
                let n = rows.len();
                let x = Var::constant(Tensor::from_vec(
                    rows.iter().map(|r| r.0).collect(),
                    &[n, 1],
                )?);
                let y = Var::constant(Tensor::from_vec(
                    rows.iter().map(|r| r.1).collect(),
                    &[n, 1],
                )?);
                Ok(ferrograd_nn::Forward::forward(&self.layer, &x)?.mse(&y)?)
            }
            fn metadata(&self) -> Result<BTreeMap<String, String>> {
                Ok(BTreeMap::new())
            }
        }
        let mut weights = Vec::new();
        for (per_loss, accumulate) in [(2, 1), (1, 2)] {
            let (toy_task, mut opt) = toy(|_| false, vec![]);
            let mut task = Rows {
                layer: toy_task.layer,
                per_loss,
            };
            let settings = LoopSettings {
                accumulate,
                ..LoopSettings::steps(3, 1)
            };
            let run = run_dir(&format!("accumulate-{accumulate}"));
            let s = fit(
                &mut task,
                &mut opt,
                None,
                &settings,
                &run,
                false,
                0,
                &mut Collect::default(),
            )
            .unwrap();
            assert_eq!(s.state.step, 3);
            weights.push(task.layer.state_dict()["weight"].data().to_vec());
            std::fs::remove_dir_all(run.root()).unwrap();
        }
        assert!((weights[0][0] - weights[1][0]).abs() < 1e-6, "{weights:?}");
        let bad = LoopSettings {
            accumulate: 0,
            ..LoopSettings::steps(3, 1)
        };
        assert!(bad.check().is_err());
    }

    fn run_dir(name: &str) -> RunDir {
        let p =
            std::env::temp_dir().join(format!("ferrograd-driver-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        RunDir::open(p, OpenMode::Fresh).unwrap()
    }

    fn monitored(total: u64, goal: Goal) -> LoopSettings {
        LoopSettings {
            valid_every: 2,
            monitor: Some(Monitor {
                metric: "score".into(),
                goal,
            }),
            ..LoopSettings::steps(total, 2)
        }
    }

    #[test]
    fn non_finite_steps_are_skipped_counted_and_stop_the_run_when_in_a_row() {
        let run = run_dir("nonfinite");
        let (mut t, mut opt) = toy(|s| s == 3, vec![]);
        let before = t.layer.weight.value().data()[0];
        let mut events = Collect::default();
        let s = fit(
            &mut t,
            &mut opt,
            None,
            &LoopSettings::steps(6, 2),
            &run,
            false,
            1,
            &mut events,
        )
        .unwrap();
        assert_eq!(s.state.skipped_steps, 1);
        assert_ne!(t.layer.weight.value().data()[0], before);
        assert!(events
            .0
            .iter()
            .any(|e| matches!(e, Event::Warning(w) if w.contains("step 4"))));
        let log = read_metrics(run.metrics()).unwrap();
        assert_eq!(log.iter().map(|r| r.step).collect::<Vec<_>>(), [2, 4, 6]);
        assert_eq!(log[1].metrics["skipped_steps"], Some(1.0));
        // A run whose every step is NaN stops after max_nonfinite in a row.
        let run = run_dir("allnan");
        let (mut t, mut opt) = toy(|_| true, vec![]);
        let settings = LoopSettings {
            max_nonfinite: 3,
            ..LoopSettings::steps(10, 2)
        };
        let e = fit(
            &mut t,
            &mut opt,
            None,
            &settings,
            &run,
            false,
            1,
            &mut Collect::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("step 3") && e.contains("3 steps in a row"),
            "{e}"
        );
    }

    #[test]
    fn the_best_checkpoint_follows_the_goal_and_patience_stops_early() {
        let run = run_dir("best");
        let (mut t, mut opt) = toy(|_| false, vec![0.5, 0.9, 0.7, 0.6, 0.8]);
        let mut settings = monitored(20, Goal::Maximize);
        settings.patience = Some(3);
        let mut events = Collect::default();
        let s = fit(
            &mut t,
            &mut opt,
            None,
            &settings,
            &run,
            false,
            1,
            &mut events,
        )
        .unwrap();
        assert_eq!((s.state.best, s.state.best_step), (Some(0.9), Some(4)));
        assert!(s.state.stopped_early && s.state.step == 10, "{:?}", s.state);
        let best: RunState = Checkpoint::load(run.best())
            .unwrap()
            .json(META_RUN_STATE)
            .unwrap()
            .unwrap();
        assert_eq!(best.step, 4);
        assert!(events
            .0
            .iter()
            .any(|e| matches!(e, Event::Warning(w) if w.contains("early stopping"))));
        // Minimising picks the smallest instead.
        let run = run_dir("min");
        let (mut t, mut opt) = toy(|_| false, vec![0.5, 0.9, 0.3, 0.6]);
        let s = fit(
            &mut t,
            &mut opt,
            None,
            &monitored(8, Goal::Minimize),
            &run,
            false,
            1,
            &mut Collect::default(),
        )
        .unwrap();
        assert_eq!(s.state.best_step, Some(6));
    }

    #[test]
    fn schedulers_step_per_step_or_per_validation_and_resume_with_their_state() {
        let run = run_dir("sched");
        let (mut t, mut opt) = toy(|_| false, vec![]);
        let mut step_lr = StepLr::new(0.05, 2, 0.5).unwrap();
        let sched = Schedule {
            scheduler: &mut step_lr,
            timing: SchedulerTiming::EveryStep,
        };
        fit(
            &mut t,
            &mut opt,
            Some(sched),
            &LoopSettings::steps(4, 1),
            &run,
            false,
            1,
            &mut Collect::default(),
        )
        .unwrap();
        let lrs: Vec<f64> = read_metrics(run.metrics())
            .unwrap()
            .iter()
            .map(|r| r.metrics["lr"].unwrap())
            .collect();
        assert_eq!(lrs, [0.05, 0.025, 0.025, 0.0125]);
        // Resume to 6 steps: the scheduler continues from its saved state.
        let mut step_lr = StepLr::new(0.05, 2, 0.5).unwrap();
        let (mut t2, mut opt2) = toy(|_| false, vec![]);
        let sched = Schedule {
            scheduler: &mut step_lr,
            timing: SchedulerTiming::EveryStep,
        };
        let s = fit(
            &mut t2,
            &mut opt2,
            Some(sched),
            &LoopSettings::steps(6, 1),
            &run,
            true,
            1,
            &mut Collect::default(),
        )
        .unwrap();
        assert_eq!(s.steps_this_run, 2);
        let lrs: Vec<f64> = read_metrics(run.metrics())
            .unwrap()
            .iter()
            .map(|r| r.metrics["lr"].unwrap())
            .collect();
        assert_eq!(lrs, [0.05, 0.025, 0.025, 0.0125, 0.0125, 0.00625]);
        // A plateau scheduler hears the monitored metric.
        let run = run_dir("plateau");
        let (mut t, mut opt) = toy(|_| false, vec![1.0, 1.0, 1.0, 1.0]);
        let mut plateau = ReduceLrOnPlateau::new(
            0.05,
            PlateauConfig {
                patience: 1,
                ..PlateauConfig::default()
            },
        )
        .unwrap();
        let sched = Schedule {
            scheduler: &mut plateau,
            timing: SchedulerTiming::EveryValidation,
        };
        fit(
            &mut t,
            &mut opt,
            Some(sched),
            &monitored(8, Goal::Minimize),
            &run,
            false,
            1,
            &mut Collect::default(),
        )
        .unwrap();
        assert!(opt.lr() < 0.05, "lr {}", opt.lr());
    }

    #[test]
    fn bad_settings_are_refused() {
        let run = run_dir("bad");
        let (mut t, mut opt) = toy(|_| false, vec![]);
        for (s, needle) in [
            (LoopSettings::steps(0, 1), "no steps"),
            (LoopSettings::steps(5, 0), "log_every"),
            (
                LoopSettings {
                    patience: Some(2),
                    ..LoopSettings::steps(5, 1)
                },
                "patience",
            ),
        ] {
            let e = fit(
                &mut t,
                &mut opt,
                None,
                &s,
                &run,
                false,
                1,
                &mut Collect::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
