//! Matrix products, Cholesky factorisation and triangular solves.

use crate::error::{Result, TensorError};
use crate::kernels::linalg as k;
use crate::kernels::matmul::{self, Operand};
use crate::{Shape, Tensor};
use alloc::vec::Vec;

/// The rows, columns and batch of a rank ≥ 2 tensor viewed as a batch of matrices.
fn matrix_dims(op: &'static str, t: &Tensor) -> Result<(usize, usize, usize)> {
    if t.rank() < 2 {
        return Err(TensorError::InvalidArgument {
            op,
            reason: alloc::format!(
                "needs a matrix or a batch of matrices, got shape {}",
                t.shape()
            ),
        });
    }
    let d = t.dims();
    let (r, c) = (d[d.len() - 2], d[d.len() - 1]);
    Ok((d[..d.len() - 2].iter().product(), r, c))
}

impl Tensor {
    /// Matrix product `self · other` (PyTorch's `matmul` for rank ≥ 2): the
    /// last two axes are multiplied, leading (batch) axes broadcast.
    ///
    /// ```
    /// use ferrograd_tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    /// let i = Tensor::eye(2);
    /// assert_eq!(a.matmul(&i).unwrap(), a);
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        self.matmul_t(other, false, false)
    }

    /// `op(self) · op(other)` where `op` transposes the last two axes when
    /// the flag is set (no copy is made to transpose).
    pub fn matmul_t(&self, other: &Tensor, trans_a: bool, trans_b: bool) -> Result<Tensor> {
        let (_, ar, ac) = matrix_dims("matmul", self)?;
        let (_, br, bc) = matrix_dims("matmul", other)?;
        let (m, ka) = if trans_a { (ac, ar) } else { (ar, ac) };
        let (kb, n) = if trans_b { (bc, br) } else { (br, bc) };
        let mismatch = || TensorError::ShapeMismatch {
            op: "matmul",
            lhs: *self.shape(),
            rhs: *other.shape(),
        };
        if ka != kb {
            return Err(mismatch());
        }
        let sa = Shape::new(&self.dims()[..self.rank() - 2])?;
        let sb = Shape::new(&other.dims()[..other.rank() - 2])?;
        let batch_shape = Shape::broadcast("matmul", &sa, &sb).map_err(|_| mismatch())?;
        let batch = batch_shape.numel();
        let mut out_dims: Vec<usize> = batch_shape.as_slice().to_vec();
        out_dims.extend([m, n]);
        let out_shape = Shape::new(&out_dims)?;
        // The kernel overwrites every output value.
        let mut out = crate::buffer::for_overwrite(out_shape.numel());
        let a_op = Operand::row_major(self.data(), ar, ac, trans_a);
        let b_op = Operand::row_major(other.data(), br, bc, trans_b);
        if sb.numel() == 1 && sa == batch_shape && !trans_a {
            // A batch of row-major A against one B is one tall product.
            let tall = Operand::row_major(self.data(), batch * ar, ac, false);
            matmul::matmul(1, batch * m, n, ka, tall, b_op, &mut out);
        } else if sa == batch_shape && sb == batch_shape {
            matmul::matmul(batch, m, n, ka, a_op, b_op, &mut out);
        } else if sa.numel() == 1 && sb == batch_shape {
            matmul::matmul(batch, m, n, ka, a_op.shared(), b_op, &mut out);
        } else if sb.numel() == 1 && sa == batch_shape {
            matmul::matmul(batch, m, n, ka, a_op, b_op.shared(), &mut out);
        } else {
            // General batch broadcasting: expand both operands' batch axes.
            let full = |t: &Tensor, s: &Shape, r: usize, c: usize| -> Result<Tensor> {
                let mut d: Vec<usize> = batch_shape.as_slice().to_vec();
                d.extend([r, c]);
                let _ = s;
                t.broadcast_to(&Shape::new(&d)?)
            };
            let ea = full(self, &sa, ar, ac)?;
            let eb = full(other, &sb, br, bc)?;
            let a_op = Operand::row_major(ea.data(), ar, ac, trans_a);
            let b_op = Operand::row_major(eb.data(), br, bc, trans_b);
            matmul::matmul(batch, m, n, ka, a_op, b_op, &mut out);
        }
        Ok(Tensor::from_parts(out, out_shape))
    }

    /// Lower Cholesky factor `L` (`L Lᵀ = A`) of each symmetric positive-definite
    /// matrix in the batch; only the lower triangle of `self` is read.
    pub fn cholesky(&self) -> Result<Tensor> {
        let (_, r, c) = matrix_dims("cholesky", self)?;
        if r != c {
            return Err(TensorError::InvalidArgument {
                op: "cholesky",
                reason: alloc::format!("needs square matrices, got shape {}", self.shape()),
            });
        }
        let mut out = crate::buffer::for_overwrite(self.numel());
        k::cholesky(self.data(), r, &mut out)
            .map_err(|(batch, pivot)| TensorError::NotPositiveDefinite { batch, pivot })?;
        Ok(Tensor::from_parts(out, *self.shape()))
    }

    /// Solves `op(A) X = B` with `A = self` triangular (`lower` or upper, the
    /// other triangle ignored), `op(A) = Aᵀ` when `transpose`, and a unit
    /// diagonal assumed when `unit`. `self` is `[..., n, n]`, `rhs` is
    /// `[..., n, m]`; `self` may be a single matrix shared by a batched `rhs`.
    pub fn triangular_solve(
        &self,
        rhs: &Tensor,
        lower: bool,
        transpose: bool,
        unit: bool,
    ) -> Result<Tensor> {
        let (ba, n, n2) = matrix_dims("triangular_solve", self)?;
        let (bb, rn, m) = matrix_dims("triangular_solve", rhs)?;
        let ok_batch = ba == bb && self.dims()[..self.rank() - 2] == rhs.dims()[..rhs.rank() - 2];
        if n != n2 || rn != n || !(ok_batch || ba == 1) {
            return Err(TensorError::ShapeMismatch {
                op: "triangular_solve",
                lhs: *self.shape(),
                rhs: *rhs.shape(),
            });
        }
        let stride = if ba == 1 { 0 } else { n * n };
        let mut out = crate::buffer::for_overwrite(rhs.numel());
        k::triangular_solve(
            self.data(),
            stride,
            rhs.data(),
            n,
            m,
            lower,
            transpose,
            unit,
            &mut out,
        );
        Ok(Tensor::from_parts(out, *rhs.shape()))
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    fn naive(a: &Tensor, b: &Tensor) -> Tensor {
        let (m, k, n) = (a.dims()[0], a.dims()[1], b.dims()[1]);
        let mut o = alloc::vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    o[i * n + j] += a.data()[i * k + p] * b.data()[p * n + j];
                }
            }
        }
        Tensor::from_vec(o, &[m, n]).unwrap()
    }

    fn ramp(dims: &[usize], s: f32) -> Tensor {
        let n: usize = dims.iter().product();
        Tensor::from_vec((0..n).map(|i| libm::sinf(i as f32 * s)).collect(), dims).unwrap()
    }

    #[test]
    fn transposed_flags_match_explicit_transpose() {
        let a = ramp(&[3, 4], 0.7);
        let b = ramp(&[5, 4], 0.3);
        let bt = b.transpose(0, 1).unwrap();
        let want = naive(&a, &bt);
        assert!(a.matmul_t(&b, false, true).unwrap().max_abs_diff(&want) < 1e-5);
        let at = a.transpose(0, 1).unwrap();
        assert!(at.matmul_t(&b, true, true).unwrap().max_abs_diff(&want) < 1e-5);
    }

    #[test]
    fn batched_and_broadcast_batches() {
        let a = ramp(&[2, 3, 4], 0.7);
        let w = ramp(&[4, 2], 0.2);
        let c = a.matmul(&w).unwrap();
        assert_eq!(c.dims(), &[2, 3, 2]);
        for b in 0..2 {
            let ab = a.narrow(0, b, 1).unwrap().reshape(&[3, 4]).unwrap();
            let cb = c.narrow(0, b, 1).unwrap().reshape(&[3, 2]).unwrap();
            assert!(cb.max_abs_diff(&naive(&ab, &w)) < 1e-5);
        }
        let x = ramp(&[2, 1, 3, 4], 0.1);
        let y = ramp(&[3, 4, 2], 0.4);
        assert_eq!(x.matmul(&y).unwrap().dims(), &[2, 3, 3, 2]);
        assert!(a.matmul(&ramp(&[3, 2], 0.1)).is_err());
    }

    #[test]
    fn cholesky_then_solve_recovers_rhs() {
        let a = Tensor::from_vec(alloc::vec![4.0, 2.0, 2.0, 10.0], &[1, 2, 2]).unwrap();
        let l = a.cholesky().unwrap();
        let b = Tensor::from_vec(alloc::vec![2.0, 7.0], &[1, 2, 1]).unwrap();
        let x = l.triangular_solve(&b, true, false, false).unwrap();
        assert!(l.matmul(&x).unwrap().max_abs_diff(&b) < 1e-6);
        let bad = Tensor::from_vec(alloc::vec![1.0, 2.0, 2.0, 1.0], &[2, 2]).unwrap();
        assert!(bad.cholesky().is_err());
    }
}
