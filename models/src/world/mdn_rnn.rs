//! The MDN-RNN of World Models (Ha & Schmidhuber, 2018): an LSTM over
//! latent-and-action inputs whose per-step head predicts a K-component
//! diagonal-Gaussian mixture over the next latent, the reward and a
//! done logit. Parameter names are PyTorch's (`lstm.weight_ih_l0`,
//! `lstm.bias_hh_l0`, `head.weight`, …).

use ferrograd_autograd::Var;
use ferrograd_nn::losses::{
    binary_cross_entropy_with_logits, diag_gaussian_mixture_nll, mse, Reduction,
};
use ferrograd_nn::{Collector, Error, Forward, Linear, Lstm, Module, Result};

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
}

impl Default for MdnRnnConfig {
    fn default() -> Self {
        MdnRnnConfig {
            z_dim: 32,
            action_dim: 3,
            hidden: 256,
            components: 5,
        }
    }
}

impl MdnRnnConfig {
    /// Input features per step, Z + A.
    pub fn input_dim(&self) -> usize {
        self.z_dim + self.action_dim
    }

    /// Head outputs per step: K logits, K·Z means, K·Z log-σ, reward, done.
    pub fn output_dim(&self) -> usize {
        self.components + 2 * self.components * self.z_dim + 2
    }
}

/// The head's outputs for a batch of sequences, split into their parts.
pub struct MdnRnnOutput {
    /// Mixture logits `[B, T, K]`.
    pub logits: Var,
    /// Component means `[B, T, K, Z]`.
    pub means: Var,
    /// Component log standard deviations `[B, T, K, Z]`.
    pub log_sigmas: Var,
    /// Predicted reward `[B, T]`.
    pub reward: Var,
    /// Done logit `[B, T]`.
    pub done: Var,
}

/// LSTM `lstm` (Z + A → H) and linear head `head` (H → K + 2KZ + 2).
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_models::world::{MdnRnn, MdnRnnConfig};
/// use ferrograd_tensor::Tensor;
/// let config = MdnRnnConfig { z_dim: 2, action_dim: 1, hidden: 8, components: 3 };
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
    config: MdnRnnConfig,
}

impl Module for MdnRnn {
    fn visit(&self, c: &mut Collector) {
        c.child("lstm", &self.lstm);
        c.child("head", &self.head);
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
        let out = self.head.forward(&self.lstm.forward(za)?)?;
        let (b, t) = (out.dims()[0], out.dims()[1]);
        let (k, z, n) = (
            self.config.components,
            self.config.z_dim,
            self.config.output_dim(),
        );
        let ms = out.narrow(2, k, 2 * k * z)?.reshape(&[b, t, 2, k, z])?;
        Ok(MdnRnnOutput {
            logits: out.narrow(2, 0, k)?,
            means: ms.narrow(2, 0, 1)?.reshape(&[b, t, k, z])?,
            log_sigmas: ms.narrow(2, 1, 1)?.reshape(&[b, t, k, z])?,
            reward: out.narrow(2, n - 2, 1)?.reshape(&[b, t])?,
            done: out.narrow(2, n - 1, 1)?.reshape(&[b, t])?,
        })
    }

    /// [`diag_gaussian_mixture_nll`] of the next latents `z_next` `[B, T,
    /// Z]` + MSE of `reward` `[B, T]` + BCE-with-logits of `done` `[B, T]`,
    /// each a mean over (batch, time).
    pub fn loss(&self, za: &Var, z_next: &Var, reward: &Var, done: &Var) -> Result<Var> {
        let o = self.forward_heads(za)?;
        let nll =
            diag_gaussian_mixture_nll(&o.logits, &o.means, &o.log_sigmas, z_next, Reduction::Mean)?;
        let r_loss = mse(&o.reward, reward, Reduction::Mean)?;
        let d_loss = binary_cross_entropy_with_logits(&o.done, done, None, Reduction::Mean)?;
        Ok(nll.add(&r_loss)?.add(&d_loss)?)
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
}
