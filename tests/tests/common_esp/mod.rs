//! Shared helpers of the `esp_*` tests: small valid blobs of every kind
//! (built with the `export` encoders from seeded random weights), f64
//! reference implementations of the three models, 4-byte aligned copies of
//! blobs, and a re-framer that rewrites a blob's header words or payload
//! and recomputes its counts and CRC-32.
#![allow(dead_code)]

use ferrograd_esp::export::{self, DenseLayer, MadeLayer, MafSpec, MdnSpec};
use ferrograd_esp::format::{crc32, PREAMBLE, TRAILER};
use ferrograd_esp::{Activation, DiagTransform, Normalisation};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};

/// ½·ln 2π in f64.
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

// ---------------------------------------------------------------- alignment

/// A blob stored in a `Vec<u32>` so that it starts `offset` bytes after a
/// 4-byte boundary (`offset` 0 for the aligned copy the runtime needs).
pub struct Aligned {
    words: Vec<u32>,
    offset: usize,
    len: usize,
}

impl Aligned {
    /// A 4-byte aligned copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Aligned {
        Aligned::at_offset(bytes, 0)
    }

    /// A copy of `bytes` starting `offset` bytes into a `u32` buffer.
    pub fn at_offset(bytes: &[u8], offset: usize) -> Aligned {
        let mut words = vec![0u32; (offset + bytes.len()).div_ceil(4) + 1];
        bytemuck::cast_slice_mut::<u32, u8>(&mut words)[offset..offset + bytes.len()]
            .copy_from_slice(bytes);
        Aligned {
            words,
            offset,
            len: bytes.len(),
        }
    }

    /// The copy.
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.words)[self.offset..self.offset + self.len]
    }
}

// ------------------------------------------------------------ normalisation

/// Normalisation statistics: x̃ = (x − μx)/σx, f̃ = (f − μf)/σf.
#[derive(Clone, Debug)]
pub struct Stats {
    pub x_mean: Vec<f32>,
    pub x_std: Vec<f32>,
    pub f_mean: Vec<f32>,
    pub f_std: Vec<f32>,
}

impl Stats {
    /// Means in (−3, 3), stds in (0.2, 4.2).
    pub fn random(seed: u64, d: usize, c: usize) -> Stats {
        let mut r = rng(seed);
        let std = |r: &mut StdRng, n| uniform(r, n, 2.0).iter().map(|v| 2.2 + v).collect();
        Stats {
            x_mean: uniform(&mut r, d, 3.0),
            x_std: std(&mut r, d),
            f_mean: uniform(&mut r, c, 3.0),
            f_std: std(&mut r, c),
        }
    }

    pub fn view(&self) -> Normalisation<'_> {
        Normalisation {
            x_mean: &self.x_mean,
            x_std: &self.x_std,
            f_mean: &self.f_mean,
            f_std: &self.f_std,
        }
    }

    /// (x − μx)/σx, in f32 as the runtime computes it.
    pub fn x_tilde(&self, x: &[f32]) -> Vec<f32> {
        x.iter()
            .zip(self.x_mean.iter().zip(&self.x_std))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    }

    /// (f − μf)/σf, in f32 as the runtime computes it.
    pub fn f_tilde(&self, f: &[f32]) -> Vec<f32> {
        f.iter()
            .zip(self.f_mean.iter().zip(&self.f_std))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    }

    /// μx + σx ⊙ v for every row of `v`, in f32 as the runtime computes it.
    pub fn denormalise(&self, v: &[f32]) -> Vec<f32> {
        let d = self.x_mean.len();
        v.iter()
            .enumerate()
            .map(|(i, v)| self.x_mean[i % d] + self.x_std[i % d] * v)
            .collect()
    }

    /// Σ_j ln σx_j in f64.
    pub fn log_std_sum(&self) -> f64 {
        self.x_std.iter().map(|&s| (s as f64).ln()).sum()
    }
}

/// A normalised MAF and MDN blob (the standard test models).
pub fn normalised_blobs() -> Vec<(&'static str, Vec<u8>)> {
    let maf = maf_model();
    let mdn = &mdn_models()[1];
    vec![
        (
            "maf v2",
            maf.blob_with(&Stats::random(31, maf.dim, maf.features)),
        ),
        (
            "mdn v2",
            mdn.blob_with(&Stats::random(32, mdn.dim, mdn.features)),
        ),
    ]
}

// ------------------------------------------------------------------ framing

/// A blob taken apart: preamble fields, header words and payload (as bits,
/// so NaN payloads survive a round trip).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parts {
    pub magic: [u8; 4],
    pub version: u16,
    pub kind: u16,
    pub words: Vec<u32>,
    pub payload: Vec<u32>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Takes a blob with consistent framing apart (the CRC is not checked).
pub fn split(blob: &[u8]) -> Parts {
    let nw = u32_at(blob, 8) as usize;
    let np = u32_at(blob, 12) as usize;
    assert_eq!(
        blob.len(),
        PREAMBLE + 4 * (nw + np) + TRAILER,
        "inconsistent framing"
    );
    let word = |i: usize| u32_at(blob, PREAMBLE + 4 * i);
    Parts {
        magic: [blob[0], blob[1], blob[2], blob[3]],
        version: u16::from_le_bytes([blob[4], blob[5]]),
        kind: u16::from_le_bytes([blob[6], blob[7]]),
        words: (0..nw).map(word).collect(),
        payload: (nw..nw + np).map(word).collect(),
    }
}

/// Frames `parts` again: word and payload counts from the vectors, and a
/// fresh CRC-32, so only what the parts themselves say can be wrong.
pub fn frame(parts: &Parts) -> Vec<u8> {
    let mut b = Vec::with_capacity(PREAMBLE + 4 * (parts.words.len() + parts.payload.len()) + 4);
    b.extend_from_slice(&parts.magic);
    b.extend_from_slice(&parts.version.to_le_bytes());
    b.extend_from_slice(&parts.kind.to_le_bytes());
    b.extend_from_slice(&(parts.words.len() as u32).to_le_bytes());
    b.extend_from_slice(&(parts.payload.len() as u32).to_le_bytes());
    for w in parts.words.iter().chain(&parts.payload) {
        b.extend_from_slice(&w.to_le_bytes());
    }
    let crc = crc32(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// Recomputes the trailing CRC-32 of `blob` in place (over every byte
/// before the last four).
pub fn fix_crc(blob: &mut [u8]) {
    let body = blob.len() - TRAILER;
    let crc = crc32(&blob[..body]);
    blob[body..].copy_from_slice(&crc.to_le_bytes());
}

/// `blob` with its header words rewritten by `edit`, re-framed.
pub fn with_words(blob: &[u8], edit: impl FnOnce(&mut Vec<u32>)) -> Vec<u8> {
    let mut parts = split(blob);
    edit(&mut parts.words);
    frame(&parts)
}

/// `blob` with its payload rewritten by `edit`, re-framed.
pub fn with_payload(blob: &[u8], edit: impl FnOnce(&mut Vec<u32>)) -> Vec<u8> {
    let mut parts = split(blob);
    edit(&mut parts.payload);
    frame(&parts)
}

// ------------------------------------------------------------ random values

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn uniform(rng: &mut StdRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

fn act(a: Activation, v: f64) -> f64 {
    match a {
        Activation::Tanh => v.tanh(),
        Activation::Relu => v.max(0.0),
        Activation::Identity => v,
        other => panic!("no reference for {other:?}"),
    }
}

/// `y = W x + b` with `W` `[out, in]` row-major, in f64.
fn affine(w: &[f32], b: &[f32], x: &[f64]) -> Vec<f64> {
    let n_in = x.len();
    b.iter()
        .enumerate()
        .map(|(r, &bias)| {
            bias as f64
                + (0..n_in)
                    .map(|j| w[r * n_in + j] as f64 * x[j])
                    .sum::<f64>()
        })
        .collect()
}

// ---------------------------------------------------------------------- MLP

/// An owned dense layer (`weight` `[outputs, inputs]`).
#[derive(Clone, Debug)]
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Dense {
    pub fn random(rng: &mut StdRng, inputs: usize, outputs: usize) -> Dense {
        let scale = 1.0 / (inputs as f32).sqrt();
        Dense {
            inputs,
            outputs,
            weight: uniform(rng, inputs * outputs, scale),
            bias: uniform(rng, outputs, 0.3),
        }
    }

    pub fn view(&self) -> DenseLayer<'_> {
        DenseLayer {
            inputs: self.inputs,
            outputs: self.outputs,
            weight: &self.weight,
            bias: &self.bias,
        }
    }
}

/// A chain of dense layers with random weights.
pub fn dense_stack(rng: &mut StdRng, widths: &[usize]) -> Vec<Dense> {
    widths
        .windows(2)
        .map(|p| Dense::random(rng, p[0], p[1]))
        .collect()
}

/// The f64 forward pass of a dense stack (activation after every layer but
/// the last).
pub fn dense_forward(layers: &[Dense], activation: Activation, x: &[f32]) -> Vec<f64> {
    let mut h: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    for (l, layer) in layers.iter().enumerate() {
        h = affine(&layer.weight, &layer.bias, &h);
        if l + 1 < layers.len() {
            h.iter_mut().for_each(|v| *v = act(activation, *v));
        }
    }
    h
}

/// A 3-5-4-2 tanh MLP.
pub struct MlpModel {
    pub activation: Activation,
    pub layers: Vec<Dense>,
}

impl MlpModel {
    pub fn new(seed: u64, widths: &[usize]) -> MlpModel {
        MlpModel {
            activation: Activation::Tanh,
            layers: dense_stack(&mut rng(seed), widths),
        }
    }

    pub fn blob(&self) -> Vec<u8> {
        let views: Vec<_> = self.layers.iter().map(Dense::view).collect();
        export::encode_mlp(self.activation, &views).unwrap()
    }

    pub fn forward(&self, x: &[f32]) -> Vec<f64> {
        dense_forward(&self.layers, self.activation, x)
    }
}

/// The standard test MLP: 3-5-4-2, tanh.
pub fn mlp_blob() -> Vec<u8> {
    MlpModel::new(1, &[3, 5, 4, 2]).blob()
}

// ---------------------------------------------------------------------- MAF

/// An owned masked layer (`weight`, `mask` `[rows, cols]`, the feature
/// columns last).
#[derive(Clone, Debug)]
pub struct Made {
    pub rows: usize,
    pub cols: usize,
    pub reads_features: bool,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub mask: Vec<f32>,
}

impl Made {
    pub fn view(&self) -> MadeLayer<'_> {
        MadeLayer {
            rows: self.rows,
            cols: self.cols,
            weight: &self.weight,
            bias: &self.bias,
            mask: &self.mask,
        }
    }
}

/// The MADE masks of one block, from the degrees: input j has degree j + 1,
/// hidden unit k degree k mod d; a hidden row of degree δ reads sources of
/// degree ≤ δ and every feature, output rows i and d + i (degree i + 1)
/// read sources of degree < i + 1 (and the features only when there is no
/// hidden layer).
pub fn made_masks(
    dim: usize,
    features: usize,
    hidden: &[usize],
) -> Vec<(usize, usize, bool, Vec<f32>)> {
    let mut prev_deg: Vec<usize> = (1..=dim).collect();
    let mut out = Vec::new();
    for &n in hidden {
        let deg: Vec<usize> = (0..n).map(|k| k % dim).collect();
        let cols = prev_deg.len() + features;
        let mut mask = vec![0.0; n * cols];
        for r in 0..n {
            for (s, &ds) in prev_deg.iter().enumerate() {
                mask[r * cols + s] = f32::from(u8::from(ds <= deg[r]));
            }
            for q in 0..features {
                mask[r * cols + prev_deg.len() + q] = 1.0;
            }
        }
        out.push((n, cols, true, mask));
        prev_deg = deg;
    }
    let reads_features = hidden.is_empty();
    let cols = prev_deg.len() + if reads_features { features } else { 0 };
    let rows = 2 * dim;
    let mut mask = vec![0.0; rows * cols];
    for r in 0..rows {
        let degree = r % dim + 1;
        for (s, &ds) in prev_deg.iter().enumerate() {
            mask[r * cols + s] = f32::from(u8::from(ds < degree));
        }
        if reads_features {
            for q in 0..features {
                mask[r * cols + prev_deg.len() + q] = 1.0;
            }
        }
    }
    out.push((rows, cols, reads_features, mask));
    out
}

/// A MAF with random weights and MADE masks.
#[derive(Clone, Debug)]
pub struct MafModel {
    pub dim: usize,
    pub features: usize,
    pub activation: Activation,
    pub bound: f32,
    pub blocks: Vec<Vec<Made>>,
    pub perms: Vec<Vec<usize>>,
}

impl MafModel {
    pub fn new(seed: u64, dim: usize, features: usize, flows: usize, hidden: &[usize]) -> MafModel {
        let mut rng = rng(seed);
        let masks = made_masks(dim, features, hidden);
        let blocks = (0..flows)
            .map(|_| {
                masks
                    .iter()
                    .map(|(rows, cols, reads_features, mask)| Made {
                        rows: *rows,
                        cols: *cols,
                        reads_features: *reads_features,
                        weight: uniform(&mut rng, rows * cols, 0.6),
                        bias: uniform(&mut rng, *rows, 0.3),
                        mask: mask.clone(),
                    })
                    .collect()
            })
            .collect();
        let perms = (1..flows)
            .map(|i| {
                if i % 2 == 1 {
                    (0..dim).rev().collect()
                } else {
                    (0..dim).map(|k| (k + 1) % dim).collect()
                }
            })
            .collect();
        MafModel {
            dim,
            features,
            activation: Activation::Tanh,
            bound: 3.0,
            blocks,
            perms,
        }
    }

    pub fn spec(&self) -> MafSpec<'_> {
        MafSpec {
            dim: self.dim,
            features: self.features,
            activation: self.activation,
            log_scale_bound: self.bound,
            blocks: self
                .blocks
                .iter()
                .map(|b| b.iter().map(Made::view).collect())
                .collect(),
            perms: self.perms.clone(),
            normalisation: None,
        }
    }

    pub fn blob(&self) -> Vec<u8> {
        export::encode_maf(&self.spec()).unwrap()
    }

    /// The blob with normalisation `stats` (format version 2).
    pub fn blob_with(&self, stats: &Stats) -> Vec<u8> {
        let spec = MafSpec {
            normalisation: Some(stats.view()),
            ..self.spec()
        };
        export::encode_maf(&spec).unwrap()
    }

    /// One MADE's output `[μ₁..μ_d, a₁..a_d]` with the full masked weights.
    fn made(&self, block: &[Made], x: &[f64], f: &[f32]) -> Vec<f64> {
        let mut h = x.to_vec();
        for (l, layer) in block.iter().enumerate() {
            let mut input = h.clone();
            if layer.reads_features {
                input.extend(f.iter().map(|&v| v as f64));
            }
            let masked: Vec<f32> = layer
                .weight
                .iter()
                .zip(&layer.mask)
                .map(|(w, m)| w * m)
                .collect();
            h = affine(&masked, &layer.bias, &input);
            if l + 1 < block.len() {
                h.iter_mut().for_each(|v| *v = act(self.activation, *v));
            }
        }
        h
    }

    /// log p(x | f) in f64, straight from the masked weights.
    pub fn log_prob(&self, x: &[f32], f: &[f32]) -> f64 {
        let d = self.dim;
        let s = self.bound as f64;
        let mut u: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let mut logdet = 0.0;
        for (b, block) in self.blocks.iter().enumerate() {
            if b > 0 {
                u = self.perms[b - 1].iter().map(|&k| u[k]).collect();
            }
            let o = self.made(block, &u, f);
            for j in 0..d {
                let alpha = s * (o[d + j] / s).tanh();
                u[j] = (u[j] - o[j]) * (-alpha).exp();
                logdet -= alpha;
            }
        }
        -0.5 * u.iter().map(|v| v * v).sum::<f64>() - d as f64 * HALF_LN_2PI + logdet
    }

    /// The density transform x ↦ z in f64 (the inverse of `Maf::inverse`).
    pub fn forward(&self, x: &[f32], f: &[f32]) -> Vec<f64> {
        let d = self.dim;
        let s = self.bound as f64;
        let mut u: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        for (b, block) in self.blocks.iter().enumerate() {
            if b > 0 {
                u = self.perms[b - 1].iter().map(|&k| u[k]).collect();
            }
            let o = self.made(block, &u, f);
            for j in 0..d {
                let alpha = s * (o[d + j] / s).tanh();
                u[j] = (u[j] - o[j]) * (-alpha).exp();
            }
        }
        u
    }
}

/// The standard test MAF: d 3, c 1, 3 flows, hidden [6, 6].
pub fn maf_model() -> MafModel {
    MafModel::new(2, 3, 1, 3, &[6, 6])
}

pub fn maf_blob() -> Vec<u8> {
    maf_model().blob()
}

// ---------------------------------------------------------------------- MDN

/// An MDN with random weights.
#[derive(Clone, Debug)]
pub struct MdnModel {
    pub features: usize,
    pub dim: usize,
    pub components: usize,
    pub activation: Activation,
    pub diag: DiagTransform,
    pub min_diag: f32,
    pub cap: Option<f32>,
    pub layers: Vec<Dense>,
}

impl MdnModel {
    /// c 1, d 2, K 3, hidden [8] (head 3·(1 + 4 + 1) = 18).
    pub fn new(seed: u64, diag: DiagTransform, min_diag: f32, cap: Option<f32>) -> MdnModel {
        let (features, dim, components) = (1, 2, 3);
        let head = components * (1 + 2 * dim + dim * (dim - 1) / 2);
        MdnModel {
            features,
            dim,
            components,
            activation: Activation::Relu,
            diag,
            min_diag,
            cap,
            layers: dense_stack(&mut rng(seed), &[features, 8, head]),
        }
    }

    pub fn spec(&self) -> MdnSpec<'_> {
        MdnSpec {
            features: self.features,
            dim: self.dim,
            components: self.components,
            activation: self.activation,
            diag: self.diag,
            min_diag: self.min_diag,
            max_raw_diag: self.cap,
            layers: self.layers.iter().map(Dense::view).collect(),
            normalisation: None,
        }
    }

    pub fn blob(&self) -> Vec<u8> {
        export::encode_mdn(&self.spec()).unwrap()
    }

    /// The blob with normalisation `stats` (format version 2).
    pub fn blob_with(&self, stats: &Stats) -> Vec<u8> {
        let spec = MdnSpec {
            normalisation: Some(stats.view()),
            ..self.spec()
        };
        export::encode_mdn(&spec).unwrap()
    }

    /// log p(x | f) in f64: Σ_k π_k N(x | μ_k, (L_k L_kᵀ)⁻¹).
    pub fn log_prob(&self, x: &[f32], f: &[f32]) -> f64 {
        let (d, k) = (self.dim, self.components);
        let m = d * (d - 1) / 2;
        let head = dense_forward(&self.layers, self.activation, f);
        let logits = &head[..k];
        let lse = log_sum_exp(logits);
        let mut comps = Vec::new();
        for kk in 0..k {
            let mean = &head[k + kk * d..k + (kk + 1) * d];
            let raw = &head[k + k * d + kk * d..k + k * d + (kk + 1) * d];
            let lower = &head[k + 2 * k * d + kk * m..k + 2 * k * d + (kk + 1) * m];
            let mut l = vec![0.0f64; d * d];
            let mut log_det = 0.0;
            for i in 0..d {
                let r = match self.cap {
                    Some(cap) => cap as f64 - softplus(cap as f64 - raw[i]),
                    None => raw[i],
                };
                let base = match self.diag {
                    DiagTransform::Exp => r.exp(),
                    DiagTransform::Softplus => softplus(r),
                };
                let diag = base + self.min_diag as f64;
                l[i * d + i] = diag;
                log_det += diag.ln();
                for j in 0..i {
                    l[i * d + j] = lower[i * (i - 1) / 2 + j];
                }
            }
            // y = Lᵀ (x − μ)
            let quad: f64 = (0..d)
                .map(|j| {
                    let y: f64 = (0..d).map(|i| l[i * d + j] * (x[i] as f64 - mean[i])).sum();
                    y * y
                })
                .sum();
            comps.push(logits[kk] - lse + log_det - 0.5 * quad - d as f64 * HALF_LN_2PI);
        }
        log_sum_exp(&comps)
    }
}

fn softplus(v: f64) -> f64 {
    if v > 30.0 {
        v
    } else {
        v.exp().ln_1p()
    }
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let mx = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    mx + v.iter().map(|x| (x - mx).exp()).sum::<f64>().ln()
}

/// The standard test MDNs: exp diagonal without cap or floor, exp with a
/// cap and min_diag, softplus with min_diag.
pub fn mdn_models() -> Vec<MdnModel> {
    vec![
        MdnModel::new(3, DiagTransform::Exp, 0.0, None),
        MdnModel::new(4, DiagTransform::Exp, 1e-3, Some(2.0)),
        MdnModel::new(5, DiagTransform::Softplus, 1e-2, None),
    ]
}

pub fn mdn_blob() -> Vec<u8> {
    mdn_models()[1].blob()
}

/// One valid blob of each kind: MLP, MAF, MDN.
pub fn all_blobs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("mlp", mlp_blob()),
        ("maf", maf_blob()),
        ("mdn", mdn_blob()),
    ]
}
