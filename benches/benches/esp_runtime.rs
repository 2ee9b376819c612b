//! The embedded runtime on the host: one `log_prob` and one sample of the
//! reference MAF (3 flows, 32 hidden units, 2-D, 1 feature), the same MAF
//! with two hidden layers of 32, and the default MDN (K = 5, 2×64 tanh),
//! next to the training framework's log-density of one point.
//!
//! `cargo bench -p ferrograd-benches --bench esp_runtime`

use criterion::{criterion_group, criterion_main, Criterion};
use ferrograd_autograd::{no_grad, Var};
use ferrograd_esp::Model;
use ferrograd_models::cde::maf::{Maf, MafConfig};
use ferrograd_models::cde::mdn::{Mdn, MdnConfig};
use ferrograd_models::cde::ConditionalDensity;
use ferrograd_models::export::{maf_blob, mdn_blob};
use ferrograd_tensor::Tensor;
use std::hint::black_box;

fn bench_model(c: &mut Criterion, name: &str, blob: &[u8], density: &dyn ConditionalDensity) {
    let aligned = ferrograd_esp::AlignedBlob::new(blob);
    let model = Model::from_bytes(aligned.bytes()).expect("blob reads back");
    let mut scratch = vec![0.0; model.scratch_len()];
    let (x, f) = ([0.3f32, -0.7], [0.5f32]);
    let mut out = [0.0f32; 2];
    println!(
        "{name}: blob {} bytes, scratch {} floats ({} bytes)",
        blob.len(),
        model.scratch_len(),
        4 * model.scratch_len()
    );
    c.bench_function(&format!("esp_runtime/{name}/log_prob"), |b| {
        b.iter(|| {
            model
                .log_prob(black_box(&x), black_box(&f), &mut scratch)
                .unwrap()
        })
    });
    c.bench_function(&format!("esp_runtime/{name}/sample"), |b| {
        let mut seed = 0;
        b.iter(|| {
            seed += 1;
            model
                .sample(black_box(&f), 1, &mut out, seed, &mut scratch)
                .unwrap()
        })
    });
    let xv = Var::constant(Tensor::from_vec(x.to_vec(), &[1, 2]).unwrap());
    let fv = Var::constant(Tensor::from_vec(f.to_vec(), &[1, 1]).unwrap());
    c.bench_function(&format!("esp_runtime/{name}/framework_log_prob"), |b| {
        b.iter(|| no_grad(|| density.log_prob(black_box(&xv), black_box(&fv)).unwrap()))
    });
}

fn runtime(c: &mut Criterion) {
    for (name, hidden) in [("maf_3x32", vec![32]), ("maf_3x32x32", vec![32, 32])] {
        let cfg = MafConfig {
            flows: 3,
            hidden,
            ..MafConfig::default()
        };
        let maf = Maf::new(cfg, 1).unwrap();
        bench_model(c, name, &maf_blob(&maf).unwrap(), &maf);
    }
    let mdn = Mdn::new(MdnConfig::default(), 1).unwrap();
    bench_model(c, "mdn_5x64x64", &mdn_blob(&mdn).unwrap(), &mdn);
}

criterion_group!(benches, runtime);
criterion_main!(benches);
