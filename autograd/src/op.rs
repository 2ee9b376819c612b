//! The primitives: every recorded operation, its forward (a tensor kernel)
//! and its backward rule (vector-Jacobian product), in one table each.
//!
//! Backward rules are written with the same differentiable [`Var`]
//! operations as user code. Under `create_graph` the engine runs them with
//! recording on, so a gradient is itself a graph that can be differentiated
//! again; otherwise they run under `no_grad` and record nothing.
//!
//! Adding a primitive: a variant here, its line in [`Op::forward`], its line
//! in [`Op::backward`], a method in `methods.rs`, and a gradient check in
//! the matching `tests/tests/gradcheck_*.rs` (first and second order).

use crate::custom::CustomOp;
use crate::{Result, Var};
use core::f32::consts::PI;
use ferrograd_tensor::kernels::binary::BinaryOp;
use ferrograd_tensor::kernels::unary::UnaryOp;
use ferrograd_tensor::{Indices, Shape, Tensor};
use std::sync::Arc;

/// A recorded operation with the attributes its backward rule needs.
#[derive(Clone)]
pub(crate) enum Op {
    Unary(UnaryOp),
    Binary(BinaryOp),
    AddScalar(f32),
    MulScalar(f32),
    PowScalar(f32),
    Sum {
        axes: Vec<isize>,
        keepdim: bool,
    },
    Max {
        axes: Vec<isize>,
        keepdim: bool,
    },
    Min {
        axes: Vec<isize>,
        keepdim: bool,
    },
    LogSumExp {
        axes: Vec<isize>,
        keepdim: bool,
    },
    Softmax(isize),
    LogSoftmax(isize),
    /// `(x − mean) / √(var + eps)` over the last axis.
    NormalizeLast(f32),
    Reshape(Shape),
    Permute(Vec<usize>),
    Expand(Shape),
    SumTo(Shape),
    Narrow {
        axis: isize,
        start: usize,
        len: usize,
    },
    Pad {
        axis: isize,
        start: usize,
        size: usize,
    },
    Concat(isize),
    IndexSelect {
        axis: isize,
        idx: Indices,
    },
    IndexAdd {
        axis: isize,
        idx: Indices,
        size: usize,
    },
    Gather {
        axis: isize,
        idx: Indices,
    },
    ScatterAdd {
        axis: isize,
        idx: Indices,
        size: usize,
    },
    Tril(isize),
    Triu(isize),
    Diagonal,
    DiagEmbed,
    Select(Tensor),
    Matmul {
        ta: bool,
        tb: bool,
    },
    Cholesky,
    TriangularSolve {
        lower: bool,
        transpose: bool,
        unit: bool,
    },
    Custom(Arc<dyn CustomOp>),
}

impl Op {
    /// A short name for messages and debugging.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Unary(_) => "unary",
            Op::Binary(_) => "binary",
            Op::AddScalar(_) => "add_scalar",
            Op::MulScalar(_) => "mul_scalar",
            Op::PowScalar(_) => "powf",
            Op::Sum { .. } => "sum",
            Op::Max { .. } => "max",
            Op::Min { .. } => "min",
            Op::LogSumExp { .. } => "logsumexp",
            Op::Softmax(_) => "softmax",
            Op::LogSoftmax(_) => "log_softmax",
            Op::NormalizeLast(_) => "normalize_last",
            Op::Reshape(_) => "reshape",
            Op::Permute(_) => "permute",
            Op::Expand(_) => "broadcast_to",
            Op::SumTo(_) => "sum_to",
            Op::Narrow { .. } => "narrow",
            Op::Pad { .. } => "pad_axis",
            Op::Concat(_) => "concat",
            Op::IndexSelect { .. } => "index_select",
            Op::IndexAdd { .. } => "index_add",
            Op::Gather { .. } => "gather",
            Op::ScatterAdd { .. } => "scatter_add",
            Op::Tril(_) => "tril",
            Op::Triu(_) => "triu",
            Op::Diagonal => "diagonal",
            Op::DiagEmbed => "diag_embed",
            Op::Select(_) => "select",
            Op::Matmul { .. } => "matmul",
            Op::Cholesky => "cholesky",
            Op::TriangularSolve { .. } => "triangular_solve",
            Op::Custom(c) => c.name(),
        }
    }

    /// The forward computation on input values.
    pub(crate) fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
        Ok(match self {
            Op::Unary(u) => x[0].unary(*u),
            Op::Binary(b) => x[0].binary(*b, x[1])?,
            Op::AddScalar(c) => x[0].add_scalar(*c),
            Op::MulScalar(c) => x[0].mul_scalar(*c),
            Op::PowScalar(c) => x[0].powf(*c),
            Op::Sum { axes, keepdim } => x[0].sum(axes, *keepdim)?,
            Op::Max { axes, keepdim } => x[0].max(axes, *keepdim)?,
            Op::Min { axes, keepdim } => x[0].min(axes, *keepdim)?,
            Op::LogSumExp { axes, keepdim } => x[0].logsumexp(axes, *keepdim)?,
            Op::Softmax(a) => x[0].softmax(*a)?,
            Op::LogSoftmax(a) => x[0].log_softmax(*a)?,
            Op::NormalizeLast(eps) => x[0].normalize_last(*eps)?,
            Op::Reshape(s) => x[0].reshape_to(*s)?,
            Op::Permute(p) => x[0].permute(p)?,
            Op::Expand(s) => x[0].broadcast_to(s)?,
            Op::SumTo(s) => x[0].sum_to(s)?,
            Op::Narrow { axis, start, len } => x[0].narrow(*axis, *start, *len)?,
            Op::Pad { axis, start, size } => x[0].pad_axis(*axis, *start, *size)?,
            Op::Concat(axis) => Tensor::concat(x, *axis)?,
            Op::IndexSelect { axis, idx } => x[0].index_select(*axis, idx)?,
            Op::IndexAdd { axis, idx, size } => x[0].index_add(*axis, idx, *size)?,
            Op::Gather { axis, idx } => x[0].gather(*axis, idx)?,
            Op::ScatterAdd { axis, idx, size } => x[0].scatter_add(*axis, idx, *size)?,
            Op::Tril(d) => x[0].tril(*d)?,
            Op::Triu(d) => x[0].triu(*d)?,
            Op::Diagonal => x[0].diagonal()?,
            Op::DiagEmbed => x[0].diag_embed()?,
            Op::Select(mask) => Tensor::select(mask, x[0], x[1])?,
            Op::Matmul { ta, tb } => x[0].matmul_t(x[1], *ta, *tb)?,
            Op::Cholesky => x[0].cholesky()?,
            Op::TriangularSolve {
                lower,
                transpose,
                unit,
            } => x[0].triangular_solve(x[1], *lower, *transpose, *unit)?,
            Op::Custom(c) => c.forward(x)?,
        })
    }

    /// The vector-Jacobian product: given the inputs `x`, the output `y` and
    /// the gradient `g` of the output, the gradient of each input (`None`
    /// where `needs[i]` is false or the input gets no gradient).
    pub(crate) fn backward(
        &self,
        x: &[Var],
        y: &Var,
        g: &Var,
        needs: &[bool],
    ) -> Result<Vec<Option<Var>>> {
        let one = |v: Var| Ok(vec![Some(v)]);
        match self {
            Op::Unary(u) => Ok(vec![unary_backward(*u, &x[0], y, g)?]),
            Op::Binary(b) => binary_backward(*b, &x[0], &x[1], y, g, needs),
            Op::AddScalar(_) => one(g.clone()),
            Op::MulScalar(c) => one(g.mul_scalar(*c)),
            Op::PowScalar(c) => one(g.mul(&x[0].powf(c - 1.0))?.mul_scalar(*c)),
            Op::Sum { axes, .. } => one(g
                .reshape_to(keepdim_shape(x[0].shape(), axes)?)?
                .broadcast_to(x[0].shape())?),
            Op::Max { axes, .. } | Op::Min { axes, .. } => {
                // Ties share the gradient equally (PyTorch's amax/amin).
                let yk = y.value().reshape_to(keepdim_shape(x[0].shape(), axes)?)?;
                let mask = x[0].value().eq(&yk)?;
                let share = mask.div(&mask.sum(axes, true)?)?;
                let gk = g.reshape_to(*yk.shape())?;
                one(gk.mul(&Var::constant(share))?)
            }
            Op::LogSumExp { axes, .. } => {
                let keep = keepdim_shape(x[0].shape(), axes)?;
                let softmax = x[0].sub(&y.reshape_to(keep)?)?.exp();
                one(softmax.mul(&g.reshape_to(keep)?)?)
            }
            Op::Softmax(a) => one(y.mul(&g.sub(&g.mul(y)?.sum(&[*a], true)?)?)?),
            Op::LogSoftmax(a) => one(g.sub(&y.exp().mul(&g.sum(&[*a], true)?)?)?),
            Op::NormalizeLast(eps) => one(normalize_last_backward(&x[0], y, g, *eps)?),
            Op::Reshape(_) => one(g.reshape_to(*x[0].shape())?),
            Op::Permute(p) => {
                let mut inv = vec![0; p.len()];
                for (i, &d) in p.iter().enumerate() {
                    inv[d] = i;
                }
                one(g.permute(&inv)?)
            }
            Op::Expand(_) => one(g.sum_to(x[0].shape())?),
            Op::SumTo(_) => one(g.broadcast_to(x[0].shape())?),
            Op::Narrow { axis, start, .. } => {
                let a = x[0].shape().axis("narrow", *axis)?;
                one(g.pad_axis(*axis, *start, x[0].dims()[a])?)
            }
            Op::Pad { axis, start, .. } => {
                let a = x[0].shape().axis("pad_axis", *axis)?;
                one(g.narrow(*axis, *start, x[0].dims()[a])?)
            }
            Op::Concat(axis) => {
                let a = x[0].shape().axis("concat", *axis)?;
                let mut at = 0;
                let mut out = Vec::with_capacity(x.len());
                for (xi, &need) in x.iter().zip(needs) {
                    let n = xi.dims()[a];
                    out.push(if need {
                        Some(g.narrow(*axis, at, n)?)
                    } else {
                        None
                    });
                    at += n;
                }
                Ok(out)
            }
            Op::IndexSelect { axis, idx } => {
                let a = x[0].shape().axis("index_select", *axis)?;
                one(g.index_add(*axis, idx, x[0].dims()[a])?)
            }
            Op::IndexAdd { axis, idx, .. } => one(g.index_select(*axis, idx)?),
            Op::Gather { axis, idx } => {
                let a = x[0].shape().axis("gather", *axis)?;
                one(g.scatter_add(*axis, idx, x[0].dims()[a])?)
            }
            Op::ScatterAdd { axis, idx, .. } => one(g.gather(*axis, idx)?),
            Op::Tril(d) => one(g.tril(*d)?),
            Op::Triu(d) => one(g.triu(*d)?),
            Op::Diagonal => one(g.diag_embed()?),
            Op::DiagEmbed => one(g.diagonal()?),
            Op::Select(mask) => {
                let m = Var::constant(mask.clone());
                let ga = if needs[0] {
                    Some(g.mul(&m)?.sum_to(x[0].shape())?)
                } else {
                    None
                };
                let gb = if needs[1] {
                    Some(g.sub(&g.mul(&m)?)?.sum_to(x[1].shape())?)
                } else {
                    None
                };
                Ok(vec![ga, gb])
            }
            Op::Matmul { ta, tb } => {
                let (a, b) = (&x[0], &x[1]);
                // C = op(A)·op(B): dop(A) = G·op(B)ᵀ, dop(B) = op(A)ᵀ·G.
                let ga = match (needs[0], *ta) {
                    (false, _) => None,
                    (true, false) => Some(g.matmul_t(b, false, !tb)?.sum_to(a.shape())?),
                    (true, true) => Some(b.matmul_t(g, *tb, true)?.sum_to(a.shape())?),
                };
                let gb = match (needs[1], *tb) {
                    (false, _) => None,
                    // A batch of rows against one 2-D B (a linear layer on
                    // [.., n, in]): fold the batch into the rows, one product.
                    (true, _) if b.shape().rank() == 2 && a.shape().rank() > 2 && !ta => {
                        let k = a.dims()[a.dims().len() - 1];
                        let n = g.dims()[g.dims().len() - 1];
                        let a2 = a.reshape(&[a.numel() / k.max(1), k])?;
                        let g2 = g.reshape(&[g.numel() / n.max(1), n])?;
                        Some(if *tb {
                            g2.matmul_t(&a2, true, false)?
                        } else {
                            a2.matmul_t(&g2, true, false)?
                        })
                    }
                    (true, false) => Some(a.matmul_t(g, !ta, false)?.sum_to(b.shape())?),
                    (true, true) => Some(g.matmul_t(a, true, *ta)?.sum_to(b.shape())?),
                };
                Ok(vec![ga, gb])
            }
            Op::Cholesky => one(cholesky_backward(y, g)?),
            Op::TriangularSolve {
                lower,
                transpose,
                unit,
            } => {
                let (a, b) = (&x[0], &x[1]);
                // X = op(A)⁻¹B: dB = op(A)⁻ᵀ G, dop(A) = −dB Xᵀ, kept to A's triangle.
                let gb = a.triangular_solve(g, *lower, !transpose, *unit)?;
                let ga = if needs[0] {
                    let full = if *transpose {
                        y.matmul_t(&gb, false, true)?
                    } else {
                        gb.matmul_t(y, false, true)?
                    };
                    let off = if *unit { 1 } else { 0 };
                    let tri = if *lower {
                        full.tril(-off)?
                    } else {
                        full.triu(off)?
                    };
                    Some(tri.neg().sum_to(a.shape())?)
                } else {
                    None
                };
                let gb = if needs[1] {
                    Some(gb.sum_to(b.shape())?)
                } else {
                    None
                };
                Ok(vec![ga, gb])
            }
            Op::Custom(c) => c.backward(x, y, g),
        }
    }
}

/// The rule of [`Op::NormalizeLast`]: `dx = rstd·(g − mean(g) − y·mean(g·y))`
/// per row. A plain backward runs it as one kernel; under `create_graph` it
/// is recorded from differentiable ops, with `rstd` from the composite
/// statistics of `x`, so every order of derivative follows.
fn normalize_last_backward(x: &Var, y: &Var, g: &Var, eps: f32) -> Result<Var> {
    if !crate::var::is_grad_enabled() {
        return Ok(Var::constant(
            x.value().normalize_last_backward(g.value(), eps)?,
        ));
    }
    let (_, var) = x.mean_var(-1)?;
    let rstd = var.add_scalar(eps).rsqrt();
    let mean_g = g.mean(&[-1], true)?;
    let mean_gy = g.mul(y)?.mean(&[-1], true)?;
    g.sub(&mean_g)?.sub(&y.mul(&mean_gy)?)?.mul(&rstd)
}

/// `shape` with the reduced `axes` kept as size 1.
fn keepdim_shape(shape: &Shape, axes: &[isize]) -> Result<Shape> {
    let mut d = shape.as_slice().to_vec();
    for &a in axes {
        d[shape.axis("reduce", a)?] = 1;
    }
    Ok(Shape::new(&d)?)
}

/// The rule of each elementwise unary op (`x` input, `y` output, `g` output gradient).
fn unary_backward(op: UnaryOp, x: &Var, y: &Var, g: &Var) -> Result<Option<Var>> {
    use UnaryOp::*;
    let dx = match op {
        Neg => g.neg(),
        Abs => g.mul(&x.sign())?,
        Exp => g.mul(y)?,
        Log => g.div(x)?,
        Log1p => g.div(&x.add_scalar(1.0))?,
        Sqrt => g.div(&y.mul_scalar(2.0))?,
        Rsqrt => g.mul(&y.powf(3.0))?.mul_scalar(-0.5),
        Square => g.mul(x)?.mul_scalar(2.0),
        Recip => g.mul(&y.square())?.neg(),
        Tanh => g.mul(&y.square().neg().add_scalar(1.0))?,
        Sigmoid => g.mul(&y.mul(&y.neg().add_scalar(1.0))?)?,
        Relu => g.mul(&x.step())?,
        // The activations' derivatives are single kernels whose own
        // derivatives are single kernels; the third derivatives (rare) are
        // composed from existing ops (`*_third`).
        // A double backward runs these rules twice on the same node: the
        // derivative recorded the first time is reused.
        GeluErf => g.mul(&y.cached_derivative(|| x.gelu_grad()))?,
        GeluTanh => g.mul(&y.cached_derivative(|| x.gelu_tanh_grad()))?,
        Silu => g.mul(&y.cached_derivative(|| x.silu_grad()))?,
        GeluErfGrad => g.mul(&x.gelu_grad2())?,
        GeluTanhGrad => g.mul(&x.gelu_tanh_grad2())?,
        SiluGrad => g.mul(&x.silu_grad2())?,
        GeluErfGrad2 => g.mul(&gelu_erf_third(x)?)?,
        GeluTanhGrad2 => g.mul(&gelu_tanh_third(x)?)?,
        SiluGrad2 => g.mul(&silu_third(x)?)?,
        Softplus => g.mul(&x.sigmoid())?,
        Sin => g.mul(&x.cos())?,
        Cos => g.mul(&x.sin())?.neg(),
        Erf => g.mul(&x.square().neg().exp().mul_scalar(2.0 / PI.sqrt()))?,
        Sign | Step => return Ok(None),
    };
    Ok(Some(dx))
}

/// GELU (erf)'s third derivative: d/dx φ(x)(2 − x²) = x·φ(x)·(x² − 4).
fn gelu_erf_third(x: &Var) -> Result<Var> {
    let x2 = x.square();
    let pdf = x2
        .mul_scalar(-0.5)
        .exp()
        .mul_scalar(1.0 / (2.0 * PI).sqrt());
    x.mul(&pdf)?.mul(&x2.add_scalar(-4.0))
}

/// GELU (tanh)'s third derivative. f'' = S·h with S = sech²u,
/// h = u' − x·t·u'² + 3CA·x², t = tanh u: f''' = S·(h' − 2t·u'·h),
/// h' = 12CA·x − t·u'² − x·S·u'³ − 12CA·x²·t·u'.
fn gelu_tanh_third(x: &Var) -> Result<Var> {
    use ferrograd_tensor::kernels::act_grad::{GELU_TANH_A as A, GELU_TANH_C as C};
    let x2 = x.square();
    let t = x.add(&x2.mul(x)?.mul_scalar(A))?.mul_scalar(C).tanh();
    let sech2 = t.square().neg().add_scalar(1.0);
    let du = x2.mul_scalar(3.0 * A).add_scalar(1.0).mul_scalar(C);
    let du2 = du.square();
    let h = du
        .sub(&x.mul(&t)?.mul(&du2)?)?
        .add(&x2.mul_scalar(3.0 * C * A))?;
    let dh = x
        .mul_scalar(12.0 * C * A)
        .sub(&t.mul(&du2)?)?
        .sub(&x.mul(&sech2)?.mul(&du2)?.mul(&du)?)?
        .sub(&x2.mul(&t)?.mul(&du)?.mul_scalar(12.0 * C * A))?;
    sech2.mul(&dh.sub(&t.mul(&du)?.mul(&h)?.mul_scalar(2.0))?)
}

/// SiLU's third derivative: with s = σ(x) and q = s(1 − s),
/// f''' = q·((1 − 2s)(3 + x(1 − 2s)) − 2x·q).
fn silu_third(x: &Var) -> Result<Var> {
    let s = x.sigmoid();
    let q = s.mul(&s.neg().add_scalar(1.0))?;
    let r = s.mul_scalar(-2.0).add_scalar(1.0);
    let a = r.mul(&x.mul(&r)?.add_scalar(3.0))?;
    q.mul(&a.sub(&x.mul(&q)?.mul_scalar(2.0))?)
}

/// The rule of each broadcasting binary op; gradients are summed back to
/// each input's shape.
fn binary_backward(
    op: BinaryOp,
    a: &Var,
    b: &Var,
    y: &Var,
    g: &Var,
    needs: &[bool],
) -> Result<Vec<Option<Var>>> {
    use BinaryOp::*;
    let (ga, gb): (Option<Var>, Option<Var>) = match op {
        Add => (Some(g.clone()), Some(g.clone())),
        Sub => (Some(g.clone()), needs[1].then(|| g.neg())),
        Mul => (
            if needs[0] { Some(g.mul(b)?) } else { None },
            if needs[1] { Some(g.mul(a)?) } else { None },
        ),
        Div => (
            if needs[0] { Some(g.div(b)?) } else { None },
            if needs[1] {
                Some(g.mul(y)?.div(b)?.neg())
            } else {
                None
            },
        ),
        Pow => {
            let ga = if needs[0] {
                Some(g.mul(b)?.mul(&a.pow(&b.add_scalar(-1.0))?)?)
            } else {
                None
            };
            let gb = if needs[1] {
                // y·ln a where a > 0, else 0 (ln is evaluated on a safe value so
                // no NaN reaches the masked positions, also under double backward).
                let pos = a.value().gt(&Tensor::scalar(0.0))?;
                let safe = Var::select(&pos, a, &Var::scalar(1.0))?;
                Some(g.mul(y)?.mul(&safe.log())?.mul(&Var::constant(pos))?)
            } else {
                None
            };
            (ga, gb)
        }
        Maximum | Minimum => {
            // Ties share the gradient equally (PyTorch's maximum/minimum).
            let (av, bv) = (a.value(), b.value());
            let wins = if op == Maximum {
                av.gt(bv)?
            } else {
                av.lt(bv)?
            };
            let share = wins.add(&av.eq(bv)?.mul_scalar(0.5))?;
            let ga = if needs[0] {
                Some(g.mul(&Var::constant(share.clone()))?)
            } else {
                None
            };
            let gb = if needs[1] {
                Some(g.mul(&Var::constant(share.neg().add_scalar(1.0)))?)
            } else {
                None
            };
            (ga, gb)
        }
        Eq | Ne | Lt | Le | Gt | Ge => (None, None),
    };
    let back = |v: Option<Var>, to: &Var, need: bool| -> Result<Option<Var>> {
        match v {
            Some(v) if need => Ok(Some(v.sum_to(to.shape())?)),
            _ => Ok(None),
        }
    };
    Ok(vec![back(ga, a, needs[0])?, back(gb, b, needs[1])?])
}

/// dA of `L = cholesky(A)` (PyTorch's formula): with `Φ(X) = tril(X)` and
/// halved diagonal made symmetric, `dA = L⁻ᵀ·sym(tril(Lᵀ dL))·L⁻¹`. The
/// result is symmetric (the gradient with respect to a symmetric input).
fn cholesky_backward(l: &Var, gl: &Var) -> Result<Var> {
    let p = l.matmul_t(gl, true, false)?.tril(0)?;
    let sym = p.add(&p.tril(-1)?.transpose(-1, -2)?)?.mul_scalar(0.5);
    // Y = L⁻ᵀ·sym, then dA = Y·L⁻¹ = (L⁻ᵀ·Yᵀ)ᵀ.
    let y = l.triangular_solve(&sym, true, true, false)?;
    l.triangular_solve(&y.transpose(-1, -2)?, true, true, false)?
        .transpose(-1, -2)
}
