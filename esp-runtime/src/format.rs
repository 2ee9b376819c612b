//! The exported model blob, versions 1 and 2. All values little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `FGRT` ([`MAGIC`]) |
//! | 4 | 2 | format version ([`VERSION_PLAIN`] 1 or [`VERSION`] 2) |
//! | 6 | 2 | model kind ([`Kind`]: 1 MLP, 2 MAF, 3 MDN, 4 residual MLP) |
//! | 8 | 4 | `W`: number of u32 header words |
//! | 12 | 4 | `P`: number of f32 payload values |
//! | 16 | 4·W | header words: dimensions and hyper-parameters (per kind, below) |
//! | 16 + 4W | 4·P | payload: f32 arrays |
//! | 16 + 4W + 4P | 4 | CRC-32 (IEEE) of every byte before it |
//!
//! Every field is 4-byte aligned, so a blob stored at a 4-byte aligned
//! address (the exported `static` and C array are) is read in place with
//! `bytemuck`. A blob is exactly `20 + 4W + 4P` bytes.
//!
//! Weights are stored transposed, `[inputs, outputs]` row-major, so that one
//! input row times the matrix is the portable kernel's allocation-free
//! streaming path.
//!
//! # Header words
//! * **MLP**: activation, L (layers ≥ 1), widths `n₀ … n_L`. Payload per
//!   layer: `Wᵀ [n_{l−1}, n_l]`, bias `[n_l]`. The activation follows every
//!   layer but the last.
//! * **Residual MLP**: activation, B (blocks), n₀ (inputs), B × (width
//!   n_b, skip flag: 0 identity, which needs n_b = n_{b−1}, 1 affine), then
//!   the output width m. Payload per block: `Wᵀ [n_{b−1}, n_b]`, bias
//!   `[n_b]`, and for an affine skip `Pᵀ [n_{b−1}, n_b]`, `c [n_b]`; then
//!   the output layer `Wᵀ [n_B, m]`, bias `[m]`. A block computes
//!   `h ← act(W h + b) + S(h)` with `S(h) = h` or `P h + c`; the output is
//!   `W h + b`. The encoder writes version 1 (any normalisation is folded
//!   into the first block and the output layer).
//! * **MAF**: d, c, flows F, activation, log-scale bound s (f32 bits),
//!   layers per MADE L (hidden + output); per layer: width, reads-features
//!   (0/1), groups G, then G × (rows, prefix); then (F − 1) permutations of
//!   d indices. Rows of a layer are sorted by degree and split in groups that
//!   read the same prefix of the layer's input `[f (if it reads features),
//!   previous layer (sorted)]`, so the weights the MADE masks zero are not
//!   stored. The output layer's rows are `μ₁, a₁, μ₂, a₂, …`. Payload per
//!   flow, per layer: per group `Wᵀ [prefix, rows]`, then the layer's bias.
//! * **MDN**: c, d, components K, activation, diagonal transform (0 exp,
//!   1 softplus), min_diag (f32 bits), cap flag (0/1), cap (f32 bits), H
//!   (hidden layers), then the widths `c, h₁, …, h_H, K(1 + 2d + d(d−1)/2)`.
//!   Payload: those dense layers, as for the MLP.
//!
//! # Versions
//! Version 2 differs from version 1 in one thing: a MAF or MDN payload ends
//! with its normalisation ([`crate::Normalisation`]), μx `[d]`, σx `[d]`,
//! μf `[c]`, σf `[c]`, after the model's arrays (the header words are the
//! same). The model sees x̃ = (x − μx)/σx and f̃ = (f − μf)/σf; the runtime
//! returns log p(x | f) = log p̃(x̃ | f̃) − Σ_j log σx_j and samples
//! x = μx + σx ⊙ x̃. Every μ must be finite and every σ finite and > 0.
//! A version 1 blob has no normalisation (the identity), and the encoder
//! still writes version 1 for a model without one, so those blobs are
//! unchanged. An MLP blob reads the same in both versions (the encoder
//! writes version 1).

use crate::Error;
use core::fmt;

/// The first four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"FGRT";
/// The newest format version: MAF and MDN payloads end with a
/// normalisation (see the module docs). The runtime reads it and
/// [`VERSION_PLAIN`].
pub const VERSION: u16 = 2;
/// The format version without normalisation, still written for models
/// that have none.
pub const VERSION_PLAIN: u16 = 1;
/// Bytes before the header words.
pub const PREAMBLE: usize = 16;
/// Bytes of the trailing checksum.
pub const TRAILER: usize = 4;

/// The kind of model a blob holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    /// A plain multi-layer perceptron ([`crate::Mlp`]).
    Mlp = 1,
    /// A masked autoregressive flow ([`crate::Maf`]).
    Maf = 2,
    /// A mixture density network ([`crate::Mdn`]).
    Mdn = 3,
    /// A residual MLP ([`crate::ResMlp`]).
    ResMlp = 4,
}

impl Kind {
    /// The kind with this code.
    pub fn from_code(code: u16) -> Result<Kind, Error> {
        match code {
            1 => Ok(Kind::Mlp),
            2 => Ok(Kind::Maf),
            3 => Ok(Kind::Mdn),
            4 => Ok(Kind::ResMlp),
            other => Err(Error::UnknownKind(other)),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Mlp => "MLP",
            Kind::Maf => "MAF",
            Kind::Mdn => "MDN",
            Kind::ResMlp => "residual MLP",
        })
    }
}

/// A blob whose framing (magic, version, kind, lengths, checksum,
/// alignment) has been checked; the kind-specific parsers check the rest.
#[derive(Clone, Copy, Debug)]
pub struct Blob<'a> {
    /// The format version ([`VERSION_PLAIN`] or [`VERSION`]).
    pub version: u16,
    /// The model kind.
    pub kind: Kind,
    /// The header words.
    pub words: &'a [u32],
    /// The payload.
    pub payload: &'a [f32],
}

impl Blob<'_> {
    /// [`Error::WrongKind`] unless the blob holds a `kind` model.
    pub(crate) fn expect_kind(&self, kind: Kind) -> Result<(), Error> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(Error::WrongKind {
                expected: kind,
                found: self.kind,
            })
        }
    }

    /// Whether the payload ends with a normalisation (version 2).
    pub(crate) fn normalised(&self) -> bool {
        self.version == VERSION
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The total length `20 + 4W + 4P` a preamble announces, `None` on overflow.
fn announced_len(words: u32, payload: u32) -> Option<usize> {
    let w = usize::try_from(words).ok()?.checked_mul(4)?;
    let p = usize::try_from(payload).ok()?.checked_mul(4)?;
    PREAMBLE
        .checked_add(w)?
        .checked_add(p)?
        .checked_add(TRAILER)
}

/// Checks the framing of `bytes` and splits it into header words and payload.
/// Errors, in the order checked: [`Error::Truncated`] (shorter than the
/// preamble), [`Error::BadMagic`], [`Error::UnsupportedVersion`],
/// [`Error::UnknownKind`], [`Error::Truncated`] / [`Error::Oversized`]
/// (length differs from the announced one), [`Error::BadChecksum`],
/// [`Error::Misaligned`].
pub fn parse(bytes: &[u8]) -> Result<Blob<'_>, Error> {
    if bytes.len() < PREAMBLE + TRAILER {
        return Err(Error::Truncated {
            needed: PREAMBLE + TRAILER,
            got: bytes.len(),
        });
    }
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if magic != MAGIC {
        return Err(Error::BadMagic(magic));
    }
    let version = u16_at(bytes, 4);
    if version != VERSION && version != VERSION_PLAIN {
        return Err(Error::UnsupportedVersion(version));
    }
    let kind = Kind::from_code(u16_at(bytes, 6))?;
    let (nw, np) = (u32_at(bytes, 8), u32_at(bytes, 12));
    // An announced length past usize::MAX (only possible on 32-bit
    // targets) is longer than any slice: truncated.
    let Some(total) = announced_len(nw, np) else {
        return Err(Error::Truncated {
            needed: usize::MAX,
            got: bytes.len(),
        });
    };
    if bytes.len() < total {
        return Err(Error::Truncated {
            needed: total,
            got: bytes.len(),
        });
    }
    if bytes.len() > total {
        return Err(Error::Oversized {
            expected: total,
            got: bytes.len(),
        });
    }
    let body = total - TRAILER;
    let stored = u32_at(bytes, body);
    let computed = crc32(&bytes[..body]);
    if stored != computed {
        return Err(Error::BadChecksum { stored, computed });
    }
    let words_end = PREAMBLE + 4 * nw as usize;
    let words = bytemuck::try_cast_slice::<u8, u32>(&bytes[PREAMBLE..words_end])
        .map_err(|_| Error::Misaligned)?;
    let payload = bytemuck::try_cast_slice::<u8, f32>(&bytes[words_end..body])
        .map_err(|_| Error::Misaligned)?;
    Ok(Blob {
        version,
        kind,
        words,
        payload,
    })
}

/// The CRC-32 (IEEE 802.3, as zlib and PNG) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(bytes);
    h.finalize()
}

/// Reads header words one by one; running past the end is
/// [`Error::Inconsistent`].
#[derive(Clone, Debug)]
pub(crate) struct Words<'a> {
    words: &'a [u32],
    pos: usize,
}

impl<'a> Words<'a> {
    pub(crate) fn new(words: &'a [u32]) -> Words<'a> {
        Words { words, pos: 0 }
    }

    /// The next word.
    pub(crate) fn next(&mut self) -> Result<u32, Error> {
        let w = *self
            .words
            .get(self.pos)
            .ok_or(Error::Inconsistent("header words end early"))?;
        self.pos += 1;
        Ok(w)
    }

    /// The next word as a count or width.
    pub(crate) fn size(&mut self) -> Result<usize, Error> {
        usize::try_from(self.next()?).map_err(|_| Error::Inconsistent("size does not fit usize"))
    }

    /// The next word as a flag (0 or 1).
    pub(crate) fn flag(&mut self) -> Result<bool, Error> {
        match self.next()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Error::Inconsistent("a flag is neither 0 nor 1")),
        }
    }

    /// The next `n` words.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u32], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.words.len())
            .ok_or(Error::Inconsistent("header words end early"))?;
        let s = &self.words[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The position (words read so far).
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Errors unless every word has been read.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.pos == self.words.len() {
            Ok(())
        } else {
            Err(Error::Inconsistent("unread header words"))
        }
    }
}

/// Takes payload arrays one by one; running past the end is
/// [`Error::Inconsistent`].
#[derive(Clone, Debug)]
pub(crate) struct Floats<'a> {
    values: &'a [f32],
    pos: usize,
}

impl<'a> Floats<'a> {
    pub(crate) fn new(values: &'a [f32]) -> Floats<'a> {
        Floats { values, pos: 0 }
    }

    /// The next `n` values.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [f32], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.values.len())
            .ok_or(Error::Inconsistent(
                "payload is shorter than the dimensions need",
            ))?;
        let s = &self.values[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Errors unless every value has been taken.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.pos == self.values.len() {
            Ok(())
        } else {
            Err(Error::Inconsistent(
                "payload is longer than the dimensions need",
            ))
        }
    }
}

/// `a · b`, or [`Error::Inconsistent`] on overflow.
pub(crate) fn mul(a: usize, b: usize) -> Result<usize, Error> {
    a.checked_mul(b)
        .ok_or(Error::Inconsistent("dimensions overflow"))
}

/// `a + b`, or [`Error::Inconsistent`] on overflow.
pub(crate) fn add(a: usize, b: usize) -> Result<usize, Error> {
    a.checked_add(b)
        .ok_or(Error::Inconsistent("dimensions overflow"))
}
