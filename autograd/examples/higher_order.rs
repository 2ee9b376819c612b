//! Fits a 1-32-32-1 tanh network to a noisy sine with plain SGD, then uses
//! second derivatives: the largest Hessian eigenvalue of the loss by power
//! iteration on Hessian-vector products, and the learning rates above which
//! gradient descent (2/λ) and heavy-ball momentum (2(1 + β)/λ) diverge. Built-in data, a few seconds.
//!
//! `cargo run --release -p ferrograd-autograd --example higher_order`

use ferrograd_autograd::{grad, GradOptions, Result, Var};
use ferrograd_tensor::Tensor;

/// A seeded linear-congruential generator (the example needs no dependency).
struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32) / (1u64 << 24) as f32
    }
}

fn init(rng: &mut Lcg, rows: usize, cols: usize) -> Tensor {
    let bound = (6.0 / (rows + cols) as f32).sqrt();
    let d = (0..rows * cols)
        .map(|_| (2.0 * rng.uniform() - 1.0) * bound)
        .collect();
    Tensor::from_vec(d, &[rows, cols]).unwrap()
}

fn forward(p: &[Var], x: &Var) -> Result<Var> {
    let h = x.matmul_t(&p[0], false, true)?.add(&p[1])?.tanh();
    let h = h.matmul_t(&p[2], false, true)?.add(&p[3])?.tanh();
    h.matmul_t(&p[4], false, true)?.add(&p[5])
}

fn dot(a: &[Var], b: &[Tensor]) -> Result<Var> {
    let mut s = Var::scalar(0.0);
    for (x, y) in a.iter().zip(b) {
        s = s.add(&x.mul(&Var::constant(y.clone()))?.sum_all())?;
    }
    Ok(s)
}

fn main() -> Result<()> {
    let mut rng = Lcg(42);
    let n = 256;
    let xs: Vec<f32> = (0..n).map(|_| 6.0 * rng.uniform() - 3.0).collect();
    let ys: Vec<f32> = xs
        .iter()
        .map(|x| x.sin() + 0.05 * (2.0 * rng.uniform() - 1.0))
        .collect();
    let x = Var::constant(Tensor::from_vec(xs, &[n, 1])?);
    let y = Var::constant(Tensor::from_vec(ys, &[n, 1])?);
    let mut params = [
        init(&mut rng, 32, 1),
        Tensor::zeros(&[32])?,
        init(&mut rng, 32, 32),
        Tensor::zeros(&[32])?,
        init(&mut rng, 1, 32),
        Tensor::zeros(&[1])?,
    ];
    let mut velocity: Vec<Tensor> = params.iter().map(Tensor::zeros_like).collect();
    let (lr, momentum) = (0.05, 0.9);
    for step in 0..=2000 {
        let p: Vec<Var> = params.iter().cloned().map(Var::param).collect();
        let refs: Vec<&Var> = p.iter().collect();
        let loss = forward(&p, &x)?.mse(&y)?;
        let g = grad(&[&loss], &refs, None, GradOptions::default())?;
        for ((w, v), g) in params.iter_mut().zip(&mut velocity).zip(&g) {
            *v = v.mul_scalar(momentum).add(g.value())?;
            *w = w.sub(&v.mul_scalar(lr))?;
        }
        if step % 400 == 0 {
            println!("step {step:5}  mse {:.5}", loss.item()?);
        }
    }
    println!(
        "noise floor (variance of the added noise): {:.5}",
        0.05f32 * 0.05 / 3.0
    );
    // Power iteration with Hessian-vector products: Hv = ∇⟨∇L, v⟩.
    let p: Vec<Var> = params.iter().cloned().map(Var::param).collect();
    let refs: Vec<&Var> = p.iter().collect();
    let loss = forward(&p, &x)?.mse(&y)?;
    let g = grad(&[&loss], &refs, None, GradOptions::create_graph())?;
    let mut v: Vec<Tensor> = params
        .iter()
        .map(|t| {
            Tensor::with_shape(
                (0..t.numel()).map(|_| rng.uniform() - 0.5).collect(),
                *t.shape(),
            )
        })
        .collect::<std::result::Result<_, _>>()?;
    let mut lambda = 0.0;
    for _ in 0..50 {
        let norm: f32 = v
            .iter()
            .map(|t| t.square().sum_all().data()[0])
            .sum::<f32>()
            .sqrt();
        v = v.iter().map(|t| t.mul_scalar(1.0 / norm)).collect();
        let hv = grad(&[&dot(&g, &v)?], &refs, None, GradOptions::default())?;
        lambda = hv
            .iter()
            .zip(&v)
            .map(|(h, v)| h.value().mul(v).unwrap().sum_all().data()[0])
            .sum();
        v = hv.into_iter().map(|h| h.value().clone()).collect();
    }
    println!("largest Hessian eigenvalue of the final loss: {lambda:.4}");
    println!(
        "gradient descent is stable here for learning rates below 2/λ = {:.3}",
        2.0 / lambda
    );
    println!(
        "with momentum {momentum}, below 2(1 + β)/λ = {:.3} (this run used {lr})",
        2.0 * (1.0 + momentum) / lambda
    );
    Ok(())
}
