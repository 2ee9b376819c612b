//! Few-shot classification on a synthetic task family: N-way K-shot tasks of
//! Gaussian clusters ([`GaussianClusters`]); MAML against training the same
//! network from scratch on each task's support set.

use super::learner::{Maml, MamlConfig, TaskBatch, TaskLoss};
use super::meta_train::{meta_fit, metadata, monitor, step_rng, MetaLoop};
use super::stats::MeanCi;
use super::tasks::{GaussianClusters, TaskDistribution};
use crate::run::config::{Checks, List};
use crate::run::{check_claimed_size, family_checkpoint, Event, Reporter, RunDir};
use ferrograd_autograd::Var;
use ferrograd_nn::checkpoint::Checkpoint;
use ferrograd_nn::layers::activation::Activation;
use ferrograd_nn::layers::mlp::Mlp;
use ferrograd_nn::train::derive_seed;
use ferrograd_nn::{Error, Forward, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::Path;

fn d() -> ClassifyConfig {
    ClassifyConfig::default()
}

/// Settings of a classification run: the flags of `maml classify`, the
/// keys of its YAML configuration and of `config.json`.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifyConfig {
    /// Classes per task (N, at least 2).
    #[arg(long, default_value_t = d().ways)]
    pub ways: usize,
    /// Support examples per class (K).
    #[arg(long, default_value_t = d().shots)]
    pub shots: usize,
    /// Query examples per class.
    #[arg(long, default_value_t = d().queries)]
    pub queries: usize,
    /// Feature dimension.
    #[arg(long, default_value_t = d().dim)]
    pub dim: usize,
    /// Standard deviation of the class centres (noise is N(0, I)).
    #[arg(long, default_value_t = d().spread)]
    pub spread: f32,
    /// Hidden widths of the ReLU network, a comma list.
    #[arg(long, default_value_t = d().hidden)]
    pub hidden: List<usize>,
    /// Inner SGD steps (meta-training and adaptation).
    #[arg(long, default_value_t = d().inner_steps)]
    pub inner_steps: usize,
    /// Inner learning rate α (also the from-scratch learning rate).
    #[arg(long, default_value_t = d().inner_lr)]
    pub inner_lr: f32,
    /// SGD steps of the from-scratch baseline.
    #[arg(long, default_value_t = d().scratch_steps)]
    pub scratch_steps: usize,
    /// Tasks per meta-batch.
    #[arg(long, default_value_t = d().meta_batch)]
    pub meta_batch: usize,
    /// Meta-iterations.
    #[arg(long, default_value_t = d().iterations)]
    pub iterations: usize,
    /// Adam learning rate of the meta-update.
    #[arg(long, default_value_t = d().meta_lr)]
    pub meta_lr: f64,
    /// New tasks evaluated.
    #[arg(long, default_value_t = d().eval_tasks)]
    pub eval_tasks: usize,
    /// Validation tasks (their own seed).
    #[arg(long, default_value_t = d().valid_tasks)]
    pub valid_tasks: usize,
    /// Log every this many iterations.
    #[arg(long, default_value_t = d().log_every)]
    pub log_every: usize,
    /// Validate every this many iterations (picks the best checkpoint).
    #[arg(long, default_value_t = d().valid_every)]
    pub valid_every: usize,
    /// Stop after this many validations without improvement.
    #[arg(long)]
    pub patience: Option<u64>,
    /// Stop with an error after this many non-finite meta-losses in a row.
    #[arg(long, default_value_t = d().max_nonfinite)]
    pub max_nonfinite: u64,
    /// Base seed.
    #[arg(long, default_value_t = d().seed)]
    pub seed: u64,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        ClassifyConfig {
            ways: 5,
            shots: 5,
            queries: 15,
            dim: 8,
            spread: 1.5,
            hidden: List(vec![64, 64]),
            inner_steps: 5,
            inner_lr: 0.1,
            scratch_steps: 100,
            meta_batch: 16,
            iterations: 3000,
            meta_lr: 1e-3,
            eval_tasks: 500,
            valid_tasks: 100,
            log_every: 50,
            valid_every: 250,
            patience: None,
            max_nonfinite: 20,
            seed: 1,
        }
    }
}

impl ClassifyConfig {
    /// The number of weights and biases of the network of this
    /// configuration (dim → hidden… → ways), `None` if it overflows `usize`;
    /// computed without building anything, so a loader can refuse a
    /// configuration claiming more than its file holds.
    pub fn min_value_count(&self) -> Option<usize> {
        crate::run::sizes::dense(&self.widths())
    }

    /// The network's widths: `dim`, the hidden widths, `ways`.
    fn widths(&self) -> Vec<usize> {
        let mut widths = vec![self.dim];
        widths.extend(&self.hidden.0);
        widths.push(self.ways);
        widths
    }

    /// The `--test` preset: 100 iterations, 50 evaluation tasks.
    pub fn test_preset(cfg: &mut ClassifyConfig) {
        cfg.iterations = 100;
        cfg.eval_tasks = 50;
        cfg.valid_tasks = 20;
        cfg.log_every = 20;
        cfg.valid_every = 50;
    }

    /// Checks every setting, naming the flag at fault and its range.
    pub fn validate(&self) -> Result<()> {
        let c = Checks("maml classify");
        c.at_least(&[
            ("ways", self.ways, 2),
            ("shots", self.shots, 1),
            ("queries", self.queries, 1),
            ("dim", self.dim, 1),
            ("inner_steps", self.inner_steps, 1),
            ("scratch_steps", self.scratch_steps, 1),
            ("meta_batch", self.meta_batch, 1),
            ("iterations", self.iterations, 1),
            ("eval_tasks", self.eval_tasks, 2),
            ("valid_tasks", self.valid_tasks, 1),
            ("log_every", self.log_every, 1),
            ("valid_every", self.valid_every, 1),
        ])?;
        c.positive("spread", self.spread as f64)?;
        c.positive("inner_lr", self.inner_lr as f64)?;
        c.positive("meta_lr", self.meta_lr)?;
        c.widths("hidden", &self.hidden.0)?;
        c.loop_limits(self.max_nonfinite, self.patience)
    }
}

/// Accuracy of MAML and of the from-scratch baseline on new tasks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClassifyReport {
    /// Tasks evaluated.
    pub tasks: usize,
    /// MAML after `inner_steps` steps.
    pub maml: MeanCi,
    /// From scratch after the same `inner_steps` steps.
    pub scratch_same_steps: MeanCi,
    /// From scratch after `scratch_steps` steps.
    pub scratch: MeanCi,
    /// Training time in seconds.
    pub seconds: f64,
}

fn network(cfg: &ClassifyConfig, seed: u64) -> Result<Mlp> {
    Mlp::new(&cfg.widths(), Activation::Relu, seed)
}

pub(crate) fn learner(cfg: &ClassifyConfig, seed: u64) -> Result<Maml<Mlp>> {
    let config = MamlConfig {
        inner_steps: cfg.inner_steps,
        inner_lr: cfg.inner_lr,
        first_order: false,
        loss: TaskLoss::CrossEntropy,
    };
    Ok(Maml::new(network(cfg, seed)?, config, false))
}

fn tasks(cfg: &ClassifyConfig, n: usize, rng: &mut StdRng) -> Vec<TaskBatch> {
    let dist = GaussianClusters {
        ways: cfg.ways,
        dim: cfg.dim,
        spread: cfg.spread,
    };
    (0..n)
        .map(|_| {
            let t = dist.sample_task(rng);
            TaskBatch {
                support: dist.sample(&t, cfg.shots, rng),
                query: dist.sample(&t, cfg.queries, rng),
            }
        })
        .collect()
}

/// Per-task query accuracy after `steps` inner steps from `m`'s parameters.
pub fn accuracy(m: &Maml<Mlp>, batch: &[TaskBatch], steps: usize) -> Result<Vec<f32>> {
    let stack = |f: &dyn Fn(&TaskBatch) -> &ferrograd_tensor::Tensor| {
        let parts: Vec<_> = batch.iter().map(f).collect();
        ferrograd_tensor::Tensor::stack(&parts, 0)
    };
    let (xs, ys, xq, yq) = (
        stack(&|t| &t.support.x)?,
        stack(&|t| &t.support.y)?,
        stack(&|t| &t.query.x)?,
        stack(&|t| &t.query.y)?,
    );
    let fast = m.adapt_batched(&xs, &ys, steps, false)?;
    let logits = ferrograd_autograd::no_grad(|| m.model.forward_with(&fast, &Var::constant(xq)))?;
    let pred = logits.value().argmax(-1, false)?;
    let per_task = yq.dims()[1];
    Ok(pred
        .data()
        .chunks(per_task)
        .zip(yq.data().chunks(per_task))
        .map(|(p, y)| {
            p.iter().zip(y).filter(|(a, b)| **a as f32 == **b).count() as f32 / per_task as f32
        })
        .collect())
}

/// The family name in classification checkpoints.
pub const FAMILY: &str = "maml-classify";

/// A meta-trained network and its configuration from a checkpoint written
/// by [`run`].
pub fn load(path: &Path) -> Result<(ClassifyConfig, Maml<Mlp>)> {
    let (ckpt, cfg): (Checkpoint, ClassifyConfig) = family_checkpoint(path, FAMILY)?;
    check_claimed_size(cfg.min_value_count(), &ckpt, path)?;
    let m = learner(&cfg, 0)?;
    ckpt.load_into(&m.model).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        problem: format!("the tensors do not fit the recorded network: {e}"),
    })?;
    Ok((cfg, m))
}

/// Meta-trains into `run` (or continues it with `resume`), then compares
/// the best checkpoint (by validation accuracy) with training from scratch
/// on new tasks; writes `eval.json`.
pub fn run(
    cfg: &ClassifyConfig,
    run: &RunDir,
    resume: bool,
    reporter: &mut dyn Reporter,
) -> Result<ClassifyReport> {
    cfg.validate()?;
    if !resume {
        run.write_json(crate::run::dir::CONFIG_FILE, cfg)?;
    }
    let m = learner(cfg, derive_seed(cfg.seed, "init"))?;
    let mut valid_rng = StdRng::seed_from_u64(derive_seed(cfg.seed, "validation tasks"));
    let valid = tasks(cfg, cfg.valid_tasks, &mut valid_rng);
    let settings = MetaLoop {
        iterations: cfg.iterations,
        meta_lr: cfg.meta_lr,
        log_every: cfg.log_every,
        valid_every: cfg.valid_every,
        patience: cfg.patience,
        max_nonfinite: cfg.max_nonfinite,
        seed: cfg.seed,
    };
    let fit = meta_fit(
        &m,
        &m.model,
        &settings,
        monitor("valid_accuracy", true),
        metadata(FAMILY, cfg)?,
        |step| m.meta_loss(&tasks(cfg, cfg.meta_batch, &mut step_rng(cfg.seed, step))),
        || {
            let acc = MeanCi::of(&accuracy(&m, &valid, cfg.inner_steps)?).mean;
            Ok(vec![("valid_accuracy".into(), acc)])
        },
        run,
        resume,
        reporter,
    )?;
    reporter.report(Event::Phase(format!(
        "comparing with training from scratch on {} new tasks",
        cfg.eval_tasks
    )));
    let (_, best) = load(&run.best())?;
    let mut eval_rng = StdRng::seed_from_u64(0x0C1A_55E5);
    let test = tasks(cfg, cfg.eval_tasks, &mut eval_rng);
    let maml = MeanCi::of(&accuracy(&best, &test, cfg.inner_steps)?);
    let scratch_model = learner(cfg, derive_seed(cfg.seed, "scratch init"))?;
    let scratch_same_steps = MeanCi::of(&accuracy(&scratch_model, &test, cfg.inner_steps)?);
    let scratch = MeanCi::of(&accuracy(&scratch_model, &test, cfg.scratch_steps)?);
    let report = ClassifyReport {
        tasks: test.len(),
        maml,
        scratch_same_steps,
        scratch,
        seconds: fit.state.train_seconds,
    };
    run.write_json(crate::run::dir::EVAL_FILE, &report)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{OpenMode, Silent};

    #[test]
    fn a_short_run_beats_chance_and_writes_its_files() {
        let cfg = ClassifyConfig {
            iterations: 40,
            eval_tasks: 40,
            valid_every: 20,
            valid_tasks: 20,
            log_every: 10,
            hidden: List(vec![32]),
            ..ClassifyConfig::default()
        };
        let dir = std::env::temp_dir().join(format!("ferrograd-classify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let r = run(
            &cfg,
            &RunDir::open(&dir, OpenMode::Fresh).unwrap(),
            false,
            &mut Silent,
        )
        .unwrap();
        assert!(r.maml.mean > 1.0 / cfg.ways as f64, "{:?}", r);
        for f in [
            "config.json",
            "metrics.jsonl",
            "checkpoints/best.safetensors",
            "checkpoints/last.safetensors",
            "eval.json",
        ] {
            assert!(dir.join(f).exists(), "{f}");
        }
        let log = ferrograd_nn::train::read_metrics(dir.join("metrics.jsonl")).unwrap();
        assert_eq!(log.len(), 4);
        assert!(log.iter().all(|r| r.metrics["train_loss"].is_some()));
        assert_eq!(
            log.iter()
                .filter(|r| r.metrics.contains_key("valid_accuracy"))
                .count(),
            2
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_way_tasks_are_refused() {
        let e = ClassifyConfig { ways: 1, ..d() }
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("--ways") && e.contains("at least 2"), "{e}");
    }
}
