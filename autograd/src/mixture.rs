//! The negative log-likelihood of a mixture of diagonal Gaussians as one
//! primitive ([`Var::diag_gaussian_mixture_nll`]).
//!
//! Forward and backward (without `create_graph`) are one fused kernel each
//! ([`ferrograd_tensor::kernels::mixture`]): no `[..., K, D]` temporaries, and
//! the exponentials of a block of rows in one vectorised call instead of a
//! log-softmax and a log-sum-exp over rows of K. Under `create_graph` the
//! rule is the gradient of the same function written with differentiable
//! ops ([`diag_gaussian_mixture_nll_composite`]), so it can be
//! differentiated again, to any order.

use crate::custom::CustomOp;
use crate::{Error, Result, Var};
use ferrograd_tensor::buffer::{for_overwrite, recycle};
use ferrograd_tensor::kernels::mixture::{nll_backward, nll_forward, Grads, Inputs, Mixture};
use ferrograd_tensor::kernels::simd;
use ferrograd_tensor::Tensor;
use std::sync::Arc;

/// The sizes from `logits [..., K]`, `means` and `log_sigmas [..., K, D]`
/// and `target [..., D]`, checked: the mixture sizes and the leading axes.
fn sizes(x: &[&[usize]; 4]) -> Result<(Mixture, Vec<usize>)> {
    let [l, m, s, t] = *x;
    let r = m.len();
    let fits = r >= 2
        && s == m
        && l == &m[..r - 1]
        && t.len() == r - 1
        && t[..r - 2] == m[..r - 2]
        && t[r - 2] == m[r - 1];
    if !fits || m[r - 1] == 0 || m[r - 2] == 0 {
        return Err(Error::Invalid(format!(
            "diag_gaussian_mixture_nll: want logits [..., K], means and log_sigmas [..., K, D], \
             target [..., D] with K, D ≥ 1; got {l:?}, {m:?}, {s:?}, {t:?}"
        )));
    }
    let lead = m[..r - 2].to_vec();
    let mixture = Mixture {
        rows: lead.iter().product(),
        k: m[r - 2],
        d: m[r - 1],
    };
    Ok((mixture, lead))
}

/// The same negative log-likelihood written with ordinary differentiable
/// ops (the reference the primitive is tested against, and its rule under
/// `create_graph`). Shapes as [`Var::diag_gaussian_mixture_nll`].
pub fn diag_gaussian_mixture_nll_composite(
    logits: &Var,
    means: &Var,
    log_sigmas: &Var,
    target: &Var,
) -> Result<Var> {
    sizes(&[
        logits.dims(),
        means.dims(),
        log_sigmas.dims(),
        target.dims(),
    ])?;
    let half_log_2pi = (0.5 * (2.0 * std::f64::consts::PI).ln()) as f32;
    // log N per component: −½((x − μ)/σ)² − log σ − ½ log 2π, summed over D.
    let log_density = target
        .unsqueeze(-2)?
        .sub(means)?
        .div(&log_sigmas.exp())?
        .square()
        .mul_scalar(-0.5)
        .sub(log_sigmas)?
        .add_scalar(-half_log_2pi)
        .sum(&[-1], false)?;
    Ok(logits
        .log_softmax(-1)?
        .add(&log_density)?
        .logsumexp(&[-1], false)?
        .neg())
}

/// The primitive (sizes only: it keeps nothing between the passes).
struct MixtureNll {
    mixture: Mixture,
    lead: Vec<usize>,
}

/// The kernel's view of the four input tensors.
pub(crate) fn inputs<'a>(x: &[&'a Tensor]) -> Inputs<'a> {
    Inputs {
        logits: x[0].data(),
        means: x[1].data(),
        log_sigmas: x[2].data(),
        target: x[3].data(),
    }
}

impl CustomOp for MixtureNll {
    fn name(&self) -> &'static str {
        "diag_gaussian_mixture_nll"
    }

    fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
        let mut out = for_overwrite(self.mixture.rows);
        nll_forward(simd::active(), self.mixture, inputs(x), &mut out);
        Ok(Tensor::from_vec(out, &self.lead)?)
    }

    fn backward(&self, x: &[Var], _y: &Var, g: &Var) -> Result<Vec<Option<Var>>> {
        if crate::is_grad_enabled() {
            return crate::custom::composite_rule(x, g, |x| {
                diag_gaussian_mixture_nll_composite(&x[0], &x[1], &x[2], &x[3])
            });
        }
        fused_grads(x, g, |x, g, out| {
            nll_backward(simd::active(), self.mixture, x, g, out)
        })
    }
}

/// The four gradients of a fused mixture NLL, from `run(inputs, output
/// gradient, gradient buffers)` (which writes every value), as constants;
/// `None` for an input that needs none. Shared with the per-dimension
/// primitive.
pub(crate) fn fused_grads(
    x: &[Var],
    g: &Var,
    run: impl FnOnce(Inputs<'_>, &[f32], Grads<'_>),
) -> Result<Vec<Option<Var>>> {
    let values: Vec<&Tensor> = x.iter().map(|v| v.value()).collect();
    let mut grads: Vec<Vec<f32>> = values.iter().map(|v| for_overwrite(v.numel())).collect();
    {
        let [dl, dm, ds, dt] = &mut grads[..] else {
            unreachable!("four inputs")
        };
        let out = Grads {
            logits: dl,
            means: dm,
            log_sigmas: ds,
            target: dt,
        };
        run(inputs(&values), g.value().data(), out);
    }
    grads
        .into_iter()
        .zip(x)
        .map(|(d, xi)| {
            if xi.requires_grad() {
                Ok(Some(Var::constant(Tensor::from_vec(d, xi.dims())?)))
            } else {
                recycle(d);
                Ok(None)
            }
        })
        .collect()
}

impl Var {
    /// Negative log-likelihood of `target` under a mixture of K Gaussians
    /// with diagonal covariance, per sample:
    /// `−log Σ_k softmax(logits)_k · Π_d N(target_d; μ_kd, σ_kd²)` with
    /// `σ = exp(log_sigmas)`, computed as a log-sum-exp so no density
    /// underflows. `self` is the logits `[..., K]`; `means` and
    /// `log_sigmas` are `[..., K, D]`, `target` `[..., D]`; the result is
    /// `[...]`. One fused primitive, differentiable to any order.
    ///
    /// Errors ([`Error::Invalid`]): shapes that do not fit, K or D of 0.
    ///
    /// ```
    /// use ferrograd_autograd::Var;
    /// use ferrograd_tensor::Tensor;
    /// // One standard normal component in D = 1, at 0: ½ log 2π.
    /// let zero = |d: &[usize]| Var::param(Tensor::zeros(d).unwrap());
    /// let nll = zero(&[1])
    ///     .diag_gaussian_mixture_nll(&zero(&[1, 1]), &zero(&[1, 1]), &zero(&[1]))
    ///     .unwrap();
    /// assert!((nll.item().unwrap() - 0.918_938_5).abs() < 1e-6);
    /// ```
    #[track_caller]
    pub fn diag_gaussian_mixture_nll(
        &self,
        means: &Var,
        log_sigmas: &Var,
        target: &Var,
    ) -> Result<Var> {
        let (mixture, lead) =
            sizes(&[self.dims(), means.dims(), log_sigmas.dims(), target.dims()])?;
        let op = MixtureNll { mixture, lead };
        Var::custom(Arc::new(op), &[self, means, log_sigmas, target])
    }
}
