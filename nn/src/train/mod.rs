//! Training utilities: a JSON-lines [`MetricsLogger`] and seed derivation ([`derive_seed`],
//! [`SeedSequence`]) so a whole run is reproducible from one seed.

mod metrics;
mod seed;

pub use metrics::{read_metrics, MetricsLogger, MetricsRecord};
pub use seed::{
    derive_seed, derive_seed_index, fnv1a64, seed_everything, splitmix64, SeedSequence,
};
