//! Deterministic seed derivation: one base seed gives every random part of a
//! run (initialisation, shuffling, dropout, sampling) its own independent,
//! stable seed.
//!
//! ferrograd has no global random state: every random component takes a seed
//! (see [`crate::init::rng`]). These helpers turn one run seed into those
//! seeds with stable, documented mixing (SplitMix64 and FNV-1a), so the same
//! base seed reproduces a run on every platform and every build.

use rand::rngs::StdRng;

/// The SplitMix64 output for state `x`: `x + 0x9E3779B97F4A7C15`, then the
/// finaliser (Steele, Lea and Flood 2014). A bijection on `u64` that mixes
/// every input bit into every output bit. `splitmix64(0)` is the first
/// output of SplitMix64 seeded with 0, `0xE220A8397B1DCDAF`.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The 64-bit FNV-1a hash of `bytes` (stable across platforms and releases,
/// unlike `std`'s hasher).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The seed of the named `stream` (`"init"`, `"shuffle"`, `"dropout"`, …)
/// of a run seeded with `base`: `splitmix64(splitmix64(base) ^ fnv1a64(stream))`.
///
/// ```
/// use ferrograd_nn::train::derive_seed;
/// let a = derive_seed(42, "init");
/// assert_eq!(a, derive_seed(42, "init")); // stable
/// assert_ne!(a, derive_seed(42, "shuffle")); // streams differ
/// assert_ne!(a, derive_seed(43, "init")); // bases differ
/// ```
pub fn derive_seed(base: u64, stream: &str) -> u64 {
    splitmix64(splitmix64(base) ^ fnv1a64(stream.as_bytes()))
}

/// The seed number `index` (an epoch, a task, a worker) derived from `base`:
/// output `index + 1` of a SplitMix64 generator started at
/// `splitmix64(base)`. Distinct indices give distinct seeds.
pub fn derive_seed_index(base: u64, index: u64) -> u64 {
    splitmix64(splitmix64(base).wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

/// One run seed and the seeds derived from it.
///
/// ```
/// use ferrograd_nn::train::seed_everything;
/// let seeds = seed_everything(7);
/// let init_seed = seeds.seed("init");
/// let shuffle = seeds.child("data").seed("shuffle");
/// assert_ne!(init_seed, shuffle);
/// assert_eq!(seeds.base(), 7);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedSequence {
    base: u64,
}

impl SeedSequence {
    /// The sequence rooted at `base`.
    pub fn new(base: u64) -> SeedSequence {
        SeedSequence { base }
    }

    /// The run seed this sequence was made from.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The seed of the named stream ([`derive_seed`]).
    pub fn seed(&self, stream: &str) -> u64 {
        derive_seed(self.base, stream)
    }

    /// The seed number `index` ([`derive_seed_index`]).
    pub fn seed_index(&self, index: u64) -> u64 {
        derive_seed_index(self.base, index)
    }

    /// A generator for the named stream ([`crate::init::rng`] of its seed).
    pub fn rng(&self, stream: &str) -> StdRng {
        crate::init::rng(self.seed(stream))
    }

    /// A sub-sequence for a part of the run (its streams differ from the
    /// parent's).
    pub fn child(&self, stream: &str) -> SeedSequence {
        SeedSequence::new(self.seed(stream))
    }
}

/// The [`SeedSequence`] of a run seeded with `seed`. ferrograd keeps no
/// global random state, so this seeds nothing by itself: pass
/// `seeds.seed("init")`, `seeds.seed("shuffle")`, … to the components.
pub fn seed_everything(seed: u64) -> SeedSequence {
    SeedSequence::new(seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn reference_values() {
        // SplitMix64 seeded with 0 (Vigna's reference implementation).
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(0x9E37_79B9_7F4A_7C15), 0x6E78_9E6A_A1B9_65F4);
        // FNV-1a test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn derived_seeds_are_stable_and_distinct() {
        // Pinned so a change of mixing (which would change every run) is noticed.
        assert_eq!(
            derive_seed(0, ""),
            splitmix64(splitmix64(0) ^ 0xcbf2_9ce4_8422_2325)
        );
        let mut seen = HashSet::new();
        for base in 0..50 {
            for stream in ["init", "shuffle", "dropout", "sample"] {
                assert!(seen.insert(derive_seed(base, stream)));
            }
            for i in 0..50 {
                assert!(seen.insert(derive_seed_index(base, i)));
            }
        }
    }

    #[test]
    fn sequences_and_children() {
        let s = seed_everything(3);
        assert_eq!(s.seed("x"), derive_seed(3, "x"));
        assert_eq!(s.seed_index(4), derive_seed_index(3, 4));
        assert_ne!(s.child("a").seed("x"), s.seed("x"));
        assert_ne!(s.child("a").seed("x"), s.child("b").seed("x"));
        use rand::Rng;
        let (mut a, mut b) = (s.rng("r"), s.rng("r"));
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }
}
