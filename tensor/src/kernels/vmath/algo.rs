//! The vectorised algorithms, written once against [`Simd`]: the AVX2 and
//! AVX-512 kernels are the same sequence of operations on the same constants,
//! only on 8 or 16 lanes.
//!
//! The polynomial coefficients are weighted minimax fits (Remez exchange in
//! 60-digit arithmetic, then rounded to f32, each coefficient in turn with the
//! remaining ones refitted), written as bit patterns so that they are exact.
//!
//! Everything here is `#[inline(always)]` down to the intrinsics: only the
//! ISA's `eval` carries `#[target_feature]`, and an intrinsic inlines only
//! into a function that has its target features, so nothing between may stay
//! out of line.

use crate::kernels::unary::UnaryOp;

mod grad;
use grad::{gelu_erf_grad, gelu_erf_grad2, gelu_tanh_grad, gelu_tanh_grad2, silu_grad, silu_grad2};

/// Lane-wise f32 operations of one instruction set.
///
/// A value of an implementing type is a token proving that the CPU supports
/// that instruction set: implementers make it constructible only through an
/// `unsafe` constructor whose contract is that support, which is what makes
/// the safe methods sound. Implementations are `#[inline(always)]`.
pub(super) trait Simd: Copy {
    /// Lanes per vector.
    const LANES: usize;
    /// `LANES` f32 values.
    type V: Copy;
    /// `LANES` i32 values.
    type I: Copy;
    /// A per-lane boolean.
    type M: Copy;

    /// Loads `LANES` values from `p` (unaligned).
    ///
    /// # Safety
    /// `p` is valid for reading `LANES` f32.
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// Stores `LANES` values to `p` (unaligned).
    ///
    /// # Safety
    /// `p` is valid for writing `LANES` f32.
    unsafe fn store(self, p: *mut f32, v: Self::V);

    fn splat(self, v: f32) -> Self::V;
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a·b + c` with one rounding.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a < b ? a : b` per lane: `b` when either is NaN (`vminps`).
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a > b ? a : b` per lane: `b` when either is NaN (`vmaxps`).
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    fn and(self, a: Self::V, b: Self::V) -> Self::V;
    fn or(self, a: Self::V, b: Self::V) -> Self::V;

    fn bits(self, a: Self::V) -> Self::I;
    fn of_bits(self, a: Self::I) -> Self::V;
    fn isplat(self, v: i32) -> Self::I;
    fn iadd(self, a: Self::I, b: Self::I) -> Self::I;
    fn isub(self, a: Self::I, b: Self::I) -> Self::I;
    fn iand(self, a: Self::I, b: Self::I) -> Self::I;
    /// Shift left by 23 (into the exponent field).
    fn shl23(self, a: Self::I) -> Self::I;
    /// Arithmetic shift right by 23.
    fn sar23(self, a: Self::I) -> Self::I;
    /// Arithmetic shift right by 1.
    fn sar1(self, a: Self::I) -> Self::I;
    /// Converts exactly representable integers to f32.
    fn to_f32(self, a: Self::I) -> Self::V;

    /// `a < b` (ordered: false if either is NaN).
    fn lt(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a <= b` (ordered).
    fn le(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a > b` (ordered).
    fn gt(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a >= b` (ordered).
    fn ge(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a == b` (ordered).
    fn eq(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a` is NaN.
    fn is_nan(self, a: Self::V) -> Self::M;
    fn mand(self, a: Self::M, b: Self::M) -> Self::M;
    fn mnot(self, a: Self::M) -> Self::M;
    /// Whether any lane is set.
    fn any(self, a: Self::M) -> bool;
    /// `m ? a : b` per lane.
    fn select(self, m: Self::M, a: Self::V, b: Self::V) -> Self::V;
}

/// `out[i] = op(x[i])` if `op` is one of the vectorised ops (the list in
/// [`super::vectorised`]); otherwise returns false and leaves `out` alone.
#[inline(always)]
pub(super) fn dispatch<S: Simd>(s: S, op: UnaryOp, x: &[f32], out: &mut [f32]) -> bool {
    match op {
        UnaryOp::Exp => run::<S, Exp>(s, x, out),
        UnaryOp::Log => run::<S, Log>(s, x, out),
        UnaryOp::Log1p => run::<S, Log1p>(s, x, out),
        UnaryOp::Tanh => run::<S, Tanh>(s, x, out),
        UnaryOp::Sigmoid => run::<S, Sigmoid>(s, x, out),
        UnaryOp::Erf => run::<S, Erf>(s, x, out),
        UnaryOp::GeluErf => run::<S, GeluErf>(s, x, out),
        UnaryOp::GeluTanh => run::<S, GeluTanh>(s, x, out),
        UnaryOp::Silu => run::<S, Silu>(s, x, out),
        UnaryOp::Softplus => run::<S, Softplus>(s, x, out),
        UnaryOp::GeluErfGrad => run::<S, GeluErfGrad>(s, x, out),
        UnaryOp::GeluErfGrad2 => run::<S, GeluErfGrad2>(s, x, out),
        UnaryOp::GeluTanhGrad => run::<S, GeluTanhGrad>(s, x, out),
        UnaryOp::GeluTanhGrad2 => run::<S, GeluTanhGrad2>(s, x, out),
        UnaryOp::SiluGrad => run::<S, SiluGrad>(s, x, out),
        UnaryOp::SiluGrad2 => run::<S, SiluGrad2>(s, x, out),
        _ => return false,
    }
    true
}

/// A function of one vector. (A trait rather than closures or fn pointers:
/// those go through `Fn::call` shims that do not carry the caller's target
/// features, so the intrinsics inside would not inline.)
trait Func {
    fn apply<S: Simd>(s: S, x: S::V) -> S::V;
}

macro_rules! funcs {
    ($($name:ident => $f:ident),* $(,)?) => {$(
        struct $name;
        impl Func for $name {
            #[inline(always)]
            fn apply<S: Simd>(s: S, x: S::V) -> S::V {
                $f(s, x)
            }
        }
    )*};
}

funcs! {
    Exp => exp,
    Log => log,
    Log1p => log1p,
    Tanh => tanh,
    Sigmoid => sigmoid,
    Erf => erf,
    GeluErf => gelu_erf,
    GeluTanh => gelu_tanh,
    Silu => silu,
    Softplus => softplus,
    GeluErfGrad => gelu_erf_grad,
    GeluErfGrad2 => gelu_erf_grad2,
    GeluTanhGrad => gelu_tanh_grad,
    GeluTanhGrad2 => gelu_tanh_grad2,
    SiluGrad => silu_grad,
    SiluGrad2 => silu_grad2,
}

/// `out[i] = F(x[i])`, `S::LANES` at a time; the tail goes through a buffer
/// padded with 1.0 (a value every function here takes its fast path on).
#[inline(always)]
fn run<S: Simd, F: Func>(s: S, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "vmath: slice lengths differ");
    let n = x.len();
    let l = S::LANES;
    let mut i = 0;
    while i + l <= n {
        // SAFETY: `i + LANES <= n` and both slices have length `n`.
        unsafe {
            s.store(
                out.as_mut_ptr().add(i),
                F::apply(s, s.load(x.as_ptr().add(i))),
            )
        };
        i += l;
    }
    if i < n {
        let mut buf = [1.0f32; 16];
        debug_assert!(l <= buf.len());
        buf[..n - i].copy_from_slice(&x[i..]);
        // SAFETY: `buf` holds 16 >= LANES floats.
        unsafe { s.store(buf.as_mut_ptr(), F::apply(s, s.load(buf.as_ptr()))) };
        out[i..].copy_from_slice(&buf[..n - i]);
    }
}

const SIGN: f32 = -0.0;

#[inline(always)]
fn c<S: Simd>(s: S, v: f32) -> S::V {
    s.splat(v)
}

#[inline(always)]
fn abs<S: Simd>(s: S, x: S::V) -> S::V {
    s.and(x, c(s, f32::from_bits(0x7fff_ffff)))
}

/// −|x|.
#[inline(always)]
fn neg_abs<S: Simd>(s: S, x: S::V) -> S::V {
    s.or(x, c(s, SIGN))
}

/// The sign bit of `x` put on `y` (`y` has its sign bit clear).
#[inline(always)]
fn with_sign_of<S: Simd>(s: S, y: S::V, x: S::V) -> S::V {
    s.or(y, s.and(x, c(s, SIGN)))
}

/// Horner's scheme: `p[0] + t·(p[1] + t·(p[2] + …))`.
#[inline(always)]
fn horner<S: Simd, const N: usize>(s: S, t: S::V, p: &[f32; N]) -> S::V {
    let mut acc = c(s, p[N - 1]);
    for &k in p[..N - 1].iter().rev() {
        acc = s.fma(acc, t, c(s, k));
    }
    acc
}

// ---------------------------------------------------------------- exp

const LOG2E: f32 = f32::from_bits(0x3fb8_aa3b); // 1.442695
/// 1.5·2²³: adding it rounds a float of magnitude < 2²² to an integer, which
/// then sits in the low mantissa bits.
const SHIFTER: f32 = 12_582_912.0;
const SHIFTER_BITS: i32 = 0x4b40_0000;
/// ln 2 rounded to f32, and the f32 nearest the remainder (Cody–Waite).
const LN2_HI: f32 = f32::from_bits(0x3f31_7218); // 0.6931472
const LN2_LO: f32 = f32::from_bits(0xb102_e308); // -1.9046542e-9
/// Below this |x| the result is normal or gradual-underflow from one scaling.
const EXP_FAST_MAX: f32 = 87.0;
/// Clamps of the general path: exp(−104) rounds to 0, exp(89) overflows.
const EXP_CLAMP_LO: f32 = -104.0;
const EXP_CLAMP_HI: f32 = 89.0;
/// eʳ ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2; relative error 2^-27.9.
const EXP_P: [f32; 5] = [
    f32::from_bits(0x3eff_fffe), // 0.49999994
    f32::from_bits(0x3e2a_aa49), // 0.16666521
    f32::from_bits(0x3d2a_ac79), // 0.041668389
    f32::from_bits(0x3c09_1cf0), // 0.0083687156
    f32::from_bits(0x3ab5_121d), // 0.0013814602
];

/// Range reduction x = n·ln2 + r and the polynomial: returns eʳ − 1 and n.
#[inline(always)]
fn exp_reduce<S: Simd>(s: S, x: S::V) -> (S::V, S::I) {
    let t = s.fma(x, c(s, LOG2E), c(s, SHIFTER));
    let n = s.sub(t, c(s, SHIFTER));
    let r = s.fma(n, c(s, -LN2_HI), x); // exact
    let r = s.fma(n, c(s, -LN2_LO), r);
    let p = horner(s, r, &EXP_P);
    let q = s.fma(s.mul(r, r), p, r);
    (q, s.isub(s.bits(t), s.isplat(SHIFTER_BITS)))
}

/// 2ⁿ for −126 ≤ n ≤ 127.
#[inline(always)]
fn pow2i<S: Simd>(s: S, n: S::I) -> S::V {
    s.of_bits(s.shl23(s.iadd(n, s.isplat(127))))
}

/// eˣ for |x| < [`EXP_FAST_MAX`] (or NaN, which propagates).
#[inline(always)]
fn exp_fast<S: Simd>(s: S, x: S::V) -> S::V {
    let (q, n) = exp_reduce(s, x);
    s.mul(s.add(q, c(s, 1.0)), pow2i(s, n))
}

/// eˣ for every x: overflow to +inf, gradual underflow to subnormals and 0.
#[inline(always)]
fn exp_full<S: Simd>(s: S, x: S::V) -> S::V {
    // The constant goes first so that a NaN `x` passes through.
    let x = s.min(c(s, EXP_CLAMP_HI), s.max(c(s, EXP_CLAMP_LO), x));
    let (q, n) = exp_reduce(s, x);
    let p = s.add(q, c(s, 1.0));
    // −150 ≤ n ≤ 128: scale in two steps so each factor is a normal number
    // and only the last product rounds.
    let n1 = s.sar1(n);
    let n2 = s.isub(n, n1);
    s.mul(s.mul(p, pow2i(s, n1)), pow2i(s, n2))
}

/// eˣ.
#[inline(always)]
pub(super) fn exp<S: Simd>(s: S, x: S::V) -> S::V {
    let slow = s.mnot(s.lt(abs(s, x), c(s, EXP_FAST_MAX)));
    if s.any(slow) {
        exp_full(s, x)
    } else {
        exp_fast(s, x)
    }
}

// ---------------------------------------------------------------- log

/// Bits of √½: x = 2ᵏ·m with m in [√½, √2).
const SQRT_HALF_BITS: i32 = 0x3f35_04f3;
const MANT_MASK: i32 = 0x007f_ffff;
/// ln(1 + f) ≈ f − f²/2 + f³·P(f) on [√½ − 1, √2 − 1]; relative error 2^-27.3.
const LOG_P: [f32; 8] = [
    f32::from_bits(0x3eaa_aaaa), // 0.33333331
    f32::from_bits(0xbe80_0114), // -0.25000823
    f32::from_bits(0x3e4c_d009), // 0.20001234
    f32::from_bits(0xbe2a_38fb), // -0.16623299
    f32::from_bits(0x3e11_6c85), // 0.14201553
    f32::from_bits(0xbe06_c3ad), // -0.13160582
    f32::from_bits(0x3e02_b24a), // 0.12763324
    f32::from_bits(0xbd9c_60cf), // -0.076356523
];
const LOG1P_DIRECT_LO: f32 = -0.292_893_2; // √½ − 1 (rounded up)
const LOG1P_DIRECT_HI: f32 = 0.414_213_54; // √2 − 1 (rounded down)

/// x = 2ᵏ·m with m in [√½, √2) for positive normal x: returns (m − 1, k).
#[inline(always)]
fn log_split<S: Simd>(s: S, x: S::V) -> (S::V, S::V) {
    let ix = s.isub(s.bits(x), s.isplat(SQRT_HALF_BITS));
    let k = s.to_f32(s.sar23(ix));
    let m = s.of_bits(s.iadd(s.iand(ix, s.isplat(MANT_MASK)), s.isplat(SQRT_HALF_BITS)));
    (s.sub(m, c(s, 1.0)), k) // exact (Sterbenz)
}

/// k·ln2 + ln(1 + f) + lo, for f in [√½ − 1, √2 − 1] and a small correction
/// `lo`, adding the large terms last.
#[inline(always)]
fn log_poly<S: Simd>(s: S, f: S::V, k: S::V, lo: Option<S::V>) -> S::V {
    let p = horner(s, f, &LOG_P);
    let mut y = s.mul(s.mul(f, f), s.fma(f, p, c(s, -0.5)));
    if let Some(lo) = lo {
        y = s.add(y, lo);
    }
    let y = s.fma(k, c(s, LN2_LO), y);
    s.fma(k, c(s, LN2_HI), s.add(f, y))
}

/// ln x for arguments that are not all positive, finite and normal.
#[inline(always)]
fn log_special<S: Simd>(s: S, x: S::V) -> S::V {
    // Subnormals: scale by 2²³ first.
    let sub = s.lt(x, c(s, f32::MIN_POSITIVE));
    let xs = s.select(sub, s.mul(x, c(s, 8_388_608.0)), x);
    let (f, k) = log_split(s, xs);
    let k = s.add(k, s.select(sub, c(s, -23.0), c(s, 0.0)));
    let y = log_poly(s, f, k, None);
    let y = s.select(s.eq(x, c(s, f32::INFINITY)), x, y);
    let y = s.select(s.eq(x, c(s, 0.0)), c(s, f32::NEG_INFINITY), y);
    let y = s.select(s.lt(x, c(s, 0.0)), c(s, f32::NAN), y);
    s.select(s.is_nan(x), x, y)
}

/// ln x.
#[inline(always)]
pub(super) fn log<S: Simd>(s: S, x: S::V) -> S::V {
    let ok = s.mand(s.ge(x, c(s, f32::MIN_POSITIVE)), s.le(x, c(s, f32::MAX)));
    if s.any(s.mnot(ok)) {
        return log_special(s, x);
    }
    let (f, k) = log_split(s, x);
    log_poly(s, f, k, None)
}

/// ln(1 + x).
#[inline(always)]
pub(super) fn log1p<S: Simd>(s: S, x: S::V) -> S::V {
    let one = c(s, 1.0);
    let u = s.add(one, x);
    // The rounding error of 1 + x (two-sum), carried as c/u.
    let bv = s.sub(u, one);
    let av = s.sub(u, bv);
    let err = s.add(s.sub(one, av), s.sub(x, bv));
    let (fu, ku) = log_split(s, u);
    // Near 0 the argument is its own reduced form: no rounding at all.
    let direct = s.mand(
        s.ge(x, c(s, LOG1P_DIRECT_LO)),
        s.lt(x, c(s, LOG1P_DIRECT_HI)),
    );
    let zero = c(s, 0.0);
    let f = s.select(direct, x, fu);
    let k = s.select(direct, zero, ku);
    let lo = s.select(direct, zero, s.div(err, u));
    // ±0 keeps its sign (the k·ln2 terms would turn −0 into +0).
    let y = s.select(s.eq(x, zero), x, log_poly(s, f, k, Some(lo)));
    let ok = s.mand(s.gt(x, c(s, -1.0)), s.lt(x, c(s, f32::INFINITY)));
    if s.any(s.mnot(ok)) {
        log1p_fix(s, x, y)
    } else {
        y
    }
}

#[inline(always)]
fn log1p_fix<S: Simd>(s: S, x: S::V, y: S::V) -> S::V {
    let y = s.select(s.eq(x, c(s, f32::INFINITY)), x, y);
    let y = s.select(s.eq(x, c(s, -1.0)), c(s, f32::NEG_INFINITY), y);
    let y = s.select(s.lt(x, c(s, -1.0)), c(s, f32::NAN), y);
    s.select(s.is_nan(x), x, y)
}

// ---------------------------------------------------------------- tanh, sigmoid

/// Below this |x| tanh is the odd polynomial, above it 1 − 2/(e²ˣ + 1).
const TANH_SMALL: f32 = 0.625;
/// Above this |x| tanh rounds to ±1 (and e²ˣ stays in the fast range).
const TANH_SAT: f32 = 9.125;
/// tanh x ≈ x + x³·P(x²) on |x| ≤ 0.625; relative error 2^-32.
const TANH_P: [f32; 6] = [
    f32::from_bits(0xbeaa_aaaa), // -0.33333331
    f32::from_bits(0x3e08_883d), // 0.13333221
    f32::from_bits(0xbd5c_f8c4), // -0.053948179
    f32::from_bits(0x3cb1_d2a8), // 0.021706894
    f32::from_bits(0xbc06_2f68), // -0.0081900135
    f32::from_bits(0x3b0d_140b), // 0.0021526839
];

/// tanh x.
#[inline(always)]
pub(super) fn tanh<S: Simd>(s: S, x: S::V) -> S::V {
    let one = c(s, 1.0);
    let a = abs(s, x);
    let a2 = s.mul(a, a);
    let small = s.fma(s.mul(a, a2), horner(s, a2, &TANH_P), a);
    let ac = s.min(c(s, TANH_SAT), a); // NaN passes through
    let e = exp_fast(s, s.add(ac, ac));
    let large = s.sub(one, s.div(c(s, 2.0), s.add(e, one)));
    let y = s.select(s.lt(a, c(s, TANH_SMALL)), small, large);
    with_sign_of(s, y, x)
}

/// 1/(1 + e⁻ˣ) for x ≥ 0, eˣ/(1 + eˣ) below.
///
/// Rounding 1 + e and e/(1 + e) separately costs up to 2.4 ulp (as `libm`'s
/// scalar formula does), so the quotient is formed in extended precision:
/// with e^(−|x|) = 2ⁿ·p (n ≤ 0) and m = 2⁻ⁿ, sigmoid is m/(m + p) or
/// p/(m + p), where p = 1 + q is kept as a head and tail (fast two-sum), as is
/// m + p, and the quotient gets one correction step from its exact remainder.
#[inline(always)]
pub(super) fn sigmoid<S: Simd>(s: S, x: S::V) -> S::V {
    let big = s.mnot(s.lt(abs(s, x), c(s, EXP_FAST_MAX)));
    if s.any(big) {
        // The scalar formula where |x| ≥ 87 (1 or a subnormal e^x, computed
        // exactly enough either way) or NaN.
        let one = c(s, 1.0);
        let e = exp_full(s, neg_abs(s, x));
        let num = s.select(s.ge(x, c(s, 0.0)), one, e);
        let plain = s.div(num, s.add(one, e));
        let xc = s.max(c(s, -EXP_FAST_MAX), s.min(c(s, EXP_FAST_MAX), x));
        return s.select(big, plain, sigmoid_core(s, xc));
    }
    sigmoid_core(s, x)
}

/// [`sigmoid`] for |x| < 87.
#[inline(always)]
fn sigmoid_core<S: Simd>(s: S, x: S::V) -> S::V {
    let one = c(s, 1.0);
    let (q, n) = exp_reduce(s, neg_abs(s, x));
    let ph = s.add(one, q);
    let pl = s.add(s.sub(one, ph), q);
    let m = pow2i(s, s.isub(s.isplat(0), n)); // 1 ≤ m ≤ 2¹²⁶
    let dh = s.add(m, ph);
    let dl = s.add(s.add(s.sub(m, dh), ph), pl); // m ≥ ph's binade: fast two-sum
    let pos = s.ge(x, c(s, 0.0));
    let nh = s.select(pos, m, ph);
    let nl = s.select(pos, c(s, 0.0), pl);
    let rd = s.div(one, dh);
    let y0 = s.mul(nh, rd);
    // (nh + nl)/(dh + dl) − y0 ≈ (nh − y0·dh + nl − y0·dl)/dh
    let res = s.fma(s.sub(c(s, 0.0), y0), dh, nh);
    let corr = s.fma(s.sub(c(s, 0.0), y0), dl, s.add(res, nl));
    s.fma(corr, rd, y0)
}

// ---------------------------------------------------------------- erf

/// Below this |x| erf is x + x·P(x²), above it 1 − e^(−x²)·Q(x).
const ERF_SMALL: f32 = 1.0;
/// Above this |x| erf rounds to ±1.
const ERF_SAT: f32 = 3.93;
/// erf x ≈ x + x·P(x²) on |x| ≤ 1; relative error 2^-29.4.
const ERF_P: [f32; 7] = [
    f32::from_bits(0x3e03_75d4), // 0.12837917
    f32::from_bits(0xbec0_939f), // -0.37612626
    f32::from_bits(0x3de7_1673), // 0.11283579
    f32::from_bits(0xbcdb_fb8d), // -0.026853347
    f32::from_bits(0x3ba9_f912), // 0.0051871622
    f32::from_bits(0xba51_a8af), // -0.00079978531
    f32::from_bits(0x38a3_b8ff), // 7.8069039e-5
];
/// Centre of the erfc polynomial's interval [1, 3.93].
const ERFC_MID: f32 = f32::from_bits(0x401d_c1be); // 2.4649501
/// erfc x · e^(x²) ≈ Q(x − ERFC_MID) on [1, 3.93]; absolute error of
/// erfc x = e^(−x²)·Q below 2^-28.
const ERFC_P: [f32; 11] = [
    f32::from_bits(0x3e5a_90d9), // 0.21344317
    f32::from_bits(0xbd9b_e7a7), // -0.076125436
    f32::from_bits(0x3cd3_5888), // 0.025799051
    f32::from_bits(0xbc08_e7f2), // -0.0083560813
    f32::from_bits(0x3b2a_05ef), // 0.0025943478
    f32::from_bits(0xba4c_fa51), // -0.00078192825
    f32::from_bits(0x3975_70e4), // 0.00023407076
    f32::from_bits(0xb87c_2e22), // -6.0124446e-5
    f32::from_bits(0x374c_19a4), // 1.2165317e-5
    f32::from_bits(0xb6d9_63e4), // -6.4787328e-6
    f32::from_bits(0x3629_9d35), // 2.5274469e-6
];

/// erf x.
#[inline(always)]
pub(super) fn erf<S: Simd>(s: S, x: S::V) -> S::V {
    let a = abs(s, x);
    let small = s.fma(a, horner(s, s.mul(a, a), &ERF_P), a);
    let ac = s.min(c(s, ERF_SAT), a); // NaN passes through
    let q = horner(s, s.sub(ac, c(s, ERFC_MID)), &ERFC_P);
    let e = exp_fast(s, neg_abs(s, s.mul(ac, ac)));
    let large = s.sub(c(s, 1.0), s.mul(e, q));
    let y = s.select(s.lt(a, c(s, ERF_SMALL)), small, large);
    with_sign_of(s, y, x)
}

// ---------------------------------------------------------------- composites
// The formulas of `unary::apply`, on the functions above.

/// h + h·v with one rounding, h = x/2, for v in [−1, 1]: (x/2)·(1 + v). The
/// result has the sign of x, also when it is zero (as in the scalar
/// (0.5·x)·(1 + v), where 1 + v = +0 gives −0 for negative x).
#[inline(always)]
fn half_x_one_plus<S: Simd>(s: S, x: S::V, v: S::V) -> S::V {
    let h = s.mul(c(s, 0.5), x);
    with_sign_of(s, s.fma(h, v, h), x)
}

/// 0.5·x·(1 + erf(x/√2)).
#[inline(always)]
pub(super) fn gelu_erf<S: Simd>(s: S, x: S::V) -> S::V {
    let e = erf(s, s.mul(x, c(s, core::f32::consts::FRAC_1_SQRT_2)));
    half_x_one_plus(s, x, e)
}

/// (GELU (erf), its derivative) from one erf: the same bits as
/// [`gelu_erf`] and [`grad::gelu_erf_grad`] (which clamps x to ±20 first,
/// where erf is already ±1; NaN passes the clamp).
#[inline(always)]
fn gelu_erf_and_grad<S: Simd>(s: S, x: S::V) -> (S::V, S::V) {
    let e = erf(s, s.mul(x, c(s, core::f32::consts::FRAC_1_SQRT_2)));
    (
        half_x_one_plus(s, x, e),
        grad::gelu_erf_grad_from_erf(s, x, e),
    )
}

/// `y[i] = GELU(x[i])` and `d[i] = GELU′(x[i])` in one pass (the tail as in
/// [`run`]).
#[inline(always)]
pub(super) fn gelu_erf_pair<S: Simd>(s: S, x: &[f32], y: &mut [f32], d: &mut [f32]) {
    assert!(
        x.len() == y.len() && x.len() == d.len(),
        "vmath: slice lengths differ"
    );
    let n = x.len();
    let l = S::LANES;
    let mut i = 0;
    while i + l <= n {
        // SAFETY: `i + LANES <= n` and the three slices have length `n`.
        unsafe {
            let (v, g) = gelu_erf_and_grad(s, s.load(x.as_ptr().add(i)));
            s.store(y.as_mut_ptr().add(i), v);
            s.store(d.as_mut_ptr().add(i), g);
        }
        i += l;
    }
    if i < n {
        let (mut bx, mut by, mut bd) = ([1.0f32; 16], [0.0f32; 16], [0.0f32; 16]);
        debug_assert!(l <= bx.len());
        bx[..n - i].copy_from_slice(&x[i..]);
        // SAFETY: the buffers hold 16 >= LANES floats.
        unsafe {
            let (v, g) = gelu_erf_and_grad(s, s.load(bx.as_ptr()));
            s.store(by.as_mut_ptr(), v);
            s.store(bd.as_mut_ptr(), g);
        }
        y[i..].copy_from_slice(&by[..n - i]);
        d[i..].copy_from_slice(&bd[..n - i]);
    }
}

/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the argument rounded as in
/// the scalar code.
#[inline(always)]
pub(super) fn gelu_tanh<S: Simd>(s: S, x: S::V) -> S::V {
    const C: f32 = 0.797_884_6;
    let x3 = s.mul(s.mul(s.mul(c(s, 0.044_715), x), x), x);
    let t = tanh(s, s.mul(c(s, C), s.add(x, x3)));
    half_x_one_plus(s, x, t)
}

/// x·sigmoid(x).
#[inline(always)]
pub(super) fn silu<S: Simd>(s: S, x: S::V) -> S::V {
    s.mul(x, sigmoid(s, x))
}

/// max(x, 0) + ln(1 + e^−|x|).
#[inline(always)]
pub(super) fn softplus<S: Simd>(s: S, x: S::V) -> S::V {
    let m = s.select(s.gt(x, c(s, 0.0)), x, c(s, 0.0));
    s.add(m, log1p(s, exp(s, neg_abs(s, x))))
}
