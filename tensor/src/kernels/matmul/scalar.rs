//! Portable scalar micro-kernel (4 × 4): every target, and the only one
//! under `no_std` or off x86_64.

use super::{dispatch_rows, pack, Kernel, Tile, View};

const MR: usize = 4;
const NR: usize = 4;

/// The portable kernel.
pub(super) struct Scalar;

impl Kernel for Scalar {
    const MR: usize = MR;
    const NR: usize = NR;
    const MC: usize = 64;
    const KC: usize = 256;
    const NC: usize = 1024;

    unsafe fn pack_a(mc: usize, kc: usize, a: View, dst: *mut f32) {
        // SAFETY: forwarded contract.
        unsafe { pack::pack_a::<MR>(mc, kc, a, dst) }
    }

    unsafe fn pack_b(kc: usize, nc: usize, b: View, dst: *mut f32) {
        // SAFETY: forwarded contract.
        unsafe { pack::pack_b::<NR>(kc, nc, b, dst) }
    }

    unsafe fn thin(m: usize, n: usize, k: usize, a: View, b: View, c: *mut f32, ldc: usize) {
        // SAFETY: forwarded contract.
        unsafe { super::thin::thin::<false>(m, n, k, a, b, c, ldc) }
    }

    unsafe fn tile(rows: usize, packed: bool, t: &Tile) {
        // SAFETY: forwarded contract.
        unsafe { dispatch_rows!(tile, rows, packed, t.nr < NR, t; 1 2 3 4) }
    }
}

/// `C[0..R, 0..nr] (+)= A · B`; see [`Tile`]. With `EDGE` (`nr < NR`),
/// nothing past column `nr` is read or written.
///
/// # Safety
/// As [`Kernel::tile`].
unsafe fn tile<const R: usize, const PACKED: bool, const EDGE: bool>(t: &Tile) {
    let (rsa, csa) = if PACKED { (1, MR) } else { (t.rsa, t.csa) };
    let cols = if EDGE { t.nr } else { NR };
    let mut acc = [[0.0f32; NR]; R];
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.k {
        // SAFETY: step `p < k` reads `A(0..R, p)` and `B(p, 0..nr)`, valid
        // by the caller's contract.
        unsafe {
            let bv: [f32; NR] = core::array::from_fn(|j| if j < cols { *b.add(j) } else { 0.0 });
            for (i, row) in acc.iter_mut().enumerate() {
                let x = *a.add(i * rsa);
                for (o, &y) in row.iter_mut().zip(&bv) {
                    *o += x * y;
                }
            }
        }
        // Wrapping: after the last step the pointers may leave the slice.
        a = a.wrapping_add(csa);
        b = b.wrapping_add(t.rsb);
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row `i < R` of `C` has `nr` writable elements.
        let c = unsafe { core::slice::from_raw_parts_mut(t.c.add(i * t.ldc), cols) };
        if t.acc {
            c.iter_mut().zip(row).for_each(|(o, x)| *o += x);
        } else {
            c.copy_from_slice(&row[..cols]);
        }
    }
}
