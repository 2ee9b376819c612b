//! The reference workloads of `../shared/anchors` (PyTorch and JAX) written
//! with ferrograd, started from the anchors' dumps.
//!
//! A dump (`torch_anchors.py --dump DIR`, committed in `tests/data/anchors/`)
//! is a safetensors file holding a workload's initial parameters
//! (`param.<PyTorch state-dict name>`), its batch (`batch.<field>`, F32, or
//! I64 for the transformer's `ids` and `y`) and, in the metadata, the first
//! three losses PyTorch computed (`losses`, a JSON list): the initial loss and
//! the losses after one and two optimizer updates. [`Dump::load`] reads one.
//!
//! Each workload is a struct with `from_dump(path)` and `step()`: one whole
//! training step (zero gradients, forward, loss, backward, clipping where the
//! anchor clips, optimizer update) on the dump's fixed batch, returning the
//! loss computed in that step, before the update. The [`Workload`] trait
//! gives them one interface (for the tests and the `workloads` bench).
//!
//! | workload | model | loss | optimizer |
//! |---|---|---|---|
//! | [`MamlStep`], [`MamlFoStep`] | `SineNet` 1-40-40-1 ReLU in [`Maml`] (25 tasks, 1 inner step, α 0.01) | query MSE after adaptation | Adam 1e-3 |
//! | [`GradpenStep`] | [`ResidualMlp`] 16 → [64, 32] → 8, GELU (erf) | MSE + 0.01·mean ‖∂(Σ out)/∂x‖² | Adam 1e-3 |
//! | [`TransformerStep`] | [`TokenClassifier`]: embedding + positions, 2 post-norm encoder layers, mean, linear | cross-entropy | AdamW 1e-3, wd 0.01 |
//! | [`MdnRnnStep`] | [`MdnRnn`]: LSTM 35 → 256, linear 256 → 327 | mixture NLL + MSE + BCE | Adam 1e-3, clip 1.0 |
//! | [`MdnRnnPerdimStep`] | [`MdnRnn`] with a mixture per latent dimension, linear 256 → 482 | per-dimension mixture NLL + MSE + BCE | Adam 1e-3, clip 1.0 |
//! | [`MafStep`] | [`Maf`] 5 MADE blocks, 2×64 ReLU, x ∈ ℝ², f ∈ ℝ¹ | −mean log p(x \| f) | Adam 1e-3 |
//! | [`MdnStep`] | [`Mdn`] f → 64 tanh → 64 tanh → 30, K = 5 full covariance | −mean log p(x \| f) | Adam 1e-3 |
//! | [`FlowmatchStep`] | `FlowModel`: PointNet encoder, 3 AdaLN blocks of 128, on 32 MNIST fours × 500 points | flow-matching MSE | Adam 1e-3, clip 1.0 |
//! | [`ConvvaeStep`] | World Models `ConvVae` (64×64, z = 32) on 32 frames | summed squared error + max(KL, 16) | Adam 1e-3 |
//!
//! `flowmatch_step` and `convvae_step` are this project's own workloads, not the anchors':
//! their PyTorch references are in `benches/reference/`, written in the
//! anchors' conventions.
//!
//! Every model reports its parameters under the PyTorch state-dict names of
//! the anchors (`net.0.weight`, `lin.0.bias`, `enc.layers.1.self_attn.in_proj_weight`,
//! `lstm.weight_ih_l0`, …), so a dump's `param.*` tensors load with a strict
//! [`Module::load_state_dict`] and no renaming. [`TokenClassifier`] and
//! [`MdnRnn`] live in `ferrograd_models` (`decision` and `world`), with the
//! anchors' sizes as their configurations' defaults.

use ferrograd_autograd::{grad, GradOptions, Var};
use ferrograd_models::cde::maf::{Maf, MafConfig};
use ferrograd_models::cde::mdn::{Mdn, MdnConfig};
use ferrograd_models::cde::ConditionalDensity;
use ferrograd_models::decision::{TokenClassifier, TokenClassifierConfig};
use ferrograd_models::maml::sinusoid::SineNet;
use ferrograd_models::maml::{Examples, Maml, MamlConfig, TaskBatch, TaskLoss};
use ferrograd_models::world::{MdnRnn, MdnRnnConfig};
use ferrograd_nn::layers::activation::Activation;
use ferrograd_nn::layers::mlp::{LinearInit, ResidualMlp};
use ferrograd_nn::losses::{mse, Reduction};
use ferrograd_nn::optim::{clip_grad_norm, Adam, AdamConfig, AdamW, Optimizer};
use ferrograd_nn::{Forward, Module, Param};
use ferrograd_tensor::{Indices, Tensor, TensorError};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

mod convvae;
mod flowmatch;
pub use convvae::{hashed_uniform, ConvvaeStep};
pub use flowmatch::FlowmatchStep;

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/// What went wrong loading a dump or running a workload.
#[derive(Debug)]
pub enum AnchorError {
    /// The file could not be read.
    Io {
        /// The dump.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a valid dump (not safetensors, bad dtype, bad
    /// metadata, …).
    Format {
        /// The dump.
        path: PathBuf,
        /// What is wrong, naming the tensor or field.
        problem: String,
    },
    /// The dump lacks a tensor the workload needs, or it has the wrong shape.
    Mismatch {
        /// The dump.
        path: PathBuf,
        /// What is missing or wrong.
        problem: String,
    },
    /// The dump was written for another workload.
    WrongWorkload {
        /// The dump.
        path: PathBuf,
        /// The workload loading it.
        expected: &'static str,
        /// The `workload` field of the dump's metadata.
        found: String,
    },
    /// A layer, loss, optimizer or autograd operation failed.
    Nn(ferrograd_nn::Error),
}

impl fmt::Display for AnchorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnchorError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            AnchorError::Format { path, problem } | AnchorError::Mismatch { path, problem } => {
                write!(f, "{}: {problem}", path.display())
            }
            AnchorError::WrongWorkload {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: a dump of workload '{found}', not '{expected}'",
                path.display()
            ),
            AnchorError::Nn(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AnchorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AnchorError::Io { source, .. } => Some(source),
            AnchorError::Nn(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ferrograd_nn::Error> for AnchorError {
    fn from(e: ferrograd_nn::Error) -> Self {
        AnchorError::Nn(e)
    }
}

impl From<ferrograd_autograd::Error> for AnchorError {
    fn from(e: ferrograd_autograd::Error) -> Self {
        AnchorError::Nn(e.into())
    }
}

impl From<TensorError> for AnchorError {
    fn from(e: TensorError) -> Self {
        AnchorError::Nn(e.into())
    }
}

/// Result of loading a dump or running a workload.
pub type Result<T> = std::result::Result<T, AnchorError>;

// ---------------------------------------------------------------------------
// dumps
// ---------------------------------------------------------------------------

/// The directory of the committed dumps, `tests/data/anchors/`.
pub fn dump_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/anchors")
}

/// The committed dump of workload `name` (`tests/data/anchors/NAME.safetensors`).
pub fn dump_path(name: &str) -> PathBuf {
    dump_dir().join(format!("{name}.safetensors"))
}

/// One anchor dump: initial parameters, batch and reference losses.
#[derive(Clone, Debug)]
pub struct Dump {
    /// The file it was read from.
    pub path: PathBuf,
    /// The metadata's `workload` field, if present.
    pub workload: Option<String>,
    /// The metadata's `framework` field (`pytorch`, `jax`), if present.
    pub framework: Option<String>,
    /// The `param.*` tensors by PyTorch state-dict name (prefix removed).
    pub params: BTreeMap<String, Tensor>,
    /// The F32 `batch.*` tensors by field name (prefix removed).
    pub batch: BTreeMap<String, Tensor>,
    /// The I64 `batch.*` tensors (class indices, token ids) by field name.
    pub batch_indices: BTreeMap<String, Indices>,
    /// The reference losses of the first steps (the metadata's `losses`).
    pub losses: Vec<f64>,
}

impl Dump {
    /// Reads a dump. Every problem is an [`AnchorError`], never a panic.
    pub fn load(path: impl AsRef<Path>) -> Result<Dump> {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path).map_err(|source| AnchorError::Io {
            path: path.clone(),
            source,
        })?;
        let format = |problem: String| AnchorError::Format {
            path: path.clone(),
            problem,
        };
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| format(format!("not a valid safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| format(format!("not a valid safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let losses_json = meta
            .get("losses")
            .ok_or_else(|| format("the metadata has no 'losses' field".into()))?;
        let losses: Vec<f64> = serde_json::from_str(losses_json).map_err(|e| {
            format(format!(
                "metadata 'losses' is not a JSON list of numbers ({e}): {losses_json:?}"
            ))
        })?;
        let mut dump = Dump {
            path: path.clone(),
            workload: meta.get("workload").cloned(),
            framework: meta.get("framework").cloned(),
            params: BTreeMap::new(),
            batch: BTreeMap::new(),
            batch_indices: BTreeMap::new(),
            losses,
        };
        for (name, view) in st.tensors() {
            let (is_param, field) = if let Some(f) = name.strip_prefix("param.") {
                (true, f.to_string())
            } else if let Some(f) = name.strip_prefix("batch.") {
                (false, f.to_string())
            } else {
                return Err(format(format!(
                    "tensor '{name}' is neither 'param.*' nor 'batch.*'"
                )));
            };
            let dims = view.shape().to_vec();
            let data = view.data();
            match view.dtype() {
                Dtype::F32 => {
                    let values: Vec<f32> = data
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    let t = Tensor::from_vec(values, &dims)
                        .map_err(|e| format(format!("tensor '{name}': {e}")))?;
                    if is_param {
                        dump.params.insert(field, t);
                    } else {
                        dump.batch.insert(field, t);
                    }
                }
                Dtype::I64 if !is_param => {
                    let mut idx = Vec::with_capacity(data.len() / 8);
                    for c in data.chunks_exact(8) {
                        let v = i64::from_le_bytes(c.try_into().expect("8-byte chunk"));
                        let i = usize::try_from(v).map_err(|_| {
                            format(format!("tensor '{name}' holds the negative index {v}"))
                        })?;
                        idx.push(i);
                    }
                    let i = Indices::new(idx, &dims)
                        .map_err(|e| format(format!("tensor '{name}': {e}")))?;
                    dump.batch_indices.insert(field, i);
                }
                other => {
                    return Err(format(format!(
                        "tensor '{name}' has dtype {other:?}; parameters must be F32, \
                         batch fields F32 or I64"
                    )))
                }
            }
        }
        Ok(dump)
    }

    fn mismatch(&self, problem: String) -> AnchorError {
        AnchorError::Mismatch {
            path: self.path.clone(),
            problem,
        }
    }

    /// Checks that the dump is one of workload `name` (when its metadata says).
    pub fn expect_workload(&self, name: &'static str) -> Result<()> {
        match &self.workload {
            Some(w) if w != name => Err(AnchorError::WrongWorkload {
                path: self.path.clone(),
                expected: name,
                found: w.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// The F32 batch field `field`, checked to have dimensions `dims`.
    pub fn batch_tensor(&self, field: &str, dims: &[usize]) -> Result<Tensor> {
        let t = self
            .batch
            .get(field)
            .ok_or_else(|| self.mismatch(format!("no F32 tensor 'batch.{field}'")))?;
        if t.dims() != dims {
            return Err(self.mismatch(format!(
                "'batch.{field}' has shape {:?}, the workload needs {dims:?}",
                t.dims()
            )));
        }
        Ok(t.clone())
    }

    /// The integer batch field `field`, checked to have dimensions `dims` and
    /// every value below `bound`.
    pub fn batch_ids(&self, field: &str, dims: &[usize], bound: usize) -> Result<Indices> {
        let i = self
            .batch_indices
            .get(field)
            .ok_or_else(|| self.mismatch(format!("no I64 tensor 'batch.{field}'")))?;
        if i.dims() != dims {
            return Err(self.mismatch(format!(
                "'batch.{field}' has shape {:?}, the workload needs {dims:?}",
                i.dims()
            )));
        }
        if let Some(bad) = i.data().iter().find(|&&v| v >= bound) {
            return Err(self.mismatch(format!(
                "'batch.{field}' holds {bad}, out of range for {bound}"
            )));
        }
        Ok(i.clone())
    }

    /// Loads the `param.*` tensors into `module` (strict: every name must
    /// match, with its shape, both ways).
    pub fn load_into(&self, module: &dyn Module) -> Result<()> {
        module
            .load_state_dict(&self.params)
            .map_err(|e| self.mismatch(format!("parameters: {e}")))
    }
}

/// A workload that starts from an anchor dump and runs training steps.
pub trait Workload: Sized {
    /// The anchor row's name (`maml_step`, …), also the dump's file stem.
    const NAME: &'static str;

    /// The workload with the dump's parameters and batch.
    fn from_dump(path: &Path) -> Result<Self>;

    /// One whole training step; returns the loss computed before the update.
    fn step(&mut self) -> Result<f32>;

    /// The workload from its committed dump ([`dump_path`]).
    fn from_committed_dump() -> Result<Self> {
        Self::from_dump(&dump_path(Self::NAME))
    }
}

/// Implements [`Workload`] by delegating to the inherent methods.
macro_rules! workload {
    ($ty:ty, $name:literal) => {
        impl Workload for $ty {
            const NAME: &'static str = $name;

            fn from_dump(path: &Path) -> Result<Self> {
                <$ty>::from_dump(path)
            }

            fn step(&mut self) -> Result<f32> {
                <$ty>::step(self)
            }
        }
    };
}

/// Back-propagates `loss` into freshly cleared gradients, takes one
/// optimizer step, and returns the loss's value (from before the step).
fn optimizer_step(opt: &mut dyn Optimizer, loss: &Var) -> Result<f32> {
    opt.zero_grad();
    loss.backward()?;
    opt.step()?;
    Ok(loss.item()?)
}

fn adam(params: Vec<Param>, lr: f64) -> Result<Adam> {
    Ok(Adam::new(
        params,
        AdamConfig {
            lr,
            ..AdamConfig::default()
        },
    )?)
}

// ---------------------------------------------------------------------------
// MAML
// ---------------------------------------------------------------------------

const MAML_TASKS: usize = 25;
const MAML_SUPPORT: usize = 10;
const MAML_QUERY: usize = 10;

/// `maml_step`: second-order MAML on the dump's 25 sinusoid tasks (10
/// support and 10 query points each), 1-40-40-1 ReLU network, one inner SGD
/// step with α = 0.01, Adam 1e-3 on the meta-loss (mean over tasks of the
/// query MSE after adaptation).
pub struct MamlStep {
    maml: Maml<SineNet>,
    opt: Adam,
    tasks: Vec<TaskBatch>,
}

impl MamlStep {
    /// Second-order MAML from a `maml_step` dump.
    pub fn from_dump(path: impl AsRef<Path>) -> Result<MamlStep> {
        MamlStep::build(path.as_ref(), "maml_step", false)
    }

    fn build(path: &Path, name: &'static str, first_order: bool) -> Result<MamlStep> {
        let dump = Dump::load(path)?;
        dump.expect_workload(name)?;
        let net = SineNet::new(&[40, 40], 0)?;
        dump.load_into(&net)?;
        let config = MamlConfig {
            inner_steps: 1,
            inner_lr: 0.01,
            first_order,
            loss: TaskLoss::Mse,
        };
        let maml = Maml::new(net, config, false);
        let opt = adam(maml.meta_params(), 1e-3)?;
        let field = |f: &str, n: usize| dump.batch_tensor(f, &[MAML_TASKS, n, 1]);
        let (xs, ys) = (field("xs", MAML_SUPPORT)?, field("ys", MAML_SUPPORT)?);
        let (xq, yq) = (field("xq", MAML_QUERY)?, field("yq", MAML_QUERY)?);
        let task = |t: &Tensor, i: usize, n: usize| t.narrow(0, i, 1)?.reshape(&[n, 1]);
        let tasks = (0..MAML_TASKS)
            .map(|i| {
                Ok(TaskBatch {
                    support: Examples {
                        x: task(&xs, i, MAML_SUPPORT)?,
                        y: task(&ys, i, MAML_SUPPORT)?,
                    },
                    query: Examples {
                        x: task(&xq, i, MAML_QUERY)?,
                        y: task(&yq, i, MAML_QUERY)?,
                    },
                })
            })
            .collect::<std::result::Result<_, TensorError>>()?;
        Ok(MamlStep { maml, opt, tasks })
    }

    /// One meta-update; returns the meta-loss before it.
    pub fn step(&mut self) -> Result<f32> {
        let loss = self.maml.meta_loss(&self.tasks)?;
        optimizer_step(&mut self.opt, &loss)
    }

    /// The meta-learner (its model holds the current parameters).
    pub fn maml(&self) -> &Maml<SineNet> {
        &self.maml
    }
}

workload!(MamlStep, "maml_step");

/// `maml_fo_step`: as [`MamlStep`] with first-order MAML (the inner gradient
/// is a constant).
pub struct MamlFoStep(MamlStep);

impl MamlFoStep {
    /// First-order MAML from a `maml_fo_step` dump.
    pub fn from_dump(path: impl AsRef<Path>) -> Result<MamlFoStep> {
        Ok(MamlFoStep(MamlStep::build(
            path.as_ref(),
            "maml_fo_step",
            true,
        )?))
    }

    /// One meta-update; returns the meta-loss before it.
    pub fn step(&mut self) -> Result<f32> {
        self.0.step()
    }

    /// The meta-learner.
    pub fn maml(&self) -> &Maml<SineNet> {
        self.0.maml()
    }
}

workload!(MamlFoStep, "maml_fo_step");

// ---------------------------------------------------------------------------
// gradient penalty
// ---------------------------------------------------------------------------

const GRADPEN_BATCH: usize = 4096;
const GRADPEN_PENALTY: f32 = 0.01;

/// `gradpen_step`: residual MLP 16 → [64, 32] → 8 with exact GELU, loss =
/// MSE(out, y) + 0.01 · mean over the batch of ‖∂(Σ outputs)/∂x‖² (the input
/// gradient taken with `create_graph`, so the weight gradient is a double
/// backward), Adam 1e-3, batch 4096.
pub struct GradpenStep {
    net: ResidualMlp,
    opt: Adam,
    x: Tensor,
    y: Var,
}

impl GradpenStep {
    /// The workload from a `gradpen_step` dump.
    pub fn from_dump(path: impl AsRef<Path>) -> Result<GradpenStep> {
        let dump = Dump::load(path)?;
        dump.expect_workload("gradpen_step")?;
        let net = ResidualMlp::with_init(
            16,
            &[64, 32],
            8,
            Activation::Gelu,
            LinearInit::XavierUniformZeroBias,
            0,
        )?;
        dump.load_into(&net)?;
        let opt = adam(net.params(), 1e-3)?;
        let x = dump.batch_tensor("x", &[GRADPEN_BATCH, 16])?;
        let y = Var::constant(dump.batch_tensor("y", &[GRADPEN_BATCH, 8])?);
        Ok(GradpenStep { net, opt, x, y })
    }

    /// The loss at the current parameters (recorded for a backward pass).
    pub fn loss(&self) -> Result<Var> {
        let x = Var::param(self.x.clone());
        let out = self.net.forward(&x)?;
        let gx = grad(&[&out.sum_all()], &[&x], None, GradOptions::create_graph())?.remove(0);
        let fit = mse(&out, &self.y, Reduction::Mean)?;
        let penalty = gx.square().sum(&[1], false)?.mean_all();
        Ok(fit.add(&penalty.mul_scalar(GRADPEN_PENALTY))?)
    }

    /// One Adam step; returns the loss before it.
    pub fn step(&mut self) -> Result<f32> {
        let loss = self.loss()?;
        optimizer_step(&mut self.opt, &loss)
    }

    /// The network.
    pub fn net(&self) -> &ResidualMlp {
        &self.net
    }
}

workload!(GradpenStep, "gradpen_step");

// ---------------------------------------------------------------------------
// transformer token classifier
// ---------------------------------------------------------------------------

const TF_BATCH: usize = 32;

/// `transformer_step`: [`TokenClassifier`] on 32 sequences of 32 tokens,
/// cross-entropy over 20 classes, AdamW lr 1e-3, weight decay 0.01 on every
/// parameter.
pub struct TransformerStep {
    model: TokenClassifier,
    opt: AdamW,
    ids: Indices,
    y: Indices,
}

impl TransformerStep {
    /// The workload from a `transformer_step` dump.
    pub fn from_dump(path: impl AsRef<Path>) -> Result<TransformerStep> {
        let dump = Dump::load(path)?;
        dump.expect_workload("transformer_step")?;
        let config = TokenClassifierConfig::default();
        let model = TokenClassifier::new(&config, 0)?;
        dump.load_into(&model)?;
        let opt = AdamW::new(
            model.params(),
            AdamConfig {
                lr: 1e-3,
                weight_decay: 0.01,
                ..AdamConfig::adamw()
            },
        )?;
        let ids = dump.batch_ids("ids", &[TF_BATCH, config.seq_len], config.vocab)?;
        let y = dump.batch_ids("y", &[TF_BATCH], config.classes)?;
        Ok(TransformerStep { model, opt, ids, y })
    }

    /// The loss at the current parameters.
    pub fn loss(&self) -> Result<Var> {
        Ok(self.model.loss(&self.ids, &self.y)?)
    }

    /// One AdamW step; returns the loss before it.
    pub fn step(&mut self) -> Result<f32> {
        let loss = self.loss()?;
        optimizer_step(&mut self.opt, &loss)
    }

    /// The model.
    pub fn model(&self) -> &TokenClassifier {
        &self.model
    }
}

workload!(TransformerStep, "transformer_step");

// ---------------------------------------------------------------------------
// MDN-RNN
// ---------------------------------------------------------------------------

const RNN_SEQ: usize = 50;
const RNN_BATCH: usize = 32;
const RNN_CLIP: f32 = 1.0;

/// `mdnrnn_step`: [`MdnRnn`] on 32 sequences of 50 steps, global gradient
/// norm clipped to 1.0, Adam 1e-3.
pub struct MdnRnnStep {
    model: MdnRnn,
    opt: Adam,
    za: Var,
    z_next: Var,
    reward: Var,
    done: Var,
}

impl MdnRnnStep {
    /// The workload from an `mdnrnn_step` dump.
    pub fn from_dump(path: impl AsRef<Path>) -> Result<MdnRnnStep> {
        MdnRnnStep::build(path.as_ref(), "mdnrnn_step", false)
    }

    fn build(path: &Path, name: &'static str, per_dim: bool) -> Result<MdnRnnStep> {
        let dump = Dump::load(path)?;
        dump.expect_workload(name)?;
        let config = MdnRnnConfig {
            per_dim,
            ..MdnRnnConfig::default()
        };
        let model = MdnRnn::new(&config, 0)?;
        dump.load_into(&model)?;
        let opt = adam(model.params(), 1e-3)?;
        let (b, t) = (RNN_BATCH, RNN_SEQ);
        let field = |f: &str, dims: &[usize]| dump.batch_tensor(f, dims).map(Var::constant);
        Ok(MdnRnnStep {
            za: field("za", &[b, t, config.input_dim()])?,
            z_next: field("z_next", &[b, t, config.z_dim])?,
            reward: field("reward", &[b, t])?,
            done: field("done", &[b, t])?,
            model,
            opt,
        })
    }

    /// The loss at the current parameters.
    pub fn loss(&self) -> Result<Var> {
        Ok(self
            .model
            .loss(&self.za, &self.z_next, &self.reward, &self.done)?)
    }

    /// One clipped Adam step; returns the loss before it.
    pub fn step(&mut self) -> Result<f32> {
        self.opt.zero_grad();
        let loss = self.loss()?;
        loss.backward()?;
        clip_grad_norm(self.opt.params(), RNN_CLIP)?;
        self.opt.step()?;
        Ok(loss.item()?)
    }

    /// The model.
    pub fn model(&self) -> &MdnRnn {
        &self.model
    }
}

workload!(MdnRnnStep, "mdnrnn_step");

/// `mdnrnn_perdim_step`: as [`MdnRnnStep`] with an independent 5-component
/// mixture per latent dimension (the World Models paper's; head 256 → 482).
pub struct MdnRnnPerdimStep(MdnRnnStep);

impl MdnRnnPerdimStep {
    /// The workload from an `mdnrnn_perdim_step` dump.
    pub fn from_dump(path: impl AsRef<Path>) -> Result<MdnRnnPerdimStep> {
        MdnRnnStep::build(path.as_ref(), "mdnrnn_perdim_step", true).map(MdnRnnPerdimStep)
    }

    /// One clipped Adam step; returns the loss before it.
    pub fn step(&mut self) -> Result<f32> {
        self.0.step()
    }
}

workload!(MdnRnnPerdimStep, "mdnrnn_perdim_step");

// ---------------------------------------------------------------------------
// conditional density models (MAF, MDN)
// ---------------------------------------------------------------------------

const CDE_BATCH: usize = 256;

/// The conditional banana batch of a `maf_step` / `mdn_step` dump: x `[256,
/// 2]` and f `[256, 1]`.
fn cde_batch(dump: &Dump) -> Result<(Var, Var)> {
    Ok((
        Var::constant(dump.batch_tensor("x", &[CDE_BATCH, 2])?),
        Var::constant(dump.batch_tensor("f", &[CDE_BATCH, 1])?),
    ))
}

/// One training step of a conditional density model on the dump's 256
/// banana rows: loss −mean log p(x | f), Adam 1e-3. [`MafStep`] and
/// [`MdnStep`] are its two anchor workloads.
pub struct CdeStep<M: ConditionalDensity> {
    model: M,
    opt: Adam,
    x: Var,
    f: Var,
}

impl<M: ConditionalDensity> CdeStep<M> {
    fn new(model: M, dump: &Dump) -> Result<CdeStep<M>> {
        let opt = adam(model.params(), 1e-3)?;
        let (x, f) = cde_batch(dump)?;
        Ok(CdeStep { model, opt, x, f })
    }

    /// The loss at the current parameters.
    pub fn loss(&self) -> Result<Var> {
        Ok(self.model.log_prob(&self.x, &self.f)?.mean_all().neg())
    }

    /// One Adam step; returns the loss before it.
    pub fn step(&mut self) -> Result<f32> {
        let loss = self.loss()?;
        optimizer_step(&mut self.opt, &loss)
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }
}

/// `maf_step`: [`Maf`] with the default (anchor) settings — 5 MADE blocks of
/// two 64-unit ReLU layers, k mod 2 degrees, reversal between blocks, α =
/// 3·tanh(a/3).
pub type MafStep = CdeStep<Maf>;

impl CdeStep<Maf> {
    /// The workload from a `maf_step` dump (parameters only; the masks come
    /// from the configuration).
    pub fn from_dump(path: impl AsRef<Path>) -> Result<MafStep> {
        let dump = Dump::load(path)?;
        dump.expect_workload("maf_step")?;
        let model = Maf::new(MafConfig::default(), 0)?;
        model
            .load_params(&dump.params)
            .map_err(|e| dump.mismatch(format!("parameters: {e}")))?;
        CdeStep::new(model, &dump)
    }
}

workload!(MafStep, "maf_step");

/// `mdn_step`: [`Mdn`] with [`MdnConfig::anchor`] (K = 5 full-covariance
/// components, 64-64 tanh body, diag L = exp(r) exactly).
pub type MdnStep = CdeStep<Mdn>;

impl CdeStep<Mdn> {
    /// The workload from an `mdn_step` dump.
    pub fn from_dump(path: impl AsRef<Path>) -> Result<MdnStep> {
        let dump = Dump::load(path)?;
        dump.expect_workload("mdn_step")?;
        let model = Mdn::new(MdnConfig::anchor(), 0)?;
        dump.load_into(&model)?;
        CdeStep::new(model, &dump)
    }
}

workload!(MdnStep, "mdn_step");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_typed_errors() {
        let missing = Dump::load("/nonexistent/dump.safetensors");
        assert!(matches!(missing, Err(AnchorError::Io { .. })));
        let dir = std::env::temp_dir().join(format!("anchors-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.safetensors");
        std::fs::write(&junk, b"not a safetensors file").unwrap();
        assert!(matches!(Dump::load(&junk), Err(AnchorError::Format { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
        // A dump of another workload.
        let r = GradpenStep::from_dump(dump_path("maml_step"));
        assert!(matches!(r, Err(AnchorError::WrongWorkload { .. })));
    }

    #[test]
    fn committed_dumps_load() {
        let d = Dump::load(dump_path("transformer_step")).unwrap();
        assert_eq!(d.workload.as_deref(), Some("transformer_step"));
        assert_eq!(d.losses.len(), 3);
        assert_eq!(d.batch_indices["ids"].dims(), &[32, 32]);
        assert_eq!(d.params["pos"].dims(), &[32, 128]);
    }
}
