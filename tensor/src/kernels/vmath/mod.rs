//! Vectorised f32 transcendental functions (AVX2+FMA and AVX-512F).
//!
//! [`super::unary::unary`] uses these for [`vectorised`] ops whenever
//! [`super::simd::active`] is above [`Isa::Scalar`]; the scalar path (and
//! every `no_std` or non-x86_64 build) stays plain `libm`. Results are not
//! bit-identical to `libm`, but special values (±0, ±inf, NaN, overflow to
//! inf, underflow to subnormals and 0) come out exactly as in `libm`.
//!
//! # Accuracy
//! Largest error against the correctly rounded result over every 257th f32
//! bit pattern (and every f32 near exp's overflow and underflow thresholds),
//! AVX2 measured on Zen 3, `libm`'s scalar path in brackets:
//!
//! | exp | log | log1p | tanh | sigmoid | erf |
//! |---|---|---|---|---|---|
//! | 0.97 (0.87) | 0.84 (0.78) | 0.87 (0.80) | 1.31 (2.12) | 0.94 (2.33) | 0.99 (0.85) |
//!
//! The composites evaluate the scalar formulas on these: softplus 1.54 ulp
//! (1.51), SiLU 1.56 (2.80) where eˣ is normal; GELU (erf) 0.96 (1.63) and
//! GELU (tanh) 1.18 (1.71) for x ≥ 0. For x < 0 the GELU formula cancels in
//! 1 + erf (1 + tanh) near −1 on both paths: the error is 2 ulp plus
//! |x|·2⁻²⁴ absolute (on [−1, 0): 2.3 (2.5) and 3.3 (3.1) ulp), and where
//! erf or tanh rounds to −1 both give −0 for the tiny true value. The
//! AVX-512 kernels run the same operations and constants (not measured here:
//! no AVX-512 machine).
//!
//! The activation derivatives (GELU erf/tanh and SiLU, first and second) are
//! within 2 ulp plus 3.4 times the rounding error their formula cannot
//! avoid (one rounding of the magnitude of its terms, amplified by the
//! rounded argument of the exponential; large only near their roots): see
//! `tests.rs`, `grad_unit`. Measured with AVX2 and AVX-512 on an AMD EPYC.
//!
//! # Algorithms
//! All polynomials are weighted minimax fits (Remez), evaluated with FMA:
//! - **exp**: x = n·ln2 + r with n = round(x·log₂e) and r from a two-part
//!   (Cody–Waite) ln2, |r| ≤ ln2/2; eʳ = 1 + r + r²·P(r), P of degree 4
//!   (relative error 2⁻²⁸); result p·2ⁿ by exponent arithmetic. If any lane has
//!   |x| ≥ 87 (or NaN) the vector takes a path that clamps x to [−104, 89] and
//!   scales in two steps, so overflow, subnormal results and 0 come out right.
//! - **log**: x = 2ᵏ·m with m in [√½, √2) by integer arithmetic, f = m − 1
//!   (exact); ln(1 + f) = f − f²/2 + f³·P(f), P of degree 7 (2⁻²⁷·³), plus
//!   k·ln2 in two parts, large terms last. Subnormal, zero, negative, infinite
//!   and NaN arguments take a fix-up path.
//! - **log1p**: the log reduction applied to u = 1 + x, with the rounding error
//!   of u (a two-sum) added back as err/u; for x in [√½ − 1, √2 − 1) the
//!   polynomial runs on x itself.
//! - **tanh**: |x| < 0.625: x + x³·P(x²), P of degree 5 (2⁻³²); otherwise
//!   1 − 2/(e^(2|x|) + 1), with |x| clamped at 9.125 where tanh rounds to 1.
//! - **sigmoid**: e = e^(−|x|), then 1/(1 + e) or e/(1 + e) as the scalar code.
//! - **erf**: |x| < 1: x + x·P(x²), P of degree 6 (2⁻²⁹·⁴); 1 ≤ |x| < 3.93:
//!   1 − e^(−x²)·Q(|x| − 2.46), Q of degree 10 fitting erfc·e^(x²) (absolute
//!   error 2⁻²⁸); beyond, 1. The sign is copied from x.
//! - **GELU (erf and tanh forms), SiLU, softplus**: the scalar formulas of
//!   [`super::unary::apply`] on the functions above (arguments rounded as
//!   there); GELU's (x/2)·(1 + v) is one FMA, with the sign of x kept on a
//!   zero result as the scalar product does.
//!
//! - **The activation derivatives** (GELU erf and tanh forms, SiLU; first
//!   and second): the formulas of [`super::act_grad`] on exp and erf, with
//!   σ and 1 − σ both from e^(−|z|), and x² split exactly (FMA) inside
//!   e^(−x²/2).
//!
//! The algorithms are written once (`algo.rs`) against a small trait of lane
//! operations; `avx2.rs` and `avx512.rs` implement it on 8 and 16 lanes, so
//! both run the same operations with the same constants.

use super::simd::Isa;
use super::unary::UnaryOp;

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod algo;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx2;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx512;
#[cfg(all(test, feature = "std", target_arch = "x86_64"))]
mod tests;

/// Whether `op` has a vectorised implementation in this build (x86_64 with
/// the `std` feature): exp, log, log1p, tanh, sigmoid, erf, the GELU,
/// SiLU and softplus composites, and the first and second derivatives of
/// GELU (both forms) and SiLU.
pub fn vectorised(op: UnaryOp) -> bool {
    use UnaryOp::*;
    cfg!(all(feature = "std", target_arch = "x86_64"))
        && matches!(
            op,
            Exp | Log
                | Log1p
                | Tanh
                | Sigmoid
                | Erf
                | GeluErf
                | GeluTanh
                | Silu
                | Softplus
                | GeluErfGrad
                | GeluErfGrad2
                | GeluTanhGrad
                | GeluTanhGrad2
                | SiluGrad
                | SiluGrad2
        )
}

/// `out[i] = op(x[i])` with the implementation for `isa`, serially. Returns
/// false, leaving `out` untouched, when `op` is not [`vectorised`], `isa` is
/// [`Isa::Scalar`] or the CPU does not support `isa`.
///
/// # Panics
/// If the slices differ in length.
pub fn eval(op: UnaryOp, isa: Isa, x: &[f32], out: &mut [f32]) -> bool {
    assert_eq!(x.len(), out.len(), "vmath: slice lengths differ");
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        if !vectorised(op) || isa > super::simd::supported() {
            return false;
        }
        match isa {
            // SAFETY: the CPU supports `isa` (checked above).
            Isa::Avx512 => unsafe { avx512::eval(op, x, out) },
            // SAFETY: as above.
            Isa::Avx2Fma => unsafe { avx2::eval(op, x, out) },
            Isa::Scalar => false,
        }
    }
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    {
        let _ = (op, isa, out);
        false
    }
}

/// `y[i] = GELU(x[i])` (erf form) and `d[i] = GELU′(x[i])` in one pass, the
/// same bits as [`eval`] of [`UnaryOp::GeluErf`] and [`UnaryOp::GeluErfGrad`]
/// (one erf serves both), serially. Returns false, leaving the outputs
/// untouched, where [`eval`] would.
///
/// # Panics
/// If the slices differ in length.
pub fn gelu_erf_pair(isa: Isa, x: &[f32], y: &mut [f32], d: &mut [f32]) -> bool {
    assert!(
        x.len() == y.len() && x.len() == d.len(),
        "vmath: slice lengths differ"
    );
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        if isa > super::simd::supported() {
            return false;
        }
        match isa {
            // SAFETY: the CPU supports `isa` (checked above).
            Isa::Avx512 => unsafe { avx512::gelu_erf_pair(x, y, d) },
            // SAFETY: as above.
            Isa::Avx2Fma => unsafe { avx2::gelu_erf_pair(x, y, d) },
            Isa::Scalar => return false,
        }
        true
    }
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    {
        let _ = (isa, x, y, d);
        false
    }
}

/// `out[i] = op(x[i])`: [`eval`] when it can, else `libm` through
/// [`super::unary::apply`] (every op, every build), serially.
///
/// # Panics
/// If the slices differ in length.
pub fn eval_or_libm(op: UnaryOp, isa: Isa, x: &[f32], out: &mut [f32]) {
    if !eval(op, isa, x, out) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = super::unary::apply(op, v);
        }
    }
}
