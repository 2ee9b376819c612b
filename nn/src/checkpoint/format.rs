//! Conversion between a [`Checkpoint`] and safetensors bytes, with every
//! problem of a bad file described in words (never a panic).

use super::Checkpoint;
use ferrograd_tensor::{Shape, Tensor, MAX_RANK};
use safetensors::{Dtype, SafeTensorError, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// The length prefix of a safetensors file: a little-endian u64.
const LEN_BYTES: usize = 8;

/// A borrowed f32 tensor as safetensors sees it (F32, little-endian).
struct F32View<'a>(&'a Tensor);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        self.0.dims()
    }

    fn data(&self) -> Cow<'_, [u8]> {
        let data = self.0.data();
        let mut bytes = Vec::with_capacity(data.len() * 4);
        for v in data {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        Cow::Owned(bytes)
    }

    fn data_len(&self) -> usize {
        self.0.numel() * 4
    }
}

/// The safetensors bytes of `ckpt`; the error says what is wrong.
pub(super) fn to_bytes(ckpt: &Checkpoint) -> Result<Vec<u8>, String> {
    if ckpt.tensors.contains_key("__metadata__") {
        return Err("a tensor may not be named '__metadata__' (reserved by safetensors)".into());
    }
    let views = ckpt.tensors.iter().map(|(n, t)| (n.as_str(), F32View(t)));
    let metadata: Option<HashMap<String, String>> = if ckpt.metadata.is_empty() {
        None
    } else {
        Some(ckpt.metadata.clone().into_iter().collect())
    };
    safetensors::serialize(views, metadata).map_err(|e| format!("cannot serialise: {e}"))
}

/// The file length the (well-formed) header implies: length field, header
/// and the largest tensor end offset.
fn expected_len(bytes: &[u8]) -> Option<usize> {
    let n = usize::try_from(u64::from_le_bytes(bytes.get(..LEN_BYTES)?.try_into().ok()?)).ok()?;
    let header: serde_json::Value =
        serde_json::from_slice(bytes.get(LEN_BYTES..LEN_BYTES.checked_add(n)?)?).ok()?;
    let data_end = header
        .as_object()?
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .filter_map(|(_, v)| v.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    LEN_BYTES
        .checked_add(n)?
        .checked_add(usize::try_from(data_end).ok()?)
}

/// Describes a safetensors parse error for a file of `len` bytes.
fn describe(e: SafeTensorError, bytes: &[u8]) -> String {
    let len = bytes.len();
    let header_len = bytes
        .get(..LEN_BYTES)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    match e {
        SafeTensorError::HeaderTooSmall => format!(
            "not a safetensors file: {len} bytes, shorter than the {LEN_BYTES}-byte header length"
        ),
        SafeTensorError::HeaderTooLarge => format!(
            "not a safetensors file (or corrupted): the header length field says {} bytes, \
             more than the 100 MB limit",
            header_len.unwrap_or(0)
        ),
        SafeTensorError::InvalidHeaderLength => format!(
            "truncated or not a safetensors file: the header length field says {} bytes \
             but only {} follow it",
            header_len.unwrap_or(0),
            len.saturating_sub(LEN_BYTES)
        ),
        SafeTensorError::InvalidHeader(e) => format!("corrupted header: not UTF-8 ({e})"),
        SafeTensorError::InvalidHeaderDeserialization(e) => {
            format!("corrupted header: not a valid safetensors JSON header ({e})")
        }
        SafeTensorError::InvalidOffset(name) => format!(
            "corrupted header: tensor '{name}' has data offsets that do not follow the \
             previous tensor's"
        ),
        SafeTensorError::TensorInvalidInfo => {
            "corrupted header: a tensor's data offsets do not match its dtype and shape".into()
        }
        SafeTensorError::MetadataIncompleteBuffer => match expected_len(bytes) {
            Some(want) if want > len => {
                format!("truncated: the header describes {want} bytes but the file has {len}")
            }
            Some(want) => format!(
                "corrupted: {} unexpected bytes after the {want} the header describes",
                len - want
            ),
            None => format!(
                "truncated or corrupted: the header's tensors do not cover the data section \
                 exactly ({len} bytes in the file)"
            ),
        },
        SafeTensorError::ValidationOverflow => {
            "corrupted header: a tensor's shape overflows when its size is computed".into()
        }
        other => format!("invalid safetensors file: {other}"),
    }
}

/// Reads one tensor, which must be F32 with at most [`MAX_RANK`] dims.
fn read_tensor(name: &str, dtype: Dtype, dims: &[usize], data: &[u8]) -> Result<Tensor, String> {
    if dtype != Dtype::F32 {
        return Err(format!(
            "tensor '{name}' has dtype {dtype:?}; only F32 is supported"
        ));
    }
    if dims.len() > MAX_RANK {
        return Err(format!(
            "tensor '{name}' has {} dims; at most {MAX_RANK} are supported",
            dims.len()
        ));
    }
    let shape = Shape::new(dims).map_err(|e| format!("tensor '{name}': {e}"))?;
    if data.len() != shape.numel() * 4 {
        return Err(format!(
            "tensor '{name}' of shape {dims:?} has {} data bytes, expected {}",
            data.len(),
            shape.numel() * 4
        ));
    }
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Tensor::with_shape(values, shape).map_err(|e| format!("tensor '{name}': {e}"))
}

/// Parses safetensors bytes; the error says what is wrong, naming the
/// tensor or field.
pub(super) fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, String> {
    let (header_len, header) = SafeTensors::read_metadata(bytes).map_err(|e| describe(e, bytes))?;
    // `read_metadata` checked that the offsets tile the data section exactly.
    let data = bytes.get(LEN_BYTES + header_len..).unwrap_or_default();
    let mut tensors = BTreeMap::new();
    for name in header.offset_keys() {
        let info = header
            .info(&name)
            .ok_or_else(|| format!("corrupted header: tensor '{name}' has no entry"))?;
        let (start, end) = info.data_offsets;
        let slice = data
            .get(start..end)
            .ok_or_else(|| format!("tensor '{name}': data offsets run past the end of the file"))?;
        let t = read_tensor(&name, info.dtype, &info.shape, slice)?;
        tensors.insert(name, t);
    }
    let metadata = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(Checkpoint { tensors, metadata })
}
