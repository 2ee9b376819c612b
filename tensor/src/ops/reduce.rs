//! Reductions (sum, mean, max, min, arg-max/min, log-sum-exp), softmax, and
//! `sum_to` (the adjoint of broadcasting).

use crate::error::{Result, TensorError};
use crate::kernels::reduce as k;
use crate::{Indices, Shape, Tensor};
use alloc::vec;
use alloc::vec::Vec;

/// `(outer, n, inner)` of `shape` around `axis` (see [`crate::kernels::reduce`]).
pub(crate) fn axis_view(shape: &Shape, axis: usize) -> (usize, usize, usize) {
    let d = shape.as_slice();
    (
        d[..axis].iter().product(),
        d[axis],
        d[axis + 1..].iter().product(),
    )
}

/// Resolved, de-duplicated axes in descending order.
fn resolve_axes(op: &'static str, shape: &Shape, axes: &[isize]) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let a = shape.axis(op, a)?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    Ok(out)
}

/// The shape after reducing `axes` (descending), keeping them as size 1 or dropping them.
fn reduced_shape(shape: &Shape, axes: &[usize], keepdim: bool) -> Shape {
    let mut dims: Vec<usize> = shape.as_slice().to_vec();
    for &a in axes {
        if keepdim {
            dims[a] = 1;
        } else {
            dims.remove(a);
        }
    }
    Shape::new(&dims).expect("rank does not grow")
}

impl Tensor {
    /// Reduces `axes` one at a time with a kernel over `[outer, n, inner]`.
    fn reduce_axes(
        &self,
        op: &'static str,
        axes: &[isize],
        keepdim: bool,
        kernel: fn(&[f32], usize, usize, usize, &mut [f32]),
        needs_elements: bool,
    ) -> Result<Tensor> {
        let axes = resolve_axes(op, self.shape(), axes)?;
        let mut cur = self.clone();
        for &a in &axes {
            let (outer, n, inner) = axis_view(cur.shape(), a);
            if needs_elements && n == 0 {
                return Err(TensorError::InvalidArgument {
                    op,
                    reason: alloc::format!("axis {a} of shape {} is empty", self.shape()),
                });
            }
            let mut out = crate::buffer::for_overwrite(outer * inner);
            kernel(cur.data(), outer, n, inner, &mut out);
            cur = Tensor::from_parts(out, cur.shape().with_dim(a, 1));
        }
        cur.reshape_to(reduced_shape(self.shape(), &axes, keepdim))
    }

    /// Sum over `axes` (negative counts from the end; `[]` reduces nothing).
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce_axes("sum", axes, keepdim, k::sum_axis, false)
    }

    /// Sum of all elements, as a scalar tensor.
    pub fn sum_all(&self) -> Tensor {
        Tensor::scalar(k::sum_slice(self.data()))
    }

    /// Mean over `axes`.
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let s = self.sum(axes, keepdim)?;
        let count = self.numel() / s.numel().max(1);
        Ok(s.mul_scalar(1.0 / count as f32))
    }

    /// Mean of all elements, as a scalar tensor.
    pub fn mean_all(&self) -> Tensor {
        Tensor::scalar(k::sum_slice(self.data()) / self.numel() as f32)
    }

    /// Maximum over `axes`; an error on an empty axis.
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce_axes("max", axes, keepdim, k::max_axis, true)
    }

    /// Minimum over `axes`; an error on an empty axis.
    pub fn min(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce_axes("min", axes, keepdim, k::min_axis, true)
    }

    /// Log-sum-exp over `axes`, computed stably.
    pub fn logsumexp(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        // Several axes at once: move them last, flatten, then reduce one axis.
        let resolved = resolve_axes("logsumexp", self.shape(), axes)?;
        if resolved.len() <= 1 {
            return self.reduce_axes("logsumexp", axes, keepdim, k::logsumexp_axis, false);
        }
        let keep: Vec<usize> = (0..self.rank()).filter(|a| !resolved.contains(a)).collect();
        let mut perm = keep.clone();
        perm.extend(resolved.iter().rev());
        let moved = self.permute(&perm)?;
        let kept: Vec<usize> = keep.iter().map(|&a| self.dims()[a]).collect();
        let n: usize = resolved.iter().map(|&a| self.dims()[a]).product();
        let mut flat = kept.clone();
        flat.push(n);
        let r = moved.reshape(&flat)?.reduce_axes(
            "logsumexp",
            &[-1],
            false,
            k::logsumexp_axis,
            false,
        )?;
        r.reshape_to(reduced_shape(self.shape(), &resolved, keepdim))
    }

    fn arg_reduce(
        &self,
        op: &'static str,
        axis: isize,
        keepdim: bool,
        kernel: fn(&[f32], usize, usize, usize, &mut [usize]),
    ) -> Result<Indices> {
        let a = self.shape().axis(op, axis)?;
        let (outer, n, inner) = axis_view(self.shape(), a);
        if n == 0 {
            return Err(TensorError::InvalidArgument {
                op,
                reason: alloc::format!("axis {a} of shape {} is empty", self.shape()),
            });
        }
        let mut out = vec![0usize; outer * inner];
        kernel(self.data(), outer, n, inner, &mut out);
        Ok(Indices::from_parts(
            out,
            reduced_shape(self.shape(), &[a], keepdim),
        ))
    }

    /// Index of the first maximum along `axis`.
    pub fn argmax(&self, axis: isize, keepdim: bool) -> Result<Indices> {
        self.arg_reduce("argmax", axis, keepdim, k::argmax_axis)
    }

    /// Index of the first minimum along `axis`.
    pub fn argmin(&self, axis: isize, keepdim: bool) -> Result<Indices> {
        self.arg_reduce("argmin", axis, keepdim, k::argmin_axis)
    }

    fn along_axis(
        &self,
        op: &'static str,
        axis: isize,
        kernel: fn(&[f32], usize, usize, usize, &mut [f32]),
    ) -> Result<Tensor> {
        let a = self.shape().axis(op, axis)?;
        let (outer, n, inner) = axis_view(self.shape(), a);
        let mut out = crate::buffer::for_overwrite(self.numel());
        kernel(self.data(), outer, n, inner, &mut out);
        Ok(Tensor::from_parts(out, *self.shape()))
    }

    /// Softmax along `axis`.
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        self.along_axis("softmax", axis, k::softmax_axis)
    }

    /// Log-softmax along `axis`.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        self.along_axis("log_softmax", axis, k::log_softmax_axis)
    }

    /// `(x − mean) / √(var + eps)` over the last axis (population variance;
    /// layer normalisation without the affine part), one pass per row. An
    /// error for a scalar.
    ///
    /// ```
    /// use ferrograd_tensor::Tensor;
    /// let x = Tensor::from_slice(&[1.0, 3.0], &[1, 2]).unwrap();
    /// assert_eq!(x.normalize_last(0.0).unwrap().data(), &[-1.0, 1.0]);
    /// ```
    pub fn normalize_last(&self, eps: f32) -> Result<Tensor> {
        let n = self.last_axis_len("normalize_last")?;
        let mut out = crate::buffer::for_overwrite(self.numel());
        crate::kernels::norm::normalize_rows(self.data(), n, eps, &mut out);
        Ok(Tensor::from_parts(out, *self.shape()))
    }

    /// The gradient of [`Tensor::normalize_last`] at `self` for the output
    /// gradient `g` (the same shape).
    pub fn normalize_last_backward(&self, g: &Tensor, eps: f32) -> Result<Tensor> {
        let n = self.last_axis_len("normalize_last_backward")?;
        if g.shape() != self.shape() {
            return Err(TensorError::ShapeMismatch {
                op: "normalize_last_backward",
                lhs: *self.shape(),
                rhs: *g.shape(),
            });
        }
        let mut out = crate::buffer::for_overwrite(self.numel());
        crate::kernels::norm::normalize_rows_backward(self.data(), g.data(), n, eps, &mut out);
        Ok(Tensor::from_parts(out, *self.shape()))
    }

    /// The length of the last axis (an error for a scalar).
    fn last_axis_len(&self, op: &'static str) -> Result<usize> {
        let a = self.shape().axis(op, -1)?;
        Ok(self.dims()[a])
    }

    /// Sums over the dimensions that broadcasting from `target` to this shape
    /// expanded, giving a tensor of shape `target` (the adjoint of [`Tensor::broadcast_to`]).
    pub fn sum_to(&self, target: &Shape) -> Result<Tensor> {
        if self.shape() == target {
            return Ok(self.clone());
        }
        let mismatch = || TensorError::ShapeMismatch {
            op: "sum_to",
            lhs: *self.shape(),
            rhs: *target,
        };
        if target.rank() > self.rank() {
            return Err(mismatch());
        }
        let lead = self.rank() - target.rank();
        let mut axes: Vec<isize> = (0..lead as isize).collect();
        for (i, &t) in target.as_slice().iter().enumerate() {
            let s = self.dims()[lead + i];
            if t == 1 && s != 1 {
                axes.push((lead + i) as isize);
            } else if t != s {
                return Err(mismatch());
            }
        }
        self.sum(&axes, true)?.reshape_to(*target)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Shape, Tensor};

    fn t(d: &[f32], s: &[usize]) -> Tensor {
        Tensor::from_slice(d, s).unwrap()
    }

    #[test]
    fn multi_axis_sum_and_keepdim() {
        let x = t(&[1., 2., 3., 4., 5., 6., 7., 8.], &[2, 2, 2]);
        let s = x.sum(&[0, -1], true).unwrap();
        assert_eq!(s.dims(), &[1, 2, 1]);
        assert_eq!(s.data(), &[1. + 2. + 5. + 6., 3. + 4. + 7. + 8.]);
        assert_eq!(x.sum(&[0, 1, 2], false).unwrap().dims(), &[] as &[usize]);
        assert_eq!(x.mean(&[1], false).unwrap().data(), &[2., 3., 6., 7.]);
    }

    #[test]
    fn logsumexp_over_two_axes_matches_flat() {
        let x = t(&[0.1, -0.3, 2.0, 0.7, 1.1, -2.0], &[1, 2, 3]);
        let a = x.logsumexp(&[1, 2], false).unwrap();
        let b = x.reshape(&[1, 6]).unwrap().logsumexp(&[1], false).unwrap();
        assert!(a.max_abs_diff(&b) < 1e-6);
    }

    #[test]
    fn sum_to_inverts_broadcast() {
        let g = Tensor::ones(&[2, 3, 4]).unwrap();
        let r = g.sum_to(&Shape::new(&[3, 1]).unwrap()).unwrap();
        assert_eq!(r.dims(), &[3, 1]);
        assert_eq!(r.data(), &[8.0, 8.0, 8.0]);
        assert!(g.sum_to(&Shape::new(&[2, 1]).unwrap()).is_err());
    }

    #[test]
    fn empty_axis_extremum_is_an_error() {
        let x = Tensor::zeros(&[2, 0]).unwrap();
        assert!(x.max(&[1], false).is_err());
        assert!(x.argmax(1, false).is_err());
        assert_eq!(x.sum(&[1], false).unwrap().data(), &[0.0, 0.0]);
    }
}
