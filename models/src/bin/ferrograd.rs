//! The `ferrograd` command-line program; see `ferrograd --help`.

fn main() {
    if let Err(e) = ferrograd_models::cli::run() {
        eprintln!("ferrograd: {e}");
        std::process::exit(1);
    }
}
