//! The gradient checker must fail when it should. Custom primitives compute
//! `sin x` forward with deliberately broken backward rules: `g·sin x` (the
//! wrong function) and `1.1·g·cos x` (off by 10 %) must make `gradcheck`
//! report a mismatch; `g·cos x` with `cos x` taken as a constant (a correct
//! first derivative that loses its own derivative) must pass `gradcheck`
//! and fail `gradgradcheck`. A correct rule passes both, as a control.

use ferrograd_autograd::{
    gradcheck, gradgradcheck, CustomOp, GradcheckError, GradcheckOptions, Result, Var,
};
use ferrograd_tensor::Tensor;
use std::sync::Arc;

/// Which backward rule the custom `sin` uses.
#[derive(Clone, Copy)]
enum Rule {
    /// `g·cos x`, differentiable: correct.
    Correct,
    /// `g·sin x`: the wrong derivative.
    Wrong,
    /// `1.1·g·cos x`: off by a factor 1.1.
    Scaled,
    /// `g·cos x` with `cos x` a constant: right value, no second derivative.
    Constant,
}

struct Sin(Rule);

impl CustomOp for Sin {
    fn name(&self) -> &'static str {
        "test_sin"
    }

    fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
        Ok(x[0].sin())
    }

    fn backward(&self, x: &[Var], _y: &Var, g: &Var) -> Result<Vec<Option<Var>>> {
        let x = &x[0];
        let dx = match self.0 {
            Rule::Correct => g.mul(&x.cos())?,
            Rule::Wrong => g.mul(&x.sin())?,
            Rule::Scaled => g.mul(&x.cos())?.mul_scalar(1.1),
            Rule::Constant => g.mul(&Var::constant(x.value().cos()))?,
        };
        Ok(vec![Some(dx)])
    }
}

fn sin_with(rule: Rule) -> impl Fn(&[Var]) -> Result<Var> {
    let op: Arc<dyn CustomOp> = Arc::new(Sin(rule));
    move |v| Var::custom(op.clone(), &[&v[0]])
}

/// Points where sin, cos and their derivatives are all far from 0 and from
/// each other, as a scalar, a vector and a matrix.
fn inputs() -> Vec<Tensor> {
    vec![
        Tensor::scalar(0.3),
        Tensor::from_vec(vec![0.3, -0.6, 1.1], &[3]).unwrap(),
        Tensor::from_vec(vec![0.3, 0.5, -1.2, 1.0, -0.4, 0.2], &[2, 3]).unwrap(),
    ]
}

fn is_mismatch(r: &std::result::Result<(), GradcheckError>) -> bool {
    matches!(r, Err(GradcheckError::Mismatch { .. }))
}

#[test]
fn correct_rule_passes_both_checks() {
    let opts = GradcheckOptions::default();
    for x in inputs() {
        let f = sin_with(Rule::Correct);
        let r = gradcheck(&f, std::slice::from_ref(&x), opts);
        assert!(r.is_ok(), "{r:?}");
        let r = gradgradcheck(&f, &[x], opts);
        assert!(r.is_ok(), "{r:?}");
    }
}

#[test]
fn wrong_first_derivative_fails_gradcheck() {
    let opts = GradcheckOptions::default();
    for rule in [Rule::Wrong, Rule::Scaled] {
        for x in inputs() {
            let r = gradcheck(sin_with(rule), &[x], opts);
            assert!(is_mismatch(&r), "{r:?}");
        }
    }
}

#[test]
fn lost_second_derivative_fails_only_gradgradcheck() {
    let opts = GradcheckOptions::default();
    for x in inputs() {
        let f = sin_with(Rule::Constant);
        let r = gradcheck(&f, std::slice::from_ref(&x), opts);
        assert!(r.is_ok(), "{r:?}");
        let r = gradgradcheck(&f, &[x], opts);
        assert!(is_mismatch(&r), "{r:?}");
    }
}

/// The mismatch names the input and element and carries both derivatives.
#[test]
fn mismatch_reports_the_offending_element() {
    let x = Tensor::from_vec(vec![0.3, -0.6], &[2]).unwrap();
    let y = Tensor::scalar(0.5);
    // Only input 1 goes through the broken rule.
    let op: Arc<dyn CustomOp> = Arc::new(Sin(Rule::Scaled));
    let f = move |v: &[Var]| v[0].sin().add(&Var::custom(op.clone(), &[&v[1]])?);
    let r = gradcheck(f, &[x, y], GradcheckOptions::default());
    match r {
        Err(GradcheckError::Mismatch {
            input,
            element,
            analytic,
            numeric,
        }) => {
            assert_eq!((input, element), (1, 0));
            assert!(
                (analytic / numeric - 1.1).abs() < 1e-2,
                "{analytic} {numeric}"
            );
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
}
