//! Few-shot classification on a synthetic task family: N-way K-shot tasks of
//! Gaussian clusters ([`GaussianClusters`]); MAML against training the same
//! network from scratch on each task's support set.

use super::learner::{Maml, MamlConfig, TaskBatch, TaskLoss};
use super::sinusoid::write_json;
use super::stats::MeanCi;
use super::tasks::{GaussianClusters, TaskDistribution};
use ferrograd_autograd::Var;
use ferrograd_nn::checkpoint::{Checkpoint, META_CONFIG};
use ferrograd_nn::layers::activation::Activation;
use ferrograd_nn::layers::mlp::Mlp;
use ferrograd_nn::optim::{Adam, AdamConfig, Optimizer};
use ferrograd_nn::train::{derive_seed, MetricsLogger, Progress};
use ferrograd_nn::{Error, Forward, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Settings of a classification run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifyConfig {
    /// Classes per task (N).
    pub ways: usize,
    /// Support examples per class (K).
    pub shots: usize,
    /// Query examples per class.
    pub queries: usize,
    /// Feature dimension.
    pub dim: usize,
    /// Standard deviation of the class centres (noise is N(0, I)).
    pub spread: f32,
    /// Hidden widths of the ReLU network.
    pub hidden: Vec<usize>,
    /// Inner SGD steps (meta-training and adaptation).
    pub inner_steps: usize,
    /// Inner learning rate α (also the from-scratch learning rate).
    pub inner_lr: f32,
    /// SGD steps of the from-scratch baseline.
    pub scratch_steps: usize,
    /// Tasks per meta-batch.
    pub meta_batch: usize,
    /// Meta-iterations.
    pub iterations: usize,
    /// Adam learning rate of the meta-update.
    pub meta_lr: f64,
    /// New tasks evaluated.
    pub eval_tasks: usize,
    /// Base seed.
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
            hidden: vec![64, 64],
            inner_steps: 5,
            inner_lr: 0.1,
            scratch_steps: 100,
            meta_batch: 16,
            iterations: 3000,
            meta_lr: 1e-3,
            eval_tasks: 500,
            seed: 1,
        }
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
    let mut sizes = vec![cfg.dim];
    sizes.extend_from_slice(&cfg.hidden);
    sizes.push(cfg.ways);
    Mlp::new(&sizes, Activation::Relu, seed)
}

fn learner(cfg: &ClassifyConfig, seed: u64) -> Result<Maml<Mlp>> {
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

/// Meta-trains, then compares with training from scratch; writes
/// `config.json`, `metrics.jsonl`, `checkpoint.safetensors` and `eval.json`.
pub fn run(cfg: &ClassifyConfig, out: &Path, quiet: bool) -> Result<ClassifyReport> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })?;
    write_json(&out.join("config.json"), cfg)?;
    let m = learner(cfg, derive_seed(cfg.seed, "init"))?;
    let mut opt = Adam::new(
        m.meta_params(),
        AdamConfig {
            lr: cfg.meta_lr,
            ..AdamConfig::default()
        },
    )?;
    let log = MetricsLogger::create(out.join("metrics.jsonl"))?;
    let mut rng = StdRng::seed_from_u64(derive_seed(cfg.seed, "meta-train tasks"));
    let progress = Progress::new(cfg.iterations as u64, quiet);
    let start = std::time::Instant::now();
    for it in 1..=cfg.iterations {
        let loss = m.meta_loss(&tasks(cfg, cfg.meta_batch, &mut rng))?;
        opt.zero_grad();
        loss.backward()?;
        opt.step()?;
        if it % 50 == 0 || it == cfg.iterations {
            log.log_values(it as u64, &[("meta_loss", loss.item()? as f64)])?;
        }
        progress.inc(1);
    }
    progress.finish();
    let seconds = start.elapsed().as_secs_f64();
    let mut ckpt = Checkpoint::from_module(&m.model);
    ckpt.set_json(META_CONFIG, cfg)?;
    ckpt.save(out.join("checkpoint.safetensors"))?;
    let mut eval_rng = StdRng::seed_from_u64(0x0C1A_55E5);
    let test = tasks(cfg, cfg.eval_tasks, &mut eval_rng);
    let maml = MeanCi::of(&accuracy(&m, &test, cfg.inner_steps)?);
    let scratch_model = learner(cfg, derive_seed(cfg.seed, "scratch init"))?;
    let scratch_same_steps = MeanCi::of(&accuracy(&scratch_model, &test, cfg.inner_steps)?);
    let scratch = MeanCi::of(&accuracy(&scratch_model, &test, cfg.scratch_steps)?);
    let report = ClassifyReport {
        tasks: test.len(),
        maml,
        scratch_same_steps,
        scratch,
        seconds,
    };
    write_json(&out.join("eval.json"), &report)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_beats_chance_and_writes_its_files() {
        let cfg = ClassifyConfig {
            iterations: 40,
            eval_tasks: 40,
            hidden: vec![32],
            ..ClassifyConfig::default()
        };
        let dir = std::env::temp_dir().join(format!("ferrograd-classify-{}", std::process::id()));
        let r = run(&cfg, &dir, true).unwrap();
        assert!(r.maml.mean > 1.0 / cfg.ways as f64, "{:?}", r);
        for f in [
            "config.json",
            "metrics.jsonl",
            "checkpoint.safetensors",
            "eval.json",
        ] {
            assert!(dir.join(f).exists(), "{f}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
