//! The thin path: products with very few rows (`m` below the micro-tile's
//! `MR`, e.g. matrix-vector), where `B` is read once and should be streamed
//! row by row rather than walked down in `NR`-column slivers.

use super::View;

/// Columns of `C` (per row) kept in L1 while `B`'s rows stream past.
const W: usize = 1024;

/// `a · b + c`, fused when `FMA` (only instantiated with `std` on x86_64).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(feature = "std")]
    if FMA {
        return a.mul_add(b, c);
    }
    a * b + c
}

/// `c[i, :] = Σ_p a[i, p] · b[p, :]` for `i < m`, four rows of `b` per pass
/// over a `W`-column chunk of `c`. `b`'s columns must be contiguous.
///
/// # Safety
/// `a` (`m × k`) and `b` (`k × n`, `b.cs == 1`) are in bounds and `c` has
/// `m` rows of `n` writable floats at distance `ldc`.
#[inline(always)]
pub(super) unsafe fn thin<const FMA: bool>(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    c: *mut f32,
    ldc: usize,
) {
    debug_assert_eq!(b.cs, 1);
    // SAFETY: callers pass `p < k`, `j0 + w <= n`: a row segment of `b`.
    let brow =
        |p: usize, j0: usize, w: usize| unsafe { core::slice::from_raw_parts(b.at(p, j0).ptr, w) };
    // SAFETY: callers pass `i < m`, `p < k`: an element of `a`.
    let av = |i: usize, p: usize| unsafe { *a.at(i, p).ptr };
    // SAFETY: callers pass `i < m`, `j0 + w <= n`: a row segment of `c`, used
    // one at a time.
    let crow = |i: usize, j0: usize, w: usize| unsafe {
        core::slice::from_raw_parts_mut(c.add(i * ldc + j0), w)
    };
    let mut j0 = 0;
    while j0 < n {
        let w = W.min(n - j0);
        for i in 0..m {
            crow(i, j0, w).fill(0.0);
        }
        let mut p = 0;
        while p + 4 <= k {
            let (b0, b1, b2, b3) = (
                brow(p, j0, w),
                brow(p + 1, j0, w),
                brow(p + 2, j0, w),
                brow(p + 3, j0, w),
            );
            for i in 0..m {
                let (x0, x1, x2, x3) = (av(i, p), av(i, p + 1), av(i, p + 2), av(i, p + 3));
                let out = crow(i, j0, w);
                for ((((o, &y0), &y1), &y2), &y3) in out.iter_mut().zip(b0).zip(b1).zip(b2).zip(b3)
                {
                    let s = madd::<FMA>(x3, y3, madd::<FMA>(x2, y2, madd::<FMA>(x1, y1, x0 * y0)));
                    *o += s;
                }
            }
            p += 4;
        }
        while p < k {
            let b0 = brow(p, j0, w);
            for i in 0..m {
                let x0 = av(i, p);
                for (o, &y0) in crow(i, j0, w).iter_mut().zip(b0) {
                    *o = madd::<FMA>(x0, y0, *o);
                }
            }
            p += 1;
        }
        j0 += w;
    }
}
