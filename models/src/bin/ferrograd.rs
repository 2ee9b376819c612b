//! The `ferrograd` command-line program; see `ferrograd --help`.

fn main() {
    // `ferrograd __check-hdf5 FILE REQUEST`: this program as the child that
    // reads an HDF5 file for its parent, so libhdf5 crashing on a corrupt
    // file ends the child, not the run.
    if let Some(code) = ferrograd_models::cli::internal_command() {
        std::process::exit(code);
    }
    if let Err(e) = ferrograd_models::cli::run() {
        eprintln!("ferrograd: {e}");
        std::process::exit(1);
    }
}
