//! The activation derivatives of [`crate::kernels::act_grad`] on [`Simd`]:
//! the same formulas on the vectorised `exp` and `erf`, with FMAs where the
//! scalar code rounds twice, and the rounding error of x² carried into
//! e^(−x²/2) (so φ(x) keeps its relative accuracy for large |x|).

use super::{c, erf, exp, neg_abs, Simd};
use crate::kernels::act_grad::{GELU_CLAMP, GELU_TANH_A, GELU_TANH_C, INV_SQRT_2PI, SILU_CLAMP};

/// x clamped to [−m, m]; NaN passes through (the constants go first).
#[inline(always)]
fn clamp<S: Simd>(s: S, x: S::V, m: f32) -> S::V {
    s.min(c(s, m), s.max(c(s, -m), x))
}

/// (σ(z), 1 − σ(z)) from e = e^(−|z|): (1/(1+e), e/(1+e)) in the order of z's sign.
#[inline(always)]
fn sigmoid_pair<S: Simd>(s: S, z: S::V) -> (S::V, S::V) {
    let one = c(s, 1.0);
    let e = exp(s, neg_abs(s, z));
    let d = s.div(one, s.add(one, e));
    let m = s.mul(e, d);
    let pos = s.ge(z, c(s, 0.0));
    (s.select(pos, d, m), s.select(pos, m, d))
}

/// φ(x) = e^(−x²/2)/√(2π), with x² = h + l exactly (FMA) and e^(−l/2) ≈ 1 − l/2.
#[inline(always)]
fn normal_pdf<S: Simd>(s: S, x: S::V) -> S::V {
    let h = s.mul(x, x);
    let l = s.fma(x, x, s.sub(c(s, 0.0), h));
    let e = exp(s, s.mul(c(s, -0.5), h));
    s.mul(c(s, INV_SQRT_2PI), s.fma(e, s.mul(c(s, -0.5), l), e))
}

/// Φ(x) + x·φ(x).
#[inline(always)]
pub(in super::super) fn gelu_erf_grad<S: Simd>(s: S, x: S::V) -> S::V {
    let xc = clamp(s, x, GELU_CLAMP);
    let e = erf(s, s.mul(xc, c(s, core::f32::consts::FRAC_1_SQRT_2)));
    gelu_erf_grad_from_erf(s, x, e)
}

/// Φ(x) + x·φ(x) given e = erf(x/√2) (of x clamped to ±20 or not: erf is
/// ±1 beyond either way).
#[inline(always)]
pub(in super::super) fn gelu_erf_grad_from_erf<S: Simd>(s: S, x: S::V, e: S::V) -> S::V {
    let x = clamp(s, x, GELU_CLAMP);
    let half = c(s, 0.5);
    let cdf = s.fma(half, e, half);
    s.fma(x, normal_pdf(s, x), cdf)
}

/// φ(x)·(2 − x²).
#[inline(always)]
pub(in super::super) fn gelu_erf_grad2<S: Simd>(s: S, x: S::V) -> S::V {
    let x = clamp(s, x, GELU_CLAMP);
    let q = s.fma(s.sub(c(s, 0.0), x), x, c(s, 2.0));
    s.mul(normal_pdf(s, x), q)
}

/// (u, u') of GELU-tanh, u rounded as in the forward.
#[inline(always)]
fn gelu_tanh_u<S: Simd>(s: S, x: S::V) -> (S::V, S::V) {
    let k = c(s, GELU_TANH_C);
    let x3 = s.mul(s.mul(s.mul(c(s, GELU_TANH_A), x), x), x);
    let u = s.mul(k, s.add(x, x3));
    let du = s.mul(k, s.fma(c(s, 3.0 * GELU_TANH_A), s.mul(x, x), c(s, 1.0)));
    (u, du)
}

/// s·(1 + 2x·u'·(1 − s)), s = σ(2u).
#[inline(always)]
pub(in super::super) fn gelu_tanh_grad<S: Simd>(s: S, x: S::V) -> S::V {
    let x = clamp(s, x, GELU_CLAMP);
    let (u, du) = gelu_tanh_u(s, x);
    let (p, m) = sigmoid_pair(s, s.add(u, u));
    let k = s.mul(s.add(x, x), du);
    s.mul(p, s.fma(k, m, c(s, 1.0)))
}

/// 4s(1 − s)·(u' − x·t·u'² + 3CA·x²), t = s − (1 − s).
#[inline(always)]
pub(in super::super) fn gelu_tanh_grad2<S: Simd>(s: S, x: S::V) -> S::V {
    let x = clamp(s, x, GELU_CLAMP);
    let (u, du) = gelu_tanh_u(s, x);
    let (p, m) = sigmoid_pair(s, s.add(u, u));
    let t = s.sub(p, m);
    let base = s.fma(c(s, 3.0 * GELU_TANH_C * GELU_TANH_A), s.mul(x, x), du);
    let h = s.sub(base, s.mul(s.mul(x, t), s.mul(du, du)));
    s.mul(s.mul(c(s, 4.0), s.mul(p, m)), h)
}

/// s·(1 + x·(1 − s)), s = σ(x).
#[inline(always)]
pub(in super::super) fn silu_grad<S: Simd>(s: S, x: S::V) -> S::V {
    let x = clamp(s, x, SILU_CLAMP);
    let (p, m) = sigmoid_pair(s, x);
    s.mul(p, s.fma(x, m, c(s, 1.0)))
}

/// s(1 − s)·(2 + x·(1 − 2s)).
#[inline(always)]
pub(in super::super) fn silu_grad2<S: Simd>(s: S, x: S::V) -> S::V {
    let x = clamp(s, x, SILU_CLAMP);
    let (p, m) = sigmoid_pair(s, x);
    s.mul(s.mul(p, m), s.fma(x, s.sub(m, p), c(s, 2.0)))
}
