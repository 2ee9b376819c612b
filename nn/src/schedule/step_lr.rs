//! Step decay (PyTorch's `StepLR`).

use super::{check_lr, load_state, save_state, LrScheduler};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Multiplies the learning rate by `gamma` every `step_size` steps:
/// `lr(t) = base_lr · gamma^⌊t / step_size⌋` (PyTorch's closed form).
///
/// ```
/// use ferrograd_nn::schedule::{LrScheduler, StepLr};
/// let mut s = StepLr::new(1.0, 2, 0.1).unwrap();
/// let lrs: Vec<f64> = (0..5).map(|_| s.step(None).unwrap()).collect();
/// assert_eq!(lrs, [1.0, 0.1, 0.1, 0.1f64.powi(2), 0.1f64.powi(2)]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepLr {
    base_lr: f64,
    step_size: u64,
    gamma: f64,
    last_epoch: u64,
}

const NAME: &str = "StepLR";

impl StepLr {
    /// Starts at `base_lr`; an error if `step_size` is 0 or a rate is not a
    /// finite non-negative number.
    pub fn new(base_lr: f64, step_size: u64, gamma: f64) -> Result<StepLr> {
        let s = StepLr {
            base_lr,
            step_size,
            gamma,
            last_epoch: 0,
        };
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<()> {
        check_lr(NAME, "base_lr", self.base_lr)?;
        check_lr(NAME, "gamma", self.gamma)?;
        if self.step_size == 0 {
            return Err(Error::Config(format!("{NAME}: step_size must be > 0")));
        }
        Ok(())
    }

    /// Steps taken so far (PyTorch's `last_epoch`).
    pub fn last_epoch(&self) -> u64 {
        self.last_epoch
    }
}

impl LrScheduler for StepLr {
    fn step(&mut self, _metric: Option<f64>) -> Result<f64> {
        self.last_epoch += 1;
        Ok(self.lr())
    }

    fn lr(&self) -> f64 {
        let k = self.last_epoch / self.step_size;
        self.base_lr * self.gamma.powf(k as f64)
    }

    fn state_dict(&self) -> serde_json::Value {
        save_state(NAME, self)
    }

    fn load_state_dict(&mut self, state: &serde_json::Value) -> Result<()> {
        let s: StepLr = load_state(NAME, state)?;
        s.validate()?;
        *self = s;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_torch() {
        // torch 2.15.0: StepLR(SGD(lr=0.1), step_size=3, gamma=0.5), lr after each of 8 steps
        let torch = TORCH_STEP_LR;
        let mut s = StepLr::new(0.1, 3, 0.5).unwrap();
        assert_eq!(s.lr(), 0.1);
        for &want in torch {
            let got = s.step(None).unwrap();
            assert!((got - want).abs() <= 1e-15, "{got} vs {want}");
        }
        assert_eq!(s.last_epoch(), 8);
    }

    const TORCH_STEP_LR: &[f64] = &[0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025];

    #[test]
    fn state_round_trip_and_errors() {
        let mut s = StepLr::new(0.1, 2, 0.5).unwrap();
        s.step(None).unwrap();
        s.step(None).unwrap();
        let saved = s.state_dict();
        let mut t = StepLr::new(9.0, 7, 0.9).unwrap();
        t.load_state_dict(&saved).unwrap();
        assert_eq!(t, s);
        assert!(StepLr::new(0.1, 0, 0.5).is_err());
        assert!(StepLr::new(-0.1, 1, 0.5).is_err());
        assert!(StepLr::new(0.1, 1, f64::NAN).is_err());
        let other = serde_json::json!({"scheduler": "CosineAnnealing"});
        assert!(matches!(
            t.load_state_dict(&other),
            Err(Error::StateDict(_))
        ));
    }
}
