//! Mutations of valid inputs, shared by the parser tests (proptest) of
//! every crate and by the fuzz targets in `fuzz/`: bit flips, truncations,
//! insertions and huge length fields. A reader given a mutated file must
//! return `Ok` or a typed error, never panic, hang or allocate without bound.

/// Values written over a length field: each is far more than any test
/// file holds, and some overflow `usize` arithmetic when multiplied.
pub const HUGE: [u64; 6] = [
    u32::MAX as u64,
    1 << 31,
    1_000_000_000_000,
    u64::MAX,
    u64::MAX / 4 + 1,
    0,
];

/// One change to a byte string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Flips bit `bit % 8` of the byte at `at % len`.
    FlipBit {
        /// Byte position (taken modulo the length).
        at: usize,
        /// Bit within the byte (taken modulo 8).
        bit: u8,
    },
    /// Keeps the first `len % (length + 1)` bytes.
    Truncate {
        /// New length (taken modulo the length plus one).
        len: usize,
    },
    /// Inserts `bytes` before position `at % (len + 1)`.
    Insert {
        /// Position (taken modulo the length plus one).
        at: usize,
        /// The bytes inserted.
        bytes: Vec<u8>,
    },
    /// Overwrites `width` (4 or 8) bytes at `at % len`, little- or
    /// big-endian, with `value` (clipped at the end of the input).
    Huge {
        /// Byte position (taken modulo the length).
        at: usize,
        /// 4 or 8 bytes (any other value means 8).
        width: u8,
        /// Big-endian (IDX) rather than little-endian.
        big_endian: bool,
        /// The value written.
        value: u64,
    },
    /// Overwrites the first occurrence of the ASCII digits of a number in
    /// the input (a JSON, YAML or CSV length) with `value`.
    HugeText {
        /// Which run of digits (modulo their number).
        nth: usize,
        /// The value written.
        value: u64,
    },
}

impl Mutation {
    /// The mutation numbered `kind % 5` with the given parameters, for a
    /// proptest strategy over plain integers; `pick` chooses the huge value
    /// from [`HUGE`] (or `raw` itself when `pick % 7 == 6`).
    pub fn from_parts(kind: u8, at: usize, pick: u8, raw: u64, bytes: Vec<u8>) -> Mutation {
        let value = HUGE.get(usize::from(pick % 7)).copied().unwrap_or(raw);
        match kind % 5 {
            0 => Mutation::FlipBit {
                at,
                bit: (raw % 8) as u8,
            },
            1 => Mutation::Truncate { len: at },
            2 => Mutation::Insert { at, bytes },
            3 => Mutation::Huge {
                at,
                width: if raw.is_multiple_of(2) { 4 } else { 8 },
                big_endian: raw % 4 >= 2,
                value,
            },
            _ => Mutation::HugeText { nth: at, value },
        }
    }

    /// `input` with this mutation applied (an empty input stays empty
    /// except for insertions).
    pub fn apply(&self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        let len = out.len();
        match self {
            Mutation::FlipBit { at, bit } => {
                if len > 0 {
                    out[at % len] ^= 1 << (bit % 8);
                }
            }
            Mutation::Truncate { len: keep } => out.truncate(keep % (len + 1)),
            Mutation::Insert { at, bytes } => {
                let at = at % (len + 1);
                out.splice(at..at, bytes.iter().copied());
            }
            Mutation::Huge {
                at,
                width,
                big_endian,
                value,
            } => {
                if len > 0 {
                    let at = at % len;
                    let bytes = match (width, big_endian) {
                        (4, false) => (*value as u32).to_le_bytes().to_vec(),
                        (4, true) => (*value as u32).to_be_bytes().to_vec(),
                        (_, false) => value.to_le_bytes().to_vec(),
                        (_, true) => value.to_be_bytes().to_vec(),
                    };
                    let end = (at + bytes.len()).min(len);
                    out[at..end].copy_from_slice(&bytes[..end - at]);
                }
            }
            Mutation::HugeText { nth, value } => {
                let runs = digit_runs(&out);
                if !runs.is_empty() {
                    let (start, end) = runs[nth % runs.len()];
                    out.splice(start..end, value.to_string().into_bytes());
                }
            }
        }
        out
    }
}

/// The byte ranges of the maximal runs of ASCII digits in `bytes`.
fn digit_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, b) in bytes.iter().enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, bytes.len()));
    }
    runs
}

/// Applies the mutations described by `data` (the fuzzer's bytes) to
/// `seed`, for fuzz targets that start from a valid input: each group of
/// 12 bytes of `data` is one [`Mutation::from_parts`].
pub fn from_fuzz_bytes(seed: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for c in data.chunks(12) {
        let mut b = [0u8; 12];
        b[..c.len()].copy_from_slice(c);
        let at = u32::from_le_bytes([b[1], b[2], b[3], b[4]]) as usize;
        let raw = u64::from_le_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]);
        let insert = b[8..8 + usize::from(b[11] % 4)].to_vec();
        out = Mutation::from_parts(b[0], at, b[3], raw, insert).apply(&out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mutation_does_what_it_says() {
        let s = b"ab12cd345";
        assert_eq!(Mutation::FlipBit { at: 9, bit: 0 }.apply(s)[0], b'a' ^ 1);
        assert_eq!(Mutation::Truncate { len: 3 }.apply(s), b"ab1");
        let ins = Mutation::Insert {
            at: 2,
            bytes: b"XY".to_vec(),
        };
        assert_eq!(ins.apply(s), b"abXY12cd345");
        let huge = Mutation::Huge {
            at: 0,
            width: 4,
            big_endian: true,
            value: 1,
        };
        assert_eq!(huge.apply(s), b"\0\0\0\x01cd345");
        let text = Mutation::HugeText { nth: 1, value: 7 };
        assert_eq!(text.apply(s), b"ab12cd7");
        assert_eq!(from_fuzz_bytes(s, &[]), s);
    }
}
