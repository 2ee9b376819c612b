//! The sinusoid regression benchmark of Finn et al. (2017): meta-training
//! (MAML, first-order MAML, Meta-SGD) and the "pretrained" baseline, the
//! 600-task evaluation, checkpoints and plots.

use super::learner::{Maml, MamlConfig, TaskBatch, TaskLoss};
use super::stats::MeanCi;
use super::tasks::{SineTask, Sinusoid, TaskDistribution};
use crate::plot::{chart, Series};
use ferrograd_autograd::Var;
use ferrograd_nn::checkpoint::{Checkpoint, TrainingState, META_CONFIG, META_TRAINING_STATE};
use ferrograd_nn::layers::activation::Activation;
use ferrograd_nn::layers::mlp::Mlp;
use ferrograd_nn::optim::{Adam, AdamConfig, Optimizer};
use ferrograd_nn::train::{derive_seed, MetricsLogger, Progress};
use ferrograd_nn::{Error, Forward, Module, Result};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How the initial parameters are trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// MAML with second-order meta-gradients.
    Maml,
    /// First-order MAML (inner gradients treated as constants).
    FirstOrder,
    /// Meta-SGD: MAML with learned per-parameter inner learning rates.
    MetaSgd,
    /// One network trained on all tasks jointly, fine-tuned at test time.
    Pretrained,
}

/// Every setting of a sinusoid run (saved with its checkpoint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinusoidConfig {
    /// How the initialisation is trained.
    pub method: Method,
    /// K: support (and, in meta-training, query) examples per task.
    pub shots: usize,
    /// Inner SGD steps during meta-training.
    pub inner_steps: usize,
    /// Inner learning rate α (also the fine-tuning rate at evaluation).
    pub inner_lr: f32,
    /// Tasks per meta-batch.
    pub meta_batch: usize,
    /// Meta-iterations (Adam steps).
    pub iterations: usize,
    /// Adam's learning rate for the meta-update.
    pub meta_lr: f64,
    /// Hidden widths of the ReLU network (1-h₁-…-1).
    pub hidden: Vec<usize>,
    /// Base seed of the run.
    pub seed: u64,
    /// Held-out evaluation tasks.
    pub eval_tasks: usize,
    /// Query points per evaluation task.
    pub eval_points: usize,
    /// Log the meta-training loss every this many iterations.
    pub log_every: usize,
}

impl Default for SinusoidConfig {
    /// The paper's setting: K = 10, one inner step with α = 0.01, 25 tasks
    /// per meta-batch, Adam 1e-3, a 1-40-40-1 ReLU network, 70,000
    /// iterations; evaluation on 600 tasks with 100 query points.
    fn default() -> Self {
        SinusoidConfig {
            method: Method::Maml,
            shots: 10,
            inner_steps: 1,
            inner_lr: 0.01,
            meta_batch: 25,
            iterations: 70_000,
            meta_lr: 1e-3,
            hidden: vec![40, 40],
            seed: 1,
            eval_tasks: 600,
            eval_points: 100,
            log_every: 100,
        }
    }
}

/// The regression network: a ReLU MLP held as child `net`, so parameters are
/// named `net.0.weight` … like the PyTorch reference.
pub struct SineNet {
    /// The layers.
    pub net: Mlp,
}

impl SineNet {
    /// A 1-h₁-…-1 ReLU network, seeded.
    pub fn new(hidden: &[usize], seed: u64) -> Result<SineNet> {
        let mut sizes = vec![1];
        sizes.extend_from_slice(hidden);
        sizes.push(1);
        Ok(SineNet {
            net: Mlp::new(&sizes, Activation::Relu, seed)?,
        })
    }
}

impl Module for SineNet {
    fn visit(&self, c: &mut ferrograd_nn::Collector) {
        c.child("net", &self.net);
    }
}

impl Forward for SineNet {
    fn forward_with(&self, p: &dyn ferrograd_nn::ParamSource, x: &Var) -> Result<Var> {
        self.net.forward_with(p, x)
    }
}

/// The meta-learner of a configuration (its network freshly initialised).
pub fn learner(cfg: &SinusoidConfig) -> Result<Maml<SineNet>> {
    let net = SineNet::new(&cfg.hidden, derive_seed(cfg.seed, "init"))?;
    let config = MamlConfig {
        inner_steps: cfg.inner_steps,
        inner_lr: cfg.inner_lr,
        first_order: cfg.method == Method::FirstOrder,
        loss: TaskLoss::Mse,
    };
    Ok(Maml::new(net, config, cfg.method == Method::MetaSgd))
}

/// A meta-batch of `n` tasks with `shots` support and `queries` query points each.
pub fn sample_tasks(
    n: usize,
    shots: usize,
    queries: usize,
    rng: &mut StdRng,
) -> Vec<(SineTask, TaskBatch)> {
    (0..n)
        .map(|_| {
            let t = Sinusoid.sample_task(rng);
            let batch = TaskBatch {
                support: Sinusoid.sample(&t, shots, rng),
                query: Sinusoid.sample(&t, queries, rng),
            };
            (t, batch)
        })
        .collect()
}

/// What a finished training run reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainSummary {
    /// The meta-loss (or joint-training loss) of the last logged iteration.
    pub final_loss: f64,
    /// Wall time of training, in seconds.
    pub seconds: f64,
    /// Iterations run.
    pub iterations: usize,
    /// The checkpoint written.
    pub checkpoint: PathBuf,
}

/// The training loss of one iteration: MAML's meta-loss, or for the
/// pretrained baseline the MSE of the unadapted network on all points.
fn iteration_loss(m: &Maml<SineNet>, cfg: &SinusoidConfig, tasks: &[TaskBatch]) -> Result<Var> {
    if cfg.method != Method::Pretrained {
        return m.meta_loss(tasks);
    }
    let mut total = Var::scalar(0.0);
    for t in tasks {
        for e in [&t.support, &t.query] {
            let pred = m.model.forward(&Var::constant(e.x.clone()))?;
            total = total.add(&pred.mse(&Var::constant(e.y.clone()))?)?;
        }
    }
    Ok(total.mul_scalar(1.0 / (2 * tasks.len()) as f32))
}

/// Trains with `cfg` and writes into `out`: `metrics.jsonl`, `config.json`,
/// `checkpoint.safetensors` and (unless `no_plot`) `training_loss.png`.
pub fn train(cfg: &SinusoidConfig, out: &Path, quiet: bool, no_plot: bool) -> Result<TrainSummary> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })?;
    write_json(&out.join("config.json"), cfg)?;
    let m = learner(cfg)?;
    let mut opt = Adam::new(
        m.meta_params(),
        AdamConfig {
            lr: cfg.meta_lr,
            ..AdamConfig::default()
        },
    )?;
    let log = MetricsLogger::create(out.join("metrics.jsonl"))?;
    let mut rng = StdRng::seed_from_u64(derive_seed(cfg.seed, "meta-train tasks"));
    let mut progress = Progress::new(cfg.iterations as u64, quiet);
    let start = Instant::now();
    let (mut curve, mut window, mut final_loss) = (Vec::new(), Vec::new(), f64::NAN);
    for it in 1..=cfg.iterations {
        let tasks: Vec<TaskBatch> = sample_tasks(cfg.meta_batch, cfg.shots, cfg.shots, &mut rng)
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        let loss = iteration_loss(&m, cfg, &tasks)?;
        let value = loss.item()? as f64;
        if !value.is_finite() {
            return Err(Error::Config(format!(
                "maml: the meta-loss became {value} at iteration {it}"
            )));
        }
        opt.zero_grad();
        loss.backward()?;
        opt.step()?;
        window.push(value);
        if it % cfg.log_every.max(1) == 0 || it == cfg.iterations {
            final_loss = window.iter().sum::<f64>() / window.len() as f64;
            window.clear();
            log.log_values(it as u64, &[("meta_loss", final_loss)])?;
            curve.push((it as f32, final_loss as f32));
            progress.set_loss(final_loss);
        }
        progress.inc(1);
    }
    progress.finish();
    let seconds = start.elapsed().as_secs_f64();
    let checkpoint = out.join("checkpoint.safetensors");
    let mut ckpt = Checkpoint::from_module(&m);
    ckpt.set_json(META_CONFIG, cfg)?;
    let state = TrainingState {
        epoch: 0,
        step: cfg.iterations as u64,
        seed: cfg.seed,
    };
    ckpt.set_json(META_TRAINING_STATE, &state)?;
    ckpt.save(&checkpoint)?;
    if !no_plot {
        let label = format!("{:?}, K = {}", cfg.method, cfg.shots);
        chart(
            &out.join("training_loss.png"),
            "meta-training loss (mean over each logging window)",
            "iteration",
            "loss",
            &[Series::line(&label, curve)],
            true,
        )?;
    }
    Ok(TrainSummary {
        final_loss,
        seconds,
        iterations: cfg.iterations,
        checkpoint,
    })
}

/// A trained learner and its configuration, from a checkpoint.
pub fn load(path: &Path) -> Result<(SinusoidConfig, Maml<SineNet>)> {
    let ckpt = Checkpoint::load(path)?;
    let cfg: SinusoidConfig = ckpt.json(META_CONFIG)?.ok_or_else(|| Error::Format {
        path: path.to_path_buf(),
        problem: format!("metadata field '{META_CONFIG}' is missing: not a sinusoid checkpoint"),
    })?;
    let m = learner(&cfg)?;
    ckpt.load_into(&m).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    Ok((cfg, m))
}

/// Post-adaptation query MSE (mean and 95% interval over tasks) after each
/// number of fine-tuning steps 0..=`max_steps`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalReport {
    /// The method evaluated.
    pub method: Method,
    /// K.
    pub shots: usize,
    /// Tasks evaluated.
    pub tasks: usize,
    /// Index k: statistics after k steps.
    pub mse: Vec<MeanCi>,
}

/// Evaluates on `cfg.eval_tasks` held-out tasks (a seed of their own, the
/// same for every method and run), fine-tuning with SGD at α = `cfg.inner_lr`
/// on K support points, scoring on `cfg.eval_points` query points.
pub fn evaluate(cfg: &SinusoidConfig, m: &Maml<SineNet>, max_steps: usize) -> Result<EvalReport> {
    let mut rng = StdRng::seed_from_u64(0xE7A1_5EED);
    let tasks: Vec<TaskBatch> = sample_tasks(cfg.eval_tasks, cfg.shots, cfg.eval_points, &mut rng)
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    let per_step = m.evaluate(&tasks, max_steps)?;
    Ok(EvalReport {
        method: cfg.method,
        shots: cfg.shots,
        tasks: tasks.len(),
        mse: per_step.iter().map(|v| MeanCi::of(v)).collect(),
    })
}

/// For a few held-out tasks, plots the true curve, the K support points,
/// and the predictions after 0, 1 and 10 fine-tuning steps (the picture of
/// the paper's Figure 2), one PNG per task.
pub fn plot_adaptation(
    cfg: &SinusoidConfig,
    m: &Maml<SineNet>,
    out: &Path,
    count: usize,
) -> Result<Vec<PathBuf>> {
    let mut rng = StdRng::seed_from_u64(0x9107);
    let grid: Vec<f32> = (0..=200).map(|i| -5.0 + 0.05 * i as f32).collect();
    let grid_t = Tensor::from_vec(grid.clone(), &[grid.len(), 1])?;
    let mut paths = Vec::new();
    for (i, (task, batch)) in sample_tasks(count, cfg.shots, 1, &mut rng)
        .into_iter()
        .enumerate()
    {
        let probe = TaskBatch {
            support: batch.support.clone(),
            query: super::tasks::Examples {
                x: grid_t.clone(),
                y: grid_t.map(|x| task.eval(x)),
            },
        };
        let xs = Tensor::stack(&[&probe.support.x], 0)?;
        let ys = Tensor::stack(&[&probe.support.y], 0)?;
        let mut series = vec![Series::line(
            "true function",
            grid.iter().map(|&x| (x, task.eval(x))).collect(),
        )];
        for steps in [0, 1, 10] {
            let fast = m.adapt_batched(&xs, &ys, steps, false)?;
            let pred = m
                .model
                .forward_with(&fast, &Var::constant(grid_t.unsqueeze(0)?))?;
            let pts = grid
                .iter()
                .copied()
                .zip(pred.value().data().iter().copied())
                .collect();
            let unit = if steps == 1 { "step" } else { "steps" };
            series.push(Series::line(&format!("after {steps} {unit}"), pts));
        }
        let support = probe
            .support
            .x
            .data()
            .iter()
            .copied()
            .zip(probe.support.y.data().iter().copied())
            .collect();
        series.push(Series::dots(
            &format!("{} support points", cfg.shots),
            support,
        ));
        let path = out.join(format!("adaptation_task{i}.png"));
        let title = format!(
            "{:?}, K = {}: A = {:.2}, φ = {:.2}",
            cfg.method, cfg.shots, task.amplitude, task.phase
        );
        chart(&path, &title, "x", "y", &series, false)?;
        paths.push(path);
    }
    Ok(paths)
}

/// Writes `value` as pretty JSON to `path` (temporary file, then rename).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| Error::Config(format!("json: {e}")))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|source| Error::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(method: Method) -> SinusoidConfig {
        SinusoidConfig {
            method,
            shots: 5,
            iterations: 30,
            meta_batch: 4,
            hidden: vec![16, 16],
            eval_tasks: 20,
            eval_points: 20,
            log_every: 10,
            meta_lr: 3e-3,
            ..SinusoidConfig::default()
        }
    }

    #[test]
    fn train_save_load_evaluate_round_trip() {
        let dir = std::env::temp_dir().join(format!("ferrograd-sine-{}", std::process::id()));
        for method in [Method::Maml, Method::MetaSgd, Method::Pretrained] {
            let cfg = tiny(method);
            let out = dir.join(format!("{method:?}"));
            let s = train(&cfg, &out, true, true).unwrap();
            assert!(s.final_loss.is_finite());
            let (loaded_cfg, m) = load(&s.checkpoint).unwrap();
            assert_eq!(loaded_cfg, cfg);
            let r = evaluate(&loaded_cfg, &m, 2).unwrap();
            assert_eq!(r.mse.len(), 3);
            assert!(r.mse.iter().all(|s| s.mean.is_finite()));
            let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
            assert_eq!(log.lines().count(), 3);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
