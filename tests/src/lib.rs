//! Integration tests and property-based gradient checks for ferrograd; the
//! tests live in `tests/`.

/// The README's Rust examples, compiled and run as doctests
/// (`cargo test -p ferrograd-tests --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
