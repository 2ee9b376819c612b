//! The fused attention (`ferrograd_autograd::Attention`): first- and
//! second-order gradient checks on random sizes, packed and separate
//! inputs, with and without a mask; and the fused forward and backward
//! against the same attention written with ordinary ops
//! (`Attention::composite`), on one thread and on two (where the batch
//! elements split over threads).

mod common;

use common::{assert_close, check, config, ramp, uniform};
use ferrograd_autograd::{grad, Attention, GradOptions, Var};
use ferrograd_tensor::Tensor;
use proptest::prelude::*;

/// A causal-like mask `[B, 1, T, S]` that masks key `j` of query `i` when
/// `j > i + shift` (all of a row when `shift` is very negative).
fn mask(b: usize, t: usize, s: usize, shift: isize) -> Tensor {
    let v = (0..b * t * s)
        .map(|n| {
            let (i, j) = ((n / s) % t, n % s);
            (j as isize > i as isize + shift) as u8 as f32
        })
        .collect();
    Tensor::from_vec(v, &[b, 1, t, s]).unwrap()
}

/// Values, first-order gradients (fused backward) and a second-order
/// quantity (the gradient of ‖∇‖², through the composite rule) of the
/// fused primitive against the composite attention.
fn fused_matches_composite(att: &Attention, inputs: &[Var]) {
    let refs: Vec<&Var> = inputs.iter().collect();
    let fused = |x: &[&Var]| match x {
        [qkv] => att.packed(qkv).unwrap(),
        [q, k, v] => att.separate(q, k, v).unwrap(),
        _ => unreachable!(),
    };
    let (yf, yc) = (fused(&refs), att.composite(&refs).unwrap());
    assert_close(yf.value(), yc.value(), 1e-5, "value");
    let proj = Var::constant(ramp(yf.dims(), 9, 1.0));
    let loss = |y: &Var| y.mul(&proj).unwrap().sum_all();
    let wrt: Vec<&Var> = refs.iter().copied().filter(|v| v.requires_grad()).collect();
    let gf = grad(&[&loss(&yf)], &wrt, None, GradOptions::default()).unwrap();
    let gc = grad(&[&loss(&yc)], &wrt, None, GradOptions::default()).unwrap();
    for (k, (a, b)) in gf.iter().zip(&gc).enumerate() {
        assert_close(a.value(), b.value(), 1e-4, &format!("grad {k}"));
    }
    let second = |y: &Var| {
        let g = grad(&[&loss(y)], &wrt, None, GradOptions::create_graph()).unwrap();
        let n = g
            .iter()
            .map(|g| g.square().sum_all())
            .reduce(|a, b| a.add(&b).unwrap());
        grad(&[&n.unwrap()], &[wrt[0]], None, GradOptions::default()).unwrap()[0]
            .value()
            .clone()
    };
    assert_close(&second(&yf), &second(&yc), 1e-3, "second order");
}

/// Packed and separate (keys constant), unmasked, masked, and with rows
/// masked whole, at the given batch, length and width.
fn all_kinds(b: usize, t: usize, heads: usize, dh: usize) {
    let d = heads * dh;
    let scale = 1.0 / (dh as f32).sqrt();
    let plain = Attention::new(heads, scale);
    let masked = plain.clone().with_mask(mask(b, t, t, 0), -1e9);
    let rows = plain.clone().with_mask(mask(b, t, t, -2), -1e9);
    for att in [&plain, &masked, &rows] {
        let qkv = Var::param(ramp(&[b, t, 3 * d], 1, 1.0));
        fused_matches_composite(att, &[qkv]);
        let q = Var::param(ramp(&[b, t, d], 2, 1.0));
        let k = Var::constant(ramp(&[b, t, d], 3, 1.0));
        let v = Var::param(ramp(&[b, t, d], 4, 1.0));
        fused_matches_composite(att, &[q, k, v]);
    }
}

#[test]
fn fused_matches_composite_on_one_thread() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        all_kinds(2, 3, 2, 2);
        all_kinds(32, 32, 4, 32);
    });
}

#[test]
fn fused_matches_composite_on_two_threads() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        all_kinds(3, 2, 1, 3);
        all_kinds(32, 32, 4, 32);
    });
}

#[test]
fn keys_longer_than_queries() {
    let att = Attention::new(2, 0.5).with_mask(mask(2, 3, 5, 1), -1e9);
    let q = Var::param(ramp(&[2, 3, 4], 5, 1.0));
    let k = Var::param(ramp(&[2, 5, 4], 6, 1.0));
    let v = Var::param(ramp(&[2, 5, 4], 7, 1.0));
    fused_matches_composite(&att, &[q, k, v]);
}

#[test]
fn bad_shapes_are_errors() {
    let v = |d: &[usize]| Var::constant(Tensor::zeros(d).unwrap());
    let att = Attention::new(2, 1.0);
    assert!(att.packed(&v(&[2, 3, 13])).is_err());
    assert!(att.packed(&v(&[2, 3, 9])).is_err(), "width 3 over 2 heads");
    assert!(att.packed(&v(&[6, 12])).is_err());
    assert!(att
        .separate(&v(&[2, 3, 4]), &v(&[2, 5, 4]), &v(&[2, 4, 4]))
        .is_err());
    assert!(att
        .separate(&v(&[2, 3, 4]), &v(&[1, 5, 4]), &v(&[1, 5, 4]))
        .is_err());
    assert!(Attention::new(0, 1.0).packed(&v(&[2, 3, 12])).is_err());
    let bad_mask = att
        .clone()
        .with_mask(Tensor::zeros(&[2, 1, 3, 4]).unwrap(), -1e9);
    assert!(bad_mask.packed(&v(&[2, 3, 12])).is_err());
    assert!(att.packed(&v(&[2, 3, 12])).is_ok());
}

/// Packed inputs `[B, L, 3·H·dh]` of random sizes, with `H`.
fn packed_inputs() -> impl Strategy<Value = (usize, Tensor)> {
    (1usize..=2, 1usize..=3, 1usize..=2, 1usize..=2)
        .prop_flat_map(|(b, l, h, dh)| (Just(h), uniform(vec![b, l, 3 * h * dh], -1.5, 1.5)))
}

proptest! {
    #![proptest_config(config())]

    /// Self-attention of a packed projection, first and second order.
    #[test]
    fn attention_packed((h, x) in packed_inputs()) {
        check(|v| Attention::new(h, 0.7).packed(&v[0]), &[x])?;
    }

    /// Masked self-attention (a causal mask), first and second order.
    #[test]
    fn attention_packed_masked((h, x) in packed_inputs()) {
        let (b, l) = (x.dims()[0], x.dims()[1]);
        let att = Attention::new(h, 0.7).with_mask(mask(b, l, l, 0), -1e9);
        check(|v| att.packed(&v[0]), &[x])?;
    }

    /// Queries, keys and values apart (keys longer), first and second order.
    #[test]
    fn attention_separate(
        (q, k, v) in (1usize..=2, 1usize..=2, 1usize..=3, 1usize..=2).prop_flat_map(|(b, t, s, d)| (
            uniform(vec![b, t, 2 * d], -1.5, 1.5),
            uniform(vec![b, s, 2 * d], -1.5, 1.5),
            uniform(vec![b, s, 2 * d], -1.5, 1.5),
        ))
    ) {
        check(|x| Attention::new(2, 0.5).separate(&x[0], &x[1], &x[2]), &[q, k, v])?;
    }
}
