//! `ferrograd cde train|eval|sample`: conditional density estimation.

use crate::cde::data::Dataset;
use crate::cde::train::{self, CdeConfig, ModelKind};
use clap::{Args, Subcommand};
use ferrograd_nn::{Error, Result};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Conditional density actions.
#[derive(Subcommand, Debug)]
pub enum CdeAction {
    /// Train a MAF or an MDN; writes metrics, checkpoints (best and last),
    /// the configuration, the evaluation and plots into --out.
    Train(TrainArgs),
    /// Print the test NLL of a checkpoint (and the true NLL where known).
    Eval(EvalArgs),
    /// Write samples of x at one feature value as CSV.
    Sample(SampleArgs),
}

/// Options of `cde train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The model: maf or mdn.
    #[arg(long, default_value = "maf", value_parser = parse_model)]
    model: ModelKind,
    /// The data set: banana, student-t or moons.
    #[arg(long, default_value = "banana", value_parser = parse_dataset)]
    dataset: Dataset,
    /// MADE blocks (MAF).
    #[arg(long, default_value_t = 5)]
    flows: usize,
    /// Hidden widths: a comma list (64,64), one width for two layers (64),
    /// or WIDTHxLAYERS (32x1: one layer of 32).
    #[arg(long, default_value = "64,64", value_parser = parse_hidden)]
    hidden: Hidden,
    /// Mixture components (MDN).
    #[arg(long, default_value_t = 5)]
    components: usize,
    /// Passes over the training split (default 200).
    #[arg(long)]
    epochs: Option<usize>,
    /// Rows per batch.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed of the data splits, initialisation and batch order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder (default runs/cde-MODEL-DATASET).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A run of a few seconds (for CI): splits 2,000 / 500 / 500, 2 epochs.
    #[arg(long)]
    test: bool,
    /// Do not draw PNG plots.
    #[arg(long)]
    no_plot: bool,
    /// No progress bar or per-epoch lines.
    #[arg(long)]
    quiet: bool,
}

/// Options of `cde eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint written by `cde train` (best.safetensors or last.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
}

/// Options of `cde sample`.
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A checkpoint written by `cde train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The feature value f.
    #[arg(long)]
    feature: f32,
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

/// Hidden widths from the command line.
#[derive(Clone, Debug)]
pub struct Hidden(Vec<usize>);

fn parse_model(s: &str) -> std::result::Result<ModelKind, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

fn parse_dataset(s: &str) -> std::result::Result<Dataset, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// `64,64` (one width per layer), `64` (two layers of 64) or `32x1`
/// (WIDTHxLAYERS).
fn parse_hidden(s: &str) -> std::result::Result<Hidden, String> {
    if let Some((w, n)) = s.split_once('x') {
        return match (w.trim().parse::<usize>(), n.trim().parse::<usize>()) {
            (Ok(w), Ok(n)) if w > 0 && n > 0 => Ok(Hidden(vec![w; n])),
            _ => Err(format!(
                "hidden '{s}' is not WIDTHxLAYERS with positive integers (e.g. 32x1)"
            )),
        };
    }
    let widths = s
        .split(',')
        .map(|w| {
            let w = w.trim();
            match w.parse::<usize>() {
                Ok(v) if v > 0 => Ok(v),
                _ => Err(format!(
                    "hidden width '{w}' is not a positive integer (expected e.g. 64, 64,64 or 32x1)"
                )),
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Hidden(if widths.len() == 1 {
        vec![widths[0]; 2]
    } else {
        widths
    }))
}

/// Runs a `cde` command.
pub fn run(action: CdeAction) -> Result<()> {
    match action {
        CdeAction::Train(a) => train_cmd(a),
        CdeAction::Eval(a) => eval_cmd(a),
        CdeAction::Sample(a) => sample_cmd(a),
    }
}

fn train_cmd(a: TrainArgs) -> Result<()> {
    let mut cfg = CdeConfig {
        flows: a.flows,
        hidden: a.hidden.0,
        components: a.components,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        ..CdeConfig::new(a.model, a.dataset)
    };
    if a.test {
        cfg = cfg.test_sized();
    }
    if let Some(e) = a.epochs {
        cfg.epochs = e;
    }
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from(format!("runs/cde-{}-{}", cfg.model, cfg.dataset)));
    println!(
        "training {} on {} ({} / {} / {} rows), {} epochs of batch {} → {}",
        cfg.model,
        cfg.dataset,
        cfg.sizes.train,
        cfg.sizes.valid,
        cfg.sizes.test,
        cfg.epochs,
        cfg.batch,
        out.display()
    );
    let s = train::train(&cfg, &out, a.quiet, a.no_plot)?;
    if s.skipped_batches > 0 {
        println!(
            "{} batches skipped for a non-finite loss",
            s.skipped_batches
        );
    }
    println!("trained in {:.1} s", s.seconds);
    println!(
        "best checkpoint (epoch {}): {}",
        s.eval.epoch.unwrap_or(0),
        s.eval
    );
    println!("wrote {}", out.display());
    Ok(())
}

fn eval_cmd(a: EvalArgs) -> Result<()> {
    let r = train::evaluate_checkpoint(&a.checkpoint)?;
    println!("{r}");
    println!("test NLL {:.4}", r.test_nll);
    match r.true_test_nll {
        Some(t) => println!("true NLL {t:.4}"),
        None => println!("true NLL unknown ({})", r.dataset),
    }
    Ok(())
}

fn sample_cmd(a: SampleArgs) -> Result<()> {
    if !a.feature.is_finite() {
        return Err(Error::Config(format!(
            "--feature must be a finite number, got {}",
            a.feature
        )));
    }
    let (_, model, _) = train::load(&a.checkpoint)?;
    let x = model.sample_at(a.feature, a.n, a.seed)?;
    let mut csv = String::with_capacity(24 * a.n + 8);
    csv.push_str("x1,x2\n");
    for r in x.data().chunks_exact(2) {
        let _ = writeln!(csv, "{},{}", r[0], r[1]);
    }
    match a.out {
        Some(path) => {
            train::write_atomic(&path, csv.as_bytes())?;
            eprintln!("wrote {} samples to {}", a.n, path.display());
        }
        None => print!("{csv}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_widths_parse() {
        assert_eq!(parse_hidden("64,32").unwrap().0, [64, 32]);
        assert_eq!(parse_hidden("48").unwrap().0, [48, 48]);
        assert_eq!(parse_hidden("32x1").unwrap().0, [32]);
        assert_eq!(parse_hidden("16x3").unwrap().0, [16, 16, 16]);
        for bad in ["0", "32x0", "x2", "32x", "a,b", "32,,32"] {
            assert!(parse_hidden(bad).is_err(), "{bad}");
        }
    }
}
