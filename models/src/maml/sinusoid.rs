//! The sinusoid regression benchmark of Finn et al. (2017): meta-training
//! (MAML, first-order MAML, Meta-SGD) and the "pretrained" baseline, the
//! 600-task evaluation, checkpoints and plots.

use super::learner::{Maml, MamlConfig, TaskBatch, TaskLoss};
use super::meta_train::{meta_fit, metadata, monitor, step_rng, MetaLoop};
use super::stats::MeanCi;
use super::tasks::{SineTask, Sinusoid, TaskDistribution};
use crate::plot::{chart, Series};
use crate::run::config::{Checks, List};
use crate::run::{check_claimed_size, family_checkpoint, Event, FitSummary, Reporter, RunDir};
use ferrograd_autograd::Var;
use ferrograd_nn::checkpoint::Checkpoint;
use ferrograd_nn::layers::activation::Activation;
use ferrograd_nn::layers::mlp::Mlp;
use ferrograd_nn::train::{derive_seed, read_metrics};
use ferrograd_nn::{Error, Forward, Module, Result};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How the initial parameters are trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
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

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Maml => "maml",
            Method::FirstOrder => "first-order",
            Method::MetaSgd => "meta-sgd",
            Method::Pretrained => "pretrained",
        })
    }
}

fn d() -> SinusoidConfig {
    SinusoidConfig::default()
}

/// Every setting of a sinusoid run: the flags of `maml sinusoid train`, the
/// keys of its YAML configuration and of `config.json`.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinusoidConfig {
    /// How the initialisation is trained.
    #[arg(long, value_enum, default_value_t = d().method)]
    pub method: Method,
    /// K: support (and, in meta-training, query) examples per task.
    #[arg(long, default_value_t = d().shots)]
    pub shots: usize,
    /// Inner SGD steps during meta-training.
    #[arg(long, default_value_t = d().inner_steps)]
    pub inner_steps: usize,
    /// Inner learning rate α (also the fine-tuning rate at evaluation).
    #[arg(long, default_value_t = d().inner_lr)]
    pub inner_lr: f32,
    /// Tasks per meta-batch.
    #[arg(long, default_value_t = d().meta_batch)]
    pub meta_batch: usize,
    /// Meta-iterations (Adam steps).
    #[arg(long, default_value_t = d().iterations)]
    pub iterations: usize,
    /// Adam's learning rate for the meta-update.
    #[arg(long, default_value_t = d().meta_lr)]
    pub meta_lr: f64,
    /// Hidden widths of the ReLU network (1-h₁-…-1), a comma list.
    #[arg(long, default_value_t = d().hidden)]
    pub hidden: List<usize>,
    /// Base seed of the run.
    #[arg(long, default_value_t = d().seed)]
    pub seed: u64,
    /// Held-out evaluation tasks.
    #[arg(long, default_value_t = d().eval_tasks)]
    pub eval_tasks: usize,
    /// Query points per evaluation task.
    #[arg(long, default_value_t = d().eval_points)]
    pub eval_points: usize,
    /// Log the meta-training loss every this many iterations.
    #[arg(long, default_value_t = d().log_every)]
    pub log_every: usize,
    /// Score the validation tasks every this many iterations (picks the
    /// best checkpoint).
    #[arg(long, default_value_t = d().valid_every)]
    pub valid_every: usize,
    /// Validation tasks (their own seed, apart from training and evaluation).
    #[arg(long, default_value_t = d().valid_tasks)]
    pub valid_tasks: usize,
    /// Stop after this many validations without improvement.
    #[arg(long)]
    pub patience: Option<u64>,
    /// Stop with an error after this many non-finite meta-losses in a row.
    #[arg(long, default_value_t = d().max_nonfinite)]
    pub max_nonfinite: u64,
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
            hidden: List(vec![40, 40]),
            seed: 1,
            eval_tasks: 600,
            eval_points: 100,
            log_every: 100,
            valid_every: 1_000,
            valid_tasks: 100,
            patience: None,
            max_nonfinite: 20,
        }
    }
}

impl SinusoidConfig {
    /// The number of weights and biases of the network of this
    /// configuration (1 → hidden… → 1), `None` if it overflows `usize`;
    /// computed without building anything, so a loader can refuse a
    /// configuration claiming more than its file holds.
    pub fn min_value_count(&self) -> Option<usize> {
        let mut widths = vec![1];
        widths.extend(&self.hidden.0);
        widths.push(1);
        crate::run::sizes::dense(&widths)
    }

    /// The loop settings of a run.
    pub fn meta_loop(&self) -> MetaLoop {
        MetaLoop {
            iterations: self.iterations,
            meta_lr: self.meta_lr,
            log_every: self.log_every,
            valid_every: self.valid_every,
            patience: self.patience,
            max_nonfinite: self.max_nonfinite,
            seed: self.seed,
        }
    }

    /// The `--test` preset: 200 iterations, 100 evaluation tasks.
    pub fn test_preset(cfg: &mut SinusoidConfig) {
        cfg.iterations = 200;
        cfg.eval_tasks = 100;
        cfg.log_every = 20;
        cfg.valid_every = 100;
        cfg.valid_tasks = 50;
    }

    /// Checks every setting, naming the flag at fault and its range.
    pub fn validate(&self) -> Result<()> {
        let c = Checks("maml sinusoid");
        c.at_least(&[
            ("shots", self.shots, 1),
            ("inner_steps", self.inner_steps, 1),
            ("meta_batch", self.meta_batch, 1),
            ("iterations", self.iterations, 1),
            ("eval_tasks", self.eval_tasks, 2),
            ("eval_points", self.eval_points, 1),
            ("log_every", self.log_every, 1),
            ("valid_every", self.valid_every, 1),
            ("valid_tasks", self.valid_tasks, 1),
        ])?;
        c.positive("inner_lr", self.inner_lr as f64)?;
        c.positive("meta_lr", self.meta_lr)?;
        c.widths("hidden", &self.hidden.0)?;
        c.loop_limits(self.max_nonfinite, self.patience)
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
    let net = SineNet::new(&cfg.hidden.0, derive_seed(cfg.seed, "init"))?;
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

/// The family name in sinusoid checkpoints.
pub const FAMILY: &str = "maml-sinusoid";

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

fn batches(tasks: Vec<(SineTask, TaskBatch)>) -> Vec<TaskBatch> {
    tasks.into_iter().map(|(_, b)| b).collect()
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// The evaluation of the best checkpoint (written to `eval.json`).
    pub eval: EvalReport,
    /// The driver's summary.
    pub fit: FitSummary,
}

/// Trains with `cfg` into `run` (or continues the run there with
/// `resume`), evaluates the best checkpoint (by the validation tasks' MSE
/// after `inner_steps` steps) on the held-out tasks, and draws
/// `training_loss.png` and `adaptation_task{0,1,2}.png` unless `no_plot`.
pub fn train(
    cfg: &SinusoidConfig,
    run: &RunDir,
    resume: bool,
    no_plot: bool,
    reporter: &mut dyn Reporter,
) -> Result<TrainSummary> {
    cfg.validate()?;
    if !resume {
        run.write_json(crate::run::dir::CONFIG_FILE, cfg)?;
    }
    let m = learner(cfg)?;
    let mut rng = StdRng::seed_from_u64(derive_seed(cfg.seed, "validation tasks"));
    let valid = batches(sample_tasks(
        cfg.valid_tasks,
        cfg.shots,
        cfg.eval_points,
        &mut rng,
    ));
    let fit = meta_fit(
        &m,
        &m,
        &cfg.meta_loop(),
        monitor("valid_mse", false),
        metadata(FAMILY, cfg)?,
        |step| {
            let mut rng = step_rng(cfg.seed, step);
            let tasks = batches(sample_tasks(cfg.meta_batch, cfg.shots, cfg.shots, &mut rng));
            iteration_loss(&m, cfg, &tasks)
        },
        || {
            let per_step = m.evaluate(&valid, cfg.inner_steps)?;
            let last = per_step.last().map(|v| MeanCi::of(v).mean);
            Ok(vec![("valid_mse".into(), last.unwrap_or(f64::NAN))])
        },
        run,
        resume,
        reporter,
    )?;
    reporter.report(Event::Phase(format!(
        "evaluating the best checkpoint on {} held-out tasks",
        cfg.eval_tasks
    )));
    let (_, best) = load(&run.best())?;
    let eval = evaluate(cfg, &best, 10)?;
    run.write_json(crate::run::dir::EVAL_FILE, &eval)?;
    if !no_plot {
        reporter.report(Event::Phase("drawing plots".into()));
        let curve: Vec<(f32, f32)> = read_metrics(run.metrics())?
            .iter()
            .filter_map(|r| {
                Some((
                    r.step as f32,
                    r.metrics.get("train_loss").copied().flatten()? as f32,
                ))
            })
            .collect();
        let label = format!("{}, K = {}", cfg.method, cfg.shots);
        chart(
            &run.file("training_loss.png"),
            "meta-training loss (mean over each logging window)",
            "iteration",
            "loss",
            &[Series::line(&label, curve)],
            true,
        )?;
        plot_adaptation(cfg, &best, run.root(), 3)?;
    }
    Ok(TrainSummary { eval, fit })
}

/// A trained learner and its configuration, from a checkpoint written by
/// [`train`]; a checkpoint of another family is an error saying what it is.
pub fn load(path: &Path) -> Result<(SinusoidConfig, Maml<SineNet>)> {
    let (ckpt, cfg): (Checkpoint, SinusoidConfig) = family_checkpoint(path, FAMILY)?;
    check_claimed_size(cfg.min_value_count(), &ckpt, path)?;
    let m = learner(&cfg).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        problem: format!("bad configuration: {e}"),
    })?;
    ckpt.load_into(&m).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        problem: format!("the tensors do not fit the recorded network: {e}"),
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
            "{}, K = {}: A = {:.2}, φ = {:.2}",
            cfg.method, cfg.shots, task.amplitude, task.phase
        );
        chart(&path, &title, "x", "y", &series, false)?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{OpenMode, Silent};

    fn tiny(method: Method) -> SinusoidConfig {
        SinusoidConfig {
            method,
            shots: 5,
            iterations: 30,
            meta_batch: 4,
            hidden: List(vec![16, 16]),
            eval_tasks: 20,
            eval_points: 20,
            log_every: 10,
            valid_every: 10,
            valid_tasks: 10,
            meta_lr: 3e-3,
            ..SinusoidConfig::default()
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("ferrograd-sine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn train_save_load_evaluate_round_trip() {
        for method in [Method::Maml, Method::MetaSgd, Method::Pretrained] {
            let cfg = tiny(method);
            let out = tmp(&format!("{method}"));
            let run = RunDir::open(&out, OpenMode::Fresh).unwrap();
            let s = train(&cfg, &run, false, true, &mut Silent).unwrap();
            assert!(s.fit.state.best.unwrap().is_finite());
            let (loaded_cfg, m) = load(&run.best()).unwrap();
            assert_eq!(loaded_cfg, cfg);
            let r = evaluate(&loaded_cfg, &m, 2).unwrap();
            assert_eq!(r.mse.len(), 3);
            assert!(r.mse.iter().all(|s| s.mean.is_finite()));
            let log = read_metrics(run.metrics()).unwrap();
            assert_eq!(log.len(), 3);
            assert!(log
                .iter()
                .all(|r| r.metrics["train_loss"].is_some() && r.metrics["valid_mse"].is_some()));
            assert!(run.eval().is_file());
            std::fs::remove_dir_all(&out).unwrap();
        }
    }

    #[test]
    fn resuming_repeats_an_uninterrupted_run_bit_for_bit() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        pool.install(|| {
            let long = SinusoidConfig {
                iterations: 40,
                ..tiny(Method::Maml)
            };
            let short = SinusoidConfig {
                iterations: 20,
                ..long.clone()
            };
            let (a, b) = (tmp("straight"), tmp("resumed"));
            train(
                &long,
                &RunDir::open(&a, OpenMode::Fresh).unwrap(),
                false,
                true,
                &mut Silent,
            )
            .unwrap();
            train(
                &short,
                &RunDir::open(&b, OpenMode::Fresh).unwrap(),
                false,
                true,
                &mut Silent,
            )
            .unwrap();
            let run_b = RunDir::open(&b, OpenMode::Resume).unwrap();
            let s = train(&long, &run_b, true, true, &mut Silent).unwrap();
            assert_eq!(s.fit.steps_this_run, 20);
            let ta = Checkpoint::load(a.join("checkpoints/last.safetensors")).unwrap();
            let tb = Checkpoint::load(b.join("checkpoints/last.safetensors")).unwrap();
            assert_eq!(ta.tensors.len(), tb.tensors.len());
            for (name, t) in &ta.tensors {
                let bits = |t: &ferrograd_tensor::Tensor| {
                    t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                };
                assert_eq!(bits(t), bits(&tb.tensors[name]), "{name}");
            }
            std::fs::remove_dir_all(&a).unwrap();
            std::fs::remove_dir_all(&b).unwrap();
        });
    }

    #[test]
    fn nonsense_settings_are_refused_by_name() {
        let cases: Vec<(SinusoidConfig, &str)> = vec![
            (
                SinusoidConfig {
                    iterations: 0,
                    ..d()
                },
                "--iterations",
            ),
            (
                SinusoidConfig {
                    inner_lr: -1.0,
                    ..d()
                },
                "--inner-lr",
            ),
            (
                SinusoidConfig {
                    meta_lr: 0.0,
                    ..d()
                },
                "--meta-lr",
            ),
            (
                SinusoidConfig {
                    meta_batch: 0,
                    ..d()
                },
                "--meta-batch",
            ),
            (SinusoidConfig { shots: 0, ..d() }, "--shots"),
            (
                SinusoidConfig {
                    hidden: List(vec![0]),
                    ..d()
                },
                "--hidden",
            ),
        ];
        for (cfg, flag) in cases {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(flag), "{flag}: {e}");
        }
    }
}
