//! Scalar definitions of the activation derivatives: the first and second
//! derivatives of GELU (erf and tanh forms) and SiLU, each one elementwise
//! op so that a backward pass (and the backward of that backward) is one
//! kernel instead of a chain of ten.
//!
//! The formulas avoid the cancellations of the textbook ones where that is
//! cheap: σ(z) and 1 − σ(z) both come from e = e^(−|z|) (as e/(1+e) and
//! 1/(1+e)), and sech² u = 4σ(2u)σ(−2u). Arguments are clamped where the
//! result no longer changes in f32 (|x| = 20 for the GELUs, 120 for SiLU),
//! so infinities give the limits instead of ∞·0 = NaN; NaN stays NaN. The
//! vectorised kernels of [`super::vmath`] run the same formulas.

/// 1/√(2π).
pub const INV_SQRT_2PI: f32 = 0.398_942_3;
/// √(2/π), GELU-tanh's constant.
pub const GELU_TANH_C: f32 = 0.797_884_6;
/// GELU-tanh's cubic coefficient.
pub const GELU_TANH_A: f32 = 0.044_715;
/// Beyond this |x| the GELU derivatives are 0 or 1 in f32.
pub const GELU_CLAMP: f32 = 20.0;
/// Beyond this |x| the SiLU derivatives are 0 or 1 in f32.
pub const SILU_CLAMP: f32 = 120.0;

/// (σ(z), 1 − σ(z)), both without cancellation.
#[inline(always)]
pub fn sigmoid_pair(z: f32) -> (f32, f32) {
    let e = libm::expf(-libm::fabsf(z));
    let d = 1.0 / (1.0 + e);
    let m = e * d;
    if z >= 0.0 {
        (d, m)
    } else {
        (m, d)
    }
}

/// φ(x) = e^(−x²/2)/√(2π), the standard normal density.
#[inline(always)]
fn normal_pdf(x: f32) -> f32 {
    INV_SQRT_2PI * libm::expf(-0.5 * (x * x))
}

/// d/dx GELU(x) = Φ(x) + x·φ(x).
#[inline(always)]
pub fn gelu_erf_grad(x: f32) -> f32 {
    let x = x.clamp(-GELU_CLAMP, GELU_CLAMP);
    let cdf = 0.5 + 0.5 * libm::erff(x * core::f32::consts::FRAC_1_SQRT_2);
    cdf + x * normal_pdf(x)
}

/// d²/dx² GELU(x) = φ(x)·(2 − x²).
#[inline(always)]
pub fn gelu_erf_grad2(x: f32) -> f32 {
    let x = x.clamp(-GELU_CLAMP, GELU_CLAMP);
    normal_pdf(x) * (2.0 - x * x)
}

/// GELU-tanh's u = C·(x + A·x³) (rounded as in the forward) and u' = C·(1 + 3A·x²).
#[inline(always)]
fn gelu_tanh_u(x: f32) -> (f32, f32) {
    let u = GELU_TANH_C * (x + GELU_TANH_A * x * x * x);
    let du = GELU_TANH_C * (1.0 + 3.0 * GELU_TANH_A * (x * x));
    (u, du)
}

/// d/dx ½x(1 + tanh u) = s·(1 + 2x·u'·(1 − s)) with s = σ(2u) = (1 + tanh u)/2.
#[inline(always)]
pub fn gelu_tanh_grad(x: f32) -> f32 {
    let x = x.clamp(-GELU_CLAMP, GELU_CLAMP);
    let (u, du) = gelu_tanh_u(x);
    let (s, m) = sigmoid_pair(2.0 * u);
    s * (1.0 + 2.0 * x * du * m)
}

/// d²/dx² ½x(1 + tanh u) = sech²u·(u' − x·tanh u·u'² + 3CA·x²), with
/// sech²u = 4s(1 − s) and tanh u = s − (1 − s).
#[inline(always)]
pub fn gelu_tanh_grad2(x: f32) -> f32 {
    let x = x.clamp(-GELU_CLAMP, GELU_CLAMP);
    let (u, du) = gelu_tanh_u(x);
    let (s, m) = sigmoid_pair(2.0 * u);
    let t = s - m;
    let h = du - x * t * du * du + 3.0 * GELU_TANH_C * GELU_TANH_A * (x * x);
    4.0 * s * m * h
}

/// d/dx x·σ(x) = s·(1 + x·(1 − s)).
#[inline(always)]
pub fn silu_grad(x: f32) -> f32 {
    let x = x.clamp(-SILU_CLAMP, SILU_CLAMP);
    let (s, m) = sigmoid_pair(x);
    s * (1.0 + x * m)
}

/// d²/dx² x·σ(x) = s(1 − s)·(2 + x·(1 − 2s)).
#[inline(always)]
pub fn silu_grad2(x: f32) -> f32 {
    let x = x.clamp(-SILU_CLAMP, SILU_CLAMP);
    let (s, m) = sigmoid_pair(x);
    s * m * (2.0 + x * (m - s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of each function agree with its derivative op.
    #[test]
    fn derivatives_match_finite_differences() {
        type F = fn(f32) -> f32;
        let pairs: [(F, F); 3] = [
            (gelu_erf_grad, gelu_erf_grad2),
            (gelu_tanh_grad, gelu_tanh_grad2),
            (silu_grad, silu_grad2),
        ];
        for (f, df) in pairs {
            for i in -40..=40 {
                let x = i as f32 * 0.1 + 0.013;
                let h = 1e-2f32;
                let fd = (f(x + h) - f(x - h)) / (2.0 * h);
                assert!((fd - df(x)).abs() < 2e-3, "at {x}: {fd} vs {}", df(x));
            }
        }
    }

    #[test]
    fn limits_and_nan() {
        for f in [gelu_erf_grad, gelu_tanh_grad, silu_grad] {
            assert_eq!(f(f32::INFINITY), 1.0);
            assert_eq!(f(f32::NEG_INFINITY), 0.0);
            assert!(f(f32::NAN).is_nan());
        }
        for f in [gelu_erf_grad2, gelu_tanh_grad2, silu_grad2] {
            assert_eq!(f(f32::INFINITY), 0.0);
            assert_eq!(f(f32::NEG_INFINITY), 0.0);
            assert!(f(f32::NAN).is_nan());
        }
        assert!((gelu_erf_grad(0.0) - 0.5).abs() < 1e-7);
        assert!((gelu_erf_grad2(0.0) - 2.0 * INV_SQRT_2PI).abs() < 1e-7);
        assert!((silu_grad(0.0) - 0.5).abs() < 1e-7);
        assert!((silu_grad2(0.0) - 0.5).abs() < 1e-7);
        assert!((gelu_tanh_grad(0.0) - 0.5).abs() < 1e-7);
    }
}
