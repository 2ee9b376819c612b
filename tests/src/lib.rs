//! Integration tests and property-based gradient checks for ferrograd; the
//! tests live in `tests/`.
