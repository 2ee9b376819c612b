//! The intent transformer: what a spoken or typed robot command asks for
//! (one of 12 [`labels::INTENTS`]) and its slot values (BIO tags of
//! [`labels::SLOTS`] on each word), from a Transformer encoder over
//! subword-aware word vectors.
//!
//! * [`generator`] and [`templates`]: the built-in seeded command generator
//!   with held-out phrasings and a typo test set; [`jsonl`]: the reader of a
//!   user's JSON-lines commands.
//! * [`tokenizer`]: words, each a bag of its vocabulary id and hashed
//!   character n-grams (fastText's scheme), so an unseen word or a typo
//!   still shares most of its units with the word it resembles.
//! * [`model`]: [`IntentTransformer`], a [`super::TokenClassifier`] (its
//!   `tok`, `pos`, `enc` and `out` = the intent head) plus a per-word slot
//!   head `slot`.

pub mod config;
pub mod generator;
pub mod jsonl;
pub mod labels;
pub mod metrics;
pub mod model;
pub mod predict;
pub mod templates;
pub mod text;
pub mod tokenizer;
pub mod train;

pub use config::IntentRunConfig;
pub use model::IntentTransformer;
pub use predict::{IntentModel, Prediction};
pub use train::{evaluate_checkpoint, train, EvalReport, TrainSummary, FAMILY};
