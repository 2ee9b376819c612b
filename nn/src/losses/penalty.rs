//! Weight penalties added to a loss: `coefficient·Σ|w|` and
//! `coefficient·Σw²` over a list of parameters. They are sums over every
//! element of every tensor, so they take no [`super::Reduction`].

use crate::param::Param;
use crate::{Error, Result};
use ferrograd_autograd::Var;

/// Something that gives a [`Var`] to penalise: a [`Param`] (its current
/// leaf) or a `Var` itself (for example a fast weight), or a reference to
/// either.
pub trait AsVar {
    /// The value to penalise.
    fn as_var(&self) -> Var;
}

impl AsVar for Var {
    fn as_var(&self) -> Var {
        self.clone()
    }
}

impl AsVar for Param {
    fn as_var(&self) -> Var {
        self.var()
    }
}

impl<T: AsVar + ?Sized> AsVar for &T {
    fn as_var(&self) -> Var {
        (**self).as_var()
    }
}

/// An error unless the coefficient is finite and not negative.
fn check_coefficient(name: &str, coefficient: f32) -> Result<()> {
    if !(coefficient.is_finite() && coefficient >= 0.0) {
        return Err(Error::Config(format!(
            "{name}: the coefficient must be finite and ≥ 0, got {coefficient}"
        )));
    }
    Ok(())
}

/// `coefficient · Σ_p Σ_i f(p_i)`, 0 for an empty list.
fn penalty<T: AsVar>(items: &[T], coefficient: f32, f: fn(&Var) -> Var) -> Result<Var> {
    let mut total: Option<Var> = None;
    for item in items {
        let s = f(&item.as_var()).sum_all();
        total = Some(match total {
            Some(t) => t.add(&s)?,
            None => s,
        });
    }
    Ok(total
        .map(|t| t.mul_scalar(coefficient))
        .unwrap_or_else(|| Var::scalar(0.0)))
}

/// L1 penalty `coefficient · Σ |w|` over every element of every item (a
/// scalar; the gradient is `coefficient·sign(w)`, 0 at 0). `coefficient`
/// must be finite and ≥ 0.
///
/// ```
/// use ferrograd_nn::losses::l1_penalty;
/// use ferrograd_nn::Param;
/// use ferrograd_tensor::Tensor;
/// let w = Param::new(Tensor::from_vec(vec![1.0, -2.0], &[2]).unwrap());
/// let b = Param::new(Tensor::from_vec(vec![0.5], &[1]).unwrap());
/// let p = l1_penalty(&[&w, &b], 0.1).unwrap();
/// assert!((p.item().unwrap() - 0.35).abs() < 1e-6);
/// ```
pub fn l1_penalty<T: AsVar>(items: &[T], coefficient: f32) -> Result<Var> {
    check_coefficient("l1_penalty", coefficient)?;
    penalty(items, coefficient, Var::abs)
}

/// L2 penalty `coefficient · Σ w²` over every element of every item (a
/// scalar, without a ½ as in Keras' `l2` regulariser: the gradient is
/// `2·coefficient·w`, so `coefficient = λ/2` matches SGD's
/// `weight_decay = λ`). `coefficient` must be finite and ≥ 0.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::l2_penalty;
/// use ferrograd_tensor::Tensor;
/// let w = Var::param(Tensor::from_vec(vec![1.0, -2.0], &[2]).unwrap());
/// assert_eq!(l2_penalty(&[w], 0.5).unwrap().item().unwrap(), 2.5);
/// ```
pub fn l2_penalty<T: AsVar>(items: &[T], coefficient: f32) -> Result<Var> {
    check_coefficient("l2_penalty", coefficient)?;
    penalty(items, coefficient, Var::square)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ag, tensor};
    use super::*;
    use ferrograd_autograd::{grad, gradcheck, GradOptions, GradcheckOptions};

    fn params() -> [Param; 2] {
        [
            Param::new(tensor(&[1.0, -2.0, 0.5, 3.0], &[2, 2])),
            Param::new(tensor(&[-0.25], &[1])),
        ]
    }

    #[test]
    fn values_over_params_and_vars() {
        let p = params();
        // Σ|w| = 1 + 2 + 0.5 + 3 + 0.25 = 6.75; Σw² = 1 + 4 + 0.25 + 9 + 0.0625 = 14.3125.
        assert!((l1_penalty(&p, 0.1).unwrap().item().unwrap() - 0.675).abs() < 1e-6);
        assert!((l2_penalty(&p, 0.1).unwrap().item().unwrap() - 1.43125).abs() < 1e-6);
        let vars: Vec<Var> = p.iter().map(Param::var).collect();
        assert!((l1_penalty(&vars, 2.0).unwrap().item().unwrap() - 13.5).abs() < 1e-5);
        let refs: Vec<&Param> = p.iter().collect();
        assert!((l2_penalty(&refs, 1.0).unwrap().item().unwrap() - 14.3125).abs() < 1e-5);
        let none: [Var; 0] = [];
        assert_eq!(l2_penalty(&none, 1.0).unwrap().item().unwrap(), 0.0);
    }

    #[test]
    fn gradients_reach_the_params() {
        let p = params();
        let l = l2_penalty(&p, 0.5)
            .unwrap()
            .add(&l1_penalty(&p, 0.1).unwrap())
            .unwrap();
        l.backward().unwrap();
        // 2·0.5·w + 0.1·sign(w)
        let g = p[0].grad().unwrap();
        for (a, e) in g.data().iter().zip([1.1, -2.1, 0.6, 3.1]) {
            assert!((a - e).abs() < 1e-6, "{a} vs {e}");
        }
        assert!((p[1].grad().unwrap().data()[0] + 0.35).abs() < 1e-6);
        let v = p[0].var();
        let g = grad(
            &[&l1_penalty(&[&v], 1.0).unwrap()],
            &[&v],
            None,
            GradOptions::default(),
        );
        assert_eq!(g.unwrap()[0].value().data(), &[1.0, -1.0, 1.0, 1.0]);
    }

    #[test]
    fn rejects_bad_coefficients() {
        let p = params();
        for c in [-0.1, f32::NAN, f32::INFINITY] {
            assert!(matches!(l1_penalty(&p, c), Err(Error::Config(_))));
            assert!(matches!(l2_penalty(&p, c), Err(Error::Config(_))));
        }
    }

    #[test]
    fn gradcheck_both_penalties() {
        let inputs = [
            tensor(&[1.0, -2.0, 0.5], &[3]),
            tensor(&[-0.25, 0.75], &[2]),
        ];
        let opts = GradcheckOptions::default();
        gradcheck(|v| ag(l1_penalty(v, 0.3)), &inputs, opts).unwrap();
        gradcheck(|v| ag(l2_penalty(v, 0.3)), &inputs, opts).unwrap();
    }
}
