//! Reduce the learning rate when a metric stops improving (PyTorch's
//! `ReduceLROnPlateau`).

use super::{check_lr, load_state, save_state, LrScheduler};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Whether the monitored metric should go down or up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlateauMode {
    /// Lower is better (a loss).
    Min,
    /// Higher is better (an accuracy).
    Max,
}

/// How [`PlateauConfig::threshold`] measures a significant improvement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThresholdMode {
    /// Relative: better than `best·(1 ∓ threshold)`.
    Rel,
    /// Absolute: better than `best ∓ threshold`.
    Abs,
}

/// Settings of [`ReduceLrOnPlateau`]; the defaults are PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlateauConfig {
    /// Minimise or maximise the metric (default [`PlateauMode::Min`]).
    pub mode: PlateauMode,
    /// Multiplies the rate at each reduction; in `[0, 1)` (default 0.1).
    pub factor: f64,
    /// Steps without improvement tolerated before a reduction (default 10).
    pub patience: u64,
    /// Minimum significant improvement (default 1e-4).
    pub threshold: f64,
    /// Relative or absolute threshold (default [`ThresholdMode::Rel`]).
    pub threshold_mode: ThresholdMode,
    /// Steps after a reduction during which bad steps are not counted
    /// (default 0).
    pub cooldown: u64,
    /// The rate never goes below this (default 0).
    pub min_lr: f64,
    /// A reduction smaller than this is skipped (default 1e-8).
    pub eps: f64,
}

impl Default for PlateauConfig {
    fn default() -> Self {
        PlateauConfig {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

/// Multiplies the learning rate by `factor` once the metric has not improved
/// for more than `patience` steps, with PyTorch's exact rules:
///
/// * a metric is better than the best so far when (mode min) it is below
///   `best·(1 − threshold)` (rel) or `best − threshold` (abs); mode max
///   mirrors that;
/// * a better metric becomes the best and resets the count of bad steps;
///   any other adds one;
/// * during cooldown the count of bad steps stays at zero;
/// * when the count exceeds `patience`, the rate becomes
///   `max(lr·factor, min_lr)` if that lowers it by more than `eps`, the
///   cooldown starts and the count resets.
///
/// ```
/// use ferrograd_nn::schedule::{PlateauConfig, ReduceLrOnPlateau};
/// let cfg = PlateauConfig { patience: 1, factor: 0.5, ..PlateauConfig::default() };
/// let mut s = ReduceLrOnPlateau::new(1.0, cfg).unwrap();
/// let lrs: Vec<f64> = [3.0, 2.0, 2.0, 2.0, 1.0].iter().map(|&m| s.step_metric(m)).collect();
/// assert_eq!(lrs, [1.0, 1.0, 1.0, 0.5, 0.5]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReduceLrOnPlateau {
    config: PlateauConfig,
    lr: f64,
    /// The best metric so far; `None` before the first step (PyTorch's
    /// `mode_worse`, ±∞, which JSON cannot hold).
    #[serde(with = "nonfinite")]
    best: Option<f64>,
    num_bad_epochs: u64,
    cooldown_counter: u64,
    last_epoch: u64,
}

const NAME: &str = "ReduceLROnPlateau";

impl ReduceLrOnPlateau {
    /// Starts at rate `lr`; an error if a setting is out of range.
    pub fn new(lr: f64, config: PlateauConfig) -> Result<ReduceLrOnPlateau> {
        let s = ReduceLrOnPlateau {
            config,
            lr,
            best: None,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
        };
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        check_lr(NAME, "lr", self.lr)?;
        check_lr(NAME, "min_lr", c.min_lr)?;
        check_lr(NAME, "threshold", c.threshold)?;
        check_lr(NAME, "eps", c.eps)?;
        if !(0.0..1.0).contains(&c.factor) {
            return Err(Error::Config(format!(
                "{NAME}: factor must be in [0, 1), got {}",
                c.factor
            )));
        }
        Ok(())
    }

    /// The settings.
    pub fn config(&self) -> &PlateauConfig {
        &self.config
    }

    /// The best metric seen so far.
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// Consecutive steps without improvement (outside cooldown).
    pub fn num_bad_epochs(&self) -> u64 {
        self.num_bad_epochs
    }

    /// Steps of cooldown left.
    pub fn cooldown_counter(&self) -> u64 {
        self.cooldown_counter
    }

    /// Whether `a` is a significant improvement on `best` (PyTorch's `is_better`).
    pub fn is_better(&self, a: f64, best: Option<f64>) -> bool {
        let c = &self.config;
        let Some(best) = best else {
            // against mode_worse = ±∞
            return match c.mode {
                PlateauMode::Min => a < f64::INFINITY,
                PlateauMode::Max => a > f64::NEG_INFINITY,
            };
        };
        match (c.mode, c.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - c.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - c.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (c.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + c.threshold,
        }
    }

    /// Records the metric of one step (epoch) and returns the new rate.
    pub fn step_metric(&mut self, metric: f64) -> f64 {
        self.last_epoch += 1;
        if self.is_better(metric, self.best) {
            self.best = Some(metric);
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.config.patience {
            let new_lr = (self.lr * self.config.factor).max(self.config.min_lr);
            if self.lr - new_lr > self.config.eps {
                self.lr = new_lr;
            }
            self.cooldown_counter = self.config.cooldown;
            self.num_bad_epochs = 0;
        }
        self.lr
    }
}

impl LrScheduler for ReduceLrOnPlateau {
    fn step(&mut self, metric: Option<f64>) -> Result<f64> {
        match metric {
            Some(m) => Ok(self.step_metric(m)),
            None => Err(Error::Config(format!(
                "{NAME}: step needs the monitored metric"
            ))),
        }
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn needs_metric(&self) -> bool {
        true
    }

    fn state_dict(&self) -> serde_json::Value {
        save_state(NAME, self)
    }

    fn load_state_dict(&mut self, state: &serde_json::Value) -> Result<()> {
        let s: ReduceLrOnPlateau = load_state(NAME, state)?;
        s.validate()?;
        *self = s;
        Ok(())
    }
}

/// An optional f64 that may be ±∞ or NaN, saved as a JSON number or as the
/// string `"inf"`, `"-inf"` or `"nan"`.
mod nonfinite {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        let repr = v.map(|x| match x {
            x if x.is_finite() => Repr::Number(x),
            x if x.is_nan() => Repr::Text("nan".into()),
            x if x > 0.0 => Repr::Text("inf".into()),
            _ => Repr::Text("-inf".into()),
        });
        repr.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<Repr>::deserialize(d)? {
            None => Ok(None),
            Some(Repr::Number(x)) => Ok(Some(x)),
            Some(Repr::Text(t)) => match t.as_str() {
                "inf" => Ok(Some(f64::INFINITY)),
                "-inf" => Ok(Some(f64::NEG_INFINITY)),
                "nan" => Ok(Some(f64::NAN)),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, \"inf\", \"-inf\" or \"nan\", got {other:?}"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests;
