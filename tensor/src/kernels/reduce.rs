//! Reductions along one axis, and softmax.
//!
//! A tensor reduced along one axis is viewed as `[outer, n, inner]`: `n` is
//! the reduced axis, `outer` the product of the dimensions before it and
//! `inner` of those after it. Outputs are `[outer, inner]` (reductions) or
//! `[outer, n, inner]` (softmax).

use alloc::vec;

fn check(x: &[f32], outer: usize, n: usize, inner: usize, out: usize, want: usize) {
    assert_eq!(x.len(), outer * n * inner, "reduce: input length");
    assert_eq!(out, want, "reduce: output length");
}

/// Sum of a contiguous slice, with eight partial sums (vectorises, and is
/// more accurate than one running sum).
pub fn sum_slice(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for v in chunks.remainder() {
        s += v;
    }
    s
}

/// `out[o, i] = Σ_j x[o, j, i]`.
pub fn sum_axis(x: &[f32], outer: usize, n: usize, inner: usize, out: &mut [f32]) {
    check(x, outer, n, inner, out.len(), outer * inner);
    if inner == 1 {
        for (o, row) in out.iter_mut().zip(x.chunks_exact(n.max(1))) {
            *o = if n == 0 { 0.0 } else { sum_slice(row) };
        }
        if n == 0 {
            out.fill(0.0);
        }
        return;
    }
    out.fill(0.0);
    for o in 0..outer {
        let dst = &mut out[o * inner..(o + 1) * inner];
        for j in 0..n {
            let src = &x[(o * n + j) * inner..(o * n + j + 1) * inner];
            for (d, s) in dst.iter_mut().zip(src) {
                *d += s;
            }
        }
    }
}

/// Applies `pick(best, candidate) -> bool` (true: candidate wins) along the axis,
/// writing the winning values and, if asked, their indices.
fn select_axis(
    x: &[f32],
    outer: usize,
    n: usize,
    inner: usize,
    out: &mut [f32],
    mut idx: Option<&mut [usize]>,
    wins: impl Fn(f32, f32) -> bool,
) {
    check(x, outer, n, inner, out.len(), outer * inner);
    assert!(n > 0, "reduce: cannot take an extremum over an empty axis");
    for o in 0..outer {
        for i in 0..inner {
            let mut best = x[o * n * inner + i];
            let mut at = 0;
            for j in 1..n {
                let v = x[(o * n + j) * inner + i];
                if wins(best, v) {
                    best = v;
                    at = j;
                }
            }
            out[o * inner + i] = best;
            if let Some(ix) = idx.as_deref_mut() {
                ix[o * inner + i] = at;
            }
        }
    }
}

/// `out[o, i] = max_j x[o, j, i]` (NaN wins); `n` must be positive.
pub fn max_axis(x: &[f32], outer: usize, n: usize, inner: usize, out: &mut [f32]) {
    select_axis(x, outer, n, inner, out, None, |b, v| {
        v > b || (v.is_nan() && !b.is_nan())
    })
}

/// `out[o, i] = min_j x[o, j, i]` (NaN wins); `n` must be positive.
pub fn min_axis(x: &[f32], outer: usize, n: usize, inner: usize, out: &mut [f32]) {
    select_axis(x, outer, n, inner, out, None, |b, v| {
        v < b || (v.is_nan() && !b.is_nan())
    })
}

/// Index of the first maximum along the axis; `n` must be positive.
pub fn argmax_axis(x: &[f32], outer: usize, n: usize, inner: usize, out: &mut [usize]) {
    let mut vals = vec![0.0; outer * inner];
    select_axis(x, outer, n, inner, &mut vals, Some(out), |b, v| {
        v > b || (v.is_nan() && !b.is_nan())
    })
}

/// Index of the first minimum along the axis; `n` must be positive.
pub fn argmin_axis(x: &[f32], outer: usize, n: usize, inner: usize, out: &mut [usize]) {
    let mut vals = vec![0.0; outer * inner];
    select_axis(x, outer, n, inner, &mut vals, Some(out), |b, v| {
        v < b || (v.is_nan() && !b.is_nan())
    })
}

/// `out[o, i] = log Σ_j exp(x[o, j, i])`, computed stably (shifted by the maximum).
/// An empty axis gives −∞; an all −∞ slice gives −∞.
pub fn logsumexp_axis(x: &[f32], outer: usize, n: usize, inner: usize, out: &mut [f32]) {
    check(x, outer, n, inner, out.len(), outer * inner);
    if inner == 1 && n > 0 && rows::vectorised() {
        rows::each(x, n, out, 1, |row, o| o[0] = rows::logsumexp(row));
        return;
    }
    for o in 0..outer {
        for i in 0..inner {
            out[o * inner + i] = logsumexp_strided(x, o * n * inner + i, n, inner);
        }
    }
}

/// `log Σ_j exp(x[j])` of a contiguous slice, computed stably like
/// [`logsumexp_axis`] (same order of operations, so the same bits) and
/// without allocating: the form the embedded runtime calls.
pub fn logsumexp_slice(x: &[f32]) -> f32 {
    logsumexp_strided(x, 0, x.len(), 1)
}

/// `log Σ_{j<n} exp(x[start + j·stride])`: −∞ for `n = 0`; a non-finite
/// maximum (NaN, +∞, or −∞ for an all −∞ slice) is returned as is.
fn logsumexp_strided(x: &[f32], start: usize, n: usize, stride: usize) -> f32 {
    if n == 0 {
        return f32::NEG_INFINITY;
    }
    let mut mx = x[start];
    for j in 1..n {
        let v = x[start + j * stride];
        if v > mx || (v.is_nan() && !mx.is_nan()) {
            mx = v;
        }
    }
    if !mx.is_finite() {
        return mx;
    }
    let mut s = 0.0;
    for j in 0..n {
        s += libm::expf(x[start + j * stride] - mx);
    }
    mx + libm::logf(s)
}

/// Softmax along the axis: `out[o, j, i] = exp(x[o, j, i] − m) / Σ_j exp(x[o, j, i] − m)`
/// with `m` the maximum along the axis (so large inputs do not overflow).
pub fn softmax_axis(x: &[f32], outer: usize, n: usize, inner: usize, out: &mut [f32]) {
    check(x, outer, n, inner, out.len(), x.len());
    if n == 0 {
        return;
    }
    if inner == 1 && rows::vectorised() {
        rows::each(x, n, out, n, rows::softmax);
        return;
    }
    let mut m = vec![0.0; outer * inner];
    max_axis(x, outer, n, inner, &mut m);
    for o in 0..outer {
        for i in 0..inner {
            let mx = m[o * inner + i];
            let mut s = 0.0;
            for j in 0..n {
                let at = (o * n + j) * inner + i;
                let e = libm::expf(x[at] - mx);
                out[at] = e;
                s += e;
            }
            let r = 1.0 / s;
            for j in 0..n {
                out[(o * n + j) * inner + i] *= r;
            }
        }
    }
}

/// Log-softmax along the axis: `x − logsumexp(x)` broadcast over the axis.
pub fn log_softmax_axis(x: &[f32], outer: usize, n: usize, inner: usize, out: &mut [f32]) {
    check(x, outer, n, inner, out.len(), x.len());
    if inner == 1 && n > 0 && rows::vectorised() {
        rows::each(x, n, out, n, |row, o| {
            let l = rows::logsumexp(row);
            for (y, &v) in o.iter_mut().zip(row) {
                *y = v - l;
            }
        });
        return;
    }
    let mut lse = vec![0.0; outer * inner];
    logsumexp_axis(x, outer, n, inner, &mut lse);
    for o in 0..outer {
        for j in 0..n {
            let base = (o * n + j) * inner;
            for i in 0..inner {
                out[base + i] = x[base + i] - lse[o * inner + i];
            }
        }
    }
}

/// Softmax and log-sum-exp of contiguous rows on the vectorised `exp`
/// ([`super::vmath`]), used when [`super::simd::active`] is above
/// [`super::simd::Isa::Scalar`]: the same maximum shift, the exponentials
/// of a row taken a chunk at a time, summed in eight partial sums. The
/// scalar path (libm, one running sum) is what every `no_std` target and
/// the embedded runtime compute; these differ from it by rounding only.
mod rows {
    use super::super::simd::{self, Isa};
    use super::super::unary::UnaryOp;
    use super::super::vmath;

    /// Values per chunk: the shifted inputs live on the stack.
    const CHUNK: usize = 256;

    /// Whether the vectorised row path runs (an ISA with a vectorised exp).
    pub(super) fn vectorised() -> bool {
        simd::active() != Isa::Scalar && vmath::vectorised(UnaryOp::Exp)
    }

    /// `f(row, out)` for every `n`-value row of `x` and its `per` values of
    /// `out`; split over rayon by whole rows when the work pays for it
    /// (each row is independent, so the results are the same bits).
    pub(super) fn each(
        x: &[f32],
        n: usize,
        out: &mut [f32],
        per: usize,
        f: impl Fn(&[f32], &mut [f32]) + Sync + Send,
    ) {
        #[cfg(feature = "std")]
        if simd::worth_parallel(x.len() * 8) {
            use rayon::prelude::*;
            let rows = x.len() / n;
            let group = rows.div_ceil(4 * rayon::current_num_threads()).max(1);
            x.par_chunks(group * n)
                .zip(out.par_chunks_mut(group * per))
                .for_each(|(xs, os)| {
                    for (row, o) in xs.chunks_exact(n).zip(os.chunks_exact_mut(per)) {
                        f(row, o);
                    }
                });
            return;
        }
        for (row, o) in x.chunks_exact(n).zip(out.chunks_exact_mut(per)) {
            f(row, o);
        }
    }

    /// The maximum of a non-empty row (NaN wins, as in the scalar code).
    fn max(row: &[f32]) -> f32 {
        let mut mx = row[0];
        for &v in &row[1..] {
            if v > mx || (v.is_nan() && !mx.is_nan()) {
                mx = v;
            }
        }
        mx
    }

    /// `out[j] = exp(row[j] − mx)`, returning Σ out.
    fn shifted_exp(row: &[f32], mx: f32, out: &mut [f32]) -> f32 {
        let isa = simd::active();
        let mut shifted = [0.0f32; CHUNK];
        let mut sum = 0.0;
        for (r, o) in row.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            let t = &mut shifted[..r.len()];
            for (d, &v) in t.iter_mut().zip(r) {
                *d = v - mx;
            }
            if !vmath::eval(UnaryOp::Exp, isa, t, o) {
                for (d, &v) in o.iter_mut().zip(t.iter()) {
                    *d = libm::expf(v);
                }
            }
            sum += super::sum_slice(o);
        }
        sum
    }

    /// `log Σ exp(row)` of a non-empty row; a non-finite maximum is
    /// returned as is (as the scalar code does).
    pub(super) fn logsumexp(row: &[f32]) -> f32 {
        let mx = max(row);
        if !mx.is_finite() {
            return mx;
        }
        let mut scratch = [0.0f32; CHUNK];
        let mut sum = 0.0;
        for r in row.chunks(CHUNK) {
            sum += shifted_exp(r, mx, &mut scratch[..r.len()]);
        }
        mx + libm::logf(sum)
    }

    /// Softmax of a row into `out` (same length).
    pub(super) fn softmax(row: &[f32], out: &mut [f32]) {
        if row.is_empty() {
            return;
        }
        let sum = shifted_exp(row, max(row), out);
        let r = 1.0 / sum;
        for v in out.iter_mut() {
            *v *= r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::simd::{self, Isa};
    use alloc::vec::Vec;

    /// Rows of `n` values: smooth, large, with −∞ entries, all −∞, a NaN.
    fn awkward_rows(n: usize) -> Vec<f32> {
        let mut x: Vec<f32> = (0..7 * n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.37)
            .collect();
        for v in &mut x[n..2 * n] {
            *v *= 300.0; // up to ±5,500: the shift must keep exp finite
        }
        x[2 * n] = f32::NEG_INFINITY;
        x[3 * n..4 * n].fill(f32::NEG_INFINITY);
        x[4 * n + n / 2] = f32::NAN;
        x[5 * n + n / 3] = f32::INFINITY;
        x
    }

    /// Runs `f` on the scalar path (retrying if another test changed the
    /// forced level meanwhile) and then on the active one.
    fn both_paths(f: impl Fn() -> Vec<f32>) -> (Vec<f32>, Vec<f32>) {
        let scalar = loop {
            simd::force(Some(Isa::Scalar));
            let got = f();
            if simd::active() == Isa::Scalar {
                break got;
            }
        };
        simd::force(None);
        (scalar, f())
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        for (i, (&p, &q)) in a.iter().zip(b).enumerate() {
            let ok = (p.is_nan() && q.is_nan())
                || p == q
                || (p - q).abs() <= 16.0 * f32::EPSILON * p.abs().max(q.abs()).max(1e-30);
            assert!(ok, "{what}[{i}]: scalar {p} against vectorised {q}");
        }
    }

    /// Rows split over threads give each row's serial bits.
    #[test]
    fn split_rows_equal_serial_rows() {
        let (rows_n, n) = (300, 300);
        let x: Vec<f32> = (0..rows_n * n)
            .map(|i| ((i * 7919 % 997) as f32) * 0.01 - 5.0)
            .collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let mut sm = alloc::vec![0.0; x.len()];
        let mut lse = alloc::vec![0.0; rows_n];
        pool.install(|| {
            softmax_axis(&x, rows_n, n, 1, &mut sm);
            logsumexp_axis(&x, rows_n, n, 1, &mut lse);
        });
        if !rows::vectorised() {
            return; // the scalar path does not split
        }
        for r in 0..rows_n {
            let row = &x[r * n..(r + 1) * n];
            let mut want = alloc::vec![0.0; n];
            rows::softmax(row, &mut want);
            assert_eq!(&sm[r * n..(r + 1) * n], &want[..], "softmax row {r}");
            assert_eq!(
                lse[r].to_bits(),
                rows::logsumexp(row).to_bits(),
                "logsumexp row {r}"
            );
        }
    }

    #[test]
    fn vectorised_rows_match_the_scalar_kernels() {
        for n in [1, 5, 32, 300, 700] {
            let x = awkward_rows(n);
            let run = |k: fn(&[f32], usize, usize, usize, &mut [f32]), len: usize| {
                let x = &x;
                move || {
                    let mut out = alloc::vec![0.0; len];
                    k(x, 7, n, 1, &mut out);
                    out
                }
            };
            let (a, b) = both_paths(run(softmax_axis, 7 * n));
            close(&a, &b, "softmax");
            let (a, b) = both_paths(run(log_softmax_axis, 7 * n));
            close(&a, &b, "log_softmax");
            let (a, b) = both_paths(run(logsumexp_axis, 7));
            close(&a, &b, "logsumexp");
        }
    }

    #[test]
    fn logsumexp_slice_matches_the_axis_kernel() {
        let x = [0.5, -3.0, 2.25, 7.0, -1.0, 0.0];
        let mut rows = [0.0; 2];
        // The scalar path (what the embedded runtime runs) gives the same
        // bits; retried if another test changed the forced level meanwhile.
        loop {
            simd::force(Some(Isa::Scalar));
            logsumexp_axis(&x, 2, 3, 1, &mut rows);
            if simd::active() == Isa::Scalar {
                break;
            }
        }
        simd::force(None);
        assert_eq!(rows[0].to_bits(), logsumexp_slice(&x[..3]).to_bits());
        assert_eq!(rows[1].to_bits(), logsumexp_slice(&x[3..]).to_bits());
        let want = (0.5f64.exp() + (-3.0f64).exp() + 2.25f64.exp()).ln();
        assert!((rows[0] as f64 - want).abs() < 1e-6);
        assert_eq!(logsumexp_slice(&[]), f32::NEG_INFINITY);
        assert_eq!(logsumexp_slice(&[f32::NEG_INFINITY; 2]), f32::NEG_INFINITY);
        assert!(logsumexp_slice(&[1.0, f32::NAN]).is_nan());
    }

    #[test]
    fn sums_along_each_axis() {
        // x = [[1, 2, 3], [4, 5, 6]]
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut rows = [0.0; 2];
        sum_axis(&x, 2, 3, 1, &mut rows);
        assert_eq!(rows, [6.0, 15.0]);
        let mut cols = [0.0; 3];
        sum_axis(&x, 1, 2, 3, &mut cols);
        assert_eq!(cols, [5.0, 7.0, 9.0]);
    }

    #[test]
    fn extrema_and_arg() {
        let x = [1.0, 7.0, 3.0, 9.0, 5.0, 6.0];
        let mut m = [0.0; 3];
        max_axis(&x, 1, 2, 3, &mut m);
        assert_eq!(m, [9.0, 7.0, 6.0]);
        let mut i = [0usize; 2];
        argmax_axis(&x, 2, 3, 1, &mut i);
        assert_eq!(i, [1, 0]);
        argmin_axis(&x, 2, 3, 1, &mut i);
        assert_eq!(i, [0, 1]);
        min_axis(&x, 2, 3, 1, &mut m[..2]);
        assert_eq!(&m[..2], &[1.0, 5.0]);
    }

    #[test]
    fn logsumexp_is_stable() {
        let x = [1000.0, 1000.0];
        let mut o = [0.0];
        logsumexp_axis(&x, 1, 2, 1, &mut o);
        assert!((o[0] - (1000.0 + core::f32::consts::LN_2)).abs() < 1e-3);
        let mut s = [0.0; 2];
        softmax_axis(&x, 1, 2, 1, &mut s);
        assert_eq!(s, [0.5, 0.5]);
    }
}
