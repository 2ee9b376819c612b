use super::*;
use crate::run::{OpenMode, Silent};
use ferrograd_nn::Module;

fn tmp(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("ferrograd-flow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn tiny() -> FlowRunConfig {
    let mut c = FlowRunConfig::default();
    FlowRunConfig::test_preset(&mut c);
    c.points = 48;
    c.synthetic_clouds = 40;
    c
}

fn weights(m: &FlowModel) -> Vec<(String, Vec<f32>)> {
    m.named_params()
        .into_iter()
        .map(|(n, p)| (n, p.value().data().to_vec()))
        .collect()
}

#[test]
fn a_run_writes_its_folder_and_its_checkpoint_reloads() {
    let dir = tmp("run");
    let run = RunDir::open(&dir, OpenMode::Fresh).unwrap();
    let cfg = tiny();
    let s = train(&cfg, &run, false, false, &mut Silent).unwrap();
    for f in [
        "config.json",
        "metrics.jsonl",
        "eval.json",
        "loss_trajectory.png",
        "samples.png",
        "checkpoints/last.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert_eq!(s.clouds, (36, 4));
    assert!(s.eval.recon_chamfer.is_finite() && s.eval.recon_chamfer > 0.0);
    assert!(s.eval.gaussian_blob_chamfer > 0.0);
    assert!(s.eval.other_cloud_chamfer > 0.0);
    // The evaluation of the saved checkpoint is the run's own (seeded).
    let again = evaluate_checkpoint(&run.last()).unwrap();
    assert_eq!(again.recon_chamfer, s.eval.recon_chamfer);
    assert_eq!(again.step, Some(s.fit.state.step));
    let (loss, ch) = curves(&run).unwrap();
    assert_eq!((loss.len(), ch.len()), (2, 2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn runs_are_deterministic_and_a_resumed_run_continues() {
    let (a, b, c) = (tmp("one"), tmp("two"), tmp("resumed"));
    let cfg = tiny();
    for p in [&a, &b] {
        let run = RunDir::open(p, OpenMode::Fresh).unwrap();
        train(&cfg, &run, false, true, &mut Silent).unwrap();
    }
    let wa = weights(&load(a.join("checkpoints/last.safetensors")).unwrap().model);
    let wb = weights(&load(b.join("checkpoints/last.safetensors")).unwrap().model);
    assert_eq!(wa, wb, "two runs with one seed differ");
    let short = FlowRunConfig {
        epochs: 1,
        ..cfg.clone()
    };
    let run = RunDir::open(&c, OpenMode::Fresh).unwrap();
    let s1 = train(&short, &run, false, true, &mut Silent).unwrap();
    let w1 = weights(&load(run.last()).unwrap().model);
    let run = RunDir::open(&c, OpenMode::Resume).unwrap();
    let s2 = train(&cfg, &run, true, true, &mut Silent).unwrap();
    assert_eq!(s2.fit.state.step, 2 * s1.fit.state.step);
    assert_ne!(weights(&load(run.last()).unwrap().model), w1);
    assert_eq!(curves(&run).unwrap().1.len(), 2);
    for p in [a, b, c] {
        std::fs::remove_dir_all(p).unwrap();
    }
}

#[test]
fn gaussian_blobs_keep_each_clouds_mean_and_covariance() {
    let clouds =
        source::stack(&crate::data::strokes::synthetic_clouds(7, 2, 4000, 3).unwrap()).unwrap();
    let blobs = gaussian_blobs(&clouds, 9).unwrap();
    assert_eq!(blobs.dims(), clouds.dims());
    let moments = |c: &[f32]| {
        let n = (c.len() / 2) as f64;
        let (mx, my) = (
            c.iter().step_by(2).map(|&v| v as f64).sum::<f64>() / n,
            c.iter().skip(1).step_by(2).map(|&v| v as f64).sum::<f64>() / n,
        );
        let sxy = c
            .chunks_exact(2)
            .map(|p| (p[0] as f64 - mx) * (p[1] as f64 - my))
            .sum::<f64>()
            / n;
        (mx, my, sxy)
    };
    for i in 0..2 {
        let a = moments(&clouds.data()[i * 8000..(i + 1) * 8000]);
        let b = moments(&blobs.data()[i * 8000..(i + 1) * 8000]);
        assert!(
            (a.0 - b.0).abs() < 0.02 && (a.1 - b.1).abs() < 0.02,
            "{a:?} {b:?}"
        );
        assert!((a.2 - b.2).abs() < 0.02, "{a:?} {b:?}");
    }
}
