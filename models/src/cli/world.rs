//! `ferrograd world collect|train-vae|train-rnn|plan|all`: the World Models
//! pipeline on the built-in Catch environment.

use super::output::{note, Output};
use super::progress::Terminal;
use crate::run::{Event, OpenMode, Reporter, RunArgs, RunDir};
use crate::world::config::WorldConfig;
use crate::world::dream::Planner;
use crate::world::episodes::collect;
use crate::world::evaluate::{evaluate_agents, PlanReport};
use crate::world::train::{load_rnn, load_vae, train_rnn, train_vae, RnnReport};
use clap::{ArgMatches, Args, Subcommand};
use ferrograd_nn::{atomic, Error, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The real episode drawn beside its dreams in `dream.png`.
const EVAL_DREAM_SEED: u64 = 2_000_000;

/// World-model actions.
#[derive(Subcommand, Debug)]
pub enum WorldAction {
    /// Play episodes of the built-in Catch environment with a noisy scripted
    /// policy, in parallel, one safetensors file per episode.
    Collect(Box<CollectArgs>),
    /// Train the ConvVAE on frames of collected episodes (a run folder).
    TrainVae(Box<StageArgs>),
    /// Train the MDN-RNN on the episodes encoded by a trained VAE (a run
    /// folder; eval.json compares it with an untrained network and an
    /// unconditional baseline).
    TrainRnn(Box<RnnArgs>),
    /// Score the dream planner in the real environment beside a random
    /// policy and the same planner with an untrained MDN-RNN.
    Plan(Box<PlanArgs>),
    /// Draw a real episode beside the dreams of the same start and actions
    /// at two temperatures (a PNG strip).
    Dream(Box<DreamArgs>),
    /// The whole pipeline into one folder: collect, train-vae, train-rnn,
    /// plan, and a summary (summary.md, summary.json).
    All(Box<StageArgs>),
}

/// Options of `world collect`.
#[derive(Args, Debug)]
pub struct CollectArgs {
    /// The folder to write the episodes into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Small settings (for tests).
    #[arg(long)]
    test: bool,
    #[command(flatten)]
    config: WorldConfig,
}

/// Options of a training stage and of `world all`.
#[derive(Args, Debug)]
pub struct StageArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    config: WorldConfig,
}

/// Options of `world train-rnn`.
#[derive(Args, Debug)]
pub struct RnnArgs {
    /// The VAE checkpoint (from `world train-vae`).
    #[arg(long, value_name = "FILE")]
    vae: PathBuf,
    #[command(flatten)]
    stage: StageArgs,
}

/// Options of `world plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The VAE checkpoint.
    #[arg(long, value_name = "FILE")]
    vae: PathBuf,
    /// The MDN-RNN checkpoint.
    #[arg(long, value_name = "FILE")]
    rnn: PathBuf,
    /// Real episodes per agent (default: the MDN-RNN run's).
    #[arg(long)]
    episodes: Option<usize>,
    /// The planner's search (default: the MDN-RNN run's).
    #[arg(long, value_enum)]
    planner: Option<Planner>,
    /// Steps the planner simulates (default: the MDN-RNN run's).
    #[arg(long)]
    horizon: Option<usize>,
    /// Candidate sequences per planning round (default: the run's).
    #[arg(long)]
    candidates: Option<usize>,
    /// Rounds of the cross-entropy method (default: the run's).
    #[arg(long)]
    iterations: Option<usize>,
    /// Temperature of the planner's simulated draws (default: the run's).
    #[arg(long)]
    temperature: Option<f32>,
    /// Draws simulated per candidate sequence, their returns averaged
    /// (default: the run's).
    #[arg(long = "plan-samples", value_name = "N")]
    samples: Option<usize>,
    /// Weight discount^t of the predicted reward t steps ahead (default: the
    /// run's).
    #[arg(long = "plan-discount", value_name = "GAMMA")]
    discount: Option<f32>,
    /// Write the scores as JSON to this file too.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Options of `world dream`.
#[derive(Args, Debug)]
pub struct DreamArgs {
    /// The VAE checkpoint.
    #[arg(long, value_name = "FILE")]
    vae: PathBuf,
    /// The MDN-RNN checkpoint.
    #[arg(long, value_name = "FILE")]
    rnn: PathBuf,
    /// Seed of the real episode.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The two temperatures of the dreams.
    #[arg(long, num_args = 2, value_names = ["LOW", "HIGH"], default_values_t = [0.5, 1.5])]
    temperatures: Vec<f32>,
    /// The PNG to write.
    #[arg(long, value_name = "FILE.png")]
    out: PathBuf,
}

/// Runs a `world` command; `m` are its parsed arguments.
pub fn run(action: WorldAction, m: &ArgMatches, out: &mut Output) -> Result<()> {
    match action {
        WorldAction::Collect(a) => {
            let mut cfg = a.config;
            if a.test {
                WorldConfig::test_preset(&mut cfg);
            }
            cfg.validate()?;
            let paths = collect(&a.out, cfg.episodes, cfg.seed, cfg.noise, cfg.noise_levels)?;
            out.line(format!(
                "wrote {} episodes to {}",
                paths.len(),
                a.out.display()
            ))
        }
        WorldAction::TrainVae(a) => {
            let (cfg, run, resume) = stage(&a, m, "vae_epochs", "runs/world-vae")?;
            let mut rep = Terminal::new(a.run.quiet);
            let s =
                train_vae(&cfg, &run, resume, &mut rep).inspect_err(|_| run.remove_if_empty())?;
            drop(rep);
            out.line(format!(
                "trained the VAE for {} steps in {:.1} s; best valid_recon {:.2}",
                s.state.step,
                s.state.train_seconds,
                s.state.best.unwrap_or(f64::NAN)
            ))?;
            out.line(format!("wrote {}", run.root().display()))
        }
        WorldAction::TrainRnn(a) => {
            let (cfg, run, resume) = stage(&a.stage, m, "rnn_epochs", "runs/world-rnn")?;
            let mut rep = Terminal::new(a.stage.run.quiet);
            let r = train_rnn(&cfg, &a.vae, &run, resume, &mut rep)
                .inspect_err(|_| run.remove_if_empty())?;
            drop(rep);
            out.line(rnn_line(&r))?;
            out.line(format!("wrote {}", run.root().display()))
        }
        WorldAction::Plan(a) => {
            let (vae, _) = load_vae(&a.vae)?;
            let (rnn, mut cfg) = load_rnn(&a.rnn)?;
            if let Some(n) = a.episodes {
                if n == 0 {
                    return Err(Error::Config(
                        "world plan: --episodes must be at least 1".into(),
                    ));
                }
                cfg.eval_episodes = n;
            }
            cfg.planner = a.planner.unwrap_or(cfg.planner);
            cfg.horizon = a.horizon.unwrap_or(cfg.horizon);
            cfg.candidates = a.candidates.unwrap_or(cfg.candidates);
            cfg.iterations = a.iterations.unwrap_or(cfg.iterations);
            cfg.temperature = a.temperature.unwrap_or(cfg.temperature);
            cfg.plan_samples = a.samples.unwrap_or(cfg.plan_samples);
            cfg.plan_discount = a.discount.unwrap_or(cfg.plan_discount);
            cfg.validate()?;
            let r = evaluate_agents(&cfg, &vae, &rnn)?;
            out.line(plan_table(&r))?;
            if let Some(p) = &a.json {
                atomic::write_json(p, &r)?;
                note(format!("wrote {}", p.display()));
            }
            Ok(())
        }
        WorldAction::Dream(a) => {
            let (vae, _) = load_vae(&a.vae)?;
            let (rnn, _) = load_rnn(&a.rnn)?;
            let t = [a.temperatures[0], a.temperatures[1]];
            if t.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(Error::Config(format!(
                    "world dream: --temperatures must be finite and ≥ 0, got {t:?}"
                )));
            }
            crate::world::strip::dream_strip(&a.out, &vae, &rnn, a.seed, t)?;
            out.line(format!(
                "wrote {}: the real episode, then the dreams at τ = {} and {}",
                a.out.display(),
                t[0],
                t[1]
            ))
        }
        WorldAction::All(a) => all(&a, m, out),
    }
}

/// The configuration and run folder of a training stage.
fn stage(
    a: &StageArgs,
    m: &ArgMatches,
    length: &str,
    default_out: &str,
) -> Result<(WorldConfig, RunDir, bool)> {
    let (cfg, run, resume) = super::prepare(
        &a.run,
        m,
        WorldConfig::test_preset,
        WorldConfig::validate,
        length,
        |_: &WorldConfig| PathBuf::from(default_out),
    )?;
    if cfg.episodes_dir.is_none() {
        run.remove_if_empty();
        return Err(Error::Config(
            "world: give --episodes-dir DIR (written by `ferrograd world collect --out DIR`)"
                .into(),
        ));
    }
    Ok((cfg, run, resume))
}

fn rnn_line(r: &RnnReport) -> String {
    format!(
        "MDN-RNN test NLL per step {:.2} (untrained {:.2}, unconditional Gaussian {:.2}); reward MSE {:.4} (mean predicted reward at misses {:.3}, other steps {:.3}, catches {:.3}), done BCE {:.4}; {} / {} windows",
        r.test_nll,
        r.untrained_nll,
        r.unconditional_nll,
        r.test_reward_mse,
        r.test_reward_by_outcome[0],
        r.test_reward_by_outcome[1],
        r.test_reward_by_outcome[2],
        r.test_done_bce,
        r.windows.0,
        r.windows.1
    )
}

/// The agents' scores as a Markdown table.
pub fn plan_table(r: &PlanReport) -> String {
    let mut s = format!(
        "| agent ({} real episodes each) | mean return | 95% CI | mean length |\n|---|---|---|---|\n",
        r.episodes
    );
    for a in &r.agents {
        let _ = writeln!(
            s,
            "| {} | {:.2} | ± {:.2} | {:.1} |",
            a.agent, a.mean, a.ci95, a.mean_length
        );
    }
    if !r.comparisons.is_empty() {
        s.push_str(
            "\n| paired by episode | mean difference of returns | 95% CI | episodes better / same / worse |\n|---|---|---|---|\n",
        );
        for c in &r.comparisons {
            let [w, t, l] = c.wins_ties_losses;
            let _ = writeln!(
                s,
                "| {} − {} | {:+.2} | ± {:.2} | {w} / {t} / {l} |",
                c.agent, c.baseline, c.mean, c.ci95
            );
        }
    }
    let curve = &r.controller_training.mean_dream_return;
    if let (Some(first), Some(last)) = (curve.first(), curve.last()) {
        let _ = writeln!(
            s,
            "\nThe controller's dream return went from {first:.2} to {last:.2} over {} generations.",
            curve.len()
        );
    }
    s.trim_end().to_string()
}

/// `world all`: every stage into `--out`.
fn all(a: &StageArgs, m: &ArgMatches, out: &mut Output) -> Result<()> {
    if a.run.resume.is_some() {
        return Err(Error::Config(
            "world all: --resume applies to one stage: use `world train-vae|train-rnn --resume DIR/vae|DIR/rnn`".into(),
        ));
    }
    let mut cfg: WorldConfig = crate::run::resolve(
        m,
        a.run.config.as_deref(),
        a.run
            .test
            .then_some(WorldConfig::test_preset as fn(&mut WorldConfig)),
    )?;
    cfg.validate()?;
    let root = a
        .run
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/world"));
    let mode = if a.run.overwrite {
        OpenMode::Overwrite
    } else {
        OpenMode::Fresh
    };
    let top = RunDir::open(&root, mode)?;
    let mut rep = Terminal::new(a.run.quiet);
    let result = pipeline(&mut cfg, &top, mode, &mut rep);
    drop(rep);
    let (rnn, plan) = result.inspect_err(|_| top.remove_if_empty())?;
    out.line(rnn_line(&rnn))?;
    out.line(plan_table(&plan))?;
    out.line(format!("wrote {}", root.display()))
}

fn pipeline(
    cfg: &mut WorldConfig,
    top: &RunDir,
    mode: OpenMode,
    rep: &mut dyn Reporter,
) -> Result<(RnnReport, PlanReport)> {
    let root = top.root().to_path_buf();
    let eps = root.join("episodes");
    rep.report(Event::Phase(format!(
        "collecting {} episodes",
        cfg.episodes
    )));
    collect(&eps, cfg.episodes, cfg.seed, cfg.noise, cfg.noise_levels)?;
    cfg.episodes_dir = Some(eps);
    top.write_json(crate::run::dir::CONFIG_FILE, &*cfg)?;
    rep.report(Event::Phase("training the VAE".into()));
    let vrun = RunDir::open(root.join("vae"), mode)?;
    train_vae(cfg, &vrun, false, rep)?;
    let vae_path = vrun.file("checkpoints/best.safetensors");
    rep.report(Event::Phase("training the MDN-RNN".into()));
    let rrun = RunDir::open(root.join("rnn"), mode)?;
    let rnn_report = train_rnn(cfg, &vae_path, &rrun, false, rep)?;
    rep.report(Event::Phase(format!(
        "planning in the dream: {} real episodes per agent",
        cfg.eval_episodes
    )));
    let (vae, _) = load_vae(&vae_path)?;
    let (rnn, _) = load_rnn(&rrun.file("checkpoints/best.safetensors"))?;
    let plan = evaluate_agents(cfg, &vae, &rnn)?;
    top.write_json("plan.json", &plan)?;
    crate::world::strip::dream_strip(
        &root.join("dream.png"),
        &vae,
        &rnn,
        EVAL_DREAM_SEED,
        [0.5, 1.5],
    )?;
    write_summary(&root, &rnn_report, &plan)?;
    Ok((rnn_report, plan))
}

fn write_summary(root: &Path, rnn: &RnnReport, plan: &PlanReport) -> Result<()> {
    let md = format!(
        "# World model on Catch\n\n{}\n\n{}\n",
        rnn_line(rnn),
        plan_table(plan)
    );
    atomic::write_bytes(root.join("summary.md"), md.as_bytes())?;
    atomic::write_json(
        root.join("summary.json"),
        &serde_json::json!({ "rnn": rnn, "plan": plan }),
    )
}
