//! Training and evaluation of the conditional density models on the shared
//! run harness ([`crate::run`]): Adam on the training split, the validation
//! NLL after every epoch, the best checkpoint by validation NLL, and at the
//! end the best checkpoint scored on the test split beside the true test
//! NLL (banana, student-t).
//!
//! The run folder ([`crate::run::RunDir`]) gets `config.json`,
//! `metrics.jsonl` (per epoch: `train_loss`, the mean NLL of the epoch's
//! trained batches; `valid_nll`; `skipped_steps`; `lr`),
//! `checkpoints/best.safetensors` and `checkpoints/last.safetensors`,
//! `eval.json` (an [`EvalReport`]) and the plots `nll.png`, `samples.png`,
//! `density.png` (see [`super::plots`]).

use super::data::{Split, Splits};
use super::model;
use super::ConditionalDensity;
use crate::run::{
    fit, Event, FitSummary, Goal, LoopSettings, Monitor, Reporter, RunDir, TrainTask,
};
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::optim::{Adam, AdamConfig};
use ferrograd_nn::train::{derive_seed, read_metrics};
use ferrograd_nn::{DataLoader, Dataset as _, Error, Module, Result, TensorDataset};
use ferrograd_tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use super::config::{CdeConfig, ModelKind};
pub use super::model::CdeModel;

/// `log p(x | f)` of every row of `x` `[N, d]` given `f` `[N, c]`, in chunks
/// of 4096 rows, without recording a graph.
pub fn log_prob_values(model: &dyn ConditionalDensity, x: &Tensor, f: &Tensor) -> Result<Vec<f32>> {
    const CHUNK: usize = 4096;
    crate::guard::rank("cde log_prob", "x", x, 2)?;
    crate::guard::rank("cde log_prob", "features", f, 2)?;
    let n = x.dims()[0];
    if f.dims()[0] != n {
        return Err(Error::Config(format!(
            "cde log_prob: {n} rows of x but {} rows of features",
            f.dims()[0]
        )));
    }
    let mut out = Vec::with_capacity(n);
    no_grad(|| -> Result<()> {
        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            let xs = Var::constant(x.narrow(0, start, len)?);
            let fs = Var::constant(f.narrow(0, start, len)?);
            let lp = model.log_prob(&xs, &fs)?;
            out.extend_from_slice(lp.value().data());
            start += len;
        }
        Ok(())
    })?;
    Ok(out)
}

/// −mean log p(x | f) over a split (accumulated in f64).
pub fn nll(model: &dyn ConditionalDensity, split: &Split) -> Result<f64> {
    let lp = log_prob_values(model, &split.x, &split.f)?;
    Ok(-lp.iter().map(|&v| v as f64).sum::<f64>() / lp.len().max(1) as f64)
}

impl CdeConfig {
    /// The splits of a built-in data set of this run.
    pub fn splits(&self) -> Splits {
        Splits::new(self.dataset, self.sizes(), derive_seed(self.seed, "data"))
    }
}

/// The evaluation of a checkpoint on its run's test split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The model.
    pub model: ModelKind,
    /// The data: a built-in data set's name or the CSV file.
    pub data: String,
    /// Test rows.
    pub test_rows: usize,
    /// The model's −mean log p on the test split, in the data's units.
    pub test_nll: f64,
    /// The true density's −mean log p on the same rows (banana, student-t).
    pub true_test_nll: Option<f64>,
    /// `test_nll − true_test_nll`, where known.
    pub gap: Option<f64>,
    /// Training step of the evaluated checkpoint, if recorded.
    pub step: Option<u64>,
    /// Epoch of the evaluated checkpoint (1-based), if recorded.
    pub epoch: Option<u64>,
    /// Validation NLL of the evaluated checkpoint, if recorded by training.
    pub valid_nll: Option<f64>,
    /// Batches skipped for a non-finite loss or gradient during training.
    pub skipped_batches: Option<u64>,
    /// Training wall time in seconds, if recorded.
    pub train_seconds: Option<f64>,
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {}: test NLL {:.4} over {} rows",
            self.model, self.data, self.test_nll, self.test_rows
        )?;
        match (self.true_test_nll, self.gap) {
            (Some(t), Some(g)) => write!(f, ", true NLL {t:.4} (gap {g:+.4})"),
            _ => write!(f, ", true NLL unknown for {}", self.data),
        }
    }
}

/// Scores `model` on the test split of `cfg`'s built-in data.
pub fn evaluate(cfg: &CdeConfig, model: &CdeModel) -> Result<EvalReport> {
    let test = super::source::load(cfg)?.test;
    evaluate_split(cfg, model, &test)
}

/// Scores `model` on `test`; the true NLL where `cfg`'s built-in data set
/// has a known density.
pub fn evaluate_split(cfg: &CdeConfig, model: &CdeModel, test: &Split) -> Result<EvalReport> {
    let test_nll = nll(model, test)?;
    let true_test_nll = match cfg.data {
        None => cfg.dataset.true_nll(test),
        Some(_) => None,
    };
    Ok(EvalReport {
        model: cfg.model,
        data: cfg.data_name(),
        test_rows: test.len(),
        test_nll,
        true_test_nll,
        gap: true_test_nll.map(|t| test_nll - t),
        step: None,
        epoch: None,
        valid_nll: None,
        skipped_batches: None,
        train_seconds: None,
    })
}

/// [`evaluate`] of a checkpoint, with what training recorded in it.
pub fn evaluate_checkpoint(path: &Path) -> Result<EvalReport> {
    let loaded = model::load(path)?;
    let data = super::source::load(&loaded.config)?;
    let mut r = evaluate_split(&loaded.config, &loaded.model, &data.test)?;
    record_state(&mut r, &loaded.checkpoint, &loaded.config, data.train.len())?;
    Ok(r)
}

fn record_state(
    r: &mut EvalReport,
    ckpt: &ferrograd_nn::Checkpoint,
    cfg: &CdeConfig,
    train_rows: usize,
) -> Result<()> {
    if let Some(s) = ckpt.json::<crate::run::RunState>(crate::run::META_RUN_STATE)? {
        let spe = train_rows.div_ceil(cfg.batch).max(1) as u64;
        r.step = Some(s.step);
        r.epoch = Some(s.step.div_ceil(spe));
        r.valid_nll = s.best;
        r.skipped_batches = Some(s.skipped_steps);
        r.train_seconds = Some(s.train_seconds);
    }
    Ok(())
}

/// The training task of a run: the NLL of one batch per step.
struct CdeTask<'a> {
    model: &'a CdeModel,
    cfg: &'a CdeConfig,
    loader: DataLoader<TensorDataset>,
    valid: &'a Split,
    steps_per_epoch: u64,
    order: Option<(u64, Vec<usize>)>,
}

impl TrainTask for CdeTask<'_> {
    fn module(&self) -> &dyn Module {
        self.model
    }

    fn loss(&mut self, step: u64) -> Result<Var> {
        let (epoch, index) = (step / self.steps_per_epoch, step % self.steps_per_epoch);
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.order = Some((epoch, self.loader.order(epoch)));
        }
        let order = &self.order.as_ref().expect("set above").1;
        let b = self.loader.batch_size();
        let start = index as usize * b;
        let rows = &order[start..(start + b).min(order.len())];
        let batch = self.loader.dataset().get_batch(rows)?;
        let x = Var::constant(batch[0].clone());
        let f = Var::constant(batch[1].clone());
        Ok(self.model.log_prob(&x, &f)?.mean_all().neg())
    }

    fn validate(&mut self) -> Result<Vec<(String, f64)>> {
        Ok(vec![("valid_nll".into(), nll(self.model, self.valid)?)])
    }

    fn metadata(&self) -> Result<BTreeMap<String, String>> {
        model::metadata(self.cfg, self.model)
    }
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// The evaluation of the best checkpoint (written to `eval.json`).
    pub eval: EvalReport,
    /// Per epoch: (train NLL, validation NLL), from the metrics log.
    pub curve: Vec<(f64, f64)>,
    /// The driver's summary.
    pub fit: FitSummary,
}

/// Per epoch (train loss, validation NLL) from a run's metrics log.
pub fn curve(run: &RunDir) -> Result<Vec<(f64, f64)>> {
    Ok(read_metrics(run.metrics())?
        .iter()
        .filter_map(|r| {
            let v = r.metrics.get("valid_nll").copied().flatten()?;
            let t = r
                .metrics
                .get("train_loss")
                .copied()
                .flatten()
                .unwrap_or(f64::NAN);
            Some((t, v))
        })
        .collect())
}

/// Trains with `cfg` into `run` (or, with `resume`, continues the run
/// there), then evaluates the best checkpoint and draws the plots (unless
/// `no_plot`).
pub fn train(
    cfg: &CdeConfig,
    run: &RunDir,
    resume: bool,
    no_plot: bool,
    reporter: &mut dyn Reporter,
) -> Result<TrainSummary> {
    let data = super::source::load(cfg)?;
    train_on(cfg, &data, run, resume, no_plot, reporter)
}

/// [`train`] on data already loaded (tests use it to poison a split).
pub fn train_on(
    cfg: &CdeConfig,
    data: &super::source::CdeData,
    run: &RunDir,
    resume: bool,
    no_plot: bool,
    reporter: &mut dyn Reporter,
) -> Result<TrainSummary> {
    cfg.validate()?;
    if !resume {
        run.write_json(crate::run::dir::CONFIG_FILE, cfg)?;
    }
    let (d, c) = (data.train.x.dims()[1], data.train.f.dims()[1]);
    let model = CdeModel::new(
        &model::spec_of(cfg, d, c),
        derive_seed(cfg.seed, "init"),
        &data.x_norm,
        &data.f_norm,
    )?;
    let mut opt = Adam::new(
        model.params(),
        AdamConfig {
            lr: cfg.lr,
            ..AdamConfig::default()
        },
    )?;
    let loader = DataLoader::new(
        TensorDataset::new(vec![data.train.x.clone(), data.train.f.clone()])?,
        cfg.batch,
    )?
    .shuffle(derive_seed(cfg.seed, "batches"));
    let spe = loader.num_batches() as u64;
    let settings = LoopSettings {
        steps_per_epoch: Some(spe),
        valid_every: spe,
        monitor: Some(Monitor {
            metric: "valid_nll".into(),
            goal: Goal::Minimize,
        }),
        patience: cfg.patience,
        max_nonfinite: cfg.max_nonfinite,
        ..LoopSettings::steps(spe * cfg.epochs as u64, spe)
    };
    let mut task = CdeTask {
        model: &model,
        cfg,
        loader,
        valid: &data.valid,
        steps_per_epoch: spe,
        order: None,
    };
    let fit = fit(
        &mut task, &mut opt, None, &settings, run, resume, cfg.seed, reporter,
    )?;
    reporter.report(Event::Phase(
        "evaluating the best checkpoint on the test split".into(),
    ));
    let best = model::load(run.best())?;
    let mut eval = evaluate_split(cfg, &best.model, &data.test)?;
    record_state(&mut eval, &best.checkpoint, cfg, data.train.len())?;
    eval.skipped_batches = Some(fit.state.skipped_steps);
    eval.train_seconds = Some(fit.state.train_seconds);
    run.write_json(crate::run::dir::EVAL_FILE, &eval)?;
    let curve = curve(run)?;
    if !no_plot {
        reporter.report(Event::Phase("drawing plots".into()));
        super::plots::nll_curves(&run.file("nll.png"), cfg, &curve)?;
        if cfg.data.is_none() {
            super::plots::samples(&run.file("samples.png"), cfg, &best.model)?;
            super::plots::densities(&run.file("density.png"), cfg, &best.model)?;
        } else {
            let name = if d == 2 {
                "samples.png"
            } else {
                "marginals.png"
            };
            let seed = derive_seed(cfg.seed, "plot");
            super::plots::user_samples(&run.file(name), data, &best.model, seed)?;
        }
    }
    Ok(TrainSummary { eval, curve, fit })
}

#[cfg(test)]
mod tests;
