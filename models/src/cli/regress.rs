//! `ferrograd regress train|predict|make-data`: regression surrogates of
//! simulation rollouts.

use super::output::{note, Output};
use super::progress::Terminal;
use crate::regress::config::SECTIONS;
use crate::regress::data::{self, Rollouts};
use crate::regress::{self, RegressConfig};
use crate::run::{RunArgs, RunDir};
use clap::{ArgMatches, Args, Subcommand};
use ferrograd_nn::{Error, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Regression actions.
#[derive(Subcommand, Debug)]
pub enum RegressAction {
    /// Train a surrogate on rollout files (HDF5), a CSV file or the built-in
    /// synthetic rollouts; writes the configuration, metrics, checkpoints,
    /// eval.json and the plots loss.png, pred_vs_true.png and surface.png
    /// into the run folder. A YAML --config may group its keys under
    /// data:, model: and trainer:. HDF5 files are read by a forked child
    /// process, so a file that crashes the HDF5 library is an error naming it (the
    /// child may take FERROGRAD_HDF5_TIMEOUT seconds per file, default
    /// 600).
    Train(Box<TrainArgs>),
    /// Predict the outputs of a checkpoint for the rows of a CSV file (its
    /// columns found by the input names), in the user's units.
    Predict(PredictArgs),
    /// Write synthetic rollouts (a known smooth function with noise, 5%
    /// gross outliers and 3% unsuccessful rollouts) as an HDF5 rollout file
    /// (.h5) or a CSV file (.csv).
    MakeData(MakeDataArgs),
}

/// Options of `regress train`.
#[derive(Args, Debug)]
#[command(mut_arg("out", |a| a.visible_alias("output")))]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    config: RegressConfig,
}

/// Options of `regress predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A checkpoint written by `regress train` (checkpoints/best.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
    /// A CSV file with a header holding the model's input columns.
    #[arg(long, value_name = "FILE.csv")]
    input: PathBuf,
    /// The CSV file to write (one column per output); default: standard
    /// output.
    #[arg(long, visible_alias = "output", value_name = "FILE.csv")]
    out: Option<PathBuf>,
}

/// Options of `regress make-data`.
#[derive(Args, Debug)]
pub struct MakeDataArgs {
    /// The file to write: .h5 (HDF5 rollouts) or .csv.
    #[arg(long, visible_alias = "output", value_name = "FILE")]
    out: PathBuf,
    /// Rollouts.
    #[arg(long, default_value_t = 4096)]
    rows: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Runs a `regress` command; `m` are its parsed arguments.
pub fn run(action: RegressAction, m: &ArgMatches, out: &mut Output) -> Result<()> {
    match action {
        RegressAction::Train(a) => train_cmd(*a, m, out),
        RegressAction::Predict(a) => predict_cmd(a, out),
        RegressAction::MakeData(a) => make_data_cmd(a, out),
    }
}

fn prepare(a: &TrainArgs, m: &ArgMatches) -> Result<(RegressConfig, RunDir, bool)> {
    super::prepare_sections(
        &a.run,
        m,
        RegressConfig::test_preset,
        RegressConfig::validate,
        "max_epochs",
        |cfg: &RegressConfig| {
            let name = cfg
                .data_path
                .first()
                .and_then(|p| p.file_stem())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "synthetic".into());
            PathBuf::from(format!("runs/regress-{name}"))
        },
        &SECTIONS,
    )
}

fn train_cmd(a: TrainArgs, m: &ArgMatches, out: &mut Output) -> Result<()> {
    let (cfg, run, resume) = prepare(&a, m)?;
    out.line(format!(
        "{} a {} [{}] {} surrogate of {} from {} on {}, {} epochs of batch {}, {} loss → {}",
        if resume { "resuming" } else { "training" },
        if cfg.residual { "residual" } else { "plain" },
        cfg.layers,
        cfg.activation,
        cfg.out_lbl,
        cfg.in_lbl,
        cfg.data_name(),
        cfg.max_epochs,
        cfg.batch_size,
        cfg.recon_type,
        run.root().display()
    ))?;
    let mut reporter = Terminal::new(a.run.quiet);
    let hdf5 = data::Hdf5Reading::from_env().inspect_err(|_| run.remove_if_empty())?;
    let s = regress::train::train_with(&cfg, &run, resume, a.run.no_plot, &mut reporter, &hdf5)
        .inspect_err(|_| run.remove_if_empty())?;
    drop(reporter);
    if s.fit.state.skipped_steps > 0 {
        out.line(format!(
            "{} steps skipped for a non-finite loss or gradient",
            s.fit.state.skipped_steps
        ))?;
    }
    let e = &s.eval;
    if e.skipped_failed > 0 {
        out.line(format!(
            "{} unsuccessful rollouts skipped (--include-failed uses them)",
            e.skipped_failed
        ))?;
    }
    if e.valid_is_train {
        out.line(format!(
            "train_split 1: trained and validated on all {} rows; the validation loss and \
             RMSE are the training fit, not a held-out score",
            e.train_rows
        ))?;
    } else {
        out.line(format!(
            "trained on {} rows, validated on {} held-out rows",
            e.train_rows, e.valid_rows
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
    let rows = if e.valid_is_train {
        format!(
            "all {} rows (train_split 1: the training rows)",
            e.valid_rows
        )
    } else {
        format!("{} held-out rows", e.valid_rows)
    };
    let mut line = format!(
        "best checkpoint (step {}): RMSE {:.4} on {rows}",
        e.step.unwrap_or(0),
        e.valid_rmse
    );
    if let Some(t) = e.truth_rmse {
        let _ = write!(line, ", {t:.4} against the noiseless truth");
    }
    let _ = write!(line, "; mean ‖∂ŷ/∂x‖ {:.4} (normalised)", e.mean_grad_norm);
    out.line(line)?;
    out.line(format!("wrote {}", run.root().display()))
}

fn predict_cmd(a: PredictArgs, out: &mut Output) -> Result<()> {
    let loaded = regress::load(&a.checkpoint)?;
    let cfg = &loaded.config;
    let table = crate::data::Table::read(&a.input)?;
    let x = table.columns(&cfg.in_lbl.0)?;
    let y = loaded.model.predict(&x)?;
    let k = cfg.out_lbl.0.len();
    let mut csv = String::with_capacity(16 * y.numel() + 32);
    csv.push_str(&cfg.out_lbl.0.join(","));
    csv.push('\n');
    for row in y.data().chunks_exact(k.max(1)) {
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    match &a.out {
        Some(p) => {
            ferrograd_nn::atomic::write_bytes(p, csv.as_bytes())?;
            note(format!(
                "wrote {} predictions of {} to {}",
                x.dims()[0],
                cfg.out_lbl,
                p.display()
            ));
            Ok(())
        }
        None => out.bytes(csv.as_bytes()),
    }
}

/// The rollouts as a CSV table: the parameters, `success` (0/1) and one
/// column per attribute, named by its built-in label where it has one.
fn rollouts_csv(r: &Rollouts) -> String {
    let label = |attr: &str| {
        regress::config::BUILTIN_ATTRS
            .iter()
            .find(|(_, a)| *a == attr)
            .map(|(l, _)| l.to_string())
            .unwrap_or_else(|| attr.to_string())
    };
    let mut head: Vec<String> = r.parameter_names.clone();
    head.push("success".into());
    head.extend(r.attributes.iter().map(|(a, _)| label(a)));
    let mut csv = head.join(",");
    csv.push('\n');
    for (i, s) in r.states.iter().enumerate() {
        let mut cells: Vec<String> = s.iter().map(|v| v.to_string()).collect();
        cells.push(u8::from(r.success[i]).to_string());
        cells.extend(r.attributes.iter().map(|(_, v)| v[i].to_string()));
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    csv
}

fn write_h5(path: &Path, r: &Rollouts) -> Result<()> {
    #[cfg(feature = "hdf5")]
    {
        regress::h5::write_rollouts(path, r, Default::default())
    }
    #[cfg(not(feature = "hdf5"))]
    {
        let _ = r;
        Err(Error::Format {
            path: path.to_path_buf(),
            problem: "this ferrograd was built without HDF5 support; rebuild with \
                      `--features ferrograd-models/hdf5` (needs libhdf5-dev) or write a .csv file"
                .into(),
        })
    }
}

fn make_data_cmd(a: MakeDataArgs, out: &mut Output) -> Result<()> {
    if a.rows == 0 {
        return Err(Error::Config(
            "regress make-data: --rows must be at least 1".into(),
        ));
    }
    let r = data::synthetic(a.rows, a.seed);
    if data::is_hdf5(&a.out) {
        write_h5(&a.out, &r)?;
    } else {
        ferrograd_nn::atomic::write_bytes(&a.out, rollouts_csv(&r).as_bytes())?;
    }
    let failed = r.success.iter().filter(|s| !**s).count();
    out.line(format!(
        "wrote {} synthetic rollouts ({failed} unsuccessful) to {}",
        a.rows,
        a.out.display()
    ))
}
