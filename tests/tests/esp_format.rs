//! The `ferrograd-esp` blob parser: valid blobs of every kind evaluate as
//! their f64 references do, every `Error` value is reachable and reported
//! for the right reason, and no byte sequence — random corruption, or a
//! re-framed blob whose header words or payload were edited behind a fresh
//! CRC — makes the parser or a parsed model panic. Also the Rust and C
//! sources `export` writes around a blob.
//!
//! The two fuzz tests run `ESP_FUZZ_CASES` cases each (default 10 000) and
//! print how many blobs they tried (`--nocapture` shows it).

mod common_esp;

use common_esp::{
    all_blobs, fix_crc, frame, maf_blob, maf_model, mdn_blob, mdn_models, mlp_blob,
    normalised_blobs, split, with_payload, with_words, Aligned, Dense, MafModel, MdnModel,
    MlpModel, Parts, Stats,
};
use ferrograd_esp::export::{self, DenseLayer, MdnSpec};
use ferrograd_esp::format::{self, crc32, Kind, MAGIC, PREAMBLE, TRAILER, VERSION, VERSION_PLAIN};
use ferrograd_esp::{Error, Maf, Mdn, Mlp, Model, ResMlp, Rng};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

// ------------------------------------------------------------------ helpers

/// Fixed inputs: `n` (x, features) pairs from a seeded generator.
fn points(n: usize, dim: usize, features: usize, seed: u64) -> Vec<(Vec<f32>, Vec<f32>)> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let x = (0..dim).map(|_| 1.5 * rng.normal()).collect();
            let f = (0..features).map(|_| rng.uniform() * 2.0 - 1.0).collect();
            (x, f)
        })
        .collect()
}

fn close(got: f32, want: f64, what: &str) {
    let tol = 2e-4 * (1.0 + want.abs());
    assert!(
        (got as f64 - want).abs() <= tol,
        "{what}: runtime {got}, reference {want}"
    );
}

fn inconsistent(r: Result<impl std::fmt::Debug, Error>, needle: &str, case: &str) {
    match r {
        Err(Error::Inconsistent(why)) => assert!(
            why.contains(needle),
            "{case}: Inconsistent({why:?}) does not mention {needle:?}"
        ),
        other => panic!("{case}: expected Inconsistent(..{needle}..), got {other:?}"),
    }
}

/// Word indices of a MAF header: per layer (width, reads-features, groups,
/// first (rows, prefix) pair), and where the permutations start.
struct MafWords {
    layers: Vec<[usize; 4]>,
    perms: usize,
}

fn maf_words(words: &[u32]) -> MafWords {
    let n_layers = words[5] as usize;
    let mut at = 6;
    let mut layers = Vec::new();
    for _ in 0..n_layers {
        layers.push([at, at + 1, at + 2, at + 3]);
        at += 3 + 2 * words[at + 2] as usize;
    }
    MafWords { layers, perms: at }
}

// ------------------------------------------------------------- valid blobs

#[test]
fn mlp_blob_matches_the_reference() {
    let model = MlpModel::new(1, &[3, 5, 4, 2]);
    let blob = Aligned::new(&model.blob());
    let mlp = Mlp::from_bytes(blob.bytes()).unwrap();
    assert_eq!((mlp.inputs(), mlp.outputs()), (3, 2));
    assert_eq!(mlp.activation(), model.activation);
    assert_eq!(mlp.scratch_len(), 2 * 5);
    let mut scratch = vec![0.0; mlp.scratch_len()];
    for (x, _) in points(16, 3, 0, 11) {
        let mut y = [0.0; 2];
        mlp.forward(&x, &mut y, &mut scratch).unwrap();
        for (g, w) in y.iter().zip(model.forward(&x)) {
            close(*g, w, "mlp output");
        }
    }
}

#[test]
fn maf_blobs_match_the_masked_reference() {
    // (dim, features, flows, hidden): one and two hidden layers, and none
    // (the output layer then reads the features).
    let configs: [(usize, usize, usize, &[usize]); 5] = [
        (2, 1, 2, &[8]),
        (3, 1, 3, &[6, 6]),
        (3, 1, 2, &[]),
        (1, 1, 2, &[4]),
        (3, 0, 2, &[6]),
    ];
    for (seed, &(d, c, flows, hidden)) in configs.iter().enumerate() {
        let model = MafModel::new(100 + seed as u64, d, c, flows, hidden);
        let blob = Aligned::new(&model.blob());
        let maf = Maf::from_bytes(blob.bytes()).unwrap();
        let case = format!("MAF d {d} c {c} flows {flows} hidden {hidden:?}");
        assert_eq!(
            (maf.dim(), maf.features(), maf.flows()),
            (d, c, flows),
            "{case}"
        );
        let widest = hidden.iter().copied().chain([2 * d]).max().unwrap();
        assert_eq!(maf.scratch_len(), 2 * (c + widest) + 2 * d, "{case}");
        let mut scratch = vec![0.0; maf.scratch_len()];
        for (x, f) in points(12, d, c, seed as u64) {
            let lp = maf.log_prob(&x, &f, &mut scratch).unwrap();
            close(lp, model.log_prob(&x, &f), &case);
            // The inverse undoes the reference's density transform.
            let mut back = vec![0.0; d];
            maf.inverse(&x, &f, &mut back, &mut scratch).unwrap();
            for (z, w) in model.forward(&back, &f).iter().zip(&x) {
                close(*w, *z, &format!("{case}: forward(inverse(z))"));
            }
        }
        // Samples are the inverse of the seeded base points.
        let f = points(1, 0, c, 99)[0].1.clone();
        let mut samples = vec![0.0; 4 * d];
        maf.sample(&f, 4, &mut samples, 7, &mut scratch).unwrap();
        let mut rng = Rng::new(7);
        for row in samples.chunks_exact(d) {
            let z: Vec<f32> = (0..d).map(|_| rng.normal()).collect();
            let mut x = vec![0.0; d];
            maf.inverse(&z, &f, &mut x, &mut scratch).unwrap();
            assert_eq!(bits(row), bits(&x), "{case}: sample");
        }
    }
}

#[test]
fn mdn_blobs_match_the_reference() {
    for (i, model) in mdn_models().iter().enumerate() {
        let blob = Aligned::new(&model.blob());
        let mdn = Mdn::from_bytes(blob.bytes()).unwrap();
        let case = format!(
            "MDN {i} ({:?}, min_diag {}, cap {:?})",
            model.diag, model.min_diag, model.cap
        );
        assert_eq!(
            (mdn.dim(), mdn.features(), mdn.components()),
            (2, 1, 3),
            "{case}"
        );
        let mut scratch = vec![0.0; mdn.scratch_len()];
        for (x, f) in points(12, 2, 1, 50 + i as u64) {
            let lp = mdn.log_prob(&x, &f, &mut scratch).unwrap();
            close(lp, model.log_prob(&x, &f), &case);
        }
        let mut out = vec![0.0; 6];
        mdn.sample(&[0.3], 3, &mut out, 5, &mut scratch).unwrap();
        assert!(out.iter().all(|v| v.is_finite()), "{case}: samples {out:?}");
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

// ----------------------------------------------------------- normalisation

/// A version 2 MAF is the version 1 MAF in the user's units: log p(x | f)
/// = log p̃(x̃ | f̃) − Σ log σx (against the f64 reference too), and the
/// inverse and samples are μx + σx ⊙ (the plain model's), bit for bit.
#[test]
fn normalised_maf_is_the_plain_maf_in_user_units() {
    for (seed, (d, c, hidden)) in [(3, 1, &[6, 6][..]), (2, 2, &[8][..]), (2, 0, &[])]
        .into_iter()
        .enumerate()
    {
        let model = MafModel::new(40 + seed as u64, d, c, 3, hidden);
        let stats = Stats::random(seed as u64, d, c);
        let (pb, nb) = (model.blob(), model.blob_with(&stats));
        assert_eq!((split(&pb).version, split(&nb).version), (1, 2));
        assert_eq!(nb.len(), pb.len() + 4 * (2 * d + 2 * c));
        let (pa, na) = (Aligned::new(&pb), Aligned::new(&nb));
        let plain = Maf::from_bytes(pa.bytes()).unwrap();
        let normed = Maf::from_bytes(na.bytes()).unwrap();
        assert_eq!(plain.normalisation(), None);
        assert_eq!(normed.normalisation(), Some(stats.view()));
        assert_eq!(normed.scratch_len(), plain.scratch_len() + c);
        let mut scratch = vec![0.0; normed.scratch_len()];
        let case = format!("normalised MAF d {d} c {c}");
        for (x0, f) in points(20, d, c, 70 + seed as u64) {
            // A point in the user's units.
            let x = stats.denormalise(&x0);
            let (xt, ft) = (stats.x_tilde(&x), stats.f_tilde(&f));
            let got = normed.log_prob(&x, &f, &mut scratch).unwrap();
            let want = plain.log_prob(&xt, &ft, &mut scratch).unwrap() as f64;
            close(got, want - stats.log_std_sum(), &case);
            close(got, model.log_prob(&xt, &ft) - stats.log_std_sum(), &case);
            let mut a = vec![0.0; d];
            let mut b = vec![0.0; d];
            normed.inverse(&x0, &f, &mut a, &mut scratch).unwrap();
            plain.inverse(&x0, &ft, &mut b, &mut scratch).unwrap();
            assert_eq!(bits(&a), bits(&stats.denormalise(&b)), "{case}: inverse");
        }
        let f = points(1, 0, c, 5)[0].1.clone();
        let mut a = vec![0.0; 6 * d];
        let mut b = vec![0.0; 6 * d];
        normed.sample(&f, 6, &mut a, 11, &mut scratch).unwrap();
        plain
            .sample(&stats.f_tilde(&f), 6, &mut b, 11, &mut scratch)
            .unwrap();
        assert_eq!(bits(&a), bits(&stats.denormalise(&b)), "{case}: samples");
    }
}

/// The same for the MDN (every diagonal variant).
#[test]
fn normalised_mdn_is_the_plain_mdn_in_user_units() {
    for (i, model) in mdn_models().iter().enumerate() {
        let (d, c) = (model.dim, model.features);
        let stats = Stats::random(60 + i as u64, d, c);
        let (pb, nb) = (model.blob(), model.blob_with(&stats));
        assert_eq!((split(&pb).version, split(&nb).version), (1, 2));
        let (pa, na) = (Aligned::new(&pb), Aligned::new(&nb));
        let plain = Mdn::from_bytes(pa.bytes()).unwrap();
        let normed = Mdn::from_bytes(na.bytes()).unwrap();
        assert_eq!(plain.normalisation(), None);
        assert_eq!(normed.normalisation(), Some(stats.view()));
        assert_eq!(normed.scratch_len(), plain.scratch_len() + c);
        let mut scratch = vec![0.0; normed.scratch_len()];
        let case = format!("normalised MDN {i}");
        for (x0, f) in points(20, d, c, 80 + i as u64) {
            let x = stats.denormalise(&x0);
            let (xt, ft) = (stats.x_tilde(&x), stats.f_tilde(&f));
            let got = normed.log_prob(&x, &f, &mut scratch).unwrap();
            let want = plain.log_prob(&xt, &ft, &mut scratch).unwrap() as f64;
            close(got, want - stats.log_std_sum(), &case);
            close(got, model.log_prob(&xt, &ft) - stats.log_std_sum(), &case);
        }
        let f = [0.4f32];
        let mut a = vec![0.0; 5 * d];
        let mut b = vec![0.0; 5 * d];
        normed.sample(&f, 5, &mut a, 3, &mut scratch).unwrap();
        plain
            .sample(&stats.f_tilde(&f), 5, &mut b, 3, &mut scratch)
            .unwrap();
        assert_eq!(bits(&a), bits(&stats.denormalise(&b)), "{case}: samples");
    }
}

/// A σ that is 0, negative, subnormal-negative, NaN or infinite, or a μ
/// that is NaN or infinite, is `Inconsistent` with its own message (also
/// through `Model`), and the encoder refuses to write either.
#[test]
fn bad_normalisation_is_inconsistent() {
    for (name, blob) in normalised_blobs() {
        let parts = split(&blob);
        let np = parts.payload.len();
        let (d, c) = if name.starts_with("maf") {
            (3, 1)
        } else {
            (2, 1)
        };
        // Payload tail: μx [d], σx [d], μf [c], σf [c].
        let x_mean = np - 2 * d - 2 * c;
        let (x_std, f_mean, f_std) = (x_mean + d, x_mean + 2 * d, x_mean + 2 * d + c);
        let bad_std = [0.0, -0.0, -1.5, -1e-45, f32::NAN, f32::INFINITY];
        for at in [x_std, x_std + d - 1, f_std] {
            for v in bad_std {
                let b = with_payload(&blob, |p| p[at] = v.to_bits());
                let b = Aligned::new(&b);
                let case = format!("{name}: std {v} at {at}");
                inconsistent(
                    Model::from_bytes(b.bytes()),
                    "std must be finite and > 0",
                    &case,
                );
            }
        }
        for at in [x_mean, f_mean] {
            for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let b = with_payload(&blob, |p| p[at] = v.to_bits());
                let b = Aligned::new(&b);
                let case = format!("{name}: mean {v} at {at}");
                inconsistent(Model::from_bytes(b.bytes()), "mean is not finite", &case);
            }
        }
        // Any finite mean and positive std parse.
        let b = with_payload(&blob, |p| {
            p[x_mean] = (-1e30f32).to_bits();
            p[x_std] = 1e-30f32.to_bits();
        });
        assert!(
            Model::from_bytes(Aligned::new(&b).bytes()).is_ok(),
            "{name}"
        );
        // Without its normalisation arrays, or with one short, a version 2
        // blob is too short; its arrays after the header's are too long.
        let b = with_payload(&blob, |p| p.truncate(x_mean));
        inconsistent(Model::from_bytes(Aligned::new(&b).bytes()), "shorter", name);
        let b = with_payload(&blob, |p| p.truncate(np - 1));
        inconsistent(Model::from_bytes(Aligned::new(&b).bytes()), "shorter", name);
        let mut v1 = parts.clone();
        v1.version = VERSION_PLAIN;
        let b = frame(&v1);
        inconsistent(Model::from_bytes(Aligned::new(&b).bytes()), "longer", name);
        // Dropping the arrays and the version gives the plain model.
        v1.payload.truncate(x_mean);
        let b = frame(&v1);
        let b = Aligned::new(&b);
        let m = Model::from_bytes(b.bytes()).unwrap();
        let plain = match m {
            Model::Maf(m) => m.normalisation(),
            Model::Mdn(m) => m.normalisation(),
            Model::Mlp(_) | Model::ResMlp(_) => unreachable!(),
        };
        assert_eq!(plain, None, "{name}");
    }
    // The encoder checks the statistics and their lengths.
    let model = maf_model();
    let good = Stats::random(1, 3, 1);
    type Edit = fn(&mut Stats);
    let cases: [(&str, Edit); 5] = [
        ("x std", |s| s.x_std[1] = 0.0),
        ("feature std", |s| s.f_std[0] = -2.0),
        ("x mean", |s| s.x_mean[0] = f32::NAN),
        ("feature mean", |s| s.f_mean[0] = f32::INFINITY),
        ("x mean has 2 values", |s| {
            s.x_mean.pop();
        }),
    ];
    for (what, edit) in cases {
        let mut s = good.clone();
        edit(&mut s);
        let spec = export::MafSpec {
            normalisation: Some(s.view()),
            ..model.spec()
        };
        let err = export::encode_maf(&spec).unwrap_err();
        assert!(err.0.contains(what), "{what}: {err}");
    }
}

/// Version 1 blobs still parse (as the identity), version 2 MLPs read as
/// version 1 ones, and the encoder writes version 1 without a
/// normalisation: the blobs of models without one are unchanged.
#[test]
fn version_1_blobs_still_parse() {
    for (name, blob) in all_blobs() {
        assert_eq!(split(&blob).version, VERSION_PLAIN, "{name}");
        let b = Aligned::new(&blob);
        match Model::from_bytes(b.bytes()).unwrap() {
            Model::Maf(m) => assert_eq!(m.normalisation(), None),
            Model::Mdn(m) => assert_eq!(m.normalisation(), None),
            Model::Mlp(_) | Model::ResMlp(_) => {}
        }
    }
    let mlp = mlp_blob();
    let mut parts = split(&mlp);
    parts.version = VERSION;
    let v2 = frame(&parts);
    let (a, b) = (Aligned::new(&mlp), Aligned::new(&v2));
    let (a, b) = (
        Mlp::from_bytes(a.bytes()).unwrap(),
        Mlp::from_bytes(b.bytes()).unwrap(),
    );
    let mut scratch = vec![0.0; a.scratch_len()];
    let (mut ya, mut yb) = ([0.0; 2], [0.0; 2]);
    a.forward(&[0.1, 0.2, 0.3], &mut ya, &mut scratch).unwrap();
    b.forward(&[0.1, 0.2, 0.3], &mut yb, &mut scratch).unwrap();
    assert_eq!(bits(&ya), bits(&yb));
}

/// Every call gives the same bits whatever the scratch held before, and
/// with a scratch longer than needed.
#[test]
fn results_do_not_depend_on_the_scratch_contents() {
    for (name, blob) in all_blobs() {
        let blob = Aligned::new(&blob);
        let model = Model::from_bytes(blob.bytes()).unwrap();
        let run = |fill: f32, extra: usize| -> Vec<u32> {
            let mut scratch = vec![fill; model.scratch_len() + extra];
            let mut out = Vec::new();
            for (x, f) in points(4, model.dim(), model.features(), 3) {
                match model {
                    Model::Mlp(m) => {
                        let mut y = vec![0.0; m.outputs()];
                        m.forward(&x, &mut y, &mut scratch).unwrap();
                        out.extend(y);
                    }
                    _ => {
                        out.push(model.log_prob(&x, &f, &mut scratch).unwrap());
                        let mut s = vec![0.0; 3 * model.dim()];
                        model.sample(&f, 3, &mut s, 1, &mut scratch).unwrap();
                        out.extend(s);
                    }
                }
            }
            bits(&out)
        };
        let base = run(0.0, 0);
        assert_eq!(base, run(f32::NAN, 0), "{name}: NaN-filled scratch");
        assert_eq!(base, run(1e30, 0), "{name}: 1e30-filled scratch");
        assert_eq!(base, run(f32::NAN, 17), "{name}: longer scratch");
    }
}

#[test]
fn model_dispatches_on_the_kind() {
    let expect = [(Kind::Mlp, 3, 2), (Kind::Maf, 3, 1), (Kind::Mdn, 2, 1)];
    for ((name, blob), (kind, dim, features)) in all_blobs().into_iter().zip(expect) {
        let blob = Aligned::new(&blob);
        let model = Model::from_bytes(blob.bytes()).unwrap();
        assert_eq!(model.kind(), kind, "{name}");
        assert_eq!((model.dim(), model.features()), (dim, features), "{name}");
        let scratch = match model {
            Model::Mlp(m) => m.scratch_len(),
            Model::ResMlp(m) => m.scratch_len(),
            Model::Maf(m) => m.scratch_len(),
            Model::Mdn(m) => m.scratch_len(),
        };
        assert_eq!(model.scratch_len(), scratch, "{name}");
        assert_eq!(format::parse(blob.bytes()).unwrap().kind, kind, "{name}");
    }
    // A density call on an MLP is the wrong kind.
    let blob = Aligned::new(&mlp_blob());
    let model = Model::from_bytes(blob.bytes()).unwrap();
    let mut scratch = vec![0.0; model.scratch_len()];
    let wrong = Error::WrongKind {
        expected: Kind::Maf,
        found: Kind::Mlp,
    };
    assert_eq!(
        model.log_prob(&[0.0; 3], &[0.0; 2], &mut scratch),
        Err(wrong)
    );
    assert_eq!(
        model.sample(&[0.0; 2], 1, &mut [0.0; 3], 0, &mut scratch),
        Err(wrong)
    );
}

// ------------------------------------------------------- one test per error

#[test]
fn truncated_before_the_preamble() {
    let blob = mlp_blob();
    for len in [0, 1, 4, 16, 19] {
        let b = Aligned::new(&blob[..len]);
        assert_eq!(
            Model::from_bytes(b.bytes()).unwrap_err(),
            Error::Truncated {
                needed: 20,
                got: len
            },
            "length {len}"
        );
    }
}

#[test]
fn truncated_before_the_announced_length() {
    for (name, blob) in all_blobs() {
        let n = blob.len();
        for len in [20, n / 2, n - 4, n - 1] {
            let b = Aligned::new(&blob[..len]);
            assert_eq!(
                Model::from_bytes(b.bytes()).unwrap_err(),
                Error::Truncated {
                    needed: n,
                    got: len
                },
                "{name} cut to {len} of {n} bytes"
            );
        }
    }
}

#[test]
fn oversized_by_a_trailing_byte() {
    for (name, blob) in all_blobs() {
        let n = blob.len();
        for extra in [&[0u8][..], &[0xff], &[1, 2, 3, 4]] {
            let b = Aligned::new(&[&blob[..], extra].concat());
            assert_eq!(
                Model::from_bytes(b.bytes()).unwrap_err(),
                Error::Oversized {
                    expected: n,
                    got: n + extra.len()
                },
                "{name} + {extra:?}"
            );
        }
    }
}

#[test]
fn bad_magic() {
    let mut blob = maf_blob();
    blob[0] = b'X';
    let b = Aligned::new(&blob);
    assert_eq!(
        Maf::from_bytes(b.bytes()).unwrap_err(),
        Error::BadMagic(*b"XGRT")
    );
    // Even a blob too short for its announced length is rejected by the
    // magic first (the preamble is checked in order).
    let b = Aligned::new(b"\0\0\0\0 not a model blob at all");
    assert_eq!(
        Model::from_bytes(b.bytes()).unwrap_err(),
        Error::BadMagic([0; 4])
    );
}

#[test]
fn unsupported_version() {
    for version in [0, 3, u16::MAX] {
        let mut parts = split(&mlp_blob());
        parts.version = version;
        let blob = frame(&parts); // the CRC is right: only the version is wrong
        let b = Aligned::new(&blob);
        assert_eq!(
            Model::from_bytes(b.bytes()).unwrap_err(),
            Error::UnsupportedVersion(version)
        );
    }
    // The version is checked before the length and the CRC.
    let mut blob = mlp_blob();
    blob[4..6].copy_from_slice(&3u16.to_le_bytes());
    blob.truncate(30);
    let b = Aligned::new(&blob);
    assert_eq!(
        Mlp::from_bytes(b.bytes()).unwrap_err(),
        Error::UnsupportedVersion(3)
    );
}

#[test]
fn unknown_kind() {
    for kind in [0, 5, 0x100, u16::MAX] {
        let mut parts = split(&mdn_blob());
        parts.kind = kind;
        let b = Aligned::new(&frame(&parts));
        assert_eq!(
            Model::from_bytes(b.bytes()).unwrap_err(),
            Error::UnknownKind(kind)
        );
        assert_eq!(
            Mdn::from_bytes(b.bytes()).unwrap_err(),
            Error::UnknownKind(kind)
        );
    }
}

#[test]
fn wrong_kind() {
    let (mlp, maf, mdn) = (
        Aligned::new(&mlp_blob()),
        Aligned::new(&maf_blob()),
        Aligned::new(&mdn_blob()),
    );
    let wrong = |expected, found| Error::WrongKind { expected, found };
    assert_eq!(
        Maf::from_bytes(mlp.bytes()).unwrap_err(),
        wrong(Kind::Maf, Kind::Mlp)
    );
    assert_eq!(
        Mdn::from_bytes(mlp.bytes()).unwrap_err(),
        wrong(Kind::Mdn, Kind::Mlp)
    );
    assert_eq!(
        Mlp::from_bytes(maf.bytes()).unwrap_err(),
        wrong(Kind::Mlp, Kind::Maf)
    );
    assert_eq!(
        Mdn::from_bytes(maf.bytes()).unwrap_err(),
        wrong(Kind::Mdn, Kind::Maf)
    );
    assert_eq!(
        Mlp::from_bytes(mdn.bytes()).unwrap_err(),
        wrong(Kind::Mlp, Kind::Mdn)
    );
    assert_eq!(
        Maf::from_bytes(mdn.bytes()).unwrap_err(),
        wrong(Kind::Maf, Kind::Mdn)
    );
}

#[test]
fn bad_checksum() {
    for (name, blob) in all_blobs() {
        let n = blob.len();
        let stored = u32::from_le_bytes(blob[n - 4..].try_into().unwrap());
        // One payload bit, one header-word bit, one bit of the CRC itself.
        for bit in [8 * (n - 9) + 3, 8 * PREAMBLE + 1, 8 * (n - 1) + 7] {
            let mut bad = blob.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let b = Aligned::new(&bad);
            let (stored, computed) = if bit / 8 >= n - 4 {
                (u32::from_le_bytes(bad[n - 4..].try_into().unwrap()), stored)
            } else {
                (stored, crc32(&bad[..n - 4]))
            };
            assert_ne!(stored, computed);
            assert_eq!(
                Model::from_bytes(b.bytes()).unwrap_err(),
                Error::BadChecksum { stored, computed },
                "{name}, bit {bit} flipped"
            );
        }
    }
}

#[test]
fn misaligned() {
    for (name, blob) in all_blobs() {
        for offset in 1..4 {
            let b = Aligned::at_offset(&blob, offset);
            assert_eq!(b.bytes(), &blob[..]);
            assert_ne!(b.bytes().as_ptr() as usize % 4, 0);
            assert_eq!(
                Model::from_bytes(b.bytes()).unwrap_err(),
                Error::Misaligned,
                "{name} at +{offset}"
            );
        }
        // Checked after the checksum: a corrupt misaligned blob is a bad checksum.
        let mut bad = blob.clone();
        bad[PREAMBLE] ^= 1;
        let b = Aligned::at_offset(&bad, 1);
        assert!(
            matches!(Model::from_bytes(b.bytes()), Err(Error::BadChecksum { .. })),
            "{name}"
        );
    }
}

#[test]
fn inconsistent_mlp_headers() {
    let blob = mlp_blob();
    // words: activation, L, n0..nL = [tanh, 3, 3, 5, 4, 2]
    assert_eq!(&split(&blob).words[1..], &[3, 3, 5, 4, 2]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "hidden width 5 -> 6",
            with_words(&blob, |w| w[3] = 6),
            "payload is shorter",
        ),
        (
            "output width 2 -> 1",
            with_words(&blob, |w| w[5] = 1),
            "payload is longer",
        ),
        (
            "zero layers",
            with_words(&blob, |w| w[1] = 0),
            "at least one layer",
        ),
        (
            "more layers than widths",
            with_words(&blob, |w| w[1] = 4),
            "header words end early",
        ),
        (
            "u32::MAX layers",
            with_words(&blob, |w| w[1] = u32::MAX),
            "header words end early",
        ),
        (
            "fewer layers than widths",
            with_words(&blob, |w| w[1] = 2),
            "unread header words",
        ),
        (
            "zero width",
            with_words(&blob, |w| w[3] = 0),
            "width is zero",
        ),
        (
            "unknown activation",
            with_words(&blob, |w| w[0] = 99),
            "activation",
        ),
        (
            "extra header word",
            with_words(&blob, |w| w.push(0)),
            "unread header words",
        ),
        (
            "no header words",
            with_words(&blob, |w| w.clear()),
            "header words end early",
        ),
        (
            "payload one short",
            with_payload(&blob, |p| {
                p.pop();
            }),
            "payload is shorter",
        ),
        (
            "payload one long",
            with_payload(&blob, |p| p.push(0)),
            "payload is longer",
        ),
    ];
    for (case, bad, needle) in cases {
        let b = Aligned::new(&bad);
        inconsistent(Mlp::from_bytes(b.bytes()), needle, case);
        inconsistent(Model::from_bytes(b.bytes()), needle, case);
    }
}

#[test]
fn inconsistent_maf_headers() {
    let blob = maf_blob();
    let words = split(&blob).words;
    let at = maf_words(&words);
    // d 3, c 1, 3 flows, 3 layers: the first reads the features, so its
    // inputs are c + d = 4; its last group (hidden degree 2) reads the
    // feature and x₁, x₂.
    assert_eq!(&words[..3], &[3, 1, 3]);
    assert_eq!(words[5], 3);
    let [_, flag0, groups0, pair0] = at.layers[0];
    assert_eq!(words[flag0], 1);
    let last_prefix0 = pair0 + 2 * (words[groups0] as usize - 1) + 1;
    assert_eq!(words[last_prefix0], 3);
    let [width_out, _, groups_out, pair_out] = at.layers[2];
    let last_rows_out = pair_out + 2 * (words[groups_out] as usize - 1);
    let p = at.perms;
    let set = |i: usize, v: u32| with_words(&blob, move |w| w[i] = v);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "permutation repeats an index",
            with_words(&blob, |w| w[p + 1] = w[p]),
            "not a permutation",
        ),
        (
            "permutation index = dim",
            set(p + 2, 3),
            "not a permutation",
        ),
        (
            "permutation index u32::MAX",
            set(p, u32::MAX),
            "not a permutation",
        ),
        (
            "second permutation repeats",
            with_words(&blob, |w| w[p + 5] = w[p + 3]),
            "not a permutation",
        ),
        (
            "group prefix = inputs + 1",
            set(last_prefix0, 5),
            "reads more inputs",
        ),
        (
            "group prefix u32::MAX",
            set(last_prefix0, u32::MAX),
            "reads more inputs",
        ),
        ("group with no rows", set(pair0, 0), "no rows"),
        (
            "rows do not add up to width",
            with_words(&blob, |w| w[at.layers[0][0]] += 1),
            "do not add up",
        ),
        (
            "zero width and no groups",
            with_words(&blob, |w| {
                let [width, _, groups, pair] = at.layers[0];
                let n = 2 * w[groups] as usize;
                w.drain(pair..pair + n);
                w[width] = 0;
                w[groups] = 0;
            }),
            "do not add up",
        ),
        (
            "output layer is not 2d wide",
            with_words(&blob, |w| {
                w[width_out] += 1;
                w[last_rows_out] += 1;
            }),
            "2·dim",
        ),
        ("dim 0", set(0, 0), "dim must be"),
        ("dim 1025", set(0, 1025), "dim must be"),
        ("dim u32::MAX", set(0, u32::MAX), "dim must be"),
        ("zero flows", set(2, 0), "at least one flow"),
        (
            "more flows than permutations",
            set(2, 4),
            "header words end early",
        ),
        (
            "fewer flows than permutations",
            set(2, 2),
            "unread header words",
        ),
        ("zero layers", set(5, 0), "output layer"),
        ("bound 0", set(4, 0f32.to_bits()), "bound"),
        ("bound -1", set(4, (-1f32).to_bits()), "bound"),
        ("bound NaN", set(4, f32::NAN.to_bits()), "bound"),
        ("bound inf", set(4, f32::INFINITY.to_bits()), "bound"),
        ("reads-features flag 2", set(flag0, 2), "flag"),
        ("unknown activation", set(3, 8), "activation"),
        (
            "extra header word",
            with_words(&blob, |w| w.push(0)),
            "unread header words",
        ),
        (
            "last permutation word missing",
            with_words(&blob, |w| {
                w.pop();
            }),
            "header words end early",
        ),
        (
            "u32::MAX groups",
            set(groups0, u32::MAX),
            "header words end early",
        ),
        (
            "payload one short",
            with_payload(&blob, |p| {
                p.pop();
            }),
            "payload is shorter",
        ),
        (
            "payload one long",
            with_payload(&blob, |p| p.push(0)),
            "payload is longer",
        ),
    ];
    for (case, bad, needle) in cases {
        let b = Aligned::new(&bad);
        inconsistent(Maf::from_bytes(b.bytes()), needle, case);
        inconsistent(Model::from_bytes(b.bytes()), needle, case);
    }
}

#[test]
fn inconsistent_mdn_headers() {
    let model = &mdn_models()[0]; // exp, min_diag 0, no cap
    let blob = model.blob();
    // c, d, K, activation, diag, min_diag, capped, cap, H, widths [1, 8, 18]
    assert_eq!(&split(&blob).words[..3], &[1, 2, 3]);
    assert_eq!(&split(&blob).words[8..], &[1, 1, 8, 18]);
    let set = |i: usize, v: u32| with_words(&blob, move |w| w[i] = v);
    // A head one unit short, encoded consistently otherwise.
    let mut short = model.clone();
    short.layers[1] = Dense::random(&mut common_esp::rng(9), 8, 17);
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("head width 17", short.blob(), "head width"),
        ("head width 18 for K 4", set(2, 4), "head width"),
        ("head width 18 for d 3", set(1, 3), "head width"),
        (
            "features 2, input width 1",
            set(0, 2),
            "input width differs",
        ),
        ("features 0", set(0, 0), "must be positive"),
        ("dim 0", set(1, 0), "must be positive"),
        ("dim 1025", set(1, 1025), "must be positive"),
        ("components 0", set(2, 0), "must be positive"),
        ("unknown activation", set(3, 8), "activation"),
        ("diag transform 2", set(4, 2), "diagonal transform"),
        ("min_diag -1", set(5, (-1f32).to_bits()), "min_diag"),
        ("min_diag NaN", set(5, f32::NAN.to_bits()), "min_diag"),
        ("min_diag inf", set(5, f32::INFINITY.to_bits()), "min_diag"),
        ("softplus with min_diag 0", set(4, 1), "softplus diagonal"),
        ("cap flag 2", set(6, 2), "flag"),
        (
            "two hidden layers, widths for one",
            set(8, 2),
            "header words end early",
        ),
        (
            "no hidden layer, widths for one",
            set(8, 0),
            "unread header words",
        ),
        (
            "u32::MAX hidden layers",
            set(8, u32::MAX),
            "header words end early",
        ),
        ("zero width", set(10, 0), "width is zero"),
        (
            "payload one short",
            with_payload(&blob, |p| {
                p.pop();
            }),
            "payload is shorter",
        ),
        (
            "payload one long",
            with_payload(&blob, |p| p.push(0)),
            "payload is longer",
        ),
    ];
    for cap in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        cases.push((
            "capped with a non-finite cap",
            with_words(&blob, |w| {
                w[6] = 1;
                w[7] = cap.to_bits();
            }),
            "cap must be finite",
        ));
    }
    for (case, bad, needle) in cases {
        let b = Aligned::new(&bad);
        inconsistent(Mdn::from_bytes(b.bytes()), needle, case);
        inconsistent(Model::from_bytes(b.bytes()), needle, case);
    }
    // Without the cap flag the cap word is not read: NaN there is fine.
    let b = Aligned::new(&set(7, f32::NAN.to_bits()));
    assert!(Mdn::from_bytes(b.bytes()).is_ok());
    // An encoder-level check: a head the wrong width encodes (the encoder
    // does not know the MDN layout) but never parses.
    let views: Vec<DenseLayer<'_>> = short.layers.iter().map(Dense::view).collect();
    let spec = MdnSpec {
        layers: views,
        ..model.spec()
    };
    let b = Aligned::new(&export::encode_mdn(&spec).unwrap());
    inconsistent(
        Mdn::from_bytes(b.bytes()),
        "head width",
        "encode_mdn, head 17",
    );
}

#[test]
fn scratch_too_small() {
    let blobs: Vec<_> = all_blobs()
        .into_iter()
        .map(|(_, b)| Aligned::new(&b))
        .collect();
    let mlp = Mlp::from_bytes(blobs[0].bytes()).unwrap();
    let maf = Maf::from_bytes(blobs[1].bytes()).unwrap();
    let mdn = Mdn::from_bytes(blobs[2].bytes()).unwrap();
    for needed in [mlp.scratch_len(), maf.scratch_len(), mdn.scratch_len()] {
        assert!(needed > 0);
    }
    let short = |needed: usize, got: usize| Error::ScratchTooSmall { needed, got };
    for got in [0, mlp.scratch_len() - 1] {
        let mut s = vec![0.0; got];
        assert_eq!(
            mlp.forward(&[0.0; 3], &mut [0.0; 2], &mut s),
            Err(short(mlp.scratch_len(), got))
        );
    }
    for got in [0, maf.scratch_len() - 1] {
        let mut s = vec![0.0; got];
        let e = Err(short(maf.scratch_len(), got));
        assert_eq!(maf.log_prob(&[0.0; 3], &[0.0], &mut s).map(drop), e);
        assert_eq!(maf.sample(&[0.0], 1, &mut [0.0; 3], 0, &mut s), e);
        assert_eq!(maf.inverse(&[0.0; 3], &[0.0], &mut [0.0; 3], &mut s), e);
    }
    for got in [0, mdn.scratch_len() - 1] {
        let mut s = vec![0.0; got];
        let e = Err(short(mdn.scratch_len(), got));
        assert_eq!(mdn.log_prob(&[0.0; 2], &[0.0], &mut s).map(drop), e);
        assert_eq!(mdn.sample(&[0.0], 1, &mut [0.0; 2], 0, &mut s), e);
    }
}

#[test]
fn input_length() {
    let blobs: Vec<_> = all_blobs()
        .into_iter()
        .map(|(_, b)| Aligned::new(&b))
        .collect();
    let mlp = Mlp::from_bytes(blobs[0].bytes()).unwrap();
    let maf = Maf::from_bytes(blobs[1].bytes()).unwrap();
    let mdn = Mdn::from_bytes(blobs[2].bytes()).unwrap();
    let len = |what, expected, got| {
        Err(Error::InputLength {
            what,
            expected,
            got,
        })
    };
    let mut s = vec![0.0; 4096];

    assert_eq!(
        mlp.forward(&[0.0; 2], &mut [0.0; 2], &mut s),
        len("x", 3, 2)
    );
    assert_eq!(
        mlp.forward(&[0.0; 4], &mut [0.0; 2], &mut s),
        len("x", 3, 4)
    );
    assert_eq!(
        mlp.forward(&[0.0; 3], &mut [0.0; 3], &mut s),
        len("out", 2, 3)
    );

    assert_eq!(
        maf.log_prob(&[0.0; 2], &[0.0], &mut s).map(drop),
        len("x", 3, 2)
    );
    assert_eq!(
        maf.log_prob(&[0.0; 3], &[], &mut s).map(drop),
        len("features", 1, 0)
    );
    assert_eq!(
        maf.log_prob(&[0.0; 3], &[0.0; 2], &mut s).map(drop),
        len("features", 1, 2)
    );
    assert_eq!(
        maf.inverse(&[0.0; 3], &[0.0], &mut [0.0; 2], &mut s),
        len("out", 3, 2)
    );
    assert_eq!(
        maf.inverse(&[0.0; 4], &[0.0], &mut [0.0; 3], &mut s),
        len("z", 3, 4)
    );
    assert_eq!(
        maf.sample(&[0.0], 2, &mut [0.0; 5], 0, &mut s),
        len("out", 6, 5)
    );
    assert_eq!(
        maf.sample(&[0.0], usize::MAX, &mut [0.0; 3], 0, &mut s),
        len("out", usize::MAX, 3)
    );
    assert_eq!(
        maf.sample(&[], 1, &mut [0.0; 3], 0, &mut s),
        len("features", 1, 0)
    );
    assert_eq!(maf.sample(&[0.0], 0, &mut [], 0, &mut s), Ok(()));

    assert_eq!(
        mdn.log_prob(&[0.0; 3], &[0.0], &mut s).map(drop),
        len("x", 2, 3)
    );
    assert_eq!(
        mdn.log_prob(&[0.0; 2], &[0.0; 2], &mut s).map(drop),
        len("features", 1, 2)
    );
    assert_eq!(
        mdn.sample(&[0.0], 3, &mut [0.0; 4], 0, &mut s),
        len("out", 6, 4)
    );
    assert_eq!(mdn.sample(&[0.0], 0, &mut [], 0, &mut s), Ok(()));
}

#[test]
fn every_error_has_its_own_code_and_message() {
    let errors = [
        Error::Truncated { needed: 20, got: 3 },
        Error::Oversized {
            expected: 20,
            got: 21,
        },
        Error::BadMagic(*b"ABCD"),
        Error::UnsupportedVersion(2),
        Error::UnknownKind(9),
        Error::WrongKind {
            expected: Kind::Maf,
            found: Kind::Mlp,
        },
        Error::BadChecksum {
            stored: 1,
            computed: 2,
        },
        Error::Misaligned,
        Error::Inconsistent("x"),
        Error::ScratchTooSmall { needed: 2, got: 1 },
        Error::InputLength {
            what: "x",
            expected: 2,
            got: 1,
        },
    ];
    let codes: Vec<i32> = errors.iter().map(Error::code).collect();
    assert_eq!(codes, (1..=11).map(|c| -c).collect::<Vec<_>>());
    for e in errors {
        assert!(!e.to_string().is_empty());
    }
}

// ----------------------------------------------------------------- fuzzing

fn cases() -> u32 {
    std::env::var("ESP_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

fn fuzz_config() -> Config {
    Config {
        cases: cases(),
        // Integration tests have no lib.rs for proptest to file regressions
        // beside; a failure prints its minimal input instead.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Parses `bytes` with every parser: none may panic, and `Model` agrees
/// with the parser of the kind in the framing.
fn parse_all(bytes: &[u8]) -> Result<Result<Model<'_>, Error>, TestCaseError> {
    let framing = format::parse(bytes);
    let model = Model::from_bytes(bytes);
    let mlp = Mlp::from_bytes(bytes).map(drop);
    let maf = Maf::from_bytes(bytes).map(drop);
    let mdn = Mdn::from_bytes(bytes).map(drop);
    let resmlp = ResMlp::from_bytes(bytes).map(drop);
    match framing {
        Err(e) => {
            prop_assert_eq!(model.map(drop), Err(e));
            prop_assert_eq!(mlp, Err(e));
            prop_assert_eq!(maf, Err(e));
            prop_assert_eq!(mdn, Err(e));
            prop_assert_eq!(resmlp, Err(e));
        }
        Ok(blob) => {
            let own = match blob.kind {
                Kind::Mlp => mlp,
                Kind::ResMlp => resmlp,
                Kind::Maf => maf,
                Kind::Mdn => mdn,
            };
            prop_assert_eq!(model.map(drop), own);
        }
    }
    Ok(model)
}

/// Runs a parsed model on a few inputs: every correctly sized call must
/// succeed (a model that parses is usable), and a too small scratch or a
/// wrong input length must be an error. Skipped (but for the error paths)
/// when the scratch or the work would be huge. Returns whether it ran.
fn exercise(model: &Model<'_>, blob_len: usize) -> Result<bool, TestCaseError> {
    let (dim, features, need) = (model.dim(), model.features(), model.scratch_len());
    // Wrong lengths are errors whatever the model.
    let mut tiny = [0.0f32; 4];
    match model {
        Model::Mlp(m) => {
            let r = m.forward(&[0.0; 1], &mut [0.0; 1], &mut tiny);
            prop_assert!(r.is_err() || (dim == 1 && features == 1 && need <= 4));
        }
        _ => {
            let r = model.log_prob(&[], &[], &mut tiny);
            prop_assert!(r.is_err() || (dim == 0 && features == 0 && need <= 4));
        }
    }
    let work = (blob_len / 4).saturating_mul(dim.max(1));
    if need > 1 << 20 || dim > 1 << 16 || features > 1 << 16 || work > 1 << 24 {
        return Ok(false);
    }
    let mut scratch = vec![f32::NAN; need];
    if need > 0 {
        let short = model.log_prob(&vec![0.0; dim], &vec![0.0; features], &mut scratch[1..]);
        prop_assert!(short.is_err());
    }
    let mut rng = Rng::new(blob_len as u64);
    let inputs = [
        (vec![0.0; dim], vec![0.0; features]),
        (
            (0..dim).map(|_| rng.normal()).collect(),
            (0..features).map(|_| rng.uniform()).collect(),
        ),
        (vec![1e4; dim], vec![-1e4; features]),
        (vec![f32::NAN; dim], vec![f32::INFINITY; features]),
    ];
    for (x, f) in &inputs {
        match model {
            Model::Mlp(m) => {
                let mut out = vec![0.0; features];
                prop_assert_eq!(m.forward(x, &mut out, &mut scratch), Ok(()));
            }
            Model::ResMlp(m) => {
                let mut out = vec![0.0; features];
                prop_assert_eq!(m.forward(x, &mut out, &mut scratch), Ok(()));
            }
            Model::Maf(m) => {
                prop_assert!(m.log_prob(x, f, &mut scratch).is_ok());
                let mut out = vec![0.0; dim];
                prop_assert_eq!(m.inverse(x, f, &mut out, &mut scratch), Ok(()));
                let mut samples = vec![0.0; 2 * dim];
                prop_assert_eq!(m.sample(f, 2, &mut samples, 3, &mut scratch), Ok(()));
            }
            Model::Mdn(m) => {
                prop_assert!(m.log_prob(x, f, &mut scratch).is_ok());
                let mut samples = vec![0.0; 2 * dim];
                prop_assert_eq!(m.sample(f, 2, &mut samples, 3, &mut scratch), Ok(()));
            }
        }
    }
    Ok(true)
}

/// A corruption of a blob's bytes.
#[derive(Clone, Debug)]
enum ByteEdit {
    /// Flip these bits.
    Flip(Vec<(Index, u8)>),
    /// Overwrite these bytes.
    Overwrite(Vec<(Index, u8)>),
    /// Keep only the first bytes.
    Truncate(Index),
    /// Append bytes.
    Append(Vec<u8>),
    /// Insert bytes at a position.
    Insert(Index, Vec<u8>),
    /// Delete up to n bytes at a position.
    Delete(Index, usize),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    let at = || any::<Index>();
    prop_oneof![
        3 => prop::collection::vec((at(), 0u8..8), 1..4).prop_map(ByteEdit::Flip),
        3 => prop::collection::vec((at(), any::<u8>()), 1..4).prop_map(ByteEdit::Overwrite),
        1 => at().prop_map(ByteEdit::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(ByteEdit::Append),
        1 => (at(), prop::collection::vec(any::<u8>(), 1..9)).prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        1 => (at(), 1usize..9).prop_map(|(i, n)| ByteEdit::Delete(i, n)),
    ]
}

fn apply_bytes(blob: &[u8], edit: &ByteEdit) -> Vec<u8> {
    let mut b = blob.to_vec();
    let n = b.len();
    match edit {
        ByteEdit::Flip(flips) => flips.iter().for_each(|(i, bit)| b[i.index(n)] ^= 1 << bit),
        ByteEdit::Overwrite(writes) => writes.iter().for_each(|(i, v)| b[i.index(n)] = *v),
        ByteEdit::Truncate(i) => b.truncate(i.index(n)),
        ByteEdit::Append(extra) => b.extend_from_slice(extra),
        ByteEdit::Insert(i, bytes) => {
            let at = i.index(n + 1);
            b.splice(at..at, bytes.iter().copied());
        }
        ByteEdit::Delete(i, k) => {
            let at = i.index(n);
            b.drain(at..(at + k).min(n));
        }
    }
    b
}

/// Random corruption of valid blobs of every kind, stored at an aligned or
/// (sometimes) a misaligned address: the parsers never panic, and since
/// only the CRC-32 protects the contents, any corrupted blob that parses is
/// byte-for-byte the original (an unchanged blob at a misaligned address is
/// `Misaligned`). Whatever parses also runs.
#[test]
fn fuzz_random_corruption_never_panics() {
    let blobs: Vec<Vec<u8>> = all_blobs()
        .into_iter()
        .chain(normalised_blobs())
        .map(|(_, b)| b)
        .collect();
    let tried = AtomicUsize::new(0);
    let accepted = AtomicUsize::new(0);
    let strategy = (
        0..blobs.len(),
        prop_oneof![6 => Just(0usize), 1 => 1usize..4],
        byte_edit(),
    );
    TestRunner::new(fuzz_config())
        .run(&strategy, |(k, offset, edit)| {
            tried.fetch_add(1, Relaxed);
            let bytes = apply_bytes(&blobs[k], &edit);
            let stored = Aligned::at_offset(&bytes, offset);
            match parse_all(stored.bytes())? {
                Ok(model) => {
                    accepted.fetch_add(1, Relaxed);
                    prop_assert_eq!(offset, 0, "a misaligned blob parsed");
                    prop_assert!(bytes == blobs[k], "a corrupted blob parsed");
                    exercise(&model, bytes.len())?;
                }
                Err(e) => {
                    if bytes == blobs[k] {
                        prop_assert_eq!(e, Error::Misaligned);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    eprintln!(
        "esp_format: fuzzed {} randomly corrupted blobs ({} unchanged by their edit and accepted)",
        tried.load(Relaxed),
        accepted.load(Relaxed)
    );
}

/// A header word value for the structure-aware fuzzer.
#[derive(Clone, Debug)]
enum WordValue {
    Small(u32),
    Zero,
    One,
    Max,
    Plus1,
    Minus1,
    Any(u32),
    Float(f32),
}

#[derive(Clone, Debug)]
enum WordEdit {
    Set(Index, WordValue),
    Insert(Index, WordValue),
    Remove(Index),
}

#[derive(Clone, Debug)]
enum PayloadEdit {
    Truncate(Index),
    Extend(usize),
    Set(Index, f32),
}

#[derive(Clone, Debug)]
struct StructuredEdit {
    blob: usize,
    kind: Option<u16>,
    words: Vec<WordEdit>,
    payload: Vec<PayloadEdit>,
    /// Resize the payload to what the edited header needs (binary search
    /// on the parser's "shorter" / "longer" answers), so that the
    /// kind-specific checks and the evaluation are reached.
    fit: bool,
}

fn word_value() -> impl Strategy<Value = WordValue> {
    prop_oneof![
        3 => (0u32..16).prop_map(WordValue::Small),
        2 => Just(WordValue::Zero),
        2 => Just(WordValue::One),
        2 => Just(WordValue::Max),
        3 => Just(WordValue::Plus1),
        3 => Just(WordValue::Minus1),
        1 => any::<u32>().prop_map(WordValue::Any),
        1 => prop_oneof![
            Just(0.0f32),
            Just(-1.0),
            Just(1e-45),
            Just(1e30),
            Just(f32::NAN),
            Just(f32::INFINITY),
            Just(f32::NEG_INFINITY),
            -10f32..10.0,
        ]
        .prop_map(WordValue::Float),
    ]
}

fn special_float() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(f32::MAX),
        Just(-f32::MAX),
        Just(1e-45),
        Just(0.0),
        -100f32..100.0,
    ]
}

fn structured_edit(n_blobs: usize) -> impl Strategy<Value = StructuredEdit> {
    let word_edit = prop_oneof![
        6 => (any::<Index>(), word_value()).prop_map(|(i, v)| WordEdit::Set(i, v)),
        1 => (any::<Index>(), word_value()).prop_map(|(i, v)| WordEdit::Insert(i, v)),
        1 => any::<Index>().prop_map(WordEdit::Remove),
    ];
    let payload_edit = prop_oneof![
        any::<Index>().prop_map(PayloadEdit::Truncate),
        (1usize..64).prop_map(PayloadEdit::Extend),
        (any::<Index>(), special_float()).prop_map(|(i, v)| PayloadEdit::Set(i, v)),
    ];
    (
        0..n_blobs,
        prop_oneof![8 => Just(None), 1 => (1u16..=3).prop_map(Some)],
        prop::collection::vec(word_edit, 0..4),
        prop::collection::vec(payload_edit, 0..3),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(blob, kind, words, payload, fit)| StructuredEdit {
            blob,
            kind,
            words,
            payload,
            fit,
        })
}

fn word(value: &WordValue, old: u32) -> u32 {
    match *value {
        WordValue::Small(v) => v,
        WordValue::Zero => 0,
        WordValue::One => 1,
        WordValue::Max => u32::MAX,
        WordValue::Plus1 => old.wrapping_add(1),
        WordValue::Minus1 => old.wrapping_sub(1),
        WordValue::Any(v) => v,
        WordValue::Float(f) => f.to_bits(),
    }
}

/// A deterministic small filler value for payload slot `i`.
fn filler(i: usize) -> u32 {
    ((((i as u32).wrapping_mul(2_654_435_761) >> 16) % 2001) as f32 / 1000.0 - 1.0).to_bits()
}

fn apply_structured(parts: &mut Parts, edit: &StructuredEdit) {
    if let Some(kind) = edit.kind {
        parts.kind = kind;
    }
    for e in &edit.words {
        let w = &mut parts.words;
        match e {
            WordEdit::Set(i, v) if !w.is_empty() => {
                let i = i.index(w.len());
                w[i] = word(v, w[i]);
            }
            WordEdit::Insert(i, v) => {
                let i = i.index(w.len() + 1);
                w.insert(i, word(v, 0));
            }
            WordEdit::Remove(i) if !w.is_empty() => {
                let i = i.index(w.len());
                w.remove(i);
            }
            _ => {}
        }
    }
    for e in &edit.payload {
        let p = &mut parts.payload;
        match e {
            PayloadEdit::Truncate(i) => p.truncate(i.index(p.len() + 1)),
            PayloadEdit::Extend(n) => {
                let start = p.len();
                p.extend((start..start + n).map(filler));
            }
            PayloadEdit::Set(i, v) if !p.is_empty() => {
                let i = i.index(p.len());
                p[i] = v.to_bits();
            }
            PayloadEdit::Set(..) => {}
        }
    }
}

/// Largest payload (f32s) the fitting search tries.
const FIT_CAP: usize = 1 << 14;

/// Binary-searches the payload length the header needs (up to
/// [`FIT_CAP`]), filling new slots with small values. Returns the parses
/// tried.
fn fit_payload(parts: &mut Parts) -> usize {
    let (mut lo, mut hi) = (0usize, FIT_CAP);
    let mut tries = 0;
    let mut len = parts.payload.len().min(FIT_CAP);
    loop {
        if parts.payload.len() != len {
            let start = parts.payload.len();
            parts.payload.truncate(len);
            parts.payload.extend((start..len).map(filler));
        }
        tries += 1;
        let blob = frame(parts);
        let stored = Aligned::new(&blob);
        match Model::from_bytes(stored.bytes()) {
            Err(Error::Inconsistent(why)) if why.contains("payload is shorter") => lo = len + 1,
            Err(Error::Inconsistent(why)) if why.contains("payload is longer") => {
                hi = len.saturating_sub(1)
            }
            _ => return tries,
        }
        if lo > hi {
            return tries;
        }
        len = lo + (hi - lo) / 2;
    }
}

/// Structure-aware fuzzing: header words set to boundary values (0, 1,
/// u32::MAX, ±1, small, float bits), inserted or removed, payload cut,
/// extended or poisoned, the kind swapped, and then the framing fixed up
/// (counts and CRC recomputed, the payload optionally resized to what the
/// header needs) so that every blob reaches the kind-specific validation.
/// Parsing never panics, and whatever parses runs.
#[test]
fn fuzz_structure_aware_never_panics() {
    let blobs: Vec<Vec<u8>> = {
        let mut v: Vec<Vec<u8>> = all_blobs()
            .into_iter()
            .chain(normalised_blobs())
            .map(|(_, b)| b)
            .collect();
        // More shapes: a MAF without hidden layers, one with d 1, the
        // other MDN variants.
        v.push(MafModel::new(7, 2, 1, 2, &[]).blob());
        v.push(MafModel::new(8, 1, 2, 3, &[4]).blob());
        v.extend(mdn_models().iter().map(MdnModel::blob));
        v
    };
    let tried = AtomicUsize::new(0);
    let parses = AtomicUsize::new(0);
    let accepted = AtomicUsize::new(0);
    let ran = AtomicUsize::new(0);
    TestRunner::new(fuzz_config())
        .run(&structured_edit(blobs.len()), |edit| {
            tried.fetch_add(1, Relaxed);
            let mut parts = split(&blobs[edit.blob]);
            apply_structured(&mut parts, &edit);
            if edit.fit {
                parses.fetch_add(fit_payload(&mut parts), Relaxed);
            }
            let bytes = frame(&parts);
            let stored = Aligned::new(&bytes);
            parses.fetch_add(1, Relaxed);
            if let Ok(model) = parse_all(stored.bytes())? {
                accepted.fetch_add(1, Relaxed);
                if exercise(&model, bytes.len())? {
                    ran.fetch_add(1, Relaxed);
                }
            }
            Ok(())
        })
        .unwrap();
    let (tried, parses) = (tried.load(Relaxed), parses.load(Relaxed));
    let (accepted, ran) = (accepted.load(Relaxed), ran.load(Relaxed));
    eprintln!(
        "esp_format: fuzzed {tried} re-framed blobs ({parses} parses with the payload fitting), \
         {accepted} parsed, {ran} evaluated"
    );
    // The fuzzer must reach the evaluation, not only the rejections (about
    // a quarter of the edited blobs parse).
    assert!(
        tried < 500 || ran * 20 >= tried,
        "only {ran} of {tried} edited blobs were evaluated"
    );
}

// --------------------------------------------------------- generated sources

/// The bytes of a `0x..`-table in generated source.
fn hex_table(text: &str) -> Vec<u8> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter_map(|t| t.strip_prefix("0x"))
        .map(|t| u8::from_str_radix(t, 16).unwrap())
        .collect()
}

#[test]
fn rust_source_embeds_the_blob_aligned() {
    for (name, blob) in all_blobs() {
        let src = export::rust_source(&blob, "MODEL_BLOB", "test.safetensors");
        assert!(src.contains("pub static MODEL_BLOB: &[u8]"), "{name}");
        assert!(src.contains("align(4)"), "{name}");
        assert!(src.contains(&format!("Aligned<{}>", blob.len())), "{name}");
        assert!(src.contains(&format!("({} bytes", blob.len())), "{name}");
        assert!(src.contains("test.safetensors"), "{name}");
        assert_eq!(hex_table(&src), blob, "{name}");
    }
}

/// The generated Rust compiles, and the static is aligned and holds the blob.
#[test]
fn rust_source_compiles_and_round_trips() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if std::process::Command::new(&rustc)
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("NOTE: {rustc} not found: the generated Rust source was not compiled");
        return;
    }
    let blob = maf_blob();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("esp_format_rust_source_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = format!(
        "#![deny(warnings)]\n{}\nfn main() {{\n    assert_eq!(MODEL.as_ptr() as usize % 4, 0);\n    \
         for b in MODEL {{ print!(\"{{b:02x}}\"); }}\n}}\n",
        export::rust_source(&blob, "MODEL", "roundtrip")
    );
    std::fs::write(dir.join("main.rs"), src).unwrap();
    let exe = dir.join("roundtrip");
    let out = std::process::Command::new(&rustc)
        .args(["--edition", "2021", "-o"])
        .arg(&exe)
        .arg(dir.join("main.rs"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rustc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = std::process::Command::new(&exe).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let hex: String = blob.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(String::from_utf8(run.stdout).unwrap(), hex);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn c_header_embeds_the_blob_and_the_api() {
    for (name, blob) in all_blobs() {
        let h = export::c_header(&blob, "test_model", "test");
        assert!(h.contains(export::C_API), "{name}");
        for decl in [
            "int32_t fg_model_open(",
            "int32_t fg_model_kind(",
            "size_t fg_model_dim(",
            "size_t fg_model_features(",
            "size_t fg_model_scratch_len(",
            "int32_t fg_log_prob(",
            "int32_t fg_sample(",
            "int32_t fg_mlp_forward(",
            "typedef struct { uint64_t opaque[16]; } fg_model;",
        ] {
            assert!(h.contains(decl), "{name}: {decl}");
        }
        assert!(
            h.contains(&format!("#define test_model_LEN {}u", blob.len())),
            "{name}"
        );
        assert!(
            h.contains(&format!(
                "static const uint8_t test_model[{}] __attribute__((aligned(4)))",
                blob.len()
            )),
            "{name}"
        );
        assert!(h.contains("#ifndef FERROGRAD_MODEL_TEST_MODEL_H"), "{name}");
        // The table is everything after the array's opening brace.
        let table = &h[h.find("= {").unwrap()..];
        assert_eq!(hex_table(table), blob, "{name}");
    }
}

/// The framing constants are the documented ones.
#[test]
fn framing_constants() {
    assert_eq!(&MAGIC, b"FGRT");
    assert_eq!((VERSION_PLAIN, VERSION), (1, 2));
    assert_eq!((PREAMBLE, TRAILER), (16, 4));
    let blob = mlp_blob();
    let parts = split(&blob);
    assert_eq!(
        blob.len(),
        20 + 4 * (parts.words.len() + parts.payload.len())
    );
    let mut again = blob.clone();
    fix_crc(&mut again);
    assert_eq!(again, blob);
    assert_eq!(frame(&parts), blob);
    // zlib's CRC-32 of "123456789".
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
}
