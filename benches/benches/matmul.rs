//! Square sgemm throughput of `kernels::matmul::matmul`, single-threaded and
//! on all threads. Throughput is reported as 2·N³ elements, so criterion's
//! "Gelem/s" reads as GFLOP/s. Both run on a worker of their pool, as the
//! `ferrograd` program runs training: the calling thread takes a share of
//! the product instead of waking the pool from outside and sleeping until
//! it is done (which PyTorch's OpenMP threads do not pay either).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrograd_tensor::kernels::matmul::{matmul, Operand};

const SIZES: [usize; 5] = [64, 128, 256, 512, 1024];

/// Deterministic values of unit-ish variance.
fn fill(len: usize, phase: f32) -> Vec<f32> {
    (0..len)
        .map(|i| 1.7 * (i as f32 * 0.618 + phase).sin())
        .collect()
}

fn sgemm(c: &mut Criterion) {
    let all = rayon::current_num_threads();
    let pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    };
    let (one, every) = (pool(1), pool(all));
    let groups = [
        ("sgemm_1thread".to_string(), &one),
        (format!("sgemm_all_threads_{all}"), &every),
    ];
    for (label, pool) in groups {
        let mut group = c.benchmark_group(label);
        group
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_secs(1))
            .sample_size(20);
        for n in SIZES {
            let a = fill(n * n, 0.1);
            let b = fill(n * n, 0.7);
            let mut out = vec![0.0f32; n * n];
            group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
            group.bench_function(BenchmarkId::from_parameter(n), |bench| {
                let mut run = || {
                    let (a, b) = (
                        Operand::row_major(&a, n, n, false),
                        Operand::row_major(&b, n, n, false),
                    );
                    matmul(1, n, n, n, black_box(a), black_box(b), black_box(&mut out));
                };
                pool.install(|| bench.iter(&mut run));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, sgemm);
criterion_main!(benches);
