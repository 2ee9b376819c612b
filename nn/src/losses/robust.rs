//! Robust M-estimator losses on the residual `r = input − target` with a
//! scale `c` > 0.
//!
//! The forms are the classical ones tabulated by Zhang, "Parameter
//! estimation techniques: a tutorial with application to conic fitting"
//! (Image and Vision Computing, 1997), with the scale applied to the
//! residual. Every one behaves like `½r²` for `|r| ≪ c` (so `c` is the
//! residual size at which down-weighting starts, as Huber's δ) and grows
//! slower than `r²` beyond it:
//!
//! | loss | `ρ(r)` |
//! |---|---|
//! | [`cauchy`] | `(c²/2)·ln(1 + (r/c)²)` |
//! | [`welsch`] | `(c²/2)·(1 − exp(−(r/c)²))` |
//! | [`geman_mcclure`] | `(r²/2) / (1 + (r/c)²)` |
//! | [`tukey_biweight`] | `(c²/6)·(1 − (1 − (r/c)²)³)` if `|r| ≤ c`, else `c²/6` |
//!
//! Relation to Barron (2019), "A General and Adaptive Robust Loss Function",
//! whose `ρ(x, α, c)` is scale-free: `c²·ρ_Barron(r, 0, c)` is our Cauchy
//! and `c²·ρ_Barron(r, −∞, c)` our Welsch, both with scale `√2·c`;
//! `c²·ρ_Barron(r, −2, c)` is our Geman–McClure with scale `2c`. The Cauchy
//! form equals Ceres' `CauchyLoss(c)` and SciPy's `least_squares(loss="cauchy",
//! f_scale=c)`, each including their `½` of the cost.
//!
//! `input` and `target` must have the same shape; `reduction` applies to the
//! per-element `ρ(r)`.

use super::{check_positive, check_same_shape, reduce, Reduction};
use crate::Result;
use ferrograd_autograd::Var;
use ferrograd_tensor::Tensor;

/// The scaled residual `(input − target) / c`, after checking the arguments.
fn scaled_residual(loss: &str, input: &Var, target: &Var, c: f32) -> Result<Var> {
    check_same_shape(loss, "input and target", input, target)?;
    check_positive(loss, "scale c", c)?;
    Ok(input.sub(target)?.mul_scalar(1.0 / c))
}

/// Cauchy (Lorentzian) loss `(c²/2)·ln(1 + (r/c)²)`; see the module docs.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{cauchy, Reduction};
/// use ferrograd_tensor::Tensor;
/// let x = Var::constant(Tensor::from_vec(vec![2.0], &[1]).unwrap());
/// let y = Var::constant(Tensor::zeros(&[1]).unwrap());
/// let l = cauchy(&x, &y, 2.0, Reduction::Sum).unwrap();
/// assert!((l.item().unwrap() - 2.0 * 2f32.ln()).abs() < 1e-6);
/// ```
pub fn cauchy(input: &Var, target: &Var, c: f32, reduction: Reduction) -> Result<Var> {
    let u = scaled_residual("cauchy", input, target, c)?;
    reduce(&u.square().log1p().mul_scalar(0.5 * c * c), reduction)
}

/// Welsch (Leclerc) loss `(c²/2)·(1 − exp(−(r/c)²))`; see the module docs.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{welsch, Reduction};
/// use ferrograd_tensor::Tensor;
/// let x = Var::constant(Tensor::from_vec(vec![100.0], &[1]).unwrap());
/// let y = Var::constant(Tensor::zeros(&[1]).unwrap());
/// // Saturates at c²/2 for large residuals.
/// assert_eq!(welsch(&x, &y, 1.0, Reduction::Mean).unwrap().item().unwrap(), 0.5);
/// ```
pub fn welsch(input: &Var, target: &Var, c: f32, reduction: Reduction) -> Result<Var> {
    let u = scaled_residual("welsch", input, target, c)?;
    let rho = u.square().neg().exp().neg().add_scalar(1.0);
    reduce(&rho.mul_scalar(0.5 * c * c), reduction)
}

/// Geman–McClure loss `(r²/2) / (1 + (r/c)²)`, which saturates at `c²/2`;
/// see the module docs.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{geman_mcclure, Reduction};
/// use ferrograd_tensor::Tensor;
/// let x = Var::constant(Tensor::from_vec(vec![1.0], &[1]).unwrap());
/// let y = Var::constant(Tensor::zeros(&[1]).unwrap());
/// // (1/2) / (1 + 1) at c = 1.
/// assert_eq!(geman_mcclure(&x, &y, 1.0, Reduction::Sum).unwrap().item().unwrap(), 0.25);
/// ```
pub fn geman_mcclure(input: &Var, target: &Var, c: f32, reduction: Reduction) -> Result<Var> {
    let u = scaled_residual("geman_mcclure", input, target, c)?;
    let u2 = u.square();
    // (r²/2)/(1 + u²) = (c²/2)·u²/(1 + u²)
    let rho = u2.div(&u2.add_scalar(1.0))?.mul_scalar(0.5 * c * c);
    reduce(&rho, reduction)
}

/// Tukey's biweight (bisquare) loss: `(c²/6)·(1 − (1 − (r/c)²)³)` for
/// `|r| ≤ c` and the constant `c²/6` beyond, so residuals larger than `c`
/// get zero gradient. The polynomial branch is evaluated on a residual set
/// to 0 outside `[−c, c]`, so huge residuals cannot overflow into NaN
/// gradients. See the module docs.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{tukey_biweight, Reduction};
/// use ferrograd_tensor::Tensor;
/// let x = Var::constant(Tensor::from_vec(vec![1.0, 5.0], &[2]).unwrap());
/// let y = Var::constant(Tensor::zeros(&[2]).unwrap());
/// let l = tukey_biweight(&x, &y, 2.0, Reduction::None).unwrap();
/// let inner = 4.0 / 6.0 * (1.0 - 0.75f32.powi(3));
/// assert!((l.value().data()[0] - inner).abs() < 1e-6);
/// assert!((l.value().data()[1] - 4.0 / 6.0).abs() < 1e-6);
/// ```
pub fn tukey_biweight(input: &Var, target: &Var, c: f32, reduction: Reduction) -> Result<Var> {
    let u = scaled_residual("tukey_biweight", input, target, c)?;
    let inside = u.value().abs().le(&Tensor::scalar(1.0))?;
    let zero = Var::constant(Tensor::scalar(0.0));
    let u_safe = Var::select(&inside, &u, &zero)?;
    let cube = u_safe.square().neg().add_scalar(1.0).powf(3.0);
    let polynomial = cube.neg().add_scalar(1.0).mul_scalar(c * c / 6.0);
    let plateau = Var::constant(Tensor::scalar(c * c / 6.0));
    reduce(&Var::select(&inside, &polynomial, &plateau)?, reduction)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ag, assert_close, constant, tensor};
    use super::*;
    use crate::Error;
    use ferrograd_autograd::{grad, gradcheck, GradOptions, GradcheckOptions};

    const X: [f32; 4] = [0.5, -2.0, 1.5, 3.0];
    const Y: [f32; 4] = [0.0, 1.0, -1.0, 2.75];
    const C: f32 = 1.5;

    /// r = [0.5, −3, 2.5, 0.25].
    fn residuals() -> Vec<f32> {
        X.iter().zip(&Y).map(|(x, y)| x - y).collect()
    }

    type Loss = fn(&Var, &Var, f32, Reduction) -> Result<Var>;

    /// Checks the three reductions of `loss` against `rho` applied by hand.
    fn check_values(loss: Loss, rho: impl Fn(f32) -> f32) {
        let (x, y) = (constant(&X, &[2, 2]), constant(&Y, &[2, 2]));
        let each: Vec<f32> = residuals().into_iter().map(rho).collect();
        let sum: f32 = each.iter().sum();
        let none = loss(&x, &y, C, Reduction::None).unwrap();
        assert_eq!(none.dims(), &[2, 2]);
        assert_close(&none, &each, 1e-5);
        assert_close(&loss(&x, &y, C, Reduction::Sum).unwrap(), &[sum], 1e-5);
        assert_close(
            &loss(&x, &y, C, Reduction::Mean).unwrap(),
            &[sum / 4.0],
            1e-5,
        );
    }

    #[test]
    fn cauchy_values() {
        check_values(cauchy, |r| C * C / 2.0 * (1.0 + (r / C) * (r / C)).ln());
    }

    #[test]
    fn welsch_values() {
        check_values(welsch, |r| C * C / 2.0 * (1.0 - (-(r / C) * (r / C)).exp()));
    }

    #[test]
    fn geman_mcclure_values() {
        check_values(geman_mcclure, |r| r * r / 2.0 / (1.0 + (r / C) * (r / C)));
    }

    #[test]
    fn tukey_values() {
        check_values(tukey_biweight, |r| {
            if r.abs() <= C {
                C * C / 6.0 * (1.0 - (1.0 - (r / C) * (r / C)).powi(3))
            } else {
                C * C / 6.0
            }
        });
    }

    #[test]
    fn small_residuals_behave_like_half_square() {
        let (x, y) = (constant(&[1e-2], &[1]), constant(&[0.0], &[1]));
        for loss in [cauchy, welsch, geman_mcclure, tukey_biweight] as [Loss; 4] {
            let v = loss(&x, &y, 1.0, Reduction::Sum).unwrap().item().unwrap();
            assert!((v - 5e-5).abs() < 1e-7, "{v}");
        }
    }

    #[test]
    fn tukey_gradient_is_finite_for_huge_residuals() {
        let x = Var::param(tensor(&[1e30, -1e30, 0.5], &[3]));
        let y = constant(&[0.0, 0.0, 0.0], &[3]);
        let l = tukey_biweight(&x, &y, 1.0, Reduction::Sum).unwrap();
        let g = grad(&[&l], &[&x], None, GradOptions::default()).unwrap();
        let g = g[0].value().data();
        assert_eq!(&g[..2], &[0.0, 0.0]);
        // ψ(r) = r(1 − r²)² at c = 1.
        assert!((g[2] - 0.5 * 0.75f32.powi(2)).abs() < 1e-6);
    }

    #[test]
    fn bad_arguments_are_config_errors() {
        let (x, y) = (constant(&X, &[4]), constant(&Y, &[4]));
        for loss in [cauchy, welsch, geman_mcclure, tukey_biweight] as [Loss; 4] {
            assert!(matches!(
                loss(&x, &y, 0.0, Reduction::Mean),
                Err(Error::Config(_))
            ));
            assert!(matches!(
                loss(&x, &y, f32::INFINITY, Reduction::Mean),
                Err(Error::Config(_))
            ));
            let y2 = constant(&Y, &[2, 2]);
            assert!(matches!(
                loss(&x, &y2, 1.0, Reduction::Mean),
                Err(Error::Config(_))
            ));
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Residuals stay away from Tukey's kink at |r| = c.
        let inputs = [tensor(&X, &[4]), tensor(&Y, &[4])];
        let opts = GradcheckOptions::default();
        for loss in [cauchy, welsch, geman_mcclure, tukey_biweight] as [Loss; 4] {
            for reduction in [Reduction::None, Reduction::Mean] {
                gradcheck(|v| ag(loss(&v[0], &v[1], C, reduction)), &inputs, opts).unwrap();
            }
        }
    }
}
