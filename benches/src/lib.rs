//! Criterion benches for ferrograd; see `benches/` in this crate. Run with
//! `cargo bench -p ferrograd-benches`.
