//! The run folder: one output convention for every model family.
//!
//! ```text
//! DIR/
//! ├── config.json              the resolved configuration
//! ├── metrics.jsonl            one JSON object per logged step
//! ├── checkpoints/
//! │   ├── best.safetensors     best validation metric so far
//! │   └── last.safetensors     the latest state (model, optimizer, scheduler, run state)
//! ├── eval.json                the final evaluation
//! └── *.png                    plots
//! ```
//!
//! A folder that already holds a run is refused unless the caller asks to
//! [`OpenMode::Resume`] it or to [`OpenMode::Overwrite`] it (which deletes
//! the run's own files first, and nothing else), so a run never reports an
//! earlier run's results.

use ferrograd_nn::{atomic, Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The configuration file of a run.
pub const CONFIG_FILE: &str = "config.json";
/// The metrics log of a run.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The evaluation of a run.
pub const EVAL_FILE: &str = "eval.json";
/// The folder of a run's checkpoints.
pub const CHECKPOINT_DIR: &str = "checkpoints";
/// The best checkpoint, inside [`CHECKPOINT_DIR`].
pub const BEST_FILE: &str = "best.safetensors";
/// The latest checkpoint, inside [`CHECKPOINT_DIR`].
pub const LAST_FILE: &str = "last.safetensors";

/// Files of runs written before the run folder existed; their presence also
/// marks a folder as holding a run.
const LEGACY_FILES: [&str; 3] = [
    "best.safetensors",
    "last.safetensors",
    "checkpoint.safetensors",
];

/// How [`RunDir::open`] treats a folder that may hold an earlier run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// A new run: the folder must not hold one.
    Fresh,
    /// A new run replacing an earlier one: the earlier run's files are
    /// deleted first.
    Overwrite,
    /// Continue the run in the folder from its last checkpoint.
    Resume,
}

/// A run's output folder (see the module docs).
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl RunDir {
    /// Opens `root` for a run in `mode`, creating it if needed.
    ///
    /// * [`OpenMode::Fresh`] refuses a folder that holds a run's files, with
    ///   a message naming them and the two ways forward;
    /// * [`OpenMode::Overwrite`] deletes those files first;
    /// * [`OpenMode::Resume`] needs [`CONFIG_FILE`] and the last checkpoint.
    ///
    /// In every mode the temporary files of a writer killed mid-write are
    /// removed ([`atomic::remove_stale_temps`]), and the folder and its
    /// `checkpoints/` must be writable ([`atomic::check_writable`]).
    pub fn open(root: impl AsRef<Path>, mode: OpenMode) -> Result<RunDir> {
        let run = RunDir {
            root: root.as_ref().to_path_buf(),
        };
        if run.root.exists() && !run.root.is_dir() {
            return Err(Error::Config(format!(
                "{}: the output path exists and is not a folder",
                run.root.display()
            )));
        }
        match mode {
            OpenMode::Fresh => {
                let found = run.existing_files();
                if !found.is_empty() {
                    return Err(Error::Config(format!(
                        "{} already holds a run ({}): pass --resume {} to continue it, \
                         --overwrite to replace it, or choose another --out",
                        run.root.display(),
                        found.join(", "),
                        run.root.display()
                    )));
                }
            }
            OpenMode::Overwrite => run.clear()?,
            OpenMode::Resume => {
                for needed in [run.config(), run.last()] {
                    if !needed.is_file() {
                        let hint = match needed == run.last() {
                            true => {
                                " (the run stopped before its first checkpoint: start it \
                                 again with --out and --overwrite)"
                            }
                            false => "",
                        };
                        return Err(Error::Config(format!(
                            "{}: nothing to resume: {} is missing{hint}",
                            run.root.display(),
                            needed.display()
                        )));
                    }
                }
            }
        }
        std::fs::create_dir_all(run.checkpoint_dir()).map_err(|e| {
            let problem = format!("cannot create the run folder: {e}");
            io(
                &run.checkpoint_dir(),
                std::io::Error::new(e.kind(), problem),
            )
        })?;
        for dir in [run.root.clone(), run.checkpoint_dir()] {
            // A run killed mid-write leaves its temporary file behind.
            atomic::remove_stale_temps(&dir)?;
            // A read-only folder or a full disk fails now, not after an
            // hour of training at the first checkpoint.
            atomic::check_writable(&dir)?;
        }
        Ok(run)
    }

    /// Removes the folder again if this run left nothing in it (its
    /// `checkpoints/` folder empty and nothing else there), so a run that
    /// failed before writing leaves no empty run folder behind.
    pub fn remove_if_empty(&self) {
        let _ = std::fs::remove_dir(self.checkpoint_dir());
        let _ = std::fs::remove_dir(&self.root);
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `DIR/config.json`.
    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// `DIR/metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join(METRICS_FILE)
    }

    /// `DIR/eval.json`.
    pub fn eval(&self) -> PathBuf {
        self.root.join(EVAL_FILE)
    }

    /// `DIR/checkpoints`.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.root.join(CHECKPOINT_DIR)
    }

    /// `DIR/checkpoints/best.safetensors`.
    pub fn best(&self) -> PathBuf {
        self.checkpoint_dir().join(BEST_FILE)
    }

    /// `DIR/checkpoints/last.safetensors`.
    pub fn last(&self) -> PathBuf {
        self.checkpoint_dir().join(LAST_FILE)
    }

    /// `DIR/NAME` (a plot or another file of the family's own).
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Writes `value` as JSON to `DIR/NAME`, atomically.
    pub fn write_json<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<PathBuf> {
        let path = self.file(name);
        atomic::write_json(&path, value)?;
        Ok(path)
    }

    /// The run files present in the folder (relative names).
    fn existing_files(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .run_files()
            .into_iter()
            .filter_map(|p| {
                p.strip_prefix(&self.root)
                    .ok()
                    .map(|r| r.display().to_string())
            })
            .collect();
        found.sort();
        found
    }

    /// Every file of a run in the folder: the fixed names, checkpoints and
    /// top-level PNG plots.
    fn run_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let fixed = [CONFIG_FILE, METRICS_FILE, EVAL_FILE]
            .into_iter()
            .chain(LEGACY_FILES);
        files.extend(
            fixed
                .map(|name| self.root.join(name))
                .filter(|p| p.is_file()),
        );
        for (dir, ext) in [
            (self.checkpoint_dir(), "safetensors"),
            (self.root.clone(), "png"),
        ] {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.is_file() && p.extension().is_some_and(|x| x == ext) {
                        files.push(p);
                    }
                }
            }
        }
        files.sort();
        files.dedup();
        files
    }

    /// Deletes the run's own files (see [`RunDir::open`]); other files in
    /// the folder stay.
    fn clear(&self) -> Result<()> {
        for f in self.run_files() {
            std::fs::remove_file(&f).map_err(|e| io(&f, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("ferrograd-rundir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn a_folder_with_a_run_is_refused_unless_overwritten_or_resumed() {
        let root = tmp("refuse");
        let run = RunDir::open(&root, OpenMode::Fresh).unwrap();
        // An empty folder (with the checkpoints folder) opens again.
        RunDir::open(&root, OpenMode::Fresh).unwrap();
        run.write_json(CONFIG_FILE, &serde_json::json!({"lr": 1e-3}))
            .unwrap();
        std::fs::write(run.best(), b"x").unwrap();
        std::fs::write(run.file("nll.png"), b"x").unwrap();
        std::fs::write(run.file("notes.txt"), b"mine").unwrap();
        let e = RunDir::open(&root, OpenMode::Fresh)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("already holds a run")
                && e.contains("config.json")
                && e.contains("best.safetensors")
                && e.contains("--overwrite")
                && e.contains("--resume"),
            "{e}"
        );
        // Resume needs the last checkpoint.
        let e = RunDir::open(&root, OpenMode::Resume)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nothing to resume")
                && e.contains("last.safetensors")
                && e.contains("--overwrite"),
            "{e}"
        );
        std::fs::write(run.last(), b"x").unwrap();
        // A killed writer's temporary file (of a dead process) is removed.
        let stale = run
            .checkpoint_dir()
            .join(".last.safetensors.4294967295.3.tmp");
        std::fs::write(&stale, b"half").unwrap();
        RunDir::open(&root, OpenMode::Resume).unwrap();
        assert!(!stale.exists());
        // Overwrite deletes the run's files and keeps the user's.
        RunDir::open(&root, OpenMode::Overwrite).unwrap();
        assert!(!run.config().exists() && !run.best().exists() && !run.last().exists());
        assert!(!run.file("nll.png").exists());
        assert_eq!(std::fs::read(run.file("notes.txt")).unwrap(), b"mine");
        RunDir::open(&root, OpenMode::Fresh).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn legacy_layouts_count_as_runs_and_files_are_not_folders() {
        let root = tmp("legacy");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("checkpoint.safetensors"), b"x").unwrap();
        assert!(RunDir::open(&root, OpenMode::Fresh).is_err());
        let file = root.join("checkpoint.safetensors");
        let e = RunDir::open(&file, OpenMode::Fresh)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a folder"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
