//! The fused LSTM recurrence (`Var::lstm_sequence`): first- and
//! second-order gradient checks on random sizes (T, B, H in 1–3) and
//! values, and the fused forward and backward against the same recurrence
//! written with ordinary ops (`lstm_sequence_composite`), on one thread and
//! on two (where the packed recurrent product splits over threads).

mod common;

use common::{assert_close, check, config, ramp, uniform};
use ferrograd_autograd::{grad, lstm_sequence_composite, GradOptions, Var};
use ferrograd_tensor::Tensor;
use proptest::prelude::*;

/// Input gates `[T, B, 4H]`, weight `[4H, H]`, `h0`, `c0` `[B, H]`.
fn inputs(t: usize, b: usize, h: usize) -> impl Strategy<Value = Vec<Tensor>> {
    (
        uniform(vec![t, b, 4 * h], -2.0, 2.0),
        uniform(vec![4 * h, h], -1.0, 1.0),
        uniform(vec![b, h], -1.0, 1.0),
        uniform(vec![b, h], -1.0, 1.0),
    )
        .prop_map(|(x, w, h0, c0)| vec![x, w, h0, c0])
}

fn sizes() -> impl Strategy<Value = Vec<Tensor>> {
    (1usize..=3, 1usize..=3, 1usize..=3).prop_flat_map(|(t, b, h)| inputs(t, b, h))
}

/// Values, first-order gradients (fused backward) and a second-order
/// quantity (the gradient of ‖∇‖², through the composite rule) of the fused
/// primitive against the composite recurrence; `h0` and `c0` are constants
/// when `constant_state`.
fn fused_matches_composite(t: usize, b: usize, h: usize, constant_state: bool) {
    let mk = |dims: &[usize], seed: u32, scale: f32, param: bool| {
        Var::new(ramp(dims, seed, scale), param)
    };
    let xg = mk(&[t, b, 4 * h], 1, 2.0, true);
    let w = mk(&[4 * h, h], 2, 0.3, true);
    let h0 = mk(&[b, h], 3, 1.0, !constant_state);
    let c0 = mk(&[b, h], 4, 1.0, !constant_state);
    let proj = Var::constant(ramp(&[2, t, b, h], 5, 1.0));
    let fused = xg.lstm_sequence(&w, &h0, &c0).unwrap();
    let comp = lstm_sequence_composite(&xg, &w, &h0, &c0).unwrap();
    assert_close(fused.value(), comp.value(), 1e-5, "value");
    let mut wrt = vec![&xg, &w];
    if !constant_state {
        wrt.extend([&h0, &c0]);
    }
    let loss = |y: &Var| y.mul(&proj).unwrap().sum_all();
    let gf = grad(&[&loss(&fused)], &wrt, None, GradOptions::default()).unwrap();
    let gc = grad(&[&loss(&comp)], &wrt, None, GradOptions::default()).unwrap();
    for (k, (a, b)) in gf.iter().zip(&gc).enumerate() {
        assert_close(a.value(), b.value(), 1e-4, &format!("grad {k}"));
    }
    let second = |y: &Var| {
        let g = grad(&[&loss(y)], &wrt, None, GradOptions::create_graph()).unwrap();
        let n = g
            .iter()
            .map(|g| g.square().sum_all())
            .reduce(|a, b| a.add(&b).unwrap());
        grad(&[&n.unwrap()], &[&w], None, GradOptions::default()).unwrap()[0]
            .value()
            .clone()
    };
    assert_close(&second(&fused), &second(&comp), 1e-3, "second order");
}

#[test]
fn fused_matches_composite_on_one_thread() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        fused_matches_composite(4, 3, 5, false);
        fused_matches_composite(3, 32, 128, true);
    });
}

#[test]
fn fused_matches_composite_on_two_threads() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        fused_matches_composite(4, 3, 5, true);
        fused_matches_composite(3, 32, 128, false);
    });
}

#[test]
fn bad_shapes_are_errors() {
    let v = |d: &[usize]| Var::constant(Tensor::zeros(d).unwrap());
    let (h0, c0) = (v(&[2, 3]), v(&[2, 3]));
    assert!(v(&[1, 2, 11])
        .lstm_sequence(&v(&[12, 3]), &h0, &c0)
        .is_err());
    assert!(v(&[1, 2, 12])
        .lstm_sequence(&v(&[12, 4]), &h0, &c0)
        .is_err());
    assert!(v(&[0, 2, 12])
        .lstm_sequence(&v(&[12, 3]), &h0, &c0)
        .is_err());
    assert!(v(&[1, 2, 12])
        .lstm_sequence(&v(&[12, 3]), &v(&[3, 3]), &c0)
        .is_err());
    assert!(v(&[1, 2, 12]).lstm_sequence(&v(&[12, 3]), &h0, &c0).is_ok());
}

proptest! {
    #![proptest_config(config())]

    /// Every input differentiable, first and second order.
    #[test]
    fn lstm_sequence(x in sizes()) {
        check(|v| v[0].lstm_sequence(&v[1], &v[2], &v[3]), &x)?;
    }

    /// Through the states a model reads: the last `h` squared plus the
    /// mean of every `h` (so the backward sees gradients on part of the
    /// output only).
    #[test]
    fn lstm_sequence_read_like_a_layer(x in sizes()) {
        check(|v| {
            let y = v[0].lstm_sequence(&v[1], &v[2], &v[3])?;
            let t = y.dims()[1];
            let last = y.narrow(0, 0, 1)?.narrow(1, t - 1, 1)?;
            let all = y.narrow(0, 0, 1)?.mean(&[1], true)?;
            last.square().add(&all)
        }, &x)?;
    }
}
