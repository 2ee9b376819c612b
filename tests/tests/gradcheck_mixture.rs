//! Property-based gradient checks of `diag_gaussian_mixture_nll`: logits
//! `[.., K]`, means and log-σ `[.., K, D]`, target `[.., D]` with no
//! leading axes or one or two of size 1–3, K and D in 1–4, every reduction.
//! Logits, means and targets are in −1.5..1.5, log-σ in −0.5..0.5 (σ in
//! 0.6..1.65, so the standardised residuals stay moderate). Each test runs
//! `gradcheck` and `gradgradcheck` with respect to all four inputs.

mod common;

use common::{check, config, uniform, Dims};
use ferrograd_autograd::Var;
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
}
