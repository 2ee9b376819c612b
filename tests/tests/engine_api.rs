//! The engine's contract: accumulation into leaves, `no_grad`, `detach`,
//! seeds, and a typed error (never a panic) for every misuse.

use ferrograd_autograd::{grad, no_grad, Error, GradOptions, Var};
use ferrograd_tensor::{Tensor, TensorError};

fn v(data: &[f32], dims: &[usize]) -> Var {
    Var::param(Tensor::from_slice(data, dims).unwrap())
}

#[test]
fn backward_accumulates_into_leaves() {
    let x = v(&[1.0, 2.0], &[2]);
    let w = v(&[3.0, 4.0], &[2]);
    let loss = x.mul(&w).unwrap().sum_all();
    loss.backward().unwrap();
    assert_eq!(x.grad().unwrap().data(), &[3.0, 4.0]);
    assert_eq!(w.grad().unwrap().data(), &[1.0, 2.0]);
    loss.backward().unwrap();
    assert_eq!(x.grad().unwrap().data(), &[6.0, 8.0]);
    x.zero_grad();
    assert!(x.grad().is_none());
}

#[test]
fn a_shared_input_sums_its_contributions() {
    let x = v(&[3.0], &[1]);
    let y = x.mul(&x).unwrap().add(&x.exp()).unwrap().sum_all(); // x² + eˣ
    let g = grad(&[&y], &[&x], None, GradOptions::default()).unwrap();
    assert!((g[0].item().unwrap() - (6.0 + 3f32.exp())).abs() < 1e-4);
}

#[test]
fn no_grad_and_detach_record_nothing() {
    let x = v(&[1.0], &[1]);
    let y = no_grad(|| x.exp());
    assert!(!y.requires_grad() && y.is_leaf());
    let z = x.detach().mul_scalar(2.0);
    assert!(!z.requires_grad());
    assert_eq!(x.exp().sum_all().backward(), Ok(()));
    assert!(matches!(
        z.sum_all().backward(),
        Err(Error::NoGraph { index: 0 })
    ));
}

#[test]
fn without_create_graph_gradients_are_constants() {
    let x = v(&[2.0], &[1]);
    let y = x.powf(3.0).sum_all();
    let g = grad(&[&y], &[&x], None, GradOptions::default()).unwrap();
    assert!(!g[0].requires_grad());
    let g = grad(&[&y], &[&x], None, GradOptions::create_graph()).unwrap();
    assert!(g[0].requires_grad());
}

#[test]
fn misuse_gives_typed_errors() {
    let x = v(&[1.0, 2.0], &[2]);
    let unused = v(&[5.0], &[1]);
    let y = x.square();
    // Non-scalar output without a seed.
    let e = grad(&[&y], &[&x], None, GradOptions::default()).unwrap_err();
    assert!(matches!(e, Error::NonScalarOutput { .. }), "{e}");
    assert!(y.backward().is_err());
    // With a seed it works; a seed of the wrong shape is an error.
    let seed = Var::constant(Tensor::from_slice(&[1.0, 10.0], &[2]).unwrap());
    let g = grad(&[&y], &[&x], Some(&[&seed]), GradOptions::default()).unwrap();
    assert_eq!(g[0].value().data(), &[2.0, 40.0]);
    let bad = Var::scalar(1.0);
    let e = grad(&[&y], &[&x], Some(&[&bad]), GradOptions::default()).unwrap_err();
    assert!(matches!(e, Error::SeedShape { .. }), "{e}");
    // An input that does not influence the output.
    let s = y.sum_all();
    let e = grad(&[&s], &[&x, &unused], None, GradOptions::default()).unwrap_err();
    assert_eq!(e, Error::UnusedInput { index: 1 });
    assert!(e.to_string().contains("allow_unused"));
    let g = grad(
        &[&s],
        &[&x, &unused],
        None,
        GradOptions::default().allow_unused(),
    )
    .unwrap();
    assert_eq!(g[1].value().data(), &[0.0]);
    // Shape errors from the ops are typed, with both shapes in the message.
    let e = x.add(&v(&[1.0, 2.0, 3.0], &[3])).unwrap_err();
    assert!(matches!(
        e,
        Error::Tensor(TensorError::ShapeMismatch { .. })
    ));
    assert_eq!(e.to_string(), "add: incompatible shapes [2] and [3]");
    assert!(x.matmul(&x).is_err());
    assert!(x.reshape(&[3]).is_err());
}

#[test]
fn gradient_of_an_intermediate_value() {
    let x = v(&[1.0, 2.0], &[2]);
    let h = x.mul_scalar(3.0);
    let y = h.square().sum_all();
    let g = grad(&[&y], &[&h, &x], None, GradOptions::default()).unwrap();
    assert_eq!(g[0].value().data(), &[6.0, 12.0]);
    assert_eq!(g[1].value().data(), &[18.0, 36.0]);
}

#[test]
fn a_long_chain_is_freed_without_overflowing_the_stack() {
    let a = Var::param(Tensor::scalar(1.0));
    let mut y = a.clone();
    for _ in 0..200_000 {
        y = y.add_scalar(1.0);
    }
    assert_eq!(y.item().unwrap(), 200_001.0);
    let g = grad(&[&y], &[&a], None, GradOptions::default()).unwrap();
    assert_eq!(g[0].item().unwrap(), 1.0);
    drop(y);
}
