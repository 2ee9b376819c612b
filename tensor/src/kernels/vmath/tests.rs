//! Accuracy and special values of every vectorised op on every ISA this CPU
//! supports. These tests call [`eval`] with an explicit ISA, so none of them
//! touches the process-wide `simd::force`.

use super::{eval, vectorised};
use crate::kernels::simd::{self, Isa};
use crate::kernels::unary::{apply, UnaryOp};
use alloc::vec;
use alloc::vec::Vec;
use std::println;

const OPS: [UnaryOp; 16] = [
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Log1p,
    UnaryOp::Tanh,
    UnaryOp::Sigmoid,
    UnaryOp::Erf,
    UnaryOp::GeluErf,
    UnaryOp::GeluTanh,
    UnaryOp::Silu,
    UnaryOp::Softplus,
    UnaryOp::GeluErfGrad,
    UnaryOp::GeluErfGrad2,
    UnaryOp::GeluTanhGrad,
    UnaryOp::GeluTanhGrad2,
    UnaryOp::SiluGrad,
    UnaryOp::SiluGrad2,
];

/// The activation derivatives.
const GRADS: [UnaryOp; 6] = [
    UnaryOp::GeluErfGrad,
    UnaryOp::GeluErfGrad2,
    UnaryOp::GeluTanhGrad,
    UnaryOp::GeluTanhGrad2,
    UnaryOp::SiluGrad,
    UnaryOp::SiluGrad2,
];

fn isas() -> Vec<Isa> {
    [Isa::Avx2Fma, Isa::Avx512]
        .into_iter()
        .filter(|&i| i <= simd::supported())
        .collect()
}

/// The exact function in f64 (formulas chosen to avoid cancellation, so the
/// reference is accurate far beyond f32 even where the f32 formula is not).
fn reference(op: UnaryOp, x: f32) -> f64 {
    let x = f64::from(x);
    let sigmoid = |x: f64| {
        if x >= 0.0 {
            1.0 / (1.0 + libm::exp(-x))
        } else {
            let e = libm::exp(x);
            e / (1.0 + e)
        }
    };
    match op {
        UnaryOp::Exp => libm::exp(x),
        UnaryOp::Log => libm::log(x),
        UnaryOp::Log1p => libm::log1p(x),
        UnaryOp::Tanh => libm::tanh(x),
        UnaryOp::Sigmoid => sigmoid(x),
        UnaryOp::Erf => libm::erf(x),
        UnaryOp::GeluErf => 0.5 * x * libm::erfc(-x * core::f64::consts::FRAC_1_SQRT_2),
        UnaryOp::GeluTanh => {
            // 0.5·x·(1 + tanh u) = x·sigmoid(2u), with the f32 constants.
            let u = f64::from(0.797_884_6f32) * (x + f64::from(0.044_715f32) * x * x * x);
            x * sigmoid(2.0 * u)
        }
        UnaryOp::Silu => x * sigmoid(x),
        UnaryOp::Softplus => x.max(0.0) + libm::log1p(libm::exp(-x.abs())),
        _ => grad_terms(op, x).0,
    }
}

/// (σ(z), 1 − σ(z)) in f64 without cancellation.
fn sigmoid_pair64(z: f64) -> (f64, f64) {
    let e = libm::exp(-z.abs());
    let (d, m) = (1.0 / (1.0 + e), e / (1.0 + e));
    if z >= 0.0 {
        (d, m)
    } else {
        (m, d)
    }
}

/// The exact activation derivative at `x` (f64, arguments clamped where the
/// result is constant in f64 too, so infinities give limits); the sum of
/// the magnitudes of the terms its f32 formula adds, times (1 + |z|) where
/// an exponential's argument z is itself rounded (the size of the rounding
/// errors the formula cannot avoid: the result passes through zero at the
/// derivative's roots, where no relative bound holds); and the factor that
/// multiplies the exponential (φ, σ or 1 − σ), which carries a subnormal
/// exponential's absolute error into the result.
fn grad_terms(op: UnaryOp, x: f64) -> (f64, f64, f64) {
    let pdf = |x: f64| libm::exp(-0.5 * x * x) / (2.0 * core::f64::consts::PI).sqrt();
    let (c, a) = (f64::from(0.797_884_6f32), f64::from(0.044_715f32));
    let gx = x.clamp(-40.0, 40.0);
    let sx = x.clamp(-800.0, 800.0);
    let u = c * (gx + a * gx * gx * gx);
    let du = c * (1.0 + 3.0 * a * gx * gx);
    let (ts, tm) = sigmoid_pair64(2.0 * u);
    let (ss, sm) = sigmoid_pair64(sx);
    match op {
        UnaryOp::GeluErfGrad => {
            let cdf = 0.5 * libm::erfc(-gx * core::f64::consts::FRAC_1_SQRT_2);
            (cdf + gx * pdf(gx), cdf + (gx * pdf(gx)).abs(), gx.abs())
        }
        UnaryOp::GeluErfGrad2 => (
            pdf(gx) * (2.0 - gx * gx),
            pdf(gx) * (2.0 + gx * gx),
            2.0 + gx * gx,
        ),
        UnaryOp::GeluTanhGrad => {
            let k = 2.0 * gx * du * ts * tm;
            (
                ts + k,
                (ts + k.abs()) * (1.0 + (2.0 * u).abs()),
                1.0 + (2.0 * gx * du).abs(),
            )
        }
        UnaryOp::GeluTanhGrad2 => {
            let t = ts - tm;
            let terms = [du, -gx * t * du * du, 3.0 * c * a * gx * gx];
            let sum: f64 = terms.iter().sum();
            let mag: f64 = terms.iter().map(|v| v.abs()).sum();
            let q = 4.0 * ts * tm;
            (q * sum, q * mag * (1.0 + (2.0 * u).abs()), 4.0 * mag)
        }
        UnaryOp::SiluGrad => (ss + sx * ss * sm, ss + (sx * ss * sm).abs(), 1.0 + sx.abs()),
        UnaryOp::SiluGrad2 => (
            ss * sm * (2.0 + sx * (sm - ss)),
            ss * sm * (2.0 + (sx * (sm - ss)).abs()),
            2.0 + sx.abs(),
        ),
        _ => unreachable!(),
    }
}

/// The f32 ulp at `v`'s magnitude (subnormal spacing below 2⁻¹²⁶).
fn ulp(v: f64) -> f64 {
    let e = ((v.abs().to_bits() >> 52) as i32 - 1023).max(-126);
    libm::ldexp(1.0, e - 23)
}

/// Error of `got` in ulps of the exact `want`, after forgiving an absolute
/// `slack`; infinite for a wrong class (NaN, or an infinity where the
/// correctly rounded result is not one).
fn ulp_error(got: f32, want: f64, slack: f64) -> f64 {
    if want.is_nan() || got.is_nan() {
        return if want.is_nan() && got.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let rounded = want as f32;
    if rounded.is_infinite() || got.is_infinite() {
        return if got == rounded { 0.0 } else { f64::INFINITY };
    }
    ((f64::from(got) - want).abs() - slack).max(0.0) / ulp(want)
}

/// Same NaN-ness, same infinities, same zeros (with sign) as `libm`.
fn same_class(got: f32, libm: f32) -> bool {
    if got.is_nan() || libm.is_nan() {
        return got.is_nan() && libm.is_nan();
    }
    if got.is_infinite() || libm.is_infinite() || got == 0.0 || libm == 0.0 {
        return got.to_bits() == libm.to_bits();
    }
    true
}

#[derive(Default)]
struct Stats {
    /// Largest error against the exact result, and where.
    max: f64,
    at: f32,
    /// Largest error of `libm` (the scalar path) on the same inputs.
    libm_max: f64,
    /// Inputs whose result differs in class from `libm`'s, and the first.
    class_mismatches: usize,
    first_mismatch: Option<(f32, f32, f32)>,
    count: usize,
}

/// Runs `op` under `isa` over `inputs` in blocks (of a length that is not a
/// multiple of the vector width, so tails are exercised too), measuring
/// errors beyond an absolute `slack(x)` in ulps.
fn sweep(
    op: UnaryOp,
    isa: Isa,
    inputs: impl Iterator<Item = f32>,
    slack: impl Fn(f32) -> f64,
) -> Stats {
    let mut st = Stats::default();
    let mut block = Vec::with_capacity(4099);
    let mut out = Vec::new();
    let mut flush = |block: &mut Vec<f32>, st: &mut Stats| {
        out.clear();
        out.resize(block.len(), 0.0);
        assert!(eval(op, isa, block, &mut out));
        for (&x, &y) in block.iter().zip(&out) {
            let want = reference(op, x);
            let lib = apply(op, x);
            let e = ulp_error(y, want, slack(x));
            if e > st.max || e.is_nan() {
                st.max = e;
                st.at = x;
            }
            st.libm_max = st.libm_max.max(ulp_error(lib, want, slack(x)));
            if !same_class(y, lib) {
                st.class_mismatches += 1;
                st.first_mismatch.get_or_insert((x, y, lib));
            }
        }
        st.count += block.len();
        block.clear();
    };
    for x in inputs {
        block.push(x);
        if block.len() == 4099 {
            flush(&mut block, &mut st);
        }
    }
    flush(&mut block, &mut st);
    st
}

fn every_257th() -> impl Iterator<Item = f32> {
    (0..=u32::MAX).step_by(257).map(f32::from_bits)
}

/// Every f32 in `[lo, hi]` (same sign).
fn every_between(lo: f32, hi: f32) -> impl Iterator<Item = f32> {
    let (a, b) = (
        lo.to_bits().min(hi.to_bits()),
        lo.to_bits().max(hi.to_bits()),
    );
    (a..=b).map(f32::from_bits)
}

fn report(op: UnaryOp, isa: Isa, what: &str, st: &Stats) {
    println!(
        "{isa:?} {op:?} {what}: {} inputs, max {:.3} ulp at {:e} (libm {:.3}), class mismatches {} {:?}",
        st.count, st.max, st.at, st.libm_max, st.class_mismatches, st.first_mismatch
    );
}

/// exp, log, log1p, tanh, sigmoid, erf: within 2 ulp of the exact result over
/// every 257th bit pattern (both signs, subnormals, infinities, NaNs), and
/// every f32 around exp's overflow and underflow thresholds; zeros,
/// infinities and NaNs exactly where `libm` has them.
#[test]
fn primitives_within_2_ulp() {
    let prims = [
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Log1p,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Erf,
    ];
    for isa in isas() {
        for op in prims {
            let st = sweep(op, isa, every_257th(), |_| 0.0);
            report(op, isa, "every 257th", &st);
            assert!(
                st.max <= 2.0,
                "{isa:?} {op:?}: {} ulp at {:e}",
                st.max,
                st.at
            );
            assert_eq!(
                st.class_mismatches, 0,
                "{isa:?} {op:?}: {:?}",
                st.first_mismatch
            );
        }
        for (op, lo, hi) in [
            (UnaryOp::Exp, -104.5f32, -86.0f32),
            (UnaryOp::Exp, 86.0, 89.5),
            (UnaryOp::Sigmoid, -104.5, -86.0),
        ] {
            let st = sweep(op, isa, every_between(lo, hi), |_| 0.0);
            report(op, isa, &std::format!("every f32 in [{lo}, {hi}]"), &st);
            assert!(
                st.max <= 2.0,
                "{isa:?} {op:?}: {} ulp at {:e}",
                st.max,
                st.at
            );
            assert_eq!(
                st.class_mismatches, 0,
                "{isa:?} {op:?}: {:?}",
                st.first_mismatch
            );
        }
    }
}

/// The composites evaluate the scalar formulas on the functions above:
/// softplus within 2 ulp everywhere; SiLU within 2 ulp where e^x is normal
/// (below −87 it is subnormal, and x·sigmoid(x) carries its rounding, as in
/// `libm`: allowed |x|·2⁻¹⁵⁰ more); both GELUs within 2 ulp for x ≥ 0, and
/// for x < 0 allowed |x|·2⁻²⁴ more: the cancellation in 1 + erf or 1 + tanh
/// near −1, present in the scalar formula too (`libm` meets this bound).
#[test]
fn composites_within_2_ulp_beyond_their_cancellation() {
    let gelu = |x: f32| {
        if x < 0.0 {
            f64::from(x).abs() * libm::ldexp(1.0, -24)
        } else {
            0.0
        }
    };
    let silu = |x: f32| {
        if x < -87.0 {
            f64::from(x).abs() * libm::ldexp(1.0, -150)
        } else {
            0.0
        }
    };
    for isa in isas() {
        for (op, slack) in [
            (UnaryOp::Softplus, &(|_| 0.0) as &dyn Fn(f32) -> f64),
            (UnaryOp::Silu, &silu),
            (UnaryOp::GeluErf, &gelu),
            (UnaryOp::GeluTanh, &gelu),
        ] {
            let st = sweep(op, isa, every_257th(), slack);
            report(op, isa, "every 257th", &st);
            assert!(
                st.max <= 2.0,
                "{isa:?} {op:?}: {} ulp at {:e}",
                st.max,
                st.at
            );
            if matches!(op, UnaryOp::GeluErf | UnaryOp::GeluTanh) {
                assert!(st.libm_max <= 2.0, "libm {op:?}: {} ulp", st.libm_max);
            }
            assert_eq!(
                st.class_mismatches, 0,
                "{isa:?} {op:?}: {:?}",
                st.first_mismatch
            );
            // Without slack, on arguments that do not cancel.
            let st = sweep(op, isa, every_257th().filter(|&x| x >= 0.0), |_| 0.0);
            report(op, isa, "x >= 0", &st);
            assert!(
                st.max <= 2.0,
                "{isa:?} {op:?}: {} ulp at {:e}",
                st.max,
                st.at
            );
            // For information: no slack on [−1, 0).
            let near = every_257th().filter(|&x| (-1.0..0.0).contains(&x));
            report(
                op,
                isa,
                "[-1, 0) without slack",
                &sweep(op, isa, near, |_| 0.0),
            );
        }
    }
}

/// The unavoidable rounding error of an activation derivative's f32 formula
/// at `x`: one rounding (2⁻²⁴) of the magnitude of its terms, amplified by
/// the rounded argument of the exponential (see [`grad_terms`]: it matters
/// near the roots, where no relative bound holds, and for GELU-tanh where
/// e^(−2|u|) has a large argument); the subnormal spacing 2⁻¹⁴⁹ times the
/// factor on the exponential (where φ, σ or 1 − σ is subnormal); and for
/// GELU-erf's first derivative at x < 0 another 2⁻²⁴: Φ(x) = (1 + erf(x/√2))/2
/// cancels there as in GELU itself (the scalar formula too), and is 0 once
/// erf rounds to −1 (x < −5.56, where Φ < 2⁻²⁶).
fn grad_unit(op: UnaryOp, x: f32) -> f64 {
    let (_, mag, factor) = grad_terms(op, f64::from(x));
    let cdf = if op == UnaryOp::GeluErfGrad && x < 0.0 {
        libm::ldexp(1.0, -24)
    } else {
        0.0
    };
    mag * libm::ldexp(1.0, -24) + libm::ldexp(1.0, -149) * factor + cdf
}

/// The activation derivatives (GELU erf and tanh, SiLU; first and second)
/// over every 257th bit pattern: |error| ≤ 2 ulp + 8·[`grad_unit`] (measured
/// on AVX2 and AVX-512: at most 3.4 units with 2 ulp subtracted first; the
/// scalar formula's worst is printed beside), and zeros, infinities and NaNs
/// where `libm` has them.
#[test]
fn activation_derivatives_within_2_ulp_beyond_slack() {
    for isa in isas() {
        for op in GRADS {
            let mut worst = (0.0f64, 0.0f32, 0.0f64);
            let mut mismatches = 0;
            let xs: Vec<f32> = every_257th().collect();
            for block in xs.chunks(4099) {
                let mut out = alloc::vec![0.0; block.len()];
                assert!(eval(op, isa, block, &mut out));
                for (&x, &y) in block.iter().zip(&out) {
                    let want = reference(op, x);
                    let lib = apply(op, x);
                    let units = |got: f32| {
                        let e = ulp_error(got, want, 0.0);
                        if e <= 2.0 {
                            0.0
                        } else if e.is_finite() {
                            (e - 2.0) * ulp(want) / grad_unit(op, x)
                        } else {
                            e
                        }
                    };
                    let (e, l) = (units(y), units(lib));
                    if e > worst.0 || e.is_nan() {
                        worst = (e, x, worst.2);
                    }
                    worst.2 = worst.2.max(l);
                    if !same_class(y, lib) {
                        mismatches += 1;
                    }
                }
            }
            println!(
                "{isa:?} {op:?}: max {:.3} units beyond 2 ulp at {:e} (libm {:.3}), class mismatches {mismatches}",
                worst.0, worst.1, worst.2
            );
            assert!(
                worst.0 <= 8.0,
                "{isa:?} {op:?}: {} units at {:e}",
                worst.0,
                worst.1
            );
            assert_eq!(mismatches, 0, "{isa:?} {op:?}");
        }
    }
}

/// Hand-picked special arguments: the class (and sign of zeros and
/// infinities) is `libm`'s, and finite results are within 2 ulp.
#[test]
fn special_values() {
    let xs = [
        0.0f32,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::from_bits(0x8000_0001),
        f32::from_bits(0x007f_ffff),
        f32::EPSILON,
        1e-30,
        -1e-30,
        1.0,
        -1.0,
        -1.0 + f32::EPSILON / 2.0,
        -1.0 - f32::EPSILON,
        88.722_83,
        88.722_84,
        -87.336_55,
        -103.972_08,
        -103.972_09,
        -104.0,
        89.0,
        9.0,
        -9.0,
        10.0,
        3.92,
        -3.93,
        4.0,
        -6.0,
        1e10,
        -1e10,
        0.625,
        -0.625,
        0.414_213_5,
        -0.292_893_2,
    ];
    for isa in isas() {
        for op in OPS {
            let mut out = [0.0f32; 40];
            assert!(eval(op, isa, &xs, &mut out));
            for (&x, &y) in xs.iter().zip(&out) {
                let lib = apply(op, x);
                assert!(
                    same_class(y, lib),
                    "{isa:?} {op:?}({x:e}) = {y:e}, libm {lib:e}"
                );
                let e = ulp_error(y, reference(op, x), 0.0);
                if y.is_finite()
                    && y != 0.0
                    && matches!(
                        op,
                        UnaryOp::Exp
                            | UnaryOp::Log
                            | UnaryOp::Log1p
                            | UnaryOp::Tanh
                            | UnaryOp::Sigmoid
                            | UnaryOp::Erf
                    )
                {
                    assert!(e <= 2.0, "{isa:?} {op:?}({x:e}) = {y:e}: {e} ulp");
                }
            }
        }
    }
}

/// Every length up to 70 and a few larger ones: the result of each element
/// does not depend on where it sits (full vector or tail).
#[test]
fn tails() {
    let data: Vec<f32> = (0..1037).map(|i| (i as f32 * 0.731).sin() * 12.0).collect();
    for isa in isas() {
        for op in OPS {
            let mut full = alloc::vec![0.0; data.len()];
            assert!(eval(op, isa, &data, &mut full));
            for n in (0..=70).chain([127, 128, 129, 1000, 1037]) {
                for start in [0, 1, 5] {
                    if start + n > data.len() {
                        continue;
                    }
                    let mut out = alloc::vec![f32::NAN; n];
                    assert!(eval(op, isa, &data[start..start + n], &mut out));
                    let want: Vec<u32> =
                        full[start..start + n].iter().map(|v| v.to_bits()).collect();
                    let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
                    assert_eq!(got, want, "{isa:?} {op:?} len {n} from {start}");
                }
            }
        }
    }
}

/// `eval` handles exactly the ops `vectorised` lists, and nothing under
/// `Isa::Scalar`.
#[test]
fn coverage() {
    let x = [0.5f32; 3];
    let mut out = [0.0f32; 3];
    for isa in isas() {
        for op in [
            UnaryOp::Neg,
            UnaryOp::Sqrt,
            UnaryOp::Sin,
            UnaryOp::Relu,
            UnaryOp::Sign,
        ]
        .into_iter()
        .chain(OPS)
        {
            assert_eq!(eval(op, isa, &x, &mut out), vectorised(op), "{op:?}");
        }
    }
    assert!(!eval(UnaryOp::Exp, Isa::Scalar, &x, &mut out));
}

/// The one-pass GELU and derivative gives the bits of the two kernels, on
/// every 257th f32 pattern (NaN, ±inf, beyond the ±20 clamp, subnormals) and
/// on ragged lengths (the padded tail).
#[test]
fn gelu_pair_matches_the_two_kernels_bit_for_bit() {
    let mut xs: Vec<f32> = every_257th().collect();
    xs.extend([
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        20.0,
        -20.0,
        25.0,
        -0.0,
    ]);
    for isa in isas() {
        for len in [xs.len(), 13, 7] {
            let x = &xs[..len];
            let (mut y, mut d) = (vec![0.0f32; len], vec![0.0f32; len]);
            let (mut wy, mut wd) = (vec![0.0f32; len], vec![0.0f32; len]);
            assert!(super::gelu_erf_pair(isa, x, &mut y, &mut d));
            assert!(eval(UnaryOp::GeluErf, isa, x, &mut wy));
            assert!(eval(UnaryOp::GeluErfGrad, isa, x, &mut wd));
            for i in 0..len {
                assert_eq!(y[i].to_bits(), wy[i].to_bits(), "{isa:?} gelu({})", x[i]);
                assert_eq!(d[i].to_bits(), wd[i].to_bits(), "{isa:?} gelu'({})", x[i]);
            }
        }
    }
}
