//! Training and evaluation of a regression surrogate on the shared run
//! harness ([`crate::run`]): Adam on the objective of [`super::loss`],
//! `ReduceLROnPlateau` on the validation loss down to `min_lr`, a
//! validation every `log_period` epochs (best checkpoint by `valid_loss`,
//! early stopping with `patience`), `checkpoints/last.safetensors` every
//! `save_period` epochs, and resume.
//!
//! `metrics.jsonl` gets, every `log_period` epochs: `train_loss` (the
//! weighted total), the unweighted parts `train_recon`, `train_l1`,
//! `train_l2`, `train_grad` (means over the period's steps), `valid_loss`,
//! `valid_recon`, `valid_grad`, `valid_rmse` (user units), `lr`, `epoch`.
//! With `train_split` 1.0 the validation rows are the training rows (the
//! log says so). `eval.json` holds an [`EvalReport`] of the best
//! checkpoint.

use super::config::RegressConfig;
use super::data::{self, Hdf5Reading, Samples};
use super::loss::Objective;
use super::model::{self, NetSpec, RegressionNet};
use crate::run::{
    fit, Event, FitSummary, Goal, LoopSettings, Monitor, Reporter, RunDir, Schedule,
    SchedulerTiming, TrainTask,
};
use ferrograd_autograd::Var;
use ferrograd_nn::schedule::{PlateauConfig, ReduceLrOnPlateau};
use ferrograd_nn::train::derive_seed;
use ferrograd_nn::{
    Adam, AdamConfig, DataLoader, Dataset as _, Module, Normalizer, Result, TensorDataset,
};
use ferrograd_tensor::Tensor;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The training and validation rows of a run, in user units.
pub struct SplitData {
    /// Training rows.
    pub train: Samples,
    /// Validation rows (the training rows when `train_split` is 1).
    pub valid: Samples,
    /// Whether validation uses the training rows.
    pub valid_is_train: bool,
}

/// Splits `all` by `cfg.train_split` (seeded); 1.0 keeps every row for both.
pub fn split(cfg: &RegressConfig, all: &Samples) -> Result<SplitData> {
    let n = all.len();
    if cfg.train_split >= 1.0 || n < 2 {
        return Ok(SplitData {
            train: all.clone(),
            valid: all.clone(),
            valid_is_train: true,
        });
    }
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(derive_seed(cfg.random_seed, "split"));
    idx.shuffle(&mut rng);
    let k = ((n as f64 * cfg.train_split).round() as usize).clamp(1, n - 1);
    Ok(SplitData {
        train: all.rows(&idx[..k])?,
        valid: all.rows(&idx[k..])?,
        valid_is_train: false,
    })
}

impl RegressConfig {
    /// The objective of this configuration.
    pub fn objective(&self) -> Objective {
        Objective {
            recon: self.recon_type,
            delta: self.recon_delta as f32,
            recon_weight: self.recon_weight as f32,
            l1_weight: self.l1_weight as f32,
            l2_weight: self.l2_weight as f32,
            grad_weight: self.grad_weight as f32,
        }
    }

    /// The network of this configuration for `inputs` and `outputs`.
    pub fn net_spec(&self, inputs: usize, outputs: usize) -> NetSpec {
        NetSpec {
            inputs,
            outputs,
            layers: self.layers.0.clone(),
            residual: self.residual,
            activation: self.activation,
        }
    }
}

/// The evaluation of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The data.
    pub data: String,
    /// Rows trained on.
    pub train_rows: usize,
    /// Rows validated on.
    pub valid_rows: usize,
    /// Whether the validation rows are the training rows.
    pub valid_is_train: bool,
    /// Unsuccessful rollouts left out.
    pub skipped_failed: usize,
    /// RMSE on the validation rows, user units (outliers included).
    pub valid_rmse: f64,
    /// RMSE against the noiseless truth on a 50 × 50 grid over the input
    /// box (built-in synthetic data only).
    pub truth_rmse: Option<f64>,
    /// Mean over the validation rows of ‖∂ŷ/∂x‖ in normalised units (the
    /// norm the gradient penalty acts on).
    pub mean_grad_norm: f64,
    /// Training step of the evaluated checkpoint.
    pub step: Option<u64>,
    /// Training wall time, seconds.
    pub train_seconds: Option<f64>,
}

/// sqrt(mean((ŷ − y)²)) of `model` on `x`, `y` (user units).
pub fn rmse(model: &RegressionNet, x: &Tensor, y: &Tensor) -> Result<f64> {
    let p = model.predict(x)?;
    let se: f64 = p
        .data()
        .iter()
        .zip(y.data())
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum();
    Ok((se / y.numel().max(1) as f64).sqrt())
}

/// Mean over the rows of `x` (user units) of ‖∂ŷ/∂x‖ in normalised units.
pub fn mean_grad_norm(model: &RegressionNet, x: &Tensor) -> Result<f64> {
    let xn = model.x_norm()?.normalize(x)?;
    let n = xn.dims()[0];
    let k = model.spec().outputs;
    let mut total = 0f64;
    for start in (0..n).step_by(8192) {
        let len = 8192.min(n - start);
        let xv = Var::param(xn.narrow(0, start, len)?);
        let out = model.forward_normalised(&xv)?;
        let mut sq = vec![0f64; len];
        for j in 0..k {
            let col = out.narrow(1, j, 1)?.sum_all();
            let opts = ferrograd_autograd::GradOptions::default().allow_unused();
            let g = ferrograd_autograd::grad(&[&col], &[&xv], None, opts)?.remove(0);
            let d = g.dims()[1];
            for (r, row) in g.value().data().chunks_exact(d).enumerate() {
                sq[r] += row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
            }
        }
        total += sq.iter().map(|s| s.sqrt()).sum::<f64>();
    }
    Ok(total / n.max(1) as f64)
}

/// Evaluates `model` of a run with `cfg` on `split`.
pub fn evaluate(
    cfg: &RegressConfig,
    model: &RegressionNet,
    split: &SplitData,
) -> Result<EvalReport> {
    let truth_rmse = if data::truth_known(cfg) {
        let (x, y) = data::truth_grid(&cfg.in_lbl.0, 50)?;
        Some(rmse(model, &x, &y)?)
    } else {
        None
    };
    Ok(EvalReport {
        data: cfg.data_name(),
        train_rows: split.train.len(),
        valid_rows: split.valid.len(),
        valid_is_train: split.valid_is_train,
        skipped_failed: split.train.skipped_failed,
        valid_rmse: rmse(model, &split.valid.x, &split.valid.y)?,
        truth_rmse,
        mean_grad_norm: mean_grad_norm(model, &split.valid.x)?,
        step: None,
        train_seconds: None,
    })
}

/// Sums of the objective's parts over a log period.
#[derive(Default)]
struct PartSums {
    recon: f64,
    l1: f64,
    l2: f64,
    grad: f64,
    count: u64,
}

struct RegressTask<'a> {
    model: &'a RegressionNet,
    cfg: &'a RegressConfig,
    objective: Objective,
    loader: DataLoader<TensorDataset>,
    valid_xn: Var,
    valid_yn: Var,
    valid: &'a Samples,
    steps_per_epoch: u64,
    order: Option<(u64, Vec<usize>)>,
    sums: PartSums,
}

impl TrainTask for RegressTask<'_> {
    fn module(&self) -> &dyn Module {
        self.model
    }

    fn loss(&mut self, step: u64) -> Result<Var> {
        let (epoch, index) = (step / self.steps_per_epoch, step % self.steps_per_epoch);
        let b = self.loader.batch_size();
        let n = self.loader.dataset().len();
        let batch = if self.steps_per_epoch == 1 && b >= n {
            let all: Vec<usize> = (0..n).collect();
            self.loader.dataset().get_batch(&all)?
        } else {
            if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
                self.order = Some((epoch, self.loader.order(epoch)));
            }
            let order = &self.order.as_ref().expect("set above").1;
            let start = index as usize * b;
            self.loader
                .dataset()
                .get_batch(&order[start..(start + b).min(order.len())])?
        };
        let parts = self.objective.evaluate(
            self.model,
            &Var::constant(batch[0].clone()),
            &Var::constant(batch[1].clone()),
        )?;
        if parts.total.item()?.is_finite() {
            let s = &mut self.sums;
            s.recon += parts.recon;
            s.l1 += parts.l1;
            s.l2 += parts.l2;
            s.grad += parts.grad;
            s.count += 1;
        }
        Ok(parts.total)
    }

    fn validate(&mut self) -> Result<Vec<(String, f64)>> {
        let s = std::mem::take(&mut self.sums);
        let c = s.count.max(1) as f64;
        let v = self
            .objective
            .evaluate(self.model, &self.valid_xn, &self.valid_yn)?;
        let total = v.total.item()? as f64;
        drop(v.total);
        Ok(vec![
            ("train_recon".into(), s.recon / c),
            ("train_l1".into(), s.l1 / c),
            ("train_l2".into(), s.l2 / c),
            ("train_grad".into(), s.grad / c),
            ("valid_loss".into(), total),
            ("valid_recon".into(), v.recon),
            ("valid_grad".into(), v.grad),
            (
                "valid_rmse".into(),
                rmse(self.model, &self.valid.x, &self.valid.y)?,
            ),
        ])
    }

    fn metadata(&self) -> Result<BTreeMap<String, String>> {
        model::metadata(self.cfg, self.model)
    }
}

/// What a finished run reports.
pub struct TrainSummary {
    /// The evaluation of the best checkpoint (also in `eval.json`).
    pub eval: EvalReport,
    /// The driver's summary.
    pub fit: FitSummary,
}

/// Trains with `cfg` into `run` (or continues it with `resume`), then
/// evaluates the best checkpoint and draws the plots unless `no_plot`.
/// HDF5 files are read in a forked child process
/// ([`Hdf5Reading::from_env`]).
pub fn train(
    cfg: &RegressConfig,
    run: &RunDir,
    resume: bool,
    no_plot: bool,
    reporter: &mut dyn Reporter,
) -> Result<TrainSummary> {
    train_with(
        cfg,
        run,
        resume,
        no_plot,
        reporter,
        &Hdf5Reading::from_env()?,
    )
}

/// [`train`], reading HDF5 files as `hdf5` says.
pub fn train_with(
    cfg: &RegressConfig,
    run: &RunDir,
    resume: bool,
    no_plot: bool,
    reporter: &mut dyn Reporter,
    hdf5: &Hdf5Reading,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let all = data::load_with(cfg, hdf5)?;
    let split = split(cfg, &all)?;
    if split.valid_is_train {
        reporter.report(Event::Phase(format!(
            "train_split {}: training and validating on all {} rows (the validation loss is \
             the training fit, not a held-out score)",
            cfg.train_split,
            split.train.len()
        )));
    } else {
        reporter.report(Event::Phase(format!(
            "training on {} rows, validating on {} held-out rows",
            split.train.len(),
            split.valid.len()
        )));
    }
    if all.skipped_failed > 0 {
        reporter.report(Event::Phase(format!(
            "{} unsuccessful rollouts skipped (--include-failed uses them)",
            all.skipped_failed
        )));
    }
    if !resume {
        run.write_json(crate::run::dir::CONFIG_FILE, cfg)?;
    }
    let x_norm = Normalizer::fit(&split.train.x)?;
    let y_norm = Normalizer::fit(&split.train.y)?;
    let spec = cfg.net_spec(all.x.dims()[1], all.y.dims()[1]);
    let net = RegressionNet::new(
        &spec,
        derive_seed(cfg.random_seed, "init"),
        &x_norm,
        &y_norm,
    )?;
    let mut opt = Adam::new(
        net.params(),
        AdamConfig {
            lr: cfg.lr,
            ..AdamConfig::default()
        },
    )?;
    let mut plateau = ReduceLrOnPlateau::new(
        cfg.lr,
        PlateauConfig {
            patience: cfg.plateau_patience,
            factor: cfg.plateau_factor,
            min_lr: cfg.min_lr,
            ..PlateauConfig::default()
        },
    )?;
    let loader = DataLoader::new(
        TensorDataset::new(vec![
            x_norm.normalize(&split.train.x)?,
            y_norm.normalize(&split.train.y)?,
        ])?,
        cfg.batch_size,
    )?
    .shuffle(derive_seed(cfg.random_seed, "batches"));
    let spe = loader.num_batches() as u64;
    let every = spe * cfg.log_period as u64;
    let settings = LoopSettings {
        steps_per_epoch: Some(spe),
        valid_every: every,
        save_every: spe * cfg.save_period as u64,
        monitor: Some(Monitor {
            metric: "valid_loss".into(),
            goal: Goal::Minimize,
        }),
        patience: cfg.patience,
        max_nonfinite: cfg.max_nonfinite,
        ..LoopSettings::steps(spe * cfg.max_epochs as u64, every)
    };
    let mut task = RegressTask {
        model: &net,
        cfg,
        objective: cfg.objective(),
        loader,
        valid_xn: Var::constant(x_norm.normalize(&split.valid.x)?),
        valid_yn: Var::constant(y_norm.normalize(&split.valid.y)?),
        valid: &split.valid,
        steps_per_epoch: spe,
        order: None,
        sums: PartSums::default(),
    };
    let schedule = Schedule {
        scheduler: &mut plateau,
        timing: SchedulerTiming::EveryValidation,
    };
    let fit = fit(
        &mut task,
        &mut opt,
        Some(schedule),
        &settings,
        run,
        resume,
        cfg.random_seed,
        reporter,
    )?;
    reporter.report(Event::Phase("evaluating the best checkpoint".into()));
    let best = model::load(run.best())?;
    let mut eval = evaluate(cfg, &best.model, &split)?;
    eval.step = best
        .checkpoint
        .json::<crate::run::RunState>(crate::run::META_RUN_STATE)?
        .map(|s| s.step);
    eval.train_seconds = Some(fit.state.train_seconds);
    run.write_json(crate::run::dir::EVAL_FILE, &eval)?;
    if !no_plot {
        reporter.report(Event::Phase("drawing plots".into()));
        super::plots::draw_all(run, cfg, &best.model, &split)?;
    }
    Ok(TrainSummary { eval, fit })
}
