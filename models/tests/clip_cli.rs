//! `ferrograd decision clip` as a user meets it: a small run, its
//! evaluation and picture, and the errors for bad flags and files.

use std::path::{Path, PathBuf};

mod common;
use common::{fails_with, run, text};

fn tmp(name: &str) -> PathBuf {
    common::tmp("clip", name)
}

#[test]
fn train_and_evaluate_a_small_run() {
    let dir = tmp("run");
    let o = run(
        &[
            "decision", "clip", "train", "--test", "--quiet", "--out", "r",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("retrieval, held-out combinations"), "{out}");
    assert!(
        out.contains("zero-shot, held-out combinations: colour"),
        "{out}"
    );
    for f in [
        "config.json",
        "metrics.jsonl",
        "eval.json",
        "retrieval.png",
        "checkpoints/best.safetensors",
        "checkpoints/last.safetensors",
    ] {
        assert!(dir.join("r").join(f).is_file(), "{f} missing");
    }
    let ckpt = "r/checkpoints/best.safetensors";
    let o = run(
        &[
            "decision",
            "clip",
            "eval",
            "--checkpoint",
            ckpt,
            "--json",
            "--png",
            "p.png",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let top1 = v["held_out"]["image_to_text_top1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&top1), "{v}");
    assert_eq!(v["held_out"]["gallery"], 200, "{v}");
    assert!(v["zero_shot_held_out"]["shape"].as_f64().is_some(), "{v}");
    assert!(dir.join("p.png").is_file());
    // The same report as the run's eval.json (apart from the wall time).
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r/eval.json")).unwrap()).unwrap();
    assert_eq!(saved["held_out"], v["held_out"]);
    assert_eq!(saved["zero_shot_seen"], v["zero_shot_seen"]);

    // A longer run continues from the last checkpoint.
    let o = run(
        &[
            "decision", "clip", "train", "--quiet", "--resume", "r", "--steps", "80",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("resuming"), "{}", text(&o.stdout));
    fails_with(
        &[
            "decision", "clip", "train", "--quiet", "--resume", "r", "--lr", "0.1",
        ],
        &dir,
        "--lr cannot change",
    );

    // An earlier run is not overwritten without --overwrite.
    fails_with(
        &[
            "decision", "clip", "train", "--test", "--quiet", "--out", "r",
        ],
        &dir,
        "r",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flags_and_files_are_errors_naming_them() {
    let dir = tmp("bad");
    let train = |extra: &[&str], needle: &str| {
        let mut args = vec![
            "decision", "clip", "train", "--test", "--quiet", "--out", "x",
        ];
        args.extend_from_slice(extra);
        fails_with(&args, &dir, needle);
    };
    train(&["--batch", "1"], "--batch must be at least 2");
    train(&["--batch", "500"], "--batch must be at most 240");
    train(&["--heads", "3"], "--heads must divide --d-model");
    train(
        &["--temperature", "0"],
        "--temperature must be in [0.01, 10]",
    );
    train(&["--lr", "-1"], "--lr must be positive");
    train(&["--channels", "8,0"], "--channels");
    train(&["--steps", "many"], "invalid value 'many'");
    std::fs::write(dir.join("c.yaml"), "steps: 10\nlearning_rate: 3\n").unwrap();
    train(&["--config", "c.yaml"], "unknown key 'learning_rate'");
    assert!(!dir.join("x").exists(), "a refused run left a folder");

    let eval = |ckpt: &str, needle: &str| {
        fails_with(
            &["decision", "clip", "eval", "--checkpoint", ckpt],
            &dir,
            needle,
        );
    };
    eval("missing.safetensors", "missing.safetensors");
    std::fs::write(dir.join("junk.safetensors"), b"not a checkpoint").unwrap();
    eval("junk.safetensors", "junk.safetensors");
    fails_with(&["decision", "clip", "eval"], &dir, "--checkpoint");

    // Checkpoints of another family, and of this family without a vocabulary.
    let mut other = ferrograd_nn::Checkpoint::new();
    other.set_json("family", "flow").unwrap();
    other.save(dir.join("flow.safetensors")).unwrap();
    eval("flow.safetensors", "written by `ferrograd flow train`");
    let cfg = serde_json::to_value(ferrograd_models::decision::clip::ClipRunConfig::default());
    let mut no_vocab = ferrograd_nn::Checkpoint::new();
    no_vocab.set_json("family", "decision-clip").unwrap();
    no_vocab.set_json("config", &cfg.unwrap()).unwrap();
    no_vocab.save(dir.join("novocab.safetensors")).unwrap();
    eval(
        "novocab.safetensors",
        "metadata 'vocab' (the vocabulary) is missing",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes `n` rendered scenes as 48×48 PNG files with their canonical
/// captions into `dir/pairs.jsonl`.
fn user_pairs(dir: &Path, n: usize) {
    use ferrograd_models::decision::clip::scenes::{
        all_combinations, canonical_caption, SceneSet, SIDE,
    };
    let set = SceneSet::sample(&all_combinations(), n, 5, true);
    let mut lines = String::new();
    for (i, s) in set.scenes.iter().enumerate() {
        let px = s.render();
        let plane = SIDE * SIDE;
        let img = image::RgbImage::from_fn(48, 48, |x, y| {
            let (x, y) = ((x as usize * SIDE) / 48, (y as usize * SIDE) / 48);
            let c = |ch: usize| (px[ch * plane + y * SIDE + x] * 255.0) as u8;
            image::Rgb([c(0), c(1), c(2)])
        });
        std::fs::create_dir_all(dir.join("img")).unwrap();
        img.save(dir.join(format!("img/{i}.png"))).unwrap();
        lines.push_str(&format!(
            "{{\"image\": \"img/{i}.png\", \"caption\": \"{}\"}}\n",
            canonical_caption(&s.attributes)
        ));
    }
    std::fs::write(dir.join("pairs.jsonl"), lines).unwrap();
}

#[test]
fn train_and_evaluate_on_user_pairs() {
    let dir = tmp("user");
    user_pairs(&dir, 60);
    let o = run(
        &[
            "decision",
            "clip",
            "train",
            "--test",
            "--quiet",
            "--pairs",
            "pairs.jsonl",
            "--out",
            "u",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("retrieval, test pairs of pairs.jsonl"),
        "{out}"
    );
    assert!(!out.contains("zero-shot"), "{out}");
    assert!(dir.join("u/retrieval.png").is_file());
    let o = run(
        &[
            "decision",
            "clip",
            "eval",
            "--checkpoint",
            "u/checkpoints/best.safetensors",
            "--json",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["test"]["gallery"], 6, "{v}");
    assert!(v["held_out"].is_null(), "{v}");

    // Too large a batch for 48 training pairs, and a line naming a missing image.
    let train = |extra: &[&str], needle: &str| {
        let mut args = vec![
            "decision", "clip", "train", "--test", "--quiet", "--out", "x",
        ];
        args.extend_from_slice(extra);
        fails_with(&args, &dir, needle);
    };
    train(
        &["--pairs", "pairs.jsonl", "--batch", "100"],
        "--batch must be at most the 48 training pairs",
    );
    std::fs::write(
        dir.join("bad.jsonl"),
        "{\"image\": \"img/0.png\", \"caption\": \"a\"}\n{\"image\": \"img/none.png\", \"caption\": \"b\"}\n",
    )
    .unwrap();
    train(&["--pairs", "bad.jsonl"], "line 2: image 'img/none.png'");
    train(&["--pairs", "missing.jsonl"], "missing.jsonl");
    std::fs::remove_dir_all(&dir).unwrap();
}
