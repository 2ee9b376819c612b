//! `ferrograd export --checkpoint FILE --out DIR`.

use crate::export::export_checkpoint;
use clap::Args;
use ferrograd_nn::layers::activation::Activation;
use ferrograd_nn::Result;
use std::path::PathBuf;

/// Options of `export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The checkpoint (from `cde train` or `maml sinusoid train`, or any
    /// plain MLP state dict).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Output folder for NAME.bin, NAME.rs and NAME.h.
    #[arg(long)]
    out: PathBuf,
    /// Base name of the files and symbols (default: maf, mdn or mlp).
    #[arg(long)]
    name: Option<String>,
    /// The MLP's activation, for checkpoints that do not record it.
    #[arg(long, value_parser = |s: &str| s.parse::<Activation>().map_err(|e| e.to_string()))]
    activation: Option<Activation>,
}

/// Runs `export` and prints what it wrote.
pub fn run(args: ExportArgs, out: &mut super::Output) -> Result<()> {
    let s = export_checkpoint(
        &args.checkpoint,
        &args.out,
        args.name.as_deref(),
        args.activation,
    )?;
    out.line(format!(
        "exported {} model: {} bytes, scratch {} floats ({} bytes)",
        s.kind.to_uppercase(),
        s.blob_bytes,
        s.scratch_floats,
        4 * s.scratch_floats
    ))?;
    for f in &s.files {
        out.line(format!("  {}", f.display()))?;
    }
    Ok(())
}
