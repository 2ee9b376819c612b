//! Shared pieces of the fuzz targets: valid seed inputs of every reader,
//! built in memory, and the input split every target uses.
//!
//! A target's first byte chooses how the rest is used: even, the rest is the
//! input itself (libFuzzer's own mutations, starting from the corpus); odd,
//! the second byte picks one of the target's valid seeds and the rest is a
//! list of [`ferrograd_nn::mutate`] mutations applied to it (bit flips,
//! truncations, insertions, huge length fields), which reaches the checks
//! behind the framing much sooner than raw bytes do.

pub use ferrograd_models::seeds::*;
use ferrograd_nn::mutate::from_fuzz_bytes;
use std::path::{Path, PathBuf};

/// The input a target reads: raw fuzzer bytes or a mutated seed.
pub fn input(data: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    match data {
        [mode, pick, rest @ ..] if mode % 2 == 1 && !seeds.is_empty() => {
            from_fuzz_bytes(&seeds[usize::from(*pick) % seeds.len()], rest)
        }
        [_, rest @ ..] => rest.to_vec(),
        [] => Vec::new(),
    }
}

/// A file in `/dev/shm` (else the temporary folder) private to this
/// process, for readers that take a path.
pub fn scratch_file(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("ferrograd-fuzz-{}-{name}", std::process::id()))
}
