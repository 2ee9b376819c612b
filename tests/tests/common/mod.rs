//! Shared strategies and the check of the `gradcheck_*` property tests.
//!
//! Shapes have rank 0–3 with every size in 1–4 (so size-1 axes are common
//! and no tensor is empty). Each test runs [`check`]: first-order
//! `gradcheck` and second-order `gradgradcheck` at the generated point.
//! The number of cases per test is [`CASES`], or `GRADCHECK_CASES` from
//! the environment (e.g. `GRADCHECK_CASES=500` for a longer soak).
#![allow(dead_code)]

use ferrograd_autograd::{gradcheck, gradgradcheck, GradcheckOptions, Var};
use ferrograd_tensor::Tensor;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Default proptest cases per test: enough to reach the size-1 and
/// broadcasting corners, few enough that each file runs in seconds.
pub const CASES: u32 = 64;

/// The proptest configuration of every gradcheck test.
pub fn config() -> ProptestConfig {
    let cases = std::env::var("GRADCHECK_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CASES);
    ProptestConfig {
        cases,
        // Integration tests have no `lib.rs` for proptest to file
        // regressions beside; a failure prints its minimal input instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Dimensions of an operand.
pub type Dims = Vec<usize>;

/// Runs `gradcheck` and `gradgradcheck` of `f` at `inputs` with `opts`.
pub fn check_with<F>(f: F, inputs: &[Tensor], opts: GradcheckOptions) -> Result<(), TestCaseError>
where
    F: Fn(&[Var]) -> ferrograd_autograd::Result<Var>,
{
    let r = gradcheck(&f, inputs, opts);
    prop_assert!(r.is_ok(), "gradcheck: {:?}", r);
    let r = gradgradcheck(&f, inputs, opts);
    prop_assert!(r.is_ok(), "gradgradcheck: {:?}", r);
    Ok(())
}

/// [`check_with`] at the documented default tolerances.
pub fn check<F>(f: F, inputs: &[Tensor]) -> Result<(), TestCaseError>
where
    F: Fn(&[Var]) -> ferrograd_autograd::Result<Var>,
{
    check_with(f, inputs, GradcheckOptions::default())
}

/// Dimensions of rank `lo..=hi`, each of size 1–4.
pub fn dims(lo: usize, hi: usize) -> impl Strategy<Value = Dims> {
    prop::collection::vec(1usize..=4, lo..=hi)
}

fn numel(d: &[usize]) -> usize {
    d.iter().product()
}

/// A tensor of dimensions `d` with entries uniform in `lo..hi`.
pub fn uniform(d: Dims, lo: f32, hi: f32) -> impl Strategy<Value = Tensor> {
    prop::collection::vec(lo..hi, numel(&d)).prop_map(move |v| Tensor::from_vec(v, &d).unwrap())
}

/// A tensor of dimensions `d` with magnitudes in `lo..hi` and random signs.
pub fn signed(d: Dims, lo: f32, hi: f32) -> impl Strategy<Value = Tensor> {
    prop::collection::vec((lo..hi, any::<bool>()), numel(&d)).prop_map(move |v| {
        let v = v.into_iter().map(|(m, s)| if s { m } else { -m }).collect();
        Tensor::from_vec(v, &d).unwrap()
    })
}

/// A tensor of any generated shape with entries uniform in `lo..hi`.
pub fn any_uniform(lo: f32, hi: f32) -> impl Strategy<Value = Tensor> {
    dims(0, 3).prop_flat_map(move |d| uniform(d, lo, hi))
}

/// A tensor of any generated shape with magnitudes in `lo..hi`, random signs.
pub fn any_signed(lo: f32, hi: f32) -> impl Strategy<Value = Tensor> {
    dims(0, 3).prop_flat_map(move |d| signed(d, lo, hi))
}

/// Pairwise distinct entries: a random permutation of values spaced 0.3
/// apart, plus noise below 0.05, so any two differ by at least 0.2, far more
/// than the finite-difference step (≤ 0.1 at these magnitudes): max/min
/// never meet a tie.
pub fn distinct(d: Dims) -> impl Strategy<Value = Tensor> {
    let n = numel(&d);
    (
        Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
        prop::collection::vec(-0.05f32..0.05, n),
    )
        .prop_map(move |(perm, noise)| {
            let v = perm
                .iter()
                .zip(&noise)
                .map(|(&p, &e)| (p as f32 - n as f32 / 2.0) * 0.3 + e)
                .collect();
            Tensor::from_vec(v, &d).unwrap()
        })
}

/// Entries on a grid: `0.4·i + offset` (`i` in −5..=5) plus noise below 0.05.
/// Two grids whose offsets differ by 0.2 never come closer than 0.1.
pub fn grid(d: Dims, offset: f32) -> impl Strategy<Value = Tensor> {
    prop::collection::vec((-5i32..=5, -0.05f32..0.05), numel(&d)).prop_map(move |v| {
        let v = v
            .into_iter()
            .map(|(i, e)| 0.4 * i as f32 + offset + e)
            .collect();
        Tensor::from_vec(v, &d).unwrap()
    })
}

/// Dimensions that broadcast to `out`: some leading axes dropped, some of
/// the rest set to 1.
pub fn broadcastable(out: Dims) -> impl Strategy<Value = Dims> {
    let r = out.len();
    (0..=r, prop::collection::vec(prop::bool::weighted(0.3), r)).prop_map(move |(drop, ones)| {
        (drop..r)
            .map(|i| if ones[i] { 1 } else { out[i] })
            .collect()
    })
}

/// Two operand shapes that broadcast together.
pub fn broadcast_pair() -> impl Strategy<Value = (Dims, Dims)> {
    dims(0, 3).prop_flat_map(|o| (broadcastable(o.clone()), broadcastable(o)))
}

/// Axis `i` of a rank-`r` tensor, written negatively (from the end) when `neg`.
pub fn signed_axis(i: usize, r: usize, neg: bool) -> isize {
    if neg {
        i as isize - r as isize
    } else {
        i as isize
    }
}

/// One axis of a rank-`r` tensor (`r ≥ 1`), positive or negative.
pub fn axis(r: usize) -> impl Strategy<Value = isize> {
    (0..r, any::<bool>()).prop_map(move |(i, neg)| signed_axis(i, r, neg))
}

/// A subset (possibly empty) of the axes of a rank-`r` tensor, each positive
/// or negative.
pub fn axes(r: usize) -> impl Strategy<Value = Vec<isize>> {
    prop::collection::vec((any::<bool>(), any::<bool>()), r).prop_map(move |f| {
        f.iter()
            .enumerate()
            .filter(|(_, (take, _))| *take)
            .map(|(i, &(_, neg))| signed_axis(i, r, neg))
            .collect()
    })
}

/// The axis index (`0..r`) of a possibly negative `axis`.
pub fn resolve(axis: isize, r: usize) -> usize {
    if axis < 0 {
        (axis + r as isize) as usize
    } else {
        axis as usize
    }
}

/// `x` plus `step·i` at index `i` along `axis`: entries along that axis are
/// then spread out (used where a small spread would make the function
/// ill-conditioned, as in normalisation).
pub fn ramp_along(x: &Tensor, axis: usize, step: f32) -> Tensor {
    let d = x.dims();
    let inner: usize = d[axis + 1..].iter().product();
    let n = d[axis];
    let mut out = x.clone();
    for (k, v) in out.data_mut().iter_mut().enumerate() {
        *v += step * ((k / inner) % n) as f32;
    }
    out
}

/// An `n × n` identity times `c`, as a constant.
pub fn scaled_eye(n: usize, c: f32) -> Var {
    Var::constant(Tensor::eye(n).mul_scalar(c))
}

/// `y²`: composed after ops whose second derivative is zero (linear or
/// piecewise linear), so that `gradgradcheck` still differentiates their
/// backward rules (the output gradient they receive then depends on `x`).
pub fn sq(y: Var) -> Var {
    y.square()
}

/// Deterministic values in about [−scale, scale].
pub fn ramp(dims: &[usize], seed: u32, scale: f32) -> Tensor {
    let n: usize = dims.iter().product();
    let v = (0..n)
        .map(|i| {
            let s = (i as u32).wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503);
            ((s >> 8) % 2001) as f32 / 1000.0 * scale - scale
        })
        .collect();
    Tensor::from_vec(v, dims).unwrap()
}

/// Panics unless `a` and `b` agree within `tol` relative to `1 + |b|`.
pub fn assert_close(a: &Tensor, b: &Tensor, tol: f32, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}");
    for (i, (x, y)) in a.data().iter().zip(b.data()).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}
