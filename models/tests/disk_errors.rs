//! Output that cannot be written: a read-only output folder, an output file
//! on a full device (`/dev/full`), and a disk that fills up mid-run (a file
//! size limit, `ulimit -f`, turns the first large write into an error as a
//! full disk would). Each is a clear error naming the path, at the start or
//! at the first write, never a panic, and never a damaged earlier run.

#![cfg(unix)]

mod common;

use common::text;
use ferrograd_nn::checkpoint::Checkpoint;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = common::tmp("disk", name);
    // Readable by the unprivileged user the read-only test may run as.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

const TINY: [&str; 5] = ["cde", "train", "--test", "--quiet", "--no-plot"];

fn ok(args: &[&str], dir: &Path) {
    let o = common::run(args, dir);
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
}

/// `o` failed cleanly with every one of `needles` in its message.
fn failed_with(o: &Output, needles: &[&str]) {
    let e = text(&o.stderr);
    assert!(!o.status.success(), "succeeded: {e}");
    assert!(!e.contains("panicked"), "{e}");
    for n in needles {
        assert!(e.contains(n), "no {n:?} in: {e}");
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The program and leading arguments that run `ferrograd` as a user the
/// folder permissions bind: this user, or `nobody` (through `setpriv`) when
/// this user may write anywhere (root); `None` if neither is possible.
fn unprivileged(dir: &Path) -> Option<Vec<String>> {
    let probe_dir = dir.join("probe");
    std::fs::create_dir_all(&probe_dir).unwrap();
    chmod(&probe_dir, 0o555);
    let privileged = std::fs::write(probe_dir.join("x"), b"x").is_ok();
    let _ = std::fs::remove_file(probe_dir.join("x"));
    chmod(&probe_dir, 0o755);
    std::fs::remove_dir(&probe_dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_ferrograd").to_string();
    if !privileged {
        return Some(vec![bin]);
    }
    let drop = ["--reuid=65534", "--regid=65534", "--clear-groups"];
    let works = Command::new("setpriv")
        .args(drop)
        .arg("true")
        .status()
        .is_ok_and(|s| s.success());
    works.then(|| {
        let mut c: Vec<String> = ["setpriv"]
            .iter()
            .chain(&drop)
            .map(|s| s.to_string())
            .collect();
        c.push(bin);
        c
    })
}

#[test]
fn a_read_only_output_folder_is_refused_at_the_start() {
    let dir = tmp("readonly");
    ok(&[&TINY[..], &["--out", "done"]].concat(), &dir);
    let Some(user) = unprivileged(&dir) else {
        eprintln!("skipped: running privileged and setpriv is not available");
        return;
    };
    let as_user = |args: &[&str]| {
        Command::new(&user[0])
            .args(&user[1..])
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let before = std::fs::read(dir.join("done/checkpoints/last.safetensors")).unwrap();
    std::fs::create_dir_all(dir.join("ro")).unwrap();
    for p in ["ro", "done", "done/checkpoints"] {
        chmod(&dir.join(p), 0o555);
    }
    // A new run inside a read-only folder.
    let o = as_user(&[&TINY[..], &["--out", "ro/run"]].concat());
    failed_with(&o, &["ro/run", "cannot create the run folder"]);
    // Resuming a run whose folder became read-only fails before training,
    // and the run is left as it was.
    let o = as_user(&[
        "cde", "train", "--resume", "done", "--epochs", "3", "--quiet",
    ]);
    failed_with(&o, &["done", "cannot write files in this folder"]);
    assert!(!text(&o.stderr).contains("resuming at step"));
    assert_eq!(
        std::fs::read(dir.join("done/checkpoints/last.safetensors")).unwrap(),
        before
    );
    // Only checkpoints/ read-only: still refused at the start.
    chmod(&dir.join("done"), 0o755);
    if user.len() > 1 {
        // Running as nobody: the run folder itself must be theirs.
        std::os::unix::fs::chown(dir.join("done"), Some(65534), Some(65534)).unwrap();
    }
    let o = as_user(&[
        "cde", "train", "--resume", "done", "--epochs", "3", "--quiet",
    ]);
    failed_with(&o, &["done/checkpoints", "cannot write files"]);
    for p in ["ro", "done", "done/checkpoints"] {
        chmod(&dir.join(p), 0o755);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn outputs_on_a_full_device_fail_and_the_device_stays() {
    let full = Path::new("/dev/full");
    if std::fs::OpenOptions::new().write(true).open(full).is_err() {
        eprintln!("skipped: no writable /dev/full");
        return;
    }
    let dir = tmp("full");
    ok(&[&TINY[..], &["--out", "r"]].concat(), &dir);
    let ckpt = "r/checkpoints/best.safetensors";
    for args in [
        &["regress", "make-data", "--rows", "10", "--out", "/dev/full"][..],
        &[
            "cde",
            "sample",
            "--checkpoint",
            ckpt,
            "--feature",
            "0.5",
            "-n",
            "10",
            "--out",
            "/dev/full",
        ][..],
    ] {
        failed_with(
            &common::run(args, &dir),
            &["/dev/full", "No space left on device"],
        );
        // Written in place: a rename over it would have replaced the device
        // with a file (as root).
        let kind = std::fs::metadata(full).unwrap().file_type();
        assert!(kind.is_char_device(), "{args:?} replaced /dev/full");
    }
    // A run folder there is refused before any work.
    failed_with(
        &common::run(&[&TINY[..], &["--out", "/dev/full"]].concat(), &dir),
        &["/dev/full", "not a folder"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The checkpoint's tensors as bits.
fn bits(path: &Path) -> Vec<(String, Vec<u32>)> {
    Checkpoint::load(path)
        .unwrap()
        .tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.data().iter().map(|v| v.to_bits()).collect()))
        .collect()
}

#[test]
fn a_disk_filling_up_mid_run_keeps_the_last_checkpoint_and_resumes() {
    let dir = tmp("fills");
    // Whether this shell can ignore SIGXFSZ and lower the file size limit.
    let limited = |cmd: &str| {
        Command::new("sh")
            .args(["-c", &format!("trap '' XFSZ; ulimit -f 16 && exec {cmd}")])
            .current_dir(&dir)
            .env("RAYON_NUM_THREADS", "1")
            .output()
            .unwrap()
    };
    if !limited("true").status.success() {
        eprintln!("skipped: sh cannot set ulimit -f");
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    }
    let bin = env!("CARGO_BIN_EXE_ferrograd");
    let single = |args: &[&str]| {
        let o = Command::new(bin)
            .args(args)
            .current_dir(&dir)
            .env("RAYON_NUM_THREADS", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    };
    single(&[&TINY[..], &["--out", "r"]].concat());
    single(&[&TINY[..], &["--epochs", "3", "--out", "whole"]].concat());
    let last = dir.join("r/checkpoints/last.safetensors");
    let before = std::fs::read(&last).unwrap();
    // Small files (the metrics log) still fit under 8 KiB; the first
    // checkpoint (hundreds of KiB) does not.
    let o = limited(&format!(
        "{bin} cde train --resume r --epochs 3 --quiet --no-plot"
    ));
    failed_with(&o, &["r/checkpoints/", ".safetensors", "File too large"]);
    assert_eq!(
        std::fs::read(&last).unwrap(),
        before,
        "the last checkpoint changed"
    );
    for d in ["r", "r/checkpoints"] {
        let temps: Vec<_> = std::fs::read_dir(dir.join(d))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(temps.is_empty(), "{d}: {temps:?}");
    }
    // With room again, the resume ends where an uninterrupted run does.
    single(&[
        "cde",
        "train",
        "--resume",
        "r",
        "--epochs",
        "3",
        "--quiet",
        "--no-plot",
    ]);
    assert_eq!(
        bits(&last),
        bits(&dir.join("whole/checkpoints/last.safetensors"))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
