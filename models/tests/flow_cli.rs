//! `ferrograd flow` as a user meets it: a small run, its evaluation and
//! samples, and the errors for bad flags and files.

use std::path::PathBuf;

mod common;
use common::{fails_with, run, text};

fn tmp(name: &str) -> PathBuf {
    common::tmp("flow", name)
}

#[test]
fn train_eval_and_sample_a_small_run() {
    let dir = tmp("run");
    let o = run(&["flow", "train", "--test", "--quiet", "--out", "r"], &dir);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("test reconstruction Chamfer"), "{out}");
    for f in [
        "loss_trajectory.png",
        "samples.png",
        "eval.json",
        "checkpoints/last.safetensors",
    ] {
        assert!(dir.join("r").join(f).is_file(), "{f} missing");
    }
    let ckpt = "r/checkpoints/last.safetensors";
    let o = run(&["flow", "eval", "--checkpoint", ckpt], &dir);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("recon_chamfer 0."),
        "{}",
        text(&o.stdout)
    );

    // Reconstructions of 3 test clouds, as a PNG and CSV on standard output.
    let o = run(
        &[
            "flow",
            "sample",
            "--checkpoint",
            ckpt,
            "-n",
            "3",
            "--out",
            "s.png",
            "--csv",
            "-",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(dir.join("s.png").is_file());
    let csv = text(&o.stdout);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "cloud,x,y");
    assert_eq!(
        rows.len(),
        1 + 3 * 100,
        "the test preset has 100 points per cloud"
    );
    assert!(rows[300].starts_with("2,"));

    // Without a VAE head there is no prior to sample from.
    fails_with(
        &[
            "flow",
            "sample",
            "--checkpoint",
            ckpt,
            "--from",
            "prior",
            "--csv",
            "-",
        ],
        &dir,
        "VAE head",
    );
    fails_with(
        &["flow", "sample", "--checkpoint", ckpt],
        &dir,
        "give --out",
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
        &[
            "flow",
            "eval",
            "--checkpoint",
            "c/checkpoints/best.safetensors",
        ],
        &dir,
        "not a flow checkpoint",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn vae_runs_sample_from_the_prior() {
    let dir = tmp("vae");
    let o = run(
        &[
            "flow",
            "train",
            "--test",
            "--vae",
            "--quiet",
            "--no-plot",
            "--out",
            "v",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("generation Chamfer"),
        "{}",
        text(&o.stdout)
    );
    let o = run(
        &[
            "flow",
            "sample",
            "--checkpoint",
            "v/checkpoints/last.safetensors",
            "-n",
            "2",
            "--solver",
            "heun",
            "--steps",
            "4",
            "--csv",
            "-",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().count(), 1 + 2 * 100);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flags_and_files_are_named() {
    let dir = tmp("bad");
    let t = ["flow", "train", "--test", "--quiet", "--no-plot"];
    fails_with(
        &[&t[..], &["--digit", "12", "--out", "a"]].concat(),
        &dir,
        "--digit must be 0 to 9",
    );
    fails_with(
        &[&t[..], &["--lr", "-1", "--out", "a"]].concat(),
        &dir,
        "--lr must be positive",
    );
    fails_with(
        &[&t[..], &["--points", "0", "--out", "a"]].concat(),
        &dir,
        "--points",
    );
    std::fs::write(dir.join("junk.idx"), b"not an idx file at all").unwrap();
    std::fs::write(dir.join("labels.idx"), b"").unwrap();
    fails_with(
        &[
            "flow",
            "train",
            "--quiet",
            "--epochs",
            "1",
            "--images",
            "junk.idx",
            "--labels",
            "labels.idx",
            "--out",
            "b",
        ],
        &dir,
        "junk.idx",
    );
    fails_with(
        &[
            "flow",
            "train",
            "--quiet",
            "--images",
            "missing.gz",
            "--labels",
            "labels.idx",
            "--out",
            "b",
        ],
        &dir,
        "missing.gz",
    );
    assert!(
        !dir.join("b").exists(),
        "a failed run left its folder behind"
    );
    fails_with(
        &["flow", "eval", "--checkpoint", "nothing.safetensors"],
        &dir,
        "nothing.safetensors",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
