//! The embedded runtime (`ferrograd-esp`) against the training framework:
//! the same checkpoint's log-density on 1,000 test points agrees to about
//! 1e-5 (relative to max(1, |log p|)),
//! the MAF inverse and the MDN sampler agree with the framework's, and
//! seeded samples repeat bit for bit.

use ferrograd_autograd::{no_grad, Var};
use ferrograd_esp::{AlignedBlob, Maf as RtMaf, Mdn as RtMdn, Mlp as RtMlp, Model, Rng};
use ferrograd_models::cde::config::Hidden;
use ferrograd_models::cde::data::{Dataset, SplitSizes, Splits};
use ferrograd_models::cde::maf::{DegreeRule, Maf, MafConfig, Permutation};
use ferrograd_models::cde::mdn::{DiagTransform, Mdn, MdnConfig};
use ferrograd_models::cde::model::Inner;
use ferrograd_models::cde::train::{log_prob_values, CdeConfig, CdeModel, ModelKind};
use ferrograd_models::cde::ConditionalDensity;
use ferrograd_models::export::{
    export_checkpoint, load_cde, maf_blob, mdn_blob, mlp_blob, NormStats, MODEL_PREFIX,
};
use ferrograd_models::run::{OpenMode, RunDir, Silent};
use ferrograd_nn::checkpoint::Checkpoint;
use ferrograd_nn::layers::activation::Activation;
use ferrograd_nn::{init, Forward, Mlp, Module};
use ferrograd_tensor::Tensor;

/// 1,000 banana test points (x `[N, 2]`, f `[N, 1]`).
fn banana_test() -> (Tensor, Tensor) {
    let sizes = SplitSizes {
        train: 10,
        valid: 10,
        test: 1000,
    };
    let s = Splits::new(Dataset::Banana, sizes, 7).test;
    (s.x, s.f)
}

/// Random points for any dimensions: x ~ N(0, 1.5²), f ~ U(0, 1).
fn random_points(n: usize, d: usize, c: usize, seed: u64) -> (Tensor, Tensor) {
    let mut rng = init::rng(seed);
    let x = init::normal(&[n, d], 0.0, 1.5, &mut rng);
    let f = init::uniform(&[n, c], 0.0, 1.0, &mut rng);
    (x, f)
}

/// Scales every parameter by `k`, so that a freshly initialised model has a
/// transform far from the identity.
fn scale_params(m: &dyn Module, k: f32) {
    for p in m.params() {
        let v = p.value();
        let data = v.data().iter().map(|x| x * k).collect();
        p.set(Tensor::from_vec(data, v.dims()).unwrap());
    }
}

/// How the runtime's log-densities differ from the framework's.
struct Gap {
    /// max |runtime − framework|.
    abs: f32,
    /// max |runtime − framework| / max(1, |framework|).
    rel: f32,
    /// max |framework|.
    largest: f32,
}

/// Compares the runtime with the framework (in its default, SIMD mode: the
/// one training used) on every point.
fn log_prob_gap(
    model: &Model<'_>,
    density: &dyn ConditionalDensity,
    x: &Tensor,
    f: &Tensor,
) -> Gap {
    let want = log_prob_values(density, x, f).unwrap();
    let (d, c) = (x.dims()[1], f.dims()[1]);
    let mut scratch = vec![0.0; model.scratch_len()];
    let mut gap = Gap {
        abs: 0.0,
        rel: 0.0,
        largest: 0.0,
    };
    for (i, w) in want.iter().enumerate() {
        let xi = &x.data()[i * d..(i + 1) * d];
        let fi = &f.data()[i * c..(i + 1) * c];
        let got = model.log_prob(xi, fi, &mut scratch).unwrap();
        assert!(got.is_finite() && w.is_finite(), "point {i}: {got} vs {w}");
        gap.abs = gap.abs.max((got - w).abs());
        gap.rel = gap.rel.max((got - w).abs() / w.abs().max(1.0));
        gap.largest = gap.largest.max(w.abs());
    }
    gap
}

/// The runtime of `blob` against `density` (random, scaled weights) on the
/// banana points for a 2-D, 1-feature model, else on 1,000 random points.
fn check_random_weights(
    name: &str,
    blob: &[u8],
    density: &dyn ConditionalDensity,
    banana: &(Tensor, Tensor),
) {
    let aligned = AlignedBlob::new(blob);
    let model = Model::from_bytes(aligned.bytes()).unwrap();
    let (d, c) = (density.dim(), density.features());
    let (x, f) = if d == 2 && c == 1 {
        banana.clone()
    } else {
        random_points(1000, d, c, 5)
    };
    let gap = log_prob_gap(&model, density, &x, &f);
    eprintln!(
        "{name}: blob {} bytes, scratch {} floats, max |Δ log p| = {:.3e} (relative {:.3e}, |log p| up to {})",
        blob.len(),
        model.scratch_len(),
        gap.abs,
        gap.rel,
        gap.largest
    );
    // Scaled random weights reach |log p| ~ 100, where one f32 ulp is
    // ~1e-5: compare relative to the magnitude.
    assert!(gap.rel <= 1e-5, "{name}: relative gap {}", gap.rel);
}

fn maf_config(dim: usize, features: usize, flows: usize, hidden: &[usize]) -> MafConfig {
    MafConfig {
        dim,
        features,
        flows,
        hidden: hidden.to_vec(),
        ..MafConfig::default()
    }
}

/// MAF log-densities match for several architectures, including the
/// reference one (3 flows, 32 hidden units, 2-D, 1 feature).
#[test]
fn maf_log_prob_matches_the_framework() {
    let (bx, bf) = banana_test();
    let cases = [
        ("reference 3x[32]", maf_config(2, 1, 3, &[32]), 1.5),
        ("3x[32,32]", maf_config(2, 1, 3, &[32, 32]), 1.5),
        ("5x[64,64] default", maf_config(2, 1, 5, &[64, 64]), 1.0),
        (
            "germain, random permutation, tanh, d 3, c 2",
            MafConfig {
                degrees: DegreeRule::Germain,
                permutation: Permutation::Random(9),
                activation: Activation::Tanh,
                ..maf_config(3, 2, 3, &[12, 10])
            },
            2.0,
        ),
        ("no hidden layer, d 4", maf_config(4, 1, 2, &[]), 2.0),
        ("unconditional d 1", maf_config(1, 0, 2, &[8]), 2.0),
    ];
    for (name, cfg, scale) in cases {
        let maf = Maf::new(cfg.clone(), 3).unwrap();
        scale_params(&maf, scale);
        let blob = maf_blob(&maf).unwrap();
        check_random_weights(
            &format!("maf {name}"),
            &blob,
            &maf,
            &(bx.clone(), bf.clone()),
        );
    }
}

/// The stored MAF leaves out the masked weights: smaller than the dense
/// parameter count.
#[test]
fn maf_blob_is_smaller_than_the_dense_parameters() {
    let maf = Maf::new(maf_config(2, 1, 3, &[32]), 1).unwrap();
    let blob = maf_blob(&maf).unwrap();
    let dense = 4 * maf.num_params();
    eprintln!(
        "reference MAF: blob {} bytes, dense parameters {dense} bytes",
        blob.len()
    );
    assert!(blob.len() < dense * 3 / 4, "{} vs {dense}", blob.len());
}

/// The runtime inverse equals the framework's `Maf::inverse` on the same
/// base points, and seeded samples repeat exactly.
#[test]
fn maf_inverse_and_samples() {
    let cfg = maf_config(2, 1, 3, &[16, 16]);
    let maf = Maf::new(cfg, 4).unwrap();
    scale_params(&maf, 1.5);
    let blob = maf_blob(&maf).unwrap();
    let aligned = AlignedBlob::new(&blob);
    let rt = RtMaf::from_bytes(aligned.bytes()).unwrap();
    let mut scratch = vec![0.0; rt.scratch_len()];
    let n = 200;
    let (z, f) = random_points(n, 2, 1, 11);
    let want = maf.inverse(&z, &f).unwrap();
    let mut got = [0.0f32; 2];
    for i in 0..n {
        rt.inverse(
            &z.data()[2 * i..2 * i + 2],
            &f.data()[i..i + 1],
            &mut got,
            &mut scratch,
        )
        .unwrap();
        for (j, (g, w)) in got.iter().zip(&want.data()[2 * i..2 * i + 2]).enumerate() {
            assert!(
                (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "{i},{j}: {g} vs {w}"
            );
        }
    }
    let mut a = vec![0.0; 2 * 64];
    let mut b = vec![0.0; 2 * 64];
    rt.sample(&[0.5], 64, &mut a, 42, &mut scratch).unwrap();
    rt.sample(&[0.5], 64, &mut b, 42, &mut scratch).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
    rt.sample(&[0.5], 64, &mut b, 43, &mut scratch).unwrap();
    assert_ne!(bits(&a), bits(&b));
    // The samples are the inverse of the seeded base points.
    let mut rng = Rng::new(42);
    let z0 = [rng.normal(), rng.normal()];
    rt.inverse(&z0, &[0.5], &mut got, &mut scratch).unwrap();
    assert_eq!(bits(&got), bits(&a[..2]));
}

/// MDN log-densities match for the default (floor and cap), the anchors'
/// exact form and the softplus diagonal, d = 2 and 3.
#[test]
fn mdn_log_prob_matches_the_framework() {
    let (bx, bf) = banana_test();
    let cases = [
        ("default", MdnConfig::default()),
        ("anchor", MdnConfig::anchor()),
        (
            "softplus, K 3, d 3, no hidden",
            MdnConfig {
                dim: 3,
                features: 2,
                components: 3,
                hidden: vec![],
                diag: DiagTransform::Softplus,
                ..MdnConfig::default()
            },
        ),
        (
            "relu [16, 8]",
            MdnConfig {
                hidden: vec![16, 8],
                activation: Activation::Relu,
                ..MdnConfig::default()
            },
        ),
    ];
    for (name, cfg) in cases {
        let mdn = Mdn::new(cfg.clone(), 5).unwrap();
        scale_params(&mdn, 1.5);
        let blob = mdn_blob(&mdn).unwrap();
        check_random_weights(
            &format!("mdn {name}"),
            &blob,
            &mdn,
            &(bx.clone(), bf.clone()),
        );
    }
}

/// The runtime MDN sampler picks the component the Gumbel variates choose
/// and returns μ_k + L_k⁻ᵀ ε, with the framework's μ and L.
#[test]
fn mdn_samples_follow_the_framework_parameters() {
    let cfg = MdnConfig {
        dim: 3,
        components: 4,
        ..MdnConfig::default()
    };
    let mdn = Mdn::new(cfg, 8).unwrap();
    scale_params(&mdn, 1.5);
    let blob = mdn_blob(&mdn).unwrap();
    let aligned = AlignedBlob::new(&blob);
    let rt = RtMdn::from_bytes(aligned.bytes()).unwrap();
    let mut scratch = vec![0.0; rt.scratch_len()];
    let f = [0.3f32];
    let n = 50;
    let mut got = vec![0.0; 3 * n];
    rt.sample(&f, n, &mut got, 9, &mut scratch).unwrap();
    let want = mdn_reference_samples(&mdn, &f, n, 9);
    for (s, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "sample value {s}: {g} vs {w}"
        );
    }
}

/// The samples the runtime MDN sampler should draw at features `f` with
/// `seed`, from the framework's μ and L: per sample the Gumbel-argmax
/// component k and μ_k + L_k⁻ᵀ ε, in f64.
fn mdn_reference_samples(mdn: &Mdn, f: &[f32], n: usize, seed: u64) -> Vec<f64> {
    let d = mdn.dim();
    let p = mdn
        .params_for(&Tensor::from_vec(f.to_vec(), &[1, f.len()]).unwrap())
        .unwrap();
    let (logits, means, chol) = (p.logits.data(), p.means.data(), p.chol.data());
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n * d);
    for _ in 0..n {
        let mut best = (0, f32::NEG_INFINITY);
        for (k, &l) in logits.iter().enumerate() {
            let score = l - (-rng.uniform().ln()).ln();
            if score > best.1 {
                best = (k, score);
            }
        }
        let eps: Vec<f64> = (0..d).map(|_| rng.normal() as f64).collect();
        let l = &chol[best.0 * d * d..(best.0 + 1) * d * d];
        // Solve Lᵀ y = ε (Lᵀ upper triangular) by back substitution, in f64.
        let mut y = vec![0.0f64; d];
        for i in (0..d).rev() {
            let mut v = eps[i];
            for j in i + 1..d {
                v -= l[j * d + i] as f64 * y[j];
            }
            y[i] = v / l[i * d + i] as f64;
        }
        out.extend((0..d).map(|j| means[best.0 * d + j] as f64 + y[j]));
    }
    out
}

/// A MAML sinusoid-style MLP (1-40-40-1 ReLU) gives the framework's outputs.
#[test]
fn mlp_forward_matches_the_framework() {
    for act in [Activation::Relu, Activation::Gelu, Activation::Silu] {
        let mlp = Mlp::new(&[1, 40, 40, 1], act, 2).unwrap();
        let names: Vec<String> = ["0", "2", "4"].iter().map(|s| s.to_string()).collect();
        let blob = mlp_blob(&mlp.state_dict(), &names, act).unwrap();
        let aligned = AlignedBlob::new(&blob);
        let rt = RtMlp::from_bytes(aligned.bytes()).unwrap();
        let x =
            Tensor::from_vec((0..100).map(|i| -5.0 + 0.1 * i as f32).collect(), &[100, 1]).unwrap();
        let want = no_grad(|| {
            mlp.forward(&Var::constant(x.clone()))
                .unwrap()
                .value()
                .clone()
        });
        let mut scratch = vec![0.0; rt.scratch_len()];
        let mut y = [0.0];
        for i in 0..100 {
            rt.forward(&x.data()[i..i + 1], &mut y, &mut scratch)
                .unwrap();
            let w = want.data()[i];
            assert!(
                (y[0] - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "{act}: {i}: {} vs {w}",
                y[0]
            );
        }
    }
}

/// End to end: a trained checkpoint exported by `export_checkpoint` reads
/// back and gives the framework's log-density on the 1,000 points.
#[test]
fn exported_checkpoints_match_the_framework() {
    let dir = std::env::temp_dir().join(format!("ferrograd-esp-parity-{}", std::process::id()));
    let (bx, bf) = banana_test();
    for kind in [ModelKind::Maf, ModelKind::Mdn] {
        let mut cfg = CdeConfig::new(kind, Dataset::Banana).test_sized();
        cfg.flows = 3;
        cfg.hidden = Hidden(vec![32]);
        cfg.epochs = 20;
        let run = RunDir::open(dir.join(kind.to_string()), OpenMode::Overwrite).unwrap();
        ferrograd_models::cde::train(&cfg, &run, false, true, &mut Silent).unwrap();
        let ckpt = run.best();
        let out = dir.join(format!("{kind}-export"));
        let summary = export_checkpoint(&ckpt, &out, None, None).unwrap();
        let blob = std::fs::read(out.join(format!("{kind}.bin"))).unwrap();
        assert_eq!(blob.len(), summary.blob_bytes);
        for ext in ["rs", "h"] {
            assert!(out.join(format!("{kind}.{ext}")).is_file());
        }
        // Built-in data: no normalisation, a version 1 blob as before.
        assert_eq!(u16::from_le_bytes([blob[4], blob[5]]), 1, "{kind}: version");
        let aligned = AlignedBlob::new(&blob);
        let model = Model::from_bytes(aligned.bytes()).unwrap();
        let trained = ferrograd_models::cde::load(&ckpt).unwrap().model;
        let gap = log_prob_gap(&model, &trained, &bx, &bf);
        eprintln!(
            "exported {kind} checkpoint: {} bytes, scratch {} floats, max |Δ log p| over 1,000 points = {:.3e}, relative to max(1, |log p|) {:.3e} (|log p| up to {})",
            summary.blob_bytes, summary.scratch_floats, gap.abs, gap.rel, gap.largest
        );
        // The host's vectorised exp, log and log-sum-exp round differently
        // from the device's libm: a few ulp of |log p|.
        assert!(gap.rel <= 5e-6, "{kind}: relative gap {}", gap.rel);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `alloc` conveniences give the same bits as the scratch-passing calls.
#[test]
fn alloc_conveniences_match() {
    let maf = Maf::new(maf_config(2, 1, 2, &[8]), 1).unwrap();
    let blob = maf_blob(&maf).unwrap();
    let aligned = AlignedBlob::new(&blob);
    let model = Model::from_bytes(aligned.bytes()).unwrap();
    let mut scratch = model.new_scratch();
    let mut out = vec![0.0; 10];
    model.sample(&[0.2], 5, &mut out, 3, &mut scratch).unwrap();
    assert_eq!(model.sample_vec(&[0.2], 5, 3).unwrap(), out);
    let f = [0.2f32; 5];
    let lp = model.log_prob_rows(&out, &f).unwrap();
    for (i, v) in lp.iter().enumerate() {
        let want = model
            .log_prob(&out[2 * i..2 * i + 2], &[0.2], &mut scratch)
            .unwrap();
        assert_eq!(v.to_bits(), want.to_bits());
    }
    assert!(model.log_prob_rows(&out[..3], &f).is_err());
}

/// Non-trivial normalisation statistics for d = 2, c = 1.
fn user_stats() -> NormStats {
    NormStats {
        x_mean: vec![12.5, -340.0],
        x_std: vec![3.25, 0.04],
        f_mean: vec![1500.0],
        f_std: vec![250.0],
    }
}

/// The inner MAF or MDN of a `cde` model.
fn inner(model: &CdeModel) -> &dyn Module {
    match &model.inner {
        Inner::Maf(m) => m,
        Inner::Mdn(m) => m,
    }
}

/// Saves `model` as `cde train` saves a model of user data: the inner
/// model's tensors under `prefix` (`model.`), the four normalisation
/// tensors `stats` beside them, and the metadata of a `cde` checkpoint.
fn save_user_checkpoint(
    path: &std::path::Path,
    model: &CdeModel,
    cfg: &CdeConfig,
    stats: &NormStats,
    prefix: &str,
) {
    let mut ckpt = Checkpoint::new();
    for (name, t) in inner(model).state_dict() {
        ckpt.tensors.insert(format!("{prefix}{name}"), t);
    }
    let vector = |v: &[f32]| Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap();
    for (name, v) in [
        ("x_norm.mean", &stats.x_mean),
        ("x_norm.std", &stats.x_std),
        ("f_norm.mean", &stats.f_mean),
        ("f_norm.std", &stats.f_std),
    ] {
        ckpt.tensors.insert(name.to_string(), vector(v));
    }
    ckpt.metadata = ferrograd_models::cde::model::metadata(cfg, model).unwrap();
    ckpt.save(path).unwrap();
}

/// A checkpoint of user data (model tensors under `model.`, normalisation
/// tensors beside them) exports a version 2 blob whose log-densities are
/// the framework's log p(x̃ | f̃) − Σ log σx in the user's units, within the
/// exported-checkpoint tolerance, and whose samples are μx + σx ⊙ the
/// framework's samples in model units.
#[test]
fn normalised_checkpoints_give_user_units() {
    let dir = std::env::temp_dir().join(format!("ferrograd-esp-norm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (bx, bf) = banana_test();
    let stats = user_stats();
    let log_std: f32 = stats.x_std.iter().map(|s| s.ln()).sum();
    // The banana points in the user's units, and back in model units as
    // the runtime computes them.
    let user = |t: &Tensor, mean: &[f32], std: &[f32]| {
        let w = mean.len();
        let v = t.data().iter().enumerate();
        Tensor::from_vec(
            v.map(|(i, x)| mean[i % w] + std[i % w] * x).collect(),
            t.dims(),
        )
        .unwrap()
    };
    let model_units = |t: &Tensor, mean: &[f32], std: &[f32]| {
        let w = mean.len();
        let v = t.data().iter().enumerate();
        Tensor::from_vec(
            v.map(|(i, x)| (x - mean[i % w]) / std[i % w]).collect(),
            t.dims(),
        )
        .unwrap()
    };
    let (ux, uf) = (
        user(&bx, &stats.x_mean, &stats.x_std),
        user(&bf, &stats.f_mean, &stats.f_std),
    );
    let (tx, tf) = (
        model_units(&ux, &stats.x_mean, &stats.x_std),
        model_units(&uf, &stats.f_mean, &stats.f_std),
    );
    for kind in [ModelKind::Maf, ModelKind::Mdn] {
        let mut cfg = CdeConfig::new(kind, Dataset::Banana).test_sized();
        cfg.flows = 3;
        cfg.hidden = Hidden(vec![32]);
        let model = CdeModel::from_config(&cfg, 2, 1).unwrap();
        // Far from the identity (a fresh MAF already reaches |log p| ~ 600
        // on these points).
        let scale = if kind == ModelKind::Maf { 1.0 } else { 1.5 };
        scale_params(inner(&model), scale);
        let ckpt = dir.join(format!("{kind}.safetensors"));
        save_user_checkpoint(&ckpt, &model, &cfg, &stats, MODEL_PREFIX);
        let out = dir.join(format!("{kind}-export"));
        let summary = export_checkpoint(&ckpt, &out, None, None).unwrap();
        let blob = std::fs::read(out.join(format!("{kind}.bin"))).unwrap();
        assert_eq!(u16::from_le_bytes([blob[4], blob[5]]), 2, "{kind}: version");
        let aligned = AlignedBlob::new(&blob);
        let rt = Model::from_bytes(aligned.bytes()).unwrap();
        // The exporter reads the model and statistics back as saved.
        let (loaded, norm) = load_cde(&ckpt).unwrap();
        assert_eq!(norm.as_ref(), Some(&stats));
        let plain = match (&model.inner, &loaded.inner) {
            (Inner::Maf(a), Inner::Maf(b)) => (maf_blob(a).unwrap(), maf_blob(b).unwrap()),
            (Inner::Mdn(a), Inner::Mdn(b)) => (mdn_blob(a).unwrap(), mdn_blob(b).unwrap()),
            _ => panic!("{kind}: the kind changed"),
        };
        assert_eq!(plain.0, plain.1, "{kind}: weights changed on the way");
        // μx, σx (d = 2 each) and μf, σf (c = 1 each): 6 more f32s.
        assert_eq!(blob.len(), plain.0.len() + 4 * 6);
        // log-densities: runtime(x, f) against framework(x̃, f̃) − Σ log σx.
        let want = log_prob_values(model.density_inner(), &tx, &tf).unwrap();
        let mut scratch = vec![0.0; rt.scratch_len()];
        let (mut gap, mut rel, mut largest) = (0.0f32, 0.0f32, 0.0f32);
        for (i, w) in want.iter().enumerate() {
            let got = rt
                .log_prob(
                    &ux.data()[2 * i..2 * i + 2],
                    &uf.data()[i..i + 1],
                    &mut scratch,
                )
                .unwrap();
            let w = w - log_std;
            assert!(got.is_finite() && w.is_finite(), "{kind} point {i}");
            gap = gap.max((got - w).abs());
            rel = rel.max((got - w).abs() / w.abs().max(1.0));
            largest = largest.max(w.abs());
        }
        eprintln!(
            "normalised {kind} checkpoint: blob {} bytes (plain {}), scratch {} floats, \
             max |Δ log p| over 1,000 points in user units = {gap:.3e} (relative {rel:.3e}, \
             |log p| up to {largest})",
            summary.blob_bytes,
            plain.0.len(),
            summary.scratch_floats
        );
        // As for the other random-weight checks: relative to the magnitude.
        assert!(rel <= 1e-5, "{kind}: relative gap {rel}");
        // Samples at a feature value in the user's units.
        let f_user = [stats.f_mean[0] + 0.4 * stats.f_std[0]];
        let f_tilde = [(f_user[0] - stats.f_mean[0]) / stats.f_std[0]];
        let n = 100;
        let mut got = vec![0.0; 2 * n];
        rt.sample(&f_user, n, &mut got, 17, &mut scratch).unwrap();
        let in_model_units: Vec<f64> = match &model.inner {
            Inner::Maf(m) => {
                let mut rng = Rng::new(17);
                let z: Vec<f32> = (0..2 * n).map(|_| rng.normal()).collect();
                let z = Tensor::from_vec(z, &[n, 2]).unwrap();
                let f = Tensor::from_vec(vec![f_tilde[0]; n], &[n, 1]).unwrap();
                let x = m.inverse(&z, &f).unwrap();
                x.data().iter().map(|&v| v as f64).collect()
            }
            Inner::Mdn(m) => mdn_reference_samples(m, &f_tilde, n, 17),
        };
        for (i, (g, w)) in got.iter().zip(&in_model_units).enumerate() {
            let j = i % 2;
            let want = stats.x_mean[j] as f64 + stats.x_std[j] as f64 * w;
            // The framework's tolerance in model units, scaled by σx.
            let tol = 1e-4 * stats.x_std[j] as f64 * (1.0 + w.abs()) + 1e-6 * want.abs();
            assert!(
                (*g as f64 - want).abs() <= tol,
                "{kind} sample value {i}: {g} vs {want}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad normalisation tensors are errors naming the checkpoint and the
/// tensor; model tensors outside `model.` in such a checkpoint too.
#[test]
fn bad_normalisation_checkpoints_are_clear_errors() {
    let dir = std::env::temp_dir().join(format!("ferrograd-esp-badnorm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = CdeConfig::new(ModelKind::Maf, Dataset::Banana).test_sized();
    let model = CdeModel::from_config(&cfg, 2, 1).unwrap();
    let out = dir.join("out");
    type Case = (&'static str, fn(&mut NormStats), &'static str, &'static str);
    let cases: [Case; 4] = [
        (
            "x-wide",
            |s| s.x_mean.push(0.0),
            MODEL_PREFIX,
            "x_norm.mean",
        ),
        ("f-wide", |s| s.f_std.push(1.0), MODEL_PREFIX, "f_norm.std"),
        (
            "std-zero",
            |s| s.x_std[1] = 0.0,
            MODEL_PREFIX,
            "'x_norm.std' holds 0",
        ),
        ("no-prefix", |_| {}, "", "do not fit the recorded model"),
    ];
    for (name, edit, prefix, needle) in cases {
        let mut stats = user_stats();
        edit(&mut stats);
        let ckpt = dir.join(format!("{name}.safetensors"));
        save_user_checkpoint(&ckpt, &model, &cfg, &stats, prefix);
        let err = export_checkpoint(&ckpt, &out, None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{name}: {err}");
        assert!(err.contains(&ckpt.display().to_string()), "{name}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
