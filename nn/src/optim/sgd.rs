//! Stochastic gradient descent with momentum, dampening, Nesterov momentum
//! and L2 weight decay (PyTorch's `torch.optim.SGD`).

use super::{checked_grad, meta_header, read_buffers, read_header, state_tensor_name};
use super::{Optimizer, OptimizerState};
use crate::param::Param;
use crate::{Error, Result};
use ferrograd_tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Hyper-parameters of [`Sgd`]; the defaults are PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Momentum factor μ (default 0: plain SGD).
    pub momentum: f64,
    /// Dampening τ of the momentum (default 0).
    pub dampening: f64,
    /// L2 penalty λ added to the gradient as λ·θ (default 0).
    pub weight_decay: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`).
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

impl SgdConfig {
    fn validate(&self) -> Result<()> {
        let bad = |what: &str, v: f64| {
            Err(Error::Config(format!(
                "SGD: {what} must be finite and >= 0, got {v}"
            )))
        };
        for (what, v) in [
            ("lr", self.lr),
            ("momentum", self.momentum),
            ("weight_decay", self.weight_decay),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(what, v);
            }
        }
        if !self.dampening.is_finite() {
            return bad("dampening", self.dampening);
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::Config(
                "SGD: Nesterov momentum requires a momentum and zero dampening".into(),
            ));
        }
        Ok(())
    }
}

/// SGD with PyTorch's update rule. With gradient g, parameter θ, step t:
///
/// ```text
/// g ← g + λθ                                   (weight_decay λ)
/// b ← g  at the first step, else  b ← μb + (1 − τ)g
/// g ← g + μb  (Nesterov)  or  g ← b
/// θ ← θ − lr·g
/// ```
///
/// ```
/// use ferrograd_nn::optim::{Optimizer, Sgd, SgdConfig};
/// use ferrograd_nn::Param;
/// use ferrograd_tensor::Tensor;
/// let w = Param::new(Tensor::from_vec(vec![1.0], &[1]).unwrap());
/// let cfg = SgdConfig { lr: 0.1, momentum: 0.9, ..SgdConfig::default() };
/// let mut opt = Sgd::new(vec![w.clone()], cfg).unwrap();
/// for _ in 0..2 {
///     w.var().sum_all().backward().unwrap(); // gradient 1
///     opt.step().unwrap();
/// }
/// // b = 1, then 1.9: θ = 1 − 0.1 − 0.19
/// assert!((w.value().data()[0] - 0.71).abs() < 1e-6);
/// ```
pub struct Sgd {
    params: Vec<Param>,
    config: SgdConfig,
    momentum_buffers: Vec<Option<Tensor>>,
}

const NAME: &str = "SGD";
const BUFFER: &str = "momentum_buffer";

impl Sgd {
    /// An optimizer over `params`; an error if a hyper-parameter is invalid.
    pub fn new(params: Vec<Param>, config: SgdConfig) -> Result<Sgd> {
        config.validate()?;
        let n = params.len();
        Ok(Sgd {
            params,
            config,
            momentum_buffers: vec![None; n],
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }
}

impl Optimizer for Sgd {
    fn params(&self) -> &[Param] {
        &self.params
    }

    fn step(&mut self) -> Result<()> {
        let c = self.config;
        let lr = c.lr as f32;
        let wd = c.weight_decay as f32;
        let mu = c.momentum as f32;
        let keep = (1.0 - c.dampening) as f32;
        for (i, p) in self.params.iter().enumerate() {
            let Some(g) = checked_grad(NAME, i, p)? else {
                continue;
            };
            // `x.add(y, alpha=a)` in PyTorch's CPU kernels is the fused
            // `a·y + x`, hence `mul_add` (the results then match bit for bit).
            let mut theta = p.value();
            let mut d = g.into_vec();
            if wd != 0.0 {
                for (d, &t) in d.iter_mut().zip(theta.data()) {
                    *d = wd.mul_add(t, *d);
                }
            }
            if mu != 0.0 {
                let slot = &mut self.momentum_buffers[i];
                match slot {
                    None => *slot = Some(Tensor::from_slice(&d, &p.dims())?),
                    Some(buf) => {
                        for (b, &d) in buf.data_mut().iter_mut().zip(&d) {
                            *b = keep.mul_add(d, *b * mu);
                        }
                    }
                }
                let buf = slot.as_ref().expect("momentum buffer set above").data();
                if c.nesterov {
                    for (d, &b) in d.iter_mut().zip(buf) {
                        *d = mu.mul_add(b, *d);
                    }
                } else {
                    d.copy_from_slice(buf);
                }
            }
            for (t, &d) in theta.data_mut().iter_mut().zip(&d) {
                *t = (-lr).mul_add(d, *t);
            }
            p.set(theta);
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
        let meta = meta_header(NAME, self.params.len(), &self.config);
        let tensors = self
            .momentum_buffers
            .iter()
            .enumerate()
            .filter_map(|(i, b)| Some((state_tensor_name(i, BUFFER), b.clone()?)))
            .collect();
        OptimizerState {
            tensors,
            meta: meta.into(),
        }
    }

    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()> {
        let config: SgdConfig = read_header(NAME, self.params.len(), &state.meta)?;
        config.validate()?;
        let present: Vec<bool> = (0..self.params.len())
            .map(|i| state.tensors.contains_key(&state_tensor_name(i, BUFFER)))
            .collect();
        let mut buffers = read_buffers(NAME, state, &self.params, &[BUFFER], &present)?;
        self.config = config;
        self.momentum_buffers = buffers.remove(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(v: &[f32]) -> Param {
        Param::new(Tensor::from_slice(v, &[v.len()]).unwrap())
    }

    /// Loss ½·Σ aᵢθᵢ², gradient aᵢθᵢ.
    fn quadratic_grad(p: &Param, a: &[f32]) {
        let a = ferrograd_autograd::Var::constant(Tensor::from_slice(a, &[a.len()]).unwrap());
        let v = p.var();
        v.square()
            .mul(&a)
            .unwrap()
            .sum_all()
            .mul_scalar(0.5)
            .backward()
            .unwrap();
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn plain_sgd_and_momentum_by_hand() {
        let p = param(&[2.0]);
        let cfg = SgdConfig {
            lr: 0.1,
            momentum: 0.5,
            dampening: 0.5,
            ..SgdConfig::default()
        };
        let mut opt = Sgd::new(vec![p.clone()], cfg).unwrap();
        // gradient θ: step 1: b = 2, θ = 1.8; step 2: b = 1 + 0.9 = 1.9, θ = 1.61
        for _ in 0..2 {
            quadratic_grad(&p, &[1.0]);
            opt.step().unwrap();
        }
        close(p.value().data(), &[1.61], 1e-6);
    }

    #[test]
    fn matches_torch_nesterov_with_weight_decay() {
        // torch 2.15.0 (CPU): SGD([p], lr=0.1, momentum=0.9, nesterov=True,
        // weight_decay=0.01), p0 = [1, -2, 0.5], loss ½Σ a p², a = [1, 2, 3],
        // three steps; the f32 results agree bit for bit.
        let p = param(&[1.0, -2.0, 0.5]);
        let cfg = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
            nesterov: true,
            ..SgdConfig::default()
        };
        let mut opt = Sgd::new(vec![p.clone()], cfg).unwrap();
        for _ in 0..3 {
            quadratic_grad(&p, &[1.0, 2.0, 3.0]);
            opt.step().unwrap();
        }
        assert_eq!(p.value().data(), TORCH_SGD_NESTEROV, "bit for bit");
    }

    const TORCH_SGD_NESTEROV: &[f32] = &[0.32185972, 0.22330216, -0.1748607];

    #[test]
    fn params_without_gradient_are_skipped() {
        let (a, b) = (param(&[1.0]), param(&[1.0]));
        let cfg = SgdConfig {
            lr: 1.0,
            momentum: 0.9,
            ..SgdConfig::default()
        };
        let mut opt = Sgd::new(vec![a.clone(), b.clone()], cfg).unwrap();
        quadratic_grad(&a, &[1.0]);
        opt.step().unwrap();
        assert_eq!(a.value().data(), &[0.0]);
        assert_eq!(b.value().data(), &[1.0]);
        let state = opt.state_dict();
        assert_eq!(
            state.tensors.keys().collect::<Vec<_>>(),
            ["state.0.momentum_buffer"]
        );
        assert!(a.grad().is_none(), "the step replaces the leaf");
    }

    #[test]
    fn bad_configuration_is_an_error() {
        let bad = [
            SgdConfig {
                lr: -1.0,
                ..SgdConfig::default()
            },
            SgdConfig {
                nesterov: true,
                ..SgdConfig::default()
            },
            SgdConfig {
                momentum: 0.9,
                dampening: 0.1,
                nesterov: true,
                ..SgdConfig::default()
            },
            SgdConfig {
                weight_decay: f64::NAN,
                ..SgdConfig::default()
            },
        ];
        for cfg in bad {
            assert!(matches!(Sgd::new(vec![], cfg), Err(Error::Config(_))));
        }
    }

    #[test]
    fn load_rejects_mismatched_state() {
        let p = param(&[1.0, 2.0]);
        let cfg = SgdConfig {
            momentum: 0.9,
            ..SgdConfig::default()
        };
        let mut opt = Sgd::new(vec![p.clone()], cfg).unwrap();
        quadratic_grad(&p, &[1.0, 1.0]);
        opt.step().unwrap();
        let mut state = opt.state_dict();
        let mut other = Sgd::new(vec![param(&[1.0, 2.0, 3.0])], cfg).unwrap();
        assert!(matches!(
            other.load_state_dict(&state),
            Err(Error::StateDict(_))
        ));
        state
            .tensors
            .insert("state.7.momentum_buffer".into(), Tensor::scalar(0.0));
        assert!(matches!(
            opt.load_state_dict(&state),
            Err(Error::StateDict(_))
        ));
    }
}
