//! Property-based gradient checks of the elementwise primitives: every
//! differentiable unary op, the broadcasting binary ops, the scalar ops and
//! `select`. Each test draws random shapes (rank 0–3, sizes 1–4, operands
//! broadcasting NumPy-style) and values inside the op's domain, away from
//! kinks and ties, and runs both `gradcheck` (first derivatives) and
//! `gradgradcheck` (second derivatives) at the documented f32 tolerances.
//! Ops whose second derivative vanishes are checked squared (see `common::sq`).
//! The activations' derivative ops (`gelu_grad`, `gelu_grad2`, …) are
//! primitives too: their first-order check covers the next derivative's op
//! (or, for the second-derivative ops, the composed third derivative), the
//! second-order check the one after.

mod common;

use common::{
    any_signed, any_uniform, broadcast_pair, broadcastable, check, config, dims, grid, signed, sq,
    uniform,
};
use ferrograd_autograd::Var;
use ferrograd_tensor::Tensor;
use proptest::prelude::*;

macro_rules! unary_tests {
    ($($name:ident: $f:expr, $values:expr;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(x in $values) {
                    check(|v| Ok(($f)(&v[0])), &[x])?;
                }
            )*
        }
    };
}

unary_tests! {
    neg: |x: &Var| sq(x.neg()), any_uniform(-3.0, 3.0);
    abs: |x: &Var| sq(x.abs()), any_signed(0.1, 3.0);
    exp: Var::exp, any_uniform(-2.0, 2.0);
    log: Var::log, any_uniform(0.2, 3.0);
    log1p: Var::log1p, any_uniform(-0.8, 3.0);
    sqrt: Var::sqrt, any_uniform(0.2, 3.0);
    rsqrt: Var::rsqrt, any_uniform(0.2, 3.0);
    square: Var::square, any_uniform(-3.0, 3.0);
    recip: Var::recip, any_signed(0.3, 3.0);
    tanh: Var::tanh, any_uniform(-3.0, 3.0);
    sigmoid: Var::sigmoid, any_uniform(-4.0, 4.0);
    relu: |x: &Var| sq(x.relu()), any_signed(0.1, 3.0);
    gelu: Var::gelu, any_uniform(-3.0, 3.0);
    gelu_tanh: Var::gelu_tanh, any_uniform(-3.0, 3.0);
    silu: Var::silu, any_uniform(-4.0, 4.0);
    softplus: Var::softplus, any_uniform(-4.0, 4.0);
    sin: Var::sin, any_uniform(-3.0, 3.0);
    cos: Var::cos, any_uniform(-3.0, 3.0);
    erf: Var::erf, any_uniform(-2.5, 2.5);
    gelu_grad: Var::gelu_grad, any_uniform(-3.0, 3.0);
    gelu_grad2: Var::gelu_grad2, any_uniform(-3.0, 3.0);
    gelu_tanh_grad: Var::gelu_tanh_grad, any_uniform(-3.0, 3.0);
    gelu_tanh_grad2: Var::gelu_tanh_grad2, any_uniform(-3.0, 3.0);
    silu_grad: Var::silu_grad, any_uniform(-4.0, 4.0);
    silu_grad2: Var::silu_grad2, any_uniform(-4.0, 4.0);
}

/// Two broadcasting operands, `a` uniform in `a_lo..a_hi`, `b` uniform in
/// `b_lo..b_hi`.
fn pair(a_lo: f32, a_hi: f32, b_lo: f32, b_hi: f32) -> impl Strategy<Value = (Tensor, Tensor)> {
    broadcast_pair()
        .prop_flat_map(move |(da, db)| (uniform(da, a_lo, a_hi), uniform(db, b_lo, b_hi)))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn add((a, b) in pair(-2.0, 2.0, -2.0, 2.0)) {
        check(|v| Ok(sq(v[0].add(&v[1])?)), &[a, b])?;
    }

    #[test]
    fn sub((a, b) in pair(-2.0, 2.0, -2.0, 2.0)) {
        check(|v| Ok(sq(v[0].sub(&v[1])?)), &[a, b])?;
    }

    #[test]
    fn mul((a, b) in pair(-2.0, 2.0, -2.0, 2.0)) {
        check(|v| v[0].mul(&v[1]), &[a, b])?;
    }

    #[test]
    fn div((a, b) in broadcast_pair().prop_flat_map(|(da, db)| (uniform(da, -2.0, 2.0), signed(db, 0.3, 2.0)))) {
        check(|v| v[0].div(&v[1]), &[a, b])?;
    }

    #[test]
    fn pow((a, b) in pair(0.3, 2.0, -1.5, 1.5)) {
        check(|v| v[0].pow(&v[1]), &[a, b])?;
    }

    /// `a` and `b` on interleaved grids: |a − b| ≥ 0.1 everywhere, no ties.
    #[test]
    fn maximum((a, b) in broadcast_pair().prop_flat_map(|(da, db)| (grid(da, 0.0), grid(db, 0.2)))) {
        check(|v| Ok(sq(v[0].maximum(&v[1])?)), &[a, b])?;
    }

    #[test]
    fn minimum((a, b) in broadcast_pair().prop_flat_map(|(da, db)| (grid(da, 0.0), grid(db, 0.2)))) {
        check(|v| Ok(sq(v[0].minimum(&v[1])?)), &[a, b])?;
    }

    #[test]
    fn add_scalar(x in any_uniform(-2.0, 2.0), c in -3.0f32..3.0) {
        check(|v| Ok(sq(v[0].add_scalar(c))), &[x])?;
    }

    #[test]
    fn mul_scalar(x in any_uniform(-2.0, 2.0), c in -3.0f32..3.0) {
        check(|v| Ok(sq(v[0].mul_scalar(c))), &[x])?;
    }

    #[test]
    fn powf(x in any_uniform(0.3, 2.0), c in -2.0f32..3.0) {
        check(|v| Ok(v[0].powf(c)), &[x])?;
    }

    /// A random 0/1 mask, `a` and `b`, all three broadcasting together.
    #[test]
    fn select(
        (mask, a, b) in dims(0, 3).prop_flat_map(|o| {
            (broadcastable(o.clone()), broadcastable(o.clone()), broadcastable(o))
        })
        .prop_flat_map(|(dm, da, db)| {
            let n: usize = dm.iter().product();
            (
                prop::collection::vec(any::<bool>(), n).prop_map(move |m| {
                    let m = m.into_iter().map(|b| if b { 1.0 } else { 0.0 }).collect();
                    Tensor::from_vec(m, &dm).unwrap()
                }),
                uniform(da, -2.0, 2.0),
                uniform(db, -2.0, 2.0),
            )
        })
    ) {
        check(|v| Ok(sq(Var::select(&mask, &v[0], &v[1])?)), &[a, b])?;
    }
}
