//! Negative log-likelihood of independent one-dimensional Gaussian mixtures
//! side by side ("lanes"), forward and backward, fused.
//!
//! The per-dimension mixture of the MDN-RNN (World Models): each row holds
//! `L` independent mixtures of `K` one-dimensional Gaussians, stored
//! component-major as a model's linear head writes them: logits, means and
//! log-σ `[rows, K, L]`, the target `[rows, L]`, one NLL per lane
//! `[rows, L]`. Lane `l` of row `r` is the mixture of
//! [`super::mixture`] with `D = 1` over `logits[r, :, l]`, without
//! permuting the inputs to `[rows, L, K]` first: the reductions over
//! components run across whole lane vectors (contiguous in `l`, so they
//! vectorise), and each exponential or logarithm is one vectorised call
//! over a block of rows ([`eval_or_libm`]).
//!
//! With `std`, large batches split over threads by whole rows; every lane's
//! arithmetic is the same on any split, so the bits do not depend on the
//! thread count.

use super::mixture::{by_blocks, Grads, Inputs};
use super::simd::Isa;
use super::unary::UnaryOp;
use super::vmath::eval_or_libm;
use alloc::vec;
use alloc::vec::Vec;

/// Sizes of a batch of lane mixtures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lanes {
    /// Rows.
    pub rows: usize,
    /// Components per mixture `K`.
    pub k: usize,
    /// Independent mixtures per row `L`.
    pub lanes: usize,
}

/// ½ log 2π.
const HALF_LOG_2PI: f32 = 0.918_938_5;

/// Roughly how many values of `[K, L]` a block of rows holds.
const BLOCK_VALUES: usize = 1024;

impl Lanes {
    fn check(&self, x: &Inputs<'_>) {
        let (r, k, l) = (self.rows, self.k, self.lanes);
        assert!(k > 0 && l > 0, "mixture lanes: K and L must be at least 1");
        assert_eq!(x.logits.len(), r * k * l, "mixture lanes: logits length");
        assert_eq!(x.means.len(), r * k * l, "mixture lanes: means length");
        assert_eq!(
            x.log_sigmas.len(),
            r * k * l,
            "mixture lanes: log_sigmas length"
        );
        assert_eq!(x.target.len(), r * l, "mixture lanes: target length");
    }

    /// Rows per block of the serial loop.
    fn block_rows(&self) -> usize {
        (BLOCK_VALUES / (self.k * self.lanes)).max(1)
    }

    /// Rows per thread's piece, when the batch is large enough to split.
    fn split(&self) -> Option<usize> {
        #[cfg(feature = "std")]
        {
            let work = self.rows * self.k * self.lanes * 40;
            if self.rows >= 2 && super::simd::worth_parallel(work) {
                let pieces = 4 * rayon::current_num_threads();
                return Some(self.rows.div_ceil(pieces));
            }
        }
        None
    }
}

/// A block of rows' intermediates, each `[n, K, L]` or `[n, L]`.
struct Block {
    /// Standardised residuals `(x − μ)/σ`.
    z: Vec<f32>,
    /// `1/σ`.
    inv_sigma: Vec<f32>,
    /// Mixture weights `π = softmax over K of the logits`.
    weights: Vec<f32>,
    /// Posteriors `γ` (first the per-component log-likelihoods `ℓ`).
    posterior: Vec<f32>,
    /// Per lane: the NLL.
    nll: Vec<f32>,
    scratch: Vec<f32>,
    /// Per lane: a maximum over K.
    maxes: Vec<f32>,
    /// Per lane: a sum over K.
    sums: Vec<f32>,
    /// Per lane: its logarithm.
    log_sums: Vec<f32>,
}

/// `m[l] = max over components of v[c, l]` for one row (NaN if any is).
fn lane_max(k: usize, v: &[f32], m: &mut [f32]) {
    m.fill(f32::NEG_INFINITY);
    for row in v.chunks_exact(m.len()).take(k) {
        for (mj, &x) in m.iter_mut().zip(row) {
            // A NaN, once taken, stays: nothing compares above it.
            if !mj.is_nan() && (x > *mj || x.is_nan()) {
                *mj = x;
            }
        }
    }
}

/// `s[l] = Σ over components of v[c, l]` for one row, in component order.
fn lane_sum(v: &[f32], s: &mut [f32]) {
    s.fill(0.0);
    for row in v.chunks_exact(s.len()) {
        for (sj, &x) in s.iter_mut().zip(row) {
            *sj += x;
        }
    }
}

impl Block {
    fn new(m: &Lanes) -> Block {
        let n = m.block_rows();
        let (kl, l) = (n * m.k * m.lanes, n * m.lanes);
        Block {
            z: vec![0.0; kl],
            inv_sigma: vec![0.0; kl],
            weights: vec![0.0; kl],
            posterior: vec![0.0; kl],
            nll: vec![0.0; l],
            scratch: vec![0.0; kl],
            maxes: vec![0.0; l],
            sums: vec![0.0; l],
            log_sums: vec![0.0; l],
        }
    }

    /// Evaluates rows `first..first + n` (n ≤ the block's rows) of `x`.
    fn run(&mut self, isa: Isa, m: &Lanes, x: &Inputs<'_>, first: usize, n: usize) {
        let (k, l) = (m.k, m.lanes);
        let kl = k * l;
        let all = first * kl..(first + n) * kl;
        let (ls, mu, lg) = (
            &x.log_sigmas[all.clone()],
            &x.means[all.clone()],
            &x.logits[all],
        );
        let t = &x.target[first * l..(first + n) * l];
        let (nkl, nl) = (n * kl, n * l);
        // 1/σ = exp(−log σ).
        let (scratch, inv) = (&mut self.scratch[..nkl], &mut self.inv_sigma[..nkl]);
        for (s, &v) in scratch.iter_mut().zip(ls) {
            *s = -v;
        }
        eval_or_libm(UnaryOp::Exp, isa, scratch, inv);
        // Per component: −½ z² − log σ − ½ log 2π, into `posterior`.
        let (z, ell) = (&mut self.z[..nkl], &mut self.posterior[..nkl]);
        for (r, tr) in t.chunks_exact(l).enumerate() {
            for c in 0..k {
                let at = r * kl + c * l;
                for (j, &tj) in tr.iter().enumerate() {
                    let zz = (tj - mu[at + j]) * inv[at + j];
                    z[at + j] = zz;
                    ell[at + j] = -0.5 * zz * zz - ls[at + j] - HALF_LOG_2PI;
                }
            }
        }
        // π = softmax over K of the logits, and its log-normaliser.
        let (maxes, sums) = (&mut self.maxes[..nl], &mut self.sums[..nl]);
        for (r, mx) in maxes.chunks_exact_mut(l).enumerate() {
            let row = &lg[r * kl..(r + 1) * kl];
            lane_max(k, row, mx);
            for (s, &v) in scratch[r * kl..(r + 1) * kl].iter_mut().zip(row) {
                *s = v;
            }
            for cs in scratch[r * kl..(r + 1) * kl].chunks_exact_mut(l) {
                for (s, &mj) in cs.iter_mut().zip(mx.iter()) {
                    *s -= mj;
                }
            }
        }
        let weights = &mut self.weights[..nkl];
        eval_or_libm(UnaryOp::Exp, isa, scratch, weights);
        for (r, s) in sums.chunks_exact_mut(l).enumerate() {
            lane_sum(&weights[r * kl..(r + 1) * kl], s);
        }
        let log_sums = &mut self.log_sums[..nl];
        eval_or_libm(UnaryOp::Log, isa, sums, log_sums);
        // ℓ = log π + log N, and π normalised.
        for r in 0..n {
            let lanes = r * l..(r + 1) * l;
            for c in 0..k {
                let at = r * kl + c * l;
                for j in 0..l {
                    let lse = maxes[lanes.start + j] + log_sums[lanes.start + j];
                    ell[at + j] += lg[at + j] - lse;
                    weights[at + j] *= 1.0 / sums[lanes.start + j];
                }
            }
        }
        // γ = softmax over K of ℓ and nll = −log Σ exp ℓ.
        for (r, mx) in maxes.chunks_exact_mut(l).enumerate() {
            let row = &ell[r * kl..(r + 1) * kl];
            lane_max(k, row, mx);
            for (cs, cr) in scratch[r * kl..(r + 1) * kl]
                .chunks_exact_mut(l)
                .zip(row.chunks_exact(l))
            {
                for ((s, &v), &mj) in cs.iter_mut().zip(cr).zip(mx.iter()) {
                    *s = v - mj;
                }
            }
        }
        eval_or_libm(UnaryOp::Exp, isa, scratch, ell);
        for (r, s) in sums.chunks_exact_mut(l).enumerate() {
            lane_sum(&ell[r * kl..(r + 1) * kl], s);
        }
        eval_or_libm(UnaryOp::Log, isa, sums, log_sums);
        for r in 0..n {
            for c in 0..k {
                let at = r * kl + c * l;
                for j in 0..l {
                    ell[at + j] *= 1.0 / sums[r * l + j];
                }
            }
        }
        for ((o, &mx), &lsum) in self.nll[..nl]
            .iter_mut()
            .zip(maxes.iter())
            .zip(log_sums.iter())
        {
            // No component has any mass (ℓ all −∞): the likelihood is 0.
            *o = if mx == f32::NEG_INFINITY {
                f32::INFINITY
            } else {
                -(mx + lsum)
            };
        }
    }
}

/// Writes the negative log-likelihood of each lane into `out [rows, L]`.
///
/// # Panics
/// If a slice has the wrong length, or K or L is 0.
///
/// ```
/// use ferrograd_tensor::kernels::mixture::Inputs;
/// use ferrograd_tensor::kernels::mixture_lanes::{nll_forward, Lanes};
/// use ferrograd_tensor::kernels::simd::Isa;
/// // Two lanes of one standard normal each, at their means: ½ log 2π.
/// let zeros = [0.0f32; 2];
/// let x = Inputs { logits: &zeros, means: &zeros, log_sigmas: &zeros, target: &zeros };
/// let mut out = [0.0f32; 2];
/// nll_forward(Isa::Scalar, Lanes { rows: 1, k: 1, lanes: 2 }, x, &mut out);
/// assert!((out[0] - 0.918_938_5).abs() < 1e-6 && out[0] == out[1]);
/// ```
pub fn nll_forward(isa: Isa, m: Lanes, x: Inputs<'_>, out: &mut [f32]) {
    m.check(&x);
    assert_eq!(out.len(), m.rows * m.lanes, "mixture lanes: output length");
    if m.rows == 0 {
        return;
    }
    let l = m.lanes;
    let new = || Block::new(&m);
    by_blocks(
        m.rows,
        m.block_rows(),
        m.split(),
        new,
        &mut [out],
        &[l],
        |block, first, n, outs| {
            block.run(isa, &m, &x, first, n);
            outs[0].copy_from_slice(&block.nll[..n * l]);
        },
    );
}

/// The gradients of `Σ g · nll` with respect to every input, from the
/// inputs and the output gradient `g [rows, L]`.
///
/// # Panics
/// If a slice has the wrong length, or K or L is 0.
pub fn nll_backward(isa: Isa, m: Lanes, x: Inputs<'_>, g: &[f32], out: Grads<'_>) {
    m.check(&x);
    let (k, l) = (m.k, m.lanes);
    let kl = k * l;
    assert_eq!(g.len(), m.rows * l, "mixture lanes: gradient length");
    assert!(
        out.logits.len() == m.rows * kl
            && out.means.len() == m.rows * kl
            && out.log_sigmas.len() == m.rows * kl
            && out.target.len() == m.rows * l,
        "mixture lanes: gradient lengths"
    );
    if m.rows == 0 {
        return;
    }
    let mut outs = [out.logits, out.means, out.log_sigmas, out.target];
    let (new, per_row) = (|| Block::new(&m), [kl, kl, kl, l]);
    by_blocks(
        m.rows,
        m.block_rows(),
        m.split(),
        new,
        &mut outs,
        &per_row,
        |block, first, n, outs| {
            block.run(isa, &m, &x, first, n);
            let [dl, dm, ds, dt] = outs else {
                unreachable!("four outputs")
            };
            dt.fill(0.0);
            for r in 0..n {
                let gr = &g[(first + r) * l..(first + r + 1) * l];
                let dtr = &mut dt[r * l..(r + 1) * l];
                for c in 0..k {
                    let at = r * kl + c * l;
                    for (j, (&gj, dtj)) in gr.iter().zip(dtr.iter_mut()).enumerate() {
                        let i = at + j;
                        let gamma = block.posterior[i];
                        dl[i] = gj * (block.weights[i] - gamma);
                        let w = gj * gamma;
                        let z = block.z[i];
                        // ∂ℓ/∂μ = z/σ and ∂ℓ/∂log σ = z² − 1; ∂nll/∂ℓ_k = −γ_k.
                        let dmu = -w * z * block.inv_sigma[i];
                        dm[i] = dmu;
                        ds[i] = -w * (z * z - 1.0);
                        *dtj -= dmu;
                    }
                }
            }
        },
    );
}

#[cfg(test)]
mod tests;
