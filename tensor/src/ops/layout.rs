//! Data movement: permute and transpose, broadcast, narrow and its adjoint,
//! concat and stack, index-select, gather and scatter-add, triangles and diagonals.

use super::axis_view;
use crate::error::{Result, TensorError};
use crate::kernels::{binary, index as k};
use crate::{Indices, Shape, Tensor};
use alloc::vec::Vec;

impl Tensor {
    /// Reorders the axes: output axis `d` is input axis `perm[d]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let rank = self.rank();
        let mut seen = [false; crate::MAX_RANK];
        let valid = perm.len() == rank
            && perm
                .iter()
                .all(|&p| p < rank && !core::mem::replace(&mut seen[p], true));
        if !valid {
            return Err(TensorError::InvalidArgument {
                op: "permute",
                reason: alloc::format!(
                    "{perm:?} is not a permutation of the axes of shape {}",
                    self.shape()
                ),
            });
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(self.clone());
        }
        let dims: Vec<usize> = perm.iter().map(|&p| self.dims()[p]).collect();
        let mut out = crate::buffer::for_overwrite(self.numel());
        k::permute(self.data(), self.shape(), perm, &mut out);
        Ok(Tensor::from_parts(out, Shape::new(&dims)?))
    }

    /// Swaps two axes (negative counts from the end).
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let a = self.shape().axis("transpose", a)?;
        let b = self.shape().axis("transpose", b)?;
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// A copy broadcast (NumPy rules) to `shape`; an error if it does not broadcast.
    pub fn broadcast_to(&self, shape: &Shape) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let b = Shape::broadcast("broadcast_to", self.shape(), shape)?;
        if b != *shape {
            return Err(TensorError::ShapeMismatch {
                op: "broadcast_to",
                lhs: *self.shape(),
                rhs: *shape,
            });
        }
        let mut out = crate::buffer::for_overwrite(shape.numel());
        binary::broadcast_to(self.data(), self.shape(), &mut out, shape);
        Ok(Tensor::from_parts(out, *shape))
    }

    /// Inserts an axis of size 1 at `axis` (`-1` appends one).
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let rank = self.rank() as isize;
        let a = if axis < 0 { axis + rank + 1 } else { axis };
        if a < 0 || a > rank {
            return Err(TensorError::InvalidAxis {
                op: "unsqueeze",
                axis,
                rank: self.rank(),
            });
        }
        let mut d = self.dims().to_vec();
        d.insert(a as usize, 1);
        self.reshape(&d)
    }

    /// Removes axis `axis`, which must have size 1.
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let a = self.shape().axis("squeeze", axis)?;
        if self.dims()[a] != 1 {
            return Err(TensorError::InvalidArgument {
                op: "squeeze",
                reason: alloc::format!("axis {a} of shape {} is not of size 1", self.shape()),
            });
        }
        let mut d = self.dims().to_vec();
        d.remove(a);
        self.reshape(&d)
    }

    /// Elements `start..start + len` along `axis`.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let a = self.shape().axis("narrow", axis)?;
        let (outer, n, inner) = axis_view(self.shape(), a);
        if start + len > n {
            return Err(TensorError::IndexOutOfRange {
                op: "narrow",
                index: start + len,
                size: n,
            });
        }
        let mut out = crate::buffer::for_overwrite(outer * len * inner);
        k::narrow(self.data(), outer, n, inner, start, len, &mut out);
        Ok(Tensor::from_parts(out, self.shape().with_dim(a, len)))
    }

    /// The adjoint of [`Tensor::narrow`]: zeros of size `size` along `axis`
    /// with `self` placed at `start`.
    pub fn pad_axis(&self, axis: isize, start: usize, size: usize) -> Result<Tensor> {
        let a = self.shape().axis("pad_axis", axis)?;
        let (outer, len, inner) = axis_view(self.shape(), a);
        if start + len > size {
            return Err(TensorError::IndexOutOfRange {
                op: "pad_axis",
                index: start + len,
                size,
            });
        }
        let mut out = crate::buffer::for_overwrite(outer * size * inner);
        k::pad_axis(self.data(), outer, size, inner, start, len, &mut out);
        Ok(Tensor::from_parts(out, self.shape().with_dim(a, size)))
    }

    /// Adds `src` into elements `start..start + src.dims()[axis]` along
    /// `axis` of `self`, in place: the fused `self += src.pad_axis(...)`
    /// (how a gradient flows back into a narrowed slice).
    pub fn narrow_add_assign(&mut self, axis: isize, start: usize, src: &Tensor) -> Result<()> {
        let a = self.shape().axis("narrow_add_assign", axis)?;
        let fits = src.rank() == self.rank()
            && (0..self.rank()).all(|d| d == a || src.dims()[d] == self.dims()[d])
            && start + src.dims()[a] <= self.dims()[a];
        if !fits {
            return Err(TensorError::ShapeMismatch {
                op: "narrow_add_assign",
                lhs: *self.shape(),
                rhs: *src.shape(),
            });
        }
        let (outer, n, inner) = axis_view(self.shape(), a);
        let len = src.dims()[a];
        let dst = self.data_mut();
        for o in 0..outer {
            let d = &mut dst[(o * n + start) * inner..(o * n + start + len) * inner];
            for (x, y) in d
                .iter_mut()
                .zip(&src.data()[o * len * inner..(o + 1) * len * inner])
            {
                *x += y;
            }
        }
        Ok(())
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    pub fn concat(parts: &[&Tensor], axis: isize) -> Result<Tensor> {
        let first = parts.first().ok_or_else(|| TensorError::InvalidArgument {
            op: "concat",
            reason: "needs at least one tensor".into(),
        })?;
        let a = first.shape().axis("concat", axis)?;
        let mut sizes = Vec::with_capacity(parts.len());
        for p in parts {
            let same_rank = p.rank() == first.rank();
            let same_rest =
                same_rank && (0..p.rank()).all(|d| d == a || p.dims()[d] == first.dims()[d]);
            if !same_rest {
                return Err(TensorError::ShapeMismatch {
                    op: "concat",
                    lhs: *first.shape(),
                    rhs: *p.shape(),
                });
            }
            sizes.push(p.dims()[a]);
        }
        let (outer, _, inner) = axis_view(first.shape(), a);
        let total: usize = sizes.iter().sum();
        let mut out = crate::buffer::for_overwrite(outer * total * inner);
        let slices: Vec<&[f32]> = parts.iter().map(|p| p.data()).collect();
        k::concat(&slices, &sizes, outer, inner, &mut out);
        Ok(Tensor::from_parts(out, first.shape().with_dim(a, total)))
    }

    /// Stacks tensors of one shape along a new axis `axis`.
    pub fn stack(parts: &[&Tensor], axis: isize) -> Result<Tensor> {
        let expanded: Vec<Tensor> = parts
            .iter()
            .map(|p| p.unsqueeze(axis))
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = expanded.iter().collect();
        Tensor::concat(&refs, axis)
    }

    fn check_indices(op: &'static str, idx: &Indices, n: usize) -> Result<()> {
        if idx.bound() <= n {
            return Ok(());
        }
        match idx.data().iter().find(|&&i| i >= n) {
            Some(&index) => Err(TensorError::IndexOutOfRange { op, index, size: n }),
            None => Ok(()),
        }
    }

    /// Rows `idx` along `axis` (`idx` is 1-D; repeats allowed).
    pub fn index_select(&self, axis: isize, idx: &Indices) -> Result<Tensor> {
        let a = self.shape().axis("index_select", axis)?;
        let (outer, n, inner) = axis_view(self.shape(), a);
        Tensor::check_indices("index_select", idx, n)?;
        let m = idx.data().len();
        let mut out = crate::buffer::for_overwrite(outer * m * inner);
        k::index_select(self.data(), outer, n, inner, idx.data(), &mut out);
        Ok(Tensor::from_parts(out, self.shape().with_dim(a, m)))
    }

    /// The adjoint of [`Tensor::index_select`]: zeros of size `size` along
    /// `axis`, with row `j` of `self` added at `idx[j]`.
    pub fn index_add(&self, axis: isize, idx: &Indices, size: usize) -> Result<Tensor> {
        let a = self.shape().axis("index_add", axis)?;
        let (outer, m, inner) = axis_view(self.shape(), a);
        if idx.data().len() != m {
            return Err(TensorError::InvalidArgument {
                op: "index_add",
                reason: alloc::format!("{} indices for {m} rows", idx.data().len()),
            });
        }
        Tensor::check_indices("index_add", idx, size)?;
        let mut out = crate::buffer::zeros(outer * size * inner);
        k::index_add(self.data(), outer, size, inner, idx.data(), &mut out);
        Ok(Tensor::from_parts(out, self.shape().with_dim(a, size)))
    }

    fn gather_dims(&self, op: &'static str, axis: isize, idx: &Indices) -> Result<usize> {
        let a = self.shape().axis(op, axis)?;
        let same = idx.shape().rank() == self.rank()
            && (0..self.rank()).all(|d| d == a || idx.dims()[d] == self.dims()[d]);
        if !same {
            return Err(TensorError::ShapeMismatch {
                op,
                lhs: *self.shape(),
                rhs: *idx.shape(),
            });
        }
        Ok(a)
    }

    /// PyTorch's `gather`: `out[.., j, ..] = self[.., idx[.., j, ..], ..]` along
    /// `axis`; `idx` has the rank of `self` and its sizes except along `axis`.
    pub fn gather(&self, axis: isize, idx: &Indices) -> Result<Tensor> {
        let a = self.gather_dims("gather", axis, idx)?;
        let (outer, n, inner) = axis_view(self.shape(), a);
        Tensor::check_indices("gather", idx, n)?;
        let m = idx.dims()[a];
        let mut out = crate::buffer::for_overwrite(idx.data().len());
        k::gather(self.data(), outer, n, inner, idx.data(), m, &mut out);
        Ok(Tensor::from_parts(out, *idx.shape()))
    }

    /// The adjoint of [`Tensor::gather`]: zeros of size `size` along `axis`
    /// with `self[.., j, ..]` added at `idx[.., j, ..]`.
    pub fn scatter_add(&self, axis: isize, idx: &Indices, size: usize) -> Result<Tensor> {
        if idx.shape() != self.shape() {
            return Err(TensorError::ShapeMismatch {
                op: "scatter_add",
                lhs: *self.shape(),
                rhs: *idx.shape(),
            });
        }
        let a = self.shape().axis("scatter_add", axis)?;
        let (outer, m, inner) = axis_view(self.shape(), a);
        Tensor::check_indices("scatter_add", idx, size)?;
        let mut out = crate::buffer::zeros(outer * size * inner);
        k::scatter_add(self.data(), outer, size, inner, idx.data(), m, &mut out);
        Ok(Tensor::from_parts(out, self.shape().with_dim(a, size)))
    }

    fn triangle(&self, op: &'static str, diagonal: isize, upper: bool) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(TensorError::InvalidArgument {
                op,
                reason: alloc::format!("needs rank ≥ 2, got shape {}", self.shape()),
            });
        }
        let d = self.dims();
        let mut out = crate::buffer::for_overwrite(self.numel());
        k::triangle(
            self.data(),
            d[d.len() - 2],
            d[d.len() - 1],
            diagonal,
            upper,
            &mut out,
        );
        Ok(Tensor::from_parts(out, *self.shape()))
    }

    /// Lower triangle of each matrix (entries with `col − row ≤ diagonal`), zeros elsewhere.
    pub fn tril(&self, diagonal: isize) -> Result<Tensor> {
        self.triangle("tril", diagonal, false)
    }

    /// Upper triangle of each matrix (entries with `col − row ≥ diagonal`), zeros elsewhere.
    pub fn triu(&self, diagonal: isize) -> Result<Tensor> {
        self.triangle("triu", diagonal, true)
    }

    /// The main diagonal of each matrix: `[..., r, c]` → `[..., min(r, c)]`.
    pub fn diagonal(&self) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(TensorError::InvalidArgument {
                op: "diagonal",
                reason: alloc::format!("needs rank ≥ 2, got shape {}", self.shape()),
            });
        }
        let d = self.dims();
        let (r, c) = (d[d.len() - 2], d[d.len() - 1]);
        let mut dims = d[..d.len() - 2].to_vec();
        dims.push(r.min(c));
        let shape = Shape::new(&dims)?;
        let mut out = crate::buffer::for_overwrite(shape.numel());
        k::diagonal(self.data(), r, c, &mut out);
        Ok(Tensor::from_parts(out, shape))
    }

    /// Square matrices with the last axis on the diagonal: `[..., n]` → `[..., n, n]`.
    pub fn diag_embed(&self) -> Result<Tensor> {
        if self.rank() < 1 {
            return Err(TensorError::InvalidArgument {
                op: "diag_embed",
                reason: "needs rank ≥ 1".into(),
            });
        }
        let n = self.dims()[self.rank() - 1];
        let mut dims = self.dims().to_vec();
        dims.push(n);
        let shape = Shape::new(&dims)?;
        let mut out = crate::buffer::for_overwrite(shape.numel());
        k::diag_embed(self.data(), n, n, &mut out);
        Ok(Tensor::from_parts(out, shape))
    }
}

#[cfg(test)]
mod tests {
    use crate::{Indices, Tensor};

    fn t(d: &[f32], s: &[usize]) -> Tensor {
        Tensor::from_slice(d, s).unwrap()
    }

    #[test]
    fn concat_stack_and_narrow() {
        let a = t(&[1., 2., 3., 4.], &[2, 2]);
        let b = t(&[5., 6.], &[2, 1]);
        let c = Tensor::concat(&[&a, &b], 1).unwrap();
        assert_eq!(c.data(), &[1., 2., 5., 3., 4., 6.]);
        assert_eq!(c.narrow(1, 2, 1).unwrap(), b);
        let s = Tensor::stack(&[&a, &a], 0).unwrap();
        assert_eq!(s.dims(), &[2, 2, 2]);
        assert!(Tensor::concat(&[&a, &t(&[1.], &[1, 1])], 1).is_err());
        assert!(a.narrow(0, 1, 2).is_err());
    }

    #[test]
    fn index_errors_are_typed() {
        let a = t(&[1., 2., 3., 4.], &[2, 2]);
        let bad = Indices::new(alloc::vec![2], &[1]).unwrap();
        assert!(a.index_select(0, &bad).is_err());
        let g = Indices::new(alloc::vec![1, 0, 0, 1], &[2, 2]).unwrap();
        assert_eq!(a.gather(1, &g).unwrap().data(), &[2., 1., 3., 4.]);
        assert!(a.permute(&[0, 0]).is_err());
    }

    #[test]
    fn broadcast_and_squeeze() {
        let a = t(&[1., 2.], &[2, 1]);
        let s = crate::Shape::new(&[2, 3]).unwrap();
        assert_eq!(
            a.broadcast_to(&s).unwrap().data(),
            &[1., 1., 1., 2., 2., 2.]
        );
        assert_eq!(a.squeeze(1).unwrap().dims(), &[2]);
        assert_eq!(a.unsqueeze(0).unwrap().dims(), &[1, 2, 1]);
        assert!(a.squeeze(0).is_err());
    }
}
