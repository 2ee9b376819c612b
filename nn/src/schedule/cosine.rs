//! Cosine annealing with an optional linear warm-up (PyTorch's
//! `CosineAnnealingLR`, after a `LinearLR` warm-up as in `SequentialLR`).

use super::{check_lr, load_state, save_state, LrScheduler};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Cosine annealing of the learning rate from `base_lr` to `eta_min` over
/// `t_max` steps, after an optional linear warm-up of `warmup_steps` steps.
///
/// With `w` warm-up steps and start factor `s`:
///
/// ```text
/// t < w:  lr(t) = base_lr · (s + (1 − s)·t/w)
/// t ≥ w:  lr(t) = eta_min + (base_lr − eta_min)·(1 + cos(π·(t − w)/t_max))/2
/// ```
///
/// That is PyTorch's `SequentialLR([LinearLR(start_factor=s, total_iters=w),
/// CosineAnnealingLR(T_max=t_max, eta_min)], milestones=[w])` in closed form.
/// Past `t_max` the cosine continues, as PyTorch's does (the rate rises
/// again); choose `t_max` as the length of training after the warm-up.
///
/// ```
/// use ferrograd_nn::schedule::{CosineAnnealing, LrScheduler};
/// let mut s = CosineAnnealing::new(1.0, 2, 0.0).unwrap().with_warmup(2, 0.5).unwrap();
/// assert_eq!(s.lr(), 0.5);
/// let lrs: Vec<f64> = (0..4).map(|_| s.step(None).unwrap()).collect();
/// assert!((lrs[0] - 0.75).abs() < 1e-12); // warm-up
/// assert!((lrs[1] - 1.0).abs() < 1e-12); // cosine starts at the base rate
/// assert!((lrs[2] - 0.5).abs() < 1e-12);
/// assert!(lrs[3].abs() < 1e-12); // eta_min after t_max steps
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CosineAnnealing {
    base_lr: f64,
    t_max: u64,
    eta_min: f64,
    warmup_steps: u64,
    warmup_start_factor: f64,
    last_epoch: u64,
}

const NAME: &str = "CosineAnnealing";

impl CosineAnnealing {
    /// Anneals from `base_lr` to `eta_min` over `t_max` steps, without
    /// warm-up; an error if `t_max` is 0 or a rate is not a finite
    /// non-negative number.
    pub fn new(base_lr: f64, t_max: u64, eta_min: f64) -> Result<CosineAnnealing> {
        let s = CosineAnnealing {
            base_lr,
            t_max,
            eta_min,
            warmup_steps: 0,
            warmup_start_factor: 1.0,
            last_epoch: 0,
        };
        s.validate()?;
        Ok(s)
    }

    /// Adds a linear warm-up of `steps` steps from `start_factor · base_lr`
    /// up to `base_lr`, before the cosine; an error unless
    /// `0 < start_factor <= 1` (PyTorch's `LinearLR` bounds).
    pub fn with_warmup(mut self, steps: u64, start_factor: f64) -> Result<CosineAnnealing> {
        self.warmup_steps = steps;
        self.warmup_start_factor = start_factor;
        self.validate()?;
        Ok(self)
    }

    fn validate(&self) -> Result<()> {
        check_lr(NAME, "base_lr", self.base_lr)?;
        check_lr(NAME, "eta_min", self.eta_min)?;
        if self.t_max == 0 {
            return Err(Error::Config(format!("{NAME}: t_max must be > 0")));
        }
        let s = self.warmup_start_factor;
        if !(s > 0.0 && s <= 1.0) {
            return Err(Error::Config(format!(
                "{NAME}: the warm-up start factor must be in (0, 1], got {s}"
            )));
        }
        Ok(())
    }

    /// Steps taken so far (PyTorch's `last_epoch`).
    pub fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    /// The learning rate at step `t`.
    pub fn lr_at(&self, t: u64) -> f64 {
        let w = self.warmup_steps;
        if t < w {
            let s = self.warmup_start_factor;
            return self.base_lr * (s + (1.0 - s) * t as f64 / w as f64);
        }
        let progress = (t - w) as f64 / self.t_max as f64;
        let cos = (std::f64::consts::PI * progress).cos();
        self.eta_min + (self.base_lr - self.eta_min) * (1.0 + cos) / 2.0
    }
}

impl LrScheduler for CosineAnnealing {
    fn step(&mut self, _metric: Option<f64>) -> Result<f64> {
        self.last_epoch += 1;
        Ok(self.lr())
    }

    fn lr(&self) -> f64 {
        self.lr_at(self.last_epoch)
    }

    fn state_dict(&self) -> serde_json::Value {
        save_state(NAME, self)
    }

    fn load_state_dict(&mut self, state: &serde_json::Value) -> Result<()> {
        let s: CosineAnnealing = load_state(NAME, state)?;
        s.validate()?;
        *self = s;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!(
            (got - want).abs() <= 1e-12 * (1.0 + want.abs()),
            "{got} vs {want}"
        );
    }

    #[test]
    fn plain_cosine_matches_torch() {
        // torch 2.15.0: CosineAnnealingLR(SGD(lr=0.1), T_max=5, eta_min=0.01),
        // lr after each of 12 steps (past T_max it rises again)
        let mut s = CosineAnnealing::new(0.1, 5, 0.01).unwrap();
        close(s.lr(), 0.1);
        for &want in TORCH_COSINE {
            close(s.step(None).unwrap(), want);
        }
    }

    #[test]
    fn warmup_then_cosine_matches_torch() {
        // torch 2.15.0: SequentialLR(SGD(lr=0.1), [LinearLR(start_factor=0.25,
        // total_iters=3), CosineAnnealingLR(T_max=4, eta_min=0.001)],
        // milestones=[3]); the initial lr, then after each of 9 steps
        let mut s = CosineAnnealing::new(0.1, 4, 0.001)
            .unwrap()
            .with_warmup(3, 0.25)
            .unwrap();
        close(s.lr(), TORCH_WARMUP_COSINE[0]);
        for &want in &TORCH_WARMUP_COSINE[1..] {
            close(s.step(None).unwrap(), want);
        }
    }

    const TORCH_COSINE: &[f64] = &[
        0.09140576474687263,
        0.06890576474687263,
        0.04109423525312736,
        0.018594235253127367,
        0.01,
        0.018594235253127367,
        0.04109423525312739,
        0.06890576474687267,
        0.09140576474687269,
        0.10000000000000006,
        0.09140576474687272,
        0.06890576474687268,
    ];
    const TORCH_WARMUP_COSINE: &[f64] = &[
        0.025,
        0.05,
        0.07500000000000001,
        0.1,
        0.0855017856687341,
        0.0505,
        0.0154982143312659,
        0.001,
        0.015498214331265896,
        0.05050000000000001,
    ];

    #[test]
    fn formula_values_and_errors() {
        let s = CosineAnnealing::new(2.0, 4, 0.0).unwrap();
        close(s.lr_at(2), 1.0);
        close(s.lr_at(4), 0.0);
        let w = s.clone().with_warmup(4, 0.5).unwrap();
        close(w.lr_at(0), 1.0);
        close(w.lr_at(2), 1.5);
        close(w.lr_at(4), 2.0);
        close(w.lr_at(6), 1.0);
        assert!(CosineAnnealing::new(1.0, 0, 0.0).is_err());
        assert!(s.clone().with_warmup(2, 0.0).is_err());
        assert!(s.clone().with_warmup(2, 1.5).is_err());
        assert!(CosineAnnealing::new(1.0, 3, -1.0).is_err());
    }

    #[test]
    fn state_round_trip() {
        let mut s = CosineAnnealing::new(0.1, 10, 0.0)
            .unwrap()
            .with_warmup(2, 0.1)
            .unwrap();
        for _ in 0..3 {
            s.step(None).unwrap();
        }
        let text = serde_json::to_string(&s.state_dict()).unwrap();
        let mut t = CosineAnnealing::new(1.0, 1, 0.0).unwrap();
        t.load_state_dict(&serde_json::from_str(&text).unwrap())
            .unwrap();
        assert_eq!(t, s);
        assert_eq!(t.lr().to_bits(), s.lr().to_bits());
    }
}
