//! Property-based gradient checks of the reductions and the statistics
//! built on them: sum, mean, max, min and logsumexp over random axis subsets
//! (positive or negative axes, keepdim on and off), sum_all and mean_all,
//! softmax and log_softmax along a random axis, var (correction 0 and 1),
//! mean_var, normalize (the fused last-axis primitive also on rows of up
//! to 40) and mse. Shapes have rank 0–3 and sizes 1–4; max/min
//! get pairwise distinct values so no tie is near. Each test runs
//! `gradcheck` and `gradgradcheck`; linear and piecewise-linear reductions
//! are checked squared so the second-order check differentiates their
//! backward rules too.

mod common;

use common::{
    any_uniform, axes, axis, broadcast_pair, check, config, dims, distinct, ramp_along, resolve,
    sq, uniform, Dims,
};
use ferrograd_tensor::Tensor;
use proptest::prelude::*;

/// A tensor of any shape (entries in −2..2), a subset of its axes, keepdim.
fn reduction() -> impl Strategy<Value = (Tensor, Vec<isize>, bool)> {
    dims(0, 3).prop_flat_map(|d| {
        let r = d.len();
        (uniform(d, -2.0, 2.0), axes(r), any::<bool>())
    })
}

/// Like [`reduction`] with pairwise distinct entries (for max and min).
fn distinct_reduction() -> impl Strategy<Value = (Tensor, Vec<isize>, bool)> {
    dims(0, 3).prop_flat_map(|d| {
        let r = d.len();
        (distinct(d), axes(r), any::<bool>())
    })
}

/// A tensor of rank 1–3 (entries in −2..2) and one of its axes.
fn along_axis() -> impl Strategy<Value = (Tensor, isize)> {
    dims(1, 3).prop_flat_map(|d| {
        let r = d.len();
        (uniform(d, -2.0, 2.0), axis(r))
    })
}

/// A tensor of rank 1–3 and one of its axes, with entries along that axis
/// spread at least 0.5 apart (`i + u`, `u` in −0.25..0.25): normalisation
/// divides by the standard deviation, which then stays ≥ 0.25.
fn spread_along_axis() -> impl Strategy<Value = (Tensor, isize)> {
    dims(1, 3)
        .prop_flat_map(|d: Dims| {
            let r = d.len();
            (uniform(d, -0.25, 0.25), axis(r))
        })
        .prop_map(|(x, a)| (ramp_along(&x, resolve(a, x.rank()), 1.0), a))
}

/// Rows of 1–40 values (the fused normalisation's kernel sums eight lanes
/// at a time: widths past 8 and ragged tails), spread along the row.
fn wide_rows() -> impl Strategy<Value = Tensor> {
    (1usize..=3, 1usize..=40)
        .prop_flat_map(|(r, n)| uniform(vec![r, n], -0.25, 0.25))
        .prop_map(|x| ramp_along(&x, 1, 0.5))
}

proptest! {
    #![proptest_config(config())]

    /// The last-axis primitive against the composite over another
    /// (permuted) axis: the same values and gradients, and gradcheck of
    /// both orders on wide rows.
    #[test]
    fn normalize_last_wide_rows(x in wide_rows()) {
        check(|v| v[0].normalize_last(1e-5), std::slice::from_ref(&x))?;
        let fused = ferrograd_autograd::Var::param(x.clone());
        let y = fused.normalize_last(1e-5)?;
        let t = ferrograd_autograd::Var::param(x.permute(&[1, 0])?);
        let composite = t.normalize(0, 1e-5)?.permute(&[1, 0])?;
        for (a, b) in y.value().data().iter().zip(composite.value().data()) {
            prop_assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn sum((x, axes, keepdim) in reduction()) {
        check(|v| Ok(sq(v[0].sum(&axes, keepdim)?)), &[x])?;
    }

    #[test]
    fn mean((x, axes, keepdim) in reduction()) {
        check(|v| Ok(sq(v[0].mean(&axes, keepdim)?)), &[x])?;
    }

    #[test]
    fn max((x, axes, keepdim) in distinct_reduction()) {
        check(|v| Ok(sq(v[0].max(&axes, keepdim)?)), &[x])?;
    }

    #[test]
    fn min((x, axes, keepdim) in distinct_reduction()) {
        check(|v| Ok(sq(v[0].min(&axes, keepdim)?)), &[x])?;
    }

    #[test]
    fn logsumexp((x, axes, keepdim) in reduction()) {
        check(|v| v[0].logsumexp(&axes, keepdim), &[x])?;
    }

    #[test]
    fn sum_all(x in any_uniform(-2.0, 2.0)) {
        check(|v| Ok(sq(v[0].sum_all())), &[x])?;
    }

    #[test]
    fn mean_all(x in any_uniform(-2.0, 2.0)) {
        check(|v| Ok(sq(v[0].mean_all())), &[x])?;
    }

    #[test]
    fn softmax((x, axis) in along_axis()) {
        check(|v| v[0].softmax(axis), &[x])?;
    }

    #[test]
    fn log_softmax((x, axis) in along_axis()) {
        check(|v| v[0].log_softmax(axis), &[x])?;
    }

    #[test]
    fn var((x, axes, keepdim) in reduction(), correction in 0usize..=1) {
        check(|v| v[0].var(&axes, keepdim, correction), &[x])?;
    }

    /// Mean and variance concatenated along the (kept) reduced axis.
    #[test]
    fn mean_var((x, axis) in along_axis()) {
        check(
            |v| {
                let (m, s) = v[0].mean_var(axis)?;
                ferrograd_autograd::Var::concat(&[&sq(m), &s], axis)
            },
            &[x],
        )?;
    }

    #[test]
    fn normalize((x, axis) in spread_along_axis(), eps in prop::sample::select(vec![0.0f32, 1e-5, 0.1])) {
        // With a single element along the axis, the variance is 0: eps = 0
        // would give 0 · ∞.
        let eps = if x.dims()[resolve(axis, x.rank())] == 1 { eps.max(1e-5) } else { eps };
        check(|v| v[0].normalize(axis, eps), &[x])?;
    }

    #[test]
    fn mse((a, b) in broadcast_pair().prop_flat_map(|(da, db)| (uniform(da, -2.0, 2.0), uniform(db, -2.0, 2.0)))) {
        check(|v| v[0].mse(&v[1]), &[a, b])?;
    }
}
