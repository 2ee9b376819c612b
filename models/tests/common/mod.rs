//! Helpers of the CLI tests: a fresh folder per test, running the
//! `ferrograd` binary in it, and checking a failure's message.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An empty folder for test `name` of the `family` tests.
pub fn tmp(family: &str, name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "ferrograd-{family}-cli-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Runs `ferrograd ARGS` in `dir`.
pub fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrograd"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Bytes of an output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `ferrograd ARGS` fails, without a panic, with `needle` in its message.
pub fn fails_with(args: &[&str], dir: &Path, needle: &str) {
    let o = run(args, dir);
    let e = text(&o.stderr);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(e.contains(needle), "{args:?}: {e}");
    assert!(!e.contains("panicked"), "{args:?}: {e}");
}
