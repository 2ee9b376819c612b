use super::*;
use crate::cde::data::Dataset;
use crate::cde::plots::{grid_log_density, Window};
use crate::cde::source::CdeData;
use crate::run::{Collect, Event, OpenMode, Silent};
use ferrograd_nn::checkpoint::Checkpoint;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ferrograd-cde-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn fresh(path: &Path) -> RunDir {
    RunDir::open(path, OpenMode::Fresh).unwrap()
}

#[test]
fn test_sized_runs_write_every_file_and_reload() {
    for model in [ModelKind::Maf, ModelKind::Mdn] {
        let out = tmp(&format!("files-{model}"));
        let run = fresh(&out);
        let cfg = CdeConfig::new(model, Dataset::StudentT).test_sized();
        let mut events = Collect::default();
        let s = train(&cfg, &run, false, false, &mut events).unwrap();
        for f in [
            "config.json",
            "metrics.jsonl",
            "checkpoints/best.safetensors",
            "checkpoints/last.safetensors",
            "eval.json",
            "nll.png",
            "samples.png",
            "density.png",
        ] {
            assert!(out.join(f).is_file(), "{model}: {f} missing");
        }
        let m = read_metrics(run.metrics()).unwrap();
        assert_eq!(m.len(), cfg.epochs);
        assert_eq!(s.curve.len(), cfg.epochs);
        assert!(s.curve.iter().all(|c| c.0.is_finite() && c.1.is_finite()));
        assert!(events.0.iter().any(|e| matches!(e, Event::Finished { .. })));
        let eval: EvalReport =
            serde_json::from_str(&std::fs::read_to_string(run.eval()).unwrap()).unwrap();
        assert_eq!((eval.model, eval.epoch), (model, s.eval.epoch));
        assert!((eval.test_nll - s.eval.test_nll).abs() < 1e-12);
        assert!(eval.test_nll.is_finite() && eval.true_test_nll.is_some());
        let loaded = crate::cde::load(run.last()).unwrap();
        assert_eq!(loaded.config, cfg);
        let again = evaluate_checkpoint(&run.best()).unwrap();
        assert_eq!(again.test_nll, eval.test_nll);
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn non_finite_batches_are_skipped_and_counted() {
    let cfg = CdeConfig {
        batch: 100,
        ..CdeConfig::new(ModelKind::Mdn, Dataset::Banana).test_sized()
    };
    let mut data: CdeData = crate::cde::source::load(&cfg).unwrap();
    let mut x = data.train.x.data().to_vec();
    x[7] = f32::NAN; // row 3: one batch per epoch has a NaN loss
    data.train.x = Tensor::from_vec(x, &[cfg.train_rows, 2]).unwrap();
    let out = tmp("nan");
    let mut events = Collect::default();
    let s = train_on(&cfg, &data, &fresh(&out), false, true, &mut events).unwrap();
    assert_eq!(s.fit.state.skipped_steps, cfg.epochs as u64);
    assert_eq!(s.eval.skipped_batches, Some(cfg.epochs as u64));
    assert!(s.eval.test_nll.is_finite());
    let warnings = events
        .0
        .iter()
        .filter(|e| matches!(e, Event::Warning(w) if w.contains("not finite")))
        .count();
    assert_eq!(warnings, cfg.epochs);
    let m = read_metrics(out.join("metrics.jsonl")).unwrap();
    assert_eq!(m.last().unwrap().metrics["skipped_steps"], Some(2.0));
    std::fs::remove_dir_all(&out).unwrap();
}

/// The fault of the issue: a good run in DIR, then a run with lr 1e6 into
/// the same DIR printed the old run's NLL. Now the folder is refused, and
/// with --overwrite the diverging run fails and leaves no old results.
#[test]
fn an_earlier_run_is_never_reported_as_this_one() {
    let out = tmp("stale");
    let cfg = CdeConfig::new(ModelKind::Maf, Dataset::Banana).test_sized();
    train(&cfg, &fresh(&out), false, true, &mut Silent).unwrap();
    let e = RunDir::open(&out, OpenMode::Fresh).unwrap_err().to_string();
    assert!(e.contains("already holds a run"), "{e}");
    let wild = CdeConfig {
        lr: 1e6,
        ..cfg.clone()
    };
    let run = RunDir::open(&out, OpenMode::Overwrite).unwrap();
    let e = train(&wild, &run, false, true, &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("never finite") || e.contains("in a row"),
        "the diverging run must fail: {e}"
    );
    assert!(
        !run.eval().exists(),
        "no evaluation of an earlier run stays"
    );
    if run.best().exists() {
        // A best checkpoint, if any, is this run's own (lr 1e6).
        assert_eq!(crate::cde::load(run.best()).unwrap().config.lr, 1e6);
    }
    let saved: CdeConfig = crate::run::config::read_saved(&run.config()).unwrap();
    assert_eq!(saved.lr, 1e6);
    std::fs::remove_dir_all(&out).unwrap();
}

fn model_tensors(path: &Path) -> BTreeMap<String, Vec<u32>> {
    Checkpoint::load(path)
        .unwrap()
        .tensors
        .into_iter()
        .map(|(n, t)| (n, t.data().iter().map(|v| v.to_bits()).collect()))
        .collect()
}

#[test]
fn a_resumed_run_ends_with_the_same_weights_bit_for_bit() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        for model in [ModelKind::Maf, ModelKind::Mdn] {
            let long = CdeConfig {
                epochs: 4,
                ..CdeConfig::new(model, Dataset::Banana).test_sized()
            };
            let short = CdeConfig {
                epochs: 2,
                ..long.clone()
            };
            let (a, b) = (
                tmp(&format!("straight-{model}")),
                tmp(&format!("resumed-{model}")),
            );
            train(&long, &fresh(&a), false, true, &mut Silent).unwrap();
            train(&short, &fresh(&b), false, true, &mut Silent).unwrap();
            let run_b = RunDir::open(&b, OpenMode::Resume).unwrap();
            let s = train(&long, &run_b, true, true, &mut Silent).unwrap();
            assert_eq!(s.fit.steps_this_run, s.fit.state.step / 2);
            let (ta, tb) = (
                model_tensors(&a.join("checkpoints/last.safetensors")),
                model_tensors(&b.join("checkpoints/last.safetensors")),
            );
            assert_eq!(ta.len(), tb.len());
            for (name, va) in &ta {
                assert!(
                    va == &tb[name],
                    "{model}: tensor {name} differs after resuming"
                );
            }
            let (ma, mb) = (
                read_metrics(a.join("metrics.jsonl")).unwrap(),
                read_metrics(b.join("metrics.jsonl")).unwrap(),
            );
            assert_eq!(ma.len(), mb.len());
            for (ra, rb) in ma.iter().zip(&mb) {
                assert_eq!(ra.step, rb.step);
                assert_eq!(ra.metrics["valid_nll"], rb.metrics["valid_nll"]);
                assert_eq!(ra.metrics["train_loss"], rb.metrics["train_loss"]);
            }
            std::fs::remove_dir_all(&a).unwrap();
            std::fs::remove_dir_all(&b).unwrap();
        }
    });
}

fn edited(src: &Path, dst: &Path, name: &str, index: usize, value: f32) {
    let mut c = Checkpoint::load(src).unwrap();
    let t = c.tensors.get(name).unwrap_or_else(|| panic!("no {name}"));
    let mut v = t.data().to_vec();
    v[index] = value;
    let t = Tensor::from_vec(v, t.dims()).unwrap();
    c.tensors.insert(name.to_string(), t);
    c.save(dst).unwrap();
}

#[test]
fn edited_masks_and_normalisations_are_refused_by_name() {
    let out = tmp("masks");
    let run = fresh(&out);
    let cfg = CdeConfig {
        epochs: 1,
        ..CdeConfig::new(ModelKind::Maf, Dataset::Banana).test_sized()
    };
    train(&cfg, &run, false, true, &mut Silent).unwrap();
    let bad = out.join("bad.safetensors");
    let mask = "model.blocks.0.net.2.mask";
    let m = Checkpoint::load(run.best()).unwrap().tensors[mask].clone();
    // Output row 0 (μ₁, degree 1) must not read any hidden unit of degree ≥ 1.
    let cols = m.dims()[1];
    let forbidden = (0..cols)
        .find(|&k| m.data()[k] == 0.0)
        .expect("a closed entry");
    edited(&run.best(), &bad, mask, forbidden, 1.0);
    let e = crate::cde::load(&bad).err().unwrap().to_string();
    assert!(
        e.contains(mask) && e.contains("forbids") && e.contains("bad.safetensors"),
        "{e}"
    );
    edited(&run.best(), &bad, mask, 0, 0.5);
    let e = crate::cde::load(&bad).err().unwrap().to_string();
    assert!(e.contains(mask) && e.contains("0 or 1"), "{e}");
    edited(&run.best(), &bad, "model.blocks.1.net.0.mask", 0, 7.0);
    assert!(crate::cde::load(&bad).is_err());
    edited(&run.best(), &bad, "x_norm.std", 1, 0.0);
    let e = crate::cde::load(&bad).err().unwrap().to_string();
    assert!(e.contains("x_norm.std") && e.contains("positive"), "{e}");
    assert!(evaluate_checkpoint(&bad).is_err());
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn checkpoints_of_other_kinds_get_a_message_naming_what_they_are() {
    let anchor = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/anchors/maf_step.safetensors"
    );
    let e = crate::cde::load(anchor).err().unwrap().to_string();
    assert!(
        e.contains("maf_step") && e.contains("not a cde checkpoint"),
        "{e}"
    );
    let out = tmp("family");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("other.safetensors");
    let mut c = Checkpoint::new();
    c.set_json(crate::run::META_FAMILY, "maml-sinusoid")
        .unwrap();
    c.save(&path).unwrap();
    let e = crate::cde::load(&path).err().unwrap().to_string();
    assert!(
        e.contains("maml-sinusoid checkpoint") && e.contains("maml sinusoid train"),
        "{e}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn the_recorded_hyper_parameters_rebuild_the_model_not_the_defaults() {
    let out = tmp("spec");
    let run = fresh(&out);
    let cfg = CdeConfig {
        epochs: 1,
        ..CdeConfig::new(ModelKind::Mdn, Dataset::Banana).test_sized()
    };
    train(&cfg, &run, false, true, &mut Silent).unwrap();
    let mut c = Checkpoint::load(run.best()).unwrap();
    let mut spec: serde_json::Value = c.json(crate::cde::model::META_MODEL).unwrap().unwrap();
    assert!(
        spec["mdn"]["activation"].is_string() && spec["mdn"].get("min_diag").is_some(),
        "{spec}"
    );
    // A different floor recorded in the file is what the loaded model uses.
    spec["mdn"]["min_diag"] = serde_json::json!(0.5);
    c.set_json(crate::cde::model::META_MODEL, &spec).unwrap();
    c.save(out.join("floor.safetensors")).unwrap();
    let loaded = crate::cde::load(out.join("floor.safetensors")).unwrap();
    match loaded.model.spec() {
        crate::cde::ModelSpec::Mdn(m) => assert_eq!(m.min_diag, 0.5),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// The window of the integral checks (cells of 1/15 × 1/15), wide enough
/// for the broad components of a briefly trained model at f = 0.5 (banana
/// data: x₁ ∈ ±3, x₂ ∈ [−3, 9]); [−9, 9] × [−10, 16] missed 0.2% of the
/// MDN's mass and biased its entropy by 0.02 nats.
const WIDE: Window = Window {
    x0: -16.0,
    x1: 16.0,
    y0: -16.0,
    y1: 24.0,
};

/// A trained tiny model's density integrates to 1 ± 0.02 over a grid at
/// f = 0.5, and the mean log-density of 20,000 of its own samples equals
/// minus its entropy −∫ p log p computed on the grid, within 0.05 nats (the
/// Monte Carlo standard error is ≈ 0.01 nats).
fn density_checks(model: ModelKind) {
    let cfg = CdeConfig {
        epochs: 4,
        ..CdeConfig::new(model, Dataset::Banana).test_sized()
    };
    let out = tmp(&format!("integral-{model}"));
    let run = fresh(&out);
    train(&cfg, &run, false, true, &mut Silent).unwrap();
    let m = crate::cde::load(run.best()).unwrap().model;
    std::fs::remove_dir_all(&out).unwrap();
    let (lp, area) = grid_log_density(&m, 0.5, WIDE, 480, 600).unwrap();
    let mass: f64 = lp.iter().map(|&v| (v as f64).exp()).sum::<f64>() * area;
    assert!((mass - 1.0).abs() <= 0.02, "{model}: ∫p = {mass}");
    let entropy: f64 = -lp
        .iter()
        .map(|&v| {
            let v = v as f64;
            v.exp() * v
        })
        .sum::<f64>()
        * area;
    let n = 20_000;
    let xs = m.sample_at(0.5, n, 11).unwrap();
    let fs = Tensor::from_vec(vec![0.5; n], &[n, 1]).unwrap();
    let own = m.log_prob_values(&xs, &fs).unwrap();
    let mean = own.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    assert!(
        (mean + entropy).abs() <= 0.05,
        "{model}: mean log p of own samples {mean} vs −entropy {}",
        -entropy
    );
}

#[test]
fn maf_density_integrates_to_one_and_agrees_with_its_samples() {
    density_checks(ModelKind::Maf);
}

#[test]
fn mdn_density_integrates_to_one_and_agrees_with_its_samples() {
    density_checks(ModelKind::Mdn);
}
