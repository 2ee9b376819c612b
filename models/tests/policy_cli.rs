//! `ferrograd decision policy` as a user meets it: a small run, DAgger,
//! the evaluation of a checkpoint, and the errors for bad flags and files.

use std::path::PathBuf;

mod common;
use common::{fails_with, run, text};

fn tmp(name: &str) -> PathBuf {
    common::tmp("policy", name)
}

fn policy<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["decision", "policy"];
    v.extend_from_slice(extra);
    v
}

#[test]
fn train_and_evaluate_a_small_policy() {
    let dir = tmp("run");
    let o = run(&policy(&["train", "--test", "--quiet", "--out", "r"]), &dir);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("action accuracy"), "{out}");
    assert!(out.contains("expert") && out.contains("BC"), "{out}");
    for f in [
        "config.json",
        "metrics.jsonl",
        "eval.json",
        "trajectories.png",
        "checkpoints/last.safetensors",
    ] {
        assert!(dir.join("r").join(f).is_file(), "{f} missing");
    }
    let ckpt = "r/checkpoints/last.safetensors";
    let o = run(
        &policy(&[
            "eval",
            "--checkpoint",
            ckpt,
            "--episodes",
            "20",
            "--seed",
            "5",
            "--plot",
            "e.png",
            "--json",
        ]),
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(dir.join("e.png").is_file());
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cl = j["closed_loop"].as_array().unwrap();
    assert_eq!(cl.len(), 2);
    assert_eq!(cl[0]["controller"], "expert");
    assert_eq!(cl[0]["episodes"], 20);
    let acc = j["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.4 && acc <= 1.0, "{acc}");

    // The same folder is refused without --overwrite.
    fails_with(
        &policy(&["train", "--test", "--quiet", "--out", "r"]),
        &dir,
        "--overwrite",
    );
    // A YAML file with an unknown key is refused by name.
    std::fs::write(dir.join("c.yaml"), "epochs: 1\nlearning_rate: 3\n").unwrap();
    fails_with(
        &policy(&["train", "--test", "--config", "c.yaml", "--out", "y"]),
        &dir,
        "unknown key 'learning_rate'",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dagger_runs_report_each_round_beside_behaviour_cloning() {
    let dir = tmp("dagger");
    let o = run(
        &policy(&[
            "train",
            "--test",
            "--dagger",
            "--quiet",
            "--no-plot",
            "--out",
            "d",
        ]),
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("DAgger round 1") && out.contains("DAgger round 2"),
        "{out}"
    );
    assert!(out.contains("behaviour cloning alone"), "{out}");
    assert!(dir.join("d/dagger.json").is_file());
    assert!(dir.join("d/checkpoints/bc.safetensors").is_file());
    assert!(!dir.join("d/trajectories.png").exists(), "--no-plot");
    let o = run(
        &policy(&[
            "eval",
            "--checkpoint",
            "d/checkpoints/bc.safetensors",
            "--episodes",
            "5",
        ]),
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("behaviour cloning on"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nonsense_values_and_files_are_errors() {
    let dir = tmp("bad");
    for (flags, needle) in [
        (&["--batch", "0"][..], "--batch must be at least 1"),
        (&["--lr", "-1"], "--lr must be positive"),
        (&["--hidden", "64,0"], "--hidden widths must be positive"),
        (&["--max-side", "20"], "--max-side"),
        (&["--obstacles", "100000"], "--obstacles"),
        (&["--size", "2"], "--size must be at least 4"),
        (&["--view", "40"], "--view"),
        (&["--demos", "3"], "--demos must be at least 10"),
        (&["--dagger", "--dagger-rounds", "0"], "--dagger-rounds"),
        (&["--eval-episodes", "0"], "--eval-episodes"),
        (&["--epochs", "many"], "invalid value"),
    ] {
        let mut args = vec!["decision", "policy", "train", "--test", "--out", "x"];
        args.extend_from_slice(flags);
        fails_with(&args, &dir, needle);
        assert!(!dir.join("x").exists(), "{flags:?} left a run folder");
    }
    fails_with(
        &policy(&["eval", "--checkpoint", "missing.safetensors"]),
        &dir,
        "missing.safetensors",
    );
    std::fs::write(dir.join("junk.safetensors"), b"not a checkpoint").unwrap();
    fails_with(
        &policy(&["eval", "--checkpoint", "junk.safetensors"]),
        &dir,
        "junk.safetensors",
    );
    // A checkpoint of another family is named as such.
    let o = run(
        &[
            "cde",
            "train",
            "--test",
            "--quiet",
            "--no-plot",
            "--out",
            "c",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    fails_with(
        &policy(&["eval", "--checkpoint", "c/checkpoints/best.safetensors"]),
        &dir,
        "not a decision-policy checkpoint",
    );
    let o = run(
        &policy(&["train", "--test", "--quiet", "--no-plot", "--out", "p"]),
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    fails_with(
        &policy(&[
            "eval",
            "--checkpoint",
            "p/checkpoints/last.safetensors",
            "--episodes",
            "0",
        ]),
        &dir,
        "--episodes must be at least 1",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
