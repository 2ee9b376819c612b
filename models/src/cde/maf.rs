//! Masked autoregressive flow (Papamakarios et al., 2017) for a conditional
//! density p(x | f), x ∈ ℝᵈ, f ∈ ℝᶜ, built from MADE blocks (Germain et al.,
//! 2015).
//!
//! # One block
//! A [`Made`] maps its input x (in the block's own ordering) and the features
//! f to a shift μ and a log-scale α per dimension, μᵢ and αᵢ depending only on
//! x₁..xᵢ₋₁ and f:
//!
//! * hidden layers `h_l = act((W_l ⊙ M_l)[h_{l−1}; f] + b_l)` with `h_0 = x`
//!   (f is concatenated to the input of *every* hidden layer);
//! * the output layer `o = (W ⊙ M) h_L + b` (no f columns; with no hidden
//!   layers it reads `[x; f]` directly) has 2d units read as shifts
//!   μ₁..μ_d, then raw log-scales a₁..a_d;
//! * the log-scale is stabilised as `α = s·tanh(a / s)` with
//!   `s = `[`MafConfig::log_scale_bound`] (default 3), so one block scales a
//!   dimension by at most e³ either way and an untrained flow cannot blow up.
//!
//! The block transforms `u = (x − μ)·exp(−α)` with `log|det ∂u/∂x| = −Σα`.
//!
//! # Masks from degrees
//! Input j (0-based) has degree j + 1. Hidden unit k of every hidden layer
//! has a degree given by the [`DegreeRule`]: k mod d by default (0..d−1, the
//! anchors' rule; degree-0 units see only f, which is what lets μ₁ and α₁
//! depend on f), or k mod (d−1) + 1 (1..d−1, Germain et al.'s unconditional
//! rule). A hidden unit takes a source of degree ≤ its own; the f columns are
//! all ones. Output i (μᵢ and aᵢ, degree i + 1) takes hidden units of degree
//! < i + 1 (with no hidden layers: inputs j < i, and all f columns). Hence
//! ∂(μᵢ, αᵢ)/∂xⱼ = 0 for j ≥ i exactly, checked with autograd in the tests.
//!
//! # The flow
//! [`Maf`] stacks `flows` blocks with a fixed permutation of the dimensions
//! before every block but the first ([`Permutation::Reverse`] by default, or
//! a seeded random one), applied as an `index_select` of constant indices (so
//! differentiable). Base N(0, I):
//! `log p(x | f) = −½‖u‖² − (d/2)·log 2π + Σ_blocks (−Σα)`.
//! Sampling draws z ~ N(0, I) and inverts the blocks from the last to the
//! first, each with d passes of its MADE (pass i fixes dimension i, since
//! μᵢ and αᵢ only read the dimensions already fixed), undoing each
//! permutation in between.
//!
//! Parameter names follow the PyTorch reference in `../shared/anchors/`
//! (`blocks.{i}.net.{l}.weight/bias`); the masks are buffers
//! `blocks.{i}.net.{l}.mask`. [`Maf::load_params`] reads a parameter-only
//! state (such as the anchors' dump) and keeps the masks.

use super::ConditionalDensity;
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::{
    derive_seed, init, Activation, Collector, Error, Forward, MaskedLinear, Module, OwnParams,
    ParamSource, Result,
};
use ferrograd_tensor::{Indices, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// ½·ln 2π.
const HALF_LN_2PI: f32 = 0.918_938_5;

/// How hidden units get their degrees (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DegreeRule {
    /// Hidden unit k has degree k mod d (0..d−1): degree-0 units see only f,
    /// so μ₁ and α₁ depend on f. The anchors' rule (`made_masks` in
    /// `../shared/anchors/common.py`).
    #[default]
    ModDim,
    /// Hidden unit k has degree k mod (d−1) + 1 (1..d−1), Germain et al.'s
    /// rule for unconditional MADE: no hidden unit reaches μ₁ and α₁, which
    /// are then constants (biases) independent of f. For d = 1 every unit has
    /// degree 0, as under [`DegreeRule::ModDim`].
    Germain,
}

impl DegreeRule {
    /// The degree of hidden unit `k` (0-based) for inputs of dimension `dim`.
    pub fn degree(&self, k: usize, dim: usize) -> usize {
        match self {
            DegreeRule::ModDim => k % dim,
            DegreeRule::Germain if dim <= 1 => 0,
            DegreeRule::Germain => k % (dim - 1) + 1,
        }
    }
}

/// The permutation of the dimensions before every block but the first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permutation {
    /// Reverse the order (PyTorch's `x.flip(1)`).
    #[default]
    Reverse,
    /// A uniformly random permutation per block, drawn from this seed.
    Random(u64),
}

/// Settings of a [`Maf`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MafConfig {
    /// Dimension d of x (≥ 1).
    pub dim: usize,
    /// Dimension c of the features f (0 for an unconditional flow).
    pub features: usize,
    /// Number of MADE blocks (≥ 1; default 5).
    pub flows: usize,
    /// Widths of each MADE's hidden layers (default [64, 64]; may be empty).
    pub hidden: Vec<usize>,
    /// Permutation between blocks (default reverse).
    pub permutation: Permutation,
    /// Nonlinearity of the hidden layers (default ReLU).
    pub activation: Activation,
    /// Degrees of hidden units (default k mod d).
    pub degrees: DegreeRule,
    /// s in α = s·tanh(a / s) (default 3).
    pub log_scale_bound: f32,
}

impl Default for MafConfig {
    fn default() -> Self {
        MafConfig {
            dim: 2,
            features: 1,
            flows: 5,
            hidden: vec![64, 64],
            permutation: Permutation::Reverse,
            activation: Activation::Relu,
            degrees: DegreeRule::ModDim,
            log_scale_bound: 3.0,
        }
    }
}

impl MafConfig {
    fn validate(&self) -> Result<()> {
        let problem = if self.dim == 0 {
            Some("dim must be at least 1".to_string())
        } else if self.flows == 0 {
            Some("flows must be at least 1".to_string())
        } else if self.hidden.contains(&0) {
            Some(format!(
                "hidden widths must be positive, got {:?}",
                self.hidden
            ))
        } else if !(self.log_scale_bound.is_finite() && self.log_scale_bound > 0.0) {
            Some(format!(
                "log_scale_bound must be positive and finite, got {}",
                self.log_scale_bound
            ))
        } else {
            None
        };
        match problem {
            Some(p) => Err(Error::Config(format!("maf: {p}"))),
            None => Ok(()),
        }
    }
}

/// One MADE block: masked layers `net.0 .. net.L` (see the module docs).
pub struct Made {
    /// The hidden layers, then the output layer (2d units: μ, then a).
    pub net: Vec<MaskedLinear>,
    /// Nonlinearity of the hidden layers.
    pub activation: Activation,
    dim: usize,
    features: usize,
    log_scale_bound: f32,
}

impl Made {
    /// The masks of a MADE, shaped like the weights they multiply: one per
    /// hidden layer (`[h_l, h_{l−1} + c]`, f columns last), then the output
    /// layer's (`[2d, h_L]`, or `[2d, d + c]` with no hidden layers).
    pub fn masks(dim: usize, features: usize, hidden: &[usize], rule: DegreeRule) -> Vec<Tensor> {
        let mut prev: Vec<usize> = (1..=dim).collect();
        let mut masks = Vec::with_capacity(hidden.len() + 1);
        // Rows of degrees `rows` over sources of degrees `prev`, then `cond`
        // all-ones columns for f.
        let build =
            |rows: &[usize], prev: &[usize], cond: usize, allowed: fn(usize, usize) -> bool| {
                let cols = prev.len() + cond;
                let mut m = vec![1.0f32; rows.len() * cols];
                for (r, &dr) in rows.iter().enumerate() {
                    for (s, &ds) in prev.iter().enumerate() {
                        m[r * cols + s] = if allowed(dr, ds) { 1.0 } else { 0.0 };
                    }
                }
                Tensor::from_vec(m, &[rows.len(), cols]).expect("length matches")
            };
        for &h in hidden {
            let deg: Vec<usize> = (0..h).map(|k| rule.degree(k, dim)).collect();
            masks.push(build(&deg, &prev, features, |unit, src| unit >= src));
            prev = deg;
        }
        // The output layer reads f only when there is no hidden layer.
        let out_deg: Vec<usize> = (1..=dim).chain(1..=dim).collect();
        let cond = if hidden.is_empty() { features } else { 0 };
        let out = build(&out_deg, &prev, cond, |unit, src| unit > src);
        masks.push(out);
        masks
    }

    /// A block with `config`'s dimension, features, hidden widths,
    /// activation, degree rule and log-scale bound, its layers initialised
    /// like PyTorch's `nn.Linear` (U(±1/√fan_in)), seeded.
    pub fn new(config: &MafConfig, seed: u64) -> Result<Made> {
        config.validate()?;
        let masks = Made::masks(config.dim, config.features, &config.hidden, config.degrees);
        let net = masks
            .into_iter()
            .enumerate()
            .map(|(l, m)| {
                let (outputs, inputs) = (m.dims()[0], m.dims()[1]);
                MaskedLinear::new(inputs, outputs, m, derive_seed(seed, &format!("net.{l}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Made {
            net,
            activation: config.activation,
            dim: config.dim,
            features: config.features,
            log_scale_bound: config.log_scale_bound,
        })
    }

    fn with_features(&self, h: &Var, f: &Var) -> Result<Var> {
        Ok(if self.features == 0 {
            h.clone()
        } else {
            Var::concat(&[h, f], 1)?
        })
    }

    /// The raw output `o` `[N, 2d]` (shifts, then unbounded log-scales a)
    /// for `x` `[N, d]` and `f` `[N, c]`.
    pub fn raw_with(&self, params: &dyn ParamSource, x: &Var, f: &Var) -> Result<Var> {
        let (hidden, out) = self.net.split_at(self.net.len() - 1);
        let mut h = x.clone();
        for layer in hidden {
            h = self
                .activation
                .apply(&layer.forward_with(params, &self.with_features(&h, f)?)?);
        }
        let last = if hidden.is_empty() {
            self.with_features(x, f)?
        } else {
            h
        };
        out[0].forward_with(params, &last)
    }

    /// The shift μ and stabilised log-scale α = s·tanh(a / s), each `[N, d]`.
    pub fn forward_with(&self, params: &dyn ParamSource, x: &Var, f: &Var) -> Result<(Var, Var)> {
        let o = self.raw_with(params, x, f)?;
        let d = self.dim;
        let s = self.log_scale_bound;
        let mu = o.narrow(1, 0, d)?;
        let alpha = o.narrow(1, d, d)?.mul_scalar(1.0 / s).tanh().mul_scalar(s);
        Ok((mu, alpha))
    }
}

impl Module for Made {
    fn visit(&self, c: &mut Collector) {
        for (l, layer) in self.net.iter().enumerate() {
            c.child(&format!("net.{l}"), layer);
        }
    }
}

/// A conditional masked autoregressive flow (see the module docs).
///
/// ```
/// use ferrograd_models::cde::maf::{Maf, MafConfig};
/// use ferrograd_models::cde::ConditionalDensity;
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// use rand::SeedableRng;
/// let maf = Maf::new(MafConfig { hidden: vec![8], flows: 2, ..MafConfig::default() }, 0).unwrap();
/// let f = Tensor::from_vec(vec![0.1, 0.9], &[2, 1]).unwrap();
/// let x = maf.sample(&f, &mut rand::rngs::StdRng::seed_from_u64(1)).unwrap();
/// let lp = maf.log_prob(&Var::constant(x), &Var::constant(f)).unwrap();
/// assert_eq!(lp.dims(), &[2]);
/// ```
pub struct Maf {
    /// The MADE blocks, applied in order by the density transform.
    pub blocks: Vec<Made>,
    config: MafConfig,
    /// For each block but the first: the permutation applied before it
    /// (`input[:, k] = previous[:, perm[k]]`) and its inverse.
    perms: Vec<(Indices, Indices)>,
}

impl Maf {
    /// A flow with the given settings, its parameters and random permutation
    /// (if any) drawn from `seed`.
    pub fn new(config: MafConfig, seed: u64) -> Result<Maf> {
        config.validate()?;
        let d = config.dim;
        let blocks = (0..config.flows)
            .map(|i| Made::new(&config, derive_seed(seed, &format!("maf.blocks.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let mut rng = match config.permutation {
            Permutation::Random(s) => Some(init::rng(derive_seed(s, "maf.permutation"))),
            Permutation::Reverse => None,
        };
        let perms = (1..config.flows)
            .map(|_| {
                let mut p: Vec<usize> = (0..d).rev().collect();
                if let Some(rng) = rng.as_mut() {
                    p.shuffle(rng);
                }
                let mut inv = vec![0; d];
                for (k, &pk) in p.iter().enumerate() {
                    inv[pk] = k;
                }
                let idx = |v: Vec<usize>| Indices::new(v, &[d]).expect("1-D indices");
                (idx(p), idx(inv))
            })
            .collect();
        Ok(Maf {
            blocks,
            config,
            perms,
        })
    }

    /// The settings.
    pub fn config(&self) -> &MafConfig {
        &self.config
    }

    /// The permutation applied before block `flow` (`None` for block 0):
    /// that block's input k is the previous block's output `perm[k]`.
    pub fn permutation(&self, flow: usize) -> Option<&[usize]> {
        flow.checked_sub(1)
            .and_then(|i| self.perms.get(i))
            .map(|(p, _)| p.data())
    }

    fn check_inputs(&self, x: &[usize], f: &[usize]) -> Result<usize> {
        let (d, c) = (self.config.dim, self.config.features);
        match (x, f) {
            ([n, xd], [m, fc]) if *xd == d && *fc == c && n == m => Ok(*n),
            _ => Err(Error::Config(format!(
                "maf: x must be [N, {d}] and f [N, {c}], got {x:?} and {f:?}"
            ))),
        }
    }

    /// The density transform x ↦ u through every block (u in the last
    /// block's ordering) and the total `log|det ∂u/∂x|` `[N]`, with
    /// parameters from `params`.
    pub fn forward_transform_with(
        &self,
        params: &dyn ParamSource,
        x: &Var,
        f: &Var,
    ) -> Result<(Var, Var)> {
        self.check_inputs(x.dims(), f.dims())?;
        let mut u = x.clone();
        let mut logdet: Option<Var> = None;
        for (i, block) in self.blocks.iter().enumerate() {
            if i > 0 {
                u = u.index_select(1, &self.perms[i - 1].0)?;
            }
            let (mu, alpha) = block.forward_with(params, &u, f)?;
            u = u.sub(&mu)?.mul(&alpha.neg().exp())?;
            let a = alpha.sum(&[1], false)?;
            logdet = Some(match logdet {
                None => a.neg(),
                Some(l) => l.sub(&a)?,
            });
        }
        Ok((u, logdet.expect("at least one flow")))
    }

    /// [`Maf::forward_transform_with`] with the model's own parameters.
    pub fn forward_transform(&self, x: &Var, f: &Var) -> Result<(Var, Var)> {
        self.forward_transform_with(&OwnParams, x, f)
    }

    /// The inverse of the density transform: x with `forward_transform(x, f)
    /// = u`, for `u` `[N, d]` in the last block's ordering (no graph is
    /// recorded).
    pub fn inverse(&self, u: &Tensor, f: &Tensor) -> Result<Tensor> {
        self.check_inputs(u.dims(), f.dims())?;
        no_grad(|| {
            let f = Var::constant(f.clone());
            let mut u = Var::constant(u.clone());
            for (i, block) in self.blocks.iter().enumerate().rev() {
                // Pass p makes dimension p exact (μ_p, α_p read only the
                // dimensions before it, exact since earlier passes); after d
                // passes the block's input is recovered.
                let mut y = Var::constant(u.value().zeros_like());
                for _ in 0..self.config.dim {
                    let (mu, alpha) = block.forward_with(&OwnParams, &y, &f)?;
                    y = u.mul(&alpha.exp())?.add(&mu)?;
                }
                u = if i > 0 {
                    y.index_select(1, &self.perms[i - 1].1)?
                } else {
                    y
                };
            }
            Ok(u.value().clone())
        })
    }

    /// Sets the parameters from a state holding parameters only (such as a
    /// PyTorch `state_dict` without the mask buffers), keeping the masks
    /// built from the configuration. Missing, unexpected and mis-shaped names
    /// are reported together; masks present in `state` must equal the
    /// model's.
    pub fn load_params(&self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        let mut full = state.clone();
        for (name, b) in self.named_buffers() {
            let mask = b.value();
            match full.get(&name) {
                Some(m) if m != &mask => {
                    return Err(Error::Config(format!(
                        "maf: mask '{name}' differs from the configuration's"
                    )))
                }
                Some(_) => {}
                None => {
                    full.insert(name, mask);
                }
            }
        }
        self.load_state_dict(&full)
    }
}

impl Module for Maf {
    fn visit(&self, c: &mut Collector) {
        for (i, block) in self.blocks.iter().enumerate() {
            c.child(&format!("blocks.{i}"), block);
        }
    }
}

impl ConditionalDensity for Maf {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn features(&self) -> usize {
        self.config.features
    }

    fn log_prob_with(&self, params: &dyn ParamSource, x: &Var, f: &Var) -> Result<Var> {
        let (u, logdet) = self.forward_transform_with(params, x, f)?;
        let d = self.config.dim as f32;
        Ok(u.square()
            .sum(&[1], false)?
            .mul_scalar(-0.5)
            .add_scalar(-d * HALF_LN_2PI)
            .add(&logdet)?)
    }

    fn sample(&self, f: &Tensor, rng: &mut StdRng) -> Result<Tensor> {
        let n = match f.dims() {
            [n, c] if *c == self.config.features => *n,
            other => {
                return Err(Error::Config(format!(
                    "maf: f must be [N, {}], got {other:?}",
                    self.config.features
                )))
            }
        };
        let d = self.config.dim;
        let z: Vec<f32> = (0..n * d)
            .map(|_| Distribution::<f32>::sample(&StandardNormal, rng))
            .collect();
        self.inverse(&Tensor::from_vec(z, &[n, d])?, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrograd_autograd::{grad, gradcheck, GradOptions, GradcheckOptions};
    use ferrograd_nn::checkpoint::Checkpoint;
    use ferrograd_nn::{FastWeights, Param};
    use rand::SeedableRng;

    fn randn(dims: &[usize], seed: u64) -> Tensor {
        init::normal(dims, 0.0, 1.0, &mut init::rng(seed))
    }

    fn uniform(dims: &[usize], seed: u64) -> Tensor {
        init::uniform(dims, 0.0, 1.0, &mut init::rng(seed))
    }

    fn config(dim: usize, features: usize, flows: usize, hidden: &[usize]) -> MafConfig {
        MafConfig {
            dim,
            features,
            flows,
            hidden: hidden.to_vec(),
            ..MafConfig::default()
        }
    }

    /// Check 1: ∂(μᵢ, αᵢ)/∂xⱼ, from autograd one output component at a
    /// time, is exactly 0 for j ≥ i, and nonzero somewhere for each j < i.
    #[test]
    fn made_jacobian_is_strictly_lower_triangular() {
        let d = 4;
        for (hidden, rule) in [
            (vec![16, 16], DegreeRule::ModDim),
            (vec![16, 16], DegreeRule::Germain),
            (vec![12], DegreeRule::ModDim),
            (vec![], DegreeRule::ModDim),
        ] {
            let cfg = MafConfig {
                degrees: rule,
                ..config(d, 2, 1, &hidden)
            };
            let made = Made::new(&cfg, 7).unwrap();
            let x = Var::param(randn(&[8, d], 1));
            let f = Var::constant(uniform(&[8, 2], 2));
            let (mu, alpha) = made.forward_with(&OwnParams, &x, &f).unwrap();
            for (name, out) in [("mu", &mu), ("alpha", &alpha)] {
                for i in 0..d {
                    let yi = out.narrow(1, i, 1).unwrap().sum_all();
                    let g = grad(&[&yi], &[&x], None, GradOptions::default().allow_unused())
                        .unwrap()
                        .remove(0);
                    let g = g.value().data();
                    for j in 0..d {
                        let col: Vec<f32> = (0..8).map(|n| g[n * d + j]).collect();
                        if j >= i {
                            assert!(
                                col.iter().all(|&v| v == 0.0),
                                "{hidden:?} {rule:?}: d{name}_{i}/dx_{j} = {col:?}"
                            );
                        } else if !(rule == DegreeRule::Germain && i == 0) {
                            assert!(
                                col.iter().any(|&v| v != 0.0),
                                "{hidden:?} {rule:?}: d{name}_{i}/dx_{j} is all zero"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Check 2: forward(inverse(z)) = z, and samples have finite log-density.
    #[test]
    fn sampling_inverts_the_density_transform() {
        for permutation in [Permutation::Reverse, Permutation::Random(5)] {
            let cfg = MafConfig {
                permutation,
                ..config(3, 2, 4, &[16, 16])
            };
            let maf = Maf::new(cfg, 3).unwrap();
            let f = uniform(&[64, 2], 4);
            let z = randn(&[64, 3], 5);
            let x = maf.inverse(&z, &f).unwrap();
            let (u, _) = maf
                .forward_transform(&Var::constant(x), &Var::constant(f.clone()))
                .unwrap();
            let err = u.value().max_abs_diff(&z);
            eprintln!("maf inverse {permutation:?}: max |forward(inverse(z)) − z| = {err:e}");
            assert!(err <= 1e-5, "{permutation:?}: max |u − z| = {err}");

            let s = maf.sample(&f, &mut StdRng::seed_from_u64(9)).unwrap();
            let again = maf.sample(&f, &mut StdRng::seed_from_u64(9)).unwrap();
            assert_eq!(s, again);
            let lp = maf
                .log_prob(&Var::constant(s), &Var::constant(f.clone()))
                .unwrap();
            assert!(lp.value().data().iter().all(|v| v.is_finite()));
        }
        let maf = Maf::new(
            MafConfig {
                permutation: Permutation::Random(5),
                ..config(5, 1, 3, &[8])
            },
            0,
        )
        .unwrap();
        let (p1, p2) = (maf.permutation(1).unwrap(), maf.permutation(2).unwrap());
        assert!(maf.permutation(0).is_none());
        let mut sorted = p1.to_vec();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3, 4]);
        assert_ne!(p1, p2);
    }

    /// log N(u; 0, I) − Σα for one affine block, in f64.
    fn affine_log_prob(x: [f64; 2], mu: [f64; 2], a: [f64; 2]) -> f64 {
        (0..2)
            .map(|i| {
                let alpha = 3.0 * (a[i] / 3.0).tanh();
                let u = (x[i] - mu[i]) * (-alpha).exp();
                -0.5 * u * u - 0.5 * (2.0 * std::f64::consts::PI).ln() - alpha
            })
            .sum()
    }

    /// Check 3: one flow with no hidden nonlinearity is an affine
    /// autoregressive flow with a closed-form density.
    #[test]
    fn one_flow_without_nonlinearity_is_the_known_affine_flow() {
        let n = 50;
        let x = randn(&[n, 2], 11).mul_scalar(2.0);
        let f = uniform(&[n, 1], 12);
        let (xd, fd) = (x.data(), f.data());
        let close = |lp: &Tensor, expect: &dyn Fn(usize) -> f64| {
            for (r, &got) in lp.data().iter().enumerate() {
                let e = expect(r);
                assert!(
                    (got as f64 - e).abs() <= 1e-5 * e.abs().max(1.0),
                    "row {r}: {got} vs {e}"
                );
            }
        };

        // (a) No hidden layer: o = (W ⊙ M)[x1, x2, f] + b with μ1 = 0.3 − 0.8f,
        // μ2 = −0.2 + 1.5x1 + 0.7f, a1 = 0.4 + 1.1f, a2 = −0.5 − 0.9x1 + 0.6f.
        // The masked-out entries (x2 everywhere, x1 for dimension 1) hold
        // junk that must have no effect.
        let maf = Maf::new(config(2, 1, 1, &[]), 0).unwrap();
        let out = &maf.blocks[0].net[0];
        #[rustfmt::skip]
        let w = [
            9.0, 9.0, -0.8,
            1.5, 9.0, 0.7,
            9.0, 9.0, 1.1,
            -0.9, 9.0, 0.6,
        ];
        out.weight
            .set(Tensor::from_vec(w.to_vec(), &[4, 3]).unwrap());
        out.bias
            .as_ref()
            .unwrap()
            .set(Tensor::from_vec(vec![0.3, -0.2, 0.4, -0.5], &[4]).unwrap());
        let lp = maf
            .log_prob(&Var::constant(x.clone()), &Var::constant(f.clone()))
            .unwrap();
        close(lp.value(), &|r| {
            let (x1, x2, f) = (xd[2 * r] as f64, xd[2 * r + 1] as f64, fd[r] as f64);
            let mu = [0.3 - 0.8 * f, -0.2 + 1.5 * x1 + 0.7 * f];
            let a = [0.4 + 1.1 * f, -0.5 - 0.9 * x1 + 0.6 * f];
            affine_log_prob([x1, x2], mu, a)
        });

        // (b) A hidden layer with the identity activation: o is the affine map
        // (W2 ⊙ M2)((W1 ⊙ M1)[x; f] + b1) + b2, composed here in f64.
        let maf = Maf::new(
            MafConfig {
                activation: Activation::Identity,
                ..config(2, 1, 1, &[6])
            },
            21,
        )
        .unwrap();
        let (l1, l2) = (&maf.blocks[0].net[0], &maf.blocks[0].net[1]);
        let masked = |l: &MaskedLinear| -> Vec<f64> {
            let (w, m) = (l.weight.value(), l.mask.value());
            w.data()
                .iter()
                .zip(m.data())
                .map(|(&a, &b)| (a * b) as f64)
                .collect()
        };
        let (w1, w2) = (masked(l1), masked(l2));
        let b1 = l1.bias.as_ref().unwrap().value();
        let b2 = l2.bias.as_ref().unwrap().value();
        let lp = maf
            .log_prob(&Var::constant(x.clone()), &Var::constant(f.clone()))
            .unwrap();
        close(lp.value(), &|r| {
            let input = [xd[2 * r] as f64, xd[2 * r + 1] as f64, fd[r] as f64];
            let h: Vec<f64> = (0..6)
                .map(|k| {
                    b1.data()[k] as f64 + (0..3).map(|j| w1[k * 3 + j] * input[j]).sum::<f64>()
                })
                .collect();
            let o: Vec<f64> = (0..4)
                .map(|k| b2.data()[k] as f64 + (0..6).map(|j| w2[k * 6 + j] * h[j]).sum::<f64>())
                .collect();
            affine_log_prob([input[0], input[1]], [o[0], o[1]], [o[2], o[3]])
        });
    }

    /// The smallest |pre-activation| of any hidden unit of any block on
    /// the batch (how far the evaluation point is from ReLU's kink).
    fn kink_margin(maf: &Maf, x: &Var, f: &Var) -> f32 {
        let mut u = x.clone();
        let mut margin = f32::INFINITY;
        for (i, block) in maf.blocks.iter().enumerate() {
            if i > 0 {
                u = u.index_select(1, &maf.perms[i - 1].0).unwrap();
            }
            let mut h = u.clone();
            for layer in &block.net[..block.net.len() - 1] {
                let pre = layer.forward(&block.with_features(&h, f).unwrap()).unwrap();
                margin = pre
                    .value()
                    .data()
                    .iter()
                    .fold(margin, |m, v| m.min(v.abs()));
                h = block.activation.apply(&pre);
            }
            let (mu, alpha) = block.forward_with(&OwnParams, &u, f).unwrap();
            u = u.sub(&mu).unwrap().mul(&alpha.neg().exp()).unwrap();
        }
        margin
    }

    /// Check 4: first-order gradients of log p w.r.t. every parameter
    /// (fed through [`FastWeights`]), with tanh and with ReLU; for ReLU the
    /// model seed is the first whose pre-activations on the batch all stay
    /// 0.1 away from the kink, so finite differences do not straddle it.
    #[test]
    fn log_prob_gradcheck_in_the_parameters() {
        let x = Var::constant(randn(&[3, 2], 14));
        let f = Var::constant(uniform(&[3, 1], 15));
        for activation in [Activation::Tanh, Activation::Relu] {
            let cfg = MafConfig {
                activation,
                ..config(2, 1, 2, &[3, 3])
            };
            let maf = (13..)
                .map(|seed| Maf::new(cfg.clone(), seed).unwrap())
                .find(|m| activation != Activation::Relu || kink_margin(m, &x, &f) > 0.1)
                .unwrap();
            let params: Vec<Param> = maf.params();
            let func = |v: &[Var]| {
                let mut fast = FastWeights::new();
                for (p, v) in params.iter().zip(v) {
                    fast.insert(p, v.clone());
                }
                maf.log_prob_with(&fast, &x, &f)
                    .map_err(|e| ferrograd_autograd::Error::Invalid(e.to_string()))
            };
            let inputs: Vec<Tensor> = params.iter().map(|p| p.value()).collect();
            gradcheck(func, &inputs, GradcheckOptions::default())
                .unwrap_or_else(|e| panic!("{activation}: {e}"));
        }
    }

    /// Check 5: exp(log p(· | f)) integrates to 1 over [−8, 8]² (midpoint
    /// rule, 400 × 400) for a randomly initialised d = 2 flow.
    #[test]
    fn density_integrates_to_one() {
        let maf = Maf::new(config(2, 1, 2, &[16, 16]), 17).unwrap();
        let (n, lo, hi) = (400usize, -8.0f32, 8.0f32);
        let h = (hi - lo) / n as f32;
        for feature in [0.1f32, 0.8] {
            let mut total = 0.0f64;
            let rows_per_batch = 40;
            for r0 in (0..n).step_by(rows_per_batch) {
                let mut pts = Vec::with_capacity(rows_per_batch * n * 2);
                for r in r0..r0 + rows_per_batch {
                    for c in 0..n {
                        pts.push(lo + (r as f32 + 0.5) * h);
                        pts.push(lo + (c as f32 + 0.5) * h);
                    }
                }
                let m = pts.len() / 2;
                let x = Var::constant(Tensor::from_vec(pts, &[m, 2]).unwrap());
                let f = Var::constant(Tensor::full(&[m, 1], feature).unwrap());
                let lp = no_grad(|| maf.log_prob(&x, &f)).unwrap();
                total += lp
                    .value()
                    .data()
                    .iter()
                    .map(|&v| (v as f64).exp())
                    .sum::<f64>();
            }
            let integral = total * (h as f64) * (h as f64);
            eprintln!("maf: ∫ p(x | f = {feature}) dx over [−8, 8]² = {integral}");
            assert!(
                (integral - 1.0).abs() <= 0.02,
                "f = {feature}: ∫p = {integral}"
            );
        }
    }

    /// The anchors' `made_masks` (`../shared/anchors/common.py`), ported line
    /// by line.
    fn anchor_masks(d: usize, c: usize, hidden: usize, layers: usize) -> Vec<Vec<f32>> {
        let deg_in: Vec<usize> = (1..=d).collect();
        let mut degs = vec![deg_in.clone()];
        degs.extend((0..layers).map(|_| (0..hidden).map(|k| k % d).collect::<Vec<_>>()));
        let mut masks = Vec::new();
        for l in 0..layers {
            let mut m = Vec::new();
            for &du in &degs[l + 1] {
                m.extend(degs[l].iter().map(|&ds| if du >= ds { 1.0 } else { 0.0 }));
                m.extend(std::iter::repeat_n(1.0, c));
            }
            masks.push(m);
        }
        let out: Vec<f32> = deg_in
            .iter()
            .flat_map(|&di| {
                degs[layers]
                    .iter()
                    .map(move |&dh| if di > dh { 1.0 } else { 0.0 })
            })
            .collect();
        masks.push([out.clone(), out].concat());
        masks
    }

    /// Check 6: PyTorch's names and masks, and −mean log p on the anchors'
    /// batch with their initial parameters equals their first loss.
    #[test]
    fn reproduces_the_anchor_maf_loss() {
        let maf = Maf::new(MafConfig::default(), 0).unwrap();
        let names: Vec<String> = maf.named_params().into_iter().map(|(n, _)| n).collect();
        let expected: Vec<String> = (0..5)
            .flat_map(|i| {
                (0..3).flat_map(move |l| {
                    ["weight", "bias"].map(|w| format!("blocks.{i}.net.{l}.{w}"))
                })
            })
            .collect();
        assert_eq!(names, expected);
        let masks = anchor_masks(2, 1, 64, 2);
        for block in &maf.blocks {
            for (layer, m) in block.net.iter().zip(&masks) {
                assert_eq!(layer.mask.value().data(), &m[..]);
            }
        }
        assert_eq!(maf.blocks[0].net[1].mask.value().dims(), &[64, 65]);

        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/anchors/maf_step.safetensors"
        );
        let ckpt = Checkpoint::load(path).unwrap();
        let params: BTreeMap<String, Tensor> = ckpt
            .tensors
            .iter()
            .filter_map(|(n, t)| Some((n.strip_prefix("param.")?.to_string(), t.clone())))
            .collect();
        maf.load_params(&params).unwrap();
        let x = Var::constant(ckpt.tensors["batch.x"].clone());
        let f = Var::constant(ckpt.tensors["batch.f"].clone());
        let loss = maf
            .log_prob(&x, &f)
            .unwrap()
            .mean_all()
            .neg()
            .item()
            .unwrap();
        let losses: Vec<f64> = serde_json::from_str(&ckpt.metadata["losses"]).unwrap();
        let rel = (loss as f64 - losses[0]).abs() / losses[0].abs();
        eprintln!(
            "maf anchor loss: ours {loss}, PyTorch {}, relative {rel:e}",
            losses[0]
        );
        assert!(rel <= 1e-5, "ours {loss} vs PyTorch {}", losses[0]);
    }

    #[test]
    fn bad_configs_and_shapes_are_errors() {
        assert!(Maf::new(config(0, 1, 1, &[4]), 0).is_err());
        assert!(Maf::new(config(2, 1, 0, &[4]), 0).is_err());
        assert!(Maf::new(config(2, 1, 1, &[4, 0]), 0).is_err());
        let maf = Maf::new(config(2, 1, 1, &[4]), 0).unwrap();
        let x = Var::constant(Tensor::zeros(&[3, 2]).unwrap());
        assert!(maf
            .log_prob(&x, &Var::constant(Tensor::zeros(&[3, 2]).unwrap()))
            .is_err());
        assert!(maf
            .log_prob(&x, &Var::constant(Tensor::zeros(&[2, 1]).unwrap()))
            .is_err());
        assert!(maf
            .sample(
                &Tensor::zeros(&[3, 2]).unwrap(),
                &mut StdRng::seed_from_u64(0)
            )
            .is_err());
        let mut bad = maf.state_dict();
        bad.retain(|n, _| !n.ends_with("mask"));
        let mask = bad.keys().next().unwrap().replace("bias", "mask");
        bad.insert(mask, Tensor::zeros(&[4, 3]).unwrap());
        assert!(maf.load_params(&bad).is_err());
        // An unconditional flow (no features) works too.
        let maf = Maf::new(config(3, 0, 2, &[8]), 0).unwrap();
        let f = Tensor::zeros(&[4, 0]).unwrap();
        let s = maf.sample(&f, &mut StdRng::seed_from_u64(0)).unwrap();
        let lp = maf.log_prob(&Var::constant(s), &Var::constant(f)).unwrap();
        assert!(lp.value().data().iter().all(|v| v.is_finite()));
    }
}
