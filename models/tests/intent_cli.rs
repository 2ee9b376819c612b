//! `ferrograd decision intent` as a user meets it: a small run, its
//! evaluation, predictions from arguments, a file and standard input, and
//! the errors for bad flags, files and commands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "ferrograd-intent-cli-{name}-{}",
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

fn run_stdin(args: &[&str], dir: &Path, input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrograd"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn fails_with(o: Output, needle: &str) {
    let e = text(&o.stderr);
    assert!(!o.status.success(), "succeeded: {}", text(&o.stdout));
    assert!(e.contains(needle), "wanted {needle:?} in: {e}");
    assert!(!e.contains("panicked"), "{e}");
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn train_eval_and_predict_a_small_run() {
    let dir = tmp("run");
    let o = run(
        &[
            "decision", "intent", "train", "--test", "--quiet", "--out", "r",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("held_out: intent accuracy"), "{out}");
    assert!(out.contains("typos: intent accuracy"), "{out}");
    for f in [
        "config.json",
        "metrics.jsonl",
        "eval.json",
        "loss_trajectory.png",
        "checkpoints/best.safetensors",
        "checkpoints/last.safetensors",
    ] {
        assert!(dir.join("r").join(f).is_file(), "{f} missing");
    }
    let ckpt = "r/checkpoints/best.safetensors";
    let o = run(&["decision", "intent", "eval", "--checkpoint", ckpt], &dir);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("held_out_intent_accuracy 0."),
        "{}",
        text(&o.stdout)
    );

    // Commands on the command line: one JSON line each, in order.
    let p = json_lines(&run(
        &[
            "decision",
            "intent",
            "predict",
            "--checkpoint",
            ckpt,
            "bring me the water from the kitchen",
            "Stop!",
        ],
        &dir,
    ));
    assert_eq!(p.len(), 2);
    assert_eq!(p[0]["text"], "bring me the water from the kitchen");
    assert_eq!(p[1]["text"], "Stop!");
    for v in &p {
        assert!(v["intent"].is_string() && v["slots"].is_object());
        let prob = v["probability"].as_f64().unwrap();
        assert!(prob > 0.0 && prob <= 1.0);
    }
    // A file (blank lines skipped) and standard input give the same lines.
    std::fs::write(
        dir.join("cmds.txt"),
        "turn on the lights\n\nopen the door\n",
    )
    .unwrap();
    let from_file = json_lines(&run(
        &[
            "decision",
            "intent",
            "predict",
            "--checkpoint",
            ckpt,
            "--input",
            "cmds.txt",
        ],
        &dir,
    ));
    let from_stdin = json_lines(&run_stdin(
        &[
            "decision",
            "intent",
            "predict",
            "--checkpoint",
            ckpt,
            "--input",
            "-",
        ],
        &dir,
        "turn on the lights\n\nopen the door\n",
    ));
    assert_eq!(from_file.len(), 2);
    assert_eq!(from_file, from_stdin);

    // Scoring a user's JSON-lines file.
    std::fs::write(
        dir.join("mine.jsonl"),
        "{\"text\": \"open the door\", \"intent\": \"open\", \"slots\": {\"object\": \"door\"}}\n",
    )
    .unwrap();
    let o = run(
        &[
            "decision",
            "intent",
            "eval",
            "--checkpoint",
            ckpt,
            "--data",
            "mine.jsonl",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("over 1 commands"),
        "{}",
        text(&o.stdout)
    );

    // Bad commands name the line.
    std::fs::write(dir.join("bad.txt"), "open the door\n?!\n").unwrap();
    fails_with(
        run(
            &[
                "decision",
                "intent",
                "predict",
                "--checkpoint",
                ckpt,
                "--input",
                "bad.txt",
            ],
            &dir,
        ),
        "bad.txt: line 2: \"?!\" has no words",
    );
    let long = vec!["word"; 40].join(" ");
    fails_with(
        run(
            &["decision", "intent", "predict", "--checkpoint", ckpt, &long],
            &dir,
        ),
        "command 1: 40 words, more than the 32",
    );
    fails_with(
        run(
            &["decision", "intent", "predict", "--checkpoint", ckpt],
            &dir,
        ),
        "give a command",
    );
    fails_with(
        run(
            &[
                "decision",
                "intent",
                "predict",
                "--checkpoint",
                ckpt,
                "--input",
                "none.txt",
            ],
            &dir,
        ),
        "none.txt",
    );
    // Not a checkpoint, and a checkpoint of another family.
    std::fs::write(dir.join("junk.safetensors"), "not a checkpoint").unwrap();
    fails_with(
        run(
            &[
                "decision",
                "intent",
                "predict",
                "--checkpoint",
                "junk.safetensors",
                "stop",
            ],
            &dir,
        ),
        "junk.safetensors",
    );
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
        run(
            &[
                "decision",
                "intent",
                "eval",
                "--checkpoint",
                "c/checkpoints/best.safetensors",
            ],
            &dir,
        ),
        "not a decision-intent checkpoint (written by `ferrograd decision intent train`)",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn training_on_user_data_and_bad_flags() {
    let dir = tmp("user");
    let mut lines = String::new();
    for (i, (t, intent, slots)) in [
        ("bring me the mug", "fetch", r#"{"object": "mug"}"#),
        (
            "get the book from the kitchen",
            "fetch",
            r#"{"object": "book", "location": "kitchen"}"#,
        ),
        ("turn on the lamp", "turn_on", r#"{"device": "lamp"}"#),
        ("switch off the tv", "turn_off", r#"{"device": "tv"}"#),
        ("stop", "stop", "{}"),
        (
            "wait five minutes",
            "wait",
            r#"{"duration": "five minutes"}"#,
        ),
    ]
    .iter()
    .cycle()
    .take(60)
    .enumerate()
    {
        let _ = i;
        lines.push_str(&format!(
            "{{\"text\": \"{t}\", \"intent\": \"{intent}\", \"slots\": {slots}}}\n"
        ));
    }
    std::fs::write(dir.join("train.jsonl"), &lines).unwrap();
    let o = run(
        &[
            "decision",
            "intent",
            "train",
            "--test",
            "--quiet",
            "--no-plot",
            "--data",
            "train.jsonl",
            "--test-data",
            "train.jsonl",
            "--out",
            "u",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("test: intent accuracy"),
        "{}",
        text(&o.stdout)
    );

    // A bad line of the user's file: file, line and field named.
    std::fs::write(
        dir.join("bad.jsonl"),
        format!("{lines}{{\"text\": \"dance now\", \"intent\": \"dance\"}}\n"),
    )
    .unwrap();
    fails_with(
        run(
            &[
                "decision",
                "intent",
                "train",
                "--test",
                "--quiet",
                "--data",
                "bad.jsonl",
                "--out",
                "b",
            ],
            &dir,
        ),
        "bad.jsonl: line 61: field 'intent': unknown intent 'dance'",
    );
    assert!(!dir.join("b").exists(), "a failed run left its folder");
    fails_with(
        run(
            &[
                "decision", "intent", "train", "--test", "--heads", "3", "--out", "h",
            ],
            &dir,
        ),
        "--heads must divide --d-model",
    );
    std::fs::write(dir.join("c.yaml"), "bucket: 10\n").unwrap();
    fails_with(
        run(
            &[
                "decision", "intent", "train", "--test", "--config", "c.yaml", "--out", "y",
            ],
            &dir,
        ),
        "unknown key 'bucket'",
    );
    // An earlier run is refused unless resumed or overwritten.
    fails_with(
        run(
            &[
                "decision",
                "intent",
                "train",
                "--test",
                "--quiet",
                "--data",
                "train.jsonl",
                "--out",
                "u",
            ],
            &dir,
        ),
        "already holds a run",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
