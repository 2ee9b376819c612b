//! Regression losses on the residual `r = input − target`: squared, absolute
//! and Huber. `input` and `target` must have the same shape (PyTorch only
//! warns when they differ and then broadcasts, which is rarely intended).

use super::{check_positive, check_same_shape, reduce, Reduction};
use crate::Result;
use ferrograd_autograd::Var;

/// Mean squared error (PyTorch's `MSELoss`): `(input − target)²` per
/// element, then `reduction`.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{mse, Reduction};
/// use ferrograd_tensor::Tensor;
/// let x = Var::constant(Tensor::from_vec(vec![1.0, 3.0], &[2]).unwrap());
/// let y = Var::constant(Tensor::from_vec(vec![0.0, 0.0], &[2]).unwrap());
/// assert_eq!(mse(&x, &y, Reduction::Sum).unwrap().item().unwrap(), 10.0);
/// ```
pub fn mse(input: &Var, target: &Var, reduction: Reduction) -> Result<Var> {
    check_same_shape("mse", "input and target", input, target)?;
    reduce(&input.sub(target)?.square(), reduction)
}

/// Mean absolute error (PyTorch's `L1Loss`): `|input − target|` per element,
/// then `reduction`. The gradient at a zero residual is 0.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{l1, Reduction};
/// use ferrograd_tensor::Tensor;
/// let x = Var::constant(Tensor::from_vec(vec![1.0, -3.0], &[2]).unwrap());
/// let y = Var::constant(Tensor::from_vec(vec![0.0, 0.0], &[2]).unwrap());
/// assert_eq!(l1(&x, &y, Reduction::Mean).unwrap().item().unwrap(), 2.0);
/// ```
pub fn l1(input: &Var, target: &Var, reduction: Reduction) -> Result<Var> {
    check_same_shape("l1", "input and target", input, target)?;
    reduce(&input.sub(target)?.abs(), reduction)
}

/// Huber loss (PyTorch's `HuberLoss`, threshold `delta` > 0): with
/// `r = input − target`,
///
/// `ρ(r) = ½r²` if `|r| ≤ δ`, `δ(|r| − ½δ)` otherwise,
///
/// quadratic near zero and linear (slope δ) in the tails; then `reduction`.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{huber, Reduction};
/// use ferrograd_tensor::Tensor;
/// let x = Var::constant(Tensor::from_vec(vec![0.5, 3.0], &[2]).unwrap());
/// let y = Var::constant(Tensor::zeros(&[2]).unwrap());
/// let l = huber(&x, &y, 1.0, Reduction::None).unwrap();
/// assert_eq!(l.value().data(), &[0.125, 2.5]);
/// ```
pub fn huber(input: &Var, target: &Var, delta: f32, reduction: Reduction) -> Result<Var> {
    check_same_shape("huber", "input and target", input, target)?;
    check_positive("huber", "delta", delta)?;
    let r = input.sub(target)?;
    let a = r.abs();
    let inside = a.value().le(&ferrograd_tensor::Tensor::scalar(delta))?;
    // Both branches are finite everywhere, so the unused one contributes an
    // exact zero gradient.
    let quadratic = r.square().mul_scalar(0.5);
    let linear = a.add_scalar(-0.5 * delta).mul_scalar(delta);
    reduce(&Var::select(&inside, &quadratic, &linear)?, reduction)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ag, assert_close, constant, tensor};
    use super::*;
    use crate::Error;
    use ferrograd_autograd::{gradcheck, gradgradcheck, GradcheckOptions};

    const X: [f32; 4] = [0.5, -2.0, 1.5, 0.25];
    const Y: [f32; 4] = [0.0, 1.0, -1.0, 0.75];

    fn residuals() -> [f32; 4] {
        [0.5, -3.0, 2.5, -0.5]
    }

    #[test]
    fn mse_values_for_each_reduction() {
        let (x, y) = (constant(&X, &[2, 2]), constant(&Y, &[2, 2]));
        let sq: Vec<f32> = residuals().iter().map(|r| r * r).collect();
        assert_close(&mse(&x, &y, Reduction::None).unwrap(), &sq, 1e-6);
        assert_close(&mse(&x, &y, Reduction::Sum).unwrap(), &[15.75], 1e-6);
        assert_close(&mse(&x, &y, Reduction::Mean).unwrap(), &[15.75 / 4.0], 1e-6);
    }

    #[test]
    fn l1_values_for_each_reduction() {
        let (x, y) = (constant(&X, &[4]), constant(&Y, &[4]));
        assert_close(
            &l1(&x, &y, Reduction::None).unwrap(),
            &[0.5, 3.0, 2.5, 0.5],
            1e-6,
        );
        assert_close(&l1(&x, &y, Reduction::Sum).unwrap(), &[6.5], 1e-6);
        assert_close(&l1(&x, &y, Reduction::Mean).unwrap(), &[1.625], 1e-6);
    }

    #[test]
    fn huber_values_for_each_reduction() {
        let (x, y) = (constant(&X, &[4]), constant(&Y, &[4]));
        // δ = 1: ½·0.25, 1·(3 − 0.5), 1·(2.5 − 0.5), ½·0.25.
        let each = [0.125, 2.5, 2.0, 0.125];
        assert_close(&huber(&x, &y, 1.0, Reduction::None).unwrap(), &each, 1e-6);
        assert_close(&huber(&x, &y, 1.0, Reduction::Sum).unwrap(), &[4.75], 1e-6);
        assert_close(
            &huber(&x, &y, 1.0, Reduction::Mean).unwrap(),
            &[1.1875],
            1e-6,
        );
        // δ = 2.5 keeps |r| = 2.5 on the quadratic side; 3 is linear: 2.5·(3 − 1.25).
        let wide = [0.125, 4.375, 3.125, 0.125];
        assert_close(&huber(&x, &y, 2.5, Reduction::None).unwrap(), &wide, 1e-6);
    }

    #[test]
    fn bad_arguments_are_config_errors() {
        let (x, y) = (constant(&X, &[4]), constant(&Y, &[2, 2]));
        assert!(matches!(
            mse(&x, &y, Reduction::Mean),
            Err(Error::Config(_))
        ));
        assert!(matches!(l1(&x, &y, Reduction::Mean), Err(Error::Config(_))));
        let y = constant(&Y, &[4]);
        assert!(matches!(
            huber(&x, &y, 0.0, Reduction::Mean),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            huber(&x, &y, -1.0, Reduction::Mean),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn gradients_match_finite_differences() {
        let opts = GradcheckOptions::default();
        // Residuals stay away from 0 (|r|) and from ±δ (Huber's kink).
        let inputs = [tensor(&X, &[4]), tensor(&Y, &[4])];
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            gradcheck(|v| ag(mse(&v[0], &v[1], reduction)), &inputs, opts).unwrap();
            gradcheck(|v| ag(l1(&v[0], &v[1], reduction)), &inputs, opts).unwrap();
            gradcheck(|v| ag(huber(&v[0], &v[1], 1.0, reduction)), &inputs, opts).unwrap();
        }
        gradgradcheck(|v| ag(mse(&v[0], &v[1], Reduction::Mean)), &inputs, opts).unwrap();
        gradgradcheck(
            |v| ag(huber(&v[0], &v[1], 1.0, Reduction::None)),
            &inputs,
            opts,
        )
        .unwrap();
    }
}
