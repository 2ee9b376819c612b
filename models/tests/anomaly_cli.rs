//! `--detect-anomaly` (and `FERROGRAD_DETECT_ANOMALY=1`) on a training
//! command: a run that diverges stops at the first op that made a NaN or an
//! infinity, naming it and its source line, instead of skipping steps.

mod common;
use common::{fails_with, run, text, tmp};
use std::process::Command;

const DIVERGING: [&str; 8] = [
    "cde",
    "train",
    "--test",
    "--lr",
    "1e8",
    "--no-plot",
    "--quiet",
    "--out",
];

#[test]
fn detect_anomaly_stops_a_diverging_run_at_the_op() {
    let dir = tmp("anomaly", "flag");
    let mut args = DIVERGING.to_vec();
    args.extend(["run", "--detect-anomaly"]);
    fails_with(&args, &dir, "anomaly");
    let mut plain = args[..args.len() - 1].to_vec();
    plain.push("--overwrite");
    let o = run(&plain, &dir);
    let e = text(&o.stderr);
    // Without the flag the same run only skips non-finite steps (or stops
    // after many in a row), with no anomaly report.
    assert!(!e.contains("anomaly:"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn the_environment_variable_turns_it_on() {
    let dir = tmp("anomaly", "env");
    let mut args = DIVERGING.to_vec();
    args.extend(["run", "--overwrite"]);
    let o = Command::new(env!("CARGO_BIN_EXE_ferrograd"))
        .args(&args)
        .current_dir(&dir)
        .env("FERROGRAD_DETECT_ANOMALY", "1")
        .output()
        .unwrap();
    let e = text(&o.stderr);
    assert!(!o.status.success());
    assert!(e.contains("anomaly: `") && e.contains(".rs:"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}
