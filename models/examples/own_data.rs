//! Train a conditional density model on your own CSV file, in Rust: the
//! same run as `ferrograd cde train --data FILE --x-cols … --f-cols …`.
//!
//! `cargo run --release -p ferrograd-models --example own_data [FILE.csv]`
//! (without a file it writes a small one of its own first).

use ferrograd_models::cde::{self, CdeConfig, ModelKind};
use ferrograd_models::run::config::List;
use ferrograd_models::run::{Event, OpenMode, Reporter, RunDir};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Prints each log period and warning.
struct Lines;

impl Reporter for Lines {
    fn report(&mut self, event: Event) {
        match event {
            Event::Log { step, metrics } => {
                let m: Vec<String> = metrics.iter().map(|(n, v)| format!("{n} {v:.4}")).collect();
                println!("step {step}: {}", m.join(", "));
            }
            Event::Warning(w) => eprintln!("warning: {w}"),
            _ => {}
        }
    }
}

fn main() -> ferrograd_nn::Result<()> {
    let dir = std::env::temp_dir().join("ferrograd-own-data");
    std::fs::create_dir_all(&dir).map_err(|source| ferrograd_nn::Error::Io {
        path: dir.clone(),
        source,
    })?;
    let file = match std::env::args().nth(1) {
        Some(f) => PathBuf::from(f),
        None => {
            // power ≈ 1000 + 2·load (W) and speed ≈ 3 + load/100 (m/s), noisy.
            let mut csv = String::from("load,speed,power\n");
            for i in 0..4000u32 {
                let load = 100.0 + (i % 800) as f64;
                let z = ((i.wrapping_mul(2_654_435_761) >> 8) as f64 / 16_777_216.0) - 0.5;
                let _ = writeln!(
                    csv,
                    "{load},{},{}",
                    3.0 + load / 100.0 + z,
                    1000.0 + 2.0 * load + 60.0 * z * z
                );
            }
            let f = dir.join("rollouts.csv");
            ferrograd_nn::atomic::write_bytes(&f, csv.as_bytes())?;
            f
        }
    };
    let cfg = CdeConfig {
        model: ModelKind::Maf,
        data: Some(file),
        x_cols: List(vec!["speed".into(), "power".into()]),
        f_cols: List(vec!["load".into()]),
        epochs: 20,
        ..CdeConfig::default()
    };
    let run = RunDir::open(dir.join("run"), OpenMode::Overwrite)?;
    let summary = cde::train(&cfg, &run, false, false, &mut Lines)?;
    println!("{}", summary.eval);
    // Reload the best checkpoint and ask it for densities in the data's units.
    let best = cde::load(run.best())?;
    let x = ferrograd_tensor::Tensor::from_vec(vec![6.0, 1600.0], &[1, 2])?;
    let f = ferrograd_tensor::Tensor::from_vec(vec![300.0], &[1, 1])?;
    println!(
        "log p(speed 6, power 1600 | load 300) = {:.3}",
        best.model.log_prob_values(&x, &f)?[0]
    );
    println!("wrote {}", run.root().display());
    Ok(())
}
