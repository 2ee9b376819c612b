//! The differentiable operations of [`Var`], each a thin wrapper that records
//! one primitive of [`crate::op`]. Comparisons and `sign`/`step` are not
//! differentiable and return constants.

use crate::op::Op;
use crate::{Result, Var};
use ferrograd_tensor::kernels::binary::BinaryOp;
use ferrograd_tensor::kernels::unary::UnaryOp;
use ferrograd_tensor::{Indices, Shape, Tensor};

macro_rules! unary_methods {
    ($($name:ident => $op:ident, $doc:literal;)*) => {
        $(#[doc = $doc] #[track_caller] pub fn $name(&self) -> Var { self.unary(UnaryOp::$op) })*
    };
}

macro_rules! binary_methods {
    ($($name:ident => $op:ident, $doc:literal;)*) => {
        $(#[doc = $doc] #[track_caller] pub fn $name(&self, other: &Var) -> Result<Var> { self.binary(BinaryOp::$op, other) })*
    };
}

macro_rules! compare_methods {
    ($($name:ident, $doc:literal;)*) => {
        $(#[doc = $doc] pub fn $name(&self, other: &Var) -> Result<Var> {
            Ok(Var::constant(self.value().$name(other.value())?))
        })*
    };
}

impl Var {
    /// Runs `op` on the inputs' values and records it.
    #[track_caller]
    pub(crate) fn apply(op: Op, inputs: &[&Var]) -> Result<Var> {
        let values: Vec<&Tensor> = inputs.iter().map(|v| v.value()).collect();
        let value = op.forward(&values)?;
        Ok(Var::record(
            value,
            op,
            inputs.iter().map(|&v| v.clone()).collect(),
        ))
    }

    #[track_caller]
    fn apply1(&self, op: Op) -> Result<Var> {
        let value = op.forward(&[self.value()])?;
        Ok(Var::record(value, op, vec![self.clone()]))
    }

    /// Applies an elementwise unary op.
    #[track_caller]
    pub fn unary(&self, op: UnaryOp) -> Var {
        if matches!(op, UnaryOp::Sign | UnaryOp::Step) {
            return Var::constant(self.value().unary(op));
        }
        let value = self.value().unary(op);
        Var::record(value, Op::Unary(op), vec![self.clone()])
    }

    /// GELU with the exact erf form. When it is recorded for a backward pass,
    /// its derivative comes out of the same kernel (one erf for both) and is
    /// kept for the backward (a recorded `gelu_grad` node), which then does
    /// not run the derivative kernel.
    #[track_caller]
    pub fn gelu(&self) -> Var {
        if !(crate::var::is_grad_enabled() && self.requires_grad()) {
            return self.unary(UnaryOp::GeluErf);
        }
        let (y, d) = self.value().gelu_with_grad();
        let d = Var::record(d, Op::Unary(UnaryOp::GeluErfGrad), vec![self.clone()]);
        let y = Var::record(y, Op::Unary(UnaryOp::GeluErf), vec![self.clone()]);
        y.prefill_derivative(d);
        y
    }

    /// Applies an elementwise binary op with NumPy broadcasting.
    #[track_caller]
    pub fn binary(&self, op: BinaryOp, other: &Var) -> Result<Var> {
        let value = self.value().binary(op, other.value())?;
        Ok(Var::record(
            value,
            Op::Binary(op),
            vec![self.clone(), other.clone()],
        ))
    }

    unary_methods! {
        neg => Neg, "−x elementwise.";
        abs => Abs, "|x| elementwise (gradient sign(x), 0 at 0).";
        exp => Exp, "eˣ elementwise.";
        log => Log, "ln x elementwise.";
        log1p => Log1p, "ln(1 + x) elementwise.";
        sqrt => Sqrt, "√x elementwise.";
        rsqrt => Rsqrt, "1/√x elementwise.";
        square => Square, "x² elementwise.";
        recip => Recip, "1/x elementwise.";
        tanh => Tanh, "tanh x elementwise.";
        sigmoid => Sigmoid, "Logistic sigmoid elementwise.";
        relu => Relu, "max(x, 0) elementwise (gradient 0 at 0).";
        gelu_tanh => GeluTanh, "GELU, tanh approximation.";
        silu => Silu, "x·sigmoid(x) elementwise.";
        softplus => Softplus, "ln(1 + eˣ) elementwise, without overflow.";
        sin => Sin, "sin x elementwise.";
        cos => Cos, "cos x elementwise.";
        erf => Erf, "erf x elementwise.";
        gelu_grad => GeluErfGrad, "GELU (erf)'s derivative Φ(x) + x·φ(x), one kernel.";
        gelu_grad2 => GeluErfGrad2, "GELU (erf)'s second derivative φ(x)·(2 − x²), one kernel.";
        gelu_tanh_grad => GeluTanhGrad, "GELU (tanh)'s derivative, one kernel.";
        gelu_tanh_grad2 => GeluTanhGrad2, "GELU (tanh)'s second derivative, one kernel.";
        silu_grad => SiluGrad, "SiLU's derivative σ(x)·(1 + x·(1 − σ(x))), one kernel.";
        silu_grad2 => SiluGrad2, "SiLU's second derivative, one kernel.";
        sign => Sign, "The sign (−1, 0, 1), a constant.";
        step => Step, "1 where x > 0 else 0, a constant.";
    }

    binary_methods! {
        add => Add, "a + b with broadcasting.";
        sub => Sub, "a − b with broadcasting.";
        mul => Mul, "a · b with broadcasting.";
        div => Div, "a / b with broadcasting.";
        pow => Pow, "aᵇ with broadcasting (gradient in b is taken where a > 0, 0 elsewhere).";
        maximum => Maximum, "max(a, b) elementwise with broadcasting; ties share the gradient.";
        minimum => Minimum, "min(a, b) elementwise with broadcasting; ties share the gradient.";
    }

    compare_methods! {
        eq, "Mask (a constant of 1.0/0.0) of a = b.";
        ne, "Mask of a ≠ b.";
        lt, "Mask of a < b.";
        le, "Mask of a ≤ b.";
        gt, "Mask of a > b.";
        ge, "Mask of a ≥ b.";
    }

    /// x + c.
    #[track_caller]
    pub fn add_scalar(&self, c: f32) -> Var {
        let value = self.value().add_scalar(c);
        Var::record(value, Op::AddScalar(c), vec![self.clone()])
    }

    /// x · c.
    #[track_caller]
    pub fn mul_scalar(&self, c: f32) -> Var {
        let value = self.value().mul_scalar(c);
        Var::record(value, Op::MulScalar(c), vec![self.clone()])
    }

    /// xᶜ for a constant exponent.
    #[track_caller]
    pub fn powf(&self, c: f32) -> Var {
        let value = self.value().powf(c);
        Var::record(value, Op::PowScalar(c), vec![self.clone()])
    }

    /// `cond ? a : b` elementwise (nonzero `cond` picks `a`), broadcast together.
    #[track_caller]
    pub fn select(cond: &Tensor, a: &Var, b: &Var) -> Result<Var> {
        let mask = cond.ne(&Tensor::scalar(0.0))?;
        Var::apply(Op::Select(mask), &[a, b])
    }

    /// Sum over `axes` (negative counts from the end).
    #[track_caller]
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Var> {
        self.apply1(Op::Sum {
            axes: axes.to_vec(),
            keepdim,
        })
    }

    /// Sum of all elements, as a scalar.
    #[track_caller]
    pub fn sum_all(&self) -> Var {
        let axes: Vec<isize> = (0..self.shape().rank() as isize).collect();
        self.sum(&axes, false).expect("every axis is in range")
    }

    /// Maximum over `axes`; ties share the gradient.
    #[track_caller]
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Result<Var> {
        self.apply1(Op::Max {
            axes: axes.to_vec(),
            keepdim,
        })
    }

    /// Minimum over `axes`; ties share the gradient.
    #[track_caller]
    pub fn min(&self, axes: &[isize], keepdim: bool) -> Result<Var> {
        self.apply1(Op::Min {
            axes: axes.to_vec(),
            keepdim,
        })
    }

    /// log Σ exp over `axes`, computed stably.
    #[track_caller]
    pub fn logsumexp(&self, axes: &[isize], keepdim: bool) -> Result<Var> {
        self.apply1(Op::LogSumExp {
            axes: axes.to_vec(),
            keepdim,
        })
    }

    /// Softmax along `axis`.
    #[track_caller]
    pub fn softmax(&self, axis: isize) -> Result<Var> {
        self.apply1(Op::Softmax(axis))
    }

    /// Log-softmax along `axis`.
    #[track_caller]
    pub fn log_softmax(&self, axis: isize) -> Result<Var> {
        self.apply1(Op::LogSoftmax(axis))
    }

    /// `(x − mean) / √(var + eps)` over the last axis (population variance),
    /// one primitive: see [`Var::normalize`].
    #[track_caller]
    pub fn normalize_last(&self, eps: f32) -> Result<Var> {
        self.apply1(Op::NormalizeLast(eps))
    }

    /// The same values with new dimensions.
    #[track_caller]
    pub fn reshape(&self, dims: &[usize]) -> Result<Var> {
        self.reshape_to(Shape::new(dims)?)
    }

    /// The same values with a new shape.
    #[track_caller]
    pub fn reshape_to(&self, shape: Shape) -> Result<Var> {
        if *self.shape() == shape {
            return Ok(self.clone());
        }
        self.apply1(Op::Reshape(shape))
    }

    /// Reorders the axes: output axis `d` is input axis `perm[d]`.
    #[track_caller]
    pub fn permute(&self, perm: &[usize]) -> Result<Var> {
        self.apply1(Op::Permute(perm.to_vec()))
    }

    /// Swaps two axes.
    #[track_caller]
    pub fn transpose(&self, a: isize, b: isize) -> Result<Var> {
        let a = self.shape().axis("transpose", a)?;
        let b = self.shape().axis("transpose", b)?;
        let mut perm: Vec<usize> = (0..self.shape().rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Broadcasts to `shape` (NumPy rules).
    #[track_caller]
    pub fn broadcast_to(&self, shape: &Shape) -> Result<Var> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        self.apply1(Op::Expand(*shape))
    }

    /// Sums the broadcast dimensions away, down to `shape` (the adjoint of
    /// [`Var::broadcast_to`]).
    #[track_caller]
    pub fn sum_to(&self, shape: &Shape) -> Result<Var> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        self.apply1(Op::SumTo(*shape))
    }

    /// Inserts an axis of size 1.
    #[track_caller]
    pub fn unsqueeze(&self, axis: isize) -> Result<Var> {
        let s = *self.value().unsqueeze(axis)?.shape();
        self.reshape_to(s)
    }

    /// Removes an axis of size 1.
    #[track_caller]
    pub fn squeeze(&self, axis: isize) -> Result<Var> {
        let s = *self.value().squeeze(axis)?.shape();
        self.reshape_to(s)
    }

    /// Elements `start..start + len` along `axis`.
    #[track_caller]
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Var> {
        self.apply1(Op::Narrow { axis, start, len })
    }

    /// Zeros of size `size` along `axis` with `self` at `start` (adjoint of narrow).
    #[track_caller]
    pub fn pad_axis(&self, axis: isize, start: usize, size: usize) -> Result<Var> {
        self.apply1(Op::Pad { axis, start, size })
    }

    /// Joins `parts` along `axis`.
    #[track_caller]
    pub fn concat(parts: &[&Var], axis: isize) -> Result<Var> {
        Var::apply(Op::Concat(axis), parts)
    }

    /// Stacks `parts` of one shape along a new axis.
    #[track_caller]
    pub fn stack(parts: &[&Var], axis: isize) -> Result<Var> {
        let ex: Vec<Var> = parts
            .iter()
            .map(|p| p.unsqueeze(axis))
            .collect::<Result<_>>()?;
        let refs: Vec<&Var> = ex.iter().collect();
        Var::concat(&refs, axis)
    }

    /// Rows `idx` along `axis`.
    #[track_caller]
    pub fn index_select(&self, axis: isize, idx: &Indices) -> Result<Var> {
        self.apply1(Op::IndexSelect {
            axis,
            idx: idx.clone(),
        })
    }

    /// Zeros of size `size` along `axis`, row `j` of `self` added at `idx[j]`.
    #[track_caller]
    pub fn index_add(&self, axis: isize, idx: &Indices, size: usize) -> Result<Var> {
        self.apply1(Op::IndexAdd {
            axis,
            idx: idx.clone(),
            size,
        })
    }

    /// PyTorch's `gather` along `axis`.
    #[track_caller]
    pub fn gather(&self, axis: isize, idx: &Indices) -> Result<Var> {
        self.apply1(Op::Gather {
            axis,
            idx: idx.clone(),
        })
    }

    /// The adjoint of [`Var::gather`]: zeros of size `size` along `axis` with
    /// values added at `idx`.
    #[track_caller]
    pub fn scatter_add(&self, axis: isize, idx: &Indices, size: usize) -> Result<Var> {
        self.apply1(Op::ScatterAdd {
            axis,
            idx: idx.clone(),
            size,
        })
    }

    /// Lower triangle of each matrix (`col − row ≤ diagonal`).
    #[track_caller]
    pub fn tril(&self, diagonal: isize) -> Result<Var> {
        self.apply1(Op::Tril(diagonal))
    }

    /// Upper triangle of each matrix (`col − row ≥ diagonal`).
    #[track_caller]
    pub fn triu(&self, diagonal: isize) -> Result<Var> {
        self.apply1(Op::Triu(diagonal))
    }

    /// Main diagonal of each square matrix: `[..., n, n]` → `[..., n]`.
    #[track_caller]
    pub fn diagonal(&self) -> Result<Var> {
        let d = self.dims();
        if d.len() < 2 || d[d.len() - 1] != d[d.len() - 2] {
            return Err(crate::Error::Invalid(format!(
                "diagonal: needs square matrices, got shape {}",
                self.shape()
            )));
        }
        self.apply1(Op::Diagonal)
    }

    /// Square matrices with the last axis on the diagonal.
    #[track_caller]
    pub fn diag_embed(&self) -> Result<Var> {
        self.apply1(Op::DiagEmbed)
    }

    /// Matrix product (last two axes; leading axes broadcast).
    #[track_caller]
    pub fn matmul(&self, other: &Var) -> Result<Var> {
        self.matmul_t(other, false, false)
    }

    /// `op(self)·op(other)`, `op` transposing the last two axes where asked.
    #[track_caller]
    pub fn matmul_t(&self, other: &Var, trans_a: bool, trans_b: bool) -> Result<Var> {
        Var::apply(
            Op::Matmul {
                ta: trans_a,
                tb: trans_b,
            },
            &[self, other],
        )
    }

    /// Lower Cholesky factor of each SPD matrix (only the lower triangle is
    /// read; the gradient is the symmetric one).
    #[track_caller]
    pub fn cholesky(&self) -> Result<Var> {
        self.apply1(Op::Cholesky)
    }

    /// Solves `op(A)·X = rhs` for triangular `A = self` (see
    /// [`Tensor::triangular_solve`]).
    #[track_caller]
    pub fn triangular_solve(
        &self,
        rhs: &Var,
        lower: bool,
        transpose: bool,
        unit: bool,
    ) -> Result<Var> {
        Var::apply(
            Op::TriangularSolve {
                lower,
                transpose,
                unit,
            },
            &[self, rhs],
        )
    }
}
