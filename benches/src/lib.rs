//! Criterion benches for ferrograd; see `benches/` in this crate. Run with
//! `cargo bench -p ferrograd-benches`.
//!
//! [`anchors`] holds ferrograd's versions of the reference workloads in
//! `../shared/anchors`, started from the committed dumps; the `workloads`
//! bench times their training steps and `tests/tests/anchor_workloads.rs`
//! checks that they reproduce the reference losses.

pub mod anchors;
