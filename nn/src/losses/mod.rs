//! Loss functions, written with differentiable [`Var`] operations only, so
//! every loss can be differentiated twice (gradient penalties, MAML).
//!
//! Each loss computes a per-element (or per-sample) value and then applies a
//! [`Reduction`], as PyTorch's `reduction=` argument does:
//!
//! * [`regression`]: [`mse`], [`l1`], [`huber`];
//! * [`robust`]: M-estimators with a scale `c`: [`cauchy`], [`welsch`],
//!   [`geman_mcclure`], [`tukey_biweight`];
//! * [`classification`]: [`cross_entropy`] from logits, with label smoothing
//!   and an ignored class index;
//! * [`binary`]: [`binary_cross_entropy_with_logits`], with `pos_weight`;
//! * [`probabilistic`]: [`gaussian_nll`], [`diag_gaussian_mixture_nll`] and
//!   [`kl_diag_gaussians`];
//! * [`contrastive`]: CLIP's symmetric [`info_nce`];
//! * [`penalty`]: [`l1_penalty`] and [`l2_penalty`] on parameters.
//!
//! ```
//! use ferrograd_autograd::Var;
//! use ferrograd_nn::losses::{mse, Reduction};
//! use ferrograd_tensor::Tensor;
//! let pred = Var::param(Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap());
//! let target = Var::constant(Tensor::from_vec(vec![0.0, 4.0], &[2]).unwrap());
//! let loss = mse(&pred, &target, Reduction::Mean).unwrap();
//! assert_eq!(loss.item().unwrap(), 2.5); // (1 + 4) / 2
//! ```

pub mod binary;
pub mod classification;
pub mod contrastive;
pub mod penalty;
pub mod probabilistic;
pub mod regression;
pub mod robust;

pub use binary::binary_cross_entropy_with_logits;
pub use classification::{cross_entropy, cross_entropy_with, CrossEntropyOptions};
pub use contrastive::{info_nce, Temperature};
pub use penalty::{l1_penalty, l2_penalty, AsVar};
pub use probabilistic::{
    diag_gaussian_mixture_nll, gaussian_nll, kl_diag_gaussians, GaussianNllOptions,
};
pub use regression::{huber, l1, mse};
pub use robust::{cauchy, geman_mcclure, tukey_biweight, welsch};

use crate::{Error, Result};
use ferrograd_autograd::Var;

/// How a loss combines its per-element values (PyTorch's `reduction=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// Keep every value: the output has the per-element (or per-sample)
    /// shape.
    None,
    /// The mean of the values, a scalar (the default, as in PyTorch).
    #[default]
    Mean,
    /// The sum of the values, a scalar.
    Sum,
}

/// Applies `reduction` to per-element loss values `v`: `v` itself, the mean
/// of all its elements (0 when empty) or their sum.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{reduce, Reduction};
/// use ferrograd_tensor::Tensor;
/// let v = Var::constant(Tensor::from_vec(vec![1.0, 2.0, 6.0], &[3]).unwrap());
/// assert_eq!(reduce(&v, Reduction::Mean).unwrap().item().unwrap(), 3.0);
/// assert_eq!(reduce(&v, Reduction::Sum).unwrap().item().unwrap(), 9.0);
/// assert_eq!(reduce(&v, Reduction::None).unwrap().dims(), &[3]);
/// ```
pub fn reduce(v: &Var, reduction: Reduction) -> Result<Var> {
    Ok(match reduction {
        Reduction::None => v.clone(),
        Reduction::Mean => v.mean_all(),
        Reduction::Sum => v.sum_all(),
    })
}

/// An error unless `a` and `b` have the same dimensions.
pub(crate) fn check_same_shape(loss: &str, what: &str, a: &Var, b: &Var) -> Result<()> {
    if a.dims() != b.dims() {
        return Err(Error::Config(format!(
            "{loss}: {what} must have the same shape, got {} and {}",
            a.shape(),
            b.shape()
        )));
    }
    Ok(())
}

/// An error unless `value` is finite and strictly positive.
pub(crate) fn check_positive(loss: &str, what: &str, value: f32) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::Config(format!(
            "{loss}: {what} must be finite and positive, got {value}"
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_util {
    use ferrograd_autograd::Var;
    use ferrograd_tensor::Tensor;

    /// An nn result as the autograd result that `gradcheck` expects.
    pub fn ag(r: crate::Result<Var>) -> ferrograd_autograd::Result<Var> {
        r.map_err(|e| match e {
            crate::Error::Autograd(e) => e,
            other => ferrograd_autograd::Error::Invalid(other.to_string()),
        })
    }

    /// A constant of the given values and dimensions.
    pub fn constant(data: &[f32], dims: &[usize]) -> Var {
        Var::constant(Tensor::from_vec(data.to_vec(), dims).unwrap())
    }

    /// A tensor of the given values and dimensions.
    pub fn tensor(data: &[f32], dims: &[usize]) -> Tensor {
        Tensor::from_vec(data.to_vec(), dims).unwrap()
    }

    /// Asserts that `v` holds `expected` up to `tol`.
    pub fn assert_close(v: &Var, expected: &[f32], tol: f32) {
        let got = v.value().data();
        assert_eq!(got.len(), expected.len(), "{got:?} vs {expected:?}");
        for (g, e) in got.iter().zip(expected) {
            assert!(
                (g - e).abs() <= tol * e.abs().max(1.0),
                "{got:?} vs {expected:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::constant;
    use super::*;

    #[test]
    fn reductions_of_a_small_vector() {
        let v = constant(&[1.0, -2.0, 4.0, 5.0], &[2, 2]);
        assert_eq!(reduce(&v, Reduction::None).unwrap().dims(), &[2, 2]);
        assert_eq!(reduce(&v, Reduction::Mean).unwrap().item().unwrap(), 2.0);
        assert_eq!(reduce(&v, Reduction::Sum).unwrap().item().unwrap(), 8.0);
        assert_eq!(Reduction::default(), Reduction::Mean);
    }

    #[test]
    fn checks_report_config_errors() {
        let a = constant(&[1.0, 2.0], &[2]);
        let b = constant(&[1.0, 2.0], &[1, 2]);
        assert!(matches!(
            check_same_shape("l", "x", &a, &b),
            Err(Error::Config(_))
        ));
        assert!(check_positive("l", "c", 0.0).is_err());
        assert!(check_positive("l", "c", f32::NAN).is_err());
        assert!(check_positive("l", "c", 0.5).is_ok());
    }
}
