//! The `ferrograd` command line: argument parsing (clap) and dispatch. Every
//! command returns a `Result`; `main` prints the error and exits non-zero.
//! Standard output goes through [`output::Output`], so a closed pipe or a
//! full disk never panics.

mod cde;
mod decision_all;
mod decision_clip;
mod decision_intent;
mod decision_policy;
mod decision_run;
mod export;
mod flow;
mod maml;
pub mod output;
pub mod progress;
mod regress;
mod world;

use crate::run::config::{read_saved, resolve_sections, resume_config};
use crate::run::{OpenMode, RunArgs, RunDir};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use ferrograd_nn::Result;
use output::Output;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;

/// ferrograd: train and evaluate small models.
#[derive(Parser, Debug)]
#[command(name = "ferrograd", version, about, allow_negative_numbers = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Model-agnostic meta-learning.
    Maml {
        /// The benchmark.
        #[command(subcommand)]
        benchmark: maml::Benchmark,
    },
    /// Conditional density estimation (MAF, full-covariance MDN).
    Cde {
        /// What to do.
        #[command(subcommand)]
        action: cde::CdeAction,
    },
    /// Flow-matching generator of 2-D point clouds (MNIST digits).
    Flow {
        /// What to do.
        #[command(subcommand)]
        action: flow::FlowAction,
    },
    /// Decision models: the intent transformer, the imitation policy, the
    /// CLIP-style dual encoder.
    Decision {
        /// The model.
        #[command(subcommand)]
        model: DecisionModel,
    },
    /// World Models on the built-in Catch environment: collect, train the
    /// VAE and the MDN-RNN, plan in the dream.
    World {
        /// What to do.
        #[command(subcommand)]
        action: world::WorldAction,
    },
    /// Regression surrogates of simulation rollouts (HDF5 or CSV).
    Regress {
        /// What to do.
        #[command(subcommand)]
        action: regress::RegressAction,
    },
    /// Export a MAF, MDN, MLP or regression checkpoint for the embedded
    /// runtime: a blob, a Rust source file and a C header.
    Export(export::ExportArgs),
}

/// The models of `ferrograd decision`.
#[derive(Subcommand, Debug)]
pub enum DecisionModel {
    /// Train the intent transformer, the imitation policy (DAgger), the
    /// dual encoder and the MAML few-shot classifier into one folder, with
    /// a summary table.
    TrainAll(decision_all::TrainAllArgs),
    /// Parse a command with the intent model and drive the policy to the
    /// place it names, in the navigation simulator.
    Run(decision_run::RunArgs),
    /// CLIP-style dual encoder of rendered shape scenes and captions.
    Clip {
        /// What to do.
        #[command(subcommand)]
        action: decision_clip::ClipAction,
    },
    /// Imitation policy for 2-D navigation (behaviour cloning, DAgger).
    Policy {
        /// What to do.
        #[command(subcommand)]
        action: decision_policy::PolicyAction,
    },
    /// The intent transformer: a command's intent and slot values.
    Intent {
        /// What to do.
        #[command(subcommand)]
        action: decision_intent::IntentAction,
    },
}

/// The matches of the innermost subcommand (where a command's own flags are).
fn leaf(m: &ArgMatches) -> &ArgMatches {
    let mut m = m;
    while let Some((_, sub)) = m.subcommand() {
        m = sub;
    }
    m
}

/// A family's configuration and run folder from the flags: `--resume DIR`
/// (the saved configuration; only `length` may change), or a new run from
/// defaults, `--test`, `--config` and flags into `--out` (or
/// `default_out(config)`). The configuration is validated before any file
/// of an earlier run is touched.
fn prepare<C>(
    run: &RunArgs,
    m: &ArgMatches,
    test: fn(&mut C),
    validate: fn(&C) -> Result<()>,
    length: &str,
    default_out: impl FnOnce(&C) -> PathBuf,
) -> Result<(C, RunDir, bool)>
where
    C: FromArgMatches + Serialize + DeserializeOwned + Default,
{
    prepare_sections(run, m, test, validate, length, default_out, &[])
}

/// [`prepare`] for a family whose YAML files may group their keys in
/// `sections` (see [`crate::run::config::flatten_sections`]).
fn prepare_sections<C>(
    run: &RunArgs,
    m: &ArgMatches,
    test: fn(&mut C),
    validate: fn(&C) -> Result<()>,
    length: &str,
    default_out: impl FnOnce(&C) -> PathBuf,
    sections: &[&str],
) -> Result<(C, RunDir, bool)>
where
    C: FromArgMatches + Serialize + DeserializeOwned + Default,
{
    if let Some(dir) = &run.resume {
        let saved: C = read_saved(&dir.join(crate::run::dir::CONFIG_FILE))?;
        let cfg = resume_config(m, &saved, &[length])?;
        validate(&cfg)?;
        return Ok((cfg, RunDir::open(dir, OpenMode::Resume)?, true));
    }
    let cfg: C = resolve_sections(m, run.config.as_deref(), run.test.then_some(test), sections)?;
    validate(&cfg)?;
    let dir = run.out.clone().unwrap_or_else(|| default_out(&cfg));
    let mode = if run.overwrite {
        OpenMode::Overwrite
    } else {
        OpenMode::Fresh
    };
    Ok((cfg, RunDir::open(dir, mode)?, false))
}

/// Every subcommand accepts negative numbers as values (`--lr -0.001` is a
/// value, for `validate()` to judge, not an unknown flag `-0`).
fn command() -> clap::Command {
    fn negatives(c: clap::Command) -> clap::Command {
        c.allow_negative_numbers(true).mut_subcommands(negatives)
    }
    negatives(Cli::command())
}

/// Parses the process arguments and runs the command.
pub fn run() -> ferrograd_nn::Result<()> {
    let matches = command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let m = leaf(&matches);
    // Every training command has --detect-anomaly (RunArgs).
    if let Ok(Some(true)) = m.try_get_one::<bool>("detect_anomaly") {
        ferrograd_autograd::anomaly::enable();
    }
    on_pool(move || dispatch(cli, m))
}

/// Runs `f` on a worker of rayon's global pool (started here with 8 MB
/// stacks, the main thread's size, unless something started it before).
/// A kernel that splits its work across the pool then keeps a share on the
/// calling worker and hands the rest to the others, instead of waking the
/// pool from outside and sleeping until it is done: at two threads this
/// halves the CPU time of a gradient-penalty step on a busy machine.
fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(8 << 20)
        .build_global();
    rayon::scope(|_| f())
}

/// The subcommand's work.
fn dispatch(cli: Cli, m: &clap::ArgMatches) -> ferrograd_nn::Result<()> {
    let mut out = Output::new();
    match cli.command {
        Command::Maml { benchmark } => maml::run(benchmark, m, &mut out),
        Command::Cde { action } => cde::run(action, m, &mut out),
        Command::Flow { action } => flow::run(action, m, &mut out),
        Command::Decision { model } => match model {
            DecisionModel::TrainAll(a) => decision_all::run(a, &mut out),
            DecisionModel::Run(a) => decision_run::run(a, &mut out),
            DecisionModel::Clip { action } => decision_clip::run(action, m, &mut out),
            DecisionModel::Policy { action } => decision_policy::run(action, m, &mut out),
            DecisionModel::Intent { action } => decision_intent::run(action, m, &mut out),
        },
        Command::Regress { action } => regress::run(action, m, &mut out),
        Command::World { action } => world::run(action, m, &mut out),
        Command::Export(args) => export::run(args, &mut out),
    }
}
