//! Mixture density network with full covariances: p(x | f) = Σ_k π_k(f)
//! N(x | μ_k(f), (L_k(f) L_k(f)ᵀ)⁻¹), L_k the lower-triangular Cholesky
//! factor of component k's **precision** matrix.
//!
//! # Parameterisation (matches the anchors' `mdn_step`)
//! A body `body` (Linear, act, Linear, act, … — PyTorch's
//! `nn.Sequential(Linear, Tanh, Linear, Tanh)`, so its linear layers are
//! `body.0`, `body.2`, …) and a linear `head` map f to
//! `K + K·d + K·d + K·d(d−1)/2` outputs, read in this order:
//! 1. K mixture logits;
//! 2. means, K×d, component-major;
//! 3. raw diagonals r, K×d;
//! 4. the strictly-lower entries of each L, K × d(d−1)/2, component-major,
//!    each component's entries row by row ((1,0), (2,0), (2,1), (3,0), …).
//!
//! The diagonal of L is `exp(r̃) + min_diag` ([`DiagTransform::Exp`], the
//! default) or `softplus(r̃) + min_diag` ([`DiagTransform::Softplus`]), where
//! `r̃ = M − softplus(M − r)` is a smooth cap of r at `M = max_raw_diag`
//! (r̃ = r to f32 rounding while r < M − 17; with the default M = 20, diag L
//! ≤ e²⁰ ≈ 4.9·10⁸, so ‖Lᵀ(x − μ)‖² cannot overflow for any sensible x).
//! The floor `min_diag` (default 10⁻³) keeps diag L > 0 when r → −∞, so a
//! collapsed component never produces a zero pivot, an infinite log-density
//! or a NaN gradient. With `min_diag = 0` and exp, log diag L is taken as r̃
//! itself (no exp/log round trip); [`MdnConfig::anchor`] (no floor, no cap)
//! computes exactly the anchors' loss.
//!
//! log N(x | μ, (L Lᵀ)⁻¹) = −(d/2) log 2π + Σ_i log L_ii − ½‖Lᵀ(x − μ)‖², and
//! log p(x | f) = logsumexp_k(log_softmax(logits)_k + log N_k), both stable.
//!
//! L is assembled differentiably: the diagonal and strictly-lower values of
//! each component are concatenated with one zero and a constant index map
//! (`index_select`, whose backward is `index_add`) scatters them into the
//! d×d matrix. ‖Lᵀ(x − μ)‖² is a batched matmul over `[N, K]`.
//!
//! Sampling picks a component by Gumbel-max on the logits, then
//! x = μ_k + L_k⁻ᵀ ε, ε ~ N(0, I), by a triangular solve.

use super::ConditionalDensity;
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::layers::activation::Activation;
use ferrograd_nn::layers::mlp::Sequential;
use ferrograd_nn::{
    init, Collector, Error, Forward, Linear, Module, OwnParams, Param, ParamSource, Result,
};
use ferrograd_tensor::{Indices, Tensor};
use rand::distr::Open01;
use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// How a raw head output becomes a positive diagonal entry of L.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiagTransform {
    /// diag L = exp(r̃) + min_diag (the anchors' choice).
    #[default]
    Exp,
    /// diag L = softplus(r̃) + min_diag (needs `min_diag > 0`).
    Softplus,
}

/// Settings of an [`Mdn`] (saved with its checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MdnConfig {
    /// Dimension c of the features f.
    pub features: usize,
    /// Dimension d ≥ 1 of the target x.
    pub dim: usize,
    /// Number K of mixture components.
    pub components: usize,
    /// Widths of the body's hidden layers (each followed by `activation`);
    /// empty: the head reads f directly.
    pub hidden: Vec<usize>,
    /// The body's nonlinearity.
    pub activation: Activation,
    /// Positive map of the raw diagonal.
    pub diag: DiagTransform,
    /// Floor added to every diagonal entry of L (≥ 0).
    pub min_diag: f32,
    /// Smooth upper cap M on the raw diagonal, r̃ = M − softplus(M − r)
    /// (`None`: no cap). It bounds diag L by e^M + min_diag with exp and by
    /// ≈ M + min_diag with softplus (raise it there if needed).
    pub max_raw_diag: Option<f32>,
}

impl Default for MdnConfig {
    /// c = 1, d = 2, K = 5, a 64-64 tanh body, exp diagonal with a floor of
    /// 10⁻³ and a cap of 20 on the raw diagonal.
    fn default() -> Self {
        MdnConfig {
            features: 1,
            dim: 2,
            components: 5,
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            diag: DiagTransform::Exp,
            min_diag: 1e-3,
            max_raw_diag: Some(20.0),
        }
    }
}

impl MdnConfig {
    /// The anchors' `mdn_step` model: as [`Default`] but diag L = exp(r)
    /// exactly (no floor, no cap), so its losses match PyTorch's and JAX's.
    pub fn anchor() -> MdnConfig {
        MdnConfig {
            min_diag: 0.0,
            max_raw_diag: None,
            ..MdnConfig::default()
        }
    }

    /// Number of strictly-lower entries of L, d(d − 1)/2.
    pub fn lower_entries(&self) -> usize {
        self.dim * (self.dim - 1) / 2
    }

    /// Width of the head: K + K·d + K·d + K·d(d − 1)/2.
    pub fn outputs(&self) -> usize {
        self.components * (1 + 2 * self.dim + self.lower_entries())
    }

    fn validate(&self) -> Result<()> {
        let problem = if self.features == 0 || self.dim == 0 || self.components == 0 {
            format!(
                "features, dim and components must be positive, got {}, {}, {}",
                self.features, self.dim, self.components
            )
        } else if self.hidden.contains(&0) {
            format!("hidden widths must be positive, got {:?}", self.hidden)
        } else if !(self.min_diag.is_finite() && self.min_diag >= 0.0) {
            format!("min_diag must be finite and >= 0, got {}", self.min_diag)
        } else if self.diag == DiagTransform::Softplus && self.min_diag == 0.0 {
            "the softplus diagonal needs min_diag > 0".to_string()
        } else if matches!(self.max_raw_diag, Some(m) if !m.is_finite()) {
            format!("max_raw_diag must be finite, got {:?}", self.max_raw_diag)
        } else {
            return Ok(());
        };
        Err(Error::Config(format!("mdn: {problem}")))
    }
}

/// The mixture parameters of a batch of features, as plain tensors.
#[derive(Clone, Debug)]
pub struct MdnParams {
    /// Mixture logits, `[N, K]` (weights: their softmax).
    pub logits: Tensor,
    /// Means, `[N, K, d]`.
    pub means: Tensor,
    /// Lower Cholesky factors L of the precisions, `[N, K, d, d]`
    /// (covariance `(L Lᵀ)⁻¹`).
    pub chol: Tensor,
}

/// The mixture parameters as graph nodes.
struct Heads {
    logits: Var,
    means: Var,
    log_diag: Var,
    chol: Var,
}

/// A mixture density network with full-covariance components; see the
/// module documentation.
///
/// ```
/// use ferrograd_models::cde::mdn::{Mdn, MdnConfig};
/// use ferrograd_models::cde::ConditionalDensity;
/// use ferrograd_nn::Module;
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let mdn = Mdn::new(MdnConfig::default(), 0).unwrap();
/// let names: Vec<String> = mdn.named_params().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias",
///                    "head.weight", "head.bias"]);
/// assert_eq!(mdn.head.outputs(), 30);
/// let x = Var::constant(Tensor::zeros(&[4, 2]).unwrap());
/// let f = Var::constant(Tensor::full(&[4, 1], 0.5).unwrap());
/// assert_eq!(mdn.log_prob(&x, &f).unwrap().dims(), &[4]);
/// ```
pub struct Mdn {
    config: MdnConfig,
    /// Hidden layers, each followed by the activation (child `body`).
    pub body: Sequential,
    /// Linear map to the mixture parameters (child `head`).
    pub head: Linear,
    /// Row-major d×d map into `[diag (d), lower (d(d−1)/2), 0]`.
    scatter: Indices,
}

impl Mdn {
    /// A network for `config`, every linear layer initialised as PyTorch's
    /// `nn.Linear` (weight then bias, layer by layer) from one seeded
    /// generator.
    pub fn new(config: MdnConfig, seed: u64) -> Result<Mdn> {
        config.validate()?;
        let mut rng = init::rng(seed);
        let mut linear = |inputs: usize, outputs: usize| {
            let w = init::lecun_uniform(&[outputs, inputs], inputs, &mut rng);
            let b = init::lecun_uniform(&[outputs], inputs, &mut rng);
            Linear::from_params(Param::new(w), Some(Param::new(b)))
        };
        let mut body = Sequential::new();
        let mut width = config.features;
        for &h in &config.hidden {
            body.push(linear(width, h));
            body.push(config.activation);
            width = h;
        }
        let head = linear(width, config.outputs());
        let d = config.dim;
        let m = config.lower_entries();
        let mut scatter = Vec::with_capacity(d * d);
        for i in 0..d {
            for j in 0..d {
                scatter.push(match i.cmp(&j) {
                    std::cmp::Ordering::Equal => i,
                    std::cmp::Ordering::Greater => d + i * (i - 1) / 2 + j,
                    std::cmp::Ordering::Less => d + m,
                });
            }
        }
        let scatter = Indices::new(scatter, &[d * d])?;
        Ok(Mdn {
            config,
            body,
            head,
            scatter,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MdnConfig {
        &self.config
    }

    /// The head's raw outputs for features `f` (`[N, c]` → `[N, outputs]`).
    pub fn head_outputs(&self, params: &dyn ParamSource, f: &Var) -> Result<Var> {
        let c = self.config.features;
        if f.dims().len() != 2 || f.dims()[1] != c {
            return Err(Error::Config(format!(
                "mdn: features must be [N, {c}], got {:?}",
                f.dims()
            )));
        }
        let h = self.body.forward_with(params, f)?;
        self.head.forward_with(params, &h)
    }

    fn heads(&self, params: &dyn ParamSource, f: &Var) -> Result<Heads> {
        let cfg = &self.config;
        let (k, d, m) = (cfg.components, cfg.dim, cfg.lower_entries());
        let out = self.head_outputs(params, f)?;
        let n = out.dims()[0];
        let logits = out.narrow(1, 0, k)?;
        let means = out.narrow(1, k, k * d)?.reshape(&[n, k, d])?;
        let raw = out.narrow(1, k + k * d, k * d)?.reshape(&[n, k, d])?;
        let capped = match cfg.max_raw_diag {
            Some(cap) => raw.neg().add_scalar(cap).softplus().neg().add_scalar(cap),
            None => raw,
        };
        let base = match cfg.diag {
            DiagTransform::Exp => capped.exp(),
            DiagTransform::Softplus => capped.softplus(),
        };
        let (diag, log_diag) = if cfg.min_diag > 0.0 {
            let diag = base.add_scalar(cfg.min_diag);
            let log_diag = diag.log();
            (diag, log_diag)
        } else {
            // Only exp is allowed without a floor: log(exp(r̃)) = r̃.
            (base, capped)
        };
        let entries = if m > 0 {
            let lower = out.narrow(1, k + 2 * k * d, k * m)?.reshape(&[n, k, m])?;
            Var::concat(&[&diag, &lower], -1)?
        } else {
            diag
        };
        let chol = entries
            .pad_axis(-1, 0, d + m + 1)?
            .index_select(-1, &self.scatter)?
            .reshape(&[n, k, d, d])?;
        Ok(Heads {
            logits,
            means,
            log_diag,
            chol,
        })
    }

    /// log π_k + log N(x | μ_k, (L_k L_kᵀ)⁻¹) for every row and component,
    /// `[N, K]` (the mixture's log-likelihood is its logsumexp over K).
    pub fn component_log_probs_with(
        &self,
        params: &dyn ParamSource,
        x: &Var,
        f: &Var,
    ) -> Result<Var> {
        let d = self.config.dim;
        let n = f.dims().first().copied().unwrap_or(0);
        if x.dims() != [n, d] {
            return Err(Error::Config(format!(
                "mdn: x must be [N, {d}] with N = {n} rows of f, got {:?}",
                x.dims()
            )));
        }
        let h = self.heads(params, f)?;
        let diff = x.unsqueeze(1)?.sub(&h.means)?.unsqueeze(-1)?; // [N, K, d, 1]
        let y = h.chol.matmul_t(&diff, true, false)?; // Lᵀ(x − μ)
        let quad = y.square().sum(&[-2, -1], false)?; // [N, K]
        let log_norm = h
            .log_diag
            .sum(&[-1], false)?
            .sub(&quad.mul_scalar(0.5))?
            .add_scalar(-0.5 * d as f32 * (2.0 * std::f32::consts::PI).ln());
        Ok(h.logits.log_softmax(-1)?.add(&log_norm)?)
    }

    /// The mixture parameters for features `f` (`[N, c]`), without
    /// recording a graph.
    pub fn params_for(&self, f: &Tensor) -> Result<MdnParams> {
        no_grad(|| {
            let h = self.heads(&OwnParams, &Var::constant(f.clone()))?;
            Ok(MdnParams {
                logits: h.logits.value().clone(),
                means: h.means.value().clone(),
                chol: h.chol.value().clone(),
            })
        })
    }
}

impl Module for Mdn {
    fn visit(&self, c: &mut Collector) {
        c.child("body", &self.body);
        c.child("head", &self.head);
    }
}

impl ConditionalDensity for Mdn {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn features(&self) -> usize {
        self.config.features
    }

    fn log_prob_with(&self, params: &dyn ParamSource, x: &Var, f: &Var) -> Result<Var> {
        Ok(self
            .component_log_probs_with(params, x, f)?
            .logsumexp(&[-1], false)?)
    }

    /// Per row: K Gumbel variates (component k = argmax logits_k + g_k),
    /// then d standard normals ε; x = μ_k + L_k⁻ᵀ ε.
    fn sample(&self, f: &Tensor, rng: &mut StdRng) -> Result<Tensor> {
        let p = self.params_for(f)?;
        let (k, d) = (self.config.components, self.config.dim);
        let n = f.dims()[0];
        let (mut chol, mut eps, mut mean) = (
            Vec::with_capacity(n * d * d),
            Vec::with_capacity(n * d),
            Vec::with_capacity(n * d),
        );
        for (i, logits) in p.logits.data().chunks_exact(k).enumerate() {
            let mut best = (0, f64::NEG_INFINITY);
            for (j, &l) in logits.iter().enumerate() {
                let u: f64 = rng.sample(Open01);
                let score = l as f64 - (-u.ln()).ln();
                if score > best.1 {
                    best = (j, score);
                }
            }
            let c = i * k + best.0;
            chol.extend_from_slice(&p.chol.data()[c * d * d..(c + 1) * d * d]);
            mean.extend_from_slice(&p.means.data()[c * d..(c + 1) * d]);
            eps.extend((0..d).map(|_| rng.sample::<f32, _>(StandardNormal)));
        }
        let chol = Tensor::from_vec(chol, &[n, d, d])?;
        let eps = Tensor::from_vec(eps, &[n, d, 1])?;
        let y = chol.triangular_solve(&eps, true, true, false)?;
        let mut x = y.into_vec();
        for (v, m) in x.iter_mut().zip(&mean) {
            *v += m;
        }
        Ok(Tensor::from_vec(x, &[n, d])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrograd_autograd::{gradcheck, GradcheckOptions};
    use ferrograd_nn::optim::{Adam, AdamConfig, Optimizer};
    use ferrograd_nn::FastWeights;
    use rand::SeedableRng;
    use std::f64::consts::PI;

    fn t(d: &[f32], dims: &[usize]) -> Tensor {
        Tensor::from_vec(d.to_vec(), dims).unwrap()
    }

    /// An MDN whose mixture parameters are `bias` for every f (zero head
    /// weight).
    fn fixed(config: MdnConfig, bias: &[f32]) -> Mdn {
        let mdn = Mdn::new(config, 1).unwrap();
        let w = mdn.head.weight.value().zeros_like();
        mdn.head.weight.set(w);
        mdn.head.bias.as_ref().unwrap().set(t(bias, &[bias.len()]));
        mdn
    }

    fn config(k: usize, d: usize, min_diag: f32) -> MdnConfig {
        MdnConfig {
            dim: d,
            components: k,
            hidden: vec![3],
            min_diag,
            ..MdnConfig::default()
        }
    }

    /// log N(x | μ, Σ) for 2×2 Σ, with Σ⁻¹ and det Σ by hand (f64).
    fn gauss2(x: [f64; 2], mu: [f64; 2], s: [[f64; 2]; 2]) -> f64 {
        let det = s[0][0] * s[1][1] - s[0][1] * s[1][0];
        let inv = [
            [s[1][1] / det, -s[0][1] / det],
            [-s[1][0] / det, s[0][0] / det],
        ];
        let e = [x[0] - mu[0], x[1] - mu[1]];
        let q = e[0] * (inv[0][0] * e[0] + inv[0][1] * e[1])
            + e[1] * (inv[1][0] * e[0] + inv[1][1] * e[1]);
        -(2.0 * PI).ln() - 0.5 * det.ln() - 0.5 * q
    }

    /// Covariance (L Lᵀ)⁻¹ of L = [[a, 0], [b, c]], by hand.
    fn cov_of(a: f64, b: f64, c: f64) -> [[f64; 2]; 2] {
        let p = [[a * a, a * b], [a * b, b * b + c * c]];
        let det = p[0][0] * p[1][1] - p[0][1] * p[1][0];
        [
            [p[1][1] / det, -p[0][1] / det],
            [-p[1][0] / det, p[0][0] / det],
        ]
    }

    fn log_prob(mdn: &Mdn, x: &[f32], n: usize) -> Vec<f32> {
        let d = mdn.config().dim;
        let f = Var::constant(Tensor::full(&[n, 1], 0.3).unwrap());
        let lp = mdn.log_prob(&Var::constant(t(x, &[n, d])), &f).unwrap();
        lp.value().data().to_vec()
    }

    fn to_autograd(r: Result<Var>) -> ferrograd_autograd::Result<Var> {
        r.map_err(|e| match e {
            Error::Autograd(e) => e,
            other => ferrograd_autograd::Error::Invalid(other.to_string()),
        })
    }

    #[test]
    fn names_shapes_and_config_errors() {
        let mdn = Mdn::new(MdnConfig::anchor(), 0).unwrap();
        let sd = mdn.state_dict();
        assert_eq!(sd["body.0.weight"].dims(), &[64, 1]);
        assert_eq!(sd["body.2.weight"].dims(), &[64, 64]);
        assert_eq!(sd["head.weight"].dims(), &[30, 64]);
        assert_eq!(sd.len(), 6);
        let d4 = MdnConfig {
            dim: 4,
            components: 3,
            hidden: vec![],
            ..MdnConfig::default()
        };
        assert_eq!(d4.outputs(), 3 * (1 + 8 + 6));
        assert_eq!(Mdn::new(d4, 0).unwrap().head.inputs(), 1);
        for bad in [
            MdnConfig {
                dim: 0,
                ..MdnConfig::default()
            },
            MdnConfig {
                hidden: vec![4, 0],
                ..MdnConfig::default()
            },
            MdnConfig {
                min_diag: -1.0,
                ..MdnConfig::default()
            },
            MdnConfig {
                diag: DiagTransform::Softplus,
                min_diag: 0.0,
                ..MdnConfig::default()
            },
        ] {
            assert!(matches!(Mdn::new(bad, 0), Err(Error::Config(_))));
        }
        let mdn = Mdn::new(MdnConfig::default(), 0).unwrap();
        let x = Var::constant(Tensor::zeros(&[3, 2]).unwrap());
        assert!(mdn
            .log_prob(&x, &Var::constant(Tensor::zeros(&[3, 2]).unwrap()))
            .is_err());
        assert!(mdn
            .log_prob(&x, &Var::constant(Tensor::zeros(&[2, 1]).unwrap()))
            .is_err());
        let json = serde_json::to_string(&MdnConfig::default()).unwrap();
        assert_eq!(
            serde_json::from_str::<MdnConfig>(&json).unwrap(),
            MdnConfig::default()
        );
    }

    #[test]
    fn single_gaussian_matches_the_density_by_hand() {
        // L = [[e^0.3 (+ floor), 0], [−0.7, e^−0.4 (+ floor)]], μ = (0.5, −1).
        let (r1, r2, l21) = (0.3f64, -0.4f64, -0.7f64);
        let x = [0.2f32, 0.1, -1.5, 2.0, 3.0, -4.0];
        for (floor, diag) in [
            (0.0, DiagTransform::Exp),
            (1e-3, DiagTransform::Exp),
            (0.05, DiagTransform::Softplus),
        ] {
            let cfg = MdnConfig {
                diag,
                max_raw_diag: None,
                ..config(1, 2, floor)
            };
            let mdn = fixed(cfg, &[2.0, 0.5, -1.0, r1 as f32, r2 as f32, l21 as f32]);
            let pos = |r: f64| match diag {
                DiagTransform::Exp => r.exp(),
                DiagTransform::Softplus => r.exp().ln_1p(),
            } + floor as f64;
            let cov = cov_of(pos(r1), l21, pos(r2));
            let got = log_prob(&mdn, &x, 3);
            for (i, row) in x.chunks(2).enumerate() {
                let want = gauss2([row[0] as f64, row[1] as f64], [0.5, -1.0], cov);
                assert!(
                    (got[i] as f64 - want).abs() < 1e-4,
                    "{floor} {diag:?}: {} vs {want}",
                    got[i]
                );
            }
            // params_for: the same L and means.
            let p = mdn.params_for(&t(&[0.1, 0.9], &[2, 1])).unwrap();
            assert_eq!(p.chol.dims(), &[2, 1, 2, 2]);
            let l = &p.chol.data()[..4];
            assert!((l[0] as f64 - pos(r1)).abs() < 1e-6 && l[1] == 0.0);
            assert!((l[2] as f64 - l21).abs() < 1e-6 && (l[3] as f64 - pos(r2)).abs() < 1e-6);
            assert_eq!(p.means.data(), &[0.5, -1.0, 0.5, -1.0]);
        }
        // The cap leaves moderate raw values unchanged to f32 rounding.
        let capped = fixed(config(1, 2, 0.0), &[2.0, 0.5, -1.0, 0.3, -0.4, -0.7]);
        let plain = fixed(
            MdnConfig {
                max_raw_diag: None,
                ..config(1, 2, 0.0)
            },
            &[2.0, 0.5, -1.0, 0.3, -0.4, -0.7],
        );
        let (a, b) = (log_prob(&capped, &x, 3), log_prob(&plain, &x, 3));
        assert!(
            a.iter()
                .zip(&b)
                .all(|(a, b)| (a - b).abs() < 2e-6 * a.abs()),
            "{a:?} {b:?}"
        );
    }

    #[test]
    fn mixture_of_two_matches_the_direct_formula() {
        // Logits (0.4, −0.6); components with L = [[e^r1, 0], [l, e^r2]].
        let comps = [
            ([1.0, -0.5], [0.2, -0.3], 0.8),
            ([-2.0, 1.5], [-0.5, 0.6], -1.1),
        ];
        let logits = [0.4f64, -0.6];
        let mut bias: Vec<f32> = logits.iter().map(|&v| v as f32).collect();
        for (mu, _, _) in &comps {
            bias.extend(mu.iter().map(|&v: &f64| v as f32));
        }
        for (_, r, _) in &comps {
            bias.extend(r.iter().map(|&v: &f64| v as f32));
        }
        for (_, _, l) in &comps {
            bias.push(*l as f32);
        }
        let mdn = fixed(config(2, 2, 0.0), &bias);
        let x = [0.0f32, 0.0, 1.2, -0.4, -2.5, 2.0, 5.0, 5.0];
        let got = log_prob(&mdn, &x, 4);
        let z = logits.iter().map(|l| l.exp()).sum::<f64>();
        for (i, row) in x.chunks(2).enumerate() {
            let p: f64 = comps
                .iter()
                .zip(logits)
                .map(|((mu, r, l), logit)| {
                    let cov = cov_of(r[0].exp(), *l, r[1].exp());
                    let lp = gauss2([row[0] as f64, row[1] as f64], *mu, cov);
                    logit.exp() / z * lp.exp()
                })
                .sum();
            assert!(
                (got[i] as f64 - p.ln()).abs() < 1e-4,
                "{} vs {}",
                got[i],
                p.ln()
            );
        }
    }

    #[test]
    fn samples_have_the_component_moments_and_weights() {
        let (r1, r2, l21) = (0.2f64, -0.5f64, 0.9f64);
        let mdn = fixed(
            config(1, 2, 0.0),
            &[0.0, 1.0, -2.0, r1 as f32, r2 as f32, l21 as f32],
        );
        let n = 20_000;
        let f = Tensor::full(&[n, 1], 0.5).unwrap();
        let x = mdn.sample(&f, &mut StdRng::seed_from_u64(5)).unwrap();
        assert_eq!(x, mdn.sample(&f, &mut StdRng::seed_from_u64(5)).unwrap());
        let rows: Vec<[f64; 2]> = x
            .data()
            .chunks(2)
            .map(|r| [r[0] as f64, r[1] as f64])
            .collect();
        let mean = |i: usize| rows.iter().map(|r| r[i]).sum::<f64>() / n as f64;
        let m = [mean(0), mean(1)];
        let cov = |i: usize, j: usize| {
            rows.iter()
                .map(|r| (r[i] - m[i]) * (r[j] - m[j]))
                .sum::<f64>()
                / n as f64
        };
        let want = cov_of(r1.exp(), l21, r2.exp());
        assert!(
            (m[0] - 1.0).abs() < 0.03 && (m[1] + 2.0).abs() < 0.05,
            "{m:?}"
        );
        for (i, j) in [(0, 0), (0, 1), (1, 1)] {
            let tol = 0.04 * (want[i][i] * want[j][j]).sqrt();
            assert!(
                (cov(i, j) - want[i][j]).abs() < tol,
                "({i},{j}): {} vs {}",
                cov(i, j),
                want[i][j]
            );
        }
        // Gumbel-max picks component k with probability softmax(logits)_k.
        let two = fixed(
            config(2, 2, 0.0),
            &[
                0.3f32.ln(),
                0.7f32.ln(),
                -10.0,
                0.0,
                10.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        );
        let x = two.sample(&f, &mut StdRng::seed_from_u64(6)).unwrap();
        let share = x.data().chunks(2).filter(|r| r[0] < 0.0).count() as f64 / n as f64;
        assert!((share - 0.3).abs() < 0.015, "{share}");
    }

    #[test]
    fn first_order_gradcheck_in_every_parameter_with_d3() {
        let cfg = MdnConfig {
            features: 2,
            dim: 3,
            components: 2,
            hidden: vec![4],
            ..MdnConfig::default()
        };
        let mdn = Mdn::new(cfg, 3).unwrap();
        let params = mdn.params();
        let x = Var::constant(t(
            &[0.3, -0.8, 1.1, -0.2, 0.5, 0.4, 1.0, 0.1, -0.6],
            &[3, 3],
        ));
        let f = Var::constant(t(&[0.1, 0.9, 0.5, -0.3, 0.8, 0.2], &[3, 2]));
        let func = |v: &[Var]| {
            let mut fast = FastWeights::new();
            for (p, v) in params.iter().zip(v) {
                fast.insert(p, v.clone());
            }
            to_autograd(mdn.log_prob_with(&fast, &x, &f))
        };
        let inputs: Vec<Tensor> = params.iter().map(|p| p.value()).collect();
        gradcheck(func, &inputs, GradcheckOptions::default()).unwrap();
        // The general-d scatter: L is lower triangular with the raw entries
        // in row-major order below a positive diagonal.
        let p = mdn.params_for(&t(&[0.1, 0.9], &[1, 2])).unwrap();
        let out = mdn
            .head_outputs(&OwnParams, &Var::constant(t(&[0.1, 0.9], &[1, 2])))
            .unwrap();
        let lower = &out.value().data()[2 + 12..];
        let l = &p.chol.data()[..9];
        assert_eq!([l[1], l[2], l[5]], [0.0; 3]);
        assert_eq!([l[3], l[6], l[7]], [lower[0], lower[1], lower[2]]);
        assert!([l[0], l[4], l[8]].iter().all(|&v| v > 0.0));
    }

    #[test]
    fn collapsed_components_give_finite_values_and_gradients() {
        // Component 0: logit −1e4. Component 1: raw diagonals 1e4, raw lower
        // 1e4. Component 2: raw diagonals −1e4 (floored). Component 3 is sane.
        let k = 4;
        let mut bias = vec![-1e4f32, 0.0, 0.0, 0.0];
        bias.extend([0.0f32; 8]);
        bias.extend([0.0, 0.0, 1e4, 1e4, -1e4, -1e4, 0.1, -0.2]);
        bias.extend([0.3, 1e4, 0.0, 0.5]);
        let mdn = fixed(config(k, 2, 1e-3), &bias);
        let x = Var::constant(t(&[0.0, 0.0, 1.0, -2.0, 30.0, -40.0], &[3, 2]));
        let f = Var::constant(Tensor::full(&[3, 1], 0.5).unwrap());
        let lp = mdn.log_prob(&x, &f).unwrap();
        assert!(
            lp.value().data().iter().all(|v| v.is_finite()),
            "{:?}",
            lp.value()
        );
        lp.sum_all().backward().unwrap();
        for (name, p) in mdn.named_params() {
            let g = p.grad().unwrap();
            assert!(g.data().iter().all(|v| v.is_finite()), "{name}: {g:?}");
        }
        // A single, enormous-precision component: very negative but finite.
        let one = fixed(config(1, 2, 1e-3), &[0.0, 0.0, 0.0, 1e4, 1e4, 1e4]);
        let lp = log_prob(&one, &[3.0, -3.0], 1);
        assert!(lp[0].is_finite() && lp[0] < -1e10, "{lp:?}");
        // Sampling a floored component stays finite too.
        let s = mdn
            .sample(
                &Tensor::full(&[200, 1], 0.5).unwrap(),
                &mut StdRng::seed_from_u64(1),
            )
            .unwrap();
        assert!(s.data().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn recovers_a_correlated_gaussian() {
        // 5,000 draws from N(μ, Σ), Σ = [[1, 0.6], [0.6, 0.5]], independent
        // of f ~ U[0, 1]. The standard normals are whitened first (sample
        // mean 0, sample covariance I), so the sample's own maximum-likelihood
        // estimate is exactly (μ, Σ) and the check measures the model and
        // its training, not the sampling error of 5,000 draws.
        let mu = [0.5f64, -1.0];
        let sigma = [[1.0f64, 0.6], [0.6, 0.5]];
        let (a, b) = (sigma[0][0].sqrt(), sigma[0][1] / sigma[0][0].sqrt());
        let c = (sigma[1][1] - b * b).sqrt();
        let n = 5_000;
        let mut rng = StdRng::seed_from_u64(9);
        let mut z: Vec<[f64; 2]> = (0..n)
            .map(|_| [rng.sample(StandardNormal), rng.sample(StandardNormal)])
            .collect();
        let fs: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
        let m = [0, 1].map(|i| z.iter().map(|r| r[i]).sum::<f64>() / n as f64);
        let cov = |i: usize, j: usize| {
            z.iter().map(|r| (r[i] - m[i]) * (r[j] - m[j])).sum::<f64>() / n as f64
        };
        let (r11, r21) = (cov(0, 0).sqrt(), cov(0, 1) / cov(0, 0).sqrt());
        let r22 = (cov(1, 1) - r21 * r21).sqrt();
        for r in z.iter_mut() {
            let (u, v) = (r[0] - m[0], r[1] - m[1]);
            let w1 = u / r11;
            *r = [w1, (v - r21 * w1) / r22];
        }
        let xs: Vec<f32> = z
            .iter()
            .flat_map(|&[z1, z2]| [mu[0] + a * z1, mu[1] + b * z1 + c * z2])
            .map(|v| v as f32)
            .collect();
        let x = Var::constant(t(&xs, &[n, 2]));
        let f = Var::constant(t(&fs, &[n, 1]));
        let cfg = MdnConfig {
            components: 1,
            hidden: vec![16],
            ..MdnConfig::default()
        };
        let mdn = Mdn::new(cfg, 4).unwrap();
        let adam = AdamConfig {
            lr: 2e-2,
            ..AdamConfig::default()
        };
        let mut opt = Adam::new(mdn.params(), adam).unwrap();
        for _ in 0..250 {
            let loss = mdn.log_prob(&x, &f).unwrap().mean_all().neg();
            loss.backward().unwrap();
            opt.step().unwrap();
            opt.zero_grad();
        }
        let p = mdn.params_for(&t(&[0.1, 0.5, 0.9], &[3, 1])).unwrap();
        for i in 0..3 {
            let m = &p.means.data()[2 * i..2 * i + 2];
            let l = &p.chol.data()[4 * i..4 * i + 4];
            let cov = cov_of(l[0] as f64, l[2] as f64, l[3] as f64);
            assert!(
                (m[0] as f64 - mu[0]).abs() < 0.05 && (m[1] as f64 - mu[1]).abs() < 0.05,
                "{m:?}"
            );
            for (r, s) in [(0, 0), (0, 1), (1, 1)] {
                assert!((cov[r][s] - sigma[r][s]).abs() < 0.05, "{cov:?}");
            }
        }
    }
}
