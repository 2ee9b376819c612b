//! `ferrograd decision train-all --test` and `decision run`: the four
//! models in one folder, then a command parsed and driven end to end.

use std::process::Command;

#[test]
fn train_all_then_run_a_command() {
    let dir = std::env::temp_dir().join(format!("ferrograd-decision-all-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_ferrograd");
    let o = Command::new(bin)
        .args([
            "decision",
            "train-all",
            "--test",
            "--quiet",
            "--no-plot",
            "--out",
            "d",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{stderr}");
    assert!(
        stdout.contains("| intent transformer | intent accuracy, held-out |"),
        "{stdout}"
    );
    for f in [
        "intent_transformer.safetensors",
        "neural_policy.safetensors",
        "vision_language.safetensors",
        "meta_learner.safetensors",
        "summary.md",
        "summary.json",
    ] {
        assert!(dir.join("d").join(f).is_file(), "{f} missing");
    }
    let o = Command::new(bin)
        .args([
            "decision",
            "run",
            "go to the kitchen",
            "--models",
            "d",
            "--png",
            "t.png",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.starts_with("parse: {\"text\":\"go to the kitchen\""),
        "{out}"
    );
    assert!(
        dir.join("t.png").is_file() || out.contains("no location"),
        "{out}"
    );
    let o = Command::new(bin)
        .args([
            "decision",
            "run",
            "go to the kitchen",
            "--models",
            "missing",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("train-all"));
    std::fs::remove_dir_all(&dir).unwrap();
}
