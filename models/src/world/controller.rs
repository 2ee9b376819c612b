//! The controller C of World Models: a linear policy on the latent z and
//! the MDN-RNN's hidden state h, `action = argmax(W·[z, h] + b)`, trained
//! entirely inside the dream with the cross-entropy method (an evolution
//! strategy, as the paper's CMA-ES): every generation samples a population
//! of parameter vectors, scores each by its mean predicted return over
//! dream rollouts (all members' rollouts in one LSTM batch, from the same
//! start latents), and refits a diagonal Gaussian to the best quarter.

use super::dream::{sample_next, step_input};
use super::env::ACTIONS;
use super::mdn_rnn::MdnRnn;
use ferrograd_autograd::no_grad;
use ferrograd_nn::layers::lstm::LstmState;
use ferrograd_nn::{Error, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Settings of [`train_controller`].
#[derive(Clone, Debug, PartialEq)]
pub struct ControllerConfig {
    /// Rounds of the cross-entropy method.
    pub generations: usize,
    /// Parameter vectors scored per generation.
    pub population: usize,
    /// Dream rollouts per member per generation.
    pub rollouts: usize,
    /// Steps per dream rollout.
    pub horizon: usize,
    /// Temperature of the dream (above 0 so that the controller cannot
    /// exploit one deterministic path through an imperfect model).
    pub temperature: f32,
}

impl Default for ControllerConfig {
    fn default() -> ControllerConfig {
        ControllerConfig {
            generations: 20,
            population: 32,
            rollouts: 4,
            horizon: 40,
            temperature: 1.0,
        }
    }
}

/// A linear controller over `[z, h]` (see the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Controller {
    /// Latent size.
    pub z_dim: usize,
    /// Hidden size of the MDN-RNN.
    pub hidden: usize,
    /// `W` (`ACTIONS × (z_dim + hidden)`, row-major) then `b` (`ACTIONS`).
    pub params: Vec<f32>,
}

impl Controller {
    /// The number of parameters for these sizes.
    pub fn size(z_dim: usize, hidden: usize) -> usize {
        ACTIONS * (z_dim + hidden + 1)
    }

    /// A controller with these parameters; an error if their number is not
    /// [`Controller::size`].
    pub fn new(z_dim: usize, hidden: usize, params: Vec<f32>) -> Result<Controller> {
        if params.len() != Controller::size(z_dim, hidden) {
            return Err(Error::Config(format!(
                "controller: {} parameters for z {z_dim} and hidden {hidden}, expected {}",
                params.len(),
                Controller::size(z_dim, hidden)
            )));
        }
        Ok(Controller {
            z_dim,
            hidden,
            params,
        })
    }

    /// The action for latent `z` and hidden state `h` (ties go to the lower
    /// action).
    pub fn act(&self, z: &[f32], h: &[f32]) -> usize {
        let n = self.z_dim + self.hidden;
        let bias = &self.params[ACTIONS * n..];
        let score = |a: usize| -> f32 {
            let w = &self.params[a * n..(a + 1) * n];
            let wz: f32 = w[..self.z_dim].iter().zip(z).map(|(p, v)| p * v).sum();
            let wh: f32 = w[self.z_dim..].iter().zip(h).map(|(p, v)| p * v).sum();
            wz + wh + bias[a]
        };
        let mut best = (f32::NEG_INFINITY, 1);
        for a in 0..ACTIONS {
            let s = score(a);
            if s > best.0 {
                best = (s, a);
            }
        }
        best.1
    }
}

/// What [`train_controller`] saw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControllerReport {
    /// Per generation, the mean dream return of the population's mean
    /// (scored on that generation's rollouts).
    pub mean_dream_return: Vec<f32>,
    /// Per generation, the best member's dream return.
    pub best_dream_return: Vec<f32>,
}

/// The dream returns of each controller over `rollouts` dreams from each of
/// the same starts (row `(member, rollout)` starts at `starts[rollout]`):
/// predicted rewards summed, each weighted by the predicted chance that the
/// episode is still going.
pub fn dream_returns(
    model: &MdnRnn,
    members: &[Controller],
    starts: &[Vec<f32>],
    horizon: usize,
    temperature: f32,
    rng: &mut impl Rng,
) -> Result<Vec<f32>> {
    let zd = model.config().z_dim;
    let hd = model.config().hidden;
    if starts.is_empty() || starts.iter().any(|z| z.len() != zd) {
        return Err(Error::Config(format!(
            "controller: need at least one start latent of {zd} numbers"
        )));
    }
    let (m, r) = (members.len(), starts.len());
    let rows = m * r;
    let mut z: Vec<f32> = (0..m)
        .flat_map(|_| starts.iter().flatten().copied())
        .collect();
    let mut h = vec![0.0f32; rows * hd];
    let mut state: Option<LstmState> = None;
    let (mut ret, mut alive) = (vec![0.0f32; rows], vec![1.0f32; rows]);
    for _ in 0..horizon {
        let actions: Vec<usize> = (0..rows)
            .map(|i| members[i / r].act(&z[i * zd..(i + 1) * zd], &h[i * hd..(i + 1) * hd]))
            .collect();
        let x = step_input(&z, &actions, zd)?;
        let (out, next) = no_grad(|| model.forward_from(&x, state.as_ref()))?;
        let (z2, rew, done) = sample_next(model, &out, temperature, rng)?;
        for i in 0..rows {
            ret[i] += alive[i] * rew[i];
            alive[i] *= 1.0 - done[i];
        }
        h = next.0.value().data().to_vec();
        z = z2;
        state = Some(next);
    }
    Ok((0..m)
        .map(|k| ret[k * r..(k + 1) * r].iter().sum::<f32>() / r as f32)
        .collect())
}

/// Trains a controller in the dream of `model` from real start latents
/// `starts` (each generation draws `cfg.rollouts` of them); returns the
/// final mean of the search distribution and the training curve.
pub fn train_controller(
    model: &MdnRnn,
    starts: &[Vec<f32>],
    cfg: &ControllerConfig,
    seed: u64,
) -> Result<(Controller, ControllerReport)> {
    if cfg.generations == 0 || cfg.population < 2 || cfg.rollouts == 0 || cfg.horizon == 0 {
        return Err(Error::Config(format!(
            "controller: generations, rollouts and horizon must be at least 1 and the population at least 2, got {cfg:?}"
        )));
    }
    if starts.is_empty() {
        return Err(Error::Config(
            "controller: no start latents to dream from".into(),
        ));
    }
    let (zd, hd) = (model.config().z_dim, model.config().hidden);
    let n = Controller::size(zd, hd);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut mean, mut sd) = (vec![0.0f32; n], vec![0.5f32; n]);
    let elites = (cfg.population / 4).max(1);
    let mut report = ControllerReport {
        mean_dream_return: Vec::new(),
        best_dream_return: Vec::new(),
    };
    for g in 0..cfg.generations {
        let picks: Vec<Vec<f32>> = (0..cfg.rollouts)
            .map(|_| starts[rng.random_range(0..starts.len())].clone())
            .collect();
        // Member 0 is the current mean, scored on the same dreams.
        let mut members = vec![Controller::new(zd, hd, mean.clone())?];
        for _ in 1..cfg.population {
            let p = mean
                .iter()
                .zip(&sd)
                .map(|(m, s)| {
                    let e: f32 = StandardNormal.sample(&mut rng);
                    m + s * e
                })
                .collect();
            members.push(Controller::new(zd, hd, p)?);
        }
        let scores = dream_returns(
            model,
            &members,
            &picks,
            cfg.horizon,
            cfg.temperature,
            &mut rng,
        )?;
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        report.mean_dream_return.push(scores[0]);
        report.best_dream_return.push(scores[order[0]]);
        // A noise floor that shrinks over the generations keeps the search
        // from collapsing early.
        let floor = 0.05 * (1.0 - g as f32 / cfg.generations as f32) + 0.01;
        for j in 0..n {
            let vals: Vec<f32> = order[..elites]
                .iter()
                .map(|&e| members[e].params[j])
                .collect();
            let mu = vals.iter().sum::<f32>() / elites as f32;
            let var = vals.iter().map(|v| (v - mu).powi(2)).sum::<f32>() / elites as f32;
            mean[j] = mu;
            sd[j] = var.sqrt() + floor;
        }
    }
    Ok((Controller::new(zd, hd, mean)?, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::mdn_rnn::MdnRnnConfig;

    fn small() -> MdnRnn {
        MdnRnn::new(
            &MdnRnnConfig {
                z_dim: 4,
                action_dim: ACTIONS,
                hidden: 8,
                components: 2,
                per_dim: true,
                reward_hidden: 0,
            },
            3,
        )
        .unwrap()
    }

    #[test]
    fn the_controller_takes_the_highest_score() {
        let mut p = vec![0.0; Controller::size(1, 1)];
        // Action 2 scores z, action 0 scores −z; biases 0.
        p[2 * 2] = 1.0;
        p[0] = -1.0;
        let c = Controller::new(1, 1, p).unwrap();
        assert_eq!(c.act(&[1.0], &[0.0]), 2);
        assert_eq!(c.act(&[-1.0], &[0.0]), 0);
        assert_eq!(c.act(&[0.0], &[0.0]), 0, "ties go to the lower action");
        assert!(Controller::new(1, 1, vec![0.0; 3]).is_err());
    }

    #[test]
    fn batched_dreams_match_one_member_at_a_time() {
        let m = small();
        let mut rng = StdRng::seed_from_u64(0);
        let members: Vec<Controller> = (0..3)
            .map(|_| {
                let p = (0..Controller::size(4, 8))
                    .map(|_| rng.random_range(-1.0..1.0))
                    .collect();
                Controller::new(4, 8, p).unwrap()
            })
            .collect();
        let starts = vec![vec![0.1, -0.2, 0.3, 0.0], vec![0.0, 0.5, -0.5, 0.2]];
        let all = dream_returns(&m, &members, &starts, 5, 0.0, &mut rng).unwrap();
        for (k, c) in members.iter().enumerate() {
            let one =
                dream_returns(&m, std::slice::from_ref(c), &starts, 5, 0.0, &mut rng).unwrap();
            assert!((one[0] - all[k]).abs() < 1e-5, "{} vs {}", one[0], all[k]);
        }
        assert!(dream_returns(&m, &members, &[vec![0.0; 3]], 5, 0.0, &mut rng).is_err());
    }

    #[test]
    fn training_is_seeded_and_scores_its_members() {
        let m = small();
        let starts = vec![vec![0.0; 4], vec![0.2, 0.1, -0.1, 0.3]];
        let cfg = ControllerConfig {
            generations: 6,
            population: 12,
            rollouts: 2,
            horizon: 6,
            temperature: 0.0,
        };
        let (c, r) = train_controller(&m, &starts, &cfg, 5).unwrap();
        let (c2, _) = train_controller(&m, &starts, &cfg, 5).unwrap();
        assert_eq!(c, c2, "seeded");
        assert_eq!(r.mean_dream_return.len(), 6);
        // The best member of a generation scores at least the mean member,
        // which is one of the population.
        for (b, mu) in r.best_dream_return.iter().zip(&r.mean_dream_return) {
            assert!(b >= mu);
        }
        let bad = ControllerConfig {
            population: 1,
            ..cfg
        };
        assert!(train_controller(&m, &starts, &bad, 5).is_err());
        assert!(train_controller(&m, &[], &ControllerConfig::default(), 5).is_err());
    }
}
