//! Gradient clipping (PyTorch's `torch.nn.utils.clip_grad_norm_` and
//! `clip_grad_value_`), applied to the gradients accumulated in parameters.

use super::{scale_grads, set_grad};
use crate::param::Param;
use crate::{Error, Result};

/// Rescales the gradients of `params` so that their total 2-norm (over all
/// parameters together) is at most `max_norm`, and returns the total norm
/// before clipping.
///
/// As PyTorch does, every gradient is multiplied by
/// `min(1, max_norm / (‖g‖ + 1e-6))`; parameters without a gradient are
/// ignored. A non-finite total norm is returned as is (and, as in PyTorch,
/// makes the gradients non-finite). An error if `max_norm` is negative or
/// not a number.
///
/// ```
/// use ferrograd_nn::optim::clip_grad_norm;
/// use ferrograd_nn::Param;
/// use ferrograd_tensor::Tensor;
/// let p = Param::new(Tensor::from_vec(vec![0.0, 0.0], &[2]).unwrap());
/// let target = ferrograd_autograd::Var::constant(Tensor::from_vec(vec![3.0, 4.0], &[2]).unwrap());
/// p.var().mul(&target).unwrap().sum_all().backward().unwrap(); // gradient [3, 4]
/// let norm = clip_grad_norm(&[p.clone()], 1.0).unwrap();
/// assert_eq!(norm, 5.0);
/// let g = p.grad().unwrap();
/// assert!((g.data()[0] - 0.6).abs() < 1e-6 && (g.data()[1] - 0.8).abs() < 1e-6);
/// ```
pub fn clip_grad_norm(params: &[Param], max_norm: f32) -> Result<f32> {
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(Error::Config(format!(
            "clip_grad_norm: max_norm must be >= 0, got {max_norm}"
        )));
    }
    let sum_sq: f64 = params
        .iter()
        .filter_map(Param::grad)
        .map(|g| {
            g.data()
                .iter()
                .map(|&x| (x as f64) * (x as f64))
                .sum::<f64>()
        })
        .sum();
    let total = sum_sq.sqrt() as f32;
    let coef = max_norm / (total + 1e-6);
    // Multiplying by a clamped coefficient of 1 changes nothing, so only
    // rescale when clipping, or with a NaN coefficient (as PyTorch does).
    if coef < 1.0 || coef.is_nan() {
        scale_grads(params, coef)?;
    }
    Ok(total)
}

/// Clamps every gradient element of `params` into `[-clip_value, clip_value]`.
/// An error if `clip_value` is negative or not a number.
///
/// ```
/// use ferrograd_nn::optim::clip_grad_value;
/// use ferrograd_nn::Param;
/// use ferrograd_tensor::Tensor;
/// let p = Param::new(Tensor::from_vec(vec![-3.0, 0.5], &[2]).unwrap());
/// p.var().square().sum_all().backward().unwrap(); // gradient [-6, 1]
/// clip_grad_value(&[p.clone()], 2.0).unwrap();
/// assert_eq!(p.grad().unwrap().data(), &[-2.0, 1.0]);
/// ```
pub fn clip_grad_value(params: &[Param], clip_value: f32) -> Result<()> {
    if clip_value.is_nan() || clip_value < 0.0 {
        return Err(Error::Config(format!(
            "clip_grad_value: clip_value must be >= 0, got {clip_value}"
        )));
    }
    for p in params {
        if let Some(g) = p.grad() {
            set_grad(p, &g.map(|x| x.clamp(-clip_value, clip_value)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrograd_autograd::Var;
    use ferrograd_tensor::Tensor;

    /// A parameter of zeros whose gradient is `g`.
    fn with_grad(g: &[f32]) -> Param {
        let p = Param::new(Tensor::zeros(&[g.len()]).unwrap());
        let c = Var::constant(Tensor::from_slice(g, &[g.len()]).unwrap());
        p.var().mul(&c).unwrap().sum_all().backward().unwrap();
        p
    }

    #[test]
    fn norm_over_all_params_and_scaling() {
        // ‖(1, 2, 2, 4)‖ = 5; max 2.5 → coefficient 2.5 / (5 + 1e-6)
        let a = with_grad(&[1.0, 2.0]);
        let b = with_grad(&[2.0, 4.0]);
        let none = Param::new(Tensor::zeros(&[3]).unwrap());
        let params = [a.clone(), none.clone(), b.clone()];
        let norm = clip_grad_norm(&params, 2.5).unwrap();
        assert_eq!(norm, 5.0);
        let coef = 2.5f32 / (5.0 + 1e-6);
        assert_eq!(a.grad().unwrap().data(), &[coef, 2.0 * coef]);
        assert_eq!(b.grad().unwrap().data(), &[2.0 * coef, 4.0 * coef]);
        assert!(none.grad().is_none());
        let after = clip_grad_norm(&params, 2.5).unwrap();
        assert!((after - 2.5).abs() < 1e-5);
    }

    #[test]
    fn below_the_limit_nothing_changes() {
        let a = with_grad(&[0.3, -0.4]);
        assert_eq!(clip_grad_norm(std::slice::from_ref(&a), 1.0).unwrap(), 0.5);
        assert_eq!(a.grad().unwrap().data(), &[0.3, -0.4]);
        assert_eq!(clip_grad_norm(&[], 1.0).unwrap(), 0.0);
    }

    #[test]
    fn non_finite_norm_is_reported() {
        let a = with_grad(&[f32::INFINITY, 1.0]);
        assert!(clip_grad_norm(&[a], 1.0).unwrap().is_infinite());
    }

    #[test]
    fn value_clipping_and_bad_limits() {
        let a = with_grad(&[-5.0, 0.1, 7.0]);
        clip_grad_value(std::slice::from_ref(&a), 1.0).unwrap();
        assert_eq!(a.grad().unwrap().data(), &[-1.0, 0.1, 1.0]);
        assert!(matches!(
            clip_grad_value(std::slice::from_ref(&a), -1.0),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            clip_grad_norm(&[a], f32::NAN),
            Err(Error::Config(_))
        ));
    }
}
