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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logsumexp_slice_matches_the_axis_kernel() {
        let x = [0.5, -3.0, 2.25, 7.0, -1.0, 0.0];
        let mut rows = [0.0; 2];
        logsumexp_axis(&x, 2, 3, 1, &mut rows);
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
