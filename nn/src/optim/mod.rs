//! Optimizers, gradient clipping and gradient accumulation.
//!
//! An [`Optimizer`] owns a list of [`Param`]s (for example
//! `module.params()`), reads the gradient that `backward` accumulated in each
//! one, and replaces each value through [`Param::set`] (plain tensor math, no
//! graph). Parameters without a gradient are skipped, as in PyTorch.
//!
//! * [`Sgd`]: momentum, dampening, Nesterov, L2 weight decay;
//! * [`Adam`] (L2 weight decay added to the gradient) and [`AdamW`]
//!   (decoupled weight decay);
//! * [`clip_grad_norm`] and [`clip_grad_value`];
//! * [`GradAccumulator`]: one step every `k` micro-batches.
//!
//! The update rules follow PyTorch's single-tensor implementations line by
//! line, in f32 with the hyper-parameters held as f64 (Python floats), so the
//! values agree with `torch.optim` to float rounding.
//!
//! Optimizer state (step counts, moment estimates, hyper-parameters) is saved
//! with [`Optimizer::state_dict`] and restored with
//! [`Optimizer::load_state_dict`]; resuming from a saved state continues bit
//! for bit like an uninterrupted run.

pub mod accumulate;
pub mod adam;
pub mod clip;
pub mod sgd;

pub use accumulate::GradAccumulator;
pub use adam::{Adam, AdamConfig, AdamW};
pub use clip::{clip_grad_norm, clip_grad_value};
pub use sgd::{Sgd, SgdConfig};

use crate::param::Param;
use crate::{Error, Result};
use ferrograd_tensor::Tensor;
use std::collections::BTreeMap;

/// Updates parameters from their accumulated gradients.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::optim::{Optimizer, Sgd, SgdConfig};
/// use ferrograd_nn::Param;
/// use ferrograd_tensor::Tensor;
/// let w = Param::new(Tensor::from_vec(vec![1.0, -2.0], &[2]).unwrap());
/// let mut opt = Sgd::new(vec![w.clone()], SgdConfig { lr: 0.5, ..SgdConfig::default() }).unwrap();
/// // loss = ½‖w‖², gradient w
/// w.var().square().sum_all().mul_scalar(0.5).backward().unwrap();
/// opt.step().unwrap();
/// opt.zero_grad();
/// assert_eq!(w.value().data(), &[0.5, -1.0]);
/// ```
pub trait Optimizer {
    /// The parameters this optimizer updates, in the order of its state.
    fn params(&self) -> &[Param];

    /// One update of every parameter that has a gradient.
    fn step(&mut self) -> Result<()>;

    /// Clears every parameter's accumulated gradient.
    fn zero_grad(&self) {
        for p in self.params() {
            p.zero_grad();
        }
    }

    /// The current learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (what a scheduler does each step).
    fn set_lr(&mut self, lr: f64);

    /// The state to save: per-parameter tensors and JSON metadata.
    fn state_dict(&self) -> OptimizerState;

    /// Restores a state saved by [`Optimizer::state_dict`] of the same kind
    /// of optimizer over parameters of the same shapes, hyper-parameters
    /// included (as PyTorch does).
    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()>;
}

/// A saved optimizer state.
///
/// * `tensors`: per-parameter buffers named `state.{param_index}.{buffer}`
///   (`state.0.exp_avg`, `state.3.momentum_buffer`, …);
/// * `meta`: a JSON object with the optimizer's name (`"optimizer"`), the
///   number of parameters (`"num_params"`), the hyper-parameters
///   (`"config"`) and scalar state such as step counts.
///
/// Tensors and JSON map directly onto a safetensors file (tensors plus
/// string metadata).
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    /// Per-parameter buffers, by name.
    pub tensors: BTreeMap<String, Tensor>,
    /// Step counts, hyper-parameters and the optimizer's name.
    pub meta: serde_json::Value,
}

/// The name of parameter `index`'s buffer `buffer` in [`OptimizerState::tensors`].
pub fn state_tensor_name(index: usize, buffer: &str) -> String {
    format!("state.{index}.{buffer}")
}

/// The gradient of `p`, checked to have `p`'s shape.
pub(crate) fn checked_grad(who: &str, index: usize, p: &Param) -> Result<Option<Tensor>> {
    let Some(g) = p.grad() else {
        return Ok(None);
    };
    let dims = p.dims();
    if g.dims() != dims.as_slice() {
        return Err(Error::Config(format!(
            "{who}: gradient of parameter {index} has shape {:?}, the parameter {dims:?}",
            g.dims()
        )));
    }
    Ok(Some(g))
}

/// Replaces the accumulated gradient of `p` with `g`.
pub(crate) fn set_grad(p: &Param, g: &Tensor) -> Result<()> {
    p.set_grad(Some(g.clone()));
    Ok(())
}

/// Multiplies every accumulated gradient by `factor`.
pub(crate) fn scale_grads(params: &[Param], factor: f32) -> Result<()> {
    for p in params {
        if let Some(g) = p.grad() {
            set_grad(p, &g.mul_scalar(factor))?;
        }
    }
    Ok(())
}

/// The common header of an optimizer's metadata.
pub(crate) fn meta_header<C: serde::Serialize>(
    name: &str,
    num_params: usize,
    config: &C,
) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("optimizer".into(), name.into());
    m.insert("num_params".into(), num_params.into());
    m.insert(
        "config".into(),
        serde_json::to_value(config).expect("optimizer config serializes"),
    );
    m
}

/// Checks the header written by [`meta_header`] and returns the config.
pub(crate) fn read_header<C: serde::de::DeserializeOwned>(
    name: &str,
    num_params: usize,
    meta: &serde_json::Value,
) -> Result<C> {
    let found = meta.get("optimizer").and_then(|v| v.as_str());
    if found != Some(name) {
        return Err(Error::StateDict(vec![format!(
            "optimizer state is for {found:?}, this optimizer is {name}"
        )]));
    }
    let n = meta.get("num_params").and_then(|v| v.as_u64());
    if n != Some(num_params as u64) {
        return Err(Error::StateDict(vec![format!(
            "{name}: the state has {n:?} parameters, this optimizer {num_params}"
        )]));
    }
    let config = meta.get("config").cloned().unwrap_or_default();
    serde_json::from_value(config)
        .map_err(|e| Error::StateDict(vec![format!("{name}: config: {e}")]))
}

/// Takes the per-parameter buffers named `buffers` out of `state`, checking
/// shapes against `params`; `present[i]` says whether parameter `i` must have
/// them (otherwise it must not). Unknown tensor names are reported too.
pub(crate) fn read_buffers(
    name: &str,
    state: &OptimizerState,
    params: &[Param],
    buffers: &[&str],
    present: &[bool],
) -> Result<Vec<Vec<Option<Tensor>>>> {
    let mut problems = Vec::new();
    let mut out = vec![Vec::with_capacity(params.len()); buffers.len()];
    let mut used = 0;
    for (i, p) in params.iter().enumerate() {
        let dims = p.dims();
        for (b, buffer) in buffers.iter().enumerate() {
            let key = state_tensor_name(i, buffer);
            let t = state.tensors.get(&key);
            if t.is_some() {
                used += 1;
            }
            match (t, present[i]) {
                (Some(t), true) if t.dims() == dims.as_slice() => out[b].push(Some(t.clone())),
                (Some(t), true) => {
                    problems.push(format!(
                        "{key}: shape {:?}, the parameter has {dims:?}",
                        t.dims()
                    ));
                    out[b].push(None);
                }
                (None, true) => {
                    problems.push(format!("{key}: missing"));
                    out[b].push(None);
                }
                (Some(_), false) => {
                    problems.push(format!("{key}: present for a parameter without state"));
                    out[b].push(None);
                }
                (None, false) => out[b].push(None),
            }
        }
    }
    if used != state.tensors.len() {
        for key in state.tensors.keys() {
            let known =
                (0..params.len()).any(|i| buffers.iter().any(|b| *key == state_tensor_name(i, b)));
            if !known {
                problems.push(format!("{key}: not a buffer of {name}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::StateDict(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_grad_replaces_the_accumulated_gradient() {
        let p = Param::new(Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap());
        assert!(p.grad().is_none());
        p.var().square().sum_all().backward().unwrap();
        assert_eq!(p.grad().unwrap().data(), &[2.0, 4.0]);
        scale_grads(std::slice::from_ref(&p), 0.5).unwrap();
        assert_eq!(p.grad().unwrap().data(), &[1.0, 2.0]);
        // backward still accumulates on top
        p.var().sum_all().backward().unwrap();
        assert_eq!(p.grad().unwrap().data(), &[2.0, 3.0]);
    }

    #[test]
    fn header_round_trip_and_mismatches() {
        let cfg = SgdConfig::default();
        let meta = serde_json::Value::Object(meta_header("SGD", 2, &cfg));
        let back: SgdConfig = read_header("SGD", 2, &meta).unwrap();
        assert_eq!(back, cfg);
        assert!(matches!(
            read_header::<SgdConfig>("Adam", 2, &meta),
            Err(Error::StateDict(_))
        ));
        assert!(matches!(
            read_header::<SgdConfig>("SGD", 3, &meta),
            Err(Error::StateDict(_))
        ));
    }
}
