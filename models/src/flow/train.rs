//! Training and evaluation of the flow-matching generator on the shared
//! run harness ([`crate::run`]).
//!
//! A run trains on the training clouds with Adam (cosine-annealed), one
//! [`flow_loss`] per batch. Every `eval_every` epochs it scores the test
//! reconstruction Chamfer distance of the first `eval_clouds` test clouds
//! (logged as `test_chamfer`), writes the last checkpoint and redraws
//! `loss_trajectory.png` and `samples.png`; at the end it scores every test
//! cloud and writes `eval.json` (an [`EvalReport`]). There is no
//! validation split and no "best" checkpoint: the 90/10 split of the issue
//! has only a test part, which must not choose the model, so the model of a
//! run is its last checkpoint (`checkpoints/last.safetensors`).

use super::chamfer::{chamfer_batch, chamfer_points};
use super::config::FlowRunConfig;
use super::matching::{encode_codes, flow_loss, prior_codes, sample};
use super::model::FlowModel;
use super::source::{self, FlowData};
use crate::run::{
    check_claimed_size, family_checkpoint, fit, Event, FitSummary, LoopSettings, Reporter, RunDir,
    Schedule, SchedulerTiming, TrainTask,
};
use ferrograd_autograd::Var;
use ferrograd_nn::checkpoint::Checkpoint;
use ferrograd_nn::optim::{Adam, AdamConfig};
use ferrograd_nn::schedule::CosineAnnealing;
use ferrograd_nn::train::{derive_seed, read_metrics};
use ferrograd_nn::{DataLoader, Dataset as _, Error, Module, Result, TensorDataset};
use ferrograd_tensor::Tensor;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Instant;

/// The family name in the checkpoints of `flow train`.
pub const FAMILY: &str = "flow";
/// Clouds per forward pass when sampling in bulk.
const CHUNK: usize = 64;
/// Test clouds shown in `samples.png`.
const SHOWN: usize = 8;

/// A trained model with the configuration it was trained with.
pub struct Loaded {
    /// The run's configuration.
    pub config: FlowRunConfig,
    /// The model.
    pub model: FlowModel,
    /// The checkpoint file's contents.
    pub checkpoint: Checkpoint,
}

/// Loads a `flow train` checkpoint; a file of another family or with
/// tensors that do not fit the recorded configuration is an error naming
/// the file.
pub fn load(path: impl AsRef<Path>) -> Result<Loaded> {
    let path = path.as_ref();
    let bad = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let (checkpoint, config): (Checkpoint, FlowRunConfig) = family_checkpoint(path, FAMILY)?;
    config
        .validate()
        .map_err(|e| bad(format!("bad configuration: {e}")))?;
    check_claimed_size(config.model().min_value_count(), &checkpoint, path)?;
    let model = FlowModel::new(config.model(), 0)?;
    checkpoint
        .load_into(&model)
        .map_err(|e| bad(format!("the tensors do not fit the recorded model: {e}")))?;
    Ok(Loaded {
        config,
        model,
        checkpoint,
    })
}

/// The metadata of a `flow` checkpoint.
pub fn metadata(cfg: &FlowRunConfig) -> Result<BTreeMap<String, String>> {
    Ok(crate::run::family_metadata(FAMILY, cfg)?.metadata)
}

/// Clouds generated from `codes` `[B, code]` in chunks, `[B, points, 2]`.
pub fn generate(
    model: &FlowModel,
    cfg: &FlowRunConfig,
    codes: &Tensor,
    seed: u64,
) -> Result<Tensor> {
    let b = codes.dims()[0];
    let mut out = Vec::with_capacity(b * cfg.points * 2);
    for start in (0..b).step_by(CHUNK) {
        let len = CHUNK.min(b - start);
        let c = codes.narrow(0, start, len)?;
        let x = sample(
            model,
            &c,
            cfg.points,
            cfg.steps,
            cfg.solver,
            seed ^ start as u64,
        )?;
        out.extend_from_slice(x.data());
    }
    Ok(Tensor::from_vec(out, &[b, cfg.points, 2])?)
}

/// Reconstructions of `clouds` `[B, N, 2]`: each generated from its own
/// code.
pub fn reconstruct(
    model: &FlowModel,
    cfg: &FlowRunConfig,
    clouds: &Tensor,
    seed: u64,
) -> Result<Tensor> {
    let b = clouds.dims()[0];
    let mut codes = Vec::new();
    for start in (0..b).step_by(CHUNK) {
        let len = CHUNK.min(b - start);
        codes.extend_from_slice(encode_codes(model, &clouds.narrow(0, start, len)?)?.data());
    }
    let codes = Tensor::from_vec(codes, &[b, model.config.code])?;
    generate(model, cfg, &codes, seed)
}

/// The clouds of `[B, N, 2]` as point lists.
fn cloud_points(t: &Tensor) -> Vec<Vec<[f32; 2]>> {
    let n = t.dims()[1];
    t.data()
        .chunks_exact(2 * n)
        .map(|c| c.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
        .collect()
}

/// For each generated cloud, the Chamfer distance to its nearest cloud of
/// `reference` (exact, over all pairs, in parallel).
pub fn nearest_chamfer(generated: &Tensor, reference: &Tensor) -> Result<Vec<f32>> {
    let (g, r) = (cloud_points(generated), cloud_points(reference));
    g.par_iter()
        .map(|a| {
            r.iter()
                .map(|b| chamfer_points(a, b))
                .try_fold(f32::INFINITY, |m, c| c.map(|c| m.min(c)))
        })
        .collect()
}

/// The evaluation of a model on its run's test clouds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The data, e.g. `built-in MNIST digit 4`.
    pub data: String,
    /// Test clouds scored.
    pub test_clouds: usize,
    /// Points per cloud.
    pub points: usize,
    /// Sampling steps and solver.
    pub sampler: String,
    /// Mean Chamfer distance of a test cloud to its reconstruction.
    pub recon_chamfer: f64,
    /// Median of the same.
    pub recon_chamfer_median: f64,
    /// With the VAE head: the mean, over as many clouds generated from
    /// z ~ N(0, I) as there are test clouds, of the Chamfer distance to the
    /// nearest test cloud.
    pub generation_chamfer: Option<f64>,
    /// A yardstick for the two figures above: the mean Chamfer distance of
    /// each test cloud to a shapeless blob, a cloud drawn from a Gaussian
    /// with that test cloud's own mean and covariance. A model that draws
    /// digits must score well below it.
    pub gaussian_blob_chamfer: f64,
    /// A second yardstick: the mean Chamfer distance of each test cloud to
    /// the next test cloud, another real drawing of the same digit. A
    /// reconstruction below it keeps what sets its own drawing apart.
    #[serde(default)]
    pub other_cloud_chamfer: f64,
    /// Seconds spent sampling (encoder and ODE integration).
    pub sampling_seconds: f64,
    /// Seconds spent on nearest neighbours (all Chamfer distances).
    pub chamfer_seconds: f64,
    /// Optimizer steps of the evaluated checkpoint, if recorded.
    pub step: Option<u64>,
    /// Training wall time in seconds, if recorded.
    pub train_seconds: Option<f64>,
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: test reconstruction Chamfer {:.4} (median {:.4}) over {} clouds",
            self.data, self.recon_chamfer, self.recon_chamfer_median, self.test_clouds
        )?;
        if let Some(g) = self.generation_chamfer {
            write!(f, "; generation Chamfer to the nearest test cloud {g:.4}")?;
        }
        write!(
            f,
            "; a Gaussian blob scores {:.4}, another test cloud {:.4}",
            self.gaussian_blob_chamfer, self.other_cloud_chamfer
        )?;
        write!(
            f,
            " ({}; sampling {:.1} s, nearest neighbours {:.2} s)",
            self.sampler, self.sampling_seconds, self.chamfer_seconds
        )
    }
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64
}

fn median(v: &[f32]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    s.get(s.len() / 2).map_or(f64::NAN, |&x| x as f64)
}

/// For each cloud of `[B, N, 2]`, a cloud of N points from the Gaussian
/// with its mean and covariance (the yardstick of [`EvalReport`]).
pub fn gaussian_blobs(clouds: &Tensor, seed: u64) -> Result<Tensor> {
    let n = clouds.dims()[1];
    let mut rng = ferrograd_nn::init::rng(seed);
    let z = ferrograd_nn::init::normal(clouds.dims(), 0.0, 1.0, &mut rng);
    let mut out = Vec::with_capacity(clouds.data().len());
    for (c, zc) in clouds
        .data()
        .chunks_exact(2 * n)
        .zip(z.data().chunks_exact(2 * n))
    {
        let m = |k: usize| c.iter().skip(k).step_by(2).map(|&v| v as f64).sum::<f64>() / n as f64;
        let (mx, my) = (m(0), m(1));
        let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
        for p in c.chunks_exact(2) {
            let (dx, dy) = (p[0] as f64 - mx, p[1] as f64 - my);
            sxx += dx * dx / n as f64;
            sxy += dx * dy / n as f64;
            syy += dy * dy / n as f64;
        }
        // Cholesky factor of [[sxx, sxy], [sxy, syy]].
        let l11 = sxx.max(1e-12).sqrt();
        let l21 = sxy / l11;
        let l22 = (syy - l21 * l21).max(1e-12).sqrt();
        for q in zc.chunks_exact(2) {
            let (a, b) = (q[0] as f64, q[1] as f64);
            out.push((mx + l11 * a) as f32);
            out.push((my + l21 * a + l22 * b) as f32);
        }
    }
    Ok(Tensor::from_vec(out, clouds.dims())?)
}

/// The clouds of `[B, N, 2]` rotated by one: cloud `i` becomes cloud
/// `i + 1` (the last the first).
fn next_clouds(clouds: &Tensor) -> Result<Tensor> {
    let per = clouds.numel() / clouds.dims()[0].max(1);
    let d = clouds.data();
    let rotated = [&d[per..], &d[..per]].concat();
    Ok(Tensor::from_vec(rotated, clouds.dims())?)
}

/// Scores `model` on all of `test`.
pub fn evaluate(model: &FlowModel, cfg: &FlowRunConfig, test: &Tensor) -> Result<EvalReport> {
    let seed = derive_seed(cfg.seed, "eval");
    let t0 = Instant::now();
    let recon = reconstruct(model, cfg, test, seed)?;
    let generated = match cfg.vae {
        true => Some(generate(
            model,
            cfg,
            &prior_codes(model, test.dims()[0], seed)?,
            seed,
        )?),
        false => None,
    };
    let sampling_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let rc = chamfer_batch(&recon, test)?;
    let blob = chamfer_batch(&gaussian_blobs(test, seed)?, test)?;
    let other = chamfer_batch(&next_clouds(test)?, test)?;
    let gen = generated
        .as_ref()
        .map(|g| nearest_chamfer(g, test))
        .transpose()?;
    Ok(EvalReport {
        data: cfg.data_name(),
        test_clouds: test.dims()[0],
        points: cfg.points,
        sampler: format!("{} {:?} steps", cfg.steps, cfg.solver).to_lowercase(),
        recon_chamfer: mean(&rc),
        recon_chamfer_median: median(&rc),
        generation_chamfer: gen.as_deref().map(mean),
        gaussian_blob_chamfer: mean(&blob),
        other_cloud_chamfer: mean(&other),
        sampling_seconds,
        chamfer_seconds: t1.elapsed().as_secs_f64(),
        step: None,
        train_seconds: None,
    })
}

/// [`evaluate`] of a checkpoint on its run's test clouds.
pub fn evaluate_checkpoint(path: &Path) -> Result<EvalReport> {
    let l = load(path)?;
    let data = source::load(&l.config)?;
    let mut r = evaluate(&l.model, &l.config, &data.test)?;
    if let Some(s) = l
        .checkpoint
        .json::<crate::run::RunState>(crate::run::META_RUN_STATE)?
    {
        r.step = Some(s.step);
        r.train_seconds = Some(s.train_seconds);
    }
    Ok(r)
}

/// Draws `samples.png` into `run`: the first test clouds beside their
/// reconstructions, and with the VAE head a row from the prior.
pub fn draw_samples(
    path: &Path,
    model: &FlowModel,
    cfg: &FlowRunConfig,
    test: &Tensor,
    epoch: Option<u64>,
) -> Result<()> {
    let n = SHOWN.min(test.dims()[0]);
    let real = test.narrow(0, 0, n)?;
    let seed = derive_seed(cfg.seed, "plot");
    let recon = reconstruct(model, cfg, &real, seed)?;
    let prior = match cfg.vae {
        true => Some(generate(model, cfg, &prior_codes(model, 8, seed)?, seed)?),
        false => None,
    };
    let when = epoch.map_or(String::new(), |e| format!(", epoch {e}"));
    let title = format!(
        "{}: test clouds (blue) and generated (red){when}",
        cfg.data_name()
    );
    super::plots::samples(path, &title, &real, &recon, prior.as_ref())
}

/// A curve of (epoch, value) points.
pub type Curve = Vec<(f32, f32)>;

/// Per logged epoch (epoch, training loss) and per evaluation (epoch, test
/// Chamfer) from a run's metrics log.
pub fn curves(run: &RunDir) -> Result<(Curve, Curve)> {
    let (mut loss, mut ch) = (Vec::new(), Vec::new());
    for r in read_metrics(run.metrics())? {
        let epoch = r.metrics.get("epoch").copied().flatten().unwrap_or(0.0) as f32;
        if let Some(v) = r.metrics.get("train_loss").copied().flatten() {
            loss.push((epoch, v as f32));
        }
        if let Some(v) = r.metrics.get("test_chamfer").copied().flatten() {
            ch.push((epoch, v as f32));
        }
    }
    Ok((loss, ch))
}

/// The training task: one flow-matching loss per batch; evaluations score
/// and draw.
struct FlowTask<'a> {
    model: &'a FlowModel,
    cfg: &'a FlowRunConfig,
    loader: DataLoader<TensorDataset>,
    eval_ref: Tensor,
    test: &'a Tensor,
    run: &'a RunDir,
    no_plot: bool,
    steps_per_epoch: u64,
    order: Option<(u64, Vec<usize>)>,
    step: u64,
}

impl TrainTask for FlowTask<'_> {
    fn module(&self) -> &dyn Module {
        self.model
    }

    fn loss(&mut self, step: u64) -> Result<Var> {
        self.step = step;
        let (epoch, index) = (step / self.steps_per_epoch, step % self.steps_per_epoch);
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.order = Some((epoch, self.loader.order(epoch)));
        }
        let order = &self.order.as_ref().expect("set above").1;
        let b = self.loader.batch_size();
        let start = index as usize * b;
        let rows = &order[start..(start + b).min(order.len())];
        let batch = self.loader.dataset().get_batch(rows)?;
        let seed = derive_seed(self.cfg.seed, "noise") ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Ok(flow_loss(self.model, &batch[0], seed)?.total)
    }

    fn validate(&mut self) -> Result<Vec<(String, f64)>> {
        let seed = derive_seed(self.cfg.seed, "valid");
        let recon = reconstruct(self.model, self.cfg, &self.eval_ref, seed)?;
        let v = mean(&chamfer_batch(&recon, &self.eval_ref)?);
        if !self.no_plot {
            let epoch = (self.step + 1).div_ceil(self.steps_per_epoch);
            let (mut loss, mut ch) = curves(self.run)?;
            // This evaluation's row is not in the log yet.
            ch.push((epoch as f32, v as f32));
            loss.retain(|p| p.1.is_finite());
            let title = format!("flow matching on {}", self.cfg.data_name());
            super::plots::loss_trajectory(
                &self.run.file("loss_trajectory.png"),
                &title,
                &loss,
                &ch,
            )?;
            draw_samples(
                &self.run.file("samples.png"),
                self.model,
                self.cfg,
                self.test,
                Some(epoch),
            )?;
        }
        Ok(vec![("test_chamfer".into(), v)])
    }

    fn metadata(&self) -> Result<BTreeMap<String, String>> {
        metadata(self.cfg)
    }
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// The evaluation of the final model (written to `eval.json`).
    pub eval: EvalReport,
    /// Training and test clouds.
    pub clouds: (usize, usize),
    /// The driver's summary.
    pub fit: FitSummary,
}

/// Trains with `cfg` into `run` (or continues it with `resume`), then
/// evaluates the final model on every test cloud.
pub fn train(
    cfg: &FlowRunConfig,
    run: &RunDir,
    resume: bool,
    no_plot: bool,
    reporter: &mut dyn Reporter,
) -> Result<TrainSummary> {
    cfg.validate()?;
    reporter.report(Event::Phase(format!(
        "drawing clouds of {}",
        cfg.data_name()
    )));
    let data: FlowData = source::load(cfg)?;
    if !resume {
        run.write_json(crate::run::dir::CONFIG_FILE, cfg)?;
    }
    let model = FlowModel::new(cfg.model(), derive_seed(cfg.seed, "init"))?;
    let mut opt = Adam::new(
        model.params(),
        AdamConfig {
            lr: cfg.lr,
            ..AdamConfig::default()
        },
    )?;
    let loader = DataLoader::new(TensorDataset::new(vec![data.train.clone()])?, cfg.batch)?
        .shuffle(derive_seed(cfg.seed, "batches"));
    let spe = loader.num_batches() as u64;
    let total = spe * cfg.epochs as u64;
    let mut cosine = CosineAnnealing::new(cfg.lr, total, cfg.min_lr)?;
    let settings = LoopSettings {
        steps_per_epoch: Some(spe),
        valid_every: spe * cfg.eval_every as u64,
        save_every: spe * cfg.save_every as u64,
        max_nonfinite: cfg.max_nonfinite,
        clip_grad_norm: (cfg.clip > 0.0).then_some(cfg.clip),
        ..LoopSettings::steps(total, spe)
    };
    let n_eval = cfg.eval_clouds.min(data.test.dims()[0]);
    let mut task = FlowTask {
        model: &model,
        cfg,
        loader,
        eval_ref: data.test.narrow(0, 0, n_eval)?,
        test: &data.test,
        run,
        no_plot,
        steps_per_epoch: spe,
        order: None,
        step: 0,
    };
    let sched = Schedule {
        scheduler: &mut cosine,
        timing: SchedulerTiming::EveryStep,
    };
    let fit = fit(
        &mut task,
        &mut opt,
        Some(sched),
        &settings,
        run,
        resume,
        cfg.seed,
        reporter,
    )?;
    reporter.report(Event::Phase(format!(
        "scoring the final model on all {} test clouds",
        data.test.dims()[0]
    )));
    let mut eval = evaluate(&model, cfg, &data.test)?;
    eval.step = Some(fit.state.step);
    eval.train_seconds = Some(fit.state.train_seconds);
    run.write_json(crate::run::dir::EVAL_FILE, &eval)?;
    if !no_plot {
        reporter.report(Event::Phase("drawing plots".into()));
        let (loss, ch) = curves(run)?;
        let title = format!("flow matching on {}", cfg.data_name());
        super::plots::loss_trajectory(&run.file("loss_trajectory.png"), &title, &loss, &ch)?;
        draw_samples(&run.file("samples.png"), &model, cfg, &data.test, None)?;
    }
    Ok(TrainSummary {
        eval,
        clouds: (data.train.dims()[0], data.test.dims()[0]),
        fit,
    })
}

#[cfg(test)]
mod tests;
