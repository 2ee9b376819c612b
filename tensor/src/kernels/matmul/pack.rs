//! Packing of operand blocks into the micro-kernels' sliver layouts.
//!
//! Generic over the sliver width and `#[inline(always)]`, so each kernel
//! module instantiates them inside its own `#[target_feature]` functions.

use super::View;

/// Packs rows `0..mc`, columns `0..kc` of `a` as `MR`-row slivers: element
/// `(s*MR + i, p)` goes to `dst[s*MR*kc + p*MR + i]`. Rows past `mc` in the
/// last sliver are left as they are (kernels get told how many rows are real).
///
/// # Safety
/// Every element of the `mc × kc` view is inside its slice and `dst` holds
/// `mc.div_ceil(MR) * MR * kc` writable floats.
#[inline(always)]
pub(super) unsafe fn pack_a<const MR: usize>(mc: usize, kc: usize, a: View, dst: *mut f32) {
    if a.rs == 1 && a.cs != 1 {
        // Column-major (transposed) `A`: column `p` is `mc` contiguous
        // values. Read each column once, front to back, and deal it out to
        // the slivers; a sliver at a time would walk the columns `kc`
        // times, `cs` apart, 48 bytes each (with a 4 KB column stride,
        // every one a cache miss).
        for p in 0..kc {
            // SAFETY: column `p` has `mc` contiguous elements in the view.
            let col = unsafe { core::slice::from_raw_parts(a.ptr.add(p * a.cs), mc) };
            let mut whole = col.chunks_exact(MR);
            for (sl, part) in whole.by_ref().enumerate() {
                // SAFETY: sliver `sl` starts at `sl * MR * kc`; step `p` of it
                // holds `MR` floats. (A fixed-size copy: no call to memcpy.)
                unsafe {
                    let d = dst.add(sl * MR * kc + p * MR) as *mut [f32; MR];
                    *d = *(part.as_ptr() as *const [f32; MR]);
                }
            }
            let rest = whole.remainder();
            if !rest.is_empty() {
                let sl = mc / MR;
                // SAFETY: as above, for the last, ragged sliver.
                let d = unsafe {
                    core::slice::from_raw_parts_mut(dst.add(sl * MR * kc + p * MR), rest.len())
                };
                d.copy_from_slice(rest);
            }
        }
        return;
    }
    let mut s = 0;
    while s < mc {
        let rows = MR.min(mc - s);
        let src = a.at(s, 0);
        // SAFETY: sliver `s / MR` starts at `s * kc` and holds `MR * kc` floats.
        let d = unsafe { core::slice::from_raw_parts_mut(dst.add(s * kc), MR * kc) };
        if rows == MR && src.cs == 1 {
            // Row-major `A`: read each row contiguously, write interleaved.
            // SAFETY: rows `s..s + MR` have `kc` contiguous elements each and
            // `d` holds `MR * kc`.
            unsafe { interleave_rows::<MR>(kc, src.ptr, src.rs, d) };
        } else {
            for (p, out) in d.chunks_exact_mut(MR).enumerate() {
                for (i, o) in out[..rows].iter_mut().enumerate() {
                    // SAFETY: `(s + i, p)` is inside the view.
                    *o = unsafe { *src.ptr.add(i * src.rs + p * src.cs) };
                }
            }
        }
        s += MR;
    }
}

/// `d[p*MR + i] = a[i*rs + p]` for `i < MR`, `p < kc`: `MR` contiguous
/// rows written interleaved. On x86_64, groups of four rows go through 4 × 4
/// SSE transposes (SSE is part of every x86_64), four times fewer
/// instructions than one store per value; the other rows and columns are
/// copied one value at a time. Either way the same values land in the same
/// places.
///
/// # Safety
/// Rows `0..MR` of `a` (row stride `rs`) have `kc` readable elements each.
#[inline(always)]
unsafe fn interleave_rows<const MR: usize>(kc: usize, a: *const f32, rs: usize, d: &mut [f32]) {
    // SAFETY: forwarded contract.
    let (rows_done, cols_done) = unsafe { interleave_quads::<MR>(kc, a, rs, d) };
    for i in 0..MR {
        // SAFETY: row `i` has `kc` contiguous elements.
        let row = unsafe { core::slice::from_raw_parts(a.add(i * rs), kc) };
        // Rows the SSE loop covered only lack their last `kc % 4` columns.
        let from = if i < rows_done { cols_done } else { 0 };
        for (p, &x) in row.iter().enumerate().skip(from) {
            d[p * MR + i] = x;
        }
    }
}

/// The SSE part of [`interleave_rows`]: whole groups of four (then two)
/// rows and four columns. Returns how many rows and columns it wrote (none off x86_64).
///
/// # Safety
/// As [`interleave_rows`].
#[inline(always)]
unsafe fn interleave_quads<const MR: usize>(
    kc: usize,
    a: *const f32,
    rs: usize,
    d: &mut [f32],
) -> (usize, usize) {
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (kc, a, rs, d);
        (0, 0)
    }
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::*;
        let quads = kc / 4 * 4;
        let dp = d.as_mut_ptr();
        let mut r = 0;
        while r + 4 <= MR {
            let mut p = 0;
            while p < quads {
                // SAFETY: rows `r..r+4`, columns `p..p+4` are inside the
                // rows; the four stores land at `d[(p+j)*MR + r..+4]`,
                // inside `d` (`p + j < kc`, `r + 4 <= MR`).
                unsafe {
                    let row = |i: usize| _mm_loadu_ps(a.add((r + i) * rs + p));
                    let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                    let t0 = _mm_unpacklo_ps(r0, r1); // a0 b0 a1 b1
                    let t1 = _mm_unpacklo_ps(r2, r3); // c0 d0 c1 d1
                    let t2 = _mm_unpackhi_ps(r0, r1); // a2 b2 a3 b3
                    let t3 = _mm_unpackhi_ps(r2, r3); // c2 d2 c3 d3
                    let at = |j: usize| dp.add((p + j) * MR + r);
                    _mm_storeu_ps(at(0), _mm_movelh_ps(t0, t1));
                    _mm_storeu_ps(at(1), _mm_movehl_ps(t1, t0));
                    _mm_storeu_ps(at(2), _mm_movelh_ps(t2, t3));
                    _mm_storeu_ps(at(3), _mm_movehl_ps(t3, t2));
                }
                p += 4;
            }
            r += 4;
        }
        // Two rows left (MR = 6): interleave pairs, each column's pair one
        // 64-bit store.
        while r + 2 <= MR {
            let mut p = 0;
            while p < quads {
                // SAFETY: rows `r..r+2`, columns `p..p+4` are inside the
                // rows; each store writes `d[(p+j)*MR + r..+2]`, inside `d`.
                unsafe {
                    let r0 = _mm_loadu_ps(a.add(r * rs + p));
                    let r1 = _mm_loadu_ps(a.add((r + 1) * rs + p));
                    let lo = _mm_castps_pd(_mm_unpacklo_ps(r0, r1)); // a0 b0 a1 b1
                    let hi = _mm_castps_pd(_mm_unpackhi_ps(r0, r1)); // a2 b2 a3 b3
                    let at = |j: usize| dp.add((p + j) * MR + r) as *mut f64;
                    _mm_storel_pd(at(0), lo);
                    _mm_storeh_pd(at(1), lo);
                    _mm_storel_pd(at(2), hi);
                    _mm_storeh_pd(at(3), hi);
                }
                p += 4;
            }
            r += 2;
        }
        (r, quads)
    }
}

/// Packs rows `0..kc`, columns `0..nc` of `b` as `NR`-column slivers:
/// element `(p, s*NR + j)` goes to `dst[s*NR*kc + p*NR + j]`; columns past
/// `nc` in the last sliver are zeroed.
///
/// # Safety
/// Every element of the `kc × nc` view is inside its slice and `dst` holds
/// `nc.div_ceil(NR) * NR * kc` writable floats.
#[inline(always)]
pub(super) unsafe fn pack_b<const NR: usize>(kc: usize, nc: usize, b: View, dst: *mut f32) {
    let mut s = 0;
    while s < nc {
        let cols = NR.min(nc - s);
        let src = b.at(0, s);
        // SAFETY: sliver `s / NR` starts at `s * kc` and holds `NR * kc` floats.
        let d = unsafe { core::slice::from_raw_parts_mut(dst.add(s * kc), NR * kc) };
        if src.cs == 1 && cols == NR {
            // Whole slivers: fixed-size row copies, inlined (a slice copy
            // of run-time length is a call to memmove per 64-byte row).
            for (p, out) in d.chunks_exact_mut(NR).enumerate() {
                // SAFETY: row `p` has `NR` contiguous elements from column `s`.
                let row = unsafe { &*(src.ptr.add(p * src.rs) as *const [f32; NR]) };
                let out: &mut [f32; NR] = out.try_into().expect("NR-chunk");
                *out = *row;
            }
        } else if src.cs == 1 {
            for (p, out) in d.chunks_exact_mut(NR).enumerate() {
                // SAFETY: row `p` has `cols` contiguous elements from column `s`.
                let row = unsafe { core::slice::from_raw_parts(src.ptr.add(p * src.rs), cols) };
                out[..cols].copy_from_slice(row);
                out[cols..].fill(0.0);
            }
        } else {
            if cols < NR {
                d.fill(0.0);
            }
            for j in 0..cols {
                if src.rs == 1 {
                    // Transposed `B`: column `s + j` is contiguous.
                    // SAFETY: column `s + j` has `kc` contiguous elements.
                    let col = unsafe { core::slice::from_raw_parts(src.ptr.add(j * src.cs), kc) };
                    for (p, &x) in col.iter().enumerate() {
                        d[p * NR + j] = x;
                    }
                } else {
                    for p in 0..kc {
                        // SAFETY: `(p, s + j)` is inside the view.
                        d[p * NR + j] = unsafe { *src.ptr.add(p * src.rs + j * src.cs) };
                    }
                }
            }
        }
        s += NR;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn check<const MR: usize>(kc: usize, rs: usize) {
        let a: Vec<f32> = (0..MR * rs).map(|v| v as f32 + 0.5).collect();
        let mut got = alloc::vec![f32::NAN; MR * kc];
        // SAFETY: `MR` rows of stride `rs >= kc` are inside `a`.
        unsafe { interleave_rows::<MR>(kc, a.as_ptr(), rs, &mut got) };
        for p in 0..kc {
            for i in 0..MR {
                assert_eq!(
                    got[p * MR + i],
                    a[i * rs + p],
                    "MR {MR}, kc {kc}, ({i}, {p})"
                );
            }
        }
    }

    #[test]
    fn interleaved_rows_land_where_the_plain_loop_puts_them() {
        for kc in [1, 3, 4, 5, 8, 17, 256] {
            for extra in [0, 3] {
                check::<4>(kc, kc + extra);
                check::<6>(kc, kc + extra);
                check::<12>(kc, kc + extra);
            }
        }
    }
}
