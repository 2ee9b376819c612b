//! Rollouts of the [`Catch`] environment, one safetensors file per episode.
//!
//! # File format
//! `episode_NNNNN.safetensors`, with T the number of steps:
//!
//! | tensor | dtype | shape | meaning |
//! |---|---|---|---|
//! | `frames` | U8 | `[T + 1, 64, 64, 3]` | the frame before every step, and the last frame |
//! | `actions` | U8 | `[T]` | the action of each step (0 left, 1 stay, 2 right) |
//! | `rewards` | F32 | `[T]` | the reward of each step |
//! | `dones` | U8 | `[T]` | 1 at the step that ended the episode, else 0 |
//!
//! and the metadata `format: "ferrograd-episode-1"`, `env: "catch"`, `seed`.
//! Files are written to a temporary name and renamed, so a crash leaves no
//! half-written episode. [`Episode::load`] checks every tensor's dtype and
//! shape against the others and refuses a file that disagrees, naming it.

use super::env::{scripted_action, Catch, Env, ACTIONS, SIZE};
use ferrograd_nn::{atomic, Error, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The format tag in every episode file's metadata.
pub const FORMAT: &str = "ferrograd-episode-1";
const FRAME: usize = SIZE * SIZE * 3;

/// One episode: frames, actions, rewards and dones (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    /// `T + 1` frames of `64 × 64 × 3` bytes, concatenated.
    pub frames: Vec<u8>,
    /// `T` actions.
    pub actions: Vec<u8>,
    /// `T` rewards.
    pub rewards: Vec<f32>,
    /// `T` flags, 1 where the episode ended.
    pub dones: Vec<u8>,
    /// The environment seed it was played from.
    pub seed: u64,
}

impl Episode {
    /// Number of steps T.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether the episode has no steps.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Frame `t` (0 ≤ t ≤ T) as bytes.
    pub fn frame(&self, t: usize) -> &[u8] {
        &self.frames[t * FRAME..(t + 1) * FRAME]
    }

    /// The return: the sum of the rewards.
    pub fn total_reward(&self) -> f32 {
        self.rewards.iter().sum()
    }

    /// Plays one episode of [`Catch`] from `seed` with the scripted policy,
    /// a random action with probability `noise` at each step.
    pub fn play(seed: u64, noise: f64) -> Result<Episode> {
        let mut env = Catch::default();
        let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut ep = Episode {
            frames: env.reset(seed),
            actions: Vec::new(),
            rewards: Vec::new(),
            dones: Vec::new(),
            seed,
        };
        loop {
            let a = scripted_action(&env, noise, &mut rng);
            let (f, r, done) = env.step(a)?;
            ep.frames.extend_from_slice(&f);
            ep.actions.push(a as u8);
            ep.rewards.push(r);
            ep.dones.push(done as u8);
            if done {
                return Ok(ep);
            }
        }
    }

    /// Writes the episode to `path` (temporary file, then rename). Each
    /// tensor gets its own length; [`Episode::load`] checks they agree.
    pub fn save(&self, path: &Path) -> Result<()> {
        atomic::write_bytes(path, &self.to_bytes(path)?)
    }

    /// The safetensors bytes [`Episode::save`] writes; `path` is the file
    /// named in errors.
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let bad = |e: safetensors::SafeTensorError| Error::Format {
            path: path.to_path_buf(),
            problem: e.to_string(),
        };
        let rewards: Vec<u8> = self.rewards.iter().flat_map(|r| r.to_le_bytes()).collect();
        let views = [
            (
                "frames",
                TensorView::new(
                    Dtype::U8,
                    vec![self.frames.len() / FRAME, SIZE, SIZE, 3],
                    &self.frames,
                )
                .map_err(bad)?,
            ),
            (
                "actions",
                TensorView::new(Dtype::U8, vec![self.actions.len()], &self.actions).map_err(bad)?,
            ),
            (
                "rewards",
                TensorView::new(Dtype::F32, vec![self.rewards.len()], &rewards).map_err(bad)?,
            ),
            (
                "dones",
                TensorView::new(Dtype::U8, vec![self.dones.len()], &self.dones).map_err(bad)?,
            ),
        ];
        let meta: HashMap<String, String> = [
            ("format".to_string(), FORMAT.to_string()),
            ("env".to_string(), "catch".to_string()),
            ("seed".to_string(), self.seed.to_string()),
        ]
        .into();
        safetensors::serialize(views, Some(meta)).map_err(bad)
    }

    /// Reads and checks an episode file.
    pub fn load(path: &Path) -> Result<Episode> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Episode::from_bytes(&bytes, path)
    }

    /// Parses and checks episode bytes already in memory, as
    /// [`Episode::load`] does a file; `path` is the file named in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Episode> {
        Episode::parse(bytes).map_err(|problem| Error::Format {
            path: path.to_path_buf(),
            problem,
        })
    }

    fn parse(bytes: &[u8]) -> std::result::Result<Episode, String> {
        let (_, meta) =
            SafeTensors::read_metadata(bytes).map_err(|e| format!("not safetensors: {e}"))?;
        let info = meta.metadata().clone().unwrap_or_default();
        match info.get("format") {
            Some(f) if f == FORMAT => {}
            other => {
                return Err(format!(
                    "metadata 'format' is {other:?}, expected '{FORMAT}'"
                ))
            }
        }
        let seed = info
            .get("seed")
            .and_then(|s| s.parse().ok())
            .ok_or("metadata 'seed' is missing or not a whole number")?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not safetensors: {e}"))?;
        let get = |name: &str, dtype: Dtype| {
            let v = st.tensor(name).map_err(|_| format!("no tensor '{name}'"))?;
            if v.dtype() != dtype {
                return Err(format!("'{name}' is {:?}, expected {dtype:?}", v.dtype()));
            }
            Ok(v)
        };
        let actions = get("actions", Dtype::U8)?;
        let t = match actions.shape() {
            [t] if *t > 0 => *t,
            s => {
                return Err(format!(
                    "'actions' has shape {s:?}, expected [T] with T > 0"
                ))
            }
        };
        let frames = get("frames", Dtype::U8)?;
        if frames.shape() != [t + 1, SIZE, SIZE, 3] {
            return Err(format!(
                "'frames' has shape {:?}, expected [{}, {SIZE}, {SIZE}, 3] for {t} actions",
                frames.shape(),
                t + 1
            ));
        }
        let (rewards, dones) = (get("rewards", Dtype::F32)?, get("dones", Dtype::U8)?);
        for (name, v) in [("rewards", &rewards), ("dones", &dones)] {
            if v.shape() != [t] {
                return Err(format!(
                    "'{name}' has shape {:?}, expected [{t}] like 'actions'",
                    v.shape()
                ));
            }
        }
        let actions = actions.data().to_vec();
        if let Some(i) = actions.iter().position(|&a| a as usize >= ACTIONS) {
            return Err(format!(
                "'actions'[{i}] is {}, not below {ACTIONS}",
                actions[i]
            ));
        }
        let rewards: Vec<f32> = rewards
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = rewards.iter().position(|r| !r.is_finite()) {
            return Err(format!("'rewards'[{i}] is not finite"));
        }
        Ok(Episode {
            frames: frames.data().to_vec(),
            actions,
            rewards,
            dones: dones.data().to_vec(),
            seed,
        })
    }
}

/// The file name of episode `i`.
pub fn episode_name(i: usize) -> String {
    format!("episode_{i:05}.safetensors")
}

/// The chance of a random action in episode `i` of a collection with
/// `noise` and `levels` levels of play: the levels evenly from `noise` to 1
/// (fully random) in turn (just `noise` for one level), so the data hold
/// skilled and hopeless play alike. A memory model that only ever sees the
/// scripted policy catch learns that a falling fruit means a catch wherever
/// the paddle is; it needs the misses too.
pub fn collection_noise(noise: f64, levels: usize, i: usize) -> f64 {
    if levels <= 1 {
        return noise;
    }
    let level = (i % levels) as f64 / (levels - 1) as f64;
    noise + (1.0 - noise) * level
}

/// Plays `count` episodes (seeds `seed`, `seed + 1`, …; episode `i` with
/// the noise [`collection_noise`]`(noise, levels, i)`) in parallel over
/// rayon's threads and writes them into `dir`; returns their paths.
pub fn collect(
    dir: &Path,
    count: usize,
    seed: u64,
    noise: f64,
    levels: usize,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    (0..count)
        .into_par_iter()
        .map(|i| {
            let path = dir.join(episode_name(i));
            Episode::play(
                seed.wrapping_add(i as u64),
                collection_noise(noise, levels, i),
            )?
            .save(&path)?;
            Ok(path)
        })
        .collect()
}

/// The episode files in `dir`, sorted by name.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let p = entry.map_err(io)?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("episode_") && name.ends_with(".safetensors") {
            out.push(p);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(Error::Format {
            path: dir.to_path_buf(),
            problem: "holds no episode_*.safetensors files (run `ferrograd world collect`)".into(),
        });
    }
    Ok(out)
}

/// Loads every episode of `dir`. A bad file is skipped and reported in the
/// second list (path and problem) rather than half-read; an error only if
/// no file can be read.
pub fn load_dir(dir: &Path) -> Result<(Vec<Episode>, Vec<String>)> {
    let paths = list(dir)?;
    let results: Vec<_> = paths.par_iter().map(|p| Episode::load(p)).collect();
    let (mut good, mut skipped) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(e) => good.push(e),
            Err(e) => skipped.push(e.to_string()),
        }
    }
    if good.is_empty() {
        return Err(Error::Format {
            path: dir.to_path_buf(),
            problem: format!("no readable episode: {}", skipped.join("; ")),
        });
    }
    Ok((good, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("ferrograd-episodes-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn episodes_round_trip_and_collect_in_parallel() {
        let d = tmp("rt");
        let paths = collect(&d, 4, 10, 0.3, 5).unwrap();
        assert_eq!(paths.len(), 4);
        let e = Episode::load(&paths[2]).unwrap();
        assert_eq!(e, Episode::play(12, 0.3 + 0.7 * 0.5).unwrap());
        assert_eq!(collection_noise(0.3, 5, 0), 0.3);
        assert_eq!(collection_noise(0.3, 5, 4), 1.0);
        assert_eq!(collection_noise(0.3, 5, 5), 0.3);
        assert_eq!(collection_noise(0.3, 1, 4), 0.3);
        assert_eq!(e.frames.len(), (e.len() + 1) * FRAME);
        assert_eq!(*e.dones.last().unwrap(), 1);
        let (all, skipped) = load_dir(&d).unwrap();
        assert_eq!((all.len(), skipped.len()), (4, 0));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn corrupt_and_truncated_files_are_named_and_skipped() {
        let d = tmp("bad");
        let paths = collect(&d, 2, 0, 0.1, 5).unwrap();
        let bytes = std::fs::read(&paths[1]).unwrap();
        std::fs::write(&paths[1], &bytes[..bytes.len() / 2]).unwrap();
        let e = Episode::load(&paths[1]).unwrap_err().to_string();
        assert!(e.contains("episode_00001"), "{e}");
        let (good, skipped) = load_dir(&d).unwrap();
        assert_eq!(good.len(), 1);
        assert!(skipped[0].contains("episode_00001"), "{skipped:?}");
        std::fs::write(&paths[0], b"junk").unwrap();
        let e = load_dir(&d).unwrap_err().to_string();
        assert!(e.contains("no readable episode"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
        assert!(list(&d).is_err());
    }

    #[test]
    fn inconsistent_shapes_are_refused() {
        let d = tmp("shape");
        let mut ep = Episode::play(3, 0.0).unwrap();
        ep.rewards.pop();
        let p = d.join(episode_name(0));
        // A writer that disagrees with itself: rewards one short.
        ep.save(&p).unwrap();
        let e = Episode::load(&p).unwrap_err().to_string();
        assert!(e.contains("'rewards' has shape"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Safetensors bytes with a hand-written header (episode metadata
    /// added) and `data` after it.
    fn raw(tensors: &str, data: &[u8]) -> Vec<u8> {
        let header = format!(
            r#"{{"__metadata__":{{"format":"{FORMAT}","env":"catch","seed":"1"}},{tensors}}}"#
        );
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    /// Shapes claiming 10¹² elements over 100 bytes, or whose product
    /// overflows, are refused before any tensor is copied out.
    #[test]
    fn header_claiming_1e12_elements_is_refused_before_allocating() {
        let start = std::time::Instant::now();
        let path = Path::new("huge.safetensors");
        let cases = [
            r#""actions":{"dtype":"U8","shape":[1000000000000],"data_offsets":[0,1000000000000]}"#,
            r#""actions":{"dtype":"U8","shape":[1000000000000],"data_offsets":[0,100]}"#,
            r#""frames":{"dtype":"U8","shape":[4294967296,4294967296,4294967296,3],"data_offsets":[0,100]}"#,
        ];
        for tensors in cases {
            match Episode::from_bytes(&raw(tensors, &[0; 100]), path) {
                Err(Error::Format { path: p, problem }) => {
                    assert_eq!(p, path);
                    assert!(problem.starts_with("not safetensors: "), "{problem}");
                }
                other => panic!("{tensors}: expected a format error, got {other:?}"),
            }
        }
        assert!(start.elapsed() < std::time::Duration::from_millis(500));
    }
}
