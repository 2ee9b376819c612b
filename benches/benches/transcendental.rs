//! Vectorised transcendental kernels (`kernels::vmath`) against the scalar
//! `libm` path (pinned with `simd::force(Some(Isa::Scalar))`): exp, tanh and
//! erf-GELU on a 4096×64 activation and on 1M elements, inputs in [−6, 6],
//! on one rayon thread (per-core speed), throughput in elements.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrograd_tensor::kernels::simd::{self, Isa};
use ferrograd_tensor::kernels::unary::{unary, UnaryOp};
use std::hint::black_box;
use std::time::Duration;

fn transcendental(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("transcendental");
    g.measurement_time(Duration::from_secs(2)).sample_size(20);
    for (label, n) in [("4096x64", 4096 * 64), ("1M", 1 << 20)] {
        let x: Vec<f32> = (0..n)
            .map(|i| ((i as f32 + 1.0) * 0.37).sin() * 6.0)
            .collect();
        let mut out = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        for (name, op) in [
            ("exp", UnaryOp::Exp),
            ("tanh", UnaryOp::Tanh),
            ("gelu_erf", UnaryOp::GeluErf),
        ] {
            for (path, isa) in [("scalar", Some(Isa::Scalar)), ("simd", None)] {
                g.bench_function(BenchmarkId::new(format!("{name}/{path}"), label), |b| {
                    simd::force(isa);
                    pool.install(|| b.iter(|| unary(op, black_box(&x), &mut out)));
                    simd::force(None);
                });
            }
        }
    }
    g.finish();
}

criterion_group!(benches, transcendental);
criterion_main!(benches);
