//! The run harness every model family shares: the run folder ([`RunDir`]),
//! the training driver ([`fit`]), configuration from defaults, `--test`,
//! YAML and flags ([`config::resolve`]), checkpoints that name their family
//! ([`family_checkpoint`]) and whose model description fits the values they
//! hold ([`check_claimed_size`]), and progress reporting ([`Reporter`]).
//!
//! A family adds its model, its data and its evaluation; it does not write
//! another loop. See `ARCHITECTURE.md`, "Adding a model family".

pub mod config;
pub mod dir;
pub mod driver;
pub mod report;
pub mod sizes;

pub use config::{resolve, RunArgs};
pub use dir::{OpenMode, RunDir};
pub use driver::{
    fit, FitSummary, Goal, LoopSettings, Monitor, RunState, Schedule, SchedulerTiming, TrainTask,
    META_FAMILY, META_RUN_STATE,
};
pub use report::{Collect, Event, Reporter, Silent};

use ferrograd_nn::checkpoint::{Checkpoint, META_CONFIG};
use ferrograd_nn::{Error, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

/// What writes checkpoints of each family, for messages about a file of the
/// wrong family.
const WRITERS: [(&str, &str); 10] = [
    ("flow", "ferrograd flow train"),
    ("cde", "ferrograd cde train"),
    ("maml-sinusoid", "ferrograd maml sinusoid train"),
    ("maml-classify", "ferrograd maml classify"),
    ("decision-clip", "ferrograd decision clip train"),
    ("decision-intent", "ferrograd decision intent train"),
    ("decision-policy", "ferrograd decision policy train"),
    ("regress", "ferrograd regress train"),
    ("world-vae", "ferrograd world train-vae"),
    ("world-rnn", "ferrograd world train-rnn"),
];

fn writer(family: &str) -> String {
    let a = match family.starts_with(['a', 'e', 'i', 'o', 'u']) {
        true => "an",
        false => "a",
    };
    WRITERS
        .iter()
        .find(|(f, _)| *f == family)
        .map(|(_, w)| format!("{a} {family} checkpoint (written by `{w}`)"))
        .unwrap_or_else(|| format!("a '{family}' checkpoint"))
}

/// A checkpoint whose metadata names its `family` and holds its run's
/// `config`, the two keys [`family_checkpoint`] reads back; a family adds
/// its own keys to it.
pub fn family_metadata<C: serde::Serialize>(family: &str, config: &C) -> Result<Checkpoint> {
    let mut ckpt = Checkpoint::new();
    ckpt.set_json(META_FAMILY, family)?;
    ckpt.set_json(META_CONFIG, config)?;
    Ok(ckpt)
}

/// Loads the checkpoint at `path`, checks that it belongs to `family`, and
/// parses its configuration. A file of another family, or one without the
/// harness's metadata, is an [`Error::Format`] naming the file and saying
/// what it is.
pub fn family_checkpoint<C: DeserializeOwned>(
    path: &Path,
    family: &str,
) -> Result<(Checkpoint, C)> {
    family_config(Checkpoint::load(path)?, path, family)
}

/// [`family_checkpoint`] for a checkpoint already read (`path` is the file
/// named in errors): the checkpoint and its configuration, or an error if it
/// is not `family`'s.
pub fn family_config<C: DeserializeOwned>(
    ckpt: Checkpoint,
    path: &Path,
    family: &str,
) -> Result<(Checkpoint, C)> {
    let bad = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    match ckpt.metadata.get(META_FAMILY).map(|f| f.trim_matches('"')) {
        Some(f) if f == family => {}
        Some(other) => {
            return Err(bad(format!(
                "this is {}, not {}",
                writer(other),
                writer(family)
            )))
        }
        None => {
            return Err(bad(format!(
                "not {}: it has no '{META_FAMILY}' metadata (a plain state dict, or a \
                 checkpoint of an older ferrograd)",
                writer(family)
            )))
        }
    }
    let cfg = ckpt
        .json::<C>(META_CONFIG)
        .map_err(|e| bad(format!("its configuration does not parse: {e}")))?
        .ok_or_else(|| bad(format!("metadata '{META_CONFIG}' is missing")))?;
    Ok((ckpt, cfg))
}

/// Refuses a checkpoint whose model description claims more weights and
/// biases than the file holds: `claimed` is the description's
/// `min_value_count` (the fewest values a model of it holds, `None` if that
/// count overflows `usize`), and `ckpt` the file's tensors. Call it after
/// [`family_config`] and before building the model, so a file claiming,
/// say, 10¹² hidden units is an [`Error::Format`] naming `path` instead of
/// an allocation without bound.
pub fn check_claimed_size(claimed: Option<usize>, ckpt: &Checkpoint, path: &Path) -> Result<()> {
    let held = ckpt
        .tensors
        .values()
        .map(ferrograd_tensor::Tensor::numel)
        .fold(0usize, usize::saturating_add);
    match claimed {
        Some(n) if n <= held => Ok(()),
        claimed => Err(Error::Format {
            path: path.to_path_buf(),
            problem: format!(
                "the model description claims {} weights and biases, but the file holds only \
                 {held} values",
                claimed.map_or("more than 2^64".to_string(), |n| format!("at least {n}"))
            ),
        }),
    }
}
