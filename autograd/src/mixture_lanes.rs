//! Per-dimension Gaussian mixtures as one primitive
//! ([`Var::per_dim_gaussian_mixture_nll`]): `L` independent one-dimensional
//! mixtures of `K` components per sample, stored component-major
//! (`[..., K, L]`, as a linear head writes them), as in the World Models
//! MDN-RNN.
//!
//! Forward and backward (without `create_graph`) are one fused kernel each
//! ([`ferrograd_tensor::kernels::mixture_lanes`]), which reads the inputs
//! in place: no permute to `[..., L, K]` and back. Under `create_graph` the
//! rule is the gradient of [`per_dim_gaussian_mixture_nll_composite`],
//! which is differentiable to any order.

use crate::custom::CustomOp;
use crate::mixture::{diag_gaussian_mixture_nll_composite, fused_grads, inputs};
use crate::{Error, Result, Var};
use ferrograd_tensor::buffer::for_overwrite;
use ferrograd_tensor::kernels::mixture_lanes::{nll_backward, nll_forward, Lanes};
use ferrograd_tensor::kernels::simd;
use ferrograd_tensor::Tensor;
use std::sync::Arc;

/// The sizes from logits, means and log-σ `[..., K, L]` and target
/// `[..., L]`, checked; also the result's shape `[..., L]`.
fn sizes(x: &[&[usize]; 4]) -> Result<(Lanes, Vec<usize>)> {
    let [l, m, s, t] = *x;
    let r = m.len();
    let fits = r >= 2
        && l == m
        && s == m
        && t.len() == r - 1
        && t[..r - 2] == m[..r - 2]
        && t[r - 2] == m[r - 1];
    if !fits || m[r - 1] == 0 || m[r - 2] == 0 {
        return Err(Error::Invalid(format!(
            "per_dim_gaussian_mixture_nll: want logits, means and log_sigmas [..., K, L], \
             target [..., L] with K, L ≥ 1; got {l:?}, {m:?}, {s:?}, {t:?}"
        )));
    }
    let lanes = Lanes {
        rows: m[..r - 2].iter().product(),
        k: m[r - 2],
        lanes: m[r - 1],
    };
    Ok((lanes, t.to_vec()))
}

/// The same per-dimension NLL written with ordinary differentiable ops: the
/// inputs moved to `[..., L, K]` and handed to
/// [`diag_gaussian_mixture_nll_composite`] with `D = 1`. The reference the
/// primitive is tested against, and its rule under `create_graph`. Shapes
/// as [`Var::per_dim_gaussian_mixture_nll`].
pub fn per_dim_gaussian_mixture_nll_composite(
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
    let per_lane = |v: &Var| v.transpose(-1, -2)?.unsqueeze(-1);
    diag_gaussian_mixture_nll_composite(
        &logits.transpose(-1, -2)?,
        &per_lane(means)?,
        &per_lane(log_sigmas)?,
        &target.unsqueeze(-1)?,
    )
}

/// The primitive (sizes only: it keeps nothing between the passes).
struct LaneMixtureNll {
    lanes: Lanes,
    out_dims: Vec<usize>,
}

impl CustomOp for LaneMixtureNll {
    fn name(&self) -> &'static str {
        "per_dim_gaussian_mixture_nll"
    }

    fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
        let mut out = for_overwrite(self.lanes.rows * self.lanes.lanes);
        nll_forward(simd::active(), self.lanes, inputs(x), &mut out);
        Ok(Tensor::from_vec(out, &self.out_dims)?)
    }

    fn backward(&self, x: &[Var], _y: &Var, g: &Var) -> Result<Vec<Option<Var>>> {
        if crate::is_grad_enabled() {
            return crate::custom::composite_rule(x, g, |x| {
                per_dim_gaussian_mixture_nll_composite(&x[0], &x[1], &x[2], &x[3])
            });
        }
        fused_grads(x, g, |x, g, out| {
            nll_backward(simd::active(), self.lanes, x, g, out)
        })
    }
}

impl Var {
    /// Negative log-likelihood of each of `L` independent one-dimensional
    /// Gaussian mixtures of `K` components per sample:
    /// `−log Σ_k softmax_k(logits[.., :, l])_k · N(target[.., l]; μ_kl, σ_kl²)`
    /// with `σ = exp(log_sigmas)`, as a log-sum-exp. `self` (the logits),
    /// `means` and `log_sigmas` are `[..., K, L]` (component-major);
    /// `target` is `[..., L]` and so is the result. One fused primitive,
    /// differentiable to any order; the same values as
    /// [`Var::diag_gaussian_mixture_nll`] with `D = 1` on the inputs moved
    /// to `[..., L, K]`.
    ///
    /// Errors ([`Error::Invalid`]): shapes that do not fit, K or L of 0.
    ///
    /// ```
    /// use ferrograd_autograd::Var;
    /// use ferrograd_tensor::Tensor;
    /// // Three lanes of one standard normal component, at 0: ½ log 2π each.
    /// let zero = |d: &[usize]| Var::param(Tensor::zeros(d).unwrap());
    /// let nll = zero(&[1, 3])
    ///     .per_dim_gaussian_mixture_nll(&zero(&[1, 3]), &zero(&[1, 3]), &zero(&[3]))
    ///     .unwrap();
    /// assert_eq!(nll.dims(), &[3]);
    /// assert!((nll.sum_all().item().unwrap() - 3.0 * 0.918_938_5).abs() < 1e-5);
    /// ```
    #[track_caller]
    pub fn per_dim_gaussian_mixture_nll(
        &self,
        means: &Var,
        log_sigmas: &Var,
        target: &Var,
    ) -> Result<Var> {
        let (lanes, out_dims) =
            sizes(&[self.dims(), means.dims(), log_sigmas.dims(), target.dims()])?;
        let op = LaneMixtureNll { lanes, out_dims };
        Var::custom(Arc::new(op), &[self, means, log_sigmas, target])
    }
}
