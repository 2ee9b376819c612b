//! Reverse-mode automatic differentiation for ferrograd.
//!
//! A [`Var`] is a tensor that remembers the operation that produced it. Each
//! primitive (in `op.rs`, one table for forwards and one for backward rules)
//! has a backward rule written with the same differentiable operations, so
//! [`grad`] with [`GradOptions::create_graph`] returns gradients that are
//! graphs themselves: differentiate them again for Hessian-vector products,
//! gradient penalties or MAML's meta-gradients. Without `create_graph`, the
//! backward pass records nothing.
//!
//! ```
//! use ferrograd_autograd::{grad, GradOptions, Var};
//! use ferrograd_tensor::Tensor;
//! // d/dx sin(x)·x and d²/dx² at x = 1.
//! let x = Var::param(Tensor::scalar(1.0));
//! let y = x.sin().mul(&x).unwrap();
//! let dy = grad(&[&y], &[&x], None, GradOptions::create_graph()).unwrap();
//! let d2y = grad(&[&dy[0]], &[&x], None, GradOptions::default()).unwrap();
//! let (s, c) = (1f32.sin(), 1f32.cos());
//! assert!((dy[0].item().unwrap() - (c + s)).abs() < 1e-6);          // cos x·x + sin x
//! assert!((d2y[0].item().unwrap() - (2.0 * c - s)).abs() < 1e-6);   // 2cos x − x sin x
//! ```
//!
//! # Operators
//!
//! `+ - * /` and unary `-` work on `Var` and `&Var` (either side, any mix)
//! and with `f32` scalars on either side. Each stands for one method and
//! keeps its error convention: Var–Var operators may fail to broadcast and
//! return `Result<Var>`, like [`Var::add`]; scalar operators and negation
//! cannot fail and return `Var`, like [`Var::add_scalar`].
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
//! ```
//! use ferrograd_autograd::{Result, Var};
//! use ferrograd_tensor::Tensor;
//! fn f(x: &Var, w: &Var) -> Result<Var> {
//!     let y = (x * w)?;            // may fail: the shapes must broadcast
//!     Ok(-(1.0 - 2.0 * &y) / 4.0)  // scalar ops and negation cannot
//! }
//! let x = Var::param(Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap());
//! let w = Var::param(Tensor::scalar(3.0));
//! assert_eq!(f(&x, &w).unwrap().value().data(), &[1.25, 2.75]); // (2xw − 1)/4
//! let v = Var::param(Tensor::zeros(&[3]).unwrap());
//! assert!(f(&x, &v).is_err()); // [2] · [3]
//! ```
#![warn(missing_docs)]

pub mod anomaly;
mod attention;
mod composite;
mod custom;
mod engine;
mod error;
mod gradcheck;
mod lstm;
mod methods;
mod mixture;
mod mixture_lanes;
mod op;
mod ops_impl;
mod var;

pub use attention::Attention;
pub use custom::CustomOp;
pub use engine::{grad, GradOptions};
pub use error::{Error, Result};
pub use gradcheck::{gradcheck, gradgradcheck, GradcheckError, GradcheckOptions};
pub use lstm::lstm_sequence_composite;
pub use mixture::diag_gaussian_mixture_nll_composite;
pub use mixture_lanes::per_dim_gaussian_mixture_nll_composite;
pub use var::{
    is_grad_enabled, live_nodes, no_grad, no_grad_guard, set_grad_enabled, GradModeGuard, Var,
};
