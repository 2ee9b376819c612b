//! The negative log-likelihood of a mixture of diagonal Gaussians, fused:
//! per row, `−log Σ_k softmax(logits)_k · Π_d N(x_d; μ_kd, σ_kd²)` with
//! `σ = exp(log σ)` ([`nll_forward`]), and its vector-Jacobian product for
//! every input in one pass ([`nll_backward`]).
//!
//! Row `r` has `K` logits, `K·D` means and log-σ (component-major) and `D`
//! targets. The value is the log-sum-exp over `k` of
//! `ℓ_k = log_softmax(logits)_k + Σ_d (−½ z_kd² − log σ_kd − ½ log 2π)`,
//! `z = (x − μ)/σ`, so no density underflows. Rows run in blocks whose
//! exponentials and logarithms go through [`vmath`] in one call each (libm
//! for [`Isa::Scalar`]); large inputs split over threads by whole blocks, so
//! a row's value does not depend on the split.

use super::simd::Isa;
use super::unary::UnaryOp;
use super::vmath::eval_or_libm;
use alloc::vec;
use alloc::vec::Vec;

/// The sizes of a batch of mixtures: `rows` mixtures of `k` components in
/// `d` dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mixture {
    /// Number of mixtures (rows).
    pub rows: usize,
    /// Components per mixture `K`.
    pub k: usize,
    /// Dimensions per component `D`.
    pub d: usize,
}

/// The inputs of a batch of mixtures (row-major, see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// `[rows, K]` mixture logits.
    pub logits: &'a [f32],
    /// `[rows, K, D]` component means.
    pub means: &'a [f32],
    /// `[rows, K, D]` component log standard deviations.
    pub log_sigmas: &'a [f32],
    /// `[rows, D]` the points whose likelihood is taken.
    pub target: &'a [f32],
}

/// The gradients [`nll_backward`] writes, laid out as [`Inputs`].
#[derive(Debug)]
pub struct Grads<'a> {
    /// Of the logits.
    pub logits: &'a mut [f32],
    /// Of the means.
    pub means: &'a mut [f32],
    /// Of the log standard deviations.
    pub log_sigmas: &'a mut [f32],
    /// Of the target.
    pub target: &'a mut [f32],
}

/// Rows per block: one vectorised call per block and quantity.
const BLOCK: usize = 64;

impl Mixture {
    fn check(&self, x: &Inputs<'_>) {
        let (r, k, d) = (self.rows, self.k, self.d);
        assert!(k > 0 && d > 0, "mixture: K and D must be at least 1");
        assert_eq!(x.logits.len(), r * k, "mixture: logits length");
        assert_eq!(x.means.len(), r * k * d, "mixture: means length");
        assert_eq!(x.log_sigmas.len(), r * k * d, "mixture: log_sigmas length");
        assert_eq!(x.target.len(), r * d, "mixture: target length");
    }

    /// The rows of block-aligned pieces for threads, when the batch is
    /// large enough to split.
    fn split(&self) -> Option<usize> {
        #[cfg(feature = "std")]
        {
            let work = self.rows * (self.k * self.d + self.k) * 32;
            if self.rows >= 2 * BLOCK && super::simd::worth_parallel(work) {
                let pieces = 4 * rayon::current_num_threads();
                return Some(self.rows.div_ceil(pieces).div_ceil(BLOCK) * BLOCK);
            }
        }
        None
    }
}

/// What a block's forward pass leaves for the backward pass: per row and
/// component the standardised residuals `z`, `1/σ`, the mixture weights
/// `π = softmax(logits)` and the posteriors `γ = softmax(ℓ)`; per row the
/// negative log-likelihood.
struct Block {
    z: Vec<f32>,
    inv_sigma: Vec<f32>,
    weights: Vec<f32>,
    posterior: Vec<f32>,
    nll: Vec<f32>,
    scratch: Vec<f32>,
    sums: Vec<f32>,
}

impl Block {
    fn new(m: &Mixture) -> Block {
        let (kd, k) = (m.k * m.d, m.k);
        Block {
            z: vec![0.0; BLOCK * kd],
            inv_sigma: vec![0.0; BLOCK * kd],
            weights: vec![0.0; BLOCK * k],
            posterior: vec![0.0; BLOCK * k],
            nll: vec![0.0; BLOCK],
            scratch: vec![0.0; BLOCK * kd.max(k)],
            sums: vec![0.0; BLOCK],
        }
    }

    /// Evaluates rows `first..first + n` (n ≤ BLOCK) of `x`.
    fn run(&mut self, isa: Isa, m: &Mixture, x: &Inputs<'_>, first: usize, n: usize) {
        let (k, d) = (m.k, m.d);
        let kd = k * d;
        let half_log_2pi = 0.918_938_5_f32 * d as f32;
        let (ls, mu) = (
            &x.log_sigmas[first * kd..(first + n) * kd],
            &x.means[first * kd..(first + n) * kd],
        );
        let t = &x.target[first * d..(first + n) * d];
        let lg = &x.logits[first * k..(first + n) * k];
        // 1/σ = exp(−log σ).
        let (scratch, inv) = (&mut self.scratch[..n * kd], &mut self.inv_sigma[..n * kd]);
        for (s, &v) in scratch.iter_mut().zip(ls) {
            *s = -v;
        }
        eval_or_libm(UnaryOp::Exp, isa, scratch, inv);
        // Per component Σ_d (−½ z² − log σ) − D·½ log 2π, into `posterior`.
        let (z, ell) = (&mut self.z[..n * kd], &mut self.posterior[..n * k]);
        for (i, e) in ell.iter_mut().enumerate() {
            let (r, at) = (i / k, i * d);
            let mut acc = 0.0f32;
            for j in 0..d {
                let zz = (t[r * d + j] - mu[at + j]) * inv[at + j];
                z[at + j] = zz;
                acc += -0.5 * zz * zz - ls[at + j];
            }
            *e = acc - half_log_2pi;
        }
        // π = softmax(logits), and log Σ exp(logits − max) per row.
        softmax_rows(
            isa,
            k,
            lg,
            &mut self.scratch[..n * k],
            &mut self.weights[..n * k],
        );
        let sums = &mut self.sums[..n];
        for (s, w) in sums.iter_mut().zip(self.weights.chunks(k)) {
            *s = w.iter().sum();
        }
        for w in self.weights[..n * k].chunks_mut(k).zip(sums.iter()) {
            let inv_sum = 1.0 / *w.1;
            w.0.iter_mut().for_each(|v| *v *= inv_sum);
        }
        let mut log_sums = [0.0f32; BLOCK];
        eval_or_libm(UnaryOp::Log, isa, sums, &mut log_sums[..n]);
        // ℓ_k = log π_k + the densities' logarithm.
        for (r, e) in ell.chunks_mut(k).enumerate() {
            let l = &lg[r * k..(r + 1) * k];
            let lse = row_max(l) + log_sums[r];
            for (ej, &lj) in e.iter_mut().zip(l) {
                *ej += lj - lse;
            }
        }
        // γ = softmax(ℓ) and nll = −log Σ exp ℓ.
        let mut maxes = [0.0f32; BLOCK];
        for (mx, e) in maxes.iter_mut().zip(ell.chunks(k)) {
            *mx = row_max(e);
        }
        let scratch = &mut self.scratch[..n * k];
        for (i, s) in scratch.iter_mut().enumerate() {
            *s = ell[i] - maxes[i / k];
        }
        eval_or_libm(UnaryOp::Exp, isa, scratch, ell);
        for (s, e) in sums.iter_mut().zip(ell.chunks(k)) {
            *s = e.iter().sum();
        }
        eval_or_libm(UnaryOp::Log, isa, sums, &mut log_sums[..n]);
        for r in 0..n {
            let inv_sum = 1.0 / sums[r];
            ell[r * k..(r + 1) * k]
                .iter_mut()
                .for_each(|v| *v *= inv_sum);
            // No component has any mass (ℓ all −∞): the likelihood is 0.
            self.nll[r] = if maxes[r] == f32::NEG_INFINITY {
                f32::INFINITY
            } else {
                -(maxes[r] + log_sums[r])
            };
        }
    }
}

/// The largest value of a row (NaN if it holds one, −∞ if empty).
fn row_max(row: &[f32]) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for &v in row {
        if v > m || v.is_nan() {
            m = v;
            if v.is_nan() {
                break;
            }
        }
    }
    m
}

/// `out = exp(x − max of its row)` per row of `k` (unnormalised).
fn softmax_rows(isa: Isa, k: usize, x: &[f32], scratch: &mut [f32], out: &mut [f32]) {
    for (s, row) in scratch.chunks_mut(k).zip(x.chunks(k)) {
        let m = row_max(row);
        for (sj, &v) in s.iter_mut().zip(row) {
            *sj = v - m;
        }
    }
    eval_or_libm(UnaryOp::Exp, isa, scratch, out);
}

/// Runs `f(block, first_row, rows, outputs)` over blocks of at most `step`
/// of the `rows`, cut into pieces of `split` rows over threads when it is
/// `Some`; each piece gets a fresh block from `new`, and `outs[i]` holds
/// `per_row[i]` values a row. Shared by the row and lane kernels.
pub(super) fn by_blocks<B, F>(
    rows: usize,
    step: usize,
    split: Option<usize>,
    new: impl Fn() -> B + Sync + Send,
    outs: &mut [&mut [f32]],
    per_row: &[usize],
    f: F,
) where
    F: Fn(&mut B, usize, usize, &mut [&mut [f32]]) + Sync + Send,
{
    let serial = |first: usize, rows: usize, outs: &mut [&mut [f32]]| {
        let mut block = new();
        let mut at = 0;
        while at < rows {
            let n = step.min(rows - at);
            let mut views: Vec<&mut [f32]> = outs
                .iter_mut()
                .zip(per_row)
                .map(|(o, &w)| &mut o[at * w..(at + n) * w])
                .collect();
            f(&mut block, first + at, n, &mut views);
            at += n;
        }
    };
    #[cfg(feature = "std")]
    if let Some(piece) = split {
        use rayon::prelude::*;
        // Cut every output into the same pieces of whole rows.
        let count = rows.div_ceil(piece);
        let mut cuts: Vec<Vec<&mut [f32]>> = (0..count).map(|_| Vec::new()).collect();
        for (o, &w) in outs.iter_mut().zip(per_row) {
            for (c, chunk) in cuts.iter_mut().zip(o.chunks_mut(piece * w)) {
                c.push(chunk);
            }
        }
        cuts.into_par_iter().enumerate().for_each(|(i, mut cut)| {
            let first = i * piece;
            serial(first, piece.min(rows - first), &mut cut)
        });
        return;
    }
    #[cfg(not(feature = "std"))]
    let _ = split;
    serial(0, rows, outs)
}

/// Writes the negative log-likelihood of each row into `out [rows]`.
///
/// # Panics
/// If a slice has the wrong length, or K or D is 0.
pub fn nll_forward(isa: Isa, m: Mixture, x: Inputs<'_>, out: &mut [f32]) {
    m.check(&x);
    assert_eq!(out.len(), m.rows, "mixture: output length");
    let new = || Block::new(&m);
    by_blocks(
        m.rows,
        BLOCK,
        m.split(),
        new,
        &mut [out],
        &[1],
        |block, first, n, outs| {
            block.run(isa, &m, &x, first, n);
            outs[0].copy_from_slice(&block.nll[..n]);
        },
    );
}

/// The gradients of `Σ_r g_r · nll_r` with respect to every input, from the
/// inputs and the output gradient `g [rows]`.
///
/// # Panics
/// If a slice has the wrong length, or K or D is 0.
pub fn nll_backward(isa: Isa, m: Mixture, x: Inputs<'_>, g: &[f32], out: Grads<'_>) {
    m.check(&x);
    let (k, d) = (m.k, m.d);
    let kd = k * d;
    assert_eq!(g.len(), m.rows, "mixture: gradient length");
    assert!(
        out.logits.len() == m.rows * k
            && out.means.len() == m.rows * kd
            && out.log_sigmas.len() == m.rows * kd
            && out.target.len() == m.rows * d,
        "mixture: gradient lengths"
    );
    let mut outs = [out.logits, out.means, out.log_sigmas, out.target];
    let (new, per_row) = (|| Block::new(&m), [k, kd, kd, d]);
    by_blocks(
        m.rows,
        BLOCK,
        m.split(),
        new,
        &mut outs,
        &per_row,
        |block, first, n, outs| {
            block.run(isa, &m, &x, first, n);
            let [dl, dm, ds, dt] = outs else {
                unreachable!("four outputs")
            };
            for r in 0..n {
                let gr = g[first + r];
                let dtr = &mut dt[r * d..(r + 1) * d];
                dtr.fill(0.0);
                for c in 0..k {
                    let i = r * k + c;
                    let gamma = block.posterior[i];
                    dl[i] = gr * (block.weights[i] - gamma);
                    let w = gr * gamma;
                    for (j, dtj) in dtr.iter_mut().enumerate() {
                        let at = i * d + j;
                        let z = block.z[at];
                        // ∂ℓ/∂μ = z/σ and ∂ℓ/∂log σ = z² − 1; ∂nll/∂ℓ_k = −γ_k.
                        let dmu = -w * z * block.inv_sigma[at];
                        dm[at] = dmu;
                        ds[at] = -w * (z * z - 1.0);
                        *dtj -= dmu;
                    }
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32, scale: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                scale * ((s % 20_001) as f32 / 10_000.0 - 1.0)
            })
            .collect()
    }

    /// Logits, means, log-σ and targets of `m`, from seeds `seed..seed + 4`.
    fn values(m: Mixture, seed: u32) -> [Vec<f32>; 4] {
        let kd = m.rows * m.k * m.d;
        [
            data(m.rows * m.k, seed, 3.0),
            data(kd, seed + 1, 2.0),
            data(kd, seed + 2, 1.0),
            data(m.rows * m.d, seed + 3, 2.0),
        ]
    }

    fn inputs(v: &[Vec<f32>; 4]) -> Inputs<'_> {
        Inputs {
            logits: &v[0],
            means: &v[1],
            log_sigmas: &v[2],
            target: &v[3],
        }
    }

    /// The definition in f64, one row at a time.
    fn reference(m: Mixture, x: &Inputs<'_>) -> Vec<f64> {
        let (k, d) = (m.k, m.d);
        (0..m.rows)
            .map(|r| {
                let l: Vec<f64> = (0..k).map(|c| x.logits[r * k + c] as f64).collect();
                let mx = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = mx + l.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
                let ell: Vec<f64> = (0..k)
                    .map(|c| {
                        let mut a = l[c] - lse;
                        for j in 0..d {
                            let at = (r * k + c) * d + j;
                            let ls = x.log_sigmas[at] as f64;
                            let z = (x.target[r * d + j] as f64 - x.means[at] as f64) / ls.exp();
                            a += -0.5 * z * z - ls - 0.5 * (2.0 * core::f64::consts::PI).ln();
                        }
                        a
                    })
                    .collect();
                let me = ell.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                -(me + ell.iter().map(|v| (v - me).exp()).sum::<f64>().ln())
            })
            .collect()
    }

    #[test]
    fn values_match_the_definition_on_every_isa() {
        let m = Mixture {
            rows: 131,
            k: 5,
            d: 3,
        };
        let v = values(m, 1);
        let x = inputs(&v);
        let want = reference(m, &x);
        for isa in [Isa::Scalar, super::super::simd::supported()] {
            let mut out = vec![0.0; m.rows];
            nll_forward(isa, m, x, &mut out);
            for (o, w) in out.iter().zip(&want) {
                assert!(
                    (*o as f64 - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{isa:?}: {o} vs {w}"
                );
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences_of_the_definition() {
        let m = Mixture {
            rows: 3,
            k: 3,
            d: 2,
        };
        let mut v = [
            data(m.rows * m.k, 5, 1.0),
            data(m.rows * m.k * m.d, 6, 1.0),
            data(m.rows * m.k * m.d, 7, 0.5),
            data(m.rows * m.d, 8, 1.0),
        ];
        let g = [0.7f32, -1.3, 2.0];
        let mut grads: Vec<Vec<f32>> = v.iter().map(|a| vec![0.0; a.len()]).collect();
        {
            let [a, b, c, e] = &mut grads[..] else {
                unreachable!()
            };
            let x = Inputs {
                logits: &v[0],
                means: &v[1],
                log_sigmas: &v[2],
                target: &v[3],
            };
            nll_backward(
                Isa::Scalar,
                m,
                x,
                &g,
                Grads {
                    logits: a,
                    means: b,
                    log_sigmas: c,
                    target: e,
                },
            );
        }
        let loss = |v: &[Vec<f32>; 4]| -> f64 {
            let x = Inputs {
                logits: &v[0],
                means: &v[1],
                log_sigmas: &v[2],
                target: &v[3],
            };
            reference(m, &x)
                .iter()
                .zip(&g)
                .map(|(a, &b)| a * b as f64)
                .sum()
        };
        for which in 0..4 {
            for i in 0..v[which].len() {
                let h = 1e-2f32;
                let old = v[which][i];
                v[which][i] = old + h;
                let up = loss(&v);
                v[which][i] = old - h;
                let down = loss(&v);
                v[which][i] = old;
                let fd = (up - down) / (2.0 * h as f64);
                let got = grads[which][i] as f64;
                assert!(
                    (got - fd).abs() <= 2e-3 * fd.abs().max(1.0),
                    "input {which}[{i}]: {got} vs {fd}"
                );
            }
        }
    }

    #[test]
    fn split_over_threads_matches_one_thread_bit_for_bit() {
        let m = Mixture {
            rows: 4000,
            k: 5,
            d: 32,
        };
        let v = values(m, 9);
        let x = inputs(&v);
        let g = data(m.rows, 13, 1.0);
        let isa = super::super::simd::supported();
        let run = |threads: usize| {
            crate::kernels::test_util::on_threads(threads, || {
                let mut out = vec![0.0; m.rows];
                nll_forward(isa, m, x, &mut out);
                let mut gs = v.each_ref().map(|a| vec![0.0; a.len()]);
                let [a, b, c, e] = &mut gs;
                nll_backward(
                    isa,
                    m,
                    x,
                    &g,
                    Grads {
                        logits: a,
                        means: b,
                        log_sigmas: c,
                        target: e,
                    },
                );
                (out, gs)
            })
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn a_component_without_mass_gives_infinity_not_nan() {
        let m = Mixture {
            rows: 1,
            k: 2,
            d: 1,
        };
        let x = Inputs {
            logits: &[0.0, 0.0],
            means: &[0.0, 0.0],
            log_sigmas: &[-60.0, -60.0],
            target: &[1e30],
        };
        let mut out = [0.0];
        nll_forward(Isa::Scalar, m, x, &mut out);
        assert_eq!(out[0], f32::INFINITY);
    }
}
