//! Matrix multiplication over strided operands.
//!
//! `C[b] = A[b] · B[b]` for a batch of `m × k` by `k × n` products. Each
//! operand is described by an [`Operand`]: its slice and three strides (batch,
//! row, column), so a transposed operand is just swapped strides and a
//! broadcast one a batch stride of 0; nothing is copied to transpose.
//! `C` is contiguous, `batch × m × n`.

/// A strided view of a batch of matrices.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    /// The values.
    pub data: &'a [f32],
    /// Distance between consecutive matrices of the batch (0: one shared matrix).
    pub batch_stride: usize,
    /// Distance between consecutive rows.
    pub row_stride: usize,
    /// Distance between consecutive columns.
    pub col_stride: usize,
}

impl<'a> Operand<'a> {
    /// A contiguous row-major `rows × cols` batch, optionally read transposed
    /// (then the view is `cols × rows`).
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize, transposed: bool) -> Operand<'a> {
        let (row_stride, col_stride) = if transposed { (1, cols) } else { (cols, 1) };
        Operand {
            data,
            batch_stride: rows * cols,
            row_stride,
            col_stride,
        }
    }

    /// The same view with a batch stride of 0 (one matrix shared by the batch).
    pub fn shared(mut self) -> Operand<'a> {
        self.batch_stride = 0;
        self
    }

    #[inline(always)]
    fn at(&self, b: usize, r: usize, c: usize) -> f32 {
        self.data[b * self.batch_stride + r * self.row_stride + c * self.col_stride]
    }
}

/// `c[b] = a[b] · b[b]` for `b < batch`, with `a[b]` viewed `m × k` and
/// `b[b]` viewed `k × n`; `c` is contiguous `batch × m × n` and overwritten.
///
/// # Panics
/// If `c` has the wrong length or a view reaches past its slice.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a: Operand<'_>,
    b: Operand<'_>,
    c: &mut [f32],
) {
    assert_eq!(c.len(), batch * m * n, "matmul: output length");
    for bi in 0..batch {
        let cb = &mut c[bi * m * n..(bi + 1) * m * n];
        cb.fill(0.0);
        for i in 0..m {
            let row = &mut cb[i * n..(i + 1) * n];
            for p in 0..k {
                let av = a.at(bi, i, p);
                for (j, o) in row.iter_mut().enumerate() {
                    *o += av * b.at(bi, p, j);
                }
            }
        }
    }
}
