//! Training utilities: a JSON-lines [`MetricsLogger`], a terminal
//! [`Progress`] bar, and seed derivation ([`derive_seed`],
//! [`SeedSequence`]) so a whole run is reproducible from one seed.

mod metrics;
mod progress;
mod seed;

pub use metrics::{read_metrics, MetricsLogger, MetricsRecord};
pub use progress::Progress;
pub use seed::{
    derive_seed, derive_seed_index, fnv1a64, seed_everything, splitmix64, SeedSequence,
};
