//! `ferrograd maml sinusoid train|eval` and `ferrograd maml classify`.

use crate::maml::classification::{self, ClassifyConfig};
use crate::maml::sinusoid::{self, Method, SinusoidConfig};
use clap::{Args, Subcommand, ValueEnum};
use ferrograd_nn::Result;
use std::path::PathBuf;

/// MAML benchmarks.
#[derive(Subcommand, Debug)]
pub enum Benchmark {
    /// Sinusoid regression (Finn et al., 2017).
    Sinusoid {
        /// What to do.
        #[command(subcommand)]
        action: SinusoidAction,
    },
    /// N-way K-shot classification of synthetic Gaussian clusters: MAML
    /// against training from scratch on the support set.
    Classify(ClassifyArgs),
}

/// Sinusoid actions.
#[derive(Subcommand, Debug)]
pub enum SinusoidAction {
    /// Meta-train (or pretrain) and evaluate; writes metrics, checkpoint,
    /// configuration, evaluation and plots into --out.
    Train(TrainArgs),
    /// Evaluate a checkpoint on the 600 held-out tasks.
    Eval(EvalArgs),
}

/// How the initialisation is trained.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MethodArg {
    /// MAML, second order.
    Maml,
    /// First-order MAML.
    FirstOrder,
    /// Meta-SGD (learned per-parameter inner rates).
    MetaSgd,
    /// Joint training on all tasks, fine-tuned at test time.
    Pretrained,
}

/// Options of `maml sinusoid train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Output folder.
    #[arg(long, default_value = "runs/maml-sinusoid")]
    out: PathBuf,
    /// How the initialisation is trained.
    #[arg(long, value_enum, default_value = "maml")]
    method: MethodArg,
    /// Shorthand for --method first-order.
    #[arg(long)]
    first_order: bool,
    /// K, support points per task.
    #[arg(long, default_value_t = 10)]
    shots: usize,
    /// Inner SGD steps during meta-training.
    #[arg(long, default_value_t = 1)]
    inner_steps: usize,
    /// Inner learning rate α.
    #[arg(long, default_value_t = 0.01)]
    inner_lr: f32,
    /// Tasks per meta-batch.
    #[arg(long, default_value_t = 25)]
    meta_batch: usize,
    /// Meta-iterations.
    #[arg(long, default_value_t = 70_000)]
    iterations: usize,
    /// Adam learning rate of the meta-update.
    #[arg(long, default_value_t = 1e-3)]
    meta_lr: f64,
    /// Seed of the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A run of a few seconds (for CI): 200 iterations, 100 evaluation tasks.
    #[arg(long)]
    test: bool,
    /// Do not draw PNG plots.
    #[arg(long)]
    no_plot: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Options of `maml sinusoid eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint written by `maml sinusoid train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Also draw adaptation plots into this folder.
    #[arg(long)]
    plots: Option<PathBuf>,
}

/// Options of `maml classify`.
#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Output folder.
    #[arg(long, default_value = "runs/maml-classify")]
    out: PathBuf,
    /// Classes per task (N).
    #[arg(long, default_value_t = 5)]
    ways: usize,
    /// Examples per class in the support set (K).
    #[arg(long, default_value_t = 5)]
    shots: usize,
    /// Meta-iterations.
    #[arg(long, default_value_t = 3000)]
    iterations: usize,
    /// Seed of the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A run of a few seconds (for CI).
    #[arg(long)]
    test: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Runs a MAML command.
pub fn run(b: Benchmark, _m: &clap::ArgMatches, _out: &mut super::Output) -> Result<()> {
    match b {
        Benchmark::Sinusoid {
            action: SinusoidAction::Train(a),
        } => train(a),
        Benchmark::Sinusoid {
            action: SinusoidAction::Eval(a),
        } => eval(a),
        Benchmark::Classify(a) => classify(a),
    }
}

fn train(a: TrainArgs) -> Result<()> {
    let method = match (a.first_order, a.method) {
        (true, _) | (_, MethodArg::FirstOrder) => Method::FirstOrder,
        (_, MethodArg::Maml) => Method::Maml,
        (_, MethodArg::MetaSgd) => Method::MetaSgd,
        (_, MethodArg::Pretrained) => Method::Pretrained,
    };
    let mut cfg = SinusoidConfig {
        method,
        shots: a.shots,
        inner_steps: a.inner_steps,
        inner_lr: a.inner_lr,
        meta_batch: a.meta_batch,
        iterations: a.iterations,
        meta_lr: a.meta_lr,
        seed: a.seed,
        ..SinusoidConfig::default()
    };
    if a.test {
        cfg.iterations = 200;
        cfg.eval_tasks = 100;
        cfg.log_every = 20;
    }
    println!(
        "training {:?} on sinusoids, K = {}, {} iterations → {}",
        cfg.method,
        cfg.shots,
        cfg.iterations,
        a.out.display()
    );
    let s = sinusoid::train(&cfg, &a.out, a.quiet, a.no_plot)?;
    println!(
        "final training loss {:.4} after {:.1} s",
        s.final_loss, s.seconds
    );
    let (cfg, m) = sinusoid::load(&s.checkpoint)?;
    let report = sinusoid::evaluate(&cfg, &m, 10)?;
    print_report(&report);
    sinusoid::write_json(&a.out.join("eval.json"), &report)?;
    if !a.no_plot {
        sinusoid::plot_adaptation(&cfg, &m, &a.out, 3)?;
    }
    println!("wrote {}", a.out.display());
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    let (cfg, m) = sinusoid::load(&a.checkpoint)?;
    let report = sinusoid::evaluate(&cfg, &m, 10)?;
    print_report(&report);
    if let Some(dir) = a.plots {
        std::fs::create_dir_all(&dir).map_err(|source| ferrograd_nn::Error::Io {
            path: dir.clone(),
            source,
        })?;
        for p in sinusoid::plot_adaptation(&cfg, &m, &dir, 3)? {
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}

fn print_report(r: &sinusoid::EvalReport) {
    println!(
        "{:?}, K = {}: query MSE over {} held-out tasks (mean ± 95% CI)",
        r.method, r.shots, r.tasks
    );
    for steps in [0, 1, 10] {
        if let Some(s) = r.mse.get(steps) {
            println!("  after {steps:2} steps: {s}");
        }
    }
}

fn classify(a: ClassifyArgs) -> Result<()> {
    let mut cfg = ClassifyConfig {
        ways: a.ways,
        shots: a.shots,
        iterations: a.iterations,
        seed: a.seed,
        ..ClassifyConfig::default()
    };
    if a.test {
        cfg.iterations = 100;
        cfg.eval_tasks = 50;
    }
    let r = classification::run(&cfg, &a.out, a.quiet)?;
    println!(
        "{}-way {}-shot accuracy on {} new tasks (mean ± 95% CI):",
        cfg.ways, cfg.shots, r.tasks
    );
    println!("  MAML, {} steps:          {}", cfg.inner_steps, r.maml);
    println!(
        "  from scratch, {} steps:  {}",
        cfg.inner_steps, r.scratch_same_steps
    );
    println!("  from scratch, {} steps: {}", cfg.scratch_steps, r.scratch);
    Ok(())
}
