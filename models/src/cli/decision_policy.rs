//! `ferrograd decision policy train|eval`: the imitation policy for 2-D
//! navigation (behaviour cloning, optionally DAgger).

use super::output::{note, Output};
use super::progress::Terminal;
use crate::decision::policy::{self, PolicyRunConfig};
use crate::run::RunArgs;
use clap::{ArgMatches, Args, Subcommand};
use ferrograd_nn::Result;
use std::path::PathBuf;

/// Imitation-policy actions.
#[derive(Subcommand, Debug)]
pub enum PolicyAction {
    /// Draw expert demonstrations in the built-in simulator, train the
    /// policy by behaviour cloning (and DAgger with --dagger), and evaluate
    /// it: held-out action accuracy, closed-loop success over new episodes
    /// beside the expert's, trajectories.png.
    Train(Box<TrainArgs>),
    /// Score a checkpoint: held-out action accuracy and closed-loop success
    /// over new episodes beside the expert's.
    Eval(EvalArgs),
}

/// Options of `decision policy train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    config: PolicyRunConfig,
}

/// Options of `decision policy eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint written by `decision policy train`
    /// (checkpoints/last.safetensors, or bc.safetensors of a DAgger run).
    #[arg(long)]
    checkpoint: PathBuf,
    /// New episodes to drive (default: the run's --eval-episodes).
    #[arg(long)]
    episodes: Option<usize>,
    /// Seed of the episodes (default: the run's evaluation episodes).
    #[arg(long)]
    seed: Option<u64>,
    /// Draw a few of the episodes to this PNG.
    #[arg(long, value_name = "FILE.png")]
    plot: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs a `decision policy` command; `m` are its parsed arguments.
pub fn run(action: PolicyAction, m: &ArgMatches, out: &mut Output) -> Result<()> {
    match action {
        PolicyAction::Train(a) => train_cmd(*a, m, out),
        PolicyAction::Eval(a) => {
            let r =
                policy::evaluate_checkpoint(&a.checkpoint, a.episodes, a.seed, a.plot.as_deref())?;
            if let Some(p) = &a.plot {
                note(format!("wrote {}", p.display()));
            }
            if a.json {
                let j = serde_json::to_string_pretty(&r)
                    .map_err(|e| ferrograd_nn::Error::Config(format!("report: {e}")))?;
                out.line(j)
            } else {
                out.line(&r)
            }
        }
    }
}

fn train_cmd(a: TrainArgs, m: &ArgMatches, out: &mut Output) -> Result<()> {
    let (cfg, run, resume) = super::prepare(
        &a.run,
        m,
        PolicyRunConfig::test_preset,
        PolicyRunConfig::validate,
        "epochs",
        |c: &PolicyRunConfig| {
            PathBuf::from(match c.dagger {
                true => "runs/policy-dagger",
                false => "runs/policy",
            })
        },
    )?;
    out.line(format!(
        "{} an imitation policy ({}) on {} expert demonstrations: {:?} hidden, {} epochs of batch {} → {}",
        if resume { "resuming" } else { "training" },
        cfg.method(),
        cfg.demos,
        cfg.hidden.0,
        cfg.epochs,
        cfg.batch,
        run.root().display()
    ))?;
    let mut reporter = Terminal::new(a.run.quiet);
    let s = policy::train(&cfg, &run, resume, a.run.no_plot, &mut reporter).inspect_err(|_| {
        run.remove_if_empty();
    })?;
    drop(reporter);
    if s.fit.state.skipped_steps > 0 {
        out.line(format!(
            "{} batches skipped for a non-finite loss or gradient",
            s.fit.state.skipped_steps
        ))?;
    }
    out.line(format!(
        "trained {} steps in {:.1} s; evaluated in {:.1} s",
        s.fit.state.step, s.fit.state.train_seconds, s.eval.eval_seconds
    ))?;
    out.line(&s.eval)?;
    out.line(format!("wrote {}", run.root().display()))
}
