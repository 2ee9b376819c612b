//! Composite operations, built from the primitives (their gradients, to any
//! order, follow from the primitives' rules).

use crate::{Result, Var};

impl Var {
    /// Mean over `axes`.
    #[track_caller]
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Var> {
        let s = self.sum(axes, keepdim)?;
        let count = self.numel() / s.numel().max(1);
        Ok(s.mul_scalar(1.0 / count as f32))
    }

    /// Mean of all elements, as a scalar.
    #[track_caller]
    pub fn mean_all(&self) -> Var {
        self.sum_all().mul_scalar(1.0 / self.numel().max(1) as f32)
    }

    /// Variance over `axes`: Σ(x − mean)² / (n − correction); `correction`
    /// 0 is the population (biased) variance, 1 the sample variance.
    #[track_caller]
    pub fn var(&self, axes: &[isize], keepdim: bool, correction: usize) -> Result<Var> {
        let mean = self.mean(axes, true)?;
        let centred = self.sub(&mean)?;
        let ss = centred.square().sum(axes, keepdim)?;
        let n = self.numel() / ss.numel().max(1);
        Ok(ss.mul_scalar(1.0 / n.saturating_sub(correction).max(1) as f32))
    }

    /// Mean and population variance over `axis`, kept as size 1 (the
    /// statistics of layer normalisation).
    #[track_caller]
    pub fn mean_var(&self, axis: isize) -> Result<(Var, Var)> {
        let mean = self.mean(&[axis], true)?;
        let var = self.sub(&mean)?.square().mean(&[axis], true)?;
        Ok((mean, var))
    }

    /// `(x − mean) / √(var + eps)` over `axis` (layer normalisation without
    /// the affine part). Over the last axis it is one primitive (one kernel
    /// forward, one backward); over another, composed from the reductions.
    #[track_caller]
    pub fn normalize(&self, axis: isize, eps: f32) -> Result<Var> {
        let rank = self.dims().len();
        if rank > 0 && self.shape().axis("normalize", axis)? == rank - 1 {
            return self.normalize_last(eps);
        }
        let (mean, var) = self.mean_var(axis)?;
        self.sub(&mean)?.mul(&var.add_scalar(eps).rsqrt())
    }

    /// Mean squared error between `self` and `target` (broadcast together).
    #[track_caller]
    pub fn mse(&self, target: &Var) -> Result<Var> {
        Ok(self.sub(target)?.square().mean_all())
    }

    /// log det A of each symmetric positive-definite matrix, via its Cholesky
    /// factor: 2 Σ log diag L. `[..., n, n]` → `[...]`.
    #[track_caller]
    pub fn cholesky_logdet(&self) -> Result<Var> {
        Ok(self
            .cholesky()?
            .diagonal()?
            .log()
            .sum(&[-1], false)?
            .mul_scalar(2.0))
    }
}

#[cfg(test)]
mod tests {
    use crate::Var;
    use ferrograd_tensor::Tensor;

    #[test]
    fn statistics_match_hand_values() {
        let x = Var::constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap());
        assert_eq!(x.mean(&[1], false).unwrap().value().data(), &[1.5, 3.5]);
        assert_eq!(x.var(&[1], false, 0).unwrap().value().data(), &[0.25, 0.25]);
        assert_eq!(x.var(&[1], false, 1).unwrap().value().data(), &[0.5, 0.5]);
        let n = x.normalize(1, 0.0).unwrap();
        assert_eq!(n.value().data(), &[-1.0, 1.0, -1.0, 1.0]);
        let a = Var::constant(Tensor::from_vec(vec![4.0, 2.0, 2.0, 10.0], &[2, 2]).unwrap());
        let ld = a.cholesky_logdet().unwrap().item().unwrap();
        assert!((ld - 36f32.ln()).abs() < 1e-5);
    }
}
