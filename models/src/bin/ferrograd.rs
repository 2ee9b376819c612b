//! The `ferrograd` command-line program.

fn main() {
    eprintln!("ferrograd: no commands yet");
    std::process::exit(2);
}
