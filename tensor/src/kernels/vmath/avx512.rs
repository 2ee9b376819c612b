//! The [`Simd`] operations on AVX-512F (16 lanes): the same algorithms and
//! constants as the AVX2 kernels, on wider registers. Only AVX-512F
//! instructions are used (float bitwise operations go through the integer
//! domain, since `vandps zmm` needs AVX-512DQ).

use core::arch::x86_64::*;

use super::algo::{dispatch, Simd};
use crate::kernels::unary::UnaryOp;

/// Proof that the CPU supports AVX-512F.
#[derive(Clone, Copy)]
pub(super) struct Avx512(());

// SAFETY (every `unsafe` block below): an `Avx512` exists only if the CPU
// supports AVX-512F (see `Avx512::new`), which is all these intrinsics need.
impl Simd for Avx512 {
    const LANES: usize = 16;
    type V = __m512;
    type I = __m512i;
    type M = __mmask16;

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m512 {
        // SAFETY: caller's contract, and CPU support (above).
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m512) {
        // SAFETY: caller's contract, and CPU support (above).
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    fn splat(self, v: f32) -> __m512 {
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn min(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    fn max(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    fn and(self, a: __m512, b: __m512) -> __m512 {
        unsafe {
            _mm512_castsi512_ps(_mm512_and_si512(
                _mm512_castps_si512(a),
                _mm512_castps_si512(b),
            ))
        }
    }
    #[inline(always)]
    fn or(self, a: __m512, b: __m512) -> __m512 {
        unsafe {
            _mm512_castsi512_ps(_mm512_or_si512(
                _mm512_castps_si512(a),
                _mm512_castps_si512(b),
            ))
        }
    }
    #[inline(always)]
    fn bits(self, a: __m512) -> __m512i {
        unsafe { _mm512_castps_si512(a) }
    }
    #[inline(always)]
    fn of_bits(self, a: __m512i) -> __m512 {
        unsafe { _mm512_castsi512_ps(a) }
    }
    #[inline(always)]
    fn isplat(self, v: i32) -> __m512i {
        unsafe { _mm512_set1_epi32(v) }
    }
    #[inline(always)]
    fn iadd(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_add_epi32(a, b) }
    }
    #[inline(always)]
    fn isub(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn iand(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_and_si512(a, b) }
    }
    #[inline(always)]
    fn shl23(self, a: __m512i) -> __m512i {
        unsafe { _mm512_slli_epi32::<23>(a) }
    }
    #[inline(always)]
    fn sar23(self, a: __m512i) -> __m512i {
        unsafe { _mm512_srai_epi32::<23>(a) }
    }
    #[inline(always)]
    fn sar1(self, a: __m512i) -> __m512i {
        unsafe { _mm512_srai_epi32::<1>(a) }
    }
    #[inline(always)]
    fn to_f32(self, a: __m512i) -> __m512 {
        unsafe { _mm512_cvtepi32_ps(a) }
    }
    #[inline(always)]
    fn lt(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn le(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_LE_OQ>(a, b) }
    }
    #[inline(always)]
    fn gt(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b) }
    }
    #[inline(always)]
    fn ge(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_GE_OQ>(a, b) }
    }
    #[inline(always)]
    fn eq(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, b) }
    }
    #[inline(always)]
    fn is_nan(self, a: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a) }
    }
    #[inline(always)]
    fn mand(self, a: __mmask16, b: __mmask16) -> __mmask16 {
        a & b
    }
    #[inline(always)]
    fn mnot(self, a: __mmask16) -> __mmask16 {
        !a
    }
    #[inline(always)]
    fn any(self, a: __mmask16) -> bool {
        a != 0
    }
    #[inline(always)]
    fn select(self, m: __mmask16, a: __m512, b: __m512) -> __m512 {
        // `mask_blend(k, b, a)` takes `a` where `k` is set.
        unsafe { _mm512_mask_blend_ps(m, b, a) }
    }
}

impl Avx512 {
    /// # Safety
    /// The CPU supports AVX-512F.
    unsafe fn new() -> Self {
        Avx512(())
    }
}

/// `out[i] = op(x[i])` on 16 lanes if `op` is vectorised (else returns false).
///
/// # Safety
/// The CPU supports AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn eval(op: UnaryOp, x: &[f32], out: &mut [f32]) -> bool {
    // SAFETY: forwarded contract.
    dispatch(unsafe { Avx512::new() }, op, x, out)
}

/// GELU (erf) and its derivative of `x` in one pass, on 16 lanes.
///
/// # Safety
/// The CPU supports AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn gelu_erf_pair(x: &[f32], y: &mut [f32], d: &mut [f32]) {
    // SAFETY: forwarded contract.
    super::algo::gelu_erf_pair(unsafe { Avx512::new() }, x, y, d)
}
