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
    let mut s = 0;
    while s < mc {
        let rows = MR.min(mc - s);
        let src = a.at(s, 0);
        // SAFETY: sliver `s / MR` starts at `s * kc` and holds `MR * kc` floats.
        let d = unsafe { core::slice::from_raw_parts_mut(dst.add(s * kc), MR * kc) };
        if rows == MR && src.cs == 1 {
            // Row-major `A`: read each row contiguously, write interleaved.
            for i in 0..MR {
                // SAFETY: row `s + i` has `kc` contiguous elements in the view.
                let row = unsafe { core::slice::from_raw_parts(src.ptr.add(i * src.rs), kc) };
                for (p, &x) in row.iter().enumerate() {
                    d[p * MR + i] = x;
                }
            }
        } else if rows == MR && src.rs == 1 {
            // Column-major (transposed) `A`: each column's `MR` rows are contiguous.
            for (p, out) in d.chunks_exact_mut(MR).enumerate() {
                // SAFETY: column `p` has `MR` contiguous elements from row `s`.
                let col = unsafe { core::slice::from_raw_parts(src.ptr.add(p * src.cs), MR) };
                out.copy_from_slice(col);
            }
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
        if src.cs == 1 {
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
