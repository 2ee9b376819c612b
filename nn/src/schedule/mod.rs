//! Learning-rate schedulers.
//!
//! A scheduler computes the learning rate; the caller passes it to the
//! optimizer, so scheduler and optimizer stay independent values:
//!
//! ```
//! use ferrograd_nn::optim::{Optimizer, Sgd, SgdConfig};
//! use ferrograd_nn::schedule::{LrScheduler, StepLr};
//! let mut opt = Sgd::new(vec![], SgdConfig { lr: 0.1, ..SgdConfig::default() }).unwrap();
//! let mut sched = StepLr::new(opt.lr(), 2, 0.5).unwrap();
//! let mut lrs = vec![];
//! for _epoch in 0..5 {
//!     lrs.push(opt.lr());
//!     // ... train one epoch ...
//!     opt.set_lr(sched.step(None).unwrap());
//! }
//! assert_eq!(lrs, [0.1, 0.1, 0.05, 0.05, 0.025]);
//! ```
//!
//! As in PyTorch, a new scheduler is at step 0 and [`LrScheduler::lr`] is
//! the rate for that step (set it on the optimizer before training if it
//! differs from the optimizer's, as with a warm-up); each
//! [`LrScheduler::step`] moves to the next step and returns its rate.
//!
//! * [`StepLr`]: multiply by γ every `step_size` steps;
//! * [`CosineAnnealing`]: cosine from the base rate down to `eta_min`, with an
//!   optional linear warm-up;
//! * [`ReduceLrOnPlateau`]: divide the rate when a monitored metric stops
//!   improving.

pub mod cosine;
pub mod reduce_lr_on_plateau;
pub mod step_lr;

pub use cosine::CosineAnnealing;
pub use reduce_lr_on_plateau::{PlateauConfig, PlateauMode, ReduceLrOnPlateau, ThresholdMode};
pub use step_lr::StepLr;

use crate::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A learning-rate schedule with saved state.
pub trait LrScheduler {
    /// Moves to the next step (epoch or iteration) and returns its learning
    /// rate. `metric` is the monitored value for schedulers that need one
    /// ([`ReduceLrOnPlateau`], an error without it); the others ignore it.
    fn step(&mut self, metric: Option<f64>) -> Result<f64>;

    /// The learning rate of the current step.
    fn lr(&self) -> f64;

    /// Whether [`LrScheduler::step`] needs a metric.
    fn needs_metric(&self) -> bool {
        false
    }

    /// The state to save (configuration and counters) as JSON, with the
    /// scheduler's name under `"scheduler"`.
    fn state_dict(&self) -> serde_json::Value;

    /// Restores a state saved by [`LrScheduler::state_dict`] of the same
    /// kind of scheduler, configuration included.
    fn load_state_dict(&mut self, state: &serde_json::Value) -> Result<()>;
}

/// `value` serialized as a JSON object with `"scheduler": name` added.
pub(crate) fn save_state<T: Serialize>(name: &str, value: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(value).expect("scheduler state serializes");
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("scheduler".into(), name.into());
    }
    v
}

/// The scheduler state in `state`, checked to be for `name`.
pub(crate) fn load_state<T: DeserializeOwned>(name: &str, state: &serde_json::Value) -> Result<T> {
    let found = state.get("scheduler").and_then(|v| v.as_str());
    if found != Some(name) {
        return Err(Error::StateDict(vec![format!(
            "scheduler state is for {found:?}, this scheduler is {name}"
        )]));
    }
    serde_json::from_value(state.clone())
        .map_err(|e| Error::StateDict(vec![format!("{name}: {e}")]))
}

/// An error unless `lr` is finite and non-negative.
pub(crate) fn check_lr(who: &str, what: &str, lr: f64) -> Result<()> {
    if lr.is_finite() && lr >= 0.0 {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{who}: {what} must be finite and >= 0, got {lr}"
        )))
    }
}

#[cfg(test)]
mod resume_tests {
    //! Save an optimizer and a scheduler mid-run, restore both into fresh
    //! values, continue: the result must equal an uninterrupted run bit for bit.

    use super::*;
    use crate::optim::{Adam, AdamConfig, Optimizer, OptimizerState, Sgd, SgdConfig};
    use crate::Param;
    use ferrograd_autograd::Var;
    use ferrograd_tensor::Tensor;

    fn params() -> Vec<Param> {
        vec![
            Param::new(Tensor::from_vec(vec![1.0, -2.0, 0.5, 3.0], &[2, 2]).unwrap()),
            Param::new(Tensor::from_vec(vec![0.25, -0.75], &[2]).unwrap()),
        ]
    }

    /// A loss with a changing minimum, so every step has a new gradient;
    /// returns a "validation metric" for the plateau scheduler.
    fn train_step(opt: &mut dyn Optimizer, step: usize) -> f64 {
        let shift = Var::scalar(0.1 * step as f32);
        let mut total = Var::scalar(0.0);
        for p in opt.params() {
            let d = p.var().sub(&shift).unwrap();
            total = total.add(&d.square().sum_all()).unwrap();
        }
        total.backward().unwrap();
        opt.step().unwrap();
        opt.zero_grad();
        total.item().unwrap() as f64
    }

    fn round_trip(
        state: &OptimizerState,
        sched: &serde_json::Value,
    ) -> (OptimizerState, serde_json::Value) {
        let meta = serde_json::to_string(&state.meta).unwrap();
        let sched = serde_json::to_string(sched).unwrap();
        (
            OptimizerState {
                tensors: state.tensors.clone(),
                meta: serde_json::from_str(&meta).unwrap(),
            },
            serde_json::from_str(&sched).unwrap(),
        )
    }

    fn run<O: Optimizer, S: LrScheduler>(
        make: &dyn Fn(Vec<Param>) -> (O, S),
        total: usize,
        split: Option<usize>,
    ) -> (Vec<Vec<f32>>, f64) {
        let (mut opt, mut sched) = make(params());
        opt.set_lr(sched.lr());
        for step in 0..total {
            if Some(step) == split {
                let (o_state, s_state) = round_trip(&opt.state_dict(), &sched.state_dict());
                // a fresh model, optimizer and scheduler, as after a restart
                let fresh = params();
                for (p, f) in opt.params().iter().zip(&fresh) {
                    f.set(p.value());
                }
                (opt, sched) = make(fresh);
                opt.load_state_dict(&o_state).unwrap();
                sched.load_state_dict(&s_state).unwrap();
            }
            let metric = train_step(&mut opt, step);
            let lr = sched.step(Some(metric)).unwrap();
            opt.set_lr(lr);
        }
        let values = opt.params().iter().map(|p| p.value().into_vec()).collect();
        (values, opt.lr())
    }

    #[test]
    fn sgd_with_step_lr_resumes_bit_identically() {
        let make = |ps: Vec<Param>| {
            let cfg = SgdConfig {
                lr: 0.05,
                momentum: 0.9,
                nesterov: true,
                weight_decay: 1e-3,
                ..SgdConfig::default()
            };
            (
                Sgd::new(ps, cfg).unwrap(),
                StepLr::new(0.05, 3, 0.7).unwrap(),
            )
        };
        let whole = run(&make, 10, None);
        let resumed = run(&make, 10, Some(4));
        assert_eq!(whole, resumed);
    }

    #[test]
    fn adam_with_warmup_cosine_resumes_bit_identically() {
        let make = |ps: Vec<Param>| {
            let cfg = AdamConfig {
                lr: 0.02,
                weight_decay: 1e-2,
                ..AdamConfig::default()
            };
            let sched = CosineAnnealing::new(0.02, 8, 1e-4)
                .unwrap()
                .with_warmup(3, 0.1)
                .unwrap();
            (Adam::new(ps, cfg).unwrap(), sched)
        };
        let whole = run(&make, 12, None);
        let resumed = run(&make, 12, Some(5));
        assert_eq!(whole, resumed);
    }

    #[test]
    fn adam_with_plateau_resumes_bit_identically() {
        let make = |ps: Vec<Param>| {
            let cfg = PlateauConfig {
                patience: 1,
                factor: 0.5,
                cooldown: 1,
                ..PlateauConfig::default()
            };
            (
                Adam::new(
                    ps,
                    AdamConfig {
                        lr: 0.3,
                        ..AdamConfig::default()
                    },
                )
                .unwrap(),
                ReduceLrOnPlateau::new(0.3, cfg).unwrap(),
            )
        };
        let whole = run(&make, 14, None);
        assert!(
            whole.1 < 0.3,
            "the plateau scheduler should have reduced the rate"
        );
        let resumed = run(&make, 14, Some(7));
        assert_eq!(whole, resumed);
    }
}
