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
    unsafe { pack::pack_b::<NR>(kc, nc, b, dst) }
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
