//! Adam and AdamW (PyTorch's `torch.optim.Adam` and `torch.optim.AdamW`).

use super::{checked_grad, meta_header, read_buffers, read_header, state_tensor_name};
use super::{Optimizer, OptimizerState};
use crate::param::Param;
use crate::{Error, Result};
use ferrograd_tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Hyper-parameters of [`Adam`] and [`AdamW`]. [`Default`] gives PyTorch's
/// Adam defaults (no weight decay); [`AdamConfig::adamw`] PyTorch's AdamW
/// defaults (weight decay 0.01).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Decay rates (β₁, β₂) of the first and second moment estimates
    /// (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Added to the denominator for stability (default 1e-8).
    pub eps: f64,
    /// Weight decay λ: an L2 penalty for [`Adam`], decoupled for [`AdamW`].
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamConfig {
    /// PyTorch's AdamW defaults: as [`Default`] with weight decay 0.01.
    pub fn adamw() -> Self {
        AdamConfig {
            weight_decay: 1e-2,
            ..AdamConfig::default()
        }
    }

    fn validate(&self, who: &str) -> Result<()> {
        let (b1, b2) = self.betas;
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        let problem = if !ok(self.lr) {
            format!("lr must be finite and >= 0, got {}", self.lr)
        } else if !ok(self.eps) {
            format!("eps must be finite and >= 0, got {}", self.eps)
        } else if !ok(self.weight_decay) {
            format!(
                "weight_decay must be finite and >= 0, got {}",
                self.weight_decay
            )
        } else if !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2)) {
            format!("betas must be in [0, 1), got ({b1}, {b2})")
        } else {
            return Ok(());
        };
        Err(Error::Config(format!("{who}: {problem}")))
    }
}

/// Adam with PyTorch's update rule. With gradient g, parameter θ and step t
/// (counted per parameter):
///
/// ```text
/// g ← g + λθ                                  (weight_decay λ, L2 form)
/// m ← m + (1 − β₁)(g − m)
/// v ← β₂v + (1 − β₂)g²
/// θ ← θ − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// ```
/// use ferrograd_nn::optim::{Adam, AdamConfig, Optimizer};
/// use ferrograd_nn::Param;
/// use ferrograd_tensor::Tensor;
/// let w = Param::new(Tensor::from_vec(vec![1.0, -1.0], &[2]).unwrap());
/// let mut opt = Adam::new(vec![w.clone()], AdamConfig { lr: 0.1, ..AdamConfig::default() }).unwrap();
/// w.var().square().sum_all().backward().unwrap();
/// opt.step().unwrap();
/// // the first Adam step moves each coordinate by about lr, against the gradient's sign
/// let v = w.value();
/// assert!((v.data()[0] - 0.9).abs() < 1e-6 && (v.data()[1] + 0.9).abs() < 1e-6);
/// ```
pub struct Adam {
    params: Vec<Param>,
    config: AdamConfig,
    decoupled: bool,
    steps: Vec<u64>,
    exp_avg: Vec<Option<Tensor>>,
    exp_avg_sq: Vec<Option<Tensor>>,
}

/// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's
/// form: `θ ← θ·(1 − lr·λ)` first, then the Adam step without the L2 term.
///
/// ```
/// use ferrograd_nn::optim::{AdamConfig, AdamW, Optimizer};
/// use ferrograd_nn::Param;
/// use ferrograd_tensor::Tensor;
/// let w = Param::new(Tensor::from_vec(vec![2.0], &[1]).unwrap());
/// let cfg = AdamConfig { lr: 0.1, weight_decay: 0.5, ..AdamConfig::adamw() };
/// let mut opt = AdamW::new(vec![w.clone()], cfg).unwrap();
/// w.var().sum_all().backward().unwrap();
/// opt.step().unwrap();
/// // 2·(1 − 0.05) − 0.1
/// assert!((w.value().data()[0] - 1.8).abs() < 1e-6);
/// ```
pub struct AdamW(Adam);

const BUFFERS: [&str; 2] = ["exp_avg", "exp_avg_sq"];

impl Adam {
    /// Adam over `params`; an error if a hyper-parameter is invalid.
    pub fn new(params: Vec<Param>, config: AdamConfig) -> Result<Adam> {
        Adam::build(params, config, false)
    }

    fn build(params: Vec<Param>, config: AdamConfig, decoupled: bool) -> Result<Adam> {
        let opt = Adam {
            steps: vec![0; params.len()],
            exp_avg: vec![None; params.len()],
            exp_avg_sq: vec![None; params.len()],
            params,
            config,
            decoupled,
        };
        config.validate(opt.name())?;
        Ok(opt)
    }

    fn name(&self) -> &'static str {
        if self.decoupled {
            "AdamW"
        } else {
            "Adam"
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// How many updates each parameter has had (PyTorch's per-parameter `step`).
    pub fn steps(&self) -> &[u64] {
        &self.steps
    }
}

impl AdamW {
    /// AdamW over `params`; an error if a hyper-parameter is invalid.
    pub fn new(params: Vec<Param>, config: AdamConfig) -> Result<AdamW> {
        Ok(AdamW(Adam::build(params, config, true)?))
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamConfig {
        &self.0.config
    }

    /// How many updates each parameter has had.
    pub fn steps(&self) -> &[u64] {
        &self.0.steps
    }
}

/// PyTorch's `lerp` for a scalar weight: `a + w(b − a)` for |w| < ½, else
/// `b − (b − a)(1 − w)`.
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

impl Optimizer for Adam {
    fn params(&self) -> &[Param] {
        &self.params
    }

    fn step(&mut self) -> Result<()> {
        let c = self.config;
        let (beta1, beta2) = c.betas;
        let wd = c.weight_decay as f32;
        let decay = (1.0 - c.lr * c.weight_decay) as f32;
        let w1 = (1.0 - beta1) as f32;
        let b2 = beta2 as f32;
        let w2 = (1.0 - beta2) as f32;
        let eps = c.eps as f32;
        for (i, p) in self.params.iter().enumerate() {
            let Some(g) = checked_grad(self.name(), i, p)? else {
                continue;
            };
            let old = p.value();
            // The gradient is read in place (it is shared with the
            // parameter's `.grad()`: taking it as a vector would copy it).
            let g = g.data();
            // Coupled (L2) weight decay adds wd·θ to the gradient; decoupled
            // (AdamW) scales θ by 1 − lr·wd before the update (PyTorch's two
            // steps, rounded the same, in one pass).
            let (coupled, scale) = match (self.decoupled, c.weight_decay != 0.0) {
                (true, true) => (0.0, Some(decay)),
                (true, false) => (0.0, None),
                (false, _) => (wd, None),
            };
            let zeros = || old.zeros_like();
            let m = self.exp_avg[i].get_or_insert_with(zeros).data_mut();
            let v = self.exp_avg_sq[i].get_or_insert_with(zeros).data_mut();
            self.steps[i] += 1;
            let t = self.steps[i] as f64;
            let step_size = c.lr / (1.0 - beta1.powf(t));
            let bc2_sqrt = (1.0 - beta2.powf(t)).sqrt() as f32;
            let neg_step = -step_size as f32;
            // The new θ is a new buffer written in the same pass (a graph
            // still holding the old value must not see it change), not a
            // copy of the old one updated in place.
            let mut theta = ferrograd_tensor::buffer::for_overwrite(old.numel());
            let rows = theta.iter_mut().zip(old.data()).zip(g).zip(m).zip(v);
            for ((((out, &th), &g), m), v) in rows {
                let g = if coupled != 0.0 {
                    coupled.mul_add(th, g)
                } else {
                    g
                };
                *m = lerp(*m, g, w1);
                *v = *v * b2 + w2 * g * g;
                let denom = v.sqrt() / bc2_sqrt + eps;
                let th = scale.map_or(th, |s| th * s);
                *out = th + neg_step * *m / denom;
            }
            p.set(Tensor::from_vec(theta, old.dims())?);
        }
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn state_dict(&self) -> OptimizerState {
        let mut meta = meta_header(self.name(), self.params.len(), &self.config);
        meta.insert(
            "steps".into(),
            serde_json::to_value(&self.steps).expect("u64s"),
        );
        let mut tensors = std::collections::BTreeMap::new();
        for (b, bufs) in BUFFERS.iter().zip([&self.exp_avg, &self.exp_avg_sq]) {
            for (i, t) in bufs.iter().enumerate() {
                if let Some(t) = t {
                    tensors.insert(state_tensor_name(i, b), t.clone());
                }
            }
        }
        OptimizerState {
            tensors,
            meta: meta.into(),
        }
    }

    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()> {
        let name = self.name();
        let config: AdamConfig = read_header(name, self.params.len(), &state.meta)?;
        config.validate(name)?;
        let steps: Vec<u64> = state
            .meta
            .get("steps")
            .cloned()
            .and_then(|s| serde_json::from_value(s).ok())
            .filter(|s: &Vec<u64>| s.len() == self.params.len())
            .ok_or_else(|| {
                Error::StateDict(vec![format!(
                    "{name}: \"steps\" must list one count per parameter"
                )])
            })?;
        let present: Vec<bool> = steps.iter().map(|&s| s > 0).collect();
        let mut buffers = read_buffers(name, state, &self.params, &BUFFERS, &present)?;
        self.config = config;
        self.steps = steps;
        self.exp_avg_sq = buffers.pop().expect("two buffers");
        self.exp_avg = buffers.pop().expect("two buffers");
        Ok(())
    }
}

impl Optimizer for AdamW {
    fn params(&self) -> &[Param] {
        self.0.params()
    }

    fn step(&mut self) -> Result<()> {
        self.0.step()
    }

    fn lr(&self) -> f64 {
        self.0.lr()
    }

    fn set_lr(&mut self, lr: f64) {
        self.0.set_lr(lr)
    }

    fn state_dict(&self) -> OptimizerState {
        self.0.state_dict()
    }

    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()> {
        self.0.load_state_dict(state)
    }
}

#[cfg(test)]
mod tests;
