//! Losses of probabilistic models: the Gaussian negative log-likelihood with
//! a predicted variance, the negative log-likelihood of a mixture of
//! diagonal Gaussians (mixture density networks such as World Models'
//! MDN-RNN), and the KL divergence between diagonal Gaussians. The
//! full-covariance mixture lives with its model, `ferrograd_models::cde::mdn`.

use super::{check_positive, check_same_shape, reduce, Reduction};
use crate::{Error, Result};
use ferrograd_autograd::Var;

/// Options of [`gaussian_nll`], as in PyTorch's `GaussianNLLLoss`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianNllOptions {
    /// Add the constant `½·ln(2π)` to each element (default false).
    pub full: bool,
    /// Variances below `eps` are raised to `eps` (default 1e-6).
    pub eps: f32,
}

impl Default for GaussianNllOptions {
    fn default() -> Self {
        GaussianNllOptions {
            full: false,
            eps: 1e-6,
        }
    }
}

/// Gaussian negative log-likelihood with a predicted variance, as PyTorch's
/// `GaussianNLLLoss`: per element
///
/// `½·(ln max(var, eps) + (input − target)² / max(var, eps))`, plus `½·ln(2π)`
/// when `full`,
///
/// then `reduction` ([`Reduction::None`] has the input's shape).
///
/// `target` must have the input's shape. `var` has the input's shape, or
/// the input's shape without its last axis, or that shape with a last axis
/// of 1 (one variance shared along the last axis). As in PyTorch, the clamp
/// at `eps` is not differentiated: the gradient with respect to `var` is
/// the derivative at the clamped value, passed through unchanged.
///
/// Errors ([`Error::Config`]): mismatched shapes, a negative variance, `eps`
/// not positive.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{gaussian_nll, GaussianNllOptions, Reduction};
/// use ferrograd_tensor::Tensor;
/// let mean = Var::param(Tensor::from_vec(vec![1.0], &[1]).unwrap());
/// let target = Var::constant(Tensor::from_vec(vec![3.0], &[1]).unwrap());
/// let var = Var::param(Tensor::from_vec(vec![2.0], &[1]).unwrap());
/// let l = gaussian_nll(&mean, &target, &var, GaussianNllOptions::default(), Reduction::Sum)
///     .unwrap();
/// assert!((l.item().unwrap() - 0.5 * (2f32.ln() + 2.0)).abs() < 1e-6);
/// ```
pub fn gaussian_nll(
    input: &Var,
    target: &Var,
    var: &Var,
    options: GaussianNllOptions,
    reduction: Reduction,
) -> Result<Var> {
    check_same_shape("gaussian_nll", "input and target", input, target)?;
    check_positive("gaussian_nll", "eps", options.eps)?;
    let d = input.dims();
    let var = if var.dims() == d {
        var.clone()
    } else if !d.is_empty() && var.dims() == &d[..d.len() - 1] {
        var.unsqueeze(-1)?
    } else if !d.is_empty()
        && var.dims().len() == d.len()
        && var.dims()[..d.len() - 1] == d[..d.len() - 1]
        && var.dims()[d.len() - 1] == 1
    {
        var.clone()
    } else {
        return Err(Error::Config(format!(
            "gaussian_nll: var {} must have the input's shape {}, or it without (or with 1 as) the last axis",
            var.shape(),
            input.shape()
        )));
    };
    if var.value().data().iter().any(|&v| v < 0.0) {
        return Err(Error::Config(
            "gaussian_nll: var has a negative entry".into(),
        ));
    }
    // max(var, eps) with the gradient of the identity (PyTorch clamps in
    // place under no_grad).
    let raised = var.value().map(|v| v.max(options.eps)).sub(var.value())?;
    let var = var.add(&Var::constant(raised))?;
    let sq = input.sub(target)?.square();
    let mut per = var.log().add(&sq.div(&var)?)?.mul_scalar(0.5);
    if options.full {
        per = per.add_scalar(0.5 * (2.0 * std::f32::consts::PI).ln());
    }
    reduce(&per, reduction)
}

/// KL divergence `KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²))` between Gaussians with
/// diagonal covariance, given means and log-variances. The last axis is the
/// event axis: per element
///
/// `½·(lv₂ − lv₁ + e^(lv₁ − lv₂) + (μ₁ − μ₂)²·e^(−lv₂) − 1)`
///
/// summed over the last axis, giving one divergence per distribution (shape
/// `[...]` for inputs `[..., D]`), then `reduction` over those (the mean
/// over the batch is the usual VAE term). The four inputs broadcast
/// together (for example a standard-normal prior as scalar zeros).
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{kl_diag_gaussians, Reduction};
/// use ferrograd_tensor::Tensor;
/// let mu = Var::param(Tensor::from_vec(vec![1.0, 0.0], &[1, 2]).unwrap());
/// let logvar = Var::param(Tensor::zeros(&[1, 2]).unwrap());
/// let zero = Var::scalar(0.0);
/// let kl = kl_diag_gaussians(&mu, &logvar, &zero, &zero, Reduction::None).unwrap();
/// assert_eq!(kl.dims(), &[1]);
/// assert_eq!(kl.value().data(), &[0.5]); // ½μ²
/// ```
pub fn kl_diag_gaussians(
    mu1: &Var,
    logvar1: &Var,
    mu2: &Var,
    logvar2: &Var,
    reduction: Reduction,
) -> Result<Var> {
    let ratio = logvar1.sub(logvar2)?.exp();
    let sq = mu1.sub(mu2)?.square().mul(&logvar2.neg().exp())?;
    let per = logvar2
        .sub(logvar1)?
        .add(&ratio)?
        .add(&sq)?
        .add_scalar(-1.0)
        .mul_scalar(0.5);
    if per.shape().rank() == 0 {
        return Err(Error::Config(
            "kl_diag_gaussians: the inputs need an event axis (rank ≥ 1), got scalars".into(),
        ));
    }
    reduce(&per.sum(&[-1], false)?, reduction)
}

/// Negative log-likelihood of `target` under a mixture of K Gaussians with
/// diagonal covariance, per sample
///
/// `−log Σ_k softmax(logits)_k · Π_d N(target_d; μ_kd, σ_kd²)`, with `σ = exp(log_sigmas)`,
///
/// computed as a log-sum-exp over K of `log_softmax(logits)_k + Σ_d log
/// N(·)`, so no density underflows. Shapes: `logits` `[..., K]`, `means`
/// and `log_sigmas` `[..., K, D]`, `target` `[..., D]`, with the same
/// leading axes `[...]` (any number, also none). The per-sample values have
/// shape `[...]`; then `reduction`.
///
/// Errors ([`Error::Config`]): shapes that do not fit together, K or D of 0.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{diag_gaussian_mixture_nll, Reduction};
/// use ferrograd_tensor::Tensor;
/// // One component (K = 1) of a standard normal in D = 2, at the origin.
/// let logits = Var::param(Tensor::zeros(&[1]).unwrap());
/// let means = Var::param(Tensor::zeros(&[1, 2]).unwrap());
/// let log_sigmas = Var::param(Tensor::zeros(&[1, 2]).unwrap());
/// let target = Var::constant(Tensor::zeros(&[2]).unwrap());
/// let nll = diag_gaussian_mixture_nll(&logits, &means, &log_sigmas, &target, Reduction::None)
///     .unwrap();
/// assert!((nll.item().unwrap() - (2.0 * std::f32::consts::PI).ln()).abs() < 1e-6);
/// ```
pub fn diag_gaussian_mixture_nll(
    logits: &Var,
    means: &Var,
    log_sigmas: &Var,
    target: &Var,
    reduction: Reduction,
) -> Result<Var> {
    check_same_shape(
        "diag_gaussian_mixture_nll",
        "means and log_sigmas",
        means,
        log_sigmas,
    )?;
    let m = means.dims();
    let fits = m.len() >= 2
        && logits.dims() == &m[..m.len() - 1]
        && target.dims().len() == m.len() - 1
        && target.dims()[..m.len() - 2] == m[..m.len() - 2]
        && target.dims()[m.len() - 2] == m[m.len() - 1];
    if !fits {
        return Err(Error::Config(format!(
            "diag_gaussian_mixture_nll: needs logits [..., K], means and log_sigmas [..., K, D], \
             target [..., D]; got logits {}, means {}, target {}",
            logits.shape(),
            means.shape(),
            target.shape()
        )));
    }
    if m[m.len() - 1] == 0 || m[m.len() - 2] == 0 {
        return Err(Error::Config(format!(
            "diag_gaussian_mixture_nll: K and D must be at least 1, got means {}",
            means.shape()
        )));
    }
    // One fused primitive (the composite of log-softmax, densities and
    // log-sum-exp is its rule under create_graph).
    let nll = logits.diag_gaussian_mixture_nll(means, log_sigmas, target)?;
    reduce(&nll, reduction)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ag, assert_close, constant, tensor};
    use super::*;
    use ferrograd_autograd::{grad, gradcheck, GradOptions, GradcheckOptions};
    use ferrograd_tensor::Tensor;

    const INPUT: [f32; 6] = [0.5, -1.0, 0.002, 0.0, 1.5, -0.5];
    const TARGET: [f32; 6] = [0.0, -0.5, 0.0, 0.3, 1.0, 0.5];
    const VAR: [f32; 6] = [0.5, 2.0, 1e-8, 1.0, 0.25, 3.0];

    fn nll(full: bool, r: Reduction) -> Var {
        let (x, t, v) = (
            constant(&INPUT, &[2, 3]),
            constant(&TARGET, &[2, 3]),
            constant(&VAR, &[2, 3]),
        );
        gaussian_nll(&x, &t, &v, GaussianNllOptions { full, eps: 1e-6 }, r).unwrap()
    }

    #[test]
    fn gaussian_nll_matches_hand_values() {
        let each: Vec<f32> = (0..6)
            .map(|i| {
                let v = VAR[i].max(1e-6);
                let r = INPUT[i] - TARGET[i];
                0.5 * (v.ln() + r * r / v)
            })
            .collect();
        let sum: f32 = each.iter().sum();
        assert_close(&nll(false, Reduction::None), &each, 1e-5);
        assert_close(&nll(false, Reduction::Sum), &[sum], 1e-5);
        assert_close(&nll(false, Reduction::Mean), &[sum / 6.0], 1e-5);
    }

    #[test]
    fn gaussian_nll_matches_torch() {
        // From torch.nn.functional.gaussian_nll_loss(..., eps=1e-6) (torch 2.15).
        let none = [
            -0.09657359,
            0.4090736,
            -4.907755,
            0.045,
            -0.19314718,
            0.71597284,
        ];
        assert_close(&nll(false, Reduction::None), &none, 1e-5);
        assert_close(&nll(false, Reduction::Mean), &[-0.6712382], 1e-5);
        assert_close(&nll(false, Reduction::Sum), &[-4.027429], 1e-5);
        let full = [
            0.8223649, 1.3280121, -3.9888163, 0.96393853, 0.72579134, 1.6349113,
        ];
        assert_close(&nll(true, Reduction::None), &full, 1e-5);
        assert_close(&nll(true, Reduction::Mean), &[0.24770033], 1e-5);
        assert_close(&nll(true, Reduction::Sum), &[1.486202], 1e-5);
        // Gradients of the full, summed loss, including the clamped variance.
        let (x, v) = (
            Var::param(tensor(&INPUT, &[2, 3])),
            Var::param(tensor(&VAR, &[2, 3])),
        );
        let t = constant(&TARGET, &[2, 3]);
        let opts = GaussianNllOptions {
            full: true,
            eps: 1e-6,
        };
        let l = gaussian_nll(&x, &t, &v, opts, Reduction::Sum).unwrap();
        let g = grad(&[&l], &[&x, &v], None, GradOptions::default()).unwrap();
        assert_close(
            &g[0],
            &[1.0, -0.25, 2000.0001, -0.3, 2.0, -0.33333334],
            1e-4,
        );
        assert_close(
            &g[1],
            &[0.5, 0.21875, -1500000.2, 0.45499998, 0.0, 0.11111112],
            1e-4,
        );
    }

    #[test]
    fn gaussian_nll_shared_variance_matches_torch() {
        // var of shape [2] and [2, 1] against input [2, 3] (torch 2.15).
        let (x, t) = (constant(&INPUT, &[2, 3]), constant(&TARGET, &[2, 3]));
        let o = GaussianNllOptions::default();
        let v = constant(&[0.5, 2.0], &[2]);
        let l = gaussian_nll(&x, &t, &v, o, Reduction::None).unwrap();
        let torch = [
            -0.09657359,
            -0.09657359,
            -0.3465696,
            0.3690736,
            0.4090736,
            0.5965736,
        ];
        assert_close(&l, &torch, 1e-5);
        let v = constant(&[0.5, 2.0], &[2, 1]);
        let l = gaussian_nll(&x, &t, &v, o, Reduction::Mean).unwrap();
        assert_close(&l, &[0.13916732], 1e-5);
    }

    #[test]
    fn gaussian_nll_rejects_bad_arguments() {
        let (x, t) = (constant(&INPUT, &[2, 3]), constant(&TARGET, &[2, 3]));
        let o = GaussianNllOptions::default();
        let wrong = constant(&[1.0; 3], &[3]);
        let negative = constant(&[1.0, -1.0], &[2]);
        for v in [&wrong, &negative] {
            assert!(matches!(
                gaussian_nll(&x, &t, v, o, Reduction::Mean),
                Err(Error::Config(_))
            ));
        }
        let v = constant(&VAR, &[2, 3]);
        let zero_eps = GaussianNllOptions {
            full: false,
            eps: 0.0,
        };
        let r = gaussian_nll(&x, &t, &v, zero_eps, Reduction::Mean);
        assert!(matches!(r, Err(Error::Config(_))));
        let r = gaussian_nll(&x, &constant(&TARGET, &[6]), &v, o, Reduction::Mean);
        assert!(matches!(r, Err(Error::Config(_))));
    }

    #[test]
    fn gaussian_nll_gradients() {
        // Variances well above eps so finite differences do not cross the clamp.
        let var = [0.5, 2.0, 0.8, 1.0, 0.7, 3.0];
        let inputs = [
            tensor(&INPUT, &[2, 3]),
            tensor(&TARGET, &[2, 3]),
            tensor(&var, &[2, 3]),
        ];
        let o = GaussianNllOptions {
            full: true,
            eps: 1e-6,
        };
        let f = |v: &[Var]| ag(gaussian_nll(&v[0], &v[1], &v[2], o, Reduction::Mean));
        gradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
    }

    const MU1: [f32; 4] = [0.5, -1.0, 0.2, 0.0];
    const LV1: [f32; 4] = [0.1, -0.5, 0.3, 0.0];
    const MU2: [f32; 4] = [0.0, 0.5, -0.4, 1.0];
    const LV2: [f32; 4] = [-0.2, 0.4, 0.0, 0.6];

    #[test]
    fn kl_matches_hand_values() {
        let c = |a: &[f32]| constant(a, &[2, 2]);
        let kl = |r| kl_diag_gaussians(&c(&MU1), &c(&LV1), &c(&MU2), &c(&LV2), r).unwrap();
        let elem: Vec<f32> = (0..4)
            .map(|i| {
                let (v1, v2) = (LV1[i].exp(), LV2[i].exp());
                let d = MU1[i] - MU2[i];
                0.5 * ((v2 / v1).ln() + v1 / v2 + d * d / v2 - 1.0)
            })
            .collect();
        let each = [elem[0] + elem[1], elem[2] + elem[3]];
        assert_close(&kl(Reduction::None), &each, 1e-5);
        assert_close(&kl(Reduction::Sum), &[each[0] + each[1]], 1e-5);
        assert_close(&kl(Reduction::Mean), &[(each[0] + each[1]) / 2.0], 1e-5);
        // Identical distributions are 0 apart.
        let same = kl_diag_gaussians(&c(&MU1), &c(&LV1), &c(&MU1), &c(&LV1), Reduction::Sum);
        assert_close(&same.unwrap(), &[0.0], 1e-6);
        let zero = Var::scalar(0.0);
        let r = kl_diag_gaussians(&zero, &zero, &zero, &zero, Reduction::Mean);
        assert!(matches!(r, Err(Error::Config(_))));
    }

    #[test]
    fn kl_gradients() {
        let inputs = [MU1, LV1, MU2, LV2].map(|a| tensor(&a, &[2, 2]));
        let f = |v: &[Var]| {
            ag(kl_diag_gaussians(
                &v[0],
                &v[1],
                &v[2],
                &v[3],
                Reduction::None,
            ))
        };
        gradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
    }

    /// A mixture of K = 3 components in D = 2 for a batch of 2: logits
    /// `[2, 3]`, means and log-σ `[2, 3, 2]`, target `[2, 2]`.
    fn mixture() -> [Tensor; 4] {
        [
            tensor(&[0.2, -1.0, 0.5, 1.5, 0.0, -0.3], &[2, 3]),
            tensor(
                &[
                    0.1, -0.4, 1.2, 0.3, -0.8, 0.9, 0.0, 0.5, -1.1, 0.7, 0.4, -0.2,
                ],
                &[2, 3, 2],
            ),
            tensor(
                &[
                    0.3, -0.2, 0.1, 0.5, -0.4, 0.0, 0.2, -0.6, 0.35, 0.1, -0.1, 0.25,
                ],
                &[2, 3, 2],
            ),
            tensor(&[0.5, -0.1, -0.7, 0.8], &[2, 2]),
        ]
    }

    /// The mixture NLL of sample `n` in f64, from the densities themselves
    /// (`log_space` false) or from their logarithms with a shifted
    /// log-sum-exp (`log_space` true, for densities that underflow).
    fn mixture_nll_f64(t: &[Tensor; 4], n: usize, log_space: bool) -> f64 {
        let (k, d) = (3, 2);
        let f = |x: &Tensor, i: usize| x.data()[i] as f64;
        let z: f64 = (0..k).map(|j| f(&t[0], n * k + j).exp()).sum();
        // log(w_j · Π_e N(x_e; μ_je, σ_je²)) for each component j.
        let terms: Vec<f64> = (0..k)
            .map(|j| {
                let log_w = f(&t[0], n * k + j) - z.ln();
                let log_dens: f64 = (0..d)
                    .map(|e| {
                        let i = (n * k + j) * d + e;
                        let (mu, sigma) = (f(&t[1], i), f(&t[2], i).exp());
                        let r = (f(&t[3], n * d + e) - mu) / sigma;
                        let two_pi = 2.0 * std::f64::consts::PI;
                        if log_space {
                            -0.5 * r * r - sigma.ln() - 0.5 * two_pi.ln()
                        } else {
                            ((-0.5 * r * r).exp() / (sigma * two_pi.sqrt())).ln()
                        }
                    })
                    .sum();
                log_w + log_dens
            })
            .collect();
        if log_space {
            let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            -(m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln())
        } else {
            -terms.iter().map(|t| t.exp()).sum::<f64>().ln()
        }
    }

    #[test]
    fn diag_mixture_nll_matches_direct_f64() {
        let t = mixture();
        let v: Vec<Var> = t.iter().map(|x| Var::constant(x.clone())).collect();
        let nll = |r| diag_gaussian_mixture_nll(&v[0], &v[1], &v[2], &v[3], r).unwrap();
        let each = [
            mixture_nll_f64(&t, 0, false) as f32,
            mixture_nll_f64(&t, 1, false) as f32,
        ];
        assert_close(&nll(Reduction::None), &each, 1e-6);
        assert_close(&nll(Reduction::Sum), &[each[0] + each[1]], 1e-6);
        assert_close(&nll(Reduction::Mean), &[(each[0] + each[1]) / 2.0], 1e-6);
        // No leading axes: one sample.
        let one = diag_gaussian_mixture_nll(
            &v[0].narrow(0, 1, 1).unwrap().squeeze(0).unwrap(),
            &v[1].narrow(0, 1, 1).unwrap().squeeze(0).unwrap(),
            &v[2].narrow(0, 1, 1).unwrap().squeeze(0).unwrap(),
            &v[3].narrow(0, 1, 1).unwrap().squeeze(0).unwrap(),
            Reduction::None,
        )
        .unwrap();
        assert_eq!(one.dims(), &[] as &[usize]);
        assert_close(&one, &[each[1]], 1e-6);
    }

    #[test]
    fn diag_mixture_nll_is_stable_far_from_the_means() {
        // Every density underflows f32 here; the log-sum-exp does not.
        let t = mixture();
        let far = t[3].add_scalar(60.0);
        let v: Vec<Var> = t.iter().map(|x| Var::constant(x.clone())).collect();
        let l = diag_gaussian_mixture_nll(
            &v[0],
            &v[1],
            &v[2],
            &Var::constant(far.clone()),
            Reduction::None,
        )
        .unwrap();
        let shifted = [t[0].clone(), t[1].clone(), t[2].clone(), far];
        for (n, got) in l.value().data().iter().enumerate() {
            let want = mixture_nll_f64(&shifted, n, true);
            assert!(
                got.is_finite() && (*got as f64 - want).abs() < 1e-6 * want,
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn diag_mixture_nll_rejects_bad_shapes() {
        let c = |d: &[usize]| Var::constant(Tensor::zeros(d).unwrap());
        let bad = [
            [c(&[2, 4]), c(&[2, 3, 2]), c(&[2, 3, 2]), c(&[2, 2])], // logits K ≠ 3
            [c(&[2, 3]), c(&[2, 3, 2]), c(&[2, 3, 1]), c(&[2, 2])], // log-σ shape
            [c(&[2, 3]), c(&[2, 3, 2]), c(&[2, 3, 2]), c(&[2, 3])], // target D ≠ 2
            [c(&[2, 3]), c(&[2, 3, 2]), c(&[2, 3, 2]), c(&[1, 2])], // batch
            [c(&[3]), c(&[3]), c(&[3]), c(&[3])],                   // rank 1 means
            [c(&[2, 0]), c(&[2, 0, 2]), c(&[2, 0, 2]), c(&[2, 2])], // K = 0
        ];
        for [l, m, s, t] in &bad {
            let r = diag_gaussian_mixture_nll(l, m, s, t, Reduction::Mean);
            assert!(matches!(r, Err(Error::Config(_))), "{:?}", r.err());
        }
    }

    #[test]
    fn diag_mixture_nll_gradients() {
        let f = |v: &[Var]| {
            ag(diag_gaussian_mixture_nll(
                &v[0],
                &v[1],
                &v[2],
                &v[3],
                Reduction::Mean,
            ))
        };
        gradcheck(f, &mixture(), GradcheckOptions::default()).unwrap();
    }
}
