//! Valid inputs of every reader of outside bytes, built in memory: the
//! starting points of the mutation tests (proptest, in `cargo test`) and of
//! the fuzz targets in `fuzz/` (see `scripts/fuzz.sh`).

use crate::cde::{CdeConfig, CdeModel, ModelKind};
use ferrograd_nn::checkpoint::{Checkpoint, TrainingState, META_TRAINING_STATE};
use ferrograd_nn::{Activation, Linear, Mlp, Module};
use std::io::Write;
use std::path::Path;

/// A small `cde` configuration of `kind` (one hidden layer of 4, two
/// flows or components).
pub fn cde_config(kind: ModelKind) -> CdeConfig {
    let mut cfg = CdeConfig::default();
    CdeConfig::test_preset(&mut cfg);
    cfg.model = kind;
    cfg.hidden = crate::cde::config::Hidden(vec![4]);
    cfg.flows = 2;
    cfg.components = 2;
    cfg
}

/// Valid checkpoints: a plain state dict with a training state, and `cde`
/// checkpoints of a MAF (MADE masks) and an MDN.
pub fn checkpoint_seeds() -> Vec<Vec<u8>> {
    let path = Path::new("seed.safetensors");
    let mut plain = Checkpoint::from_module(&Linear::new(3, 2, 0));
    let state = TrainingState {
        epoch: 1,
        step: 2,
        seed: 3,
    };
    plain
        .set_json(META_TRAINING_STATE, &state)
        .expect("metadata");
    let mut out = vec![plain.to_bytes(path).expect("plain checkpoint")];
    for kind in [ModelKind::Maf, ModelKind::Mdn] {
        let cfg = cde_config(kind);
        let model = CdeModel::from_config(&cfg, 2, 1).expect("cde model");
        let mut ckpt = Checkpoint::from_module(&model);
        ckpt.metadata = crate::cde::model::metadata(&cfg, &model).expect("metadata");
        out.push(ckpt.to_bytes(path).expect("cde checkpoint"));
    }
    out
}

/// Valid ESP model blobs: an MLP, a MAF and an MDN.
pub fn esp_seeds() -> Vec<Vec<u8>> {
    use crate::cde::model::Inner;
    let mlp = Mlp::new(&[2, 3, 1], Activation::Tanh, 0).expect("mlp");
    let state = mlp.state_dict();
    let mut names: Vec<String> = state
        .keys()
        .filter_map(|k| k.strip_suffix(".weight").map(str::to_string))
        .collect();
    names.sort();
    let mut out =
        vec![crate::export::mlp_blob(&state, &names, Activation::Tanh).expect("mlp blob")];
    for kind in [ModelKind::Maf, ModelKind::Mdn] {
        let model = CdeModel::from_config(&cde_config(kind), 2, 1).expect("cde model");
        out.push(
            match &model.inner {
                Inner::Maf(m) => crate::export::maf_blob(m),
                Inner::Mdn(m) => crate::export::mdn_blob(m),
            }
            .expect("blob"),
        );
    }
    out
}

/// Valid IDX files: gzipped images and labels, then the same plain.
pub fn idx_seeds() -> Vec<Vec<u8>> {
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2];
    images.extend((0..12).map(|i| i * 20));
    let labels = vec![0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 9];
    let gz = |b: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).expect("gzip");
        e.finish().expect("gzip")
    };
    vec![gz(&images), gz(&labels), images, labels]
}

/// Valid CSV tables: quotes, comments, CRLF, a byte order mark.
pub fn csv_seeds() -> Vec<Vec<u8>> {
    vec![
        b"x, y, f\n1, 2.5, -3\n4e2, 5, 6\n".to_vec(),
        b"\xEF\xBB\xBF# comment\r\n\"a\",\"b, c\"\r\n\r\n1,\"2\"\r\n".to_vec(),
    ]
}

/// Valid JSON lines of `ferrograd decision intent` commands.
pub fn jsonl_seeds() -> Vec<Vec<u8>> {
    vec![concat!(
        "{\"text\": \"bring me the water from the kitchen\", \"intent\": \"fetch\", ",
        "\"slots\": {\"object\": \"water\", \"location\": \"kitchen\"}}\n",
        "\n{\"text\": \"stop\", \"intent\": \"stop\"}\n"
    )
    .as_bytes()
    .to_vec()]
}

/// Valid YAML configuration files of `ferrograd cde train`.
pub fn yaml_seeds() -> Vec<Vec<u8>> {
    vec![
        b"model: mdn\nepochs: 3\nhidden: [8, 8]\nlr: 0.001\n".to_vec(),
        b"# flat\nflows: 2\nbatch_size: 64\nseed: 7\ndataset: moons\n".to_vec(),
        b"{}\n".to_vec(),
    ]
}

/// A valid episode file of the world model (the last two steps of a played
/// episode).
pub fn episode_seeds() -> Vec<Vec<u8>> {
    let mut ep = crate::world::episodes::Episode::play(1, 0.2).expect("episode");
    // Its last two steps only (the reward and the end): a full episode is
    // ~0.7 MB, which every fuzz input would copy several times.
    let keep = ep.len().min(2);
    let frame = ep.frames.len() / (ep.len() + 1);
    ep.frames.drain(..ep.frames.len() - (keep + 1) * frame);
    for v in [&mut ep.actions, &mut ep.dones] {
        v.drain(..v.len() - keep);
    }
    ep.rewards.drain(..ep.rewards.len() - keep);
    vec![ep
        .to_bytes(Path::new("episode.safetensors"))
        .expect("bytes")]
}

/// Valid HDF5 rollout files: variable-length names and f64 states, and
/// fixed-length names and f32 states (written to the temporary folder and
/// read back).
#[cfg(feature = "hdf5")]
pub fn hdf5_seeds() -> Vec<Vec<u8>> {
    use crate::regress::h5::{write_rollouts, WriteOptions};
    let rollouts = crate::regress::data::synthetic(3, 1);
    [false, true]
        .into_iter()
        .map(|fixed| {
            let path = std::env::temp_dir()
                .join(format!("ferrograd-seed-{}-{fixed}.h5", std::process::id()));
            let opts = WriteOptions {
                fixed_strings: fixed,
                f32_state: fixed,
            };
            write_rollouts(&path, &rollouts, opts).expect("seed file");
            let bytes = std::fs::read(&path).expect("seed file");
            let _ = std::fs::remove_file(&path);
            bytes
        })
        .collect()
}
