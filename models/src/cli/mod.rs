//! The `ferrograd` command line: argument parsing (clap) and dispatch. Every
//! command returns a `Result`; `main` prints the error and exits non-zero.

mod cde;
mod export;
mod maml;

use clap::{Parser, Subcommand};

/// ferrograd: train and evaluate small models.
#[derive(Parser, Debug)]
#[command(name = "ferrograd", version, about)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Model-agnostic meta-learning.
    Maml {
        /// The benchmark.
        #[command(subcommand)]
        benchmark: maml::Benchmark,
    },
    /// Conditional density estimation (MAF, full-covariance MDN).
    Cde {
        /// What to do.
        #[command(subcommand)]
        action: cde::CdeAction,
    },
    /// Export a MAF, MDN or MLP checkpoint for the embedded runtime: a blob,
    /// a Rust source file and a C header.
    Export(export::ExportArgs),
}

/// Parses the process arguments and runs the command.
pub fn run() -> ferrograd_nn::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Maml { benchmark } => maml::run(benchmark),
        Command::Cde { action } => cde::run(action),
        Command::Export(args) => export::run(args),
    }
}
