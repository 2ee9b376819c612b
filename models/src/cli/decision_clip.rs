//! `ferrograd decision clip train|eval`: the CLIP-style dual encoder of
//! shape scenes and captions.

use super::output::{note, Output};
use super::progress::Terminal;
use crate::decision::clip::{self, ClipRunConfig};
use crate::run::RunArgs;
use clap::{ArgMatches, Args, Subcommand};
use ferrograd_nn::Result;
use std::path::PathBuf;

/// Dual-encoder actions.
#[derive(Subcommand, Debug)]
pub enum ClipAction {
    /// Train on rendered shape scenes and their captions; writes the
    /// configuration, metrics, checkpoints (with the vocabulary), eval.json
    /// and retrieval.png into the run folder.
    Train(Box<TrainArgs>),
    /// Score a checkpoint on its run's test scenes: retrieval (seen and
    /// held-out combinations) and zero-shot attribute accuracy.
    Eval(EvalArgs),
}

/// Options of `decision clip train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    config: ClipRunConfig,
}

/// Options of `decision clip eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint written by `decision clip train`
    /// (checkpoints/best.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Also draw held-out test scenes with their top-3 captions here.
    #[arg(long, value_name = "FILE.png")]
    png: Option<PathBuf>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs a `decision clip` command; `m` are its parsed arguments.
pub fn run(action: ClipAction, m: &ArgMatches, out: &mut Output) -> Result<()> {
    match action {
        ClipAction::Train(a) => train_cmd(*a, m, out),
        ClipAction::Eval(a) => {
            let (r, l, d) = clip::evaluate_checkpoint(&a.checkpoint)?;
            if let Some(png) = &a.png {
                clip::train::draw(png, &l.model, &l.vocab, &d)?;
                note(format!("wrote {}", png.display()));
            }
            if a.json {
                let text = serde_json::to_string_pretty(&r)
                    .map_err(|e| ferrograd_nn::Error::Config(format!("eval report: {e}")))?;
                out.line(text)
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
        ClipRunConfig::test_preset,
        ClipRunConfig::validate,
        "steps",
        |_| PathBuf::from("runs/decision-clip"),
    )?;
    out.line(format!(
        "{} the dual encoder on {}: {} steps of batch {} → {}",
        if resume { "resuming" } else { "training" },
        cfg.data_name(),
        cfg.steps,
        cfg.batch,
        run.root().display()
    ))?;
    let mut reporter = Terminal::new(a.run.quiet);
    let s = clip::train(&cfg, &run, resume, a.run.no_plot, &mut reporter).inspect_err(|_| {
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
        "trained in {:.1} s; best checkpoint at step {}",
        s.fit.state.train_seconds,
        s.fit.state.best_step.unwrap_or(0)
    ))?;
    out.line(&s.eval)?;
    out.line(format!("wrote {}", run.root().display()))
}
