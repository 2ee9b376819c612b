//! Property-based gradient checks of the linear-algebra primitives:
//! matmul with all four transpose flags (`matmul_t`), 2-D and batched 3-D,
//! including a 2-D or batch-1 operand broadcast against a batched one (and
//! rank-4 `[2, 1]` batches against `[b]`);
//! cholesky and cholesky_logdet of SPD matrices built from an unconstrained
//! input; triangular_solve for lower/upper × transposed or not × unit
//! diagonal or not, batched, unbatched and with one 2-D matrix shared by a
//! batched right-hand side. Sizes are 1–4, batches 1–3. Each test runs
//! `gradcheck` and `gradgradcheck` at the documented f32 tolerances.

mod common;

use common::{check, config, scaled_eye, signed, uniform, Dims};
use ferrograd_autograd::Var;
use ferrograd_tensor::Tensor;
use proptest::prelude::*;

/// Leading (batch) dimensions: none, `[b]`, `[1]` or `[2, 1]` (any two of
/// these broadcast together; `[2, 1]` against `[b]` takes matmul's general
/// broadcasting path).
fn batch(b: usize, kind: u8) -> Dims {
    match kind {
        0 => vec![],
        1 => vec![b],
        2 => vec![1],
        _ => vec![2, 1],
    }
}

/// `batch ++ [r, c]`.
fn matrix(batch: &[usize], r: usize, c: usize) -> Dims {
    let mut d = batch.to_vec();
    d.extend([r, c]);
    d
}

/// `(A + Aᵀ)/2 + c·I`, symmetric, from an unconstrained square `a`.
fn sym_shift(a: &Var, c: f32) -> ferrograd_autograd::Result<Var> {
    let n = *a.dims().last().unwrap();
    a.add(&a.transpose(-1, -2)?)?
        .mul_scalar(0.5)
        .add(&scaled_eye(n, c))
}

/// An SPD matrix from an unconstrained `[.., n, n]` input with entries in
/// −1..1: either `sym(X) + (n + 1)·I` (eigenvalues of `sym(X)` are at most
/// `n` in magnitude, so ≥ 1 after the shift) or `X Xᵀ + n·I`. Cholesky
/// reads only the lower triangle and returns the symmetric gradient, so it
/// must be checked through such a symmetric function of the raw input.
fn spd(x: &Var, gram: bool) -> ferrograd_autograd::Result<Var> {
    let n = *x.dims().last().unwrap();
    if gram {
        x.matmul_t(x, false, true)?.add(&scaled_eye(n, n as f32))
    } else {
        sym_shift(x, n as f32 + 1.0)
    }
}

/// Raw `[.., n, n]` square inputs for [`spd`], unbatched or with a batch of 1–3.
fn square_input() -> impl Strategy<Value = Tensor> {
    (1..=4usize, 1..=3usize, 0u8..=1)
        .prop_flat_map(|(n, b, kind)| uniform(matrix(&batch(b, kind), n, n), -1.0, 1.0))
}

/// A well-conditioned triangular-solve operand: off-diagonal entries in
/// −0.5..0.5 (both triangles: the op must ignore the other one), diagonal
/// entries of magnitude 1–2 with random sign.
fn triangular(d: Dims) -> impl Strategy<Value = Tensor> {
    let n = d[d.len() - 1];
    let nd = d[..d.len() - 1].to_vec();
    (uniform(d, -0.5, 0.5), signed(nd, 1.0, 2.0)).prop_map(move |(mut a, diag)| {
        for (k, &v) in diag.data().iter().enumerate() {
            let (m, i) = (k / n, k % n);
            a.data_mut()[m * n * n + i * n + i] = v;
        }
        a
    })
}

proptest! {
    #![proptest_config(config())]

    /// `op(A)·op(B)` with `A` of batch none, `[b]`, `[1]` or `[2, 1]` and `B`
    /// likewise (2-D against 3-D, batch 1 against `b`, `[2, 1]` against `[b]`).
    #[test]
    fn matmul_t(
        (a, b, ta, tb) in (1..=4usize, 1..=4usize, 1..=4usize, 1..=3usize, 0u8..=3, 0u8..=3, any::<bool>(), any::<bool>())
            .prop_flat_map(|(m, k, n, bs, ka, kb, ta, tb)| {
                let da = if ta { matrix(&batch(bs, ka), k, m) } else { matrix(&batch(bs, ka), m, k) };
                let db = if tb { matrix(&batch(bs, kb), n, k) } else { matrix(&batch(bs, kb), k, n) };
                (uniform(da, -1.0, 1.0), uniform(db, -1.0, 1.0), Just(ta), Just(tb))
            })
    ) {
        check(|v| v[0].matmul_t(&v[1], ta, tb), &[a, b])?;
    }

    /// `matmul` (no flags) of the same operand twice: `A·Aᵀ`-like products
    /// where both factors depend on one input.
    #[test]
    fn matmul_self(a in (1..=4usize, 1..=4usize, 1..=3usize, 0u8..=1)
        .prop_flat_map(|(m, k, b, kind)| uniform(matrix(&batch(b, kind), m, k), -1.0, 1.0)))
    {
        check(|v| v[0].matmul(&v[0].transpose(-1, -2)?), &[a])?;
    }

    #[test]
    fn cholesky(x in square_input(), gram in any::<bool>()) {
        check(|v| spd(&v[0], gram)?.cholesky(), &[x])?;
    }

    #[test]
    fn cholesky_logdet(x in square_input(), gram in any::<bool>()) {
        check(|v| spd(&v[0], gram)?.cholesky_logdet(), &[x])?;
    }

    /// Every flag combination; `A` and `B` batched alike (kind 1), both
    /// unbatched (0), or a 2-D `A` shared by a batched `B` (2).
    #[test]
    fn triangular_solve(
        (a, b, lower, transpose, unit) in (1..=4usize, 1..=3usize, 1..=3usize, 0u8..=2, any::<bool>(), any::<bool>(), any::<bool>())
            .prop_flat_map(|(n, m, bs, kind, lower, transpose, unit)| {
                let da = matrix(&batch(bs, if kind == 1 { 1 } else { 0 }), n, n);
                let db = matrix(&batch(bs, if kind == 0 { 0 } else { 1 }), n, m);
                (triangular(da), uniform(db, -1.0, 1.0), Just(lower), Just(transpose), Just(unit))
            })
    ) {
        check(|v| v[0].triangular_solve(&v[1], lower, transpose, unit), &[a, b])?;
    }
}
