//! Data movement: permute, narrow and pad, concat, index-select and its
//! adjoint, gather and scatter-add, triangular masks, diagonals.
//!
//! Axis-wise kernels view a tensor as `[outer, n, inner]` around the axis
//! they act on (see [`super::reduce`]). Index arguments must be in range:
//! [`crate::Tensor`] checks them and returns errors; these kernels assert.

use crate::Shape;

/// Runs `f(first_row, rows)` over `out` cut into whole rows of `row_len`
/// values: in one call, or (with `std`, for a large `out`) in several calls
/// split over rayon threads. Each output value is written by exactly the same
/// code either way, so the result does not depend on the split. An empty
/// `out` (or rows of no values, which only an empty `out` can hold) calls
/// nothing: there is nothing to write.
fn by_rows(out: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if out.is_empty() || row_len == 0 {
        return;
    }
    #[cfg(feature = "std")]
    if out.len() >= 2 * row_len && super::simd::worth_parallel(out.len() * 2) {
        use rayon::prelude::*;
        let rows = out.len() / row_len;
        // About four pieces per thread, each at least 16 K values.
        let per = rows
            .div_ceil(4 * rayon::current_num_threads())
            .max((1usize << 14).div_ceil(row_len));
        out.par_chunks_mut(per * row_len)
            .enumerate()
            .for_each(|(i, chunk)| f(i * per, chunk));
        return;
    }
    f(0, out)
}

/// Copies `x` (shape `shape`) into `out` with its axes reordered: output axis
/// `d` is input axis `perm[d]`.
pub fn permute(x: &[f32], shape: &Shape, perm: &[usize], out: &mut [f32]) {
    assert_eq!(x.len(), shape.numel(), "permute: input length");
    assert_eq!(out.len(), x.len(), "permute: output length");
    let rank = shape.rank();
    if x.is_empty() {
        return;
    }
    if rank == 0 {
        out[0] = x[0];
        return;
    }
    let in_strides = shape.strides();
    let mut dims = [0usize; crate::MAX_RANK];
    let mut strides = [0usize; crate::MAX_RANK];
    for d in 0..rank {
        dims[d] = shape.dim(perm[d]);
        strides[d] = in_strides.dim(perm[d]);
    }
    let inner = dims[rank - 1];
    let inner_stride = strides[rank - 1];
    by_rows(out, inner, |first, chunk| {
        // The input offset and index of output row `first`.
        let mut idx = [0usize; crate::MAX_RANK];
        let (mut off, mut r) = (0usize, first);
        for d in (0..rank - 1).rev() {
            idx[d] = r % dims[d];
            r /= dims[d];
            off += idx[d] * strides[d];
        }
        for row in chunk.chunks_mut(inner) {
            for (j, o) in row.iter_mut().enumerate() {
                *o = x[off + j * inner_stride];
            }
            let mut d = rank - 1;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                off += strides[d];
                if idx[d] < dims[d] {
                    break;
                }
                off -= strides[d] * dims[d];
                idx[d] = 0;
            }
        }
    });
}

/// `out[o, j, i] = x[o, start + j, i]` for `j < len` (out is `[outer, len, inner]`).
pub fn narrow(
    x: &[f32],
    outer: usize,
    n: usize,
    inner: usize,
    start: usize,
    len: usize,
    out: &mut [f32],
) {
    assert!(start + len <= n, "narrow: range out of bounds");
    assert_eq!(x.len(), outer * n * inner, "narrow: input length");
    assert_eq!(out.len(), outer * len * inner, "narrow: output length");
    let w = len * inner;
    by_rows(out, w, |first, chunk| {
        for (i, row) in chunk.chunks_mut(w).enumerate() {
            let o = first + i;
            row.copy_from_slice(&x[(o * n + start) * inner..(o * n + start + len) * inner]);
        }
    });
}

/// The adjoint of [`narrow`]: `out` (`[outer, n, inner]`) is zero except
/// `out[o, start + j, i] = x[o, j, i]`.
pub fn pad_axis(
    x: &[f32],
    outer: usize,
    n: usize,
    inner: usize,
    start: usize,
    len: usize,
    out: &mut [f32],
) {
    assert!(start + len <= n, "pad_axis: range out of bounds");
    assert_eq!(x.len(), outer * len * inner, "pad_axis: input length");
    assert_eq!(out.len(), outer * n * inner, "pad_axis: output length");
    let (w, full) = (len * inner, n * inner);
    by_rows(out, full, |first, chunk| {
        for (i, row) in chunk.chunks_mut(full).enumerate() {
            let o = first + i;
            let (head, rest) = row.split_at_mut(start * inner);
            let (mid, tail) = rest.split_at_mut(w);
            head.fill(0.0);
            mid.copy_from_slice(&x[o * w..(o + 1) * w]);
            tail.fill(0.0);
        }
    });
}

/// Concatenates parts along an axis: part `p` is `[outer, sizes[p], inner]`,
/// `out` is `[outer, Σ sizes, inner]`.
pub fn concat(parts: &[&[f32]], sizes: &[usize], outer: usize, inner: usize, out: &mut [f32]) {
    assert_eq!(parts.len(), sizes.len(), "concat: one size per part");
    let total: usize = sizes.iter().sum();
    assert_eq!(out.len(), outer * total * inner, "concat: output length");
    by_rows(out, total * inner, |first, chunk| {
        let mut at = 0;
        for o in first..first + chunk.len() / (total * inner).max(1) {
            for (p, &n) in parts.iter().zip(sizes) {
                let w = n * inner;
                chunk[at..at + w].copy_from_slice(&p[o * w..(o + 1) * w]);
                at += w;
            }
        }
    });
}

/// `out[o, j, i] = x[o, idx[j], i]` (out is `[outer, idx.len(), inner]`).
pub fn index_select(
    x: &[f32],
    outer: usize,
    n: usize,
    inner: usize,
    idx: &[usize],
    out: &mut [f32],
) {
    assert_eq!(x.len(), outer * n * inner, "index_select: input length");
    assert_eq!(
        out.len(),
        outer * idx.len() * inner,
        "index_select: output length"
    );
    let m = idx.len();
    if inner == 1 {
        // One element per index: a plain gather, not a copy call each.
        for (dst, src) in out.chunks_exact_mut(m.max(1)).zip(x.chunks_exact(n.max(1))) {
            for (d, &k) in dst.iter_mut().zip(idx) {
                *d = src[k];
            }
        }
        return;
    }
    for o in 0..outer {
        for (j, &k) in idx.iter().enumerate() {
            assert!(k < n, "index_select: index out of range");
            out[(o * m + j) * inner..(o * m + j + 1) * inner]
                .copy_from_slice(&x[(o * n + k) * inner..(o * n + k + 1) * inner]);
        }
    }
}

/// The adjoint of [`index_select`]: `out[o, idx[j], i] += src[o, j, i]`
/// (`out` is `[outer, n, inner]` and is accumulated into, not cleared).
pub fn index_add(
    src: &[f32],
    outer: usize,
    n: usize,
    inner: usize,
    idx: &[usize],
    out: &mut [f32],
) {
    let m = idx.len();
    assert_eq!(src.len(), outer * m * inner, "index_add: source length");
    assert_eq!(out.len(), outer * n * inner, "index_add: output length");
    if inner == 1 {
        for (dst, s) in out
            .chunks_exact_mut(n.max(1))
            .zip(src.chunks_exact(m.max(1)))
        {
            for (&v, &k) in s.iter().zip(idx) {
                dst[k] += v;
            }
        }
        return;
    }
    for o in 0..outer {
        for (j, &k) in idx.iter().enumerate() {
            assert!(k < n, "index_add: index out of range");
            let s = &src[(o * m + j) * inner..(o * m + j + 1) * inner];
            for (d, v) in out[(o * n + k) * inner..(o * n + k + 1) * inner]
                .iter_mut()
                .zip(s)
            {
                *d += v;
            }
        }
    }
}

/// `out[o, j, i] = x[o, idx[o, j, i], i]`: `idx` and `out` are `[outer, m, inner]`,
/// `x` is `[outer, n, inner]` (PyTorch's `gather`).
pub fn gather(
    x: &[f32],
    outer: usize,
    n: usize,
    inner: usize,
    idx: &[usize],
    m: usize,
    out: &mut [f32],
) {
    assert_eq!(x.len(), outer * n * inner, "gather: input length");
    assert_eq!(idx.len(), outer * m * inner, "gather: index length");
    assert_eq!(out.len(), idx.len(), "gather: output length");
    for o in 0..outer {
        for j in 0..m {
            for i in 0..inner {
                let at = (o * m + j) * inner + i;
                let k = idx[at];
                assert!(k < n, "gather: index out of range");
                out[at] = x[(o * n + k) * inner + i];
            }
        }
    }
}

/// The adjoint of [`gather`]: `out[o, idx[o, j, i], i] += src[o, j, i]`
/// (`out` is `[outer, n, inner]` and is accumulated into).
pub fn scatter_add(
    src: &[f32],
    outer: usize,
    n: usize,
    inner: usize,
    idx: &[usize],
    m: usize,
    out: &mut [f32],
) {
    assert_eq!(src.len(), outer * m * inner, "scatter_add: source length");
    assert_eq!(idx.len(), src.len(), "scatter_add: index length");
    assert_eq!(out.len(), outer * n * inner, "scatter_add: output length");
    for o in 0..outer {
        for j in 0..m {
            for i in 0..inner {
                let at = (o * m + j) * inner + i;
                let k = idx[at];
                assert!(k < n, "scatter_add: index out of range");
                out[(o * n + k) * inner + i] += src[at];
            }
        }
    }
}

/// Keeps the lower triangle of each `rows × cols` matrix of the batch: entries
/// with `col − row ≤ diagonal`; the rest become 0. With `upper`, keeps
/// `col − row ≥ diagonal` instead.
pub fn triangle(
    x: &[f32],
    rows: usize,
    cols: usize,
    diagonal: isize,
    upper: bool,
    out: &mut [f32],
) {
    assert_eq!(x.len(), out.len(), "triangle: lengths differ");
    let per = rows * cols;
    if per == 0 {
        return;
    }
    assert_eq!(x.len() % per, 0, "triangle: length is not a whole batch");
    for (src, dst) in x.chunks_exact(per).zip(out.chunks_exact_mut(per)) {
        for r in 0..rows {
            for c in 0..cols {
                let d = c as isize - r as isize;
                let keep = if upper { d >= diagonal } else { d <= diagonal };
                dst[r * cols + c] = if keep { src[r * cols + c] } else { 0.0 };
            }
        }
    }
}

/// The main diagonal of each `rows × cols` matrix: `out` is `[batch, min(rows, cols)]`.
pub fn diagonal(x: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    let k = rows.min(cols);
    let per = rows * cols;
    let batch = x.len().checked_div(per).unwrap_or(0);
    assert_eq!(x.len(), batch * per, "diagonal: input length");
    assert_eq!(out.len(), batch * k, "diagonal: output length");
    for b in 0..batch {
        for i in 0..k {
            out[b * k + i] = x[b * per + i * cols + i];
        }
    }
}

/// The adjoint of [`diagonal`]: each row of `x` (`[batch, min(rows, cols)]`)
/// placed on the diagonal of a zero `rows × cols` matrix.
pub fn diag_embed(x: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    let k = rows.min(cols);
    let per = rows * cols;
    let batch = x.len().checked_div(k).unwrap_or(0);
    assert_eq!(x.len(), batch * k, "diag_embed: input length");
    assert_eq!(out.len(), batch * per, "diag_embed: output length");
    out.fill(0.0);
    for b in 0..batch {
        for i in 0..k {
            out[b * per + i * cols + i] = x[b * k + i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute_transposes() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut o = [0.0; 6];
        permute(&x, &Shape::new(&[2, 3]).unwrap(), &[1, 0], &mut o);
        assert_eq!(o, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        // [2, 1, 3] -> (2, 0, 1) gives [3, 2, 1]
        permute(&x, &Shape::new(&[2, 1, 3]).unwrap(), &[2, 0, 1], &mut o);
        assert_eq!(o, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn narrow_and_pad_are_adjoint() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut n = [0.0; 2];
        narrow(&x, 2, 3, 1, 1, 1, &mut n);
        assert_eq!(n, [2.0, 5.0]);
        let mut p = [9.0; 6];
        pad_axis(&n, 2, 3, 1, 1, 1, &mut p);
        assert_eq!(p, [0.0, 2.0, 0.0, 0.0, 5.0, 0.0]);
    }

    #[test]
    fn gather_and_scatter() {
        let x = [10.0, 11.0, 12.0, 20.0, 21.0, 22.0];
        let idx = [2, 0, 1, 1];
        let mut o = [0.0; 4];
        gather(&x, 2, 3, 1, &idx, 2, &mut o);
        assert_eq!(o, [12.0, 10.0, 21.0, 21.0]);
        let mut s = [0.0; 6];
        scatter_add(&[1.0, 1.0, 1.0, 1.0], 2, 3, 1, &idx, 2, &mut s);
        assert_eq!(s, [1.0, 0.0, 1.0, 0.0, 2.0, 0.0]);
    }

    #[test]
    fn select_and_index_add() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut o = [0.0; 6];
        index_select(&x, 1, 2, 2, &[1, 0, 1], &mut o);
        assert_eq!(o, [3.0, 4.0, 1.0, 2.0, 3.0, 4.0]);
        let mut back = [0.0; 4];
        index_add(&o, 1, 2, 2, &[1, 0, 1], &mut back);
        assert_eq!(back, [1.0, 2.0, 6.0, 8.0]);
    }

    #[test]
    fn triangles_and_diagonals() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut o = [0.0; 4];
        triangle(&x, 2, 2, 0, false, &mut o);
        assert_eq!(o, [1.0, 0.0, 3.0, 4.0]);
        triangle(&x, 2, 2, 1, true, &mut o);
        assert_eq!(o, [0.0, 2.0, 0.0, 0.0]);
        let mut d = [0.0; 2];
        diagonal(&x, 2, 2, &mut d);
        assert_eq!(d, [1.0, 4.0]);
        diag_embed(&d, 2, 2, &mut o);
        assert_eq!(o, [1.0, 0.0, 0.0, 4.0]);
    }

    #[test]
    fn concat_interleaves_blocks() {
        let mut o = [0.0; 6];
        concat(&[&[1.0, 2.0], &[3.0, 4.0, 5.0, 6.0]], &[1, 2], 2, 1, &mut o);
        assert_eq!(o, [1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
    }

    /// Every copy kernel split over two threads gives the serial result.
    #[cfg(feature = "std")]
    #[test]
    fn copies_split_over_threads_match_one_thread() {
        use alloc::vec;
        use alloc::vec::Vec;
        let (a, b, c, d) = (7usize, 33usize, 29usize, 37usize);
        let x: Vec<f32> = (0..a * b * c * d).map(|i| i as f32).collect();
        let shape = Shape::new(&[a, b, c, d]).unwrap();
        let run = |threads: usize| {
            crate::kernels::test_util::on_threads(threads, || {
                let mut outs = Vec::new();
                for perm in [[0, 1, 3, 2], [3, 2, 1, 0], [1, 0, 2, 3], [2, 3, 0, 1]] {
                    let mut o = vec![0.0; x.len()];
                    permute(&x, &shape, &perm, &mut o);
                    outs.push(o);
                }
                let (outer, n, inner) = (a * b, c, d);
                let mut o = vec![0.0; outer * 20 * inner];
                narrow(&x, outer, n, inner, 5, 20, &mut o);
                let mut padded = vec![1.0; outer * 30 * inner];
                pad_axis(&o, outer, 30, inner, 3, 20, &mut padded);
                outs.push(o);
                outs.push(padded);
                let mut cat = vec![0.0; 2 * x.len()];
                concat(&[&x, &x], &[n, n], outer, inner, &mut cat);
                outs.push(cat);
                outs
            })
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(one, two);
        // Spot checks of the serial results against the definitions.
        let at = |i: usize, j: usize, k: usize, l: usize| x[((i * b + j) * c + k) * d + l];
        assert_eq!(one[0][((2 * b + 3) * d + 4) * c + 5], at(2, 3, 5, 4));
        assert_eq!(one[1][((4 * c + 5) * b + 6) * a + 1], at(1, 6, 5, 4));
        assert_eq!(one[4][(10 * 20 + 7) * d + 3], x[(10 * c + 12) * d + 3]);
        assert_eq!(one[5][(10 * 30 + 2) * d], 0.0);
        assert_eq!(one[5][(10 * 30 + 3) * d + 1], x[(10 * c + 5) * d + 1]);
        assert_eq!(one[6][(10 * 2 * c + c + 4) * d], x[(10 * c + 4) * d]);
    }

    #[test]
    fn empty_copies_write_nothing_and_do_not_panic() {
        use alloc::vec;
        let x = vec![1.0f32; 12];
        let mut none: [f32; 0] = [];
        narrow(&x, 3, 4, 1, 2, 0, &mut none);
        narrow(&[], 0, 4, 3, 1, 2, &mut none);
        pad_axis(&[], 0, 4, 3, 1, 2, &mut none);
        pad_axis(&[], 3, 0, 0, 0, 0, &mut none);
        concat(&[&[], &[]], &[0, 0], 5, 2, &mut none);
        concat(&[&[]], &[3], 0, 2, &mut none);
        permute(&[], &Shape::new(&[0, 3]).unwrap(), &[1, 0], &mut none);
        let mut padded = vec![7.0f32; 12];
        pad_axis(&[], 3, 4, 1, 1, 0, &mut padded);
        assert_eq!(padded, vec![0.0; 12]);
    }
}
