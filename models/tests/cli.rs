//! The `ferrograd` program as a user meets it: exit codes and messages for
//! bad flags, a folder holding an earlier run, YAML configuration, a closed
//! pipe and a full disk.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferrograd"))
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ferrograd-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn run(args: &[&str], dir: &Path) -> Output {
    bin().args(args).current_dir(dir).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fails_with(args: &[&str], dir: &Path, needle: &str) {
    let o = run(args, dir);
    let e = stderr(&o);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(e.contains(needle), "{args:?}: {e}");
    assert!(!e.contains("panicked"), "{args:?}: {e}");
}

const TINY: [&str; 5] = ["cde", "train", "--test", "--no-plot", "--quiet"];

#[test]
fn nonsense_values_are_refused_by_name() {
    let dir = tmp("values");
    fails_with(
        &[&TINY[..], &["--lr", "-0.001", "--out", "a"]].concat(),
        &dir,
        "--lr must be positive",
    );
    fails_with(
        &[&TINY[..], &["--epochs", "0", "--out", "a"]].concat(),
        &dir,
        "--epochs",
    );
    let maml = [
        "maml",
        "sinusoid",
        "train",
        "--test",
        "--no-plot",
        "--quiet",
        "--out",
        "m",
    ];
    for (flag, value) in [
        ("--iterations", "0"),
        ("--inner-lr", "-1"),
        ("--meta-lr", "0"),
        ("--meta-batch", "0"),
        ("--shots", "0"),
    ] {
        fails_with(&[&maml[..], &[flag, value]].concat(), &dir, flag);
    }
    fails_with(
        &["maml", "classify", "--test", "--ways", "1", "--out", "c"],
        &dir,
        "--ways",
    );
    // Nothing was written for a refused configuration.
    assert!(!dir.join("a").exists() && !dir.join("m").exists() && !dir.join("c").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_earlier_run_is_refused_and_resume_continues_it() {
    let dir = tmp("earlier");
    let args = [&TINY[..], &["--out", "r"]].concat();
    assert!(run(&args, &dir).status.success());
    fails_with(&args, &dir, "already holds a run");
    fails_with(
        &[&args[..], &["--lr", "1e6", "--overwrite"]].concat(),
        &dir,
        "never finite",
    );
    assert!(!dir.join("r/eval.json").exists());
    assert!(run(&[&args[..], &["--overwrite"]].concat(), &dir)
        .status
        .success());
    let o = run(
        &[
            "cde",
            "train",
            "--resume",
            "r",
            "--epochs",
            "3",
            "--quiet",
            "--no-plot",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = std::fs::read_to_string(dir.join("r/metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 3);
    fails_with(
        &["cde", "train", "--resume", "r", "--lr", "0.5"],
        &dir,
        "--lr cannot change",
    );
    fails_with(&["cde", "train", "--resume", "nothing"], &dir, "nothing");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn yaml_configuration_is_overridden_by_flags_and_unknown_keys_are_named() {
    let dir = tmp("yaml");
    std::fs::write(
        dir.join("c.yaml"),
        "model: mdn\nepochs: 1\ncomponents: 3\nbatch: 500\n",
    )
    .unwrap();
    let o = run(
        &[
            &TINY[..],
            &["--config", "c.yaml", "--batch", "100", "--out", "y"],
        ]
        .concat(),
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("y/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model"], "mdn");
    assert_eq!(cfg["components"], 3);
    assert_eq!(cfg["epochs"], 1, "the YAML beats --test's preset");
    assert_eq!(cfg["batch"], 100, "a flag beats the YAML");
    assert_eq!(cfg["train_rows"], 2000, "--test shrinks what nobody set");
    std::fs::write(dir.join("bad.yaml"), "epochs: 1\nlearning_rate: 0.1\n").unwrap();
    fails_with(
        &[&TINY[..], &["--config", "bad.yaml", "--out", "z"]].concat(),
        &dir,
        "unknown key 'learning_rate'",
    );
    std::fs::write(dir.join("type.yaml"), "epochs: many\n").unwrap();
    fails_with(
        &[&TINY[..], &["--config", "type.yaml", "--out", "z"]].concat(),
        &dir,
        "key 'epochs'",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_closed_pipe_ends_output_quietly_and_a_full_disk_is_an_error() {
    let dir = tmp("pipe");
    assert!(run(&[&TINY[..], &["--out", "r"]].concat(), &dir)
        .status
        .success());
    let ckpt = "r/checkpoints/best.safetensors";
    let mut child = bin()
        .args([
            "cde",
            "sample",
            "--checkpoint",
            ckpt,
            "--feature",
            "0.5",
            "-n",
            "200000",
        ])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "x1,x2");
    lines.next().unwrap().unwrap();
    drop(lines); // `| head -2`
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
    // A training run whose reader goes away still evaluates and plots.
    let mut child = bin()
        .args(["cde", "train", "--test", "--out", "p"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert!(child.wait().unwrap().success());
    assert!(dir.join("p/eval.json").is_file() && dir.join("p/samples.png").is_file());
    // > /dev/full
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        let o = bin()
            .args([
                "cde",
                "sample",
                "--checkpoint",
                ckpt,
                "--feature",
                "0.5",
                "-n",
                "10",
            ])
            .current_dir(&dir)
            .stdout(full)
            .output()
            .unwrap();
        assert!(!o.status.success());
        assert!(stderr(&o).contains("standard output"), "{}", stderr(&o));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoints_of_another_family_are_named() {
    let dir = tmp("family");
    let o = run(
        &[
            "maml",
            "sinusoid",
            "train",
            "--test",
            "--no-plot",
            "--quiet",
            "--iterations",
            "20",
            "--out",
            "m",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    fails_with(
        &[
            "cde",
            "eval",
            "--checkpoint",
            "m/checkpoints/best.safetensors",
        ],
        &dir,
        "maml-sinusoid checkpoint",
    );
    fails_with(
        &[
            "maml",
            "sinusoid",
            "eval",
            "--checkpoint",
            "missing.safetensors",
        ],
        &dir,
        "missing.safetensors",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn user_csv_trains_scores_and_samples_in_its_own_columns() {
    let dir = tmp("csv");
    let mut csv = String::from("load,temp,speed,power\n");
    for i in 0..600 {
        let (l, t) = (100.0 + i as f64, 20.0 + (i % 7) as f64);
        let z = ((i * 7919) % 1000) as f64 / 1000.0 - 0.5;
        csv.push_str(&format!(
            "{l},{t},{},{}\n",
            3.0 + 0.01 * l + z,
            1000.0 + 2.0 * l + 40.0 * z
        ));
    }
    std::fs::write(dir.join("d.csv"), csv).unwrap();
    let o = run(
        &[
            &TINY[..],
            &[
                "--data",
                "d.csv",
                "--x-cols",
                "speed,power",
                "--f-cols",
                "load,temp",
                "--out",
                "u",
            ],
        ]
        .concat(),
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        &[
            "cde",
            "score",
            "--checkpoint",
            "u/checkpoints/best.safetensors",
            "--data",
            "d.csv",
            "--out",
            "s.csv",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let scores = std::fs::read_to_string(dir.join("s.csv")).unwrap();
    assert_eq!(scores.lines().count(), 601);
    assert_eq!(scores.lines().next(), Some("log_prob"));
    let o = run(
        &[
            "cde",
            "sample",
            "--checkpoint",
            "u/checkpoints/best.safetensors",
            "--feature",
            "300,22",
            "-n",
            "4",
        ],
        &dir,
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().next(), Some("speed,power"));
    assert_eq!(text.lines().count(), 5);
    fails_with(
        &[
            "cde",
            "score",
            "--checkpoint",
            "u/checkpoints/best.safetensors",
            "--data",
            "s.csv",
        ],
        &dir,
        "no column",
    );
    std::fs::write(
        dir.join("bad.csv"),
        "load,temp,speed,power\n1,2,3,4\n1,2,x,4\n",
    )
    .unwrap();
    fails_with(
        &[
            &TINY[..],
            &["--data", "bad.csv", "--x-cols", "speed", "--out", "b"],
        ]
        .concat(),
        &dir,
        "line 3",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
