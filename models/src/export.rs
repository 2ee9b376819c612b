//! `ferrograd export`: a trained checkpoint as a blob for the embedded
//! runtime (`ferrograd-esp`), a Rust source file and a C header.
//!
//! | checkpoint | exported as |
//! |---|---|
//! | `cde train --model maf` | MAF (MADE weights the masks zero are left out) |
//! | `cde train --model mdn` | MDN |
//! | `maml sinusoid train` (and any state dict of one chain of `P.{i}.weight/bias` layers) | MLP |
//! | `regress train` | MLP (plain) or residual MLP, normalisation folded in |
//!
//! For NAME (default: the kind, `maf`, `mdn` or `mlp`) the output folder gets
//! `NAME.bin` (the blob), `NAME.rs` (`pub static NAME_BLOB: &[u8]`, 4-byte
//! aligned, for `include!`) and `NAME.h` (the C ABI declarations and
//! `static const uint8_t NAME_blob[]`), each written atomically.
//!
//! A CDE checkpoint of user data also holds the per-column normalisation
//! of x and the features as top-level tensors [`X_NORM_MEAN`],
//! [`X_NORM_STD`] (`[d]`), [`F_NORM_MEAN`], [`F_NORM_STD`] (`[c]`), with the
//! model's own tensors under [`MODEL_PREFIX`]; the normalisation goes into
//! the blob (format version 2), so the exported model takes and returns
//! values in the user's units. A checkpoint without them (built-in data)
//! exports as a version 1 blob, the identity.

use crate::cde::maf::Maf;
use crate::cde::mdn::{DiagTransform, Mdn};
use crate::cde::model::{CdeModel, Inner};
use ferrograd_esp::export::{self as enc, DenseLayer, MadeLayer, MafSpec, MdnSpec};
use ferrograd_esp::{Activation as EspActivation, DiagTransform as EspDiag, Normalisation};
use ferrograd_nn::checkpoint::{Checkpoint, META_CONFIG};
use ferrograd_nn::layers::activation::Activation;
use ferrograd_nn::{Error, Module, Result};
use ferrograd_tensor::Tensor;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What [`export_checkpoint`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ExportSummary {
    /// `maf`, `mdn` or `mlp`.
    pub kind: String,
    /// Bytes of the blob.
    pub blob_bytes: usize,
    /// f32s of scratch the runtime needs for this model.
    pub scratch_floats: usize,
    /// The files written.
    pub files: Vec<PathBuf>,
}

fn esp_activation(a: Activation) -> EspActivation {
    match a {
        Activation::Relu => EspActivation::Relu,
        Activation::Gelu => EspActivation::Gelu,
        Activation::GeluTanh => EspActivation::GeluTanh,
        Activation::Silu => EspActivation::Silu,
        Activation::Tanh => EspActivation::Tanh,
        Activation::Sigmoid => EspActivation::Sigmoid,
        Activation::Softplus => EspActivation::Softplus,
        Activation::Identity => EspActivation::Identity,
    }
}

/// Checkpoint tensor μx (`[d]`) of a model trained on user data.
pub const X_NORM_MEAN: &str = "x_norm.mean";
/// Checkpoint tensor σx (`[d]`).
pub const X_NORM_STD: &str = "x_norm.std";
/// Checkpoint tensor μf (`[c]`).
pub const F_NORM_MEAN: &str = "f_norm.mean";
/// Checkpoint tensor σf (`[c]`).
pub const F_NORM_STD: &str = "f_norm.std";
/// Prefix of the model's tensors in a checkpoint with normalisation
/// tensors.
pub const MODEL_PREFIX: &str = "model.";

/// Per-column affine normalisation of x and the features: the model sees
/// x̃ = (x − μx)/σx and f̃ = (f − μf)/σf.
#[derive(Clone, Debug, PartialEq)]
pub struct NormStats {
    /// μx, `[d]`.
    pub x_mean: Vec<f32>,
    /// σx, `[d]`.
    pub x_std: Vec<f32>,
    /// μf, `[c]`.
    pub f_mean: Vec<f32>,
    /// σf, `[c]`.
    pub f_std: Vec<f32>,
}

impl NormStats {
    /// The statistics as the blob encoder takes them.
    pub fn view(&self) -> Normalisation<'_> {
        Normalisation {
            x_mean: &self.x_mean,
            x_std: &self.x_std,
            f_mean: &self.f_mean,
            f_std: &self.f_std,
        }
    }
}

fn encode_error(e: enc::ExportError) -> Error {
    Error::Config(format!("export: {e}"))
}

/// The blob of a trained MAF (format version 1, no normalisation).
pub fn maf_blob(maf: &Maf) -> Result<Vec<u8>> {
    maf_blob_normalised(maf, None)
}

/// The blob of a trained MAF with an optional normalisation (version 2
/// with one).
pub fn maf_blob_normalised(maf: &Maf, norm: Option<&NormStats>) -> Result<Vec<u8>> {
    let cfg = maf.config();
    let values: Vec<Vec<(Tensor, Tensor, Tensor)>> = maf
        .blocks
        .iter()
        .map(|block| {
            block
                .net
                .iter()
                .map(|l| {
                    let bias = l
                        .bias
                        .as_ref()
                        .map_or_else(|| Tensor::zeros(&[l.weight.dims()[0]]), |b| Ok(b.value()))?;
                    Ok((l.weight.value(), bias, l.mask.value()))
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
    let blocks = values
        .iter()
        .map(|layers| {
            layers
                .iter()
                .map(|(w, b, m)| MadeLayer {
                    rows: w.dims()[0],
                    cols: w.dims()[1],
                    weight: w.data(),
                    bias: b.data(),
                    mask: m.data(),
                })
                .collect()
        })
        .collect();
    let perms = (1..cfg.flows)
        .map(|i| {
            maf.permutation(i)
                .map(<[usize]>::to_vec)
                .unwrap_or_default()
        })
        .collect();
    enc::encode_maf(&MafSpec {
        dim: cfg.dim,
        features: cfg.features,
        activation: esp_activation(cfg.activation),
        log_scale_bound: cfg.log_scale_bound,
        blocks,
        perms,
        normalisation: norm.map(NormStats::view),
    })
    .map_err(encode_error)
}

/// The blob of a trained MDN (format version 1, no normalisation).
pub fn mdn_blob(mdn: &Mdn) -> Result<Vec<u8>> {
    mdn_blob_normalised(mdn, None)
}

/// The blob of a trained MDN with an optional normalisation (version 2
/// with one).
pub fn mdn_blob_normalised(mdn: &Mdn, norm: Option<&NormStats>) -> Result<Vec<u8>> {
    let cfg = mdn.config();
    let state = mdn.state_dict();
    let mut names: Vec<String> = (0..cfg.hidden.len())
        .map(|i| format!("body.{}", 2 * i))
        .collect();
    names.push("head".into());
    let tensors = linear_tensors(&state, &names)?;
    enc::encode_mdn(&MdnSpec {
        features: cfg.features,
        dim: cfg.dim,
        components: cfg.components,
        activation: esp_activation(cfg.activation),
        diag: match cfg.diag {
            DiagTransform::Exp => EspDiag::Exp,
            DiagTransform::Softplus => EspDiag::Softplus,
        },
        min_diag: cfg.min_diag,
        max_raw_diag: cfg.max_raw_diag,
        layers: dense_layers(&tensors),
        normalisation: norm.map(NormStats::view),
    })
    .map_err(encode_error)
}

/// A `cde train` checkpoint's model ([`crate::cde::load`]: rebuilt from
/// its recorded hyper-parameters, masks and normalisation checked) and its
/// normalisation, `None` where it is the identity (built-in data sets, which
/// export as format version 1). Errors name `path`.
pub fn load_cde(path: &Path) -> Result<(CdeModel, Option<NormStats>)> {
    let model = crate::cde::load(path)?.model;
    let (x, f) = (model.x_norm()?, model.f_norm()?);
    let identity = |n: &ferrograd_nn::Normalizer| {
        n.mean().iter().all(|&m| m == 0.0) && n.std().iter().all(|&s| s == 1.0)
    };
    let norm = if identity(&x) && identity(&f) {
        None
    } else {
        Some(NormStats {
            x_mean: x.mean().to_vec(),
            x_std: x.std().to_vec(),
            f_mean: f.mean().to_vec(),
            f_std: f.std().to_vec(),
        })
    };
    Ok((model, norm))
}

/// The blob of an MLP given by the linear layers `names[i].weight/bias` of
/// `state`, `activation` after every layer but the last.
pub fn mlp_blob(
    state: &BTreeMap<String, Tensor>,
    names: &[String],
    activation: Activation,
) -> Result<Vec<u8>> {
    let tensors = linear_tensors(state, names)?;
    enc::encode_mlp(esp_activation(activation), &dense_layers(&tensors)).map_err(encode_error)
}

/// `(weight, bias)` of each named linear layer (a missing bias is zeros).
fn linear_tensors(
    state: &BTreeMap<String, Tensor>,
    names: &[String],
) -> Result<Vec<(Tensor, Tensor)>> {
    names
        .iter()
        .map(|n| {
            let w = state
                .get(&format!("{n}.weight"))
                .filter(|w| w.dims().len() == 2)
                .ok_or_else(|| {
                    Error::Config(format!("export: no 2-D tensor '{n}.weight' in the state"))
                })?;
            let b = match state.get(&format!("{n}.bias")) {
                Some(b) => b.clone(),
                None => Tensor::zeros(&[w.dims()[0]])?,
            };
            Ok((w.clone(), b))
        })
        .collect()
}

fn dense_layers(tensors: &[(Tensor, Tensor)]) -> Vec<DenseLayer<'_>> {
    tensors
        .iter()
        .map(|(w, b)| DenseLayer {
            inputs: w.dims()[1],
            outputs: w.dims()[0],
            weight: w.data(),
            bias: b.data(),
        })
        .collect()
}

/// The linear layers of a plain MLP state dict: the names `P.{i}` with a
/// 2-D `P.{i}.weight`, one prefix P, in order of i.
fn mlp_layer_names(state: &BTreeMap<String, Tensor>) -> Result<Vec<String>> {
    let mut layers: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (name, t) in state {
        let Some(stem) = name.strip_suffix(".weight") else {
            continue;
        };
        if t.dims().len() != 2 {
            continue;
        }
        let (prefix, index) = stem.rsplit_once('.').unwrap_or(("", stem));
        if let Ok(i) = index.parse::<usize>() {
            layers
                .entry(prefix.to_string())
                .or_default()
                .push((i, stem.to_string()));
        }
    }
    match layers.len() {
        1 => {
            let mut v = layers.into_values().next().unwrap_or_default();
            v.sort();
            Ok(v.into_iter().map(|(_, n)| n).collect())
        }
        0 => Err(Error::Config(
            "export: not an MLP: no 2-D 'P.{i}.weight' tensors".into(),
        )),
        _ => Err(Error::Config(format!(
            "export: not a plain MLP: linear layers under several prefixes {:?}",
            layers.keys().collect::<Vec<_>>()
        ))),
    }
}

/// A dense layer view of `[o, i]` weights and `[o]` biases.
fn layer<'a>(w: &'a [f32], b: &'a [f32], o: usize, i: usize) -> DenseLayer<'a> {
    DenseLayer {
        inputs: i,
        outputs: o,
        weight: w,
        bias: b,
    }
}

/// The blob of a `regress train` network, its input normalisation folded
/// into the first layer (and the first skip) and its output
/// de-normalisation into the last, so the runtime maps user inputs to user
/// outputs: a plain MLP blob, or a residual MLP blob.
pub fn regress_blob(net: &crate::regress::RegressionNet) -> Result<(String, Vec<u8>)> {
    use crate::regress::model::Body;
    let (xn, yn) = (net.x_norm()?, net.y_norm()?);
    let (mu, sd) = (xn.mean(), xn.std());
    let act = esp_activation(net.spec().activation);
    // W' = W diag(1/σ), b' = b − W (μ/σ): the layer applied to raw inputs.
    let fold_in = |w: &Tensor, b: Option<Tensor>| -> (Vec<f32>, Vec<f32>) {
        let (o, i) = (w.dims()[0], w.dims()[1]);
        let wd = w.data();
        let mut w2 = vec![0f32; o * i];
        let mut b2 = b.map_or_else(|| vec![0f32; o], |b| b.data().to_vec());
        for r in 0..o {
            for c in 0..i {
                w2[r * i + c] = wd[r * i + c] / sd[c];
                b2[r] -= wd[r * i + c] * mu[c] / sd[c];
            }
        }
        (w2, b2)
    };
    // W' = diag(σy) W, b' = σy ⊙ b + μy.
    let fold_out = |w: &Tensor, b: &Tensor| -> (Vec<f32>, Vec<f32>) {
        let (o, i) = (w.dims()[0], w.dims()[1]);
        let mut w2 = w.data().to_vec();
        let mut b2 = b.data().to_vec();
        for r in 0..o {
            let s = yn.std()[r];
            w2[r * i..(r + 1) * i].iter_mut().for_each(|v| *v *= s);
            b2[r] = b2[r] * s + yn.mean()[r];
        }
        (w2, b2)
    };

    match &net.body {
        Body::Plain(mlp) => {
            let state = mlp.state_dict();
            let names = mlp_layer_names(&state)?;
            let mut tensors = linear_tensors(&state, &names)?;
            let last = tensors.len() - 1;
            let mut owned: Vec<(Vec<f32>, Vec<f32>, usize, usize)> = Vec::new();
            for (k, (w, b)) in tensors.iter_mut().enumerate() {
                let (o, i) = (w.dims()[0], w.dims()[1]);
                let (mut w2, mut b2) = if k == 0 {
                    fold_in(w, Some(b.clone()))
                } else {
                    (w.data().to_vec(), b.data().to_vec())
                };
                if k == last {
                    let (w3, b3) = fold_out(
                        &Tensor::from_vec(w2, &[o, i])?,
                        &Tensor::from_vec(b2, &[o])?,
                    );
                    w2 = w3;
                    b2 = b3;
                }
                owned.push((w2, b2, o, i));
            }
            let layers: Vec<DenseLayer> = owned
                .iter()
                .map(|(w, b, o, i)| layer(w, b, *o, *i))
                .collect();
            Ok((
                "mlp".into(),
                enc::encode_mlp(act, &layers).map_err(encode_error)?,
            ))
        }
        Body::Residual(res) => {
            struct Owned {
                w: Vec<f32>,
                b: Vec<f32>,
                skip: Option<(Vec<f32>, Vec<f32>)>,
                o: usize,
                i: usize,
            }
            let mut blocks = Vec::new();
            for (k, (lin, proj)) in res.lin.iter().zip(&res.proj).enumerate() {
                let w = lin.weight.value();
                let b = lin.bias.as_ref().map(|b| b.value());
                let (o, i) = (w.dims()[0], w.dims()[1]);
                let (w2, b2, skip) = if k == 0 {
                    let (w2, b2) = fold_in(&w, b);
                    // The skip of normalised inputs: P x̃ (or x̃ itself).
                    let p = match proj {
                        Some(p) => p.weight.value(),
                        None => {
                            let mut eye = vec![0f32; o * i];
                            (0..o).for_each(|r| eye[r * i + r] = 1.0);
                            Tensor::from_vec(eye, &[o, i])?
                        }
                    };
                    let (p2, c2) = fold_in(&p, None);
                    (w2, b2, Some((p2, c2)))
                } else {
                    let b = b.map_or_else(|| vec![0f32; o], |b| b.data().to_vec());
                    let skip = proj
                        .as_ref()
                        .map(|p| (p.weight.value().data().to_vec(), vec![0f32; o]));
                    (w.data().to_vec(), b, skip)
                };
                blocks.push(Owned {
                    w: w2,
                    b: b2,
                    skip,
                    o,
                    i,
                });
            }
            let ow = res.out.weight.value();
            let ob = res
                .out
                .bias
                .as_ref()
                .map_or_else(|| Tensor::zeros(&[ow.dims()[0]]), |b| Ok(b.value()))?;
            let (ow2, ob2) = if blocks.is_empty() {
                let (w, b) = fold_in(&ow, Some(ob));
                let o = ow.dims()[0];
                fold_out(
                    &Tensor::from_vec(w, &[o, ow.dims()[1]])?,
                    &Tensor::from_vec(b, &[o])?,
                )
            } else {
                fold_out(&ow, &ob)
            };
            let views: Vec<enc::ResidualBlock> = blocks
                .iter()
                .map(|b| enc::ResidualBlock {
                    layer: layer(&b.w, &b.b, b.o, b.i),
                    skip: b.skip.as_ref().map(|(p, c)| layer(p, c, b.o, b.i)),
                })
                .collect();
            let out = layer(&ow2, &ob2, ow.dims()[0], ow.dims()[1]);
            Ok((
                "resmlp".into(),
                enc::encode_residual_mlp(act, &views, &out).map_err(encode_error)?,
            ))
        }
    }
}

/// The blob of any supported checkpoint, with its kind name. `activation`
/// overrides (or, for a checkpoint that does not record it, gives) an MLP's
/// nonlinearity.
pub fn checkpoint_blob(path: &Path, activation: Option<Activation>) -> Result<(String, Vec<u8>)> {
    let ckpt = Checkpoint::load(path)?;
    let config: Option<serde_json::Value> = ckpt.json(META_CONFIG)?;
    let with_path = |e: Error| Error::Format {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    let family: Option<String> = ckpt.json(crate::run::META_FAMILY)?;
    if family.as_deref() == Some(crate::regress::model::FAMILY) {
        let net = crate::regress::load(path)?.model;
        return regress_blob(&net).map_err(with_path);
    }
    let is_cde = config
        .as_ref()
        .and_then(|c| c.get("model"))
        .and_then(|m| m.as_str())
        .is_some_and(|m| m == "maf" || m == "mdn");
    if is_cde {
        let (model, norm) = load_cde(path)?;
        let norm = norm.as_ref();
        return match &model.inner {
            Inner::Maf(m) => Ok((
                "maf".into(),
                maf_blob_normalised(m, norm).map_err(with_path)?,
            )),
            Inner::Mdn(m) => Ok((
                "mdn".into(),
                mdn_blob_normalised(m, norm).map_err(with_path)?,
            )),
        };
    }
    let recorded = config
        .as_ref()
        .and_then(|c| c.get("activation"))
        .and_then(|a| a.as_str())
        .map(str::parse::<Activation>)
        .transpose()
        .map_err(with_path)?;
    // A MAML sinusoid run records its method and hidden widths: a ReLU net.
    let sinusoid = config
        .as_ref()
        .is_some_and(|c| c.get("method").is_some() && c.get("hidden").is_some());
    let activation = activation
        .or(recorded)
        .or(sinusoid.then_some(Activation::Relu))
        .ok_or_else(|| {
            with_path(Error::Config(
                "the checkpoint does not record the MLP's activation: pass --activation".into(),
            ))
        })?;
    let state = ckpt.model_state();
    let names = mlp_layer_names(&state).map_err(with_path)?;
    Ok((
        "mlp".into(),
        mlp_blob(&state, &names, activation).map_err(with_path)?,
    ))
}

/// Exports the checkpoint at `path` into `out` (see the module docs).
pub fn export_checkpoint(
    path: &Path,
    out: &Path,
    name: Option<&str>,
    activation: Option<Activation>,
) -> Result<ExportSummary> {
    let (kind, blob) = checkpoint_blob(path, activation)?;
    let name = name.unwrap_or(&kind).to_string();
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(Error::Config(format!(
            "export: --name '{name}' must be a C/Rust identifier (letters, digits, _)"
        )));
    }
    let aligned = ferrograd_esp::AlignedBlob::new(&blob);
    let model = ferrograd_esp::Model::from_bytes(aligned.bytes())
        .map_err(|e| Error::Config(format!("export: the written blob does not read back: {e}")))?;
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    let files = [
        (format!("{name}.bin"), blob.clone()),
        (
            format!("{name}.rs"),
            enc::rust_source(
                &blob,
                &format!("{}_BLOB", name.to_ascii_uppercase()),
                &origin,
            )
            .into_bytes(),
        ),
        (
            format!("{name}.h"),
            enc::c_header(&blob, &format!("{name}_blob"), &origin).into_bytes(),
        ),
    ];
    let mut written = Vec::new();
    for (file, contents) in files {
        let p = out.join(file);
        ferrograd_nn::atomic::write_bytes(&p, &contents)?;
        written.push(p);
    }
    Ok(ExportSummary {
        kind,
        blob_bytes: blob.len(),
        scratch_floats: model.scratch_len(),
        files: written,
    })
}
