//! `ferrograd world` as a user meets it: the whole pipeline in seconds,
//! the stages one by one, and the errors for bad flags and files.

use std::path::PathBuf;

mod common;
use common::{fails_with, run, text};

fn tmp(name: &str) -> PathBuf {
    common::tmp("world", name)
}

#[test]
fn the_whole_pipeline_runs_and_reports() {
    let dir = tmp("all");
    let o = run(&["world", "all", "--test", "--quiet", "--out", "w"], &dir);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("MDN-RNN test NLL per step"), "{out}");
    assert!(out.contains("| planner, trained MDN-RNN |"), "{out}");
    for f in [
        "summary.md",
        "summary.json",
        "plan.json",
        "dream.png",
        "vae/checkpoints/best.safetensors",
        "rnn/checkpoints/best.safetensors",
        "rnn/eval.json",
        "episodes/episode_00000.safetensors",
    ] {
        assert!(dir.join("w").join(f).is_file(), "{f} missing");
    }
    // The plan stage alone, from the checkpoints, with a JSON copy.
    let o = run(
        &[
            "world",
            "plan",
            "--vae",
            "w/vae/checkpoints/best.safetensors",
            "--rnn",
            "w/rnn/checkpoints/best.safetensors",
            "--episodes",
            "1",
            "--json",
            "p.json",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("1 real episodes each"));
    assert!(dir.join("p.json").is_file());
    // Checkpoints of the wrong kind are named.
    fails_with(
        &[
            "world",
            "plan",
            "--vae",
            "w/rnn/checkpoints/best.safetensors",
            "--rnn",
            "w/rnn/checkpoints/best.safetensors",
        ],
        &dir,
        "world-rnn",
    );
    // A second run into the same folder is refused.
    fails_with(
        &["world", "all", "--test", "--quiet", "--out", "w"],
        &dir,
        "w",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stages_run_one_by_one_and_skip_a_corrupt_episode() {
    let dir = tmp("stages");
    let o = run(&["world", "collect", "--test", "--out", "eps"], &dir);
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::write(dir.join("eps/episode_00003.safetensors"), b"truncated").unwrap();
    let o = run(
        &[
            "world",
            "train-vae",
            "--test",
            "--episodes-dir",
            "eps",
            "--out",
            "v",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("episode_00003"),
        "the skipped file is named"
    );
    let o = run(
        &[
            "world",
            "train-rnn",
            "--test",
            "--quiet",
            "--episodes-dir",
            "eps",
            "--vae",
            "v/checkpoints/best.safetensors",
            "--out",
            "r",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("untrained"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flags_and_files_are_named() {
    let dir = tmp("bad");
    fails_with(
        &["world", "train-vae", "--test", "--out", "v"],
        &dir,
        "--episodes-dir",
    );
    fails_with(
        &["world", "collect", "--out", "e", "--episodes", "0"],
        &dir,
        "--episodes must be at least 1",
    );
    fails_with(
        &["world", "collect", "--out", "e", "--noise", "2"],
        &dir,
        "--noise must be in [0, 1]",
    );
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    fails_with(
        &[
            "world",
            "train-vae",
            "--test",
            "--episodes-dir",
            "empty",
            "--out",
            "v",
        ],
        &dir,
        "no episode",
    );
    fails_with(
        &[
            "world",
            "plan",
            "--vae",
            "nope.safetensors",
            "--rnn",
            "nope.safetensors",
        ],
        &dir,
        "nope.safetensors",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
