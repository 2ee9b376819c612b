//! `ferrograd decision intent train|eval|predict`: the intent transformer.

use super::output::{note, Output};
use super::progress::Terminal;
use crate::decision::intent::predict::to_prediction;
use crate::decision::intent::text::words;
use crate::decision::intent::{self, IntentModel, IntentRunConfig};
use crate::run::RunArgs;
use clap::{ArgMatches, Args, Subcommand};
use ferrograd_nn::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Intent-transformer actions.
#[derive(Subcommand, Debug)]
pub enum IntentAction {
    /// Train on the built-in commands (or your JSON lines); writes the
    /// configuration, metrics, checkpoints, eval.json and
    /// loss_trajectory.png into the run folder.
    Train(Box<TrainArgs>),
    /// Score a checkpoint: intent accuracy and slot F1 on its run's
    /// held-out phrasings and typo set, or on a JSON-lines file.
    Eval(EvalArgs),
    /// Parse commands: one JSON line {"text", "intent", "probability",
    /// "slots"} per command.
    Predict(PredictArgs),
}

/// Options of `decision intent train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    config: IntentRunConfig,
}

/// Options of `decision intent eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint written by `decision intent train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Labelled commands (JSON lines) to score instead of the run's test
    /// sets.
    #[arg(long, value_name = "FILE.jsonl")]
    data: Option<PathBuf>,
}

/// Options of `decision intent predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A checkpoint written by `decision intent train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Commands to parse.
    #[arg(value_name = "TEXT", conflicts_with = "input")]
    texts: Vec<String>,
    /// A file of commands, one per line (`-` for standard input); blank
    /// lines are skipped.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
}

/// Runs a `decision intent` command; `m` are its parsed arguments.
pub fn run(action: IntentAction, m: &ArgMatches, out: &mut Output) -> Result<()> {
    match action {
        IntentAction::Train(a) => train_cmd(*a, m, out),
        IntentAction::Eval(a) => {
            let r = intent::evaluate_checkpoint(&a.checkpoint, a.data.as_deref())?;
            out.line(&r)?;
            for (name, s) in &r.sets {
                out.line(format!(
                    "{name}_intent_accuracy {:.4}\n{name}_slot_f1 {:.4}",
                    s.intent_accuracy, s.slot_f1
                ))?;
            }
            Ok(())
        }
        IntentAction::Predict(a) => predict_cmd(a, out),
    }
}

fn train_cmd(a: TrainArgs, m: &ArgMatches, out: &mut Output) -> Result<()> {
    let (cfg, run, resume) = super::prepare(
        &a.run,
        m,
        IntentRunConfig::test_preset,
        IntentRunConfig::validate,
        "steps",
        |_: &IntentRunConfig| PathBuf::from("runs/intent"),
    )?;
    out.line(format!(
        "{} the intent transformer on {}: {} steps of batch {}, d {} × {} layers → {}",
        if resume { "resuming" } else { "training" },
        cfg.data_name(),
        cfg.steps,
        cfg.batch,
        cfg.d_model,
        cfg.layers,
        run.root().display()
    ))?;
    let mut reporter = Terminal::new(a.run.quiet);
    let s = intent::train(&cfg, &run, resume, a.run.no_plot, &mut reporter).inspect_err(|_| {
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
        "{} training / {} validation commands; trained in {:.1} s",
        s.commands.0, s.commands.1, s.fit.state.train_seconds
    ))?;
    out.line(&s.eval)?;
    out.line(format!("wrote {}", run.root().display()))
}

/// The commands of `path` (or standard input for `-`) with their line
/// numbers, blank lines skipped.
fn read_lines(path: &Path) -> Result<Vec<(usize, String)>> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|source| Error::Io {
                path: PathBuf::from("standard input"),
                source,
            })?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
    };
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .collect())
}

fn predict_cmd(a: PredictArgs, out: &mut Output) -> Result<()> {
    let (source, lines) = match &a.input {
        Some(p) => (
            match p.as_os_str() == "-" {
                true => PathBuf::from("standard input"),
                false => p.clone(),
            },
            read_lines(p)?,
        ),
        None if a.texts.is_empty() => {
            return Err(Error::Config(
                "decision intent predict: give a command (\"bring me the water\") or \
                 --input FILE (one command per line, - for standard input)"
                    .into(),
            ))
        }
        None => (
            PathBuf::from("the command line"),
            a.texts
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, t)| (i + 1, t))
                .collect(),
        ),
    };
    let m = IntentModel::load(&a.checkpoint)?;
    let max_len = m.config.max_len;
    for (line, text) in &lines {
        let n = words(text).len();
        let problem = match n {
            0 => Some(format!("{text:?} has no words")),
            n if n > max_len => Some(format!(
                "{n} words, more than the {max_len} the model reads"
            )),
            _ => None,
        };
        if let Some(problem) = problem {
            let what = if a.input.is_some() { "line" } else { "command" };
            return Err(Error::Format {
                path: source,
                problem: format!("{what} {line}: {problem}"),
            });
        }
    }
    if lines.is_empty() {
        note(format!("{}: no commands", source.display()));
        return Ok(());
    }
    for chunk in lines.chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
        for (text, p) in texts.iter().zip(m.parse(&texts)?) {
            let json = serde_json::to_string(&to_prediction(text, &p))
                .map_err(|e| Error::Config(format!("prediction: {e}")))?;
            out.line(json)?;
        }
        if out.is_closed() {
            break;
        }
    }
    Ok(())
}
