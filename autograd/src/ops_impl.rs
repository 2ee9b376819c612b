//! Arithmetic operators on [`Var`], each standing for one method and
//! following its error convention:
//!
//! | expression | stands for | returns |
//! |---|---|---|
//! | `a + b`, `a - b`, `a * b`, `a / b` (Var and Var) | `a.add(&b)`, `a.sub(&b)`, `a.mul(&b)`, `a.div(&b)` | `Result<Var>`: the shapes may not broadcast |
//! | `a + c`, `c + a` (`c: f32`) | `a.add_scalar(c)` | `Var` |
//! | `a - c` | `a.add_scalar(-c)` | `Var` |
//! | `c - a` | `a.neg().add_scalar(c)` | `Var` |
//! | `a * c`, `c * a` | `a.mul_scalar(c)` | `Var` |
//! | `a / c` | `a.div(&Var::scalar(c))` (true division, not `a · (1/c)`) | `Var` |
//! | `c / a` | `Var::scalar(c).div(&a)` | `Var` |
//! | `-a` | `a.neg()` | `Var` |
//!
//! Every form takes `Var` or `&Var` on either side (`&a * &b`, `a * &b`,
//! `&a * b`, `a * b`); a `&Var` operand is cloned cheaply (a reference
//! count), an owned one is consumed. The results are the methods' results,
//! bit for bit, with the same gradients.
//!
//! There are no operators with a `Result<Var>` operand: Rust's orphan rule
//! would allow `Result<Var> + &Var` but not `Result<Var> + Result<Var>` or
//! `Result<Var> * f32`, so the set would be irregular. Apply `?` to each
//! Var–Var result instead: `((&a * &b)? + &c)?`.
//!
//! ```
//! use ferrograd_autograd::Var;
//! use ferrograd_tensor::Tensor;
//! let a = Var::param(Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap());
//! let b = Var::param(Tensor::from_vec(vec![3.0, 4.0], &[2]).unwrap());
//! let y = (((&a * &b).unwrap() + 1.0) / 2.0 - &a * 0.5).unwrap(); // (ab + 1)/2 − a/2
//! let y = (-y).sum_all();
//! assert_eq!(y.item().unwrap(), -(1.5 + 3.5));
//! assert!((&a + &Var::scalar(1.0)).is_ok());
//! let c = Var::constant(Tensor::zeros(&[3]).unwrap());
//! assert!((&a + &c).is_err()); // [2] and [3] do not broadcast
//! ```

use crate::{Result, Var};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// `Var op Var` for the four combinations of owned and borrowed operands,
/// returning the method's `Result<Var>`.
macro_rules! var_var {
    ($($trait:ident $fn:ident => $method:ident;)*) => {$(
        impl $trait<&Var> for &Var {
            type Output = Result<Var>;
            #[doc = concat!("`Var::", stringify!($method), "`.")]
            #[track_caller]
            fn $fn(self, rhs: &Var) -> Result<Var> {
                Var::$method(self, rhs)
            }
        }
        impl $trait<Var> for &Var {
            type Output = Result<Var>;
            #[doc = concat!("`Var::", stringify!($method), "`.")]
            #[track_caller]
            fn $fn(self, rhs: Var) -> Result<Var> {
                Var::$method(self, &rhs)
            }
        }
        impl $trait<&Var> for Var {
            type Output = Result<Var>;
            #[doc = concat!("`Var::", stringify!($method), "`.")]
            #[track_caller]
            fn $fn(self, rhs: &Var) -> Result<Var> {
                Var::$method(&self, rhs)
            }
        }
        impl $trait<Var> for Var {
            type Output = Result<Var>;
            #[doc = concat!("`Var::", stringify!($method), "`.")]
            #[track_caller]
            fn $fn(self, rhs: Var) -> Result<Var> {
                Var::$method(&self, &rhs)
            }
        }
    )*};
}

var_var! {
    Add add => add;
    Sub sub => sub;
    Mul mul => mul;
    Div div => div;
}

/// `Var op f32` and `f32 op Var` for owned and borrowed `Var`s; `$right`
/// computes `v op c` and `$left` computes `c op v` from `v: &Var, c: f32`.
macro_rules! var_scalar {
    ($($trait:ident $fn:ident, |$v:ident, $c:ident| $right:expr, $left:expr;)*) => {$(
        impl $trait<f32> for &Var {
            type Output = Var;
            #[doc = concat!("`", stringify!($right), "`.")]
            #[track_caller]
            fn $fn(self, $c: f32) -> Var {
                let $v = self;
                $right
            }
        }
        impl $trait<f32> for Var {
            type Output = Var;
            #[doc = concat!("`", stringify!($right), "`.")]
            #[track_caller]
            fn $fn(self, $c: f32) -> Var {
                let $v = &self;
                $right
            }
        }
        impl $trait<&Var> for f32 {
            type Output = Var;
            #[doc = concat!("`", stringify!($left), "`.")]
            #[track_caller]
            fn $fn(self, rhs: &Var) -> Var {
                let ($v, $c) = (rhs, self);
                $left
            }
        }
        impl $trait<Var> for f32 {
            type Output = Var;
            #[doc = concat!("`", stringify!($left), "`.")]
            #[track_caller]
            fn $fn(self, rhs: Var) -> Var {
                let ($v, $c) = (&rhs, self);
                $left
            }
        }
    )*};
}

var_scalar! {
    Add add, |v, c| v.add_scalar(c), v.add_scalar(c);
    Sub sub, |v, c| v.add_scalar(-c), v.neg().add_scalar(c);
    Mul mul, |v, c| v.mul_scalar(c), v.mul_scalar(c);
    Div div, |v, c| div_or_scalar(v, &Var::scalar(c)), div_or_scalar(&Var::scalar(c), v);
}

/// `a / b` where one side is a scalar, so the shapes always broadcast.
#[track_caller]
fn div_or_scalar(a: &Var, b: &Var) -> Var {
    a.div(b).expect("a scalar broadcasts against every shape")
}

impl Neg for &Var {
    type Output = Var;
    /// `Var::neg`.
    #[track_caller]
    fn neg(self) -> Var {
        Var::neg(self)
    }
}

impl Neg for Var {
    type Output = Var;
    /// `Var::neg`.
    #[track_caller]
    fn neg(self) -> Var {
        Var::neg(&self)
    }
}

#[cfg(test)]
mod tests {
    use crate::{grad, GradOptions, Var};
    use ferrograd_tensor::Tensor;

    fn param(v: &[f32], d: &[usize]) -> Var {
        Var::param(Tensor::from_vec(v.to_vec(), d).unwrap())
    }

    /// Asserts that `op` and `method` give bit-identical values and
    /// gradients with respect to `inputs`.
    fn same(op: &Var, method: &Var, inputs: &[&Var]) {
        assert_eq!(op.dims(), method.dims());
        assert_eq!(op.value().data(), method.value().data());
        let go = grad(&[&op.sum_all()], inputs, None, GradOptions::default()).unwrap();
        let gm = grad(&[&method.sum_all()], inputs, None, GradOptions::default()).unwrap();
        for (a, b) in go.iter().zip(&gm) {
            assert_eq!(a.dims(), b.dims());
            assert_eq!(a.value().data(), b.value().data());
        }
    }

    /// `a` `[2, 3]` and `b` `[3]` (broadcast along the rows).
    fn pair() -> (Var, Var) {
        (
            param(&[0.5, -1.25, 2.0, 3.0, -0.75, 1.5], &[2, 3]),
            param(&[1.5, -2.0, 0.3], &[3]),
        )
    }

    #[test]
    fn var_var_operators_match_the_methods_with_broadcasting() {
        let (a, b) = pair();
        let i = [&a, &b];
        type Method = fn(&Var, &Var) -> crate::Result<Var>;
        let methods: [Method; 4] = [Var::add, Var::sub, Var::mul, Var::div];
        for (k, m) in methods.iter().enumerate() {
            let want = m(&a, &b).unwrap();
            let forms = match k {
                0 => [
                    &a + &b,
                    a.clone() + &b,
                    &a + b.clone(),
                    a.clone() + b.clone(),
                ],
                1 => [
                    &a - &b,
                    a.clone() - &b,
                    &a - b.clone(),
                    a.clone() - b.clone(),
                ],
                2 => [
                    &a * &b,
                    a.clone() * &b,
                    &a * b.clone(),
                    a.clone() * b.clone(),
                ],
                _ => [
                    &a / &b,
                    a.clone() / &b,
                    &a / b.clone(),
                    a.clone() / b.clone(),
                ],
            };
            for f in forms {
                same(&f.unwrap(), &want, &i);
            }
            // The other order broadcasts too.
            let want = m(&b, &a).unwrap();
            let got = match k {
                0 => &b + &a,
                1 => &b - &a,
                2 => &b * &a,
                _ => &b / &a,
            };
            same(&got.unwrap(), &want, &i);
        }
    }

    #[test]
    fn var_var_operators_fail_where_shapes_do_not_broadcast() {
        let a = param(&[1.0, 2.0], &[2]);
        let b = param(&[1.0, 2.0, 3.0], &[3]);
        for r in [&a + &b, &a - &b, &a * &b, &a / &b, a.clone() * b.clone()] {
            assert!(matches!(r, Err(crate::Error::Tensor(_))), "{:?}", r.err());
        }
    }

    #[test]
    fn scalar_operators_match_the_methods() {
        let (a, _) = pair();
        let i = [&a];
        let c = 0.3f32;
        let k = Var::scalar(c);
        let cases: Vec<(Vec<Var>, Var)> = vec![
            (
                vec![&a + c, a.clone() + c, c + &a, c + a.clone()],
                a.add_scalar(c),
            ),
            (vec![&a - c, a.clone() - c], a.add_scalar(-c)),
            (vec![c - &a, c - a.clone()], a.neg().add_scalar(c)),
            (
                vec![&a * c, a.clone() * c, c * &a, c * a.clone()],
                a.mul_scalar(c),
            ),
            (vec![&a / c, a.clone() / c], a.div(&k).unwrap()),
            (vec![c / &a, c / a.clone()], k.div(&a).unwrap()),
            (vec![-&a, -a.clone()], a.neg()),
        ];
        for (forms, want) in cases {
            for f in forms {
                same(&f, &want, &i);
            }
        }
        // `a − c` and `c − a` are the exact differences, `a / c` the true quotient.
        for (x, y) in a.value().data().iter().zip((&a - c).value().data()) {
            assert_eq!(*y, x - c);
        }
        for (x, y) in a.value().data().iter().zip((c - &a).value().data()) {
            assert_eq!(*y, c - x);
        }
        for (x, y) in a.value().data().iter().zip((&a / c).value().data()) {
            assert_eq!(*y, x / c);
        }
    }

    #[test]
    fn operators_compose_and_keep_second_derivatives() {
        // y = (x·x + 1) / 2 − 3x: dy/dx = x − 3, d²y/dx² = 1.
        let x = Var::param(Tensor::scalar(2.0));
        let y = (((&x * &x).unwrap() + 1.0) / 2.0 - 3.0 * &x).unwrap();
        assert_eq!(y.item().unwrap(), 2.5 - 6.0);
        let dy = grad(&[&y], &[&x], None, GradOptions::create_graph()).unwrap();
        assert_eq!(dy[0].item().unwrap(), -1.0);
        let d2y = grad(&[&dy[0]], &[&x], None, GradOptions::default()).unwrap();
        assert_eq!(d2y[0].item().unwrap(), 1.0);
    }
}
