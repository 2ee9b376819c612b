//! The runtime's error type.

use core::fmt;

/// Why a blob was rejected or a call could not run. Every variant has its own
/// C error code ([`Error::code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The blob ends before its header or before the length its header gives.
    Truncated {
        /// Bytes the blob needs.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// The blob is longer than its header says (trailing bytes).
    Oversized {
        /// Bytes the header accounts for.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The first four bytes are not [`crate::format::MAGIC`].
    BadMagic([u8; 4]),
    /// A format version this runtime does not read.
    UnsupportedVersion(u16),
    /// A model kind this runtime does not know.
    UnknownKind(u16),
    /// The blob holds another kind of model than the one asked for.
    WrongKind {
        /// The kind asked for.
        expected: crate::Kind,
        /// The kind in the blob.
        found: crate::Kind,
    },
    /// The CRC-32 stored in the blob does not match its contents.
    BadChecksum {
        /// The stored value.
        stored: u32,
        /// The value computed over the blob.
        computed: u32,
    },
    /// The blob does not start at a 4-byte boundary, so its arrays cannot be
    /// read in place (align the `static` that holds it).
    Misaligned,
    /// The dimensions or hyper-parameters contradict each other or the
    /// payload; the text names the problem.
    Inconsistent(&'static str),
    /// The scratch buffer is smaller than the model needs.
    ScratchTooSmall {
        /// f32s needed.
        needed: usize,
        /// f32s given.
        got: usize,
    },
    /// An input or output slice has the wrong length.
    InputLength {
        /// Which argument.
        what: &'static str,
        /// The length the model needs.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// An input holds a NaN or an infinity, or (`what` = `"result"`) the
    /// result is not finite because an input lies too far outside the
    /// range the model was trained on.
    NonFinite {
        /// Which argument, or `"result"`.
        what: &'static str,
    },
}

impl Error {
    /// The negative code the C ABI returns for this error.
    pub fn code(&self) -> i32 {
        match self {
            Error::Truncated { .. } => -1,
            Error::Oversized { .. } => -2,
            Error::BadMagic(_) => -3,
            Error::UnsupportedVersion(_) => -4,
            Error::UnknownKind(_) => -5,
            Error::WrongKind { .. } => -6,
            Error::BadChecksum { .. } => -7,
            Error::Misaligned => -8,
            Error::Inconsistent(_) => -9,
            Error::ScratchTooSmall { .. } => -10,
            Error::InputLength { .. } => -11,
            Error::NonFinite { .. } => -13,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { needed, got } => {
                write!(f, "truncated blob: needs {needed} bytes, got {got}")
            }
            Error::Oversized { expected, got } => write!(
                f,
                "oversized blob: the header accounts for {expected} bytes, got {got}"
            ),
            Error::BadMagic(m) => write!(f, "not a ferrograd model blob (magic {m:02x?})"),
            Error::UnsupportedVersion(v) => write!(
                f,
                "blob format version {v} is not supported (this runtime reads versions {} and {})",
                crate::format::VERSION_PLAIN,
                crate::format::VERSION
            ),
            Error::UnknownKind(k) => write!(f, "unknown model kind {k}"),
            Error::WrongKind { expected, found } => {
                write!(f, "the blob holds a {found} model, not a {expected}")
            }
            Error::BadChecksum { stored, computed } => write!(
                f,
                "checksum mismatch: stored CRC-32 {stored:08x}, computed {computed:08x}"
            ),
            Error::Misaligned => f.write_str("blob is not 4-byte aligned"),
            Error::Inconsistent(why) => write!(f, "inconsistent blob: {why}"),
            Error::ScratchTooSmall { needed, got } => {
                write!(f, "scratch too small: needs {needed} f32s, got {got}")
            }
            Error::InputLength {
                what,
                expected,
                got,
            } => write!(f, "{what} must hold {expected} values, got {got}"),
            Error::NonFinite { what: "result" } => f.write_str(
                "the result is not finite: an input lies too far outside the range the model was trained on",
            ),
            Error::NonFinite { what } => write!(f, "{what} holds a NaN or an infinity"),
        }
    }
}
