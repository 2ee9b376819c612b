//! `ferrograd cde train|eval|score|sample`: conditional density estimation.

use super::output::{note, Output};
use super::progress::Terminal;
use crate::cde::source::read_split;
use crate::cde::{self, CdeConfig};
use crate::run::config::List;
use crate::run::{RunArgs, RunDir};
use clap::{ArgMatches, Args, Subcommand};
use ferrograd_nn::{Error, Result};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Conditional density actions.
#[derive(Subcommand, Debug)]
pub enum CdeAction {
    /// Train a MAF or an MDN on a built-in data set or your CSV; writes the
    /// configuration, metrics, checkpoints, the evaluation and plots into
    /// the run folder.
    Train(Box<TrainArgs>),
    /// Print the test NLL of a checkpoint (and the true NLL where known), or
    /// the mean NLL of the rows of --data.
    Eval(EvalArgs),
    /// Write log p(x | f) of every row of a CSV file.
    Score(ScoreArgs),
    /// Write samples of x at one feature vector as CSV.
    Sample(SampleArgs),
}

/// Options of `cde train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    config: CdeConfig,
}

/// Options of `cde eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint written by `cde train` (checkpoints/best.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
    /// A CSV file with the columns the model was trained on: print its mean
    /// NLL instead of the test split's.
    #[arg(long, value_name = "FILE.csv")]
    data: Option<PathBuf>,
}

/// Options of `cde score`.
#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// A checkpoint written by `cde train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// A CSV file with the columns the model was trained on (by name).
    #[arg(long, value_name = "FILE.csv")]
    data: PathBuf,
    /// The CSV file to write (`log_prob`, one row per input row); default:
    /// standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Options of `cde sample`.
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A checkpoint written by `cde train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The feature vector f: one value per conditioning column, comma
    /// separated (`0.5`, or `0.2,1.5`).
    #[arg(long)]
    feature: List<f32>,
    /// Number of samples.
    #[arg(short = 'n', long = "samples", default_value_t = 1000)]
    n: usize,
    /// Seed of the samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CSV file to write (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs a `cde` command; `m` are its parsed arguments.
pub fn run(action: CdeAction, m: &ArgMatches, out: &mut Output) -> Result<()> {
    match action {
        CdeAction::Train(a) => train_cmd(*a, m, out),
        CdeAction::Eval(a) => eval_cmd(a, out),
        CdeAction::Score(a) => score_cmd(a, out),
        CdeAction::Sample(a) => sample_cmd(a, out),
    }
}

/// The configuration and run folder of `cde train`, from the flags.
fn prepare(a: &TrainArgs, m: &ArgMatches) -> Result<(CdeConfig, RunDir, bool)> {
    super::prepare(
        &a.run,
        m,
        CdeConfig::test_preset,
        CdeConfig::validate,
        "epochs",
        |cfg: &CdeConfig| {
            let data = match &cfg.data {
                Some(p) => p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "data".into()),
                None => cfg.dataset.to_string(),
            };
            PathBuf::from(format!("runs/cde-{}-{data}", cfg.model))
        },
    )
}

fn train_cmd(a: TrainArgs, m: &ArgMatches, out: &mut Output) -> Result<()> {
    let (cfg, run, resume) = prepare(&a, m)?;
    let sizes = if cfg.data.is_some() {
        String::new()
    } else {
        format!(
            " ({} / {} / {} rows)",
            cfg.train_rows, cfg.valid_rows, cfg.test_rows
        )
    };
    out.line(format!(
        "{} {} on {}{sizes}, {} epochs of batch {} → {}",
        if resume { "resuming" } else { "training" },
        cfg.model,
        cfg.data_name(),
        cfg.epochs,
        cfg.batch,
        run.root().display()
    ))?;
    let mut reporter = Terminal::new(a.run.quiet);
    let s = cde::train(&cfg, &run, resume, a.run.no_plot, &mut reporter).inspect_err(|_| {
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
        "trained in {:.1} s{}",
        s.fit.state.train_seconds,
        if s.fit.state.stopped_early {
            " (stopped early)"
        } else {
            ""
        }
    ))?;
    out.line(format!(
        "best checkpoint (epoch {}): {}",
        s.eval.epoch.unwrap_or(0),
        s.eval
    ))?;
    out.line(format!("wrote {}", run.root().display()))
}

fn eval_cmd(a: EvalArgs, out: &mut Output) -> Result<()> {
    if let Some(data) = &a.data {
        let loaded = cde::load(&a.checkpoint)?;
        let cfg = &loaded.config;
        let split = match &cfg.data {
            Some(_) => read_split(data, &cfg.x_cols.0, &cfg.f_cols.0)?,
            None => read_split(data, &builtin_names(&["x1", "x2"]), &builtin_names(&["f"]))?,
        };
        let nll = cde::train::nll(&loaded.model, &split)?;
        out.line(format!("{} rows of {}", split.len(), data.display()))?;
        return out.line(format!("mean NLL {nll:.4}"));
    }
    let r = cde::evaluate_checkpoint(&a.checkpoint)?;
    out.line(&r)?;
    out.line(format!("test NLL {:.4}", r.test_nll))?;
    match r.true_test_nll {
        Some(t) => out.line(format!("true NLL {t:.4}")),
        None => out.line(format!("true NLL unknown ({})", r.data)),
    }
}

fn builtin_names(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The column names of a checkpoint's targets and features.
fn column_names(cfg: &CdeConfig) -> (Vec<String>, Vec<String>) {
    match &cfg.data {
        Some(_) => (cfg.x_cols.0.clone(), cfg.f_cols.0.clone()),
        None => (builtin_names(&["x1", "x2"]), builtin_names(&["f"])),
    }
}

fn write_csv(path: Option<&PathBuf>, csv: &str, what: &str, out: &mut Output) -> Result<()> {
    match path {
        Some(p) => {
            ferrograd_nn::atomic::write_bytes(p, csv.as_bytes())?;
            note(format!("wrote {what} to {}", p.display()));
            Ok(())
        }
        None => out.bytes(csv.as_bytes()),
    }
}

fn score_cmd(a: ScoreArgs, out: &mut Output) -> Result<()> {
    let loaded = cde::load(&a.checkpoint)?;
    let (x, f) = column_names(&loaded.config);
    let split = read_split(&a.data, &x, &f)?;
    let lp = loaded.model.log_prob_values(&split.x, &split.f)?;
    let mut csv = String::with_capacity(16 * lp.len() + 10);
    csv.push_str("log_prob\n");
    for v in &lp {
        let _ = writeln!(csv, "{v}");
    }
    write_csv(
        a.out.as_ref(),
        &csv,
        &format!("{} log-densities", lp.len()),
        out,
    )
}

fn sample_cmd(a: SampleArgs, out: &mut Output) -> Result<()> {
    if let Some(v) = a.feature.0.iter().find(|v| !v.is_finite()) {
        return Err(Error::Config(format!(
            "--feature must hold finite numbers, got {v}"
        )));
    }
    let loaded = cde::load(&a.checkpoint)?;
    let (names, _) = column_names(&loaded.config);
    let x = loaded.model.sample_at_features(&a.feature.0, a.n, a.seed)?;
    let d = names.len();
    let mut csv = String::with_capacity(12 * d * a.n + 16);
    csv.push_str(&names.join(","));
    csv.push('\n');
    for r in x.data().chunks_exact(d.max(1)) {
        let row: Vec<String> = r.iter().map(|v| v.to_string()).collect();
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    write_csv(a.out.as_ref(), &csv, &format!("{} samples", a.n), out)
}
