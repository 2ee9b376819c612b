//! The training objective of a regression surrogate, with each part kept:
//!
//! loss = w_recon·L_recon(ŷ, y) + w_l1·mean(|θ|) + w_l2·mean(θ²)
//!      + w_grad·mean_n(‖∂ŷₙ/∂xₙ‖²),
//!
//! on normalised inputs and outputs (so `recon_delta` is in output standard
//! deviations and the penalty is scale-free). `L_recon` is one of the
//! losses of [`ferrograd_nn::losses`] ([`ReconKind`]). The gradient penalty
//! differentiates the network's output with respect to its input with
//! `create_graph`, so its weight gradient is a second-order one.

use super::model::RegressionNet;
use ferrograd_autograd::{grad, GradOptions, Var};
use ferrograd_nn::losses::{self, Reduction};
use ferrograd_nn::{Error, Module, Param, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The reconstruction loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReconKind {
    /// Mean squared error.
    Mse,
    /// Huber with δ = `recon_delta`.
    Huber,
    /// Cauchy (Lorentzian) with scale `recon_delta`.
    Cauchy,
    /// Welsch (Leclerc).
    Welsch,
    /// Geman–McClure.
    GemanMcclure,
    /// Tukey's biweight.
    Tukey,
}

impl ReconKind {
    /// Every kind.
    pub const ALL: [ReconKind; 6] = [
        ReconKind::Mse,
        ReconKind::Huber,
        ReconKind::Cauchy,
        ReconKind::Welsch,
        ReconKind::GemanMcclure,
        ReconKind::Tukey,
    ];

    /// The name in configurations.
    pub fn name(self) -> &'static str {
        match self {
            ReconKind::Mse => "mse",
            ReconKind::Huber => "huber",
            ReconKind::Cauchy => "cauchy",
            ReconKind::Welsch => "welsch",
            ReconKind::GemanMcclure => "geman-mcclure",
            ReconKind::Tukey => "tukey",
        }
    }

    /// The mean loss of `pred` against `target` with scale `delta`.
    pub fn loss(self, pred: &Var, target: &Var, delta: f32) -> Result<Var> {
        let r = Reduction::Mean;
        match self {
            ReconKind::Mse => losses::mse(pred, target, r),
            ReconKind::Huber => losses::huber(pred, target, delta, r),
            ReconKind::Cauchy => losses::cauchy(pred, target, delta, r),
            ReconKind::Welsch => losses::welsch(pred, target, delta, r),
            ReconKind::GemanMcclure => losses::geman_mcclure(pred, target, delta, r),
            ReconKind::Tukey => losses::tukey_biweight(pred, target, delta, r),
        }
    }
}

impl fmt::Display for ReconKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ReconKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<ReconKind> {
        let k = s.to_ascii_lowercase().replace('_', "-");
        let k = match k.as_str() {
            "geman-mc-clure" | "gemanmcclure" => "geman-mcclure",
            "tukey-biweight" | "biweight" => "tukey",
            other => other,
        }
        .to_string();
        ReconKind::ALL
            .into_iter()
            .find(|r| r.name() == k)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown recon_type '{s}': expected one of {}",
                    ReconKind::ALL.map(|r| r.name()).join(", ")
                ))
            })
    }
}

/// The weights and the reconstruction loss of the objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Objective {
    /// The reconstruction loss.
    pub recon: ReconKind,
    /// Its scale.
    pub delta: f32,
    /// w_recon.
    pub recon_weight: f32,
    /// w_l1.
    pub l1_weight: f32,
    /// w_l2.
    pub l2_weight: f32,
    /// w_grad.
    pub grad_weight: f32,
}

/// The parts of one evaluation of the objective (unweighted) and the total.
pub struct Parts {
    /// w_recon·recon + w_l1·l1 + w_l2·l2 + w_grad·grad, recorded.
    pub total: Var,
    /// L_recon.
    pub recon: f64,
    /// mean(|θ|).
    pub l1: f64,
    /// mean(θ²).
    pub l2: f64,
    /// mean(‖∂ŷ/∂x‖²) (0 when its weight is 0: not computed).
    pub grad: f64,
}

/// mean over rows of ‖∂ŷₙ/∂xₙ‖² (the squared Frobenius norm of each row's
/// Jacobian) of the network's normalised output `out = f(x)`, `x` a
/// `[N, d]` leaf that requires a gradient. With `create_graph` the result
/// can be differentiated again (its weight gradient).
pub fn gradient_penalty(out: &Var, x: &Var, create_graph: bool) -> Result<Var> {
    let n = x.dims()[0].max(1) as f32;
    let k = out.dims()[1];
    let opts = GradOptions {
        create_graph,
        allow_unused: true,
    };
    let mut total: Option<Var> = None;
    for j in 0..k {
        let col = if k == 1 {
            out.sum_all()
        } else {
            out.narrow(1, j, 1)?.sum_all()
        };
        let g = grad(&[&col], &[x], None, opts)?.remove(0);
        let s = g.square().sum_all();
        total = Some(match total {
            Some(t) => t.add(&s)?,
            None => s,
        });
    }
    Ok(total
        .unwrap_or_else(|| Var::scalar(0.0))
        .mul_scalar(1.0 / n))
}

fn mean_penalty(params: &[Param], l1: bool) -> Result<Var> {
    let count: usize = params.iter().map(|p| p.value().numel()).sum();
    let c = 1.0 / count.max(1) as f32;
    if l1 {
        losses::l1_penalty(params, c)
    } else {
        losses::l2_penalty(params, c)
    }
}

impl Objective {
    /// The objective of `net` on normalised inputs `xn` `[N, d]` and
    /// normalised targets `yn` `[N, k]`, every part recorded for a backward
    /// pass.
    pub fn evaluate(&self, net: &RegressionNet, xn: &Var, yn: &Var) -> Result<Parts> {
        let x = if self.grad_weight > 0.0 {
            Var::param(xn.value().clone())
        } else {
            xn.clone()
        };
        let out = net.forward_normalised(&x)?;
        let recon = self.recon.loss(&out, yn, self.delta)?;
        let params = net.params();
        let l1 = mean_penalty(&params, true)?;
        let l2 = mean_penalty(&params, false)?;
        let mut total = recon
            .mul_scalar(self.recon_weight)
            .add(&l1.mul_scalar(self.l1_weight))?
            .add(&l2.mul_scalar(self.l2_weight))?;
        let mut grad_value = 0.0;
        if self.grad_weight > 0.0 {
            let gp = gradient_penalty(&out, &x, true)?;
            grad_value = gp.item()? as f64;
            total = total.add(&gp.mul_scalar(self.grad_weight))?;
        }
        Ok(Parts {
            recon: recon.item()? as f64,
            l1: l1.item()? as f64,
            l2: l2.item()? as f64,
            grad: grad_value,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regress::model::NetSpec;
    use ferrograd_nn::{Activation, Normalizer};
    use ferrograd_tensor::Tensor;

    fn net(residual: bool) -> RegressionNet {
        RegressionNet::new(
            &NetSpec {
                inputs: 2,
                outputs: 1,
                layers: vec![6, 4],
                residual,
                activation: Activation::Tanh,
            },
            7,
            &Normalizer::identity(2),
            &Normalizer::identity(1),
        )
        .unwrap()
    }

    fn batch() -> (Var, Var) {
        let x: Vec<f32> = (0..10).map(|i| (i as f32 * 0.37).sin()).collect();
        let y: Vec<f32> = (0..5).map(|i| i as f32 * 0.2 - 0.4).collect();
        (
            Var::constant(Tensor::from_vec(x, &[5, 2]).unwrap()),
            Var::constant(Tensor::from_vec(y, &[5, 1]).unwrap()),
        )
    }

    /// The gradient penalty's weight gradient (through `create_graph`)
    /// matches central finite differences of the penalty in every weight.
    #[test]
    fn gradient_penalty_weight_gradient_matches_finite_differences() {
        for residual in [true, false] {
            let net = net(residual);
            let (xn, _) = batch();
            let penalty = |net: &RegressionNet| -> f64 {
                let x = Var::param(xn.value().clone());
                let out = net.forward_normalised(&x).unwrap();
                gradient_penalty(&out, &x, false).unwrap().item().unwrap() as f64
            };
            let x = Var::param(xn.value().clone());
            let out = net.forward_normalised(&x).unwrap();
            let gp = gradient_penalty(&out, &x, true).unwrap();
            let params = net.params();
            let leaves: Vec<Var> = params.iter().map(|p| p.var()).collect();
            let refs: Vec<&Var> = leaves.iter().collect();
            let opts = GradOptions::default().allow_unused();
            let grads = grad(&[&gp], &refs, None, opts).unwrap();
            let mut checked = 0;
            for (p, g) in params.iter().zip(&grads) {
                let base = p.value();
                for i in 0..base.numel() {
                    let h = 1e-2f32;
                    let mut plus = base.data().to_vec();
                    plus[i] += h;
                    p.set(Tensor::from_vec(plus, base.dims()).unwrap());
                    let fp = penalty(&net);
                    let mut minus = base.data().to_vec();
                    minus[i] -= h;
                    p.set(Tensor::from_vec(minus, base.dims()).unwrap());
                    let fm = penalty(&net);
                    p.set(base.clone());
                    let fd = (fp - fm) / (2.0 * h as f64);
                    let an = g.value().data()[i] as f64;
                    assert!(
                        (fd - an).abs() <= 2e-3 + 2e-2 * an.abs(),
                        "residual {residual}, param element {i}: fd {fd} vs autograd {an}"
                    );
                    checked += 1;
                }
            }
            assert!(checked > 40);
        }
    }

    /// The penalty equals the analytic ‖w‖² for a linear map.
    #[test]
    fn gradient_penalty_of_a_linear_map() {
        let w = Tensor::from_vec(vec![2.0, -3.0], &[2, 1]).unwrap();
        let x = Var::param(Tensor::ones(&[4, 2]).unwrap());
        let out = x.matmul(&Var::constant(w)).unwrap();
        let gp = gradient_penalty(&out, &x, false).unwrap();
        assert!((gp.item().unwrap() - 13.0).abs() < 1e-5);
    }

    #[test]
    fn parts_add_up_and_kinds_parse() {
        let net = net(true);
        let (x, y) = batch();
        let obj = Objective {
            recon: ReconKind::Cauchy,
            delta: 0.5,
            recon_weight: 10.0,
            l1_weight: 0.1,
            l2_weight: 0.2,
            grad_weight: 0.3,
        };
        let p = obj.evaluate(&net, &x, &y).unwrap();
        let sum = 10.0 * p.recon + 0.1 * p.l1 + 0.2 * p.l2 + 0.3 * p.grad;
        assert!((p.total.item().unwrap() as f64 - sum).abs() < 1e-4 * sum.abs().max(1.0));
        assert!(p.grad > 0.0 && p.l1 > 0.0 && p.l2 > 0.0 && p.recon > 0.0);
        for k in ReconKind::ALL {
            assert_eq!(k.name().parse::<ReconKind>().unwrap(), k);
            assert!(k.loss(&y, &y, 1.0).unwrap().item().unwrap().abs() < 1e-7);
        }
        assert_eq!(
            "Geman_McClure".parse::<ReconKind>().unwrap(),
            ReconKind::GemanMcclure
        );
        assert!("l3"
            .parse::<ReconKind>()
            .unwrap_err()
            .to_string()
            .contains("huber"));
    }
}
