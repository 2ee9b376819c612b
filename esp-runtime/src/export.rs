//! Writing blobs (the other half of [`crate::format`]), and the Rust and C
//! sources that embed them. Used by `ferrograd export`; needs the `export`
//! feature (and `alloc`).

use crate::format::{crc32, Kind, MAGIC, VERSION, VERSION_PLAIN};
use crate::{Activation, DiagTransform, Normalisation};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::{self, Write};

/// Why a model could not be encoded; the text names the array and problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportError(pub String);

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(problem: String) -> Result<T, ExportError> {
    Err(ExportError(problem))
}

/// One dense layer as the training framework stores it: `weight`
/// `[outputs, inputs]` row-major, `bias` `[outputs]`.
#[derive(Clone, Copy, Debug)]
pub struct DenseLayer<'a> {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// `[outputs, inputs]`, row-major.
    pub weight: &'a [f32],
    /// `[outputs]`.
    pub bias: &'a [f32],
}

/// One masked layer of a MADE as the training framework stores it: `weight`
/// and `mask` `[rows, cols]`, the feature columns last (see
/// [`crate::format`]).
#[derive(Clone, Copy, Debug)]
pub struct MadeLayer<'a> {
    /// Output units.
    pub rows: usize,
    /// Inputs: the previous layer's units, then the features if the layer
    /// reads them.
    pub cols: usize,
    /// `[rows, cols]`, row-major.
    pub weight: &'a [f32],
    /// `[rows]`.
    pub bias: &'a [f32],
    /// `[rows, cols]`, 0 or 1.
    pub mask: &'a [f32],
}

/// A MAF to encode.
#[derive(Clone, Debug)]
pub struct MafSpec<'a> {
    /// Dimension d of x.
    pub dim: usize,
    /// Dimension c of the features.
    pub features: usize,
    /// The MADEs' hidden nonlinearity.
    pub activation: Activation,
    /// s in α = s·tanh(a/s).
    pub log_scale_bound: f32,
    /// Per block: its hidden layers, then its output layer (2d rows:
    /// μ₁..μ_d, then a₁..a_d).
    pub blocks: Vec<Vec<MadeLayer<'a>>>,
    /// Per block but the first: block input k is the previous output
    /// `perm[k]`.
    pub perms: Vec<Vec<usize>>,
    /// The normalisation of x and the features, if any (written as format
    /// version 2; `None` writes version 1).
    pub normalisation: Option<Normalisation<'a>>,
}

/// An MDN to encode.
#[derive(Clone, Debug)]
pub struct MdnSpec<'a> {
    /// Dimension c of the features.
    pub features: usize,
    /// Dimension d of x.
    pub dim: usize,
    /// Number K of components.
    pub components: usize,
    /// The body's nonlinearity.
    pub activation: Activation,
    /// Positive map of the raw diagonal.
    pub diag: DiagTransform,
    /// Floor added to diag L.
    pub min_diag: f32,
    /// Smooth cap of the raw diagonal, if any.
    pub max_raw_diag: Option<f32>,
    /// The body's layers, then the head.
    pub layers: Vec<DenseLayer<'a>>,
    /// The normalisation of x and the features, if any (written as format
    /// version 2; `None` writes version 1).
    pub normalisation: Option<Normalisation<'a>>,
}

fn u32_of(what: &str, v: usize) -> Result<u32, ExportError> {
    u32::try_from(v).or_else(|_| fail(format!("{what} = {v} does not fit the format's u32")))
}

/// Frames header words and payload: preamble, words, payload, CRC-32.
fn frame(version: u16, kind: Kind, words: &[u32], payload: &[f32]) -> Result<Vec<u8>, ExportError> {
    let mut b = Vec::with_capacity(20 + 4 * (words.len() + payload.len()));
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&version.to_le_bytes());
    b.extend_from_slice(&(kind as u16).to_le_bytes());
    b.extend_from_slice(&u32_of("header words", words.len())?.to_le_bytes());
    b.extend_from_slice(&u32_of("payload values", payload.len())?.to_le_bytes());
    for w in words {
        b.extend_from_slice(&w.to_le_bytes());
    }
    for v in payload {
        b.extend_from_slice(&v.to_le_bytes());
    }
    let crc = crc32(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    Ok(b)
}

/// Appends the widths and the transposed weights and biases of a chain of
/// dense layers.
fn dense(
    layers: &[DenseLayer<'_>],
    words: &mut Vec<u32>,
    payload: &mut Vec<f32>,
) -> Result<(), ExportError> {
    let Some(first) = layers.first() else {
        return fail("a dense stack needs at least one layer".into());
    };
    words.push(u32_of("input width", first.inputs)?);
    for (l, layer) in layers.iter().enumerate() {
        let (i, o) = (layer.inputs, layer.outputs);
        if i == 0 || o == 0 || layer.weight.len() != i * o || layer.bias.len() != o {
            return fail(format!(
                "layer {l}: weight must be [{o}, {i}] and bias [{o}], got {} and {} values",
                layer.weight.len(),
                layer.bias.len()
            ));
        }
        if l > 0 && layers[l - 1].outputs != i {
            return fail(format!(
                "layer {l} reads {i} inputs but layer {} gives {}",
                l - 1,
                layers[l - 1].outputs
            ));
        }
        words.push(u32_of("width", o)?);
        for p in 0..i {
            payload.extend((0..o).map(|r| layer.weight[r * i + p]));
        }
        payload.extend_from_slice(layer.bias);
    }
    Ok(())
}

/// Encodes a plain MLP (activation after every layer but the last).
pub fn encode_mlp(
    activation: Activation,
    layers: &[DenseLayer<'_>],
) -> Result<Vec<u8>, ExportError> {
    let mut words = vec![activation.code(), u32_of("layers", layers.len())?];
    let mut payload = Vec::new();
    dense(layers, &mut words, &mut payload)?;
    frame(VERSION_PLAIN, Kind::Mlp, &words, &payload)
}

/// One block of a residual MLP as the training framework stores it (see
/// [`crate::ResMlp`]): `h ← act(W h + b) + S(h)`.
#[derive(Clone, Copy, Debug)]
pub struct ResidualBlock<'a> {
    /// `W`, `b`.
    pub layer: DenseLayer<'a>,
    /// The affine skip `P h + c` (`P` `[outputs, inputs]` as `weight`, `c`
    /// as `bias`), or `None` for the identity (same widths only).
    pub skip: Option<DenseLayer<'a>>,
}

/// Encodes a residual MLP: `blocks`, then the linear layer `out`.
pub fn encode_residual_mlp(
    activation: Activation,
    blocks: &[ResidualBlock<'_>],
    out: &DenseLayer<'_>,
) -> Result<Vec<u8>, ExportError> {
    let inputs = blocks.first().map_or(out.inputs, |b| b.layer.inputs);
    let mut words = vec![
        activation.code(),
        u32_of("blocks", blocks.len())?,
        u32_of("input width", inputs)?,
    ];
    let mut payload = Vec::new();
    let mut width = inputs;
    let mut scratch = Vec::new();
    for (k, b) in blocks.iter().enumerate() {
        let (i, o) = (b.layer.inputs, b.layer.outputs);
        if i != width {
            return fail(format!("block {k} reads {i} inputs but gets {width}"));
        }
        words.push(u32_of("width", o)?);
        words.push(u32::from(b.skip.is_some()));
        let mut one = |l: &DenseLayer<'_>, what: &str| -> Result<(), ExportError> {
            if l.inputs != i || l.outputs != o {
                return fail(format!(
                    "block {k}: the {what} must be {i} → {o}, got {} → {}",
                    l.inputs, l.outputs
                ));
            }
            scratch.clear();
            dense(core::slice::from_ref(l), &mut scratch, &mut payload)
        };
        one(&b.layer, "layer")?;
        match &b.skip {
            Some(s) => one(s, "skip")?,
            None if i != o => {
                return fail(format!(
                    "block {k}: an identity skip needs equal widths, got {i} → {o}"
                ))
            }
            None => {}
        }
        width = o;
    }
    if out.inputs != width {
        return fail(format!(
            "the output layer reads {} inputs but gets {width}",
            out.inputs
        ));
    }
    words.push(u32_of("output width", out.outputs)?);
    scratch.clear();
    dense(core::slice::from_ref(out), &mut scratch, &mut payload)?;
    frame(VERSION_PLAIN, Kind::ResMlp, &words, &payload)
}

/// Encodes an MDN.
pub fn encode_mdn(spec: &MdnSpec<'_>) -> Result<Vec<u8>, ExportError> {
    let Some(hidden) = spec.layers.len().checked_sub(1) else {
        return fail("an MDN needs a head layer".into());
    };
    let mut words = vec![
        u32_of("features", spec.features)?,
        u32_of("dim", spec.dim)?,
        u32_of("components", spec.components)?,
        spec.activation.code(),
        match spec.diag {
            DiagTransform::Exp => 0,
            DiagTransform::Softplus => 1,
        },
        spec.min_diag.to_bits(),
        u32::from(spec.max_raw_diag.is_some()),
        spec.max_raw_diag.unwrap_or(0.0).to_bits(),
        u32_of("hidden layers", hidden)?,
    ];
    let mut payload = Vec::new();
    dense(&spec.layers, &mut words, &mut payload)?;
    let version = normalisation(spec.normalisation, spec.dim, spec.features, &mut payload)?;
    frame(version, Kind::Mdn, &words, &payload)
}

/// How one MADE layer is stored: its rows in stored order, its groups and
/// where each runtime input comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LayerPlan {
    width: usize,
    reads_features: bool,
    /// (rows, prefix) per group.
    groups: Vec<(usize, usize)>,
}

/// Encodes a MAF, leaving out the weights its masks zero: each layer's rows
/// are sorted by how many of the previous (sorted) units they read, which
/// for MADE masks is always a prefix.
pub fn encode_maf(spec: &MafSpec<'_>) -> Result<Vec<u8>, ExportError> {
    let (d, c) = (spec.dim, spec.features);
    if d == 0 || spec.blocks.is_empty() {
        return fail("a MAF needs dim ≥ 1 and at least one block".into());
    }
    if spec.perms.len() != spec.blocks.len() - 1 {
        return fail(format!(
            "{} blocks need {} permutations, got {}",
            spec.blocks.len(),
            spec.blocks.len() - 1,
            spec.perms.len()
        ));
    }
    let mut payload = Vec::new();
    let mut plan: Option<Vec<LayerPlan>> = None;
    for (b, block) in spec.blocks.iter().enumerate() {
        let this = made(b, block, d, c, &mut payload)?;
        match &plan {
            None => plan = Some(this),
            Some(p) if *p != this => {
                return fail(format!(
                    "block {b}'s masks differ from block 0's: every block must share one structure"
                ))
            }
            Some(_) => {}
        }
    }
    let plan = plan.unwrap_or_default();
    let mut words = vec![
        u32_of("dim", d)?,
        u32_of("features", c)?,
        u32_of("flows", spec.blocks.len())?,
        spec.activation.code(),
        spec.log_scale_bound.to_bits(),
        u32_of("layers", plan.len())?,
    ];
    for layer in &plan {
        words.push(u32_of("width", layer.width)?);
        words.push(u32::from(layer.reads_features));
        words.push(u32_of("groups", layer.groups.len())?);
        for &(rows, prefix) in &layer.groups {
            words.push(u32_of("rows", rows)?);
            words.push(u32_of("prefix", prefix)?);
        }
    }
    for (i, p) in spec.perms.iter().enumerate() {
        let mut seen = vec![false; d];
        for &k in p {
            if k >= d || core::mem::replace(&mut seen[k], true) {
                return fail(format!("permutation {i} is not a permutation of 0..{d}"));
            }
        }
        if p.len() != d {
            return fail(format!("permutation {i} has {} entries, not {d}", p.len()));
        }
        for &k in p {
            words.push(u32_of("permutation entry", k)?);
        }
    }
    let version = normalisation(spec.normalisation, d, c, &mut payload)?;
    frame(version, Kind::Maf, &words, &payload)
}

/// Checks and appends a normalisation (μx, σx, μf, σf) and returns the
/// format version it needs: [`VERSION`] with one, [`VERSION_PLAIN`]
/// without.
fn normalisation(
    norm: Option<Normalisation<'_>>,
    d: usize,
    c: usize,
    payload: &mut Vec<f32>,
) -> Result<u16, ExportError> {
    let Some(n) = norm else {
        return Ok(VERSION_PLAIN);
    };
    let arrays = [
        ("x mean", n.x_mean, d),
        ("x std", n.x_std, d),
        ("feature mean", n.f_mean, c),
        ("feature std", n.f_std, c),
    ];
    for (what, values, len) in arrays {
        if values.len() != len {
            return fail(format!(
                "normalisation: {what} has {} values, not {len}",
                values.len()
            ));
        }
        let std = what.ends_with("std");
        if let Some(v) = values
            .iter()
            .find(|v| !v.is_finite() || (std && **v <= 0.0))
        {
            let need = if std { "finite and > 0" } else { "finite" };
            return fail(format!("normalisation: {what} value {v} is not {need}"));
        }
        payload.extend_from_slice(values);
    }
    Ok(VERSION)
}

/// Plans and appends one MADE block's weights (see [`encode_maf`]).
fn made(
    b: usize,
    layers: &[MadeLayer<'_>],
    d: usize,
    c: usize,
    payload: &mut Vec<f32>,
) -> Result<Vec<LayerPlan>, ExportError> {
    let n_layers = layers.len();
    if n_layers == 0 {
        return fail(format!("block {b} has no layers"));
    }
    // Runtime position p of the previous layer holds its unit prev[p].
    let mut prev: Vec<usize> = (0..d).collect();
    let mut plans = Vec::with_capacity(n_layers);
    for (l, layer) in layers.iter().enumerate() {
        let at = |what: &str| format!("block {b} layer {l}: {what}");
        let last = l + 1 == n_layers;
        let reads_features = !last || n_layers == 1;
        let n_prev = prev.len();
        let cols = n_prev + if reads_features { c } else { 0 };
        let (rows, w, m) = (layer.rows, layer.weight, layer.mask);
        if layer.cols != cols || w.len() != rows * cols || m.len() != rows * cols {
            return fail(at(&format!(
                "weight and mask must be [{rows}, {cols}], got {} columns, {} and {} values",
                layer.cols,
                w.len(),
                m.len()
            )));
        }
        if layer.bias.len() != rows {
            return fail(at(&format!("bias must have {rows} values")));
        }
        if last && rows != 2 * d {
            return fail(at(&format!("the output layer must have {} units", 2 * d)));
        }
        let mut position = vec![0; n_prev];
        for (p, &unit) in prev.iter().enumerate() {
            position[unit] = p;
        }
        // How many of the previous units (in runtime order) each row reads.
        let mut reads = Vec::with_capacity(rows);
        for r in 0..rows {
            let row = &m[r * cols..(r + 1) * cols];
            let count = row[..n_prev].iter().filter(|&&v| v != 0.0).count();
            let prefix_ok = row[..n_prev]
                .iter()
                .enumerate()
                .all(|(s, &v)| (v != 0.0) == (position[s] < count));
            if !prefix_ok {
                return fail(at(&format!(
                    "mask row {r} is not a prefix of the units sorted by degree (not a MADE mask)"
                )));
            }
            if row[n_prev..].contains(&0.0) {
                return fail(at(&format!("mask row {r} hides a feature column")));
            }
            reads.push(count);
        }
        let order: Vec<usize> = if last {
            (0..d).flat_map(|j| [j, d + j]).collect()
        } else {
            let mut o: Vec<usize> = (0..rows).collect();
            o.sort_by_key(|&r| reads[r]);
            o
        };
        let extra = if reads_features { c } else { 0 };
        let mut groups: Vec<(usize, usize)> = Vec::new();
        for &r in &order {
            match groups.last_mut() {
                Some((n, p)) if *p == reads[r] + extra => *n += 1,
                _ => groups.push((1, reads[r] + extra)),
            }
        }
        // Runtime input q: the features first, then the previous units in
        // runtime order.
        let column = |q: usize| {
            if q < extra {
                n_prev + q
            } else {
                prev[q - extra]
            }
        };
        let mut start = 0;
        for &(n, prefix) in &groups {
            let group = &order[start..start + n];
            for q in 0..prefix {
                let col = column(q);
                payload.extend(group.iter().map(|&r| w[r * cols + col]));
            }
            start += n;
        }
        payload.extend(order.iter().map(|&r| layer.bias[r]));
        plans.push(LayerPlan {
            width: rows,
            reads_features,
            groups,
        });
        prev = order;
    }
    Ok(plans)
}

/// A Rust source file defining `pub static {name}: &[u8]`, the blob stored
/// 4-byte aligned, for `include!` in firmware.
pub fn rust_source(blob: &[u8], name: &str, origin: &str) -> String {
    let version = version_of(blob);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// Generated by `ferrograd export` from {origin}; do not edit.\n\
         /// The exported model ({} bytes, format version {version}), 4-byte aligned so\n\
         /// `ferrograd_esp` reads its arrays in place.\n\
         pub static {name}: &[u8] = {{\n    \
         #[repr(C, align(4))]\n    \
         struct Aligned<const N: usize>([u8; N]);\n    \
         static BLOB: Aligned<{}> = Aligned([",
        blob.len(),
        blob.len()
    );
    bytes_table(&mut s, blob, "        ");
    s.push_str("    ]);\n    &BLOB.0\n};\n");
    s
}

/// The C declarations of the runtime's C ABI (feature `capi`).
pub const C_API: &str = "\
/* ferrograd-esp C ABI (build the crate with the `capi` feature as a staticlib). */
#ifndef FERROGRAD_ESP_API
#define FERROGRAD_ESP_API
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern \"C\" {
#endif
/* A parsed model: caller-owned storage; it borrows the blob, which must stay alive. */
typedef struct { uint64_t opaque[16]; } fg_model;
/* Error codes (0 = success). Input, output and scratch buffers must not overlap. */
enum {
    FG_OK = 0, FG_TRUNCATED = -1, FG_OVERSIZED = -2, FG_BAD_MAGIC = -3,
    FG_UNSUPPORTED_VERSION = -4, FG_UNKNOWN_KIND = -5, FG_WRONG_KIND = -6,
    FG_BAD_CHECKSUM = -7, FG_MISALIGNED = -8, FG_INCONSISTENT = -9,
    FG_SCRATCH_TOO_SMALL = -10, FG_INPUT_LENGTH = -11, FG_NULL_POINTER = -12,
    FG_NON_FINITE = -13
};
/* Model kinds. */
enum { FG_KIND_MLP = 1, FG_KIND_MAF = 2, FG_KIND_MDN = 3 };
/* Parses and checks a blob (4-byte aligned) into *model. */
int32_t fg_model_open(const uint8_t *blob, size_t len, fg_model *model);
/* The model's kind (FG_KIND_*). */
int32_t fg_model_kind(const fg_model *model);
/* Width of x (MAF, MDN) or of the input (MLP). */
size_t fg_model_dim(const fg_model *model);
/* Width of the features (MAF, MDN) or of the output (MLP). */
size_t fg_model_features(const fg_model *model);
/* Floats of scratch every call needs. */
size_t fg_model_scratch_len(const fg_model *model);
/* *out = log p(x | features) (MAF, MDN). */
int32_t fg_log_prob(const fg_model *model, const float *x, size_t x_len,
                    const float *features, size_t features_len,
                    float *scratch, size_t scratch_len, float *out);
/* n seeded samples, row by row, into out (n * dim floats) (MAF, MDN). */
int32_t fg_sample(const fg_model *model, const float *features, size_t features_len,
                  size_t n, uint64_t seed, float *out, size_t out_len,
                  float *scratch, size_t scratch_len);
/* out = MLP(x). */
int32_t fg_mlp_forward(const fg_model *model, const float *x, size_t x_len,
                       float *out, size_t out_len, float *scratch, size_t scratch_len);
#ifdef __cplusplus
}
#endif
#endif /* FERROGRAD_ESP_API */
";

/// A C header with the C ABI declarations ([`C_API`]) and the blob as a
/// 4-byte aligned `static const uint8_t {name}[]` (length `{name}_LEN`).
pub fn c_header(blob: &[u8], name: &str, origin: &str) -> String {
    let version = version_of(blob);
    let guard = format!("FERROGRAD_MODEL_{}_H", name.to_ascii_uppercase());
    let mut s = format!(
        "/* Generated by `ferrograd export` from {origin}; do not edit. */\n\
         #ifndef {guard}\n#define {guard}\n{C_API}\n\
         #define {name}_LEN {}u\n\
         /* The exported model (format version {version}); pass it to fg_model_open. */\n\
         static const uint8_t {name}[{}] __attribute__((aligned(4))) = {{\n",
        blob.len(),
        blob.len()
    );
    bytes_table(&mut s, blob, "    ");
    s.push_str("};\n#endif\n");
    s
}

/// The version field of a blob (0 if it is too short to have one).
fn version_of(blob: &[u8]) -> u16 {
    match blob {
        [_, _, _, _, a, b, ..] => u16::from_le_bytes([*a, *b]),
        _ => 0,
    }
}

fn bytes_table(s: &mut String, blob: &[u8], indent: &str) {
    for chunk in blob.chunks(16) {
        s.push_str(indent);
        for b in chunk {
            let _ = write!(s, "0x{b:02x}, ");
        }
        s.pop();
        s.push('\n');
    }
}
