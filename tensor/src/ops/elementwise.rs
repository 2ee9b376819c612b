//! Elementwise unary and binary operations, comparisons and `select`.

use crate::kernels::binary::{self, BinaryOp};
use crate::kernels::unary::{self, UnaryOp};
use crate::{Result, Shape, Tensor};

macro_rules! unary_methods {
    ($($name:ident => $op:ident, $doc:literal;)*) => {
        $(#[doc = $doc] pub fn $name(&self) -> Tensor { self.unary(UnaryOp::$op) })*
    };
}

macro_rules! binary_methods {
    ($($name:ident => $op:ident, $doc:literal;)*) => {
        $(#[doc = $doc] pub fn $name(&self, other: &Tensor) -> Result<Tensor> { self.binary(BinaryOp::$op, other) })*
    };
}

impl Tensor {
    /// Applies an elementwise unary op.
    pub fn unary(&self, op: UnaryOp) -> Tensor {
        let mut out = crate::buffer::for_overwrite(self.numel());
        unary::unary(op, self.data(), &mut out);
        Tensor::from_parts(out, *self.shape())
    }

    /// (GELU (erf form), its derivative) of every element in one pass: the
    /// same bits as `unary(GeluErf)` and `unary(GeluErfGrad)`.
    pub fn gelu_with_grad(&self) -> (Tensor, Tensor) {
        let mut y = crate::buffer::for_overwrite(self.numel());
        let mut d = crate::buffer::for_overwrite(self.numel());
        unary::gelu_erf_with_grad(self.data(), &mut y, &mut d);
        (
            Tensor::from_parts(y, *self.shape()),
            Tensor::from_parts(d, *self.shape()),
        )
    }

    /// Applies `f` to every element.
    pub fn map(&self, f: impl Fn(f32) -> f32 + Sync) -> Tensor {
        let mut out = crate::buffer::for_overwrite(self.numel());
        unary::map(self.data(), &mut out, f);
        Tensor::from_parts(out, *self.shape())
    }

    /// Applies an elementwise binary op with NumPy broadcasting.
    pub fn binary(&self, op: BinaryOp, other: &Tensor) -> Result<Tensor> {
        let name = binary_name(op);
        let shape = Shape::broadcast(name, self.shape(), other.shape())?;
        let mut out = crate::buffer::for_overwrite(shape.numel());
        binary::binary(
            op,
            self.data(),
            self.shape(),
            other.data(),
            other.shape(),
            &mut out,
            &shape,
        );
        Ok(Tensor::from_parts(out, shape))
    }

    unary_methods! {
        neg => Neg, "−x elementwise.";
        abs => Abs, "|x| elementwise.";
        exp => Exp, "eˣ elementwise.";
        log => Log, "ln x elementwise.";
        log1p => Log1p, "ln(1 + x) elementwise.";
        sqrt => Sqrt, "√x elementwise.";
        rsqrt => Rsqrt, "1/√x elementwise.";
        square => Square, "x² elementwise.";
        recip => Recip, "1/x elementwise.";
        tanh => Tanh, "tanh x elementwise.";
        sigmoid => Sigmoid, "Logistic sigmoid elementwise.";
        relu => Relu, "max(x, 0) elementwise.";
        gelu => GeluErf, "GELU with the exact erf form elementwise.";
        gelu_tanh => GeluTanh, "GELU, tanh approximation, elementwise.";
        silu => Silu, "x·sigmoid(x) elementwise.";
        softplus => Softplus, "ln(1 + eˣ) elementwise, without overflow.";
        sin => Sin, "sin x elementwise.";
        cos => Cos, "cos x elementwise.";
        erf => Erf, "erf x elementwise.";
        sign => Sign, "The sign (−1, 0, 1) elementwise.";
        gelu_grad => GeluErfGrad, "GELU (erf)'s derivative Φ(x) + x·φ(x) elementwise.";
        gelu_grad2 => GeluErfGrad2, "GELU (erf)'s second derivative φ(x)·(2 − x²) elementwise.";
        gelu_tanh_grad => GeluTanhGrad, "GELU (tanh)'s derivative elementwise.";
        gelu_tanh_grad2 => GeluTanhGrad2, "GELU (tanh)'s second derivative elementwise.";
        silu_grad => SiluGrad, "SiLU's derivative σ(x)·(1 + x·(1 − σ(x))) elementwise.";
        silu_grad2 => SiluGrad2, "SiLU's second derivative elementwise.";
    }

    binary_methods! {
        add => Add, "a + b with broadcasting.";
        sub => Sub, "a − b with broadcasting.";
        mul => Mul, "a · b with broadcasting.";
        div => Div, "a / b with broadcasting.";
        pow => Pow, "aᵇ with broadcasting.";
        maximum => Maximum, "Elementwise max(a, b) with broadcasting.";
        minimum => Minimum, "Elementwise min(a, b) with broadcasting.";
        eq => Eq, "Mask (1.0/0.0) of a = b.";
        ne => Ne, "Mask of a ≠ b.";
        lt => Lt, "Mask of a < b.";
        le => Le, "Mask of a ≤ b.";
        gt => Gt, "Mask of a > b.";
        ge => Ge, "Mask of a ≥ b.";
    }

    /// `self += other` with broadcasting of `other`; in place when the shapes
    /// match (the buffer is copied first only if another tensor shares it).
    pub fn add_assign(&mut self, other: &Tensor) -> Result<()> {
        if self.shape() == other.shape() {
            for (a, b) in self.data_mut().iter_mut().zip(other.data()) {
                *a += b;
            }
        } else {
            *self = self.add(other)?;
        }
        Ok(())
    }

    /// x + c for a scalar c.
    pub fn add_scalar(&self, c: f32) -> Tensor {
        self.map(|v| v + c)
    }

    /// x · c for a scalar c.
    pub fn mul_scalar(&self, c: f32) -> Tensor {
        self.map(|v| v * c)
    }

    /// xᶜ for a scalar c.
    pub fn powf(&self, c: f32) -> Tensor {
        self.map(|v| libm::powf(v, c))
    }

    /// `cond ? a : b` elementwise (nonzero `cond` picks `a`), all three broadcast together.
    pub fn select(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let ab = Shape::broadcast("select", a.shape(), b.shape())?;
        let shape = Shape::broadcast("select", cond.shape(), &ab)?;
        let mut out = crate::buffer::for_overwrite(shape.numel());
        binary::select(
            cond.data(),
            cond.shape(),
            a.data(),
            a.shape(),
            b.data(),
            b.shape(),
            &mut out,
            &shape,
        );
        Ok(Tensor::from_parts(out, shape))
    }
}

fn binary_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "sub",
        BinaryOp::Mul => "mul",
        BinaryOp::Div => "div",
        BinaryOp::Pow => "pow",
        BinaryOp::Maximum => "maximum",
        BinaryOp::Minimum => "minimum",
        BinaryOp::Eq => "eq",
        BinaryOp::Ne => "ne",
        BinaryOp::Lt => "lt",
        BinaryOp::Le => "le",
        BinaryOp::Gt => "gt",
        BinaryOp::Ge => "ge",
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tensor, TensorError};

    #[test]
    fn mismatched_shapes_are_typed_errors() {
        let a = Tensor::zeros(&[2, 3]).unwrap();
        let b = Tensor::zeros(&[4]).unwrap();
        let e = a.add(&b).unwrap_err();
        assert!(matches!(e, TensorError::ShapeMismatch { op: "add", .. }));
        assert_eq!(
            alloc::format!("{e}"),
            "add: incompatible shapes [2, 3] and [4]"
        );
    }

    #[test]
    fn select_picks_by_mask() {
        let c = Tensor::from_vec(alloc::vec![1.0, 0.0], &[2]).unwrap();
        let a = Tensor::from_vec(alloc::vec![1.0, 2.0], &[2]).unwrap();
        let r = Tensor::select(&c, &a, &Tensor::scalar(9.0)).unwrap();
        assert_eq!(r.data(), &[1.0, 9.0]);
    }
}
