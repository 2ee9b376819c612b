use super::*;
use crate::decision::clip::vocab::Vocab;
use ferrograd_autograd::{grad, GradOptions};

fn small(vocab: usize) -> DualEncoderConfig {
    DualEncoderConfig {
        image_side: 16,
        channels: vec![4, 8],
        image_hidden: 16,
        vocab,
        max_tokens: 6,
        d_model: 8,
        heads: 2,
        layers: 1,
        ff_dim: 16,
        embed: 8,
        temperature: 0.07,
    }
}

#[test]
fn info_nce_of_orthonormal_pairs_matches_the_formula() {
    // N orthonormal pairs: every logit is 0 except the diagonal's 1/τ, so
    // each direction's cross-entropy is ln(1 + (N − 1)·e^(−1/τ)).
    let m = DualEncoder::new(&small(5), 0).unwrap();
    m.logit_scale.set(Tensor::scalar(2.0f32.ln())); // τ = 0.5
    let eye =
        Var::constant(Tensor::from_vec(vec![1., 0., 0., 0., 3., 0., 0., 0., 2.], &[3, 3]).unwrap());
    let tau = m.temperature().unwrap();
    assert!((tau.item().unwrap() - 0.5).abs() < 1e-6);
    let l = info_nce(&eye, &eye, &tau, Reduction::Mean).unwrap();
    let want = (1.0 + 2.0 * (-2.0f32).exp()).ln();
    assert!(
        (l.item().unwrap() - want).abs() < 1e-6,
        "{} vs {want}",
        l.item().unwrap()
    );
    // d/ds of ln(1 + 2e^(−e^s)) at s = ln 2: −2e^(−2)·2 / (1 + 2e^(−2)).
    let g = grad(&[&l], &[&m.logit_scale.var()], None, GradOptions::default()).unwrap();
    let e = (-2.0f32).exp();
    let want_g = -4.0 * e / (1.0 + 2.0 * e);
    assert!((g[0].item().unwrap() - want_g).abs() < 1e-5);
}

#[test]
fn the_logit_scale_is_capped_at_100() {
    let m = DualEncoder::new(&small(5), 0).unwrap();
    assert!((m.temperature().unwrap().item().unwrap() - 0.07).abs() < 1e-6);
    m.logit_scale.set(Tensor::scalar(9.0));
    let tau = m.temperature().unwrap();
    assert!((tau.item().unwrap() - 0.01).abs() < 1e-7);
    let g = grad(
        &[&tau],
        &[&m.logit_scale.var()],
        None,
        GradOptions::default(),
    )
    .unwrap();
    assert_eq!(g[0].item().unwrap(), 0.0);
    for bad in [0.0, -1.0, 0.005, f32::NAN] {
        let c = DualEncoderConfig {
            temperature: bad,
            ..small(5)
        };
        assert!(DualEncoder::new(&c, 0).is_err(), "{bad}");
    }
    let c = DualEncoderConfig {
        heads: 3,
        ..small(5)
    };
    assert!(matches!(DualEncoder::new(&c, 0), Err(Error::Config(_))));
}

#[test]
fn the_loss_reaches_every_parameter_and_padding_is_ignored() {
    let v = Vocab::build(["a red circle on the left", "blue square"]);
    let m = DualEncoder::new(&small(v.len()), 1).unwrap();
    let texts = ["a red circle", "blue square on the left"];
    let enc = v.encode(&texts, 6).unwrap();
    let img = Var::constant(init::normal(&[2, 3, 16, 16], 0.5, 0.2, &mut init::rng(2)));
    let loss = m.loss(&img, &enc).unwrap();
    assert!(loss.item().unwrap().is_finite());
    loss.backward().unwrap();
    for (name, p) in m.named_params() {
        assert!(p.grad().is_some(), "{name} has no gradient");
    }
    // The embedding of a text does not depend on how much padding follows.
    let short = m
        .text
        .forward(&v.encode(&["blue square"], 6).unwrap())
        .unwrap();
    let e1 = v.encode(&["blue square"], 6).unwrap();
    let mut ids = e1.ids.data().to_vec();
    ids[3] = 4; // a token in a padded slot must not change the result
    let e2 = Encoded {
        ids: ferrograd_tensor::Indices::new(ids, &[1, 6]).unwrap(),
        ..e1.clone()
    };
    let other = m.text.forward(&e2).unwrap();
    for (a, b) in short.value().data().iter().zip(other.value().data()) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    let wrong = v.encode(&["blue square"], 5).unwrap();
    assert!(m.text.forward(&wrong).is_err());
}
