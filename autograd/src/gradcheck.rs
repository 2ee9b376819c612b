//! Gradient checks: analytic gradients against finite differences, first
//! ([`gradcheck`]) and second order ([`gradgradcheck`]).
//!
//! # Method and tolerances
//! A function `f` of several tensors is reduced to a scalar by a fixed random
//! projection `L = Σ w ⊙ f(x)` (weights of magnitude 0.5 to 1.5 and random
//! sign, seeded). Its analytic gradient comes from [`grad`]; its numeric one
//! from central differences with Richardson extrapolation,
//! `(4·D(h/2) − D(h)) / 3` with `D(h) = (L(x + h) − L(x − h)) / 2h`, which is
//! accurate to O(h⁴). The step is `h = eps · max(1, |x|)` (default `eps`
//! 1e-2: in f32, smaller steps are swamped by rounding). An element passes
//! when `|analytic − numeric| ≤ atol + rtol · max(|analytic|, |numeric|)`,
//! defaults `atol = rtol = 1e-2`, which suits f32 evaluation of functions
//! with values and derivatives of order 1. Keep inputs away from kinks
//! (ReLU at 0, |x| at 0, ties of max) and outside singularities.

use crate::{grad, Error, GradOptions, Var};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt;

/// Settings of [`gradcheck`] and [`gradgradcheck`]; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradcheckOptions {
    /// Relative finite-difference step.
    pub eps: f32,
    /// Absolute tolerance.
    pub atol: f32,
    /// Relative tolerance.
    pub rtol: f32,
    /// Seed of the random projections.
    pub seed: u64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-2,
            atol: 1e-2,
            rtol: 1e-2,
            seed: 0x5eed,
        }
    }
}

/// Why a gradient check did not pass.
#[derive(Debug, Clone, PartialEq)]
pub enum GradcheckError {
    /// An analytic derivative differs from the numeric one.
    Mismatch {
        /// Which input.
        input: usize,
        /// Which element of it (row-major).
        element: usize,
        /// The derivative from the backward rules.
        analytic: f32,
        /// The finite-difference derivative.
        numeric: f32,
    },
    /// Evaluating the function or its gradient failed.
    Eval(Error),
}

impl fmt::Display for GradcheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradcheckError::Mismatch {
                input,
                element,
                analytic,
                numeric,
            } => write!(
                f,
                "gradient mismatch at input {input}, element {element}: analytic {analytic}, numeric {numeric}"
            ),
            GradcheckError::Eval(e) => write!(f, "evaluation failed: {e}"),
        }
    }
}

impl std::error::Error for GradcheckError {}

impl From<Error> for GradcheckError {
    fn from(e: Error) -> Self {
        GradcheckError::Eval(e)
    }
}

/// A tensor of the given shape with entries ±[0.5, 1.5].
fn projection(rng: &mut StdRng, like: &Tensor) -> Tensor {
    let d = (0..like.numel())
        .map(|_| {
            let m: f32 = rng.random_range(0.5..1.5);
            if rng.random::<bool>() {
                m
            } else {
                -m
            }
        })
        .collect();
    Tensor::with_shape(d, *like.shape()).expect("same element count")
}

fn params(values: &[Tensor]) -> Vec<Var> {
    values.iter().map(|t| Var::param(t.clone())).collect()
}

/// `Σ w ⊙ f(x)` in f64.
fn projected(
    f: &dyn Fn(&[Var]) -> crate::Result<Var>,
    x: &[Tensor],
    w: &Tensor,
) -> crate::Result<f64> {
    let y = f(&params(x))?;
    if y.shape() != w.shape() {
        return Err(Error::Invalid(format!(
            "gradcheck: the function's output changed shape from {} to {}",
            w.shape(),
            y.shape()
        )));
    }
    Ok(y.value()
        .data()
        .iter()
        .zip(w.data())
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum())
}

/// Checks the gradients of `f` at `inputs` against finite differences.
///
/// ```
/// use ferrograd_autograd::{gradcheck, GradcheckOptions};
/// use ferrograd_tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.3, -0.7, 1.2], &[3]).unwrap();
/// gradcheck(|v| Ok(v[0].tanh().mul(&v[0])?), &[x], GradcheckOptions::default()).unwrap();
/// ```
pub fn gradcheck<F>(f: F, inputs: &[Tensor], opts: GradcheckOptions) -> Result<(), GradcheckError>
where
    F: Fn(&[Var]) -> crate::Result<Var>,
{
    check_first(f, inputs, opts, GradOptions::default())
}

/// [`gradcheck`] with the analytic gradient taken with `grad_opts` (plain,
/// or recorded under `create_graph`: a rule may compute the two differently).
fn check_first<F>(
    f: F,
    inputs: &[Tensor],
    opts: GradcheckOptions,
    grad_opts: GradOptions,
) -> Result<(), GradcheckError>
where
    F: Fn(&[Var]) -> crate::Result<Var>,
{
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let xs = params(inputs);
    let y = f(&xs)?;
    let w = projection(&mut rng, y.value());
    let loss = y.mul(&Var::constant(w.clone()))?.sum_all();
    let refs: Vec<&Var> = xs.iter().collect();
    let analytic = grad(&[&loss], &refs, None, grad_opts.allow_unused())?;
    for (i, x) in inputs.iter().enumerate() {
        for e in 0..x.numel() {
            let h = opts.eps * x.data()[e].abs().max(1.0);
            let at = |delta: f32| -> crate::Result<f64> {
                let mut moved = inputs.to_vec();
                moved[i].data_mut()[e] += delta;
                projected(&f, &moved, &w)
            };
            let d = |h: f32| -> crate::Result<f64> { Ok((at(h)? - at(-h)?) / (2.0 * h as f64)) };
            let numeric = ((4.0 * d(h / 2.0)? - d(h)?) / 3.0) as f32;
            let a = analytic[i].value().data()[e];
            let ok = (a - numeric).abs() <= opts.atol + opts.rtol * a.abs().max(numeric.abs());
            if !ok || !a.is_finite() {
                return Err(GradcheckError::Mismatch {
                    input: i,
                    element: e,
                    analytic: a,
                    numeric,
                });
            }
        }
    }
    Ok(())
}

/// Checks second derivatives: [`gradcheck`] of `x ↦ Σ_i ⟨v_i, ∂L/∂x_i⟩`,
/// where `L = Σ w ⊙ f(x)` and `v_i` are fixed random projections, with the
/// first gradient taken under `create_graph`. That recorded first gradient
/// is itself checked against finite differences first (a rule may compute
/// it differently from the plain backward that [`gradcheck`] checks).
///
/// ```
/// use ferrograd_autograd::{gradgradcheck, GradcheckOptions};
/// use ferrograd_tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.3, -0.7], &[2]).unwrap();
/// gradgradcheck(|v| Ok(v[0].sin().mul(&v[0])?), &[x], GradcheckOptions::default()).unwrap();
/// ```
pub fn gradgradcheck<F>(
    f: F,
    inputs: &[Tensor],
    opts: GradcheckOptions,
) -> Result<(), GradcheckError>
where
    F: Fn(&[Var]) -> crate::Result<Var>,
{
    check_first(&f, inputs, opts, GradOptions::create_graph())?;
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x9e37_79b9);
    let y0 = f(&params(inputs))?;
    let w = Var::constant(projection(&mut rng, y0.value()));
    let vs: Vec<Var> = inputs
        .iter()
        .map(|x| Var::constant(projection(&mut rng, x)))
        .collect();
    let h = |xs: &[Var]| -> crate::Result<Var> {
        let loss = f(xs)?.mul(&w)?.sum_all();
        let refs: Vec<&Var> = xs.iter().collect();
        let gs = grad(
            &[&loss],
            &refs,
            None,
            GradOptions::create_graph().allow_unused(),
        )?;
        let mut total = Var::scalar(0.0);
        for (g, v) in gs.iter().zip(&vs) {
            total = total.add(&g.mul(v)?.sum_all())?;
        }
        Ok(total)
    };
    gradcheck(h, inputs, opts)
}
