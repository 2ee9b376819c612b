//! AVX-512F micro-kernel: 12 × 32, 24 `zmm` accumulators, two `B` loads
//! and twelve broadcasts of `A` per step (27 of the 32 registers).

use core::arch::x86_64::*;

use super::{dispatch_rows, pack, Kernel, Tile, View};

const MR: usize = 12;
const NR: usize = 32;

/// The AVX-512F kernel (Zen 5 blocking: a 32 KiB `KC × NR` sliver in L1,
/// a 144 KiB `MC × KC` block in L2).
pub(super) struct Avx512;

impl Kernel for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;
    const MC: usize = 144;
    const KC: usize = 256;
    const NC: usize = 4096;

    unsafe fn pack_a(mc: usize, kc: usize, a: View, dst: *mut f32) {
        // SAFETY: forwarded contract (which includes AVX-512F support).
        unsafe { pack_a(mc, kc, a, dst) }
    }

    unsafe fn pack_b(kc: usize, nc: usize, b: View, dst: *mut f32) {
        // SAFETY: forwarded contract (which includes AVX-512F support).
        unsafe { pack_b(kc, nc, b, dst) }
    }

    unsafe fn thin(m: usize, n: usize, k: usize, a: View, b: View, c: *mut f32, ldc: usize) {
        // SAFETY: forwarded contract (which includes CPU support).
        unsafe { thin(m, n, k, a, b, c, ldc) }
    }

    unsafe fn tile(rows: usize, packed: bool, t: &Tile) {
        // SAFETY: forwarded contract (which includes AVX-512F support).
        unsafe { dispatch_rows!(tile, rows, packed, t.nr < NR, t; 1 2 3 4 5 6 7 8 9 10 11 12) }
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn pack_a(mc: usize, kc: usize, a: View, dst: *mut f32) {
    // SAFETY: forwarded contract.
    unsafe { pack::pack_a::<MR>(mc, kc, a, dst) }
}

#[target_feature(enable = "avx512f")]
unsafe fn pack_b(kc: usize, nc: usize, b: View, dst: *mut f32) {
    // SAFETY: forwarded contract; AVX-512F implies AVX2.
    unsafe {
        if b.rs == 1 && b.cs != 1 {
            super::avx2::pack_b_transposed::<NR>(kc, nc, b, dst)
        } else {
            pack::pack_b::<NR>(kc, nc, b, dst)
        }
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn thin(m: usize, n: usize, k: usize, a: View, b: View, c: *mut f32, ldc: usize) {
    // SAFETY: forwarded contract.
    unsafe { super::thin::thin::<true>(m, n, k, a, b, c, ldc) }
}

/// `C[0..R, 0..nr] (+)= A · B`; see [`Tile`]. With `EDGE` (`nr < 32`),
/// `B` and `C` are accessed through lane masks, so nothing past column `nr`
/// is read or written.
///
/// # Safety
/// As [`Kernel::tile`].
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize, const PACKED: bool, const EDGE: bool>(t: &Tile) {
    let (rsa, csa) = if PACKED { (1, MR) } else { (t.rsa, t.csa) };
    let bits = |n: usize| -> __mmask16 { ((1u32 << n.min(16)) - 1) as __mmask16 };
    let (m0, m1) = (bits(t.nr), bits(t.nr.saturating_sub(16)));
    for i in 0..R {
        // Fetch the `C` tile early: it is touched only after the `k` loop.
        let row = t.c.wrapping_add(i * t.ldc);
        _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(t.nr - 1) as *const i8);
    }
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.k {
        // SAFETY: step `p < k` reads `A(0..R, p)` and `B(p, 0..nr)`, valid by
        // the caller's contract; masked-off lanes are not accessed.
        unsafe {
            let (b0, b1) = if EDGE {
                (
                    _mm512_maskz_loadu_ps(m0, b),
                    _mm512_maskz_loadu_ps(m1, b.wrapping_add(16)),
                )
            } else {
                (_mm512_loadu_ps(b), _mm512_loadu_ps(b.add(16)))
            };
            for (i, row) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(*a.add(i * rsa));
                row[0] = _mm512_fmadd_ps(x, b0, row[0]);
                row[1] = _mm512_fmadd_ps(x, b1, row[1]);
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
            let (c0, c1) = (t.c.add(i * t.ldc), t.c.add(i * t.ldc).wrapping_add(16));
            let (mut x0, mut x1) = (row[0], row[1]);
            if EDGE {
                if t.acc {
                    x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, c0));
                    x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, c1));
                }
                _mm512_mask_storeu_ps(c0, m0, x0);
                _mm512_mask_storeu_ps(c1, m1, x1);
            } else {
                if t.acc {
                    x0 = _mm512_add_ps(x0, _mm512_loadu_ps(c0));
                    x1 = _mm512_add_ps(x1, _mm512_loadu_ps(c1));
                }
                _mm512_storeu_ps(c0, x0);
                _mm512_storeu_ps(c1, x1);
            }
        }
    }
}
