//! The MDN-RNN of World Models (Ha & Schmidhuber, 2018): an LSTM over
//! latent-and-action inputs whose per-step head predicts a K-component
//! Gaussian mixture over the next latent, the reward and a done logit.
//! Parameter names are PyTorch's (`lstm.weight_ih_l0`, `lstm.bias_hh_l0`,
//! `head.weight`, …).
//!
//! Two mixtures ([`MdnRnnConfig::per_dim`]): one K-component mixture of
//! diagonal Gaussians over the whole latent (the anchors' `mdnrnn_step`,
//! head `K + 2KZ + 2`), or, as in the paper, an independent K-component
//! mixture per latent dimension (the anchors' `mdnrnn_perdim_step`, head
//! `3KZ + 2`: logits, means and log-σ, each `K × Z` component-major, then
//! reward and done).
//!
//! The reward: a linear output of the shared head, trained by MSE (the
//! anchors'), or with [`MdnRnnConfig::reward_hidden`] > 0 a small
//! classifier of its own on `[h_t, z_t, a_t]` (`reward.fc1`, `reward.fc2`)
//! over the outcomes −1, 0 and +1, trained by cross-entropy: rewards that
//! are rare and sharp (a catch, a miss) are learnt far better that way than
//! by regression (the MSE head predicted 0.07 at catches and 0.05 at
//! misses on the Catch data). Its predicted reward is the expectation
//! `p(+1) − p(−1)`.

use ferrograd_autograd::Var;
use ferrograd_nn::layers::lstm::LstmState;
use ferrograd_nn::losses::{
    binary_cross_entropy_with_logits, cross_entropy, diag_gaussian_mixture_nll, mse, Reduction,
};
use ferrograd_nn::{Collector, Error, Forward, Linear, Lstm, Module, Result};
use ferrograd_tensor::Indices;

/// Settings of an [`MdnRnn`]; the default is the anchors' model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MdnRnnConfig {
    /// Latent dimension Z; default 32.
    pub z_dim: usize,
    /// Action dimension A (the input is `[z, a]`, Z + A features); default 3.
    pub action_dim: usize,
    /// LSTM hidden units; default 256.
    pub hidden: usize,
    /// Mixture components K; default 5.
    pub components: usize,
    /// An independent mixture per latent dimension (the paper's) instead
    /// of one over the whole latent; default false (the anchors'
    /// `mdnrnn_step`).
    pub per_dim: bool,
    /// Hidden units of a separate reward classifier on `[h, z, a]` (see the
    /// module doc); 0 (the default, the anchors') for a linear reward
    /// output of the shared head, trained by MSE.
    pub reward_hidden: usize,
}

impl Default for MdnRnnConfig {
    fn default() -> Self {
        MdnRnnConfig {
            z_dim: 32,
            action_dim: 3,
            hidden: 256,
            components: 5,
            per_dim: false,
            reward_hidden: 0,
        }
    }
}

impl MdnRnnConfig {
    /// Input features per step, Z + A.
    pub fn input_dim(&self) -> usize {
        self.z_dim + self.action_dim
    }

    /// The number of weights and biases of an [`MdnRnn`] of this
    /// configuration (LSTM, head, reward classifier), `None` if it
    /// overflows `usize`; computed without building anything, so a loader
    /// can refuse a configuration claiming more than its file holds.
    pub fn min_value_count(&self) -> Option<usize> {
        use crate::run::sizes::{linear, sum};
        let (k, z, h) = (self.components, self.z_dim, self.hidden);
        let input = z.checked_add(self.action_dim)?;
        let gates = h.checked_mul(4)?;
        let lstm = sum([
            gates.checked_mul(input.checked_add(h)?),
            gates.checked_mul(2),
        ]);
        let kz = k.checked_mul(z)?;
        let logits = if self.per_dim { kz } else { k };
        let outputs = sum([
            Some(logits),
            kz.checked_mul(2),
            Some(1 + (self.reward_hidden == 0) as usize),
        ])?;
        let reward = match self.reward_hidden {
            0 => Some(0),
            r => sum([linear(h.checked_add(input)?, r), linear(r, 3)]),
        };
        sum([lstm, linear(h, outputs), reward])
    }

    /// Head outputs per step: K logits (K·Z per dimension), K·Z means, K·Z
    /// log-σ, reward (unless a reward classifier predicts it), done.
    pub fn output_dim(&self) -> usize {
        let logits = if self.per_dim {
            self.components * self.z_dim
        } else {
            self.components
        };
        logits + 2 * self.components * self.z_dim + 1 + (self.reward_hidden == 0) as usize
    }
}

/// The head's outputs for a batch of sequences, split into their parts.
pub struct MdnRnnOutput {
    /// Mixture logits `[B, T, K]`, or `[B, T, K, Z]` per dimension.
    pub logits: Var,
    /// Component means `[B, T, K, Z]`.
    pub means: Var,
    /// Component log standard deviations `[B, T, K, Z]`.
    pub log_sigmas: Var,
    /// Predicted reward `[B, T]` (with a reward classifier, its expected
    /// value).
    pub reward: Var,
    /// The reward classifier's logits of −1, 0, +1, `[B, T, 3]` (`None`
    /// for the linear reward output).
    pub reward_logits: Option<Var>,
    /// Done logit `[B, T]`.
    pub done: Var,
}

/// LSTM `lstm` (Z + A → H) and linear head `head` (H → K + 2KZ + 2).
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_models::world::{MdnRnn, MdnRnnConfig};
/// use ferrograd_tensor::Tensor;
/// let config = MdnRnnConfig { z_dim: 2, action_dim: 1, hidden: 8, components: 3, ..MdnRnnConfig::default() };
/// let model = MdnRnn::new(&config, 0).unwrap();
/// let za = Var::constant(Tensor::zeros(&[4, 5, 3]).unwrap()); // 4 sequences of 5 steps
/// let out = model.forward_heads(&za).unwrap();
/// assert_eq!(out.means.dims(), &[4, 5, 3, 2]);
/// let z_next = Var::constant(Tensor::zeros(&[4, 5, 2]).unwrap());
/// let (reward, done) = (Var::constant(Tensor::zeros(&[4, 5]).unwrap()), Var::constant(Tensor::zeros(&[4, 5]).unwrap()));
/// assert!(model.loss(&za, &z_next, &reward, &done).unwrap().item().unwrap().is_finite());
/// ```
pub struct MdnRnn {
    /// The recurrence.
    pub lstm: Lstm,
    /// The per-step output layer.
    pub head: Linear,
    /// The reward classifier on `[h, z, a]`, if configured.
    pub reward: Option<RewardClassifier>,
    config: MdnRnnConfig,
}

/// The reward classifier of [`MdnRnnConfig::reward_hidden`]: `fc1`
/// (H + Z + A → hidden), ReLU, `fc2` (hidden → 3 logits of −1, 0, +1).
/// (A second hidden layer of 256 did worse in the real environment.)
pub struct RewardClassifier {
    /// Hidden layer.
    pub fc1: Linear,
    /// Output layer.
    pub fc2: Linear,
}

impl RewardClassifier {
    fn new(input: usize, hidden: usize, seed: u64) -> RewardClassifier {
        RewardClassifier {
            fc1: Linear::new(input, hidden, seed),
            fc2: Linear::new(hidden, 3, seed.wrapping_add(1)),
        }
    }

    /// The logits `[..., 3]` of inputs `[..., H + Z + A]`.
    fn logits(&self, x: &Var) -> Result<Var> {
        self.fc2.forward(&self.fc1.forward(x)?.relu())
    }
}

impl Module for RewardClassifier {
    fn visit(&self, c: &mut Collector) {
        c.child("fc1", &self.fc1);
        c.child("fc2", &self.fc2);
    }
}

/// The class of a reward for the classifier: 0 for −1 (below −½), 2 for +1
/// (above ½), 1 otherwise.
pub fn reward_class(r: f32) -> usize {
    if r < -0.5 {
        0
    } else if r > 0.5 {
        2
    } else {
        1
    }
}

impl Module for MdnRnn {
    fn visit(&self, c: &mut Collector) {
        c.child("lstm", &self.lstm);
        c.child("head", &self.head);
        if let Some(r) = &self.reward {
            c.child("reward", r);
        }
    }
}

impl MdnRnn {
    /// The model with `config`, seeded (PyTorch's default initialisation).
    pub fn new(config: &MdnRnnConfig, seed: u64) -> Result<MdnRnn> {
        let c = config;
        if c.z_dim == 0 || c.hidden == 0 || c.components == 0 {
            return Err(Error::Config(format!(
                "mdn-rnn: z_dim, hidden and components must be at least 1, got {c:?}"
            )));
        }
        Ok(MdnRnn {
            lstm: Lstm::new(c.input_dim(), c.hidden, seed)?,
            head: Linear::new(c.hidden, c.output_dim(), seed.wrapping_add(1)),
            reward: (c.reward_hidden > 0).then(|| {
                RewardClassifier::new(
                    c.hidden + c.input_dim(),
                    c.reward_hidden,
                    seed.wrapping_add(2),
                )
            }),
            config: c.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MdnRnnConfig {
        &self.config
    }

    /// The head's outputs for inputs `za` `[B, T, Z + A]`, from a zero
    /// initial state.
    pub fn forward_heads(&self, za: &Var) -> Result<MdnRnnOutput> {
        Ok(self.forward_from(za, None)?.0)
    }

    /// The head's outputs for `za` `[B, T, Z + A]` from `state` (zero if
    /// `None`), and the LSTM state after the last step: a dream steps with
    /// T = 1 and carries the state.
    pub fn forward_from(
        &self,
        za: &Var,
        state: Option<&LstmState>,
    ) -> Result<(MdnRnnOutput, LstmState)> {
        let d = za.dims();
        if d.len() != 3 || d[2] != self.config.input_dim() {
            return Err(Error::Config(format!(
                "mdn-rnn: inputs must be [B, T, {}] (latent and action), got {d:?}",
                self.config.input_dim()
            )));
        }
        crate::guard::finite_tensor("mdn-rnn", "inputs", za.value())?;
        let (h, state) = self.lstm.forward_seq(za, state)?;
        let out = self.head.forward(&h)?;
        let (b, t) = (out.dims()[0], out.dims()[1]);
        let (k, z, n) = (
            self.config.components,
            self.config.z_dim,
            self.config.output_dim(),
        );
        let nl = n - 1 - (self.reward.is_none() as usize) - 2 * k * z;
        let ms = out.narrow(2, nl, 2 * k * z)?.reshape(&[b, t, 2, k, z])?;
        let logits = out.narrow(2, 0, nl)?;
        let logits = if self.config.per_dim {
            logits.reshape(&[b, t, k, z])?
        } else {
            logits
        };
        let (reward, reward_logits) = match &self.reward {
            None => (out.narrow(2, n - 2, 1)?.reshape(&[b, t])?, None),
            Some(rc) => {
                let hza = Var::concat(&[&h, za], 2)?;
                let logits = rc.logits(&hza)?;
                let p = logits.softmax(2)?;
                let expected = p.narrow(2, 2, 1)?.sub(&p.narrow(2, 0, 1)?)?;
                (expected.reshape(&[b, t])?, Some(logits))
            }
        };
        Ok((
            MdnRnnOutput {
                logits,
                means: ms.narrow(2, 0, 1)?.reshape(&[b, t, k, z])?,
                log_sigmas: ms.narrow(2, 1, 1)?.reshape(&[b, t, k, z])?,
                reward,
                reward_logits,
                done: out.narrow(2, n - 1, 1)?.reshape(&[b, t])?,
            },
            state,
        ))
    }

    /// The mixture NLL of `z_next` `[B, T, Z]` per step, `[B, T]`: with one
    /// mixture, `−log p(z')`; per dimension, `−Σ_j log p_j(z'_j)`.
    pub fn step_nll(&self, o: &MdnRnnOutput, z_next: &Var) -> Result<Var> {
        if !self.config.per_dim {
            return diag_gaussian_mixture_nll(
                &o.logits,
                &o.means,
                &o.log_sigmas,
                z_next,
                Reduction::None,
            );
        }
        let zd = z_next.dims();
        if zd.len() != 3 || zd[2] != self.config.z_dim {
            return Err(Error::Config(format!(
                "mdn-rnn: next latents must be [B, T, {}], got {zd:?}",
                self.config.z_dim
            )));
        }
        // Logits, means and log-σ are [B, T, K, Z]: Z mixtures side by
        // side, read in place by the fused per-dimension primitive.
        let nll = o
            .logits
            .per_dim_gaussian_mixture_nll(&o.means, &o.log_sigmas, z_next)?;
        Ok(nll.sum(&[2], false)?)
    }

    /// The reward term per step `[B, T]`: the squared error of the linear
    /// output, or the classifier's cross-entropy of the reward's class
    /// ([`reward_class`]).
    pub fn step_reward_loss(&self, o: &MdnRnnOutput, reward: &Var) -> Result<Var> {
        let Some(logits) = &o.reward_logits else {
            return mse(&o.reward, reward, Reduction::None);
        };
        let d = logits.dims();
        if reward.dims() != &d[..2] {
            return Err(Error::Config(format!(
                "mdn-rnn: rewards must be {:?}, got {:?}",
                &d[..2],
                reward.dims()
            )));
        }
        let classes: Vec<usize> = reward
            .value()
            .data()
            .iter()
            .map(|&r| reward_class(r))
            .collect();
        let target = Indices::new(classes, &[d[0] * d[1]])?;
        let ce = cross_entropy(
            &logits.reshape(&[d[0] * d[1], 3])?,
            &target,
            Reduction::None,
        )?;
        Ok(ce.reshape(&[d[0], d[1]])?)
    }

    /// [`MdnRnn::step_nll`] of the next latents `z_next` `[B, T, Z]` + the
    /// reward term of `reward` `[B, T]` ([`MdnRnn::step_reward_loss`]) +
    /// BCE-with-logits of `done` `[B, T]`, each a mean over (batch, time).
    pub fn loss(&self, za: &Var, z_next: &Var, reward: &Var, done: &Var) -> Result<Var> {
        let o = self.forward_heads(za)?;
        let nll = self.step_nll(&o, z_next)?.mean_all();
        let r_loss = self.step_reward_loss(&o, reward)?.mean_all();
        let d_loss = binary_cross_entropy_with_logits(&o.done, done, None, Reduction::Mean)?;
        Ok(nll.add(&r_loss)?.add(&d_loss)?)
    }

    /// The loss of [`MdnRnn::loss`] with a mask `[B, T]` of 1 for real steps
    /// and 0 for padding: each term is a mean over the real steps only, so
    /// padded steps count for nothing. Also returns the values of the NLL,
    /// the reward MSE (of the predicted reward, whichever the reward term)
    /// and the done BCE.
    pub fn masked_loss(
        &self,
        za: &Var,
        z_next: &Var,
        reward: &Var,
        done: &Var,
        mask: &Var,
    ) -> Result<(Var, [f32; 3])> {
        self.masked_terms(&self.forward_heads(za)?, z_next, reward, done, mask)
    }

    /// [`MdnRnn::masked_loss`] of outputs `o` already computed.
    pub fn masked_terms(
        &self,
        o: &MdnRnnOutput,
        z_next: &Var,
        reward: &Var,
        done: &Var,
        mask: &Var,
    ) -> Result<(Var, [f32; 3])> {
        let count = mask.sum_all().item()?;
        if count <= 0.0 {
            return Err(Error::Config("mdn-rnn: the mask selects no step".into()));
        }
        let masked = |v: Var| -> Result<Var> { Ok(v.mul(mask)?.sum_all().mul_scalar(1.0 / count)) };
        let nll = masked(self.step_nll(o, z_next)?)?;
        let r = masked(self.step_reward_loss(o, reward)?)?;
        let r_mse = match o.reward_logits {
            None => r.item()?,
            // Only reported: plain arithmetic, no graph.
            Some(_) => {
                let (p, t, m) = (o.reward.value(), reward.value(), mask.value());
                let sq: f32 = (p.data().iter().zip(t.data()).zip(m.data()))
                    .map(|((p, t), m)| m * (p - t) * (p - t))
                    .sum();
                sq / count
            }
        };
        let d = masked(binary_cross_entropy_with_logits(
            &o.done,
            done,
            None,
            Reduction::None,
        )?)?;
        let parts = [nll.item()?, r_mse, d.item()?];
        Ok((nll.add(&r)?.add(&d)?, parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrograd_tensor::Tensor;

    fn ramp(dims: &[usize], scale: f32) -> Var {
        let n: usize = dims.iter().product();
        let v = (0..n)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) * scale)
            .collect();
        Var::constant(Tensor::from_vec(v, dims).unwrap())
    }

    #[test]
    fn parameter_names_and_sizes_are_the_anchors() {
        let m = MdnRnn::new(&MdnRnnConfig::default(), 0).unwrap();
        let sd = m.state_dict();
        assert_eq!(sd["lstm.weight_ih_l0"].dims(), &[1024, 35]);
        assert_eq!(sd["lstm.weight_hh_l0"].dims(), &[1024, 256]);
        assert_eq!(sd["head.weight"].dims(), &[327, 256]);
        assert_eq!(sd["head.bias"].dims(), &[327]);
    }

    #[test]
    fn the_loss_is_the_sum_of_its_three_terms() {
        let c = MdnRnnConfig {
            z_dim: 3,
            action_dim: 2,
            hidden: 6,
            components: 2,
            per_dim: false,
            reward_hidden: 0,
        };
        let m = MdnRnn::new(&c, 4).unwrap();
        let (za, zn) = (ramp(&[2, 4, 5], 0.2), ramp(&[2, 4, 3], 0.3));
        let (r, d) = (ramp(&[2, 4], 0.1), ramp(&[2, 4], 0.0).add_scalar(1.0));
        let o = m.forward_heads(&za).unwrap();
        assert_eq!(o.logits.dims(), &[2, 4, 2]);
        assert_eq!(o.log_sigmas.dims(), &[2, 4, 2, 3]);
        let nll =
            diag_gaussian_mixture_nll(&o.logits, &o.means, &o.log_sigmas, &zn, Reduction::Mean)
                .unwrap();
        let rl = mse(&o.reward, &r, Reduction::Mean).unwrap();
        let dl = binary_cross_entropy_with_logits(&o.done, &d, None, Reduction::Mean).unwrap();
        let want = nll.item().unwrap() + rl.item().unwrap() + dl.item().unwrap();
        let got = m.loss(&za, &zn, &r, &d).unwrap();
        assert!((got.item().unwrap() - want).abs() < 1e-5);
        got.backward().unwrap();
        assert!(m.params().iter().all(|p| p.grad().is_some()));
        // Wrong latent width: a typed error.
        let r = m.loss(&za, &ramp(&[2, 4, 2], 0.1), &r, &d);
        assert!(matches!(r, Err(Error::Config(_))));
        assert!(MdnRnn::new(&MdnRnnConfig { components: 0, ..c }, 0).is_err());
    }

    #[test]
    fn per_dimension_mixtures_sum_one_dimensional_nlls() {
        let c = MdnRnnConfig {
            z_dim: 3,
            action_dim: 2,
            hidden: 6,
            components: 2,
            per_dim: true,
            reward_hidden: 0,
        };
        let m = MdnRnn::new(&c, 5).unwrap();
        assert_eq!(m.head.weight.dims(), &[3 * 2 * 3 + 2, 6]);
        let (za, zn) = (ramp(&[2, 4, 5], 0.2), ramp(&[2, 4, 3], 0.3));
        let o = m.forward_heads(&za).unwrap();
        assert_eq!(o.logits.dims(), &[2, 4, 2, 3]);
        let nll = m.step_nll(&o, &zn).unwrap();
        assert_eq!(nll.dims(), &[2, 4]);
        // By hand at (b, t) = (1, 2): Σ_j −log Σ_k softmax_k(l_kj) N(z_j; μ_kj, σ_kj).
        let (l, mu, ls, z) = (
            o.logits.value().clone(),
            o.means.value().clone(),
            o.log_sigmas.value().clone(),
            zn.value().clone(),
        );
        // Row (b, t) = (1, 2) of [2, 4, ...] is row 6.
        let at = |t: &Tensor, k: usize, j: usize| t.data()[(6 * 2 + k) * 3 + j] as f64;
        let mut want = 0.0;
        for j in 0..3 {
            let zj = z.data()[6 * 3 + j] as f64;
            let norm: f64 = (0..2).map(|k| at(&l, k, j).exp()).sum();
            let p: f64 = (0..2)
                .map(|k| {
                    let s = at(&ls, k, j).exp();
                    let e = (zj - at(&mu, k, j)) / s;
                    at(&l, k, j).exp() / norm * (-0.5 * e * e).exp()
                        / (s * (2.0 * std::f64::consts::PI).sqrt())
                })
                .sum();
            want -= p.ln();
        }
        let got = nll.value().data()[6] as f64;
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn padded_steps_count_for_nothing() {
        let c = MdnRnnConfig {
            z_dim: 2,
            action_dim: 1,
            hidden: 5,
            components: 2,
            per_dim: true,
            reward_hidden: 0,
        };
        let m = MdnRnn::new(&c, 2).unwrap();
        let (za, zn) = (ramp(&[1, 4, 3], 0.2), ramp(&[1, 4, 2], 0.3));
        let (r, d) = (ramp(&[1, 4], 0.1), ramp(&[1, 4], 0.0));
        let mask = Var::constant(Tensor::from_vec(vec![1.0, 1.0, 0.0, 0.0], &[1, 4]).unwrap());
        let (full, _) = m.masked_loss(&za, &zn, &r, &d, &mask).unwrap();
        // Garbage in the padded steps' targets changes nothing.
        let mut zv = zn.value().data().to_vec();
        zv[4..].iter_mut().for_each(|v| *v = 1e3);
        let zn2 = Var::constant(Tensor::from_vec(zv, &[1, 4, 2]).unwrap());
        let (other, _) = m.masked_loss(&za, &zn2, &r, &d, &mask).unwrap();
        assert_eq!(full.item().unwrap(), other.item().unwrap());
        // And it is the unmasked loss of the first two steps.
        let first = |v: &Var| v.narrow(1, 0, 2).unwrap();
        let want = m
            .loss(&first(&za), &first(&zn), &first(&r), &first(&d))
            .unwrap();
        assert!((full.item().unwrap() - want.item().unwrap()).abs() < 1e-5);
        let none = Var::constant(Tensor::zeros(&[1, 4]).unwrap());
        assert!(m.masked_loss(&za, &zn, &r, &d, &none).is_err());
    }

    #[test]
    fn the_reward_classifier_predicts_the_expected_outcome() {
        let c = MdnRnnConfig {
            z_dim: 2,
            action_dim: 1,
            hidden: 5,
            components: 2,
            per_dim: true,
            reward_hidden: 4,
        };
        let m = MdnRnn::new(&c, 3).unwrap();
        // The shared head has no reward output; the classifier has its own.
        assert_eq!(m.head.weight.dims(), &[3 * 2 * 2 + 1, 5]);
        let sd = m.state_dict();
        assert_eq!(sd["reward.fc1.weight"].dims(), &[4, 5 + 3]);
        assert_eq!(sd["reward.fc2.weight"].dims(), &[3, 4]);
        let (za, zn) = (ramp(&[2, 3, 3], 0.3), ramp(&[2, 3, 2], 0.2));
        let o = m.forward_heads(&za).unwrap();
        let logits = o.reward_logits.clone().unwrap();
        assert_eq!(logits.dims(), &[2, 3, 3]);
        let (l, pred) = (logits.value().clone(), o.reward.value().clone());
        let r =
            Var::constant(Tensor::from_vec(vec![1.0, 0.0, -1.0, 0.0, 2.0, -0.2], &[2, 3]).unwrap());
        let ce = m.step_reward_loss(&o, &r).unwrap();
        for (i, &rv) in r.value().data().iter().enumerate() {
            let row: Vec<f64> = l.data()[i * 3..i * 3 + 3]
                .iter()
                .map(|&v| v as f64)
                .collect();
            let norm: f64 = row.iter().map(|v| v.exp()).sum();
            let p: Vec<f64> = row.iter().map(|v| v.exp() / norm).collect();
            // The expected reward p(+1) − p(−1) …
            assert!((pred.data()[i] as f64 - (p[2] - p[0])).abs() < 1e-6);
            // … and the cross-entropy of the reward's class.
            let want = -p[reward_class(rv)].ln();
            assert!((ce.value().data()[i] as f64 - want).abs() < 1e-5);
        }
        assert_eq!(
            [reward_class(2.0), reward_class(-0.2), reward_class(-3.0)],
            [2, 1, 0]
        );
        // The loss trains the classifier.
        let d = ramp(&[2, 3], 0.0);
        m.loss(&za, &zn, &r, &d).unwrap().backward().unwrap();
        assert!(m.params().iter().all(|p| p.grad().is_some()));
        let bad = Var::constant(Tensor::zeros(&[2, 2]).unwrap());
        assert!(m.step_reward_loss(&o, &bad).is_err());
    }
}
