//! Elementwise unary kernels.
//!
//! [`apply`] is the scalar definition of every op, on `libm`; [`map`] runs a
//! scalar function over a slice, compiled for the active SIMD level (so LLVM
//! vectorises what it can) and split across rayon threads for large inputs.
//!
//! [`unary`] runs [`apply`] the same way, except for the transcendental ops
//! listed by [`vmath::vectorised`] (exp, log, log1p, tanh, sigmoid, erf,
//! GELU, SiLU, softplus, and the first and second derivatives of GELU and
//! SiLU of [`act_grad`]): with the `std` feature on x86_64, when
//! [`simd::active`] is [`Isa::Avx2Fma`] or [`Isa::Avx512`], those use the
//! hand-vectorised polynomials of [`vmath`]: within 2 ulp of the correctly
//! rounded result, as `libm` is (the composites up to the cancellation their
//! formula has on either path, see [`vmath`]), with the same special values
//! (±0, ±inf, NaN, overflow, underflow), but **not bit-identical** to `libm`.
//! `simd::force(Some(Isa::Scalar))` restores `libm` everywhere; `no_std` builds (the microcontroller runtime) and other
//! architectures always run the `libm` code of [`apply`], so host and device
//! agree bit for bit on that path.

use super::act_grad;
use super::simd::{self, Isa};
use super::vmath;

/// The elementwise unary operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// −x
    Neg,
    /// |x|
    Abs,
    /// eˣ
    Exp,
    /// ln x
    Log,
    /// ln(1 + x), accurate near 0
    Log1p,
    /// √x
    Sqrt,
    /// 1/√x
    Rsqrt,
    /// x²
    Square,
    /// 1/x
    Recip,
    /// tanh x
    Tanh,
    /// 1/(1 + e⁻ˣ)
    Sigmoid,
    /// max(x, 0)
    Relu,
    /// x·Φ(x) with the exact (erf) normal CDF
    GeluErf,
    /// GELU's tanh approximation 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))
    GeluTanh,
    /// x·sigmoid(x)
    Silu,
    /// ln(1 + eˣ), computed without overflow
    Softplus,
    /// sin x
    Sin,
    /// cos x
    Cos,
    /// erf x
    Erf,
    /// −1, 0 or 1 by the sign of x (0 for ±0 and NaN)
    Sign,
    /// 1 where x > 0, else 0 (the derivative of ReLU)
    Step,
    /// GELU (erf)'s derivative Φ(x) + x·φ(x)
    GeluErfGrad,
    /// GELU (erf)'s second derivative φ(x)·(2 − x²)
    GeluErfGrad2,
    /// GELU (tanh)'s derivative
    GeluTanhGrad,
    /// GELU (tanh)'s second derivative
    GeluTanhGrad2,
    /// SiLU's derivative σ(x)·(1 + x·(1 − σ(x)))
    SiluGrad,
    /// SiLU's second derivative σ(x)(1 − σ(x))·(2 + x·(1 − 2σ(x)))
    SiluGrad2,
}

/// The scalar definition of each op (what every target computes).
#[inline(always)]
pub fn apply(op: UnaryOp, x: f32) -> f32 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => libm::fabsf(x),
        UnaryOp::Exp => libm::expf(x),
        UnaryOp::Log => libm::logf(x),
        UnaryOp::Log1p => libm::log1pf(x),
        UnaryOp::Sqrt => libm::sqrtf(x),
        UnaryOp::Rsqrt => 1.0 / libm::sqrtf(x),
        UnaryOp::Square => x * x,
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Tanh => libm::tanhf(x),
        UnaryOp::Sigmoid => sigmoid(x),
        UnaryOp::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        UnaryOp::GeluErf => 0.5 * x * (1.0 + libm::erff(x * core::f32::consts::FRAC_1_SQRT_2)),
        UnaryOp::GeluTanh => {
            const C: f32 = 0.797_884_6; // √(2/π)
            0.5 * x * (1.0 + libm::tanhf(C * (x + 0.044_715 * x * x * x)))
        }
        UnaryOp::Silu => x * sigmoid(x),
        UnaryOp::Softplus => softplus(x),
        UnaryOp::Sin => libm::sinf(x),
        UnaryOp::Cos => libm::cosf(x),
        UnaryOp::Erf => libm::erff(x),
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        UnaryOp::Step => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        UnaryOp::GeluErfGrad => act_grad::gelu_erf_grad(x),
        UnaryOp::GeluErfGrad2 => act_grad::gelu_erf_grad2(x),
        UnaryOp::GeluTanhGrad => act_grad::gelu_tanh_grad(x),
        UnaryOp::GeluTanhGrad2 => act_grad::gelu_tanh_grad2(x),
        UnaryOp::SiluGrad => act_grad::silu_grad(x),
        UnaryOp::SiluGrad2 => act_grad::silu_grad2(x),
    }
}

/// Logistic sigmoid, stable for large |x|.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}

/// ln(1 + eˣ) without overflow: max(x, 0) + ln(1 + e^−|x|).
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    let m = if x > 0.0 { x } else { 0.0 };
    m + libm::log1pf(libm::expf(-libm::fabsf(x)))
}

/// `out[i] = op(x[i])`: [`apply`], or the vectorised version of the active
/// ISA for the ops [`vmath`] covers (see the module docs).
///
/// # Panics
/// If the slices differ in length.
pub fn unary(op: UnaryOp, x: &[f32], out: &mut [f32]) {
    let isa = simd::active();
    if isa != Isa::Scalar && vmath::vectorised(op) {
        return vectorised(op, isa, x, out);
    }
    macro_rules! run {
        ($($name:ident),*) => {
            match op {
                $(UnaryOp::$name => map(x, out, |v| apply(UnaryOp::$name, v)),)*
            }
        };
    }
    run!(
        Neg,
        Abs,
        Exp,
        Log,
        Log1p,
        Sqrt,
        Rsqrt,
        Square,
        Recip,
        Tanh,
        Sigmoid,
        Relu,
        GeluErf,
        GeluTanh,
        Silu,
        Softplus,
        Sin,
        Cos,
        Erf,
        Sign,
        Step,
        GeluErfGrad,
        GeluErfGrad2,
        GeluTanhGrad,
        GeluTanhGrad2,
        SiluGrad,
        SiluGrad2
    )
}

/// `y = GELU(x)` (erf form) and `d = GELU′(x)` in one pass: the same bits
/// as [`unary`] of [`UnaryOp::GeluErf`] and of [`UnaryOp::GeluErfGrad`]
/// (the forward of a GELU that will be differentiated); parallel when large.
///
/// # Panics
/// If the slices differ in length.
///
/// ```
/// use ferrograd_tensor::kernels::unary::{gelu_erf_with_grad, unary, UnaryOp};
/// let x = [-1.5, 0.0, 2.0];
/// let (mut y, mut d, mut want) = ([0.0; 3], [0.0; 3], [0.0; 3]);
/// gelu_erf_with_grad(&x, &mut y, &mut d);
/// unary(UnaryOp::GeluErfGrad, &x, &mut want);
/// assert_eq!(d, want);
/// ```
pub fn gelu_erf_with_grad(x: &[f32], y: &mut [f32], d: &mut [f32]) {
    assert!(
        x.len() == y.len() && x.len() == d.len(),
        "unary: slice lengths differ"
    );
    let isa = simd::active();
    let serial = |x: &[f32], y: &mut [f32], d: &mut [f32]| {
        if isa == Isa::Scalar || !vmath::gelu_erf_pair(isa, x, y, d) {
            for ((v, g), &a) in y.iter_mut().zip(d.iter_mut()).zip(x) {
                *v = apply(UnaryOp::GeluErf, a);
                *g = apply(UnaryOp::GeluErfGrad, a);
            }
        }
    };
    #[cfg(feature = "std")]
    if simd::worth_parallel(x.len() * 8) {
        use rayon::prelude::*;
        const CHUNK: usize = 1 << 14;
        y.par_chunks_mut(CHUNK)
            .zip(d.par_chunks_mut(CHUNK))
            .zip(x.par_chunks(CHUNK))
            .for_each(|((y, d), x)| serial(x, y, d));
        return;
    }
    serial(x, y, d);
}

/// [`vmath::eval`] over `x`, parallel when large.
fn vectorised(op: UnaryOp, isa: Isa, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "unary: slice lengths differ");
    #[cfg(feature = "std")]
    if simd::worth_parallel(x.len() * 4) {
        use rayon::prelude::*;
        const CHUNK: usize = 1 << 14;
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, i)| {
                let done = vmath::eval(op, isa, i, o);
                debug_assert!(done);
            });
        return;
    }
    let done = vmath::eval(op, isa, x, out);
    debug_assert!(done);
}

/// `out[i] = f(x[i])`, vectorised for the active ISA and parallel when large.
///
/// # Panics
/// If the slices differ in length.
pub fn map<F: Fn(f32) -> f32 + Sync>(x: &[f32], out: &mut [f32], f: F) {
    assert_eq!(x.len(), out.len(), "map: slice lengths differ");
    #[cfg(feature = "std")]
    if simd::worth_parallel(x.len() * 4) {
        use rayon::prelude::*;
        const CHUNK: usize = 1 << 14;
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, i)| map_serial(i, o, &f));
        return;
    }
    map_serial(x, out, &f)
}

#[inline]
fn map_serial<F: Fn(f32) -> f32>(x: &[f32], out: &mut [f32], f: &F) {
    match simd::active() {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        // SAFETY: `active()` only reports a level the CPU supports.
        Isa::Avx512 => unsafe { map_avx512(x, out, f) },
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        // SAFETY: as above.
        Isa::Avx2Fma => unsafe { map_avx2(x, out, f) },
        _ => map_plain(x, out, f),
    }
}

#[inline(always)]
fn map_plain<F: Fn(f32) -> f32>(x: &[f32], out: &mut [f32], f: &F) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f")]
unsafe fn map_avx512<F: Fn(f32) -> f32>(x: &[f32], out: &mut [f32], f: &F) {
    map_plain(x, out, f)
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn map_avx2<F: Fn(f32) -> f32>(x: &[f32], out: &mut [f32], f: &F) {
    map_plain(x, out, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_values() {
        let x = [-2.0f32, -0.5, 0.0, 0.5, 3.0];
        let mut o = [0.0; 5];
        unary(UnaryOp::Relu, &x, &mut o);
        assert_eq!(o, [0.0, 0.0, 0.0, 0.5, 3.0]);
        unary(UnaryOp::Sign, &x, &mut o);
        assert_eq!(o, [-1.0, -1.0, 0.0, 1.0, 1.0]);
        assert!((apply(UnaryOp::Sigmoid, 0.0) - 0.5).abs() < 1e-7);
        assert!((apply(UnaryOp::Softplus, 0.0) - core::f32::consts::LN_2).abs() < 1e-7);
        assert_eq!(apply(UnaryOp::Softplus, 200.0), 200.0);
        assert!(apply(UnaryOp::Softplus, -200.0) >= 0.0);
        assert!((apply(UnaryOp::GeluErf, 1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((apply(UnaryOp::GeluTanh, 1.0) - 0.841_192).abs() < 1e-5);
        assert!((apply(UnaryOp::Silu, 1.0) - 0.731_058_6).abs() < 1e-6);
        assert_eq!(apply(UnaryOp::Sigmoid, -200.0), 0.0);
    }

    /// `map` runs the scalar closure on every ISA: bit-identical results.
    #[test]
    fn map_agrees_bit_for_bit() {
        let x: alloc::vec::Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.013).collect();
        let mut plain = alloc::vec![0.0; x.len()];
        let mut fast = alloc::vec![0.0; x.len()];
        map_plain(&x, &mut plain, &|v| apply(UnaryOp::GeluTanh, v));
        map(&x, &mut fast, |v| apply(UnaryOp::GeluTanh, v));
        assert_eq!(plain, fast);
    }

    const ALL: [UnaryOp; 27] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Log1p,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Square,
        UnaryOp::Recip,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::GeluErf,
        UnaryOp::GeluTanh,
        UnaryOp::Silu,
        UnaryOp::Softplus,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Erf,
        UnaryOp::Sign,
        UnaryOp::Step,
        UnaryOp::GeluErfGrad,
        UnaryOp::GeluErfGrad2,
        UnaryOp::GeluTanhGrad,
        UnaryOp::GeluTanhGrad2,
        UnaryOp::SiluGrad,
        UnaryOp::SiluGrad2,
    ];

    /// Inputs spanning the whole f32 range (every 65 537th bit pattern, so
    /// both signs, subnormals, infinities and NaNs) plus hand-picked ones, in
    /// a length that is not a multiple of 16 and large enough to go parallel.
    fn sweep_inputs() -> alloc::vec::Vec<f32> {
        let mut x: alloc::vec::Vec<f32> =
            (0..=u32::MAX).step_by(65_537).map(f32::from_bits).collect();
        x.extend([
            0.0,
            -0.0,
            1.0,
            -1.0,
            88.72,
            -103.97,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
        ]);
        x.extend((0..100_003).map(|i| (i as f32 - 50_000.0) * 1e-3));
        x
    }

    fn unary_vec(op: UnaryOp, x: &[f32]) -> alloc::vec::Vec<f32> {
        let mut out = alloc::vec![0.0; x.len()];
        unary(op, x, &mut out);
        out
    }

    /// Under `force(Some(Isa::Scalar))` every op is plain `libm`, bit for bit.
    /// The only test in this file that forces (`force` is process-wide); it
    /// re-runs an op if another test file's forcing test changed the level
    /// meanwhile.
    #[test]
    fn forced_scalar_is_libm_bit_for_bit() {
        let x = sweep_inputs();
        for op in ALL {
            let want: alloc::vec::Vec<u32> = x.iter().map(|&v| apply(op, v).to_bits()).collect();
            let got = loop {
                simd::force(Some(Isa::Scalar));
                let got = unary_vec(op, &x);
                if simd::active() == Isa::Scalar {
                    break got;
                }
            };
            simd::force(None);
            let got: alloc::vec::Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
            assert!(got == want, "{op:?} differs from libm under the scalar ISA");
        }
    }

    /// The one-pass GELU and derivative gives the bits of the two `unary`
    /// calls under the active ISA and under the scalar one (large enough to
    /// go parallel).
    #[test]
    fn gelu_with_grad_matches_two_unary_calls() {
        let x = sweep_inputs();
        let run = || {
            let (mut y, mut d) = (alloc::vec![0.0f32; x.len()], alloc::vec![0.0f32; x.len()]);
            gelu_erf_with_grad(&x, &mut y, &mut d);
            let bits = |v: &[f32]| {
                v.iter()
                    .map(|v| v.to_bits())
                    .collect::<alloc::vec::Vec<_>>()
            };
            let want = (
                bits(&unary_vec(UnaryOp::GeluErf, &x)),
                bits(&unary_vec(UnaryOp::GeluErfGrad, &x)),
            );
            (simd::active(), (bits(&y), bits(&d)) == want)
        };
        // Other tests force the scalar ISA meanwhile: a run counts when the
        // ISA stayed put through it.
        let active = loop {
            let before = simd::active();
            let (after, same) = run();
            if before == after {
                break same;
            }
        };
        assert!(active, "active ISA");
        let scalar = loop {
            simd::force(Some(Isa::Scalar));
            let (isa, same) = run();
            if isa == Isa::Scalar && simd::active() == Isa::Scalar {
                break same;
            }
        };
        simd::force(None);
        assert!(scalar, "scalar ISA");
    }

    /// Whatever the active ISA, `unary` agrees with `libm` to within a few
    /// ulp on ordinary arguments (the precise bounds are checked in `vmath`).
    #[test]
    fn active_isa_close_to_libm() {
        let x: alloc::vec::Vec<f32> = (0..4099).map(|i| (i as f32 - 2049.0) * 3e-3).collect();
        for op in ALL {
            let got = unary_vec(op, &x);
            for (&v, &g) in x.iter().zip(&got) {
                let w = apply(op, v);
                let tol = 4.0 * f32::EPSILON * w.abs().max(1e-30) + 1e-6 * v.abs();
                assert!(
                    g == w || (g - w).abs() <= tol || (g.is_nan() && w.is_nan()),
                    "{op:?}({v}) = {g}, libm {w}"
                );
            }
        }
    }
}
