//! Does the world model help? Agents act in the real [`Catch`]
//! environment: a random policy, the dream planner with the trained and
//! with an untrained MDN-RNN, and the linear controller trained in the
//! trained model's dream; mean returns over the same held-out episode
//! seeds, with 95% confidence intervals.

use super::config::WorldConfig;
use super::controller::{train_controller, Controller, ControllerReport};
use super::dream::{plan, step_input, PlanConfig};
use super::env::{Catch, Env, ACTIONS};
use super::mdn_rnn::MdnRnn;
use super::vae::{frames_to_tensor, ConvVae};
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::layers::lstm::LstmState;
use ferrograd_nn::train::derive_seed;
use ferrograd_nn::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The first environment seed of the evaluation episodes (far from the
/// collection seeds, which start at the configuration's seed).
pub const EVAL_SEED: u64 = 1_000_000;

/// Returns of one agent over the evaluation episodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentScore {
    /// The agent.
    pub agent: String,
    /// Mean return.
    pub mean: f64,
    /// Half-width of the 95% confidence interval of the mean (1.96 standard
    /// errors).
    pub ci95: f64,
    /// Mean episode length.
    pub mean_length: f64,
    /// Each episode's return.
    pub returns: Vec<f32>,
}

impl AgentScore {
    fn new(agent: &str, runs: &[(f32, usize)]) -> AgentScore {
        let n = runs.len().max(1) as f64;
        let mean = runs.iter().map(|r| r.0 as f64).sum::<f64>() / n;
        let var = runs
            .iter()
            .map(|r| (r.0 as f64 - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0).max(1.0);
        AgentScore {
            agent: agent.into(),
            mean,
            ci95: 1.96 * (var / n).sqrt(),
            mean_length: runs.iter().map(|r| r.1 as f64).sum::<f64>() / n,
            returns: runs.iter().map(|r| r.0).collect(),
        }
    }
}

/// The paired difference of two agents' returns over the same episode seeds.
///
/// The fruit of [`Catch`] fall the same way whatever the paddle does (their
/// draws do not depend on the actions), so episode `i` poses the same
/// problem to every agent, and the per-episode difference of returns
/// removes the luck of the draw that widens each agent's own interval
/// (common random numbers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedDifference {
    /// The agent whose returns come first.
    pub agent: String,
    /// The agent it is compared with.
    pub baseline: String,
    /// Mean of `agent`'s return minus `baseline`'s, episode by episode.
    pub mean: f64,
    /// Half-width of the 95% confidence interval of that mean.
    pub ci95: f64,
    /// Episodes where `agent` scored more, the same, and less.
    pub wins_ties_losses: [usize; 3],
}

impl PairedDifference {
    /// The difference of `a` against `b` (same episodes, same order).
    /// Errors if they were not scored on the same number of episodes.
    pub fn new(a: &AgentScore, b: &AgentScore) -> Result<PairedDifference> {
        if a.returns.len() != b.returns.len() || a.returns.is_empty() {
            return Err(ferrograd_nn::Error::Config(format!(
                "paired difference: '{}' has {} episodes and '{}' {}",
                a.agent,
                a.returns.len(),
                b.agent,
                b.returns.len()
            )));
        }
        let d: Vec<f64> = a
            .returns
            .iter()
            .zip(&b.returns)
            .map(|(x, y)| *x as f64 - *y as f64)
            .collect();
        let n = d.len() as f64;
        let mean = d.iter().sum::<f64>() / n;
        let var = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        let count = |f: fn(&f64) -> bool| d.iter().filter(|v| f(v)).count();
        Ok(PairedDifference {
            agent: a.agent.clone(),
            baseline: b.agent.clone(),
            mean,
            ci95: 1.96 * (var / n).sqrt(),
            wins_ties_losses: [
                count(|v| *v > 0.0),
                count(|v| *v == 0.0),
                count(|v| *v < 0.0),
            ],
        })
    }
}

/// An agent that chooses actions in the real environment.
pub enum Agent<'a> {
    /// Uniformly random actions.
    Random,
    /// The same action every step.
    Constant(usize),
    /// The dream planner with this VAE and MDN-RNN.
    Planner(&'a ConvVae, &'a MdnRnn, PlanConfig),
    /// A controller on the VAE's latent and this MDN-RNN's hidden state.
    Controller(&'a ConvVae, &'a MdnRnn, &'a Controller),
}

/// The VAE's mean latent of one frame.
fn encode(vae: &ConvVae, frame: &[u8]) -> Result<Vec<f32>> {
    Ok(
        no_grad(|| vae.encode(&Var::constant(frames_to_tensor(&[frame])?)))?
            .mu
            .value()
            .data()
            .to_vec(),
    )
}

/// Plays one real episode from `seed` with `agent`; returns the return, the
/// length and the actions taken.
pub fn play(agent: &Agent, seed: u64) -> Result<(f32, usize, Vec<usize>)> {
    let mut env = Catch::default();
    let mut frame = env.reset(seed);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut state: Option<LstmState> = None;
    let (mut ret, mut actions) = (0.0, Vec::new());
    loop {
        let a = match agent {
            Agent::Random => rng.random_range(0..ACTIONS),
            Agent::Constant(a) => *a,
            Agent::Planner(vae, rnn, cfg) => {
                let z = encode(vae, &frame)?;
                let a = plan(rnn, &z, state.as_ref(), cfg, &mut rng)?;
                advance(rnn, &z, a, &mut state)?;
                a
            }
            Agent::Controller(vae, rnn, c) => {
                let z = encode(vae, &frame)?;
                let a = match &state {
                    Some((h, _)) => c.act(&z, h.value().data()),
                    None => c.act(&z, &vec![0.0; rnn.config().hidden]),
                };
                advance(rnn, &z, a, &mut state)?;
                a
            }
        };
        let (f, r, done) = env.step(a)?;
        ret += r;
        actions.push(a);
        frame = f;
        if done {
            return Ok((ret, actions.len(), actions));
        }
    }
}

/// Advances the memory with what was seen (`z`) and done (`a`).
fn advance(rnn: &MdnRnn, z: &[f32], a: usize, state: &mut Option<LstmState>) -> Result<()> {
    let x = step_input(z, &[a], z.len())?;
    *state = Some(no_grad(|| rnn.forward_from(&x, state.as_ref()))?.1);
    Ok(())
}

/// Real frames to start the controller's dreams from: the VAE's latents of
/// frames a random number of random steps into episodes of training seeds.
pub fn start_latents(vae: &ConvVae, count: usize, seed: u64) -> Result<Vec<Vec<f32>>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut frames = Vec::with_capacity(count);
    for i in 0..count {
        let mut env = Catch::default();
        let mut frame = env.reset(seed.wrapping_add(i as u64));
        for _ in 0..rng.random_range(0..60) {
            let (f, _, done) = env.step(rng.random_range(0..ACTIONS))?;
            frame = f;
            if done {
                break;
            }
        }
        frames.push(frame);
    }
    let mut out = Vec::with_capacity(count);
    for chunk in frames.chunks(32) {
        let refs: Vec<&[u8]> = chunk.iter().map(|f| f.as_slice()).collect();
        let mu = no_grad(|| vae.encode(&Var::constant(frames_to_tensor(&refs)?)))?.mu;
        let zd = mu.dims()[1];
        out.extend(mu.value().data().chunks_exact(zd).map(|z| z.to_vec()));
    }
    Ok(out)
}

/// The evaluation of [`evaluate_agents`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanReport {
    /// Episodes per agent.
    pub episodes: usize,
    /// One row per agent.
    pub agents: Vec<AgentScore>,
    /// The planner with the trained memory model against each other agent,
    /// paired by episode.
    pub comparisons: Vec<PairedDifference>,
    /// The controller's training in the dream.
    pub controller_training: ControllerReport,
    /// The trained controller.
    pub controller: Controller,
}

/// Trains the controller in the dream of `rnn`, then scores the random
/// policy, the planner with an untrained memory model (same architecture,
/// seeded), the planner with `rnn` and the controller on
/// `cfg.eval_episodes` held-out episodes, in parallel over episodes.
pub fn evaluate_agents(cfg: &WorldConfig, vae: &ConvVae, rnn: &MdnRnn) -> Result<PlanReport> {
    let untrained = MdnRnn::new(&cfg.rnn(), derive_seed(cfg.seed, "untrained"))?;
    let starts = start_latents(vae, 64, derive_seed(cfg.seed, "controller-starts"))?;
    let (controller, training) = train_controller(
        rnn,
        &starts,
        &cfg.controller(),
        derive_seed(cfg.seed, "controller"),
    )?;
    let plan = cfg.plan();
    const TRAINED_PLANNER: usize = 2;
    let agents = [
        ("random", Agent::Random),
        (
            "planner, untrained MDN-RNN",
            Agent::Planner(vae, &untrained, plan.clone()),
        ),
        ("planner, trained MDN-RNN", Agent::Planner(vae, rnn, plan)),
        (
            "controller trained in the dream",
            Agent::Controller(vae, rnn, &controller),
        ),
    ];
    let mut rows = Vec::new();
    for (name, agent) in &agents {
        let runs = (0..cfg.eval_episodes)
            .into_par_iter()
            .map(|i| play(agent, EVAL_SEED + i as u64).map(|(r, n, _)| (r, n)))
            .collect::<Result<Vec<_>>>()?;
        rows.push(AgentScore::new(name, &runs));
    }
    // The trained planner against each of the others.
    let comparisons = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != TRAINED_PLANNER)
        .map(|(_, b)| PairedDifference::new(&rows[TRAINED_PLANNER], b))
        .collect::<Result<Vec<_>>>()?;
    Ok(PlanReport {
        episodes: cfg.eval_episodes,
        agents: rows,
        comparisons,
        controller_training: training,
        controller,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_play_whole_episodes() {
        let (r, n, acts) = play(&Agent::Constant(1), 4).unwrap();
        assert_eq!(acts.len(), n);
        assert!(acts.iter().all(|&a| a == 1));
        assert!(r <= 0.0, "standing still mostly misses");
        let (vae, rnn) = crate::world::tiny_models();
        let cfg = PlanConfig {
            horizon: 2,
            candidates: 4,
            iterations: 1,
            ..PlanConfig::default()
        };
        let a = play(&Agent::Planner(&vae, &rnn, cfg.clone()), 4).unwrap();
        assert_eq!(
            a,
            play(&Agent::Planner(&vae, &rnn, cfg), 4).unwrap(),
            "seeded"
        );
    }

    #[test]
    fn scores_have_a_mean_and_an_interval() {
        let s = AgentScore::new("x", &[(1.0, 10), (3.0, 20)]);
        assert_eq!(s.mean, 2.0);
        assert_eq!(s.mean_length, 15.0);
        assert!((s.ci95 - 1.96 * (2.0f64 / 2.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn paired_differences_cancel_the_shared_luck() {
        // Returns that move together: each agent's own interval is wide,
        // the difference is exactly 1 every episode.
        let a = AgentScore::new("a", &[(1.0, 1), (5.0, 1), (-3.0, 1), (2.0, 1)]);
        let b = AgentScore::new("b", &[(0.0, 1), (4.0, 1), (-4.0, 1), (1.0, 1)]);
        let d = PairedDifference::new(&a, &b).unwrap();
        assert_eq!(d.mean, 1.0);
        assert_eq!(d.ci95, 0.0);
        assert_eq!(d.wins_ties_losses, [4, 0, 0]);
        assert!(a.ci95 > 2.0);
        let c = AgentScore::new("c", &[(1.0, 1), (4.0, 1), (-3.0, 1), (3.0, 1)]);
        let d = PairedDifference::new(&c, &b).unwrap();
        assert_eq!(d.wins_ties_losses, [3, 1, 0]);
        assert!((d.mean - 1.0).abs() < 1e-12);
        assert!(d.ci95 > 0.0);
        let short = AgentScore::new("s", &[(1.0, 1)]);
        assert!(PairedDifference::new(&a, &short).is_err());
    }

    #[test]
    fn the_fruit_fall_the_same_whatever_the_agent_does() {
        // What makes the paired comparison fair: two agents on the same
        // seed see the same fruit appear at the same steps.
        let mut left = Catch::default();
        let mut right = Catch::default();
        left.reset(7);
        right.reset(7);
        for _ in 0..80 {
            if left.is_done() || right.is_done() {
                break;
            }
            left.step(0).unwrap();
            right.step(2).unwrap();
            let xs = |c: &Catch| c.fruit.iter().map(|f| (f.x, f.y)).collect::<Vec<_>>();
            assert_eq!(xs(&left), xs(&right));
        }
    }
}
