//! Per-op cost of the autograd engine, as in the anchors' `op_overhead` row:
//! `y = a; y = y + b` 1,000 times, then backward of `y.sum()`, with `a` and
//! `b` requiring gradients. Criterion reports the time of one chain; divide
//! by 1,000 for the cost per op (forward + backward). Also the tiny round
//! trip `(x*x).sum()` forward + backward.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ferrograd_autograd::Var;
use ferrograd_tensor::Tensor;
use std::hint::black_box;
use std::time::Duration;

const CHAIN: usize = 1000;

fn chain(a: &Var, b: &Var) {
    a.zero_grad();
    b.zero_grad();
    let mut y = a.clone();
    for _ in 0..CHAIN {
        y = y.add(b).unwrap();
    }
    y.sum_all().backward().unwrap();
}

fn op_overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("op_overhead");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    for (label, dims) in [("1x1", [1, 1]), ("64x64", [64, 64])] {
        let a = Var::param(Tensor::ones(&dims).unwrap());
        let b = Var::param(Tensor::ones(&dims).unwrap());
        g.bench_with_input(
            BenchmarkId::new("add_chain_1000", label),
            &dims,
            |bch, _| {
                bch.iter(|| chain(&a, &b));
                assert_eq!(b.grad().unwrap().data()[0], CHAIN as f32);
            },
        );
        let x = Var::param(Tensor::ones(&dims).unwrap());
        g.bench_with_input(
            BenchmarkId::new("square_sum_round_trip", label),
            &dims,
            |bch, _| {
                bch.iter(|| {
                    x.zero_grad();
                    let y = x.mul(&x).unwrap().sum_all();
                    y.backward().unwrap();
                    black_box(x.grad())
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, op_overhead);
criterion_main!(benches);
