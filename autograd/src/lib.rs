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
#![warn(missing_docs)]

mod composite;
mod custom;
mod engine;
mod error;
mod gradcheck;
mod methods;
mod op;
mod var;

pub use custom::CustomOp;
pub use engine::{grad, GradOptions};
pub use error::{Error, Result};
pub use gradcheck::{gradcheck, gradgradcheck, GradcheckError, GradcheckOptions};
pub use var::{
    is_grad_enabled, live_nodes, no_grad, no_grad_guard, set_grad_enabled, GradModeGuard, Var,
};
