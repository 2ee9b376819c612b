//! Checkpoints as [safetensors](https://github.com/huggingface/safetensors)
//! files, readable by PyTorch (`safetensors.torch.load_file`), NumPy and
//! every other safetensors user.
//!
//! # File layout
//! * Tensors: every tensor is F32, little-endian, row-major, stored under its
//!   state-dict name (`encoder.layers.0.weight`). Rank-0 tensors have shape
//!   `[]`.
//! * Optimizer state lives in the same file, each tensor under
//!   [`OPTIMIZER_PREFIX`] (`"optimizer."`) followed by the optimizer's own
//!   name for it (`optimizer.exp_avg.0`). [`Checkpoint::model_state`] and
//!   [`Checkpoint::optimizer_state`] separate the two again (the latter
//!   strips the prefix). A model may therefore not have a top-level child
//!   named `optimizer`; [`Checkpoint::insert_optimizer_state`] and
//!   [`save_module`] refuse such a state dict rather than mix the two.
//! * Metadata: the safetensors `__metadata__` string map. By convention its
//!   values are JSON documents under the keys [`META_CONFIG`] (the resolved
//!   configuration), [`META_TRAINING_STATE`] (a [`TrainingState`]),
//!   [`META_OPTIMIZER`] (optimizer hyper-parameters and step count) and
//!   [`META_SCHEDULER`]; [`Checkpoint::set_json`] and [`Checkpoint::json`]
//!   write and read them.
//!
//! Saving is atomic (a temporary file in the same folder, flushed to disk,
//! then renamed over the target), so a crash mid-save never leaves a
//! half-written checkpoint. Loading validates the whole file and returns
//! [`Error::Format`] naming the file and the bad tensor or field; it never
//! panics.

mod format;
#[cfg(test)]
mod tests;

use crate::{Error, Module, Result};
use ferrograd_tensor::Tensor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The name prefix of optimizer tensors stored beside a model's state dict.
pub const OPTIMIZER_PREFIX: &str = "optimizer.";
/// Metadata key of the resolved configuration (JSON).
pub const META_CONFIG: &str = "config";
/// Metadata key of the [`TrainingState`] (JSON).
pub const META_TRAINING_STATE: &str = "training_state";
/// Metadata key of the optimizer's non-tensor state (JSON).
pub const META_OPTIMIZER: &str = "optimizer";
/// Metadata key of the learning-rate scheduler's state (JSON).
pub const META_SCHEDULER: &str = "scheduler";

/// Where a run stands, stored as JSON under [`META_TRAINING_STATE`] so a run
/// resumes at the right epoch and step with the right seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Completed epochs.
    pub epoch: u64,
    /// Completed optimizer steps.
    pub step: u64,
    /// The run's base seed (see [`crate::train::derive_seed`]).
    pub seed: u64,
}

/// Named tensors plus string metadata: what one safetensors file holds.
///
/// ```
/// use ferrograd_nn::checkpoint::{Checkpoint, TrainingState, META_TRAINING_STATE};
/// use ferrograd_nn::{Linear, Module};
/// let dir = std::env::temp_dir().join(format!("ferrograd-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("model.safetensors");
///
/// let model = Linear::new(3, 2, 0);
/// let mut ckpt = Checkpoint::from_module(&model);
/// let state = TrainingState { epoch: 3, step: 300, seed: 42 };
/// ckpt.set_json(META_TRAINING_STATE, &state).unwrap();
/// ckpt.save(&path).unwrap();
///
/// let restored = Linear::new(3, 2, 1);
/// let loaded = Checkpoint::load(&path).unwrap();
/// loaded.load_into(&restored).unwrap();
/// assert_eq!(restored.weight.value().data(), model.weight.value().data());
/// assert_eq!(loaded.json::<TrainingState>(META_TRAINING_STATE).unwrap(), Some(state));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    /// Tensors by name: the model's state dict, and optimizer tensors under
    /// [`OPTIMIZER_PREFIX`].
    pub tensors: BTreeMap<String, Tensor>,
    /// String metadata (JSON documents by convention).
    pub metadata: BTreeMap<String, String>,
}

fn refuse_prefixed(state: &BTreeMap<String, Tensor>) -> Result<()> {
    match state.keys().find(|n| n.starts_with(OPTIMIZER_PREFIX)) {
        Some(n) => Err(Error::Config(format!(
            "checkpoint: model tensor '{n}' starts with '{OPTIMIZER_PREFIX}', which is \
             reserved for optimizer state"
        ))),
        None => Ok(()),
    }
}

impl Checkpoint {
    /// An empty checkpoint.
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }

    /// A checkpoint holding `module`'s state dict and no metadata.
    pub fn from_module(module: &dyn Module) -> Checkpoint {
        Checkpoint {
            tensors: module.state_dict(),
            metadata: BTreeMap::new(),
        }
    }

    /// Adds optimizer tensors, each stored as `optimizer.<name>`.
    pub fn insert_optimizer_state(&mut self, state: &BTreeMap<String, Tensor>) {
        for (name, t) in state {
            self.tensors
                .insert(format!("{OPTIMIZER_PREFIX}{name}"), t.clone());
        }
    }

    /// The tensors not under [`OPTIMIZER_PREFIX`]: the model's state dict.
    pub fn model_state(&self) -> BTreeMap<String, Tensor> {
        self.tensors
            .iter()
            .filter(|(n, _)| !n.starts_with(OPTIMIZER_PREFIX))
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect()
    }

    /// The optimizer tensors, with [`OPTIMIZER_PREFIX`] removed from their
    /// names.
    pub fn optimizer_state(&self) -> BTreeMap<String, Tensor> {
        self.tensors
            .iter()
            .filter_map(|(n, t)| Some((n.strip_prefix(OPTIMIZER_PREFIX)?.to_string(), t.clone())))
            .collect()
    }

    /// Sets `module`'s parameters and buffers from [`Checkpoint::model_state`]
    /// (every missing, unexpected or mis-shaped name is reported together;
    /// nothing changes unless all fit).
    pub fn load_into(&self, module: &dyn Module) -> Result<()> {
        module.load_state_dict(&self.model_state())
    }

    /// Stores `value` as JSON under metadata `key`.
    pub fn set_json<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        let json = serde_json::to_string(value)
            .map_err(|e| Error::Config(format!("checkpoint metadata '{key}': {e}")))?;
        self.metadata.insert(key.to_string(), json);
        Ok(())
    }

    /// Parses metadata `key` as JSON; `None` if the key is absent, an error
    /// naming the key if its value does not parse as a `T`.
    pub fn json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let Some(text) = self.metadata.get(key) else {
            return Ok(None);
        };
        serde_json::from_str(text)
            .map(Some)
            .map_err(|e| Error::Config(format!("checkpoint metadata '{key}': {e}")))
    }

    /// The [`TrainingState`] stored under [`META_TRAINING_STATE`], if any.
    pub fn training_state(&self) -> Result<Option<TrainingState>> {
        self.json(META_TRAINING_STATE)
    }

    /// Writes the checkpoint to `path` atomically (temporary file in the
    /// same folder, fsync, rename). On error the temporary file is removed
    /// and an existing file at `path` is left unchanged.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = format::to_bytes(self).map_err(|problem| Error::Format {
            path: path.to_path_buf(),
            problem,
        })?;
        crate::atomic::write_bytes(path, &bytes)
    }

    /// Reads and validates a checkpoint: [`Error::Io`] if the file cannot be
    /// read, [`Error::Format`] if it is not a valid safetensors file of F32
    /// tensors (truncated, corrupted, other dtype), naming the tensor or
    /// field at fault.
    pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Checkpoint::from_bytes(&bytes, path)
    }

    /// Parses and validates checkpoint bytes already in memory, as
    /// [`Checkpoint::load`] does a file; `path` is the file named in errors.
    pub fn from_bytes(bytes: &[u8], path: impl AsRef<Path>) -> Result<Checkpoint> {
        format::from_bytes(bytes).map_err(|problem| Error::Format {
            path: path.as_ref().to_path_buf(),
            problem,
        })
    }

    /// The checkpoint's safetensors bytes (what [`Checkpoint::save`]
    /// writes); `path` is the file named in errors.
    pub fn to_bytes(&self, path: impl AsRef<Path>) -> Result<Vec<u8>> {
        format::to_bytes(self).map_err(|problem| Error::Format {
            path: path.as_ref().to_path_buf(),
            problem,
        })
    }
}

/// Saves `module`'s state dict with `metadata` to `path` (atomically).
/// An error if a state-dict name starts with [`OPTIMIZER_PREFIX`].
pub fn save_module(
    path: impl AsRef<Path>,
    module: &dyn Module,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let mut ckpt = Checkpoint::from_module(module);
    refuse_prefixed(&ckpt.tensors)?;
    ckpt.metadata = metadata.clone();
    ckpt.save(path)
}

/// Saves `module`'s state dict, the optimizer tensors `optimizer` (under
/// [`OPTIMIZER_PREFIX`]) and `metadata` to `path` (atomically).
pub fn save_training(
    path: impl AsRef<Path>,
    module: &dyn Module,
    optimizer: &BTreeMap<String, Tensor>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let mut ckpt = Checkpoint::from_module(module);
    refuse_prefixed(&ckpt.tensors)?;
    ckpt.insert_optimizer_state(optimizer);
    ckpt.metadata = metadata.clone();
    ckpt.save(path)
}

/// Loads the checkpoint at `path` into `module` (optimizer tensors in the
/// file are ignored) and returns its metadata. A state dict that does not
/// fit the module is an [`Error::Format`] naming the file and listing every
/// missing, unexpected and mis-shaped tensor; the module is then unchanged.
pub fn load_module(
    path: impl AsRef<Path>,
    module: &dyn Module,
) -> Result<BTreeMap<String, String>> {
    let path = path.as_ref();
    let ckpt = Checkpoint::load(path)?;
    ckpt.load_into(module).map_err(|e| match e {
        Error::StateDict(problems) => Error::Format {
            path: path.to_path_buf(),
            problem: format!("does not fit the module: {}", problems.join("; ")),
        },
        other => other,
    })?;
    Ok(ckpt.metadata)
}
