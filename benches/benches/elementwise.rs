//! Elementwise kernels: `add` and `exp` on a 64×64 matrix and on 1M elements
//! (the large case splits across rayon threads).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrograd_tensor::Tensor;
use std::hint::black_box;
use std::time::Duration;

fn filled(n: usize, seed: f32) -> Tensor {
    Tensor::from_vec(
        (0..n).map(|i| ((i as f32 + 1.0) * seed).sin()).collect(),
        &[n],
    )
    .unwrap()
}

fn elementwise(c: &mut Criterion) {
    let mut g = c.benchmark_group("elementwise");
    g.measurement_time(Duration::from_secs(2)).sample_size(30);
    for (label, n) in [("64x64", 64 * 64), ("1M", 1 << 20)] {
        let a = filled(n, 0.37);
        let b = filled(n, 0.11);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("add", label), &n, |bch, _| {
            bch.iter(|| black_box(a.add(&b).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("exp", label), &n, |bch, _| {
            bch.iter(|| black_box(a.exp()))
        });
    }
    g.finish();
}

criterion_group!(benches, elementwise);
criterion_main!(benches);
