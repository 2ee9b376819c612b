//! `ferrograd regress` as a user meets it: synthetic rollout files, the
//! reference YAML configuration, prediction from CSV, resume, and the
//! errors for bad files, labels and keys. Needs the `hdf5` feature.
#![cfg(feature = "hdf5")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REFERENCE_YAML: &str = "\
data: {data_path: rollout_data.h5, in_lbl: [gait_cadence, gait_stride], out_lbl: [cot_ma15], batch_size: 65536, train_split: 1.0, random_seed: 42}
model: {residual: true, layers: [64, 32], activation: gelu}
trainer: {max_epochs: 10002, lr: 0.1, min_lr: 0.0005, recon_type: huber, recon_delta: 1.0, recon_weight: 10, l1_weight: 0.001, l2_weight: 0.001, grad_weight: 0.01, log_period: 50, save_period: 1000}
";

/// Flags that shrink the reference run to a second.
const SHORT: [&str; 8] = [
    "--max-epochs",
    "30",
    "--log-period",
    "10",
    "--save-period",
    "10",
    "--layers",
    "16,16",
];

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "ferrograd-regress-cli-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrograd"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(args: &[&str], dir: &Path) -> String {
    let o = run(args, dir);
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    text(&o.stdout) + &text(&o.stderr)
}

fn fails_with(args: &[&str], dir: &Path, needle: &str) {
    let o = run(args, dir);
    let e = text(&o.stderr);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(e.contains(needle), "{args:?}: {e}");
    assert!(!e.contains("panicked"), "{args:?}: {e}");
}

fn with(base: &[&str], extra: &[&str]) -> Vec<String> {
    base.iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn metrics(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn reference_yaml_trains_predicts_and_resumes() {
    let dir = tmp("reference");
    let out = ok(
        &[
            "regress",
            "make-data",
            "--out",
            "rollout_data.h5",
            "--rows",
            "1024",
        ],
        &dir,
    );
    assert!(out.contains("1024 synthetic rollouts"), "{out}");
    std::fs::write(dir.join("ref.yaml"), REFERENCE_YAML).unwrap();
    let args = with(
        &[
            "regress", "train", "--config", "ref.yaml", "--quiet", "--output", "r",
        ],
        &SHORT,
    );
    let out = ok(&refs(&args), &dir);
    assert!(
        out.contains("trained and validated on all 1006 rows"),
        "{out}"
    );
    assert!(out.contains("unsuccessful rollouts skipped"), "{out}");
    for f in [
        "config.json",
        "eval.json",
        "loss.png",
        "pred_vs_true.png",
        "surface.png",
        "checkpoints/best.safetensors",
        "checkpoints/last.safetensors",
    ] {
        assert!(dir.join("r").join(f).is_file(), "{f} missing");
    }
    // The YAML's keys and the flags both reached the configuration.
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["recon_type"], "huber");
    assert_eq!(cfg["grad_weight"], 0.01);
    assert_eq!(cfg["layers"], serde_json::json!([16, 16]));
    assert_eq!(cfg["max_epochs"], 30);
    let log = metrics(&dir.join("r/metrics.jsonl"));
    assert_eq!(log.len(), 3);
    for key in [
        "train_recon",
        "train_l1",
        "train_l2",
        "train_grad",
        "valid_loss",
        "valid_rmse",
        "lr",
    ] {
        let v = log[2][key].as_f64().unwrap_or(f64::NAN);
        assert!(v.is_finite() && v >= 0.0, "{key}: {v}");
    }
    assert!(log[2]["train_grad"].as_f64().unwrap() > 0.0);
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r/eval.json")).unwrap()).unwrap();
    assert!(eval["valid_is_train"].as_bool().unwrap());
    assert!(eval["skipped_failed"].as_u64().unwrap() > 0);

    // Predict from a CSV whose columns are in another order, with extras.
    std::fs::write(
        dir.join("in.csv"),
        "gait_stride,note,gait_cadence\n1.3,0,1.8\n0.9,1,2.3\n1.7,2,1.3\n",
    )
    .unwrap();
    ok(
        &[
            "regress",
            "predict",
            "--checkpoint",
            "r/checkpoints/best.safetensors",
            "--input",
            "in.csv",
            "--out",
            "pred.csv",
        ],
        &dir,
    );
    let pred = std::fs::read_to_string(dir.join("pred.csv")).unwrap();
    let lines: Vec<&str> = pred.lines().collect();
    assert_eq!(lines[0], "cot_ma15");
    assert_eq!(lines.len(), 4);
    for l in &lines[1..] {
        let v: f64 = l.parse().unwrap();
        // The synthetic cost of transport lies between about 2.5 and 5.5.
        assert!((1.5..7.0).contains(&v), "{v}");
    }

    // Export for the embedded runtime: a residual MLP blob in user units.
    let out = ok(
        &[
            "export",
            "--checkpoint",
            "r/checkpoints/best.safetensors",
            "--out",
            "exp",
        ],
        &dir,
    );
    assert!(out.contains("resmlp"), "{out}");
    for f in ["resmlp.bin", "resmlp.rs", "resmlp.h"] {
        assert!(dir.join("exp").join(f).is_file(), "{f} missing");
    }

    // Resume to 50 epochs: the same log as an uninterrupted 50-epoch run.
    ok(
        &[
            "regress",
            "train",
            "--resume",
            "r",
            "--max-epochs",
            "50",
            "--quiet",
        ],
        &dir,
    );
    let mut long = with(
        &[
            "regress", "train", "--config", "ref.yaml", "--quiet", "--out", "long",
        ],
        &SHORT,
    );
    let at = long.iter().position(|a| a == "--max-epochs").unwrap() + 1;
    long[at] = "50".into();
    ok(&refs(&long), &dir);
    let (a, b) = (
        metrics(&dir.join("r/metrics.jsonl")),
        metrics(&dir.join("long/metrics.jsonl")),
    );
    assert_eq!(a.len(), 5);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["valid_loss"], y["valid_loss"], "{x} vs {y}");
        assert_eq!(x["train_loss"], y["train_loss"]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_data_a_held_out_split_and_a_plain_mlp() {
    let dir = tmp("csv");
    ok(
        &["regress", "make-data", "--out", "d.csv", "--rows", "400"],
        &dir,
    );
    let out = ok(
        &[
            "regress",
            "train",
            "--test",
            "--quiet",
            "--no-plot",
            "--data",
            "d.csv",
            "--train-split",
            "0.75",
            "--residual",
            "false",
            "--activation",
            "silu",
            "--recon-type",
            "tukey",
            "--out",
            "r",
        ],
        &dir,
    );
    assert!(!dir.join("r/loss.png").exists());
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r/eval.json")).unwrap()).unwrap();
    let (train, valid, skipped) = (
        eval["train_rows"].as_u64().unwrap(),
        eval["valid_rows"].as_u64().unwrap(),
        eval["skipped_failed"].as_u64().unwrap(),
    );
    // The CSV's success column drops the unsuccessful rollouts.
    assert!(skipped > 0 && train + valid + skipped == 400);
    assert_eq!(train, ((train + valid) as f64 * 0.75).round() as u64);
    assert!(
        out.contains(&format!("validated on {valid} held-out rows")),
        "{out}"
    );
    assert!(!eval["valid_is_train"].as_bool().unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_constant_column_and_a_single_row_train_without_nan() {
    let dir = tmp("constant");
    std::fs::write(dir.join("c.csv"), "a,b,y\n1,5,2\n2,5,3\n3,5,4\n").unwrap();
    std::fs::write(dir.join("one.csv"), "a,b,y\n1,5,2\n").unwrap();
    for (file, out) in [("c.csv", "r1"), ("one.csv", "r2")] {
        ok(
            &[
                "regress",
                "train",
                "--test",
                "--quiet",
                "--no-plot",
                "--data",
                file,
                "--in-lbl",
                "a,b",
                "--out-lbl",
                "y",
                "--out",
                out,
            ],
            &dir,
        );
        let eval: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(out).join("eval.json")).unwrap(),
        )
        .unwrap();
        let rmse = eval["valid_rmse"].as_f64().unwrap();
        assert!(rmse.is_finite(), "{file}: {eval}");
        let o = run(
            &[
                "regress",
                "predict",
                "--checkpoint",
                &format!("{out}/checkpoints/best.safetensors"),
                "--input",
                file,
            ],
            &dir,
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
        let pred = text(&o.stdout);
        assert!(
            pred.lines()
                .skip(1)
                .all(|l| l.parse::<f64>().is_ok_and(f64::is_finite)),
            "{pred}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_built_in_data_knows_its_truth() {
    let dir = tmp("builtin");
    let out = ok(
        &[
            "regress",
            "train",
            "--test",
            "--quiet",
            "--no-plot",
            "--out",
            "r",
        ],
        &dir,
    );
    assert!(out.contains("against the noiseless truth"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_name_the_file_group_label_and_key() {
    let dir = tmp("errors");
    ok(
        &["regress", "make-data", "--out", "d.h5", "--rows", "50"],
        &dir,
    );
    let train = ["regress", "train", "--test", "--quiet", "--no-plot"];
    fails_with(
        &refs(&with(&train, &["--data", "d.h5", "--out-lbl", "power"])),
        &dir,
        "no attribute 'power' (output label 'power')",
    );
    fails_with(
        &refs(&with(&train, &["--data", "d.h5", "--in-lbl", "speed"])),
        &dir,
        "input 'speed' is not among parameter_names",
    );
    fails_with(
        &refs(&with(&train, &["--data", "missing.h5"])),
        &dir,
        "missing.h5",
    );
    std::fs::write(dir.join("bad.yaml"), "trainer: {learning_rate: 0.1}\n").unwrap();
    fails_with(
        &refs(&with(&train, &["--config", "bad.yaml"])),
        &dir,
        "unknown key 'learning_rate'",
    );
    std::fs::write(
        dir.join("twice.yaml"),
        "data: {batch_size: 8}\ntrainer: {batch_size: 9}\n",
    )
    .unwrap();
    fails_with(
        &refs(&with(&train, &["--config", "twice.yaml"])),
        &dir,
        "key 'batch_size' is given twice",
    );
    fails_with(
        &refs(&with(&train, &["--recon-type", "l3"])),
        &dir,
        "unknown recon_type 'l3'",
    );
    fails_with(&refs(&with(&train, &["--min-lr", "1"])), &dir, "--min-lr");
    // Predict: a CSV without an input column; a file that is no checkpoint.
    ok(&refs(&with(&train, &["--out", "r"])), &dir);
    std::fs::write(dir.join("in.csv"), "gait_stride\n1.2\n").unwrap();
    fails_with(
        &[
            "regress",
            "predict",
            "--checkpoint",
            "r/checkpoints/best.safetensors",
            "--input",
            "in.csv",
        ],
        &dir,
        "gait_cadence",
    );
    fails_with(
        &[
            "regress",
            "predict",
            "--checkpoint",
            "d.h5",
            "--input",
            "in.csv",
        ],
        &dir,
        "d.h5",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
