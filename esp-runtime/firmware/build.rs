//! Puts `memory.x` on the linker's search path (riscv-rt's `link.x` includes
//! it) and tells the firmware where the exported models are:
//! `$FERROGRAD_MODELS` if set (scripts/esp32-check.sh exports fresh ones),
//! else the committed `models/` folder.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    let models = match env::var("FERROGRAD_MODELS") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("manifest dir")).join("models"),
    };
    for name in ["maf", "mdn", "mlp", "resmlp"] {
        let file = models.join(format!("{name}.rs"));
        assert!(file.is_file(), "{} is missing: run `ferrograd export`", file.display());
        println!("cargo:rerun-if-changed={}", file.display());
    }
    println!("cargo:rustc-env=FERROGRAD_MODELS_DIR={}", models.display());
    println!("cargo:rerun-if-env-changed=FERROGRAD_MODELS");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
