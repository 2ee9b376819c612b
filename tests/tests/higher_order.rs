//! Higher-order differentiation through the engine: repeated derivatives, a
//! Hessian-vector product, a MAML-style meta-gradient and a gradient
//! penalty, each checked against finite differences.

use ferrograd_autograd::{grad, gradcheck, GradOptions, GradcheckOptions, Result, Var};
use ferrograd_tensor::Tensor;

fn t(data: &[f32], dims: &[usize]) -> Tensor {
    Tensor::from_slice(data, dims).unwrap()
}

/// Deterministic values in [-1, 1].
fn fill(n: usize, seed: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 + 1.0) * seed).sin()).collect()
}

fn d(y: &Var, x: &Var, create_graph: bool) -> Var {
    let opts = GradOptions {
        create_graph,
        allow_unused: false,
    };
    grad(&[y], &[x], None, opts).unwrap().remove(0)
}

#[test]
fn third_derivative_of_x_to_the_fourth() {
    for &x0 in &[-1.5f32, -0.3, 0.7, 2.0] {
        let x = Var::param(Tensor::scalar(x0));
        let y = x.square().square(); // x⁴
        let d1 = d(&y, &x, true);
        let d2 = d(&d1, &x, true);
        let d3 = d(&d2, &x, true);
        let d4 = d(&d3, &x, false);
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * b.abs().max(1.0);
        assert!(close(d1.item().unwrap(), 4.0 * x0.powi(3)));
        assert!(close(d2.item().unwrap(), 12.0 * x0 * x0));
        assert!(close(d3.item().unwrap(), 24.0 * x0));
        assert!(close(d4.item().unwrap(), 24.0));
    }
}

/// A 3-16-1 tanh MLP with parameters [w1 (16×3), b1 (16), w2 (1×16), b2 (1)]
/// applied to `x` (n×3); mean squared error against `y`.
fn mlp_loss(p: &[Var], x: &Var, y: &Var) -> Result<Var> {
    let h = x.matmul_t(&p[0], false, true)?.add(&p[1])?.tanh();
    let out = h.matmul_t(&p[2], false, true)?.add(&p[3])?;
    out.mse(y)
}

fn mlp_params() -> Vec<Tensor> {
    vec![
        t(&fill(48, 0.37), &[16, 3]),
        t(&fill(16, 0.11), &[16]),
        t(&fill(16, 0.53), &[1, 16]),
        t(&[0.1], &[1]),
    ]
}

fn data(n: usize, seed: f32) -> (Var, Var) {
    let x = t(&fill(3 * n, seed), &[n, 3]);
    let y = t(&fill(n, seed * 1.7), &[n, 1]);
    (Var::constant(x), Var::constant(y))
}

#[test]
fn hessian_vector_product_matches_finite_differences_of_the_gradient() {
    let (x, y) = data(8, 0.29);
    let theta = mlp_params();
    let v: Vec<Tensor> = theta
        .iter()
        .enumerate()
        .map(|(i, p)| Tensor::with_shape(fill(p.numel(), 0.7 + i as f32), *p.shape()).unwrap())
        .collect();
    // Analytic: Hv = ∇(⟨∇L, v⟩).
    let ps: Vec<Var> = theta.iter().cloned().map(Var::param).collect();
    let refs: Vec<&Var> = ps.iter().collect();
    let loss = mlp_loss(&ps, &x, &y).unwrap();
    let g = grad(&[&loss], &refs, None, GradOptions::create_graph()).unwrap();
    let mut gv = Var::scalar(0.0);
    for (gi, vi) in g.iter().zip(&v) {
        gv = gv
            .add(&gi.mul(&Var::constant(vi.clone())).unwrap().sum_all())
            .unwrap();
    }
    let hv = grad(&[&gv], &refs, None, GradOptions::default()).unwrap();
    // Numeric: (∇L(θ + εv) − ∇L(θ − εv)) / 2ε.
    let grad_at = |sign: f32| -> Vec<Tensor> {
        let eps = 1e-2 * sign;
        let ps: Vec<Var> = theta
            .iter()
            .zip(&v)
            .map(|(p, vi)| Var::param(p.add(&vi.mul_scalar(eps)).unwrap()))
            .collect();
        let refs: Vec<&Var> = ps.iter().collect();
        let loss = mlp_loss(&ps, &x, &y).unwrap();
        let g = grad(&[&loss], &refs, None, GradOptions::default()).unwrap();
        g.iter().map(|gi| gi.value().clone()).collect()
    };
    let (plus, minus) = (grad_at(1.0), grad_at(-1.0));
    let mut worst = 0.0f32;
    for i in 0..theta.len() {
        let numeric = plus[i].sub(&minus[i]).unwrap().mul_scalar(1.0 / 2e-2);
        worst = worst.max(numeric.max_abs_diff(hv[i].value()));
        assert!(
            numeric.max_abs_diff(hv[i].value()) < 2e-2,
            "parameter {i}: {:?} vs {:?}",
            hv[i].value(),
            numeric
        );
    }
    assert!(worst.is_finite());
}

/// MAML's meta-loss: query loss after one SGD step on the support loss.
fn meta_loss(p: &[Var], first_order: bool) -> Result<Var> {
    let (xs, ys) = data(5, 0.41);
    let (xq, yq) = data(6, 0.83);
    let refs: Vec<&Var> = p.iter().collect();
    let inner = mlp_loss(p, &xs, &ys)?;
    let opts = GradOptions {
        create_graph: !first_order,
        allow_unused: false,
    };
    let g = grad(&[&inner], &refs, None, opts)?;
    let fast: Vec<Var> = p
        .iter()
        .zip(&g)
        .map(|(pi, gi)| pi.sub(&gi.mul_scalar(0.5)))
        .collect::<Result<_>>()?;
    mlp_loss(&fast, &xq, &yq)
}

#[test]
fn maml_meta_gradient_matches_finite_differences() {
    let theta = mlp_params();
    let r = gradcheck(|p| meta_loss(p, false), &theta, GradcheckOptions::default());
    assert!(r.is_ok(), "{r:?}");
    // The first-order approximation differs from the true meta-gradient, and
    // the checker notices.
    let ps: Vec<Var> = theta.iter().cloned().map(Var::param).collect();
    let refs: Vec<&Var> = ps.iter().collect();
    let second = grad(
        &[&meta_loss(&ps, false).unwrap()],
        &refs,
        None,
        GradOptions::default(),
    )
    .unwrap();
    let first = grad(
        &[&meta_loss(&ps, true).unwrap()],
        &refs,
        None,
        GradOptions::default(),
    )
    .unwrap();
    let gap: f32 = second
        .iter()
        .zip(&first)
        .map(|(a, b)| a.value().max_abs_diff(b.value()))
        .fold(0.0, f32::max);
    assert!(
        gap > 1e-2,
        "first- and second-order meta-gradients agree ({gap})"
    );
}

/// Gradient penalty: mean over examples of ‖∂(Σ outputs)/∂x‖² for a 3-16-2
/// GELU network, as a function of its weights.
fn gradient_penalty(p: &[Var]) -> Result<Var> {
    let x = Var::param(t(&fill(12, 0.61), &[4, 3]));
    let h = x.matmul_t(&p[0], false, true)?.add(&p[1])?.gelu();
    let out = h.matmul_t(&p[2], false, true)?;
    let dx = grad(&[&out.sum_all()], &[&x], None, GradOptions::create_graph())?.remove(0);
    Ok(dx.square().sum(&[1], false)?.mean_all())
}

#[test]
fn gradient_penalty_weight_gradient_matches_finite_differences() {
    let p = vec![
        t(&fill(48, 0.23), &[16, 3]),
        t(&fill(16, 0.19), &[16]),
        t(&fill(32, 0.31), &[2, 16]),
    ];
    let r = gradcheck(gradient_penalty, &p, GradcheckOptions::default());
    assert!(r.is_ok(), "{r:?}");
}

/// An activation as a function of a `Var`.
type Activation = fn(&Var) -> Var;

/// Fit plus gradient penalty (the `gradpen_step` loss) for a 3-16-2 network
/// with activation `act`: the double backward runs the activation's rule a
/// second time on the same node, where the engine reuses the derivative the
/// first backward recorded.
fn fit_plus_penalty(p: &[Var], act: Activation) -> Result<Var> {
    let x = Var::param(t(&fill(12, 0.61), &[4, 3]));
    let y = Var::constant(t(&fill(8, 0.43), &[4, 2]));
    let h = act(&x.matmul_t(&p[0], false, true)?.add(&p[1])?);
    let out = h.matmul_t(&p[2], false, true)?;
    let dx = grad(&[&out.sum_all()], &[&x], None, GradOptions::create_graph())?.remove(0);
    let penalty = dx.square().sum(&[1], false)?.mean_all();
    out.mse(&y)?.add(&penalty.mul_scalar(0.5))
}

#[test]
fn fit_plus_penalty_weight_gradient_matches_finite_differences() {
    let p = vec![
        t(&fill(48, 0.23), &[16, 3]),
        t(&fill(16, 0.19), &[16]),
        t(&fill(32, 0.31), &[2, 16]),
    ];
    let acts: [(&str, Activation); 3] = [
        ("gelu", Var::gelu),
        ("gelu_tanh", Var::gelu_tanh),
        ("silu", Var::silu),
    ];
    for (name, act) in acts {
        let r = gradcheck(
            |p| fit_plus_penalty(p, act),
            &p,
            GradcheckOptions::default(),
        );
        assert!(r.is_ok(), "{name}: {r:?}");
    }
}

/// A plain backward through an activation first, then a `create_graph` one
/// through the same node: the second must still give a differentiable
/// derivative (only recorded derivatives are reused), so the second
/// derivative matches a fresh graph's.
#[test]
fn a_plain_backward_first_leaves_second_order_intact() {
    let acts: [Activation; 3] = [Var::gelu, Var::gelu_tanh, Var::silu];
    for act in acts {
        let x = Var::param(t(&fill(6, 0.7), &[6]));
        let y = act(&x).sum_all();
        let plain = d(&y, &x, false);
        let d1 = d(&y, &x, true);
        let d2 = d(&d1.sum_all(), &x, false);
        let fresh_x = Var::param(t(&fill(6, 0.7), &[6]));
        let fresh = d(&act(&fresh_x).sum_all(), &fresh_x, true);
        let fresh2 = d(&fresh.sum_all(), &fresh_x, false);
        assert_eq!(plain.value().data(), d1.value().data());
        assert!(d2.value().data().iter().any(|&v| v != 0.0));
        assert_eq!(d2.value().data(), fresh2.value().data());
    }
}

/// The same node differentiated twice with `create_graph` (the second
/// backward reuses the first's recorded derivative) still gives the right
/// third derivative.
#[test]
fn a_reused_derivative_keeps_third_order() {
    let x = Var::param(t(&fill(5, 0.9), &[5]));
    let y = x.gelu().sum_all();
    let _first = d(&y, &x, true);
    let d1 = d(&y, &x, true);
    let d2 = d(&d1.sum_all(), &x, true);
    let d3 = d(&d2.sum_all(), &x, false);
    let fresh_x = Var::param(t(&fill(5, 0.9), &[5]));
    let f1 = d(&fresh_x.gelu().sum_all(), &fresh_x, true);
    let f2 = d(&f1.sum_all(), &fresh_x, true);
    let f3 = d(&f2.sum_all(), &fresh_x, false);
    assert_eq!(d3.value().data(), f3.value().data());
}
