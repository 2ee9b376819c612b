//! Training and evaluation of the imitation policy on the shared run
//! harness ([`crate::run`]).
//!
//! Behaviour cloning: `epochs` passes over the expert demonstrations with
//! Adam and cross-entropy; the validation accuracy (expert states of other
//! episodes) is logged every `eval_every` epochs. With DAgger, training
//! goes on for `dagger_rounds` rounds of `dagger_steps` steps: at the start
//! of each round the current policy drives `dagger_episodes` new episodes,
//! the expert labels every state it visited, the states join the
//! aggregate, and the round's batches are drawn from the whole aggregate.
//! The behaviour-cloning network is kept as `checkpoints/bc.safetensors`
//! and the rounds (with their visited states) in `dagger.json`, so a
//! resumed run rebuilds the aggregate exactly.
//!
//! The model of a run is its last checkpoint. At the end it is scored
//! ([`EvalReport`], `eval.json`): the action accuracy on held-out expert
//! states, and the closed-loop success over `eval_episodes` new episodes of
//! the expert, behaviour cloning and (with DAgger) DAgger, with Wilson 95%
//! intervals; `trajectories.png` shows a few of those episodes.

use super::config::PolicyRunConfig;
use super::demos::{episode_seed, expert_demos, relabel, scenarios, StateSet, Visit};
use super::eval::{accuracy, optimal_rate, ClosedLoop, Paired};
use super::model::{PolicyModel, PolicyNet};
use super::obs::Symmetry;
use super::plots::{self, EpisodePanel, PathSpec};
use super::rollout::{rollout, rollout_with, Expert, Trajectory};
use super::sim::{Scenario, SimConfig};
use crate::run::{
    fit, Event, FitSummary, LoopSettings, Reporter, RunDir, RunState, Schedule, SchedulerTiming,
    TrainTask, META_RUN_STATE,
};
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::checkpoint::Checkpoint;
use ferrograd_nn::losses::{cross_entropy, Reduction};
use ferrograd_nn::optim::{Adam, AdamConfig};
use ferrograd_nn::schedule::LrScheduler;
use ferrograd_nn::train::{derive_seed, derive_seed_index};
use ferrograd_nn::{Error, Module, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The family name in the checkpoints of `decision policy train`.
pub const FAMILY: &str = "decision-policy";
/// The DAgger rounds of a run, in its folder.
pub const DAGGER_FILE: &str = "dagger.json";
/// The behaviour-cloning network of a DAgger run, in `checkpoints/`.
pub const BC_FILE: &str = "bc.safetensors";

/// The metadata of a policy checkpoint (`phase`: `bc` or `final`).
pub fn metadata(cfg: &PolicyRunConfig, phase: &str) -> Result<BTreeMap<String, String>> {
    let mut ckpt = crate::run::family_metadata(FAMILY, cfg)?;
    ckpt.set_json("phase", phase)?;
    Ok(ckpt.metadata)
}

/// The labelled states of a run: training demonstrations, validation and
/// held-out test states, each from its own episodes.
pub struct PolicyData {
    /// Expert demonstrations (`demos` pairs).
    pub train: StateSet,
    /// Validation states.
    pub valid: StateSet,
    /// Held-out test states.
    pub test: StateSet,
}

/// The data of `cfg`'s run.
pub fn data(cfg: &PolicyRunConfig) -> Result<PolicyData> {
    let sim = cfg.sim();
    Ok(PolicyData {
        train: expert_demos(&sim, cfg.demos, cfg.seed, "demos")?,
        valid: expert_demos(&sim, cfg.valid_states, cfg.seed, "valid")?,
        test: expert_demos(&sim, cfg.test_states, cfg.seed, "test")?,
    })
}

/// One DAgger round as recorded in `dagger.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DaggerRound {
    /// Round number, from 1.
    pub round: usize,
    /// The optimizer step at which the round's episodes were driven.
    pub step: u64,
    /// Episodes the policy drove.
    pub episodes: usize,
    /// Of those, episodes that reached the goal.
    pub successes: usize,
    /// States added (every state the policy visited, relabelled).
    pub states_added: usize,
    /// Of those, states where the policy's action differed from the expert's.
    pub disagreements: usize,
    /// Size of the aggregate after the round.
    pub aggregate: usize,
    /// The visited states.
    pub visits: Vec<Visit>,
}

/// A DAgger round without its states (for reports).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundSummary {
    /// Round number, from 1.
    pub round: usize,
    /// Success rate of the policy driving the round's episodes.
    pub success_rate: f64,
    /// States added.
    pub states_added: usize,
    /// Fraction of them where the policy disagreed with the expert.
    pub disagreement: f64,
    /// Aggregate size after the round.
    pub aggregate: usize,
}

impl From<&DaggerRound> for RoundSummary {
    fn from(r: &DaggerRound) -> Self {
        RoundSummary {
            round: r.round,
            success_rate: r.successes as f64 / r.episodes.max(1) as f64,
            states_added: r.states_added,
            disagreement: r.disagreements as f64 / r.states_added.max(1) as f64,
            aggregate: r.aggregate,
        }
    }
}

/// The training task: cross-entropy on batches of demonstrations, then on
/// batches of the DAgger aggregate.
struct PolicyTask<'a> {
    net: &'a PolicyNet,
    cfg: &'a PolicyRunConfig,
    sim: SimConfig,
    demos: &'a StateSet,
    valid: &'a StateSet,
    aggregate: StateSet,
    rounds: Vec<DaggerRound>,
    run: &'a RunDir,
    spe: u64,
    bc_steps: u64,
    order: Option<(u64, Vec<usize>)>,
}

impl PolicyTask<'_> {
    /// Rows of the batch of step `step`.
    fn rows(&mut self, step: u64) -> Result<Vec<usize>> {
        let b = self.cfg.batch;
        if step < self.bc_steps {
            let (epoch, index) = (step / self.spe, step % self.spe);
            if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let mut o: Vec<usize> = (0..self.demos.len()).collect();
                let mut rng = ferrograd_nn::init::rng(derive_seed_index(
                    derive_seed(self.cfg.seed, "batches"),
                    epoch,
                ));
                o.shuffle(&mut rng);
                self.order = Some((epoch, o));
            }
            let o = &self.order.as_ref().expect("set above").1;
            let start = index as usize * b;
            return Ok(o[start..(start + b).min(o.len())].to_vec());
        }
        let round = ((step - self.bc_steps) / self.cfg.dagger_steps as u64) as usize;
        while self.rounds.len() <= round {
            self.dagger_round(step)?;
        }
        let mut rng = ferrograd_nn::init::rng(derive_seed_index(
            derive_seed(self.cfg.seed, "dagger-batches"),
            step,
        ));
        let n = self.aggregate.len();
        Ok((0..b).map(|_| rng.random_range(0..n)).collect())
    }

    /// Drives the next round's episodes with the current network, labels
    /// the visited states with the expert, and grows the aggregate.
    fn dagger_round(&mut self, step: u64) -> Result<()> {
        let r = self.rounds.len() + 1;
        if r == 1 {
            let mut ckpt = Checkpoint::from_module(self.net);
            ckpt.metadata = metadata(self.cfg, "bc")?;
            ckpt.save(bc_path(self.run.root()))?;
        }
        let stream = format!("dagger-{r}");
        let scen = scenarios(&self.sim, self.cfg.seed, &stream, self.cfg.dagger_episodes)?;
        let seeds: Vec<u64> = (0..self.cfg.dagger_episodes as u64)
            .map(|i| episode_seed(self.cfg.seed, &stream, i))
            .collect();
        let mut visits = Vec::new();
        let trajs = no_grad(|| {
            rollout_with(&self.sim, scen, self.net, |i, nav| {
                let p = nav.position();
                visits.push(Visit {
                    episode: seeds[i],
                    x: p.x,
                    y: p.y,
                });
            })
        })?;
        let added = relabel(&self.sim, &visits)?;
        let chosen = no_grad(|| self.net.predict(&added.obs))?;
        let disagreements = chosen
            .iter()
            .zip(&added.actions)
            .filter(|(a, b)| a != b)
            .count();
        self.aggregate.extend(&added);
        self.rounds.push(DaggerRound {
            round: r,
            step,
            episodes: trajs.len(),
            successes: trajs.iter().filter(|t| t.success()).count(),
            states_added: added.len(),
            disagreements,
            aggregate: self.aggregate.len(),
            visits,
        });
        self.run.write_json(DAGGER_FILE, &self.rounds)?;
        Ok(())
    }
}

impl TrainTask for PolicyTask<'_> {
    fn module(&self) -> &dyn Module {
        self.net
    }

    fn loss(&mut self, step: u64) -> Result<Var> {
        let rows = self.rows(step)?;
        let set = if step < self.bc_steps {
            self.demos
        } else {
            &self.aggregate
        };
        let (x, y) = match self.cfg.no_augment {
            true => set.batch(&rows)?,
            false => {
                let mut rng = ferrograd_nn::init::rng(derive_seed_index(
                    derive_seed(self.cfg.seed, "augment"),
                    step,
                ));
                let all = Symmetry::all();
                let g: Vec<Symmetry> = rows.iter().map(|_| all[rng.random_range(0..8)]).collect();
                set.batch_mapped(&rows, &g, self.cfg.view)?
            }
        };
        let logits = self.net.logits(&Var::constant(x))?;
        cross_entropy(&logits, &y, Reduction::Mean)
    }

    fn validate(&mut self) -> Result<Vec<(String, f64)>> {
        let mut m = vec![(
            "valid_accuracy".to_string(),
            accuracy(self.net, self.valid)?,
        )];
        if let Some(r) = self.rounds.last() {
            m.push(("aggregate".into(), r.aggregate as f64));
        }
        Ok(m)
    }

    fn metadata(&self) -> Result<BTreeMap<String, String>> {
        metadata(self.cfg, "final")
    }
}

/// The learning rate: cosine-annealed from `lr` to `min_lr` over the
/// behaviour-cloning steps, then again over each DAgger round (a warm
/// restart per round, as the round's new states arrive).
struct PhaseCosine {
    lr: f64,
    min_lr: f64,
    bc_steps: u64,
    round_steps: u64,
    step: u64,
}

impl PhaseCosine {
    fn at(&self, s: u64) -> f64 {
        let (t, len) = if s < self.bc_steps || self.round_steps == 0 {
            (s.min(self.bc_steps), self.bc_steps)
        } else {
            ((s - self.bc_steps) % self.round_steps, self.round_steps)
        };
        let frac = t as f64 / len.max(1) as f64;
        self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * frac).cos())
    }
}

impl LrScheduler for PhaseCosine {
    fn step(&mut self, _metric: Option<f64>) -> Result<f64> {
        self.step += 1;
        Ok(self.at(self.step))
    }

    fn lr(&self) -> f64 {
        self.at(self.step)
    }

    fn state_dict(&self) -> serde_json::Value {
        serde_json::json!({ "phase_cosine_step": self.step })
    }

    fn load_state_dict(&mut self, state: &serde_json::Value) -> Result<()> {
        self.step = state["phase_cosine_step"].as_u64().ok_or_else(|| {
            Error::Config(format!(
                "not a policy learning-rate schedule state: {state}"
            ))
        })?;
        Ok(())
    }
}

/// The behaviour-cloning checkpoint of the DAgger run in `root`.
pub fn bc_path(root: &Path) -> PathBuf {
    root.join(crate::run::dir::CHECKPOINT_DIR).join(BC_FILE)
}

/// The evaluation of a policy (`eval.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// `behaviour cloning` or `behaviour cloning + N DAgger rounds`.
    pub method: String,
    /// The arena, e.g. `16×16 arena, 8 obstacles`.
    pub arena: String,
    /// Expert demonstrations trained on.
    pub demos: usize,
    /// With DAgger: the final aggregate's size.
    pub aggregate: Option<usize>,
    /// Held-out expert states scored.
    pub test_states: usize,
    /// Action accuracy of the evaluated policy on them.
    pub test_accuracy: f64,
    /// The fraction of them where the policy's action starts a shortest
    /// path (the expert's action, or an equally short alternative).
    pub test_optimal: f64,
    /// With DAgger: the behaviour-cloning network's accuracy on them.
    pub bc_test_accuracy: Option<f64>,
    /// Accuracy of always answering the commonest expert action.
    pub majority_accuracy: f64,
    /// Closed-loop success of each controller on the same new episodes.
    pub closed_loop: Vec<ClosedLoop>,
    /// With DAgger: behaviour cloning and DAgger compared episode by
    /// episode.
    #[serde(default)]
    pub paired: Option<Paired>,
    /// The DAgger rounds.
    pub dagger_rounds: Vec<RoundSummary>,
    /// Optimizer steps of the evaluated checkpoint, if recorded.
    pub step: Option<u64>,
    /// Training wall time in seconds, if recorded.
    pub train_seconds: Option<f64>,
    /// Seconds of this evaluation.
    pub eval_seconds: f64,
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} on a {}: action accuracy {:.2}% on {} held-out expert states (commonest action {:.1}%); \
             {:.2}% of the actions start a shortest path",
            self.method,
            self.arena,
            100.0 * self.test_accuracy,
            self.test_states,
            100.0 * self.majority_accuracy,
            100.0 * self.test_optimal
        )?;
        if let Some(a) = self.bc_test_accuracy {
            writeln!(f, "behaviour cloning alone: {:.2}%", 100.0 * a)?;
        }
        for r in &self.dagger_rounds {
            writeln!(
                f,
                "DAgger round {}: policy success {:.1}%, {} states added ({:.1}% relabelled differently), aggregate {}",
                r.round,
                100.0 * r.success_rate,
                r.states_added,
                100.0 * r.disagreement,
                r.aggregate
            )?;
        }
        let n = self.closed_loop.first().map_or(0, |c| c.episodes);
        write!(
            f,
            "closed loop over {n} new episodes (Wilson 95% intervals):"
        )?;
        for c in &self.closed_loop {
            write!(f, "\n  {c}")?;
        }
        if let Some(p) = &self.paired {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// The closed-loop results and the trajectories of each controller on the
/// `n` evaluation episodes of `seed`.
pub struct ClosedLoopRun {
    /// The episodes.
    pub scenarios: Vec<Scenario>,
    /// `(name, colour, trajectories)` per controller, the expert first.
    pub runs: Vec<(String, plotters::style::RGBColor, Vec<Trajectory>)>,
}

/// Drives the `n` evaluation episodes of `seed` with the expert and each
/// `(name, colour, net)`.
pub fn closed_loop(
    sim: &SimConfig,
    n: usize,
    seed: u64,
    nets: &[(&str, plotters::style::RGBColor, &PolicyNet)],
) -> Result<ClosedLoopRun> {
    let scen = scenarios(sim, seed, "eval", n)?;
    let mut runs = vec![(
        "expert".to_string(),
        plots::EXPERT,
        rollout(sim, scen.clone(), &Expert)?,
    )];
    for (name, colour, net) in nets {
        let t = no_grad(|| rollout(sim, scen.clone(), *net))?;
        runs.push((name.to_string(), *colour, t));
    }
    Ok(ClosedLoopRun {
        scenarios: scen,
        runs,
    })
}

impl ClosedLoopRun {
    /// The summaries, one per controller.
    pub fn summaries(&self) -> Vec<ClosedLoop> {
        self.runs
            .iter()
            .map(|(n, _, t)| ClosedLoop::of(n, t))
            .collect()
    }

    /// Draws `count` episodes to `path`: the first failure of the last
    /// controller (if any) and the first episodes.
    pub fn draw(&self, path: &Path, title: &str, count: usize) -> Result<()> {
        let last = &self.runs.last().expect("the expert at least").2;
        let mut pick: Vec<usize> = last.iter().position(|t| !t.success()).into_iter().collect();
        for i in 0..self.scenarios.len() {
            if pick.len() >= count {
                break;
            }
            if !pick.contains(&i) {
                pick.push(i);
            }
        }
        pick.sort_unstable();
        let panels: Vec<EpisodePanel> = pick
            .iter()
            .map(|&i| {
                let paths: Vec<PathSpec> = self
                    .runs
                    .iter()
                    .map(|(n, c, t)| PathSpec {
                        label: n.clone(),
                        colour: *c,
                        trajectory: t[i].clone(),
                    })
                    .collect();
                EpisodePanel {
                    caption: format!("episode {}: {}", i + 1, plots::outcome_caption(&paths)),
                    scenario: self.scenarios[i].clone(),
                    paths,
                }
            })
            .collect();
        let cols = if panels.len() == 4 { 2 } else { 3 };
        plots::trajectories(path, title, &panels, cols)
    }
}

fn arena_name(cfg: &PolicyRunConfig) -> String {
    format!("{0}×{0} arena with {1} obstacles", cfg.size, cfg.obstacles)
}

/// A `trajectories.png` title naming the colours of `runs`.
fn plot_title(runs: &[(String, plotters::style::RGBColor, Vec<Trajectory>)]) -> String {
    let colour = |c: plotters::style::RGBColor| match c {
        plots::EXPERT => "blue",
        plots::BC => "red",
        _ => "orange",
    };
    let names: Vec<String> = runs
        .iter()
        .map(|(n, c, _)| format!("{n} ({})", colour(*c)))
        .collect();
    format!(
        "{}; start black, goal green, x = collision",
        names.join(", ")
    )
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// The evaluation (written to `eval.json`).
    pub eval: EvalReport,
    /// The driver's summary.
    pub fit: FitSummary,
}

/// Trains with `cfg` into `run` (or continues it with `resume`), then
/// evaluates the final policy (see the module docs).
pub fn train(
    cfg: &PolicyRunConfig,
    run: &RunDir,
    resume: bool,
    no_plot: bool,
    reporter: &mut dyn Reporter,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let sim = cfg.sim();
    reporter.report(Event::Phase(format!(
        "expert demonstrations on a {}: {} training, {} validation, {} test states",
        arena_name(cfg),
        cfg.demos,
        cfg.valid_states,
        cfg.test_states
    )));
    let d = data(cfg)?;
    if !resume {
        run.write_json(crate::run::dir::CONFIG_FILE, cfg)?;
    }
    let net = PolicyNet::new(&cfg.sizes(), derive_seed(cfg.seed, "init"))?;
    let mut opt = Adam::new(
        net.params(),
        AdamConfig {
            lr: cfg.lr,
            ..AdamConfig::default()
        },
    )?;
    let spe = cfg.demos.div_ceil(cfg.batch) as u64;
    let bc_steps = spe * cfg.epochs as u64;
    let dagger_total = if cfg.dagger {
        (cfg.dagger_rounds * cfg.dagger_steps) as u64
    } else {
        0
    };
    let total = bc_steps + dagger_total;
    let mut task = PolicyTask {
        net: &net,
        cfg,
        sim: sim.clone(),
        demos: &d.train,
        valid: &d.valid,
        aggregate: d.train.clone(),
        rounds: Vec::new(),
        run,
        spe,
        bc_steps,
        order: None,
    };
    if resume {
        restore_rounds(&mut task)?;
    }
    let valid_every = match cfg.dagger {
        false => spe * cfg.eval_every as u64,
        true => (spe * cfg.eval_every as u64).min(cfg.dagger_steps as u64),
    };
    let settings = LoopSettings {
        steps_per_epoch: Some(spe),
        valid_every,
        max_nonfinite: cfg.max_nonfinite,
        ..LoopSettings::steps(total, spe.min(valid_every))
    };
    let mut cosine = PhaseCosine {
        lr: cfg.lr,
        min_lr: cfg.min_lr,
        bc_steps,
        round_steps: cfg.dagger_steps as u64,
        step: 0,
    };
    let sched = Schedule {
        scheduler: &mut cosine,
        timing: SchedulerTiming::EveryStep,
    };
    let fit = fit(
        &mut task,
        &mut opt,
        Some(sched),
        &settings,
        run,
        resume,
        cfg.seed,
        reporter,
    )?;
    let rounds: Vec<RoundSummary> = task.rounds.iter().map(RoundSummary::from).collect();
    let aggregate = cfg.dagger.then_some(task.aggregate.len());
    drop(task);
    reporter.report(Event::Phase(format!(
        "closed-loop evaluation on {} new episodes",
        cfg.eval_episodes
    )));
    let t0 = Instant::now();
    let bc_net = match cfg.dagger {
        true => Some(PolicyModel::load(bc_path(run.root()))?.net),
        false => None,
    };
    let mut nets: Vec<(&str, plotters::style::RGBColor, &PolicyNet)> = Vec::new();
    match &bc_net {
        Some(b) => {
            nets.push(("BC", plots::BC, b));
            nets.push(("DAgger", plots::DAGGER, &net));
        }
        None => nets.push(("BC", plots::BC, &net)),
    }
    let cl = closed_loop(&sim, cfg.eval_episodes, cfg.seed, &nets)?;
    let eval = EvalReport {
        method: cfg.method(),
        arena: arena_name(cfg),
        demos: cfg.demos,
        aggregate,
        test_states: d.test.len(),
        test_accuracy: accuracy(&net, &d.test)?,
        test_optimal: optimal_rate(&net, &d.test)?,
        bc_test_accuracy: bc_net.as_ref().map(|b| accuracy(b, &d.test)).transpose()?,
        majority_accuracy: d.test.majority_rate(),
        closed_loop: cl.summaries(),
        paired: match cl.runs.as_slice() {
            [_, (bn, _, bt), (dn, _, dt)] => Some(Paired::of(bn, bt, dn, dt)),
            _ => None,
        },
        dagger_rounds: rounds,
        step: Some(fit.state.step),
        train_seconds: Some(fit.state.train_seconds),
        eval_seconds: t0.elapsed().as_secs_f64(),
    };
    run.write_json(crate::run::dir::EVAL_FILE, &eval)?;
    if !no_plot && cfg.plot_episodes > 0 {
        reporter.report(Event::Phase("drawing trajectories.png".into()));
        cl.draw(
            &run.file("trajectories.png"),
            &plot_title(&cl.runs),
            cfg.plot_episodes,
        )?;
    }
    Ok(TrainSummary { eval, fit })
}

/// For a resumed run: the DAgger rounds that began before the last
/// checkpoint's step, read back from `dagger.json`, and their states
/// relabelled into the aggregate (later rounds are driven again, by the
/// same network at the same step, so they come out the same).
fn restore_rounds(task: &mut PolicyTask) -> Result<()> {
    let file = task.run.file(DAGGER_FILE);
    if !file.exists() {
        return Ok(());
    }
    let state: RunState = Checkpoint::load(task.run.last())?
        .json(META_RUN_STATE)?
        .unwrap_or_default();
    let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
        path: file.clone(),
        source,
    })?;
    let rounds: Vec<DaggerRound> = serde_json::from_str(&text).map_err(|e| Error::Format {
        path: file.clone(),
        problem: format!("not a list of DAgger rounds: {e}"),
    })?;
    for r in rounds.into_iter().filter(|r| r.step < state.step) {
        let added = relabel(&task.sim, &r.visits)?;
        task.aggregate.extend(&added);
        task.rounds.push(r);
    }
    Ok(())
}

/// Scores the policy of `path` on `episodes` new episodes of `seed` (the
/// run's own evaluation episodes when both are `None`), beside the expert,
/// and on the run's held-out test states; draws `plot` if given.
pub fn evaluate_checkpoint(
    path: &Path,
    episodes: Option<usize>,
    seed: Option<u64>,
    plot: Option<&Path>,
) -> Result<EvalReport> {
    let t0 = Instant::now();
    let m = PolicyModel::load(path)?;
    let cfg = &m.config;
    let sim = cfg.sim();
    let test = expert_demos(&sim, cfg.test_states, cfg.seed, "test")?;
    let n = episodes.unwrap_or(cfg.eval_episodes);
    if n == 0 {
        return Err(Error::Config(
            "decision policy eval: --episodes must be at least 1".into(),
        ));
    }
    let ckpt = Checkpoint::load(path)?;
    let phase: Option<String> = ckpt.json("phase")?;
    let name = match (cfg.dagger, phase.as_deref()) {
        (true, Some("final")) => "DAgger",
        _ => "BC",
    };
    let colour = if name == "DAgger" {
        plots::DAGGER
    } else {
        plots::BC
    };
    let cl = closed_loop(&sim, n, seed.unwrap_or(cfg.seed), &[(name, colour, &m.net)])?;
    if let Some(p) = plot {
        cl.draw(p, &plot_title(&cl.runs), cfg.plot_episodes.max(1))?;
    }
    let state: Option<RunState> = ckpt.json(META_RUN_STATE)?;
    Ok(EvalReport {
        method: match name {
            "DAgger" => cfg.method(),
            _ => "behaviour cloning".into(),
        },
        arena: arena_name(cfg),
        demos: cfg.demos,
        aggregate: None,
        test_states: test.len(),
        test_accuracy: accuracy(&m.net, &test)?,
        test_optimal: optimal_rate(&m.net, &test)?,
        bc_test_accuracy: None,
        majority_accuracy: test.majority_rate(),
        closed_loop: cl.summaries(),
        paired: None,
        dagger_rounds: Vec::new(),
        step: state.as_ref().map(|s| s.step),
        train_seconds: state.map(|s| s.train_seconds),
        eval_seconds: t0.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests;
