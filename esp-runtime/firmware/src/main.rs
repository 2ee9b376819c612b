//! Bare-metal firmware for the ESP32-C3 class (riscv32imc), run under QEMU's
//! `virt` machine with semihosting: the device half of the host/device
//! parity check.
//!
//! It embeds four exported models (`maf.rs`, `mdn.rs`, `mlp.rs`,
//! `resmlp.rs` from `ferrograd export`, in the folder the build script
//! names) and prints each
//! one's [`ferrograd_esp::selftest`] report: log-densities of fixed points,
//! seeded samples and MLP outputs as f32 bits. The host prints the same
//! report with `cargo run -p ferrograd-esp --features alloc --example parity`
//! and `scripts/esp32-check.sh` requires the two to be identical.
//!
//! Lines starting with `instret ` are instruction counts of one call
//! (exact only under `qemu -icount shift=0`; see [`instret`]) and `heap `
//! the allocator's peak (0: inference allocates nothing); the comparison
//! skips both. Exits QEMU with status 0 (an error or panic exits non-zero).

#![no_std]
#![no_main]

mod bump;
mod instret;

use core::fmt::{self, Write};
use ferrograd_esp::{selftest, Model};
use riscv_rt::entry;
use semihosting::println;

include!(concat!(env!("FERROGRAD_MODELS_DIR"), "/maf.rs"));
include!(concat!(env!("FERROGRAD_MODELS_DIR"), "/mdn.rs"));
include!(concat!(env!("FERROGRAD_MODELS_DIR"), "/mlp.rs"));
include!(concat!(env!("FERROGRAD_MODELS_DIR"), "/resmlp.rs"));

/// `ferrograd-tensor` is `no_std + alloc`, so linking needs a global
/// allocator; the runtime never uses it (the `heap peak` line shows 0).
#[global_allocator]
static HEAP: bump::Bump<1024> = bump::Bump::new();

/// f32s of work space for the largest report.
const WORK: usize = 8192;

/// Writes to the semihosting console.
struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        semihosting::print!("{s}");
        Ok(())
    }
}

fn fail(what: &str, name: &str, detail: impl fmt::Debug) -> ! {
    println!("error {what} {name}: {detail:?}");
    semihosting::process::exit(1)
}

/// Prints `model`'s report, then the instruction counts of one log-density
/// (or MLP forward) and one sample.
fn run(name: &str, model: &Model<'_>, work: &mut [f32]) {
    let need = selftest::work_len(model);
    if need > work.len() {
        fail("work", name, need);
    }
    if let Err(e) = selftest::report(name, model, &mut work[..need], &mut Console) {
        fail("report", name, e);
    }
    let (scratch, rest) = work.split_at_mut(model.scratch_len());
    let (x, rest) = rest.split_at_mut(model.dim());
    let (f, rest) = rest.split_at_mut(model.features());
    match model {
        Model::Mlp(_) | Model::ResMlp(_) => {
            selftest::inputs(0, x, &mut []);
            let (r, n) = instret::measure(|| model.forward(x, f, scratch));
            if let Err(e) = r {
                fail("forward", name, e);
            }
            println!("instret {name} forward {n}");
        }
        _ => {
            selftest::inputs(0, x, f);
            let (r, n) = instret::measure(|| model.log_prob(x, f, scratch));
            if let Err(e) = r {
                fail("log_prob", name, e);
            }
            println!("instret {name} log_prob {n}");
            let out = &mut rest[..model.dim()];
            let (r, n) = instret::measure(|| model.sample(f, 1, out, 1, scratch));
            if let Err(e) = r {
                fail("sample", name, e);
            }
            println!("instret {name} sample {n}");
        }
    }
}

#[entry]
fn main() -> ! {
    let cal = instret::calibrate();
    println!(
        "instret counter {}",
        if cal.exact() { "exact" } else { "not-exact" }
    );
    let mut work = [0.0f32; WORK];
    for (name, blob) in [
        ("maf", MAF_BLOB),
        ("mdn", MDN_BLOB),
        ("mlp", MLP_BLOB),
        ("resmlp", RESMLP_BLOB),
    ] {
        match Model::from_bytes(blob) {
            Ok(model) => run(name, &model, &mut work),
            Err(e) => fail("blob", name, e),
        }
    }
    println!("heap peak {}", HEAP.peak());
    semihosting::process::exit(0)
}
