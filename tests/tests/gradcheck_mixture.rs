//! Property-based gradient checks of `diag_gaussian_mixture_nll`: logits
//! `[.., K]`, means and log-σ `[.., K, D]`, target `[.., D]` with no
//! leading axes or one or two of size 1–3, K and D in 1–4, every reduction.
//! Logits, means and targets are in −1.5..1.5, log-σ in −0.5..0.5 (σ in
//! 0.6..1.65, so the standardised residuals stay moderate). Each test runs
//! `gradcheck` and `gradgradcheck` with respect to all four inputs.
//!
//! The loss is one fused primitive (`Var::diag_gaussian_mixture_nll`); it
//! is also compared with the same function written with ordinary ops
//! (`diag_gaussian_mixture_nll_composite`): values, gradients and a
//! second-order quantity, on one thread and on two (where large batches
//! split over threads).
//!
//! The per-dimension mixture (`Var::per_dim_gaussian_mixture_nll`: logits,
//! means and log-σ `[.., K, L]`, target `[.., L]`) gets the same checks
//! against `per_dim_gaussian_mixture_nll_composite`.

mod common;

use common::{assert_close, check, config, ramp, uniform, Dims};
use ferrograd_autograd::{
    diag_gaussian_mixture_nll_composite, grad, per_dim_gaussian_mixture_nll_composite, GradOptions,
    Var,
};
use ferrograd_nn::losses::{diag_gaussian_mixture_nll, Reduction};
use ferrograd_tensor::Tensor;
use proptest::prelude::*;

/// `lead ++ tail`.
fn cat(lead: &[usize], tail: &[usize]) -> Dims {
    lead.iter().chain(tail).copied().collect()
}

/// The four inputs of one mixture NLL: logits, means, log-σ, target.
fn mixture() -> impl Strategy<Value = [Tensor; 4]> {
    (
        prop::collection::vec(1usize..=3, 0..=2),
        1usize..=4,
        1usize..=4,
    )
        .prop_flat_map(|(lead, k, d)| {
            (
                uniform(cat(&lead, &[k]), -1.5, 1.5),
                uniform(cat(&lead, &[k, d]), -1.5, 1.5),
                uniform(cat(&lead, &[k, d]), -0.5, 0.5),
                uniform(cat(&lead, &[d]), -1.5, 1.5),
            )
                .prop_map(|(l, m, s, t)| [l, m, s, t])
        })
}

/// The four inputs of one per-dimension mixture NLL: logits, means, log-σ
/// `[.., K, L]` and target `[.., L]`.
fn lane_mixture() -> impl Strategy<Value = [Tensor; 4]> {
    (
        prop::collection::vec(1usize..=3, 0..=2),
        1usize..=4,
        1usize..=4,
    )
        .prop_flat_map(|(lead, k, l)| {
            (
                uniform(cat(&lead, &[k, l]), -1.5, 1.5),
                uniform(cat(&lead, &[k, l]), -1.5, 1.5),
                uniform(cat(&lead, &[k, l]), -0.5, 0.5),
                uniform(cat(&lead, &[l]), -1.5, 1.5),
            )
                .prop_map(|(l, m, s, t)| [l, m, s, t])
        })
}

fn reduction() -> impl Strategy<Value = Reduction> {
    prop_oneof![
        Just(Reduction::None),
        Just(Reduction::Mean),
        Just(Reduction::Sum)
    ]
}

/// The loss as `check` wants it (an autograd result).
fn nll(v: &[Var], r: Reduction) -> ferrograd_autograd::Result<Var> {
    diag_gaussian_mixture_nll(&v[0], &v[1], &v[2], &v[3], r).map_err(|e| match e {
        ferrograd_nn::Error::Autograd(e) => e,
        other => ferrograd_autograd::Error::Invalid(other.to_string()),
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn diag_gaussian_mixture_nll_gradients(inputs in mixture(), r in reduction()) {
        check(|v| nll(v, r), &inputs)?;
    }

    #[test]
    fn per_dim_gaussian_mixture_nll_gradients(inputs in lane_mixture()) {
        check(|v| v[0].per_dim_gaussian_mixture_nll(&v[1], &v[2], &v[3]), &inputs)?;
    }
}

/// A loss over the four inputs (logits, means, log-σ, target).
type Loss = fn(&Var, &Var, &Var, &Var) -> ferrograd_autograd::Result<Var>;

/// Fused against composite on `lead` mixtures of K components in D
/// dimensions; `target` a constant when `constant_target`.
fn fused_matches_composite(lead: &[usize], k: usize, d: usize, constant_target: bool) {
    let dims = [cat(lead, &[k]), cat(lead, &[k, d]), cat(lead, &[d])];
    let fused: Loss = |l, m, s, t| l.diag_gaussian_mixture_nll(m, s, t);
    compare(
        &dims,
        lead,
        constant_target,
        fused,
        diag_gaussian_mixture_nll_composite,
    );
}

/// The per-dimension primitive against its composite on `lead` rows of L
/// mixtures of K components.
fn lanes_match_composite(lead: &[usize], k: usize, l: usize, constant_target: bool) {
    let dims = [cat(lead, &[k, l]), cat(lead, &[k, l]), cat(lead, &[l])];
    let fused: Loss = |l, m, s, t| l.per_dim_gaussian_mixture_nll(m, s, t);
    let out = cat(lead, &[l]);
    compare(
        &dims,
        &out,
        constant_target,
        fused,
        per_dim_gaussian_mixture_nll_composite,
    );
}

/// `fused` against `composite` on inputs of `dims` (logits, means and
/// log-σ, target) and an output of `out` dims: values, gradients of a
/// weighted sum, and a second-order quantity.
fn compare(dims: &[Dims; 3], out: &[usize], constant_target: bool, fused: Loss, composite: Loss) {
    let mk =
        |dims: &Dims, seed: u32, scale: f32, param: bool| Var::new(ramp(dims, seed, scale), param);
    let l = mk(&dims[0], 1, 2.0, true);
    let m = mk(&dims[1], 2, 1.5, true);
    let s = mk(&dims[1], 3, 0.5, true);
    let t = mk(&dims[2], 4, 1.5, !constant_target);
    let proj = Var::constant(ramp(out, 5, 1.0));
    let fused = fused(&l, &m, &s, &t).unwrap();
    let comp = composite(&l, &m, &s, &t).unwrap();
    assert_close(fused.value(), comp.value(), 1e-5, "value");
    let mut wrt = vec![&l, &m, &s];
    if !constant_target {
        wrt.push(&t);
    }
    let loss = |y: &Var| y.mul(&proj).unwrap().sum_all();
    let gf = grad(&[&loss(&fused)], &wrt, None, GradOptions::default()).unwrap();
    let gc = grad(&[&loss(&comp)], &wrt, None, GradOptions::default()).unwrap();
    for (i, (a, b)) in gf.iter().zip(&gc).enumerate() {
        assert_close(a.value(), b.value(), 1e-4, &format!("grad {i}"));
    }
    let second = |y: &Var| {
        let g = grad(&[&loss(y)], &wrt, None, GradOptions::create_graph()).unwrap();
        let n = g
            .iter()
            .map(|g| g.square().sum_all())
            .reduce(|a, b| a.add(&b).unwrap());
        grad(&[&n.unwrap()], &[&s], None, GradOptions::default()).unwrap()[0]
            .value()
            .clone()
    };
    assert_close(&second(&fused), &second(&comp), 1e-3, "second order");
}

#[test]
fn fused_matches_composite_on_one_and_two_threads() {
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            fused_matches_composite(&[3, 2], 4, 3, false);
            fused_matches_composite(&[], 2, 5, true);
            // Large enough to split over threads (the MDN-RNN's sizes).
            fused_matches_composite(&[32, 50], 5, 32, true);
            fused_matches_composite(&[40, 50, 32], 5, 1, false);
            lanes_match_composite(&[3, 2], 4, 3, false);
            lanes_match_composite(&[], 2, 5, true);
            // The per-dimension MDN-RNN's sizes: split over threads.
            lanes_match_composite(&[32, 50], 5, 32, false);
        });
    }
}

#[test]
fn bad_shapes_are_errors() {
    let v = |d: &[usize]| Var::constant(Tensor::zeros(d).unwrap());
    let nll = |l: &[usize], m: &[usize], s: &[usize], t: &[usize]| {
        v(l).diag_gaussian_mixture_nll(&v(m), &v(s), &v(t))
    };
    assert!(nll(&[2, 3], &[2, 3, 4], &[2, 3, 4], &[2, 4]).is_ok());
    assert!(nll(&[2, 3], &[2, 3, 4], &[2, 3, 5], &[2, 4]).is_err());
    assert!(nll(&[2, 2], &[2, 3, 4], &[2, 3, 4], &[2, 4]).is_err());
    assert!(nll(&[2, 3], &[2, 3, 4], &[2, 3, 4], &[2, 3]).is_err());
    assert!(nll(&[2, 0], &[2, 0, 4], &[2, 0, 4], &[2, 4]).is_err());
    assert!(nll(&[3], &[3], &[3], &[]).is_err());
    // An empty batch is no error: an empty result.
    assert_eq!(
        nll(&[0, 3], &[0, 3, 4], &[0, 3, 4], &[0, 4])
            .unwrap()
            .dims(),
        &[0]
    );
}

#[test]
fn per_dim_bad_shapes_are_errors() {
    let v = |d: &[usize]| Var::constant(Tensor::zeros(d).unwrap());
    let nll = |l: &[usize], m: &[usize], s: &[usize], t: &[usize]| {
        v(l).per_dim_gaussian_mixture_nll(&v(m), &v(s), &v(t))
    };
    assert_eq!(
        nll(&[2, 3, 4], &[2, 3, 4], &[2, 3, 4], &[2, 4])
            .unwrap()
            .dims(),
        &[2, 4]
    );
    assert!(nll(&[2, 3, 4], &[2, 3, 4], &[2, 3, 5], &[2, 4]).is_err());
    assert!(nll(&[2, 3], &[2, 3, 4], &[2, 3, 4], &[2, 4]).is_err());
    assert!(nll(&[2, 3, 4], &[2, 3, 4], &[2, 3, 4], &[2, 3]).is_err());
    assert!(nll(&[2, 0, 4], &[2, 0, 4], &[2, 0, 4], &[2, 4]).is_err());
    assert!(nll(&[3], &[3], &[3], &[]).is_err());
    // An empty batch is no error: an empty result.
    assert_eq!(
        nll(&[0, 3, 4], &[0, 3, 4], &[0, 3, 4], &[0, 4])
            .unwrap()
            .dims(),
        &[0, 4]
    );
}
