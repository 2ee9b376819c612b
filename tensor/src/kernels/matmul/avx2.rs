//! AVX2+FMA micro-kernel: 6 × 16, twelve `ymm` accumulators, two `B` loads
//! and six broadcasts of `A` per step (16 registers in all).

use core::arch::x86_64::*;

use super::{dispatch_rows, pack, Kernel, Tile, View};

const MR: usize = 6;
const NR: usize = 16;

/// The AVX2+FMA kernel (Zen 3 blocking: a 16 KiB `KC × NR` sliver in L1,
/// a 144 KiB `MC × KC` block in L2).
pub(super) struct Avx2;

impl Kernel for Avx2 {
    const MR: usize = MR;
    const NR: usize = NR;
    const MC: usize = 144;
    const KC: usize = 256;
    const NC: usize = 4080;

    unsafe fn pack_a(mc: usize, kc: usize, a: View, dst: *mut f32) {
        // SAFETY: forwarded contract (which includes AVX2 support).
        unsafe { pack_a(mc, kc, a, dst) }
    }

    unsafe fn pack_b(kc: usize, nc: usize, b: View, dst: *mut f32) {
        // SAFETY: forwarded contract (which includes AVX2 support).
        unsafe { pack_b(kc, nc, b, dst) }
    }

    unsafe fn thin(m: usize, n: usize, k: usize, a: View, b: View, c: *mut f32, ldc: usize) {
        // SAFETY: forwarded contract (which includes CPU support).
        unsafe { thin(m, n, k, a, b, c, ldc) }
    }

    unsafe fn tile(rows: usize, packed: bool, t: &Tile) {
        // SAFETY: forwarded contract (which includes AVX2+FMA support).
        unsafe { dispatch_rows!(tile, rows, packed, t.nr < NR, t; 1 2 3 4 5 6) }
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn pack_a(mc: usize, kc: usize, a: View, dst: *mut f32) {
    // SAFETY: forwarded contract.
    unsafe { pack::pack_a::<MR>(mc, kc, a, dst) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn pack_b(kc: usize, nc: usize, b: View, dst: *mut f32) {
    // SAFETY: forwarded contract.
    unsafe {
        if b.rs == 1 && b.cs != 1 {
            pack_b_transposed::<NR>(kc, nc, b, dst)
        } else {
            pack::pack_b::<NR>(kc, nc, b, dst)
        }
    }
}

/// [`pack::pack_b`] for a `B` stored transposed (`b.rs == 1`): 8 × 8 blocks
/// go through an in-register transpose instead of a scalar scatter. Shared
/// with the AVX-512 kernel (AVX-512F implies AVX2).
///
/// # Safety
/// As [`pack::pack_b`], with `b.rs == 1`, and the CPU supports AVX2.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn pack_b_transposed<const NR: usize>(
    kc: usize,
    nc: usize,
    b: View,
    dst: *mut f32,
) {
    debug_assert_eq!(b.rs, 1);
    let mut s = 0;
    while s < nc {
        let cols = NR.min(nc - s);
        // SAFETY: sliver `s / NR` of `dst` holds `NR * kc` floats; every `B`
        // element read is `(p, s + j)` with `p < kc`, `j < cols`, inside the view.
        unsafe {
            let d = dst.add(s * kc);
            let full = cols / 8 * 8;
            for j0 in (0..full).step_by(8) {
                let src = b.ptr.add((s + j0) * b.cs);
                let mut p = 0;
                while p + 8 <= kc {
                    let rows: [__m256; 8] =
                        core::array::from_fn(|q| _mm256_loadu_ps(src.add(q * b.cs + p)));
                    for (q, v) in transpose8(rows).into_iter().enumerate() {
                        _mm256_storeu_ps(d.add((p + q) * NR + j0), v);
                    }
                    p += 8;
                }
                for p in p..kc {
                    for q in 0..8 {
                        *d.add(p * NR + j0 + q) = *src.add(q * b.cs + p);
                    }
                }
            }
            if full < NR {
                // The ragged columns: zero the tail of every row of the
                // sliver (whole-vector stores), then copy the columns that
                // exist, each contiguous in `B`.
                for p in 0..kc {
                    core::slice::from_raw_parts_mut(d.add(p * NR + full), NR - full).fill(0.0);
                }
                for j in full..cols {
                    let col = b.ptr.add((s + j) * b.cs);
                    for p in 0..kc {
                        *d.add(p * NR + j) = *col.add(p);
                    }
                }
            }
        }
        s += NR;
    }
}

/// Transposes an 8 × 8 block held as eight row vectors.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}

#[target_feature(enable = "avx2,fma")]
unsafe fn thin(m: usize, n: usize, k: usize, a: View, b: View, c: *mut f32, ldc: usize) {
    // SAFETY: forwarded contract.
    unsafe { super::thin::thin::<true>(m, n, k, a, b, c, ldc) }
}

/// `C[0..R, 0..nr] (+)= A · B`; see [`Tile`]. With `EDGE` (`nr < 16`),
/// `B` and `C` are accessed through lane masks, so nothing past column `nr`
/// is read or written.
///
/// # Safety
/// As [`Kernel::tile`].
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<const R: usize, const PACKED: bool, const EDGE: bool>(t: &Tile) {
    let (rsa, csa) = if PACKED { (1, MR) } else { (t.rsa, t.csa) };
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(t.nr as i32), lanes);
    let m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(t.nr as i32 - 8), lanes);
    for i in 0..R {
        // Fetch the `C` tile early: it is touched only after the `k` loop.
        let row = t.c.wrapping_add(i * t.ldc);
        _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(t.nr - 1) as *const i8);
    }
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.k {
        // SAFETY: step `p < k` reads `A(0..R, p)` and `B(p, 0..nr)`, valid by
        // the caller's contract; masked-off lanes are not accessed.
        unsafe {
            let (b0, b1) = if EDGE {
                (
                    _mm256_maskload_ps(b, m0),
                    _mm256_maskload_ps(b.wrapping_add(8), m1),
                )
            } else {
                (_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8)))
            };
            for (i, row) in acc.iter_mut().enumerate() {
                let x = _mm256_broadcast_ss(&*a.add(i * rsa));
                row[0] = _mm256_fmadd_ps(x, b0, row[0]);
                row[1] = _mm256_fmadd_ps(x, b1, row[1]);
            }
        }
        // Wrapping: after the last step the pointers may leave the slice.
        a = a.wrapping_add(csa);
        b = b.wrapping_add(t.rsb);
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row `i < R` of `C` has `nr` writable elements; masked-off
        // lanes are not accessed.
        unsafe {
            let (c0, c1) = (t.c.add(i * t.ldc), t.c.add(i * t.ldc).wrapping_add(8));
            let (mut x0, mut x1) = (row[0], row[1]);
            if EDGE {
                if t.acc {
                    x0 = _mm256_add_ps(x0, _mm256_maskload_ps(c0, m0));
                    x1 = _mm256_add_ps(x1, _mm256_maskload_ps(c1, m1));
                }
                _mm256_maskstore_ps(c0, m0, x0);
                _mm256_maskstore_ps(c1, m1, x1);
            } else {
                if t.acc {
                    x0 = _mm256_add_ps(x0, _mm256_loadu_ps(c0));
                    x1 = _mm256_add_ps(x1, _mm256_loadu_ps(c1));
                }
                _mm256_storeu_ps(c0, x0);
                _mm256_storeu_ps(c1, x1);
            }
        }
    }
}
