//! Training and evaluation of the conditional density models: one run trains
//! a [`Maf`] or an [`Mdn`] with Adam on the train split of a [`Dataset`],
//! scores the validation split after every epoch, keeps the best checkpoint
//! (by validation NLL) and the last one, and at the end scores the best one
//! on the test split beside the true test NLL (banana, student-t).
//!
//! Files written into the output folder:
//!
//! | file | contents |
//! |---|---|
//! | `config.json` | the resolved [`CdeConfig`] |
//! | `metrics.jsonl` | per epoch: `train_nll` (mean over the epoch's trained batches), `valid_nll`, `skipped_batches` (cumulative) |
//! | `best.safetensors`, `last.safetensors` | parameters, the config under metadata `config`, the training state |
//! | `eval.json` | an [`EvalReport`] of the best checkpoint |
//! | `nll.png`, `samples.png`, `density.png` | plots (unless `no_plot`), see [`super::plots`] |
//!
//! A batch whose loss is NaN or infinite is reported (epoch and global step)
//! and skipped: no backward pass, no update.

use super::data::{Dataset, Split, SplitSizes, Splits};
use super::maf::{Maf, MafConfig};
use super::mdn::{Mdn, MdnConfig};
use super::ConditionalDensity;
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::checkpoint::{Checkpoint, TrainingState, META_CONFIG, META_TRAINING_STATE};
use ferrograd_nn::optim::{Adam, AdamConfig, Optimizer};
use ferrograd_nn::train::{derive_seed, MetricsLogger, Progress};
use ferrograd_nn::{DataLoader, Error, Module, Result, TensorDataset};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

/// Which model a run trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Masked autoregressive flow ([`Maf`]).
    Maf,
    /// Mixture density network with full covariances ([`Mdn`]).
    Mdn,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Maf => "maf",
            ModelKind::Mdn => "mdn",
        })
    }
}

impl FromStr for ModelKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<ModelKind> {
        match s.to_ascii_lowercase().as_str() {
            "maf" => Ok(ModelKind::Maf),
            "mdn" => Ok(ModelKind::Mdn),
            _ => Err(Error::Config(format!(
                "unknown model '{s}': expected maf or mdn"
            ))),
        }
    }
}

/// Every setting of a run (saved as `config.json` and in its checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CdeConfig {
    /// The model.
    pub model: ModelKind,
    /// The data set.
    pub dataset: Dataset,
    /// MADE blocks of the MAF (ignored by the MDN).
    pub flows: usize,
    /// Hidden widths (of each MADE, or of the MDN's body).
    pub hidden: Vec<usize>,
    /// Mixture components of the MDN (ignored by the MAF).
    pub components: usize,
    /// Passes over the training split.
    pub epochs: usize,
    /// Rows per training batch.
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Seed of the data splits, the initialisation and the batch order.
    pub seed: u64,
    /// Sizes of the train / validation / test splits.
    pub sizes: SplitSizes,
}

impl Default for CdeConfig {
    /// MAF on banana: 5 flows, 2×64 hidden (K = 5 for the MDN), 200 epochs of
    /// batch 256 at Adam 1e-3, splits 20,000 / 5,000 / 5,000, seed 1.
    fn default() -> Self {
        CdeConfig {
            model: ModelKind::Maf,
            dataset: Dataset::Banana,
            flows: 5,
            hidden: vec![64, 64],
            components: 5,
            epochs: 200,
            batch: 256,
            lr: 1e-3,
            seed: 1,
            sizes: SplitSizes::default(),
        }
    }
}

impl CdeConfig {
    /// The default configuration of `model` on `dataset`.
    pub fn new(model: ModelKind, dataset: Dataset) -> CdeConfig {
        CdeConfig {
            model,
            dataset,
            ..CdeConfig::default()
        }
    }

    /// Shrinks the run to a few seconds (for CI): splits 2,000 / 500 / 500,
    /// 2 epochs.
    pub fn test_sized(mut self) -> CdeConfig {
        self.sizes = SplitSizes {
            train: 2_000,
            valid: 500,
            test: 500,
        };
        self.epochs = 2;
        self
    }

    /// Checks the settings, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |field: &str, why: String| Err(Error::Config(format!("cde config: {field} {why}")));
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        if self.batch == 0 {
            return bad("batch", "must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(
                "lr",
                format!("must be positive and finite, got {}", self.lr),
            );
        }
        if self.hidden.contains(&0) {
            return bad(
                "hidden",
                format!("widths must be positive, got {:?}", self.hidden),
            );
        }
        if self.model == ModelKind::Maf && self.flows == 0 {
            return bad("flows", "must be at least 1".into());
        }
        if self.model == ModelKind::Mdn && self.components == 0 {
            return bad("components", "must be at least 1".into());
        }
        if self.sizes.train == 0 || self.sizes.valid == 0 || self.sizes.test == 0 {
            return bad(
                "sizes",
                format!("must all be positive, got {:?}", self.sizes),
            );
        }
        Ok(())
    }

    /// The data splits of this run.
    pub fn splits(&self) -> Splits {
        Splits::new(self.dataset, self.sizes, derive_seed(self.seed, "data"))
    }
}

/// A model of either kind.
pub enum CdeModel {
    /// A masked autoregressive flow.
    Maf(Maf),
    /// A mixture density network.
    Mdn(Mdn),
}

impl CdeModel {
    /// The freshly initialised model of `cfg`.
    pub fn new(cfg: &CdeConfig) -> Result<CdeModel> {
        cfg.validate()?;
        let seed = derive_seed(cfg.seed, "init");
        Ok(match cfg.model {
            ModelKind::Maf => CdeModel::Maf(Maf::new(
                MafConfig {
                    flows: cfg.flows,
                    hidden: cfg.hidden.clone(),
                    ..MafConfig::default()
                },
                seed,
            )?),
            ModelKind::Mdn => CdeModel::Mdn(Mdn::new(
                MdnConfig {
                    components: cfg.components,
                    hidden: cfg.hidden.clone(),
                    ..MdnConfig::default()
                },
                seed,
            )?),
        })
    }

    /// The model as a density.
    pub fn density(&self) -> &dyn ConditionalDensity {
        match self {
            CdeModel::Maf(m) => m,
            CdeModel::Mdn(m) => m,
        }
    }

    /// The model as a module (parameters, state dict).
    pub fn module(&self) -> &dyn Module {
        match self {
            CdeModel::Maf(m) => m,
            CdeModel::Mdn(m) => m,
        }
    }

    /// `log p(x | f)` of every row, in chunks, without recording a graph.
    pub fn log_prob_values(&self, x: &Tensor, f: &Tensor) -> Result<Vec<f32>> {
        log_prob_values(self.density(), x, f)
    }

    /// −mean log p(x | f) over a split (accumulated in f64).
    pub fn nll(&self, split: &Split) -> Result<f64> {
        let lp = self.log_prob_values(&split.x, &split.f)?;
        Ok(-lp.iter().map(|&v| v as f64).sum::<f64>() / lp.len().max(1) as f64)
    }

    /// `n` samples of x at feature value `feature`, `[n, 2]`, seeded.
    pub fn sample_at(&self, feature: f32, n: usize, seed: u64) -> Result<Tensor> {
        let f = Tensor::from_vec(vec![feature; n], &[n, 1])?;
        let mut rng = StdRng::seed_from_u64(seed);
        no_grad(|| self.density().sample(&f, &mut rng))
    }
}

/// `log p(x | f)` of every row of `x` `[N, d]` given `f` `[N, c]`, in chunks
/// of 4096 rows, without recording a graph.
pub fn log_prob_values(model: &dyn ConditionalDensity, x: &Tensor, f: &Tensor) -> Result<Vec<f32>> {
    const CHUNK: usize = 4096;
    let n = x.dims()[0];
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

/// The evaluation of a checkpoint on its run's test split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The model.
    pub model: ModelKind,
    /// The data set.
    pub dataset: Dataset,
    /// Test rows.
    pub test_rows: usize,
    /// The model's −mean log p on the test split.
    pub test_nll: f64,
    /// The true density's −mean log p on the same rows (banana, student-t).
    pub true_test_nll: Option<f64>,
    /// `test_nll − true_test_nll`, where known.
    pub gap: Option<f64>,
    /// Epoch of the evaluated checkpoint (1-based), if recorded.
    pub epoch: Option<u64>,
    /// Validation NLL of the evaluated checkpoint, if recorded by training.
    pub valid_nll: Option<f64>,
    /// Batches skipped for a non-finite loss during training, if recorded.
    pub skipped_batches: Option<u64>,
    /// Training wall time in seconds, if recorded.
    pub train_seconds: Option<f64>,
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {}: test NLL {:.4} over {} rows",
            self.model, self.dataset, self.test_nll, self.test_rows
        )?;
        match (self.true_test_nll, self.gap) {
            (Some(t), Some(g)) => write!(f, ", true NLL {t:.4} (gap {g:+.4})"),
            _ => write!(f, ", true NLL unknown for {}", self.dataset),
        }
    }
}

/// Scores `model` on the test split of `cfg`'s data.
pub fn evaluate(cfg: &CdeConfig, model: &CdeModel) -> Result<EvalReport> {
    let splits = cfg.splits();
    let test_nll = model.nll(&splits.test)?;
    let true_test_nll = cfg.dataset.true_nll(&splits.test);
    Ok(EvalReport {
        model: cfg.model,
        dataset: cfg.dataset,
        test_rows: splits.test.len(),
        test_nll,
        true_test_nll,
        gap: true_test_nll.map(|t| test_nll - t),
        epoch: None,
        valid_nll: None,
        skipped_batches: None,
        train_seconds: None,
    })
}

/// Metadata key of the validation NLL stored in checkpoints written by
/// [`train`].
pub const META_VALID_NLL: &str = "valid_nll";

/// A model and its configuration from a checkpoint written by [`train`]; a
/// clear error naming the file if it is not one.
pub fn load(path: &Path) -> Result<(CdeConfig, CdeModel, Checkpoint)> {
    let not_cde = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let ckpt = Checkpoint::load(path)?;
    let cfg: CdeConfig = ckpt
        .json(META_CONFIG)
        .map_err(|e| not_cde(format!("not a CDE checkpoint: {e}")))?
        .ok_or_else(|| {
            not_cde(format!(
                "not a CDE checkpoint: metadata field '{META_CONFIG}' is missing"
            ))
        })?;
    let model = CdeModel::new(&cfg).map_err(|e| not_cde(format!("bad configuration: {e}")))?;
    ckpt.load_into(model.module())
        .map_err(|e| not_cde(format!("parameters do not fit the configuration: {e}")))?;
    Ok((cfg, model, ckpt))
}

/// [`evaluate`] of a checkpoint, with what training recorded in it.
pub fn evaluate_checkpoint(path: &Path) -> Result<EvalReport> {
    let (cfg, model, ckpt) = load(path)?;
    let mut r = evaluate(&cfg, &model)?;
    r.epoch = ckpt.training_state()?.map(|s| s.epoch);
    r.valid_nll = ckpt.json(META_VALID_NLL)?;
    Ok(r)
}

/// What a finished run reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainSummary {
    /// The evaluation of the best checkpoint.
    pub eval: EvalReport,
    /// Per epoch: (train NLL, validation NLL).
    pub curve: Vec<(f64, f64)>,
    /// Batches skipped for a non-finite loss.
    pub skipped_batches: u64,
    /// Wall time of training (without the final evaluation and plots).
    pub seconds: f64,
    /// The folder written.
    pub out: PathBuf,
}

fn save_checkpoint(
    path: &Path,
    model: &CdeModel,
    cfg: &CdeConfig,
    epoch: u64,
    step: u64,
    valid_nll: f64,
) -> Result<()> {
    let mut ckpt = Checkpoint::from_module(model.module());
    ckpt.set_json(META_CONFIG, cfg)?;
    ckpt.set_json(
        META_TRAINING_STATE,
        &TrainingState {
            epoch,
            step,
            seed: cfg.seed,
        },
    )?;
    ckpt.set_json(META_VALID_NLL, &valid_nll)?;
    ckpt.save(path)
}

/// Trains with `cfg` and writes into `out` (see the module docs).
pub fn train(cfg: &CdeConfig, out: &Path, quiet: bool, no_plot: bool) -> Result<TrainSummary> {
    train_on(cfg, &cfg.splits(), out, quiet, no_plot)
}

/// [`train`] on given train and validation splits (`splits.test` is not
/// used: the final evaluation always scores the test split of `cfg`).
pub fn train_on(
    cfg: &CdeConfig,
    splits: &Splits,
    out: &Path,
    quiet: bool,
    no_plot: bool,
) -> Result<TrainSummary> {
    cfg.validate()?;
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })?;
    write_json(&out.join("config.json"), cfg)?;
    let model = CdeModel::new(cfg)?;
    let mut opt = Adam::new(
        model.module().params(),
        AdamConfig {
            lr: cfg.lr,
            ..AdamConfig::default()
        },
    )?;
    let loader = DataLoader::new(
        TensorDataset::new(vec![splits.train.x.clone(), splits.train.f.clone()])?,
        cfg.batch,
    )?
    .shuffle(derive_seed(cfg.seed, "batches"));
    let log = MetricsLogger::create(out.join("metrics.jsonl"))?;
    let steps_per_epoch = loader.num_batches() as u64;
    let mut progress = Progress::new(steps_per_epoch * cfg.epochs as u64, quiet);
    let best_path = out.join("best.safetensors");
    let start = Instant::now();
    let (mut curve, mut skipped, mut step) = (Vec::new(), 0u64, 0u64);
    let mut best = f64::INFINITY;
    for epoch in 1..=cfg.epochs as u64 {
        progress.set_epoch(epoch, Some(cfg.epochs as u64));
        let (mut sum, mut count) = (0.0f64, 0usize);
        for batch in loader.epoch(epoch - 1) {
            let batch = batch?;
            step += 1;
            let x = Var::constant(batch[0].clone());
            let f = Var::constant(batch[1].clone());
            let loss = model.density().log_prob(&x, &f)?.mean_all().neg();
            let value = loss.item()? as f64;
            if !value.is_finite() {
                skipped += 1;
                progress.println(&format!(
                    "warning: the loss is {value} at epoch {epoch}, step {step}: batch skipped \
                     ({skipped} so far)"
                ));
                progress.inc(1);
                continue;
            }
            opt.zero_grad();
            loss.backward()?;
            opt.step()?;
            sum += value * batch[0].dims()[0] as f64;
            count += batch[0].dims()[0];
            progress.inc(1);
        }
        let train_nll = if count > 0 {
            sum / count as f64
        } else {
            f64::NAN
        };
        let valid_nll = model.nll(&splits.valid)?;
        progress.set_loss(valid_nll);
        log.log_values(
            epoch,
            &[
                ("train_nll", train_nll),
                ("valid_nll", valid_nll),
                ("skipped_batches", skipped as f64),
            ],
        )?;
        curve.push((train_nll, valid_nll));
        if valid_nll.is_finite() && (valid_nll < best || !best_path.exists()) {
            best = valid_nll;
            save_checkpoint(&best_path, &model, cfg, epoch, step, valid_nll)?;
        }
        if !quiet && progress.is_hidden() {
            println!(
                "epoch {epoch:4}/{}: train NLL {train_nll:.4}, valid NLL {valid_nll:.4}",
                cfg.epochs
            );
        }
    }
    progress.finish();
    let seconds = start.elapsed().as_secs_f64();
    let last = curve.last().map(|c| c.1).unwrap_or(f64::NAN);
    save_checkpoint(
        &out.join("last.safetensors"),
        &model,
        cfg,
        cfg.epochs as u64,
        step,
        last,
    )?;
    if !best_path.exists() {
        return Err(Error::Config(format!(
            "cde: the validation NLL was never finite in {} epochs; no best checkpoint",
            cfg.epochs
        )));
    }
    let mut eval = evaluate_checkpoint(&best_path)?;
    eval.skipped_batches = Some(skipped);
    eval.train_seconds = Some(seconds);
    write_json(&out.join("eval.json"), &eval)?;
    if !no_plot {
        let (_, best_model, _) = load(&best_path)?;
        super::plots::nll_curves(&out.join("nll.png"), cfg, &curve)?;
        super::plots::samples(&out.join("samples.png"), cfg, &best_model)?;
        super::plots::densities(&out.join("density.png"), cfg, &best_model)?;
    }
    Ok(TrainSummary {
        eval,
        curve,
        skipped_batches: skipped,
        seconds,
        out: out.to_path_buf(),
    })
}

/// Writes `value` as pretty JSON to `path` (temporary file, then rename).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| Error::Config(format!("json: {e}")))?;
    write_atomic(path, text.as_bytes())
}

/// Writes `bytes` to `path` through a temporary file in the same folder and
/// a rename, so a reader never sees a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes).map_err(|source| Error::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cde::plots::{grid_log_density, Window};
    use ferrograd_nn::train::read_metrics;

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("ferrograd-cde-{name}-{}", std::process::id()))
    }

    #[test]
    fn test_sized_runs_write_every_file_and_reload() {
        for model in [ModelKind::Maf, ModelKind::Mdn] {
            let out = tmp(&format!("files-{model}"));
            let cfg = CdeConfig::new(model, Dataset::StudentT).test_sized();
            let s = train(&cfg, &out, true, false).unwrap();
            for f in [
                "config.json",
                "metrics.jsonl",
                "best.safetensors",
                "last.safetensors",
                "eval.json",
                "nll.png",
                "samples.png",
                "density.png",
            ] {
                assert!(out.join(f).is_file(), "{model}: {f} missing");
            }
            let m = read_metrics(out.join("metrics.jsonl")).unwrap();
            assert_eq!(m.len(), cfg.epochs);
            assert_eq!(s.curve.len(), cfg.epochs);
            assert!(s.curve.iter().all(|c| c.0.is_finite() && c.1.is_finite()));
            let eval: EvalReport =
                serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap())
                    .unwrap();
            // JSON round-trips f64 to within an ulp.
            assert_eq!(
                (eval.model, eval.dataset, eval.epoch),
                (model, cfg.dataset, s.eval.epoch)
            );
            assert!((eval.test_nll - s.eval.test_nll).abs() < 1e-12);
            assert!(eval.test_nll.is_finite() && eval.true_test_nll.is_some());
            let (loaded, _, _) = load(&out.join("last.safetensors")).unwrap();
            assert_eq!(loaded, cfg);
            let again = evaluate_checkpoint(&out.join("best.safetensors")).unwrap();
            assert_eq!(again.test_nll, eval.test_nll);
            std::fs::remove_dir_all(&out).unwrap();
        }
    }

    #[test]
    fn non_finite_batches_are_skipped_and_counted() {
        let cfg = CdeConfig {
            batch: 100,
            ..CdeConfig::new(ModelKind::Mdn, Dataset::Banana).test_sized()
        };
        let mut splits = cfg.splits();
        let mut x = splits.train.x.data().to_vec();
        x[7] = f32::NAN; // row 3: one batch per epoch has a NaN loss
        splits.train.x = Tensor::from_vec(x, &[cfg.sizes.train, 2]).unwrap();
        let out = tmp("nan");
        let s = train_on(&cfg, &splits, &out, true, true).unwrap();
        assert_eq!(s.skipped_batches, cfg.epochs as u64);
        assert_eq!(s.eval.skipped_batches, Some(cfg.epochs as u64));
        assert!(s.eval.test_nll.is_finite());
        let m = read_metrics(out.join("metrics.jsonl")).unwrap();
        assert_eq!(m.len(), cfg.epochs);
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn config_errors_and_foreign_checkpoints_are_clear() {
        let bad = CdeConfig {
            epochs: 0,
            ..CdeConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("epochs"));
        let bad = CdeConfig {
            hidden: vec![64, 0],
            ..CdeConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("hidden"));
        assert!("flow".parse::<ModelKind>().is_err());
        let anchor = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/anchors/maf_step.safetensors"
        );
        let e = load(Path::new(anchor)).err().unwrap().to_string();
        assert!(
            e.contains("not a CDE checkpoint") && e.contains("maf_step"),
            "{e}"
        );
    }

    /// The window of the integral checks (cells of 1/15 × 1/15), wide
    /// enough for the broad components of a briefly trained model at f = 0.5
    /// (banana data: x₁ ∈ ±3, x₂ ∈ [−3, 9]); [−9, 9] × [−10, 16] missed
    /// 0.2% of the MDN's mass and biased its entropy by 0.02 nats.
    const WIDE: Window = Window {
        x0: -16.0,
        x1: 16.0,
        y0: -16.0,
        y1: 24.0,
    };

    /// A trained tiny model's density integrates to 1 ± 0.02 over a grid at
    /// f = 0.5, and the mean log-density of 20,000 of its own samples equals
    /// minus its entropy −∫ p log p computed on the grid, within 0.05 nats
    /// (the Monte Carlo standard error is ≈ 0.01 nats; observed differences
    /// 0.0015 for the MAF and 0.013 for the MDN).
    fn density_checks(model: ModelKind) {
        let cfg = CdeConfig {
            epochs: 4,
            ..CdeConfig::new(model, Dataset::Banana).test_sized()
        };
        let out = tmp(&format!("integral-{model}"));
        train(&cfg, &out, true, true).unwrap();
        let (_, m, _) = load(&out.join("best.safetensors")).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
        let (lp, area) = grid_log_density(&m, 0.5, WIDE, 480, 600).unwrap();
        let mass: f64 = lp.iter().map(|&v| (v as f64).exp()).sum::<f64>() * area;
        assert!((mass - 1.0).abs() <= 0.02, "{model}: ∫p = {mass}");
        let entropy: f64 = -lp
            .iter()
            .map(|&v| {
                let v = v as f64;
                v.exp() * v
            })
            .sum::<f64>()
            * area;
        let n = 20_000;
        let xs = m.sample_at(0.5, n, 11).unwrap();
        let fs = Tensor::from_vec(vec![0.5; n], &[n, 1]).unwrap();
        let own = m.log_prob_values(&xs, &fs).unwrap();
        let mean = own.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        eprintln!(
            "{model}: ∫p = {mass:.5}, −H = {:.4}, mean log p(samples) = {mean:.4}",
            -entropy
        );
        assert!(
            (mean + entropy).abs() <= 0.05,
            "{model}: mean log p of own samples {mean} vs −entropy {}",
            -entropy
        );
    }

    #[test]
    fn maf_density_integrates_to_one_and_agrees_with_its_samples() {
        density_checks(ModelKind::Maf);
    }

    #[test]
    fn mdn_density_integrates_to_one_and_agrees_with_its_samples() {
        density_checks(ModelKind::Mdn);
    }
}
