//! Adam and AdamW: hand-worked steps, torch references, saved state.

use super::*;
use ferrograd_autograd::Var;

fn param(v: &[f32]) -> Param {
    Param::new(Tensor::from_slice(v, &[v.len()]).unwrap())
}

/// Loss ½·Σ aᵢθᵢ², gradient aᵢθᵢ.
fn quadratic_grad(p: &Param, a: &[f32]) {
    let a = Var::constant(Tensor::from_slice(a, &[a.len()]).unwrap());
    let v = p.var();
    let loss = v.square().mul(&a).unwrap().sum_all().mul_scalar(0.5);
    loss.backward().unwrap();
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

fn run(opt: &mut dyn Optimizer, p: &Param, steps: usize) {
    for _ in 0..steps {
        quadratic_grad(p, &[1.0, 2.0, 3.0]);
        opt.step().unwrap();
    }
}

#[test]
fn two_steps_by_hand() {
    // constant gradient g = 1 (loss Σθ): m₁ = 0.1, v₁ = 0.001, m̂ = v̂ = 1 → Δ = lr/(1+ε)
    // m₂ = 0.19, v₂ = 0.001999: m̂ = 1, v̂ = 1 → Δ = lr again
    let p = param(&[0.0]);
    let cfg = AdamConfig {
        lr: 0.5,
        eps: 0.0,
        ..AdamConfig::default()
    };
    let mut opt = Adam::new(vec![p.clone()], cfg).unwrap();
    for _ in 0..2 {
        p.var().sum_all().backward().unwrap();
        opt.step().unwrap();
    }
    close(p.value().data(), &[-1.0], 1e-6);
    assert_eq!(opt.steps(), &[2]);
}

#[test]
fn l2_and_decoupled_decay_by_hand() {
    // One step from θ = 2 with zero loss gradient: Adam's L2 gradient is
    // λθ = 0.2, and the first step moves by lr against its sign; AdamW
    // only shrinks θ by 1 − lr·λ (m = 0).
    let cfg = AdamConfig {
        lr: 0.1,
        weight_decay: 0.1,
        eps: 0.0,
        ..AdamConfig::default()
    };
    let a = param(&[2.0]);
    let mut adam = Adam::new(vec![a.clone()], cfg).unwrap();
    a.var().mul_scalar(0.0).sum_all().backward().unwrap();
    adam.step().unwrap();
    close(a.value().data(), &[1.9], 1e-6);
    let w = param(&[2.0]);
    let cfg = AdamConfig { eps: 1e-8, ..cfg };
    let mut adamw = AdamW::new(vec![w.clone()], cfg).unwrap();
    w.var().mul_scalar(0.0).sum_all().backward().unwrap();
    adamw.step().unwrap();
    close(w.value().data(), &[1.98], 1e-6);
}

// torch 2.15.0 (CPU), p0 = [1, -2, 0.5], loss ½Σ a p² with a = [1, 2, 3],
// three steps; the f32 results agree bit for bit.
const TORCH_ADAM: &[f32] = &[0.7014971, -1.7005804, 0.20468472];
const TORCH_ADAMW: &[f32] = &[0.6751013, -1.6443686, 0.19341561];

#[test]
fn matches_torch_adam_with_l2() {
    // torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    let p = param(&[1.0, -2.0, 0.5]);
    let cfg = AdamConfig {
        lr: 0.1,
        betas: (0.9, 0.99),
        weight_decay: 0.1,
        ..AdamConfig::default()
    };
    let mut opt = Adam::new(vec![p.clone()], cfg).unwrap();
    run(&mut opt, &p, 3);
    assert_eq!(p.value().data(), TORCH_ADAM, "bit for bit");
}

#[test]
fn matches_torch_adamw() {
    // torch.optim.AdamW([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    let p = param(&[1.0, -2.0, 0.5]);
    let cfg = AdamConfig {
        lr: 0.1,
        weight_decay: 0.1,
        ..AdamConfig::adamw()
    };
    let mut opt = AdamW::new(vec![p.clone()], cfg).unwrap();
    run(&mut opt, &p, 3);
    assert_eq!(p.value().data(), TORCH_ADAMW, "bit for bit");
}

#[test]
fn state_round_trip_is_bit_identical() {
    let cfg = AdamConfig {
        lr: 0.05,
        weight_decay: 0.01,
        ..AdamConfig::adamw()
    };
    let reference = param(&[1.0, -2.0, 0.5]);
    let mut a = AdamW::new(vec![reference.clone()], cfg).unwrap();
    run(&mut a, &reference, 5);

    let p = param(&[1.0, -2.0, 0.5]);
    let mut b = AdamW::new(vec![p.clone()], cfg).unwrap();
    run(&mut b, &p, 2);
    let mut saved = b.state_dict();
    let text = serde_json::to_string(&saved.meta).unwrap();
    saved.meta = serde_json::from_str(&text).unwrap();
    let mut c = AdamW::new(vec![p.clone()], AdamConfig::adamw()).unwrap();
    c.load_state_dict(&saved).unwrap();
    assert_eq!(c.config(), &cfg);
    run(&mut c, &p, 3);
    assert_eq!(p.value().data(), reference.value().data());
    assert_eq!(c.steps(), &[5]);

    // an Adam state does not load into AdamW and vice versa
    let mut adam = Adam::new(vec![p.clone()], cfg).unwrap();
    assert!(matches!(
        adam.load_state_dict(&saved),
        Err(Error::StateDict(_))
    ));
}

#[test]
fn bad_configuration_is_an_error() {
    for cfg in [
        AdamConfig {
            betas: (1.0, 0.9),
            ..AdamConfig::default()
        },
        AdamConfig {
            eps: -1.0,
            ..AdamConfig::default()
        },
        AdamConfig {
            lr: f64::INFINITY,
            ..AdamConfig::default()
        },
    ] {
        assert!(matches!(Adam::new(vec![], cfg), Err(Error::Config(_))));
    }
}

#[test]
fn step_counts_are_per_parameter() {
    // As in PyTorch, a parameter without a gradient is skipped and its step
    // count (hence its bias correction) does not advance.
    let (a, b) = (param(&[1.0]), param(&[1.0]));
    let cfg = AdamConfig {
        lr: 0.1,
        ..AdamConfig::default()
    };
    let mut opt = Adam::new(vec![a.clone(), b.clone()], cfg).unwrap();
    for _ in 0..2 {
        a.var().sum_all().backward().unwrap();
        opt.step().unwrap();
    }
    assert_eq!(b.value().data(), &[1.0]);
    b.var().sum_all().backward().unwrap();
    opt.step().unwrap();
    assert_eq!(opt.steps(), &[2, 1]);
    // b's first step: m̂ = v̂^½ = 1, so it moves by lr/(1 + ε)
    close(b.value().data(), &[0.9], 1e-6);
    let state = opt.state_dict();
    assert_eq!(state.meta["steps"], serde_json::json!([2, 1]));
    assert!(state.tensors.contains_key("state.1.exp_avg_sq"));
}
