//! A blob whose header claims 10¹² weights (or the most two u32 widths can
//! claim) is refused before anything is read or allocated: the runtime
//! borrows its weights from the blob, and every count is checked (with
//! overflow-checked arithmetic) against the floats actually present.

use ferrograd_esp::format::{crc32, MAGIC, PREAMBLE, TRAILER, VERSION};
use ferrograd_esp::{Error, Kind, Mlp, Model};
use std::time::{Duration, Instant};

/// A framed blob (as words, so its bytes are aligned) with these header
/// words and `payload` floats.
fn blob(kind: Kind, words: &[u32], payload: usize) -> Vec<u32> {
    assert_eq!(PREAMBLE % 4, 0);
    let mut b: Vec<u8> = MAGIC.to_vec();
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&(kind as u16).to_le_bytes());
    b.extend_from_slice(&(words.len() as u32).to_le_bytes());
    b.extend_from_slice(&(payload as u32).to_le_bytes());
    for w in words {
        b.extend_from_slice(&w.to_le_bytes());
    }
    b.extend(std::iter::repeat_n(0u8, 4 * payload));
    let crc = crc32(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(b.len(), PREAMBLE + 4 * (words.len() + payload) + TRAILER);
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn header_claiming_1e12_weights_is_refused_before_allocating() {
    let start = Instant::now();
    // Activation 0, one layer of 10⁶ → 10⁶ (10¹² weights), 100 floats present.
    for widths in [[1_000_000, 1_000_000], [u32::MAX, u32::MAX]] {
        let words = blob(Kind::Mlp, &[0, 1, widths[0], widths[1]], 100);
        let bytes: &[u8] = bytemuck::cast_slice(&words);
        let e = Mlp::from_bytes(bytes).unwrap_err();
        assert_eq!(
            e,
            Error::Inconsistent("payload is shorter than the dimensions need"),
            "{widths:?}"
        );
        assert!(Model::from_bytes(bytes).is_err());
    }
    // A layer count of u32::MAX needs more header words than are present.
    let words = blob(Kind::Mlp, &[0, u32::MAX, 2, 2], 6);
    assert!(Mlp::from_bytes(bytemuck::cast_slice(&words)).is_err());
    assert!(start.elapsed() < Duration::from_millis(500));
}
