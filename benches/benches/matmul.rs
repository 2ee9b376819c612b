//! Square sgemm throughput of `kernels::matmul::matmul`, single-threaded and
//! on all threads. Throughput is reported as 2·N³ elements, so criterion's
//! "Gelem/s" reads as GFLOP/s.

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
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for (label, pool) in [("sgemm_1thread", Some(&one)), ("sgemm_all_threads", None)] {
        let mut group = c.benchmark_group(if pool.is_some() {
            label.to_string()
        } else {
            format!("{label}_{all}")
        });
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
                match pool {
                    Some(p) => p.install(|| bench.iter(&mut run)),
                    None => bench.iter(&mut run),
                }
            });
        }
        group.finish();
    }
}

criterion_group!(benches, sgemm);
criterion_main!(benches);
