//! Prints the [`ferrograd_esp::selftest`] report of each blob given on the
//! command line, exactly as the RISC-V firmware prints it under QEMU.
//!
//! `cargo run -p ferrograd-esp --features alloc --example parity -- NAME=FILE.bin ...`

use ferrograd_esp::{selftest, AlignedBlob, Model};

fn main() {
    let mut failed = false;
    for arg in std::env::args().skip(1) {
        let (name, path) = arg.split_once('=').unwrap_or(("model", arg.as_str()));
        let result = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                let aligned = AlignedBlob::new(&bytes);
                let model = Model::from_bytes(aligned.bytes()).map_err(|e| e.to_string())?;
                let mut work = vec![0.0; selftest::work_len(&model)];
                let mut out = String::new();
                selftest::report(name, &model, &mut work, &mut out)
                    .map_err(|e| format!("{e:?}"))?;
                Ok(out)
            });
        match result {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("parity: {path}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
