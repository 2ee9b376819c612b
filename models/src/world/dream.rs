//! Dreaming with the world model: stored episodes turned into latent
//! sequences by the VAE ([`encode_episodes`], the reference's
//! `FramesToLatentConverter`), temperature sampling from the MDN-RNN
//! ([`sample_next`]), the dream environment ([`DreamEnv`]) and planners that
//! choose actions by simulating candidate action sequences in the dream
//! ([`plan`]: random shooting and the cross-entropy method, all candidates
//! in one LSTM batch).

use super::env::{one_hot, ACTIONS};
use super::episodes::Episode;
use super::mdn_rnn::{MdnRnn, MdnRnnOutput};
use super::vae::{frames_to_tensor, ConvVae};
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::layers::lstm::LstmState;
use ferrograd_nn::{Error, Result};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// An episode in latent space: the VAE means of its `T + 1` frames.
#[derive(Clone, Debug, PartialEq)]
pub struct LatentEpisode {
    /// `(T + 1) × Z` latents, row-major.
    pub z: Vec<f32>,
    /// `T` actions.
    pub actions: Vec<u8>,
    /// `T` rewards.
    pub rewards: Vec<f32>,
    /// `T` done flags.
    pub dones: Vec<u8>,
}

impl LatentEpisode {
    /// Number of steps T.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Encodes every frame of `episodes` to its VAE mean, `batch` frames per
/// forward pass.
pub fn encode_episodes(
    vae: &ConvVae,
    episodes: &[Episode],
    batch: usize,
) -> Result<Vec<LatentEpisode>> {
    let batch = batch.max(1);
    let zd = vae.config.z_dim;
    no_grad(|| {
        episodes
            .iter()
            .map(|ep| {
                let frames: Vec<&[u8]> = (0..=ep.len()).map(|t| ep.frame(t)).collect();
                let mut z = Vec::with_capacity(frames.len() * zd);
                for chunk in frames.chunks(batch) {
                    let x = Var::constant(frames_to_tensor(chunk)?);
                    z.extend_from_slice(vae.encode(&x)?.mu.value().data());
                }
                Ok(LatentEpisode {
                    z,
                    actions: ep.actions.clone(),
                    rewards: ep.rewards.clone(),
                    dones: ep.dones.clone(),
                })
            })
            .collect()
    })
}

/// One draw from the MDN-RNN's last time step for every batch row: the next
/// latent `[B, Z]`, the predicted reward `[B]` and the probability that the
/// episode ends `[B]`.
///
/// Temperature τ as in the paper: the mixture logits are divided by τ and
/// the standard deviations multiplied by √τ, so τ → 0 picks the most likely
/// component's mean (τ = 0 exactly does so), τ = 1 samples the model as
/// trained, τ > 1 is wilder.
pub fn sample_next(
    model: &MdnRnn,
    out: &MdnRnnOutput,
    temperature: f32,
    rng: &mut impl Rng,
) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    if !(temperature.is_finite() && temperature >= 0.0) {
        return Err(Error::Config(format!(
            "dream: temperature must be finite and non-negative, got {temperature}"
        )));
    }
    let c = model.config();
    let (k, zd) = (c.components, c.z_dim);
    let md = out.means.dims();
    let (b, t) = (md[0], md[1]);
    let last = |v: &Var| -> Result<Tensor> { Ok(v.value().narrow(1, t - 1, 1)?) };
    let (logits, means, log_s) = (
        last(&out.logits)?,
        last(&out.means)?,
        last(&out.log_sigmas)?,
    );
    let (l, m, s) = (logits.data(), means.data(), log_s.data());
    // The logits of component `kk` for row `bi` and dimension `j`.
    let logit = |bi: usize, kk: usize, j: usize| {
        if c.per_dim {
            l[(bi * k + kk) * zd + j]
        } else {
            l[bi * k + kk]
        }
    };
    let pick = |bi: usize, j: usize, rng: &mut dyn rand::RngCore| -> usize {
        let best = (0..k)
            .max_by(|&a, &bb| logit(bi, a, j).total_cmp(&logit(bi, bb, j)))
            .unwrap_or(0);
        if temperature == 0.0 {
            return best;
        }
        let top = logit(bi, best, j);
        let w: Vec<f32> = (0..k)
            .map(|kk| ((logit(bi, kk, j) - top) / temperature).exp())
            .collect();
        let mut u = rng.random::<f32>() * w.iter().sum::<f32>();
        for (kk, wk) in w.iter().enumerate() {
            if u < *wk {
                return kk;
            }
            u -= wk;
        }
        k - 1
    };
    let mut z = vec![0.0f32; b * zd];
    for bi in 0..b {
        let joint = (!c.per_dim).then(|| pick(bi, 0, rng));
        for j in 0..zd {
            let kk = joint.unwrap_or_else(|| pick(bi, j, rng));
            let i = (bi * k + kk) * zd + j;
            let xi: f32 = StandardNormal.sample(rng);
            z[bi * zd + j] = m[i] + s[i].exp() * temperature.sqrt() * xi;
        }
    }
    let reward = out.reward.value().narrow(1, t - 1, 1)?;
    let done = out.done.value().narrow(1, t - 1, 1)?;
    let p_done = done
        .data()
        .iter()
        .map(|d| 1.0 / (1.0 + (-d).exp()))
        .collect();
    Ok((z, reward.data().to_vec(), p_done))
}

/// The inputs `[B, 1, Z + A]` of one step: latents `z` (`B × Z`) and one
/// action per row.
pub fn step_input(z: &[f32], actions: &[usize], zd: usize) -> Result<Var> {
    let b = actions.len();
    let mut v = Vec::with_capacity(b * (zd + ACTIONS));
    for (bi, &a) in actions.iter().enumerate() {
        v.extend_from_slice(&z[bi * zd..(bi + 1) * zd]);
        v.extend_from_slice(&one_hot(a));
    }
    Ok(Var::constant(Tensor::from_vec(v, &[b, 1, zd + ACTIONS])?))
}

/// The dream environment: it steps in latent space with the MDN-RNN and
/// renders frames with the VAE's decoder.
pub struct DreamEnv<'a> {
    model: &'a MdnRnn,
    vae: Option<&'a ConvVae>,
    /// Sampling temperature.
    pub temperature: f32,
    /// A done probability above this ends the dream episode.
    pub done_threshold: f32,
    rng: StdRng,
    z: Vec<f32>,
    state: Option<LstmState>,
}

impl<'a> DreamEnv<'a> {
    /// A dream of `model` (rendering with `vae` if given) at `temperature`.
    pub fn new(model: &'a MdnRnn, vae: Option<&'a ConvVae>, temperature: f32) -> DreamEnv<'a> {
        DreamEnv {
            model,
            vae,
            temperature,
            done_threshold: 0.5,
            rng: StdRng::seed_from_u64(0),
            z: vec![0.0; model.config().z_dim],
            state: None,
        }
    }

    /// Starts from latent `z` (zero LSTM state), seeding the dream's draws.
    pub fn reset_latent(&mut self, z: &[f32], seed: u64) -> Result<()> {
        if z.len() != self.model.config().z_dim {
            return Err(Error::Config(format!(
                "dream: a latent has {} numbers, this model's {}",
                z.len(),
                self.model.config().z_dim
            )));
        }
        crate::guard::finite_input("dream", "latent", z, 0)?;
        self.z = z.to_vec();
        self.state = None;
        self.rng = StdRng::seed_from_u64(seed);
        Ok(())
    }

    /// Starts from a real frame, encoded by the VAE (its mean).
    pub fn reset_frame(&mut self, frame: &[u8], seed: u64) -> Result<()> {
        let vae = self
            .vae
            .ok_or_else(|| Error::Config("dream: resetting from a frame needs the VAE".into()))?;
        let mu = no_grad(|| vae.encode(&Var::constant(frames_to_tensor(&[frame])?)))?.mu;
        self.reset_latent(mu.value().data(), seed)
    }

    /// The current latent.
    pub fn latent(&self) -> &[f32] {
        &self.z
    }

    /// One dream step: the next latent, the predicted reward and whether the
    /// dream predicts the end.
    pub fn step(&mut self, action: usize) -> Result<(Vec<f32>, f32, bool)> {
        if action >= ACTIONS {
            return Err(Error::Config(format!(
                "dream: action {action} is not below {ACTIONS}"
            )));
        }
        let zd = self.model.config().z_dim;
        let x = step_input(&self.z, &[action], zd)?;
        let (out, state) = no_grad(|| self.model.forward_from(&x, self.state.as_ref()))?;
        let (z, r, d) = sample_next(self.model, &out, self.temperature, &mut self.rng)?;
        crate::guard::finite_output("dream step", &z)?;
        crate::guard::finite_output("dream step", &r)?;
        self.state = Some(state);
        self.z = z.clone();
        Ok((z, r[0], d[0] > self.done_threshold))
    }

    /// The current latent decoded to a frame (needs the VAE).
    pub fn render(&self) -> Result<Vec<u8>> {
        let vae = self
            .vae
            .ok_or_else(|| Error::Config("dream: rendering needs the VAE".into()))?;
        let z = Var::constant(Tensor::from_vec(self.z.clone(), &[1, self.z.len()])?);
        let x = no_grad(|| vae.decode(&z))?;
        Ok(super::vae::tensor_to_frames(x.value()).remove(0))
    }
}

/// How [`plan`] searches.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Planner {
    /// Random shooting: the best of `candidates` uniformly random sequences.
    RandomShooting,
    /// The cross-entropy method: `iterations` rounds, each refitting a
    /// per-step action distribution to the best tenth of the candidates.
    Cem,
}

/// Settings of [`plan`].
#[derive(Clone, Debug, PartialEq)]
pub struct PlanConfig {
    /// The search.
    pub planner: Planner,
    /// Steps simulated per candidate.
    pub horizon: usize,
    /// Candidate action sequences per round (one LSTM batch).
    pub candidates: usize,
    /// Rounds of the cross-entropy method.
    pub iterations: usize,
    /// Temperature of the simulated draws (0: the most likely mean).
    pub temperature: f32,
    /// Draws simulated per candidate (in the same LSTM batch), their
    /// predicted returns averaged; more than 1 only helps above τ = 0.
    pub samples: usize,
    /// Weight of the predicted reward `t` steps ahead: `discount^t` (1: all
    /// steps count the same; below 1 trusts the near dream more).
    pub discount: f32,
}

impl Default for PlanConfig {
    fn default() -> PlanConfig {
        PlanConfig {
            planner: Planner::Cem,
            horizon: 15,
            candidates: 64,
            iterations: 3,
            temperature: 0.0,
            samples: 1,
            discount: 1.0,
        }
    }
}

/// The predicted return of every candidate action sequence (`candidates ×
/// horizon` actions) from latent `z` and LSTM `state`, simulated together:
/// the sum of predicted rewards, each weighted by the predicted chance that
/// the episode is still going and by `discount^t` at step `t`.
pub fn simulate(
    model: &MdnRnn,
    z: &[f32],
    state: Option<&LstmState>,
    sequences: &[Vec<usize>],
    (temperature, discount): (f32, f32),
    rng: &mut impl Rng,
) -> Result<Vec<f32>> {
    let n = sequences.len();
    let zd = model.config().z_dim;
    if z.len() != zd {
        return Err(Error::Config(format!(
            "dream: a latent has {} numbers, this model's {zd}",
            z.len()
        )));
    }
    crate::guard::finite_input("dream", "latent", z, 0)?;
    let horizon = sequences.first().map_or(0, |s| s.len());
    let mut zs: Vec<f32> = (0..n).flat_map(|_| z.iter().copied()).collect();
    let mut st: Option<LstmState> = match state {
        Some((h, c)) => {
            let rep = |v: &Var| -> Result<Var> {
                let rows: Vec<&Var> = (0..n).map(|_| v).collect();
                Ok(Var::concat(&rows, 0)?)
            };
            Some((rep(h)?, rep(c)?))
        }
        None => None,
    };
    let (mut ret, mut alive) = (vec![0.0f32; n], vec![1.0f32; n]);
    let mut weight = 1.0f32;
    for t in 0..horizon {
        let actions: Vec<usize> = sequences.iter().map(|s| s[t]).collect();
        let x = step_input(&zs, &actions, zd)?;
        let (out, next) = no_grad(|| model.forward_from(&x, st.as_ref()))?;
        let (z2, r, d) = sample_next(model, &out, temperature, rng)?;
        for i in 0..n {
            ret[i] += weight * alive[i] * r[i];
            alive[i] *= 1.0 - d[i];
        }
        weight *= discount;
        zs = z2;
        st = Some(next);
    }
    Ok(ret)
}

/// Chooses the next action from latent `z` and LSTM `state` by simulating
/// candidate sequences in the dream (see [`Planner`]).
pub fn plan(
    model: &MdnRnn,
    z: &[f32],
    state: Option<&LstmState>,
    cfg: &PlanConfig,
    rng: &mut impl Rng,
) -> Result<usize> {
    if cfg.horizon == 0 || cfg.candidates == 0 || cfg.samples == 0 {
        return Err(Error::Config(
            "planner: horizon, candidates and samples must be at least 1".into(),
        ));
    }
    if !(cfg.discount > 0.0 && cfg.discount <= 1.0) {
        return Err(Error::Config(format!(
            "planner: discount must be in (0, 1], got {}",
            cfg.discount
        )));
    }
    let rounds = match cfg.planner {
        Planner::RandomShooting => 1,
        Planner::Cem => cfg.iterations.max(1),
    };
    // Per step, the probabilities of the actions (uniform to start).
    let mut probs = vec![[1.0 / ACTIONS as f32; ACTIONS]; cfg.horizon];
    let mut best = (f32::NEG_INFINITY, 1usize);
    for _ in 0..rounds {
        let seqs: Vec<Vec<usize>> = (0..cfg.candidates)
            .map(|_| {
                probs
                    .iter()
                    .map(|p| {
                        let mut u = rng.random::<f32>();
                        p.iter()
                            .position(|&q| {
                                u -= q;
                                u < 0.0
                            })
                            .unwrap_or(ACTIONS - 1)
                    })
                    .collect()
            })
            .collect();
        let draws: Vec<Vec<usize>> = seqs
            .iter()
            .flat_map(|q| std::iter::repeat_n(q.clone(), cfg.samples))
            .collect();
        let sims = simulate(
            model,
            z,
            state,
            &draws,
            (cfg.temperature, cfg.discount),
            rng,
        )?;
        let scores: Vec<f32> = sims
            .chunks_exact(cfg.samples)
            .map(|c| c.iter().sum::<f32>() / cfg.samples as f32)
            .collect();
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        if scores[order[0]] > best.0 {
            best = (scores[order[0]], seqs[order[0]][0]);
        }
        let elites = &order[..(seqs.len() / 10).max(1)];
        for (t, p) in probs.iter_mut().enumerate() {
            let mut counts = [0.1f32; ACTIONS];
            for &e in elites {
                counts[seqs[e][t]] += 1.0;
            }
            let total: f32 = counts.iter().sum();
            *p = counts.map(|c| c / total);
        }
    }
    Ok(best.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::mdn_rnn::MdnRnnConfig;
    use crate::world::vae::VaeConfig;

    fn small(per_dim: bool) -> MdnRnn {
        let c = MdnRnnConfig {
            z_dim: 4,
            action_dim: ACTIONS,
            hidden: 16,
            components: 3,
            per_dim,
            reward_hidden: if per_dim { 8 } else { 0 },
        };
        MdnRnn::new(&c, 1).unwrap()
    }

    #[test]
    fn zero_temperature_takes_the_likeliest_mean() {
        for per_dim in [false, true] {
            let m = small(per_dim);
            let x = step_input(&[0.1, 0.2, 0.3, 0.4, 0.0, 0.0, 0.0, 0.0], &[0, 2], 4).unwrap();
            let out = m.forward_heads(&x).unwrap();
            let mut rng = StdRng::seed_from_u64(0);
            let (z, r, d) = sample_next(&m, &out, 0.0, &mut rng).unwrap();
            assert_eq!((z.len(), r.len(), d.len()), (8, 2, 2));
            let (z2, _, _) = sample_next(&m, &out, 0.0, &mut StdRng::seed_from_u64(9)).unwrap();
            assert_eq!(z, z2, "τ = 0 is deterministic");
            // Row 0, dimension 0: the mean of the component with the top logit.
            let l = out.logits.value().data();
            let top = (0..3)
                .max_by(|&a, &b| {
                    let at = |k: usize| if per_dim { l[k * 4] } else { l[k] };
                    at(a).total_cmp(&at(b))
                })
                .unwrap();
            assert_eq!(z[0], out.means.value().data()[top * 4]);
            let (z3, _, _) = sample_next(&m, &out, 1.0, &mut rng).unwrap();
            assert_ne!(z, z3);
            assert!(sample_next(&m, &out, -1.0, &mut rng).is_err());
        }
    }

    #[test]
    fn the_dream_is_seeded_and_carries_its_state() {
        let m = small(true);
        let run = |seed| {
            let mut d = DreamEnv::new(&m, None, 1.0);
            d.reset_latent(&[0.0; 4], seed).unwrap();
            (0..5).map(|t| d.step(t % 3).unwrap().0).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        let mut d = DreamEnv::new(&m, None, 1.0);
        assert!(d.reset_latent(&[0.0; 3], 0).is_err());
        assert!(d.render().is_err());
        d.reset_latent(&[0.0; 4], 0).unwrap();
        assert!(d.step(3).is_err());
    }

    #[test]
    fn the_dream_renders_frames_with_the_vae() {
        let vae = ConvVae::new(
            VaeConfig {
                z_dim: 4,
                ..VaeConfig::default()
            },
            0,
        )
        .unwrap();
        let m = small(false);
        let mut d = DreamEnv::new(&m, Some(&vae), 0.5);
        let frame = crate::world::env::Catch::default().render();
        d.reset_frame(&frame, 1).unwrap();
        d.step(1).unwrap();
        assert_eq!(d.render().unwrap().len(), 64 * 64 * 3);
    }

    #[test]
    fn batched_simulation_matches_one_at_a_time() {
        let m = small(true);
        let seqs = vec![vec![0, 1, 2, 2], vec![2, 2, 0, 1], vec![1, 1, 1, 1]];
        let z = [0.3, -0.2, 0.1, 0.0];
        let all = simulate(
            &m,
            &z,
            None,
            &seqs,
            (0.0, 1.0),
            &mut StdRng::seed_from_u64(0),
        )
        .unwrap();
        for (i, s) in seqs.iter().enumerate() {
            let one = simulate(
                &m,
                &z,
                None,
                std::slice::from_ref(s),
                (0.0, 1.0),
                &mut StdRng::seed_from_u64(0),
            )
            .unwrap();
            assert!((one[0] - all[i]).abs() < 1e-5, "{} vs {}", one[0], all[i]);
        }
    }

    #[test]
    fn planners_return_an_action() {
        let m = small(false);
        for planner in [Planner::RandomShooting, Planner::Cem] {
            let cfg = PlanConfig {
                planner,
                horizon: 4,
                candidates: 16,
                iterations: 2,
                temperature: 0.0,
                samples: 1,
                discount: 1.0,
            };
            let a = plan(&m, &[0.0; 4], None, &cfg, &mut StdRng::seed_from_u64(1)).unwrap();
            assert!(a < ACTIONS);
            let averaged = PlanConfig {
                temperature: 1.0,
                samples: 3,
                ..cfg
            };
            let b = plan(
                &m,
                &[0.0; 4],
                None,
                &averaged,
                &mut StdRng::seed_from_u64(1),
            )
            .unwrap();
            let again = plan(
                &m,
                &[0.0; 4],
                None,
                &averaged,
                &mut StdRng::seed_from_u64(1),
            );
            assert_eq!(again.unwrap(), b, "seeded");
        }
        for bad in [
            PlanConfig {
                horizon: 0,
                ..PlanConfig::default()
            },
            PlanConfig {
                samples: 0,
                ..PlanConfig::default()
            },
        ] {
            assert!(plan(&m, &[0.0; 4], None, &bad, &mut StdRng::seed_from_u64(1)).is_err());
        }
    }
}
