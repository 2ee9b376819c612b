//! `ferrograd flow train|eval|sample`: the flow-matching point-cloud
//! generator.

use super::output::{note, Output};
use super::progress::Terminal;
use crate::flow::matching::{encode_codes, prior_codes, Solver};
use crate::flow::train::generate;
use crate::flow::{self, FlowRunConfig};
use crate::run::RunArgs;
use clap::{ArgMatches, Args, Subcommand, ValueEnum};
use ferrograd_nn::{Error, Result};
use ferrograd_tensor::Tensor;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Flow-matching actions.
#[derive(Subcommand, Debug)]
pub enum FlowAction {
    /// Train on one digit of the built-in MNIST, your IDX files or
    /// synthetic strokes; writes the configuration, metrics, checkpoints,
    /// the evaluation, loss_trajectory.png and samples.png into the run
    /// folder.
    Train(Box<TrainArgs>),
    /// Score a checkpoint on its run's test clouds (Chamfer distances).
    Eval(EvalArgs),
    /// Generate clouds from a checkpoint: a PNG grid and/or a CSV of points.
    Sample(SampleArgs),
}

/// Options of `flow train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    config: FlowRunConfig,
}

/// Options of `flow eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint written by `flow train` (checkpoints/last.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
}

/// Where the codes of `flow sample` come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CodeSource {
    /// z ~ N(0, I) (needs a model trained with --vae); the default then.
    Prior,
    /// The codes of the run's test clouds (reconstructions); the default
    /// without the VAE head.
    Test,
}

/// Options of `flow sample`.
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A checkpoint written by `flow train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Number of clouds.
    #[arg(short = 'n', long = "clouds", default_value_t = 16)]
    n: usize,
    /// Where the codes come from (default: prior with a VAE head, else test).
    #[arg(long, value_enum)]
    from: Option<CodeSource>,
    /// Integration steps (default: the run's).
    #[arg(long)]
    steps: Option<usize>,
    /// ODE solver (default: the run's).
    #[arg(long, value_enum)]
    solver: Option<Solver>,
    /// Seed of the noise (and of the prior codes).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The PNG grid to write.
    #[arg(long, value_name = "FILE.png")]
    out: Option<PathBuf>,
    /// A CSV of the points (`cloud,x,y`); `-` for standard output.
    #[arg(long, value_name = "FILE.csv")]
    csv: Option<PathBuf>,
}

/// Runs a `flow` command; `m` are its parsed arguments.
pub fn run(action: FlowAction, m: &ArgMatches, out: &mut Output) -> Result<()> {
    match action {
        FlowAction::Train(a) => train_cmd(*a, m, out),
        FlowAction::Eval(a) => {
            let r = flow::evaluate_checkpoint(&a.checkpoint)?;
            out.line(&r)?;
            out.line(format!("recon_chamfer {:.5}", r.recon_chamfer))
        }
        FlowAction::Sample(a) => sample_cmd(a, out),
    }
}

fn train_cmd(a: TrainArgs, m: &ArgMatches, out: &mut Output) -> Result<()> {
    let (cfg, run, resume) = super::prepare(
        &a.run,
        m,
        FlowRunConfig::test_preset,
        FlowRunConfig::validate,
        "epochs",
        |c: &FlowRunConfig| {
            let src = if c.synthetic { "synthetic" } else { "mnist" };
            PathBuf::from(format!("runs/flow-{src}-{}", c.digit))
        },
    )?;
    out.line(format!(
        "{} flow matching on {}: {} epochs of batch {}, {} points per cloud → {}",
        if resume { "resuming" } else { "training" },
        cfg.data_name(),
        cfg.epochs,
        cfg.batch,
        cfg.points,
        run.root().display()
    ))?;
    let mut reporter = Terminal::new(a.run.quiet);
    let s = flow::train(&cfg, &run, resume, a.run.no_plot, &mut reporter).inspect_err(|_| {
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
        "{} training / {} test clouds; trained in {:.1} s",
        s.clouds.0, s.clouds.1, s.fit.state.train_seconds
    ))?;
    out.line(&s.eval)?;
    out.line(format!("wrote {}", run.root().display()))
}

fn sample_cmd(a: SampleArgs, out: &mut Output) -> Result<()> {
    if a.out.is_none() && a.csv.is_none() {
        return Err(Error::Config(
            "flow sample: give --out FILE.png, --csv FILE.csv (or --csv - for standard output), or both"
                .into(),
        ));
    }
    if a.n == 0 || a.steps == Some(0) {
        return Err(Error::Config(
            "flow sample: --clouds and --steps must be at least 1".into(),
        ));
    }
    let mut l = flow::load(&a.checkpoint)?;
    if let Some(s) = a.steps {
        l.config.steps = s;
    }
    if let Some(s) = a.solver {
        l.config.solver = s;
    }
    let from = a.from.unwrap_or(match l.config.vae {
        true => CodeSource::Prior,
        false => CodeSource::Test,
    });
    let (clouds, reference) = match from {
        CodeSource::Prior => {
            let codes = prior_codes(&l.model, a.n, a.seed)?;
            (generate(&l.model, &l.config, &codes, a.seed)?, None)
        }
        CodeSource::Test => {
            let test = flow::source::load(&l.config)?.test;
            let n = a.n.min(test.dims()[0]);
            if n < a.n {
                note(format!(
                    "the run has only {n} test clouds: generating {n} reconstructions"
                ));
            }
            let real = test.narrow(0, 0, n)?;
            let codes = encode_codes(&l.model, &real)?;
            (generate(&l.model, &l.config, &codes, a.seed)?, Some(real))
        }
    };
    if let Some(png) = &a.out {
        match &reference {
            Some(_) if l.config.vae => draw_grid(png, &l.config, &clouds)?,
            Some(real) => crate::flow::plots::samples(
                png,
                &format!(
                    "{}: test clouds (blue) and their reconstructions (red)",
                    l.config.data_name()
                ),
                real,
                &clouds,
                None,
            )?,
            None => draw_grid(png, &l.config, &clouds)?,
        }
        note(format!(
            "wrote {} clouds to {}",
            clouds.dims()[0],
            png.display()
        ));
    }
    if let Some(csv_path) = &a.csv {
        let csv = points_csv(&clouds);
        if csv_path.as_os_str() == "-" {
            out.bytes(csv.as_bytes())?;
        } else {
            ferrograd_nn::atomic::write_bytes(csv_path, csv.as_bytes())?;
            note(format!("wrote the points to {}", csv_path.display()));
        }
    }
    Ok(())
}

fn draw_grid(png: &std::path::Path, cfg: &FlowRunConfig, clouds: &Tensor) -> Result<()> {
    let panels = crate::flow::plots::panels(clouds, crate::flow::plots::GENERATED, |i| {
        format!("sample {}", i + 1)
    });
    crate::flow::plots::cloud_grid(
        png,
        &format!("generated clouds ({})", cfg.data_name()),
        &panels,
        8,
    )
}

/// `cloud,x,y` rows of `[B, N, 2]`.
fn points_csv(clouds: &Tensor) -> String {
    let n = clouds.dims()[1];
    let mut csv = String::from("cloud,x,y\n");
    for (i, c) in clouds.data().chunks_exact(2 * n).enumerate() {
        for p in c.chunks_exact(2) {
            let _ = writeln!(csv, "{i},{},{}", p[0], p[1]);
        }
    }
    csv
}
