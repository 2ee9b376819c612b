//! `ferrograd maml sinusoid train|eval`, `ferrograd maml classify` and
//! `ferrograd maml tasks train|eval` (your own tasks, one CSV file each).

use super::output::Output;
use super::prepare;
use super::progress::Terminal;
use crate::maml::classification::{self, ClassifyConfig};
use crate::maml::sinusoid::{self, SinusoidConfig};
use crate::maml::stats::MeanCi;
use crate::maml::user_tasks::{self, UserTasksConfig};
use crate::run::RunArgs;
use clap::{ArgMatches, Args, Subcommand};
use ferrograd_nn::{Error, Result};
use std::path::{Path, PathBuf};

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
    Classify(Box<ClassifyArgs>),
    /// Regression on your own tasks: a folder of CSV files, one task each.
    Tasks {
        /// What to do.
        #[command(subcommand)]
        action: TasksAction,
    },
}

/// Sinusoid actions.
#[derive(Subcommand, Debug)]
pub enum SinusoidAction {
    /// Meta-train (or pretrain) and evaluate; writes the configuration,
    /// metrics, checkpoints, the evaluation and plots into the run folder.
    Train(Box<SinusoidTrainArgs>),
    /// Evaluate a checkpoint on the 600 held-out tasks.
    Eval(EvalArgs),
}

/// User-task actions.
#[derive(Subcommand, Debug)]
pub enum TasksAction {
    /// Meta-train on the training tasks of a folder and evaluate on its
    /// held-out tasks.
    Train(Box<TasksTrainArgs>),
    /// Evaluate a checkpoint on the held-out tasks of its folder (or of
    /// --tasks).
    Eval(TasksEvalArgs),
}

/// Options of `maml sinusoid train`.
#[derive(Args, Debug)]
pub struct SinusoidTrainArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    config: SinusoidConfig,
}

/// Options of `maml classify`.
#[derive(Args, Debug)]
pub struct ClassifyArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    config: ClassifyConfig,
}

/// Options of `maml tasks train`.
#[derive(Args, Debug)]
pub struct TasksTrainArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    config: UserTasksConfig,
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

/// Options of `maml tasks eval`.
#[derive(Args, Debug)]
pub struct TasksEvalArgs {
    /// A checkpoint written by `maml tasks train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// A folder of task files to evaluate on (all of them), instead of the
    /// held-out tasks of the training folder.
    #[arg(long)]
    tasks: Option<PathBuf>,
}

/// Runs a MAML command; `m` are its parsed arguments.
pub fn run(b: Benchmark, m: &ArgMatches, out: &mut Output) -> Result<()> {
    match b {
        Benchmark::Sinusoid {
            action: SinusoidAction::Train(a),
        } => train(*a, m, out),
        Benchmark::Sinusoid {
            action: SinusoidAction::Eval(a),
        } => eval(a, out),
        Benchmark::Classify(a) => classify(*a, m, out),
        Benchmark::Tasks {
            action: TasksAction::Train(a),
        } => tasks_train(*a, m, out),
        Benchmark::Tasks {
            action: TasksAction::Eval(a),
        } => tasks_eval(a, out),
    }
}

fn train(a: SinusoidTrainArgs, m: &ArgMatches, out: &mut Output) -> Result<()> {
    let (cfg, run, resume) = prepare(
        &a.run,
        m,
        SinusoidConfig::test_preset,
        SinusoidConfig::validate,
        "iterations",
        |_| "runs/maml-sinusoid".into(),
    )?;
    out.line(format!(
        "{} {} on sinusoids, K = {}, {} iterations → {}",
        if resume { "resuming" } else { "training" },
        cfg.method,
        cfg.shots,
        cfg.iterations,
        run.root().display()
    ))?;
    let mut reporter = Terminal::new(a.run.quiet);
    let s = sinusoid::train(&cfg, &run, resume, a.run.no_plot, &mut reporter)
        .inspect_err(|_| run.remove_if_empty())?;
    drop(reporter);
    out.line(format!(
        "trained in {:.1} s; best validation MSE {:.4} at iteration {}",
        s.fit.state.train_seconds,
        s.fit.state.best.unwrap_or(f64::NAN),
        s.fit.state.best_step.unwrap_or(0)
    ))?;
    print_report(&s.eval, out)?;
    out.line(format!("wrote {}", run.root().display()))
}

fn eval(a: EvalArgs, out: &mut Output) -> Result<()> {
    let (cfg, m) = sinusoid::load(&a.checkpoint)?;
    let report = sinusoid::evaluate(&cfg, &m, 10)?;
    print_report(&report, out)?;
    if let Some(dir) = a.plots {
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        for p in sinusoid::plot_adaptation(&cfg, &m, &dir, 3)? {
            out.line(format!("wrote {}", p.display()))?;
        }
    }
    Ok(())
}

fn print_report(r: &sinusoid::EvalReport, out: &mut Output) -> Result<()> {
    let header = format!(
        "{}, K = {}: query MSE over {} held-out tasks (mean ± 95% CI)",
        r.method, r.shots, r.tasks
    );
    print_mse(&header, &r.mse, out)
}

/// The header, then the MSE after 0, 1 and 10 fine-tuning steps.
fn print_mse(header: &str, mse: &[MeanCi], out: &mut Output) -> Result<()> {
    out.line(header)?;
    for steps in [0, 1, 10] {
        if let Some(s) = mse.get(steps) {
            let unit = if steps == 1 { "step " } else { "steps" };
            out.line(format!("  after {steps:2} {unit}: {s}"))?;
        }
    }
    Ok(())
}

fn classify(a: ClassifyArgs, m: &ArgMatches, out: &mut Output) -> Result<()> {
    let (cfg, run, resume) = prepare(
        &a.run,
        m,
        ClassifyConfig::test_preset,
        ClassifyConfig::validate,
        "iterations",
        |_| "runs/maml-classify".into(),
    )?;
    out.line(format!(
        "{} {}-way {}-shot MAML, {} iterations → {}",
        if resume { "resuming" } else { "training" },
        cfg.ways,
        cfg.shots,
        cfg.iterations,
        run.root().display()
    ))?;
    let mut reporter = Terminal::new(a.run.quiet);
    let r = classification::run(&cfg, &run, resume, &mut reporter)
        .inspect_err(|_| run.remove_if_empty())?;
    drop(reporter);
    out.line(format!(
        "{}-way {}-shot accuracy on {} new tasks (mean ± 95% CI):",
        cfg.ways, cfg.shots, r.tasks
    ))?;
    out.line(format!(
        "  MAML, {} steps:          {}",
        cfg.inner_steps, r.maml
    ))?;
    out.line(format!(
        "  from scratch, {} steps:  {}",
        cfg.inner_steps, r.scratch_same_steps
    ))?;
    out.line(format!(
        "  from scratch, {} steps: {}",
        cfg.scratch_steps, r.scratch
    ))?;
    out.line(format!("wrote {}", run.root().display()))
}

fn tasks_train(a: TasksTrainArgs, m: &ArgMatches, out: &mut Output) -> Result<()> {
    let (cfg, run, resume) = prepare(
        &a.run,
        m,
        UserTasksConfig::test_preset,
        UserTasksConfig::validate,
        "iterations",
        |_| "runs/maml-tasks".into(),
    )?;
    out.line(format!(
        "{} MAML on the tasks in {}, K = {}, {} iterations → {}",
        if resume { "resuming" } else { "training" },
        cfg.tasks.as_deref().unwrap_or(Path::new("?")).display(),
        cfg.shots,
        cfg.iterations,
        run.root().display()
    ))?;
    let mut reporter = Terminal::new(a.run.quiet);
    let s = user_tasks::train(&cfg, &run, resume, &mut reporter)
        .inspect_err(|_| run.remove_if_empty())?;
    drop(reporter);
    print_user_report(&s.eval, out)?;
    out.line(format!("wrote {}", run.root().display()))
}

fn tasks_eval(a: TasksEvalArgs, out: &mut Output) -> Result<()> {
    let r = user_tasks::evaluate_checkpoint(&a.checkpoint, a.tasks.as_deref())?;
    print_user_report(&r, out)
}

fn print_user_report(r: &user_tasks::EvalReport, out: &mut Output) -> Result<()> {
    let header = format!(
        "K = {}: query MSE over {} held-out tasks, in the target's units (mean ± 95% CI)",
        r.shots,
        r.tasks.len()
    );
    print_mse(&header, &r.mse, out)
}
