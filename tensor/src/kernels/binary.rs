//! Elementwise binary kernels with NumPy broadcasting, and `where`/select.

use super::simd;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::simd::Isa;
use crate::Shape;

/// The elementwise binary operations. Comparisons produce masks of 1.0 and 0.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// a + b
    Add,
    /// a − b
    Sub,
    /// a · b
    Mul,
    /// a / b
    Div,
    /// aᵇ (`libm::powf`)
    Pow,
    /// max(a, b)
    Maximum,
    /// min(a, b)
    Minimum,
    /// 1 where a = b
    Eq,
    /// 1 where a ≠ b
    Ne,
    /// 1 where a < b
    Lt,
    /// 1 where a ≤ b
    Le,
    /// 1 where a > b
    Gt,
    /// 1 where a ≥ b
    Ge,
}

#[inline(always)]
fn mask(c: bool) -> f32 {
    if c {
        1.0
    } else {
        0.0
    }
}

/// The scalar definition of each op.
#[inline(always)]
pub fn apply(op: BinaryOp, a: f32, b: f32) -> f32 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => libm::powf(a, b),
        BinaryOp::Maximum => {
            if a >= b || b.is_nan() {
                a
            } else {
                b
            }
        }
        BinaryOp::Minimum => {
            if a <= b || b.is_nan() {
                a
            } else {
                b
            }
        }
        BinaryOp::Eq => mask(a == b),
        BinaryOp::Ne => mask(a != b),
        BinaryOp::Lt => mask(a < b),
        BinaryOp::Le => mask(a <= b),
        BinaryOp::Gt => mask(a > b),
        BinaryOp::Ge => mask(a >= b),
    }
}

/// `out = op(a, b)` where `a` has shape `sa`, `b` has shape `sb` and `out`
/// has their broadcast shape `so` (the caller computes it with
/// [`Shape::broadcast`]).
///
/// # Panics
/// If a slice length does not match its shape.
pub fn binary(
    op: BinaryOp,
    a: &[f32],
    sa: &Shape,
    b: &[f32],
    sb: &Shape,
    out: &mut [f32],
    so: &Shape,
) {
    macro_rules! run {
        ($($name:ident),*) => {
            match op {
                $(BinaryOp::$name => zip_broadcast(a, sa, b, sb, out, so, |x, y| apply(BinaryOp::$name, x, y)),)*
            }
        };
    }
    run!(Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge)
}

/// `out[i] = f(a[i], b[i])` under broadcasting; see [`binary`].
pub fn zip_broadcast<F: Fn(f32, f32) -> f32 + Sync>(
    a: &[f32],
    sa: &Shape,
    b: &[f32],
    sb: &Shape,
    out: &mut [f32],
    so: &Shape,
    f: F,
) {
    assert_eq!(a.len(), sa.numel(), "binary: lhs length");
    assert_eq!(b.len(), sb.numel(), "binary: rhs length");
    assert_eq!(out.len(), so.numel(), "binary: output length");
    if out.is_empty() {
        return;
    }
    if sa == so && sb == so {
        return zip_same(a, b, out, &f);
    }
    if b.len() == 1 && sa == so {
        let y = b[0];
        return super::unary::map(a, out, |x| f(x, y));
    }
    if a.len() == 1 && sb == so {
        let x = a[0];
        return super::unary::map(b, out, |y| f(x, y));
    }
    zip_strided(
        a,
        &sa.broadcast_strides(so),
        b,
        &sb.broadcast_strides(so),
        out,
        so,
        &f,
    )
}

fn zip_same<F: Fn(f32, f32) -> f32 + Sync>(a: &[f32], b: &[f32], out: &mut [f32], f: &F) {
    #[cfg(feature = "std")]
    if simd::worth_parallel(out.len() * 4) {
        use rayon::prelude::*;
        const CHUNK: usize = 1 << 14;
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(o, (x, y))| zip_serial(x, y, o, f));
        return;
    }
    zip_serial(a, b, out, f)
}

#[inline]
fn zip_serial<F: Fn(f32, f32) -> f32>(a: &[f32], b: &[f32], out: &mut [f32], f: &F) {
    match simd::active() {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        // SAFETY: `active()` only reports a level the CPU supports.
        Isa::Avx512 => unsafe { zip_avx512(a, b, out, f) },
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        // SAFETY: as above.
        Isa::Avx2Fma => unsafe { zip_avx2(a, b, out, f) },
        _ => zip_plain(a, b, out, f),
    }
}

#[inline(always)]
fn zip_plain<F: Fn(f32, f32) -> f32>(a: &[f32], b: &[f32], out: &mut [f32], f: &F) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f")]
unsafe fn zip_avx512<F: Fn(f32, f32) -> f32>(a: &[f32], b: &[f32], out: &mut [f32], f: &F) {
    zip_plain(a, b, out, f)
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn zip_avx2<F: Fn(f32, f32) -> f32>(a: &[f32], b: &[f32], out: &mut [f32], f: &F) {
    zip_plain(a, b, out, f)
}

/// General broadcast: walks the output in row-major order; the innermost
/// dimension is a tight loop whose operand strides are 0 or 1. Large outputs
/// are split into runs of whole rows across rayon threads.
fn zip_strided<F: Fn(f32, f32) -> f32 + Sync>(
    a: &[f32],
    sta: &Shape,
    b: &[f32],
    stb: &Shape,
    out: &mut [f32],
    so: &Shape,
    f: &F,
) {
    #[cfg(feature = "std")]
    let inner = so.dim(so.rank() - 1);
    #[cfg(feature = "std")]
    if simd::worth_parallel(out.len() * 4) && out.len() > inner {
        use rayon::prelude::*;
        let rows = (1usize << 14).div_ceil(inner).max(1);
        out.par_chunks_mut(rows * inner)
            .enumerate()
            .for_each(|(i, o)| zip_strided_rows(a, sta, b, stb, o, so, i * rows, f));
        return;
    }
    zip_strided_rows(a, sta, b, stb, out, so, 0, f)
}

/// [`zip_strided`] on the output rows from `first` on, with the widest
/// vector unit the CPU has.
#[allow(clippy::too_many_arguments)]
#[inline]
fn zip_strided_rows<F: Fn(f32, f32) -> f32>(
    a: &[f32],
    sta: &Shape,
    b: &[f32],
    stb: &Shape,
    out: &mut [f32],
    so: &Shape,
    first: usize,
    f: &F,
) {
    match simd::active() {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        // SAFETY: `active()` only reports a level the CPU supports.
        Isa::Avx512 => unsafe { strided_avx512(a, sta, b, stb, out, so, first, f) },
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        // SAFETY: as above.
        Isa::Avx2Fma => unsafe { strided_avx2(a, sta, b, stb, out, so, first, f) },
        _ => strided_plain(a, sta, b, stb, out, so, first, f),
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn strided_avx512<F: Fn(f32, f32) -> f32>(
    a: &[f32],
    sta: &Shape,
    b: &[f32],
    stb: &Shape,
    out: &mut [f32],
    so: &Shape,
    first: usize,
    f: &F,
) {
    strided_plain(a, sta, b, stb, out, so, first, f)
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn strided_avx2<F: Fn(f32, f32) -> f32>(
    a: &[f32],
    sta: &Shape,
    b: &[f32],
    stb: &Shape,
    out: &mut [f32],
    so: &Shape,
    first: usize,
    f: &F,
) {
    strided_plain(a, sta, b, stb, out, so, first, f)
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn strided_plain<F: Fn(f32, f32) -> f32>(
    a: &[f32],
    sta: &Shape,
    b: &[f32],
    stb: &Shape,
    out: &mut [f32],
    so: &Shape,
    first: usize,
    f: &F,
) {
    let rank = so.rank();
    let dims = so.as_slice();
    let inner = dims[rank - 1];
    let (ia, ib) = (sta.dim(rank - 1), stb.dim(rank - 1));
    // The multi-index of row `first` over the outer dimensions.
    let mut idx = [0usize; crate::MAX_RANK];
    let (mut oa, mut ob) = (0usize, 0usize);
    let mut r = first;
    for d in (0..rank - 1).rev() {
        idx[d] = r % dims[d];
        r /= dims[d];
        oa += idx[d] * sta.dim(d);
        ob += idx[d] * stb.dim(d);
    }
    for row in out.chunks_mut(inner) {
        match (ia, ib) {
            (1, 1) => zip_plain(&a[oa..oa + inner], &b[ob..ob + inner], row, f),
            (0, 1) => {
                let x = a[oa];
                for (o, &y) in row.iter_mut().zip(&b[ob..ob + inner]) {
                    *o = f(x, y);
                }
            }
            (1, 0) => {
                let y = b[ob];
                for (o, &x) in row.iter_mut().zip(&a[oa..oa + inner]) {
                    *o = f(x, y);
                }
            }
            _ => {
                let v = f(a[oa], b[ob]);
                row.iter_mut().for_each(|o| *o = v);
            }
        }
        // Advance the multi-index over the outer dimensions.
        let mut d = rank - 1;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            oa += sta.dim(d);
            ob += stb.dim(d);
            if idx[d] < dims[d] {
                break;
            }
            oa -= sta.dim(d) * dims[d];
            ob -= stb.dim(d) * dims[d];
            idx[d] = 0;
        }
    }
}

/// Copies `x` (shape `sx`) broadcast to shape `so` into `out`.
///
/// # Panics
/// If a slice length does not match its shape.
pub fn broadcast_to(x: &[f32], sx: &Shape, out: &mut [f32], so: &Shape) {
    zip_broadcast(x, sx, &[0.0], &Shape::scalar(), out, so, |v, _| v)
}

/// `out[i] = if cond[i] != 0 { a[i] } else { b[i] }`, all three broadcast to `so`.
///
/// # Panics
/// If a slice length does not match its shape.
#[allow(clippy::too_many_arguments)]
pub fn select(
    cond: &[f32],
    sc: &Shape,
    a: &[f32],
    sa: &Shape,
    b: &[f32],
    sb: &Shape,
    out: &mut [f32],
    so: &Shape,
) {
    let mut c = alloc::vec![0.0f32; out.len()];
    let mut a_full = alloc::vec![0.0f32; out.len()];
    broadcast_to(cond, sc, &mut c, so);
    broadcast_to(a, sa, &mut a_full, so);
    broadcast_to(b, sb, out, so);
    for ((o, &c), &x) in out.iter_mut().zip(&c).zip(&a_full) {
        if c != 0.0 {
            *o = x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(d: &[usize]) -> Shape {
        Shape::new(d).unwrap()
    }

    #[test]
    fn broadcast_rows_and_columns() {
        let a = [1.0, 2.0, 3.0]; // [3, 1]
        let b = [10.0, 20.0]; // [2]
        let mut o = [0.0; 6];
        binary(
            BinaryOp::Add,
            &a,
            &sh(&[3, 1]),
            &b,
            &sh(&[2]),
            &mut o,
            &sh(&[3, 2]),
        );
        assert_eq!(o, [11.0, 21.0, 12.0, 22.0, 13.0, 23.0]);
    }

    #[test]
    fn broadcast_middle_axis() {
        // a [2, 1, 2], b [3, 1] -> [2, 3, 2]
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [0.0, 10.0, 20.0];
        let mut o = [0.0; 12];
        binary(
            BinaryOp::Add,
            &a,
            &sh(&[2, 1, 2]),
            &b,
            &sh(&[3, 1]),
            &mut o,
            &sh(&[2, 3, 2]),
        );
        assert_eq!(o, [1., 2., 11., 12., 21., 22., 3., 4., 13., 14., 23., 24.]);
    }

    #[test]
    fn strided_rows_start_anywhere() {
        use alloc::{vec, vec::Vec};
        // a [3, 1, 4], b [2, 4] -> [3, 2, 4]; every suffix of rows computed on
        // its own (as a thread's share is) matches the whole.
        let a: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let b: Vec<f32> = (0..8).map(|v| 100.0 * v as f32).collect();
        let (sa, sb, so) = (sh(&[3, 1, 4]), sh(&[2, 4]), sh(&[3, 2, 4]));
        let (sta, stb) = (sa.broadcast_strides(&so), sb.broadcast_strides(&so));
        let mut whole = [0.0; 24];
        zip_strided_rows(&a, &sta, &b, &stb, &mut whole, &so, 0, &|x, y| x + y);
        assert_eq!(whole[5], 1.0 + 500.0);
        assert_eq!(whole[23], 11.0 + 700.0);
        for first in 1..6 {
            let mut part = vec![0.0; 24 - 4 * first];
            zip_strided_rows(&a, &sta, &b, &stb, &mut part, &so, first, &|x, y| x + y);
            assert_eq!(part[..], whole[4 * first..], "from row {first}");
        }
    }

    #[test]
    fn comparisons_make_masks() {
        let mut o = [0.0; 3];
        let s = sh(&[3]);
        binary(
            BinaryOp::Ge,
            &[1.0, 2.0, 3.0],
            &s,
            &[2.0, 2.0, 2.0],
            &s,
            &mut o,
            &s,
        );
        assert_eq!(o, [0.0, 1.0, 1.0]);
    }

    #[test]
    fn select_broadcasts() {
        let mut o = [0.0; 4];
        select(
            &[1.0, 0.0],
            &sh(&[2]),
            &[1.0, 2.0, 3.0, 4.0],
            &sh(&[2, 2]),
            &[-1.0],
            &sh(&[]),
            &mut o,
            &sh(&[2, 2]),
        );
        assert_eq!(o, [1.0, -1.0, 3.0, -1.0]);
    }
}
