//! Inverted dropout with its own seeded random-number generator.

use crate::init;
use crate::module::{Collector, Forward, Module};
use crate::param::ParamSource;
use crate::{Error, Result};
use ferrograd_autograd::Var;
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::Rng;
use std::sync::Mutex;

/// Inverted dropout (PyTorch's `nn.Dropout`): in training mode each element
/// is zeroed with probability `p` and the others are scaled by `1/(1 − p)`,
/// so the expected output equals the input; in eval mode the layer is the
/// identity. A new layer is in training mode, as in PyTorch.
///
/// The masks come from a generator seeded at construction and held by the
/// layer, so two layers with the same seed, called in the same order, drop
/// the same elements. The mask is a constant: the gradient flows through
/// the kept elements, scaled by `1/(1 − p)`.
///
/// ```
/// use ferrograd_nn::layers::dropout::Dropout;
/// use ferrograd_nn::{Forward, Module};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let mut d = Dropout::new(0.5, 42).unwrap();
/// let x = Var::constant(Tensor::ones(&[1000]).unwrap());
/// let y = d.forward(&x).unwrap();
/// assert!(y.value().data().iter().all(|&v| v == 0.0 || v == 2.0));
/// d.set_training(false);
/// assert_eq!(d.forward(&x).unwrap().value(), x.value());
/// ```
pub struct Dropout {
    p: f32,
    training: bool,
    rng: Mutex<StdRng>,
}

impl Dropout {
    /// A dropout layer dropping with probability `p` ∈ [0, 1), seeded; any
    /// other `p` (including NaN) is a configuration error.
    pub fn new(p: f32, seed: u64) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::Config(format!(
                "dropout: the probability must be in [0, 1), got {p}"
            )));
        }
        Ok(Dropout {
            p,
            training: true,
            rng: Mutex::new(init::rng(seed)),
        })
    }

    /// The drop probability.
    pub fn p(&self) -> f32 {
        self.p
    }

    /// Whether the layer is in training mode (drops elements).
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// A mask like `like`: 0 with probability `p`, `1/(1 − p)` otherwise.
    fn mask(&self, like: &Tensor) -> Tensor {
        let keep = 1.0 / (1.0 - self.p);
        // A poisoned lock only means another thread panicked mid-draw; the
        // generator state is still valid.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let data = (0..like.numel())
            .map(|_| {
                if rng.random::<f32>() < self.p {
                    0.0
                } else {
                    keep
                }
            })
            .collect();
        Tensor::with_shape(data, *like.shape()).expect("same element count")
    }
}

impl std::fmt::Debug for Dropout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dropout")
            .field("p", &self.p)
            .field("training", &self.training)
            .finish()
    }
}

impl Module for Dropout {
    fn visit(&self, _c: &mut Collector) {}

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}

impl Forward for Dropout {
    fn forward_with(&self, _params: &dyn ParamSource, x: &Var) -> Result<Var> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        Ok(x.mul(&Var::constant(self.mask(x.value())))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ones(n: usize) -> Var {
        Var::constant(Tensor::ones(&[n]).unwrap())
    }

    #[test]
    fn eval_mode_is_identity() {
        let mut d = Dropout::new(0.9, 1).unwrap();
        d.set_training(false);
        let x = Var::constant(Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3]).unwrap());
        let y = d.forward(&x).unwrap();
        assert_eq!(y.value(), x.value());
        assert!(!d.is_training());
    }

    #[test]
    fn train_mode_keeps_the_expected_fraction_and_scales() {
        let n = 20_000;
        for p in [0.1f32, 0.5, 0.8] {
            let d = Dropout::new(p, 7).unwrap();
            let y = d.forward(&ones(n)).unwrap();
            let scale = 1.0 / (1.0 - p);
            let kept = y.value().data().iter().filter(|&&v| v != 0.0).count();
            assert!(y
                .value()
                .data()
                .iter()
                .all(|&v| v == 0.0 || (v - scale).abs() < 1e-6));
            // Binomial: std of the kept fraction is √(p(1−p)/n) < 0.0036;
            // allow five of them.
            let frac = kept as f32 / n as f32;
            assert!((frac - (1.0 - p)).abs() < 0.018, "p {p}: kept {frac}");
            // Inverted dropout preserves the mean.
            let mean = y.value().data().iter().sum::<f32>() / n as f32;
            assert!((mean - 1.0).abs() < 0.1, "p {p}: mean {mean}");
        }
    }

    #[test]
    fn same_seed_same_masks() {
        let a = Dropout::new(0.3, 11).unwrap();
        let b = Dropout::new(0.3, 11).unwrap();
        let c = Dropout::new(0.3, 12).unwrap();
        let first = a.forward(&ones(256)).unwrap();
        assert_eq!(first.value(), b.forward(&ones(256)).unwrap().value());
        assert_ne!(first.value(), c.forward(&ones(256)).unwrap().value());
        // The generator advances: the next mask differs from the first.
        let second = a.forward(&ones(256)).unwrap();
        assert_ne!(first.value(), second.value());
        assert_eq!(second.value(), b.forward(&ones(256)).unwrap().value());
    }

    #[test]
    fn gradient_is_the_mask() {
        let d = Dropout::new(0.5, 3).unwrap();
        let x = Var::param(Tensor::ones(&[64]).unwrap());
        let y = d.forward(&x).unwrap();
        y.sum_all().backward().unwrap();
        assert_eq!(&x.grad().unwrap(), y.value());
    }

    #[test]
    fn zero_probability_is_identity_and_bad_probabilities_are_errors() {
        let d = Dropout::new(0.0, 0).unwrap();
        assert_eq!(d.forward(&ones(5)).unwrap().value().data(), &[1.0; 5]);
        for p in [-0.1, 1.0, 1.5, f32::NAN] {
            assert!(matches!(Dropout::new(p, 0), Err(Error::Config(_))), "{p}");
        }
    }
}
