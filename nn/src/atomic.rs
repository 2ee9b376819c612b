//! Atomic file replacement: write a unique temporary file in the target's
//! folder, fsync it, then rename it over the target. Every file ferrograd
//! writes (checkpoints, configurations, evaluations, plots, exported models,
//! CSV output) goes through here, so a crash or a full disk never leaves a
//! half-written file under the target's name.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("ferrograd-atomic-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("eval.json");
//! ferrograd_nn::atomic::write_json(&path, &serde_json::json!({"nll": 2.15})).unwrap();
//! ferrograd_nn::atomic::write_bytes(&path, b"replaced").unwrap();
//! assert_eq!(std::fs::read(&path).unwrap(), b"replaced");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use crate::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Removes the temporary file when dropped, unless it was renamed into place
/// (so every early return and even a panic leaves no temporary file behind).
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates a new, uniquely named temporary file next to `target`.
fn create_temp(target: &Path) -> Result<(File, TempGuard)> {
    let name = target.file_name().ok_or_else(|| {
        io_error(
            target,
            io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
        )
    })?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let stem = name.to_string_lossy();
    let mut attempts = 0;
    loop {
        let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{stem}.{}.{n}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => {
                let guard = TempGuard {
                    path: temp,
                    armed: true,
                };
                return Ok((file, guard));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => {
                attempts += 1;
            }
            Err(e) => return Err(io_error(target, e)),
        }
    }
}

/// Writes `target` atomically: `write` fills a fresh temporary file in the
/// same folder, which is then flushed to disk and renamed over `target`.
/// On any error the temporary file is removed and an existing `target` is
/// left as it was. Errors are [`Error::Io`] naming `target`.
pub fn write_with(target: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
    let (mut file, mut guard) = create_temp(target)?;
    write(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(target, e))?;
    drop(file);
    fs::rename(&guard.path, target).map_err(|e| io_error(target, e))?;
    guard.armed = false;
    // Make the rename itself durable; some platforms cannot open a folder,
    // and the data is already safe, so failures here are ignored.
    if let Some(dir) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes `bytes` to `target` atomically (see [`write_with`]).
pub fn write_bytes(target: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    write_with(target.as_ref(), |f| f.write_all(bytes))
}

/// Writes `value` as pretty-printed JSON (with a final newline) to `target`
/// atomically.
pub fn write_json<T: serde::Serialize + ?Sized>(target: impl AsRef<Path>, value: &T) -> Result<()> {
    let target = target.as_ref();
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Format {
        path: target.to_path_buf(),
        problem: format!("cannot serialise as JSON: {e}"),
    })?;
    text.push('\n');
    write_bytes(target, text.as_bytes())
}

/// A temporary path in `target`'s folder for writers that need a path
/// rather than a file handle (image encoders pick the format by extension,
/// so the temporary name ends with `target`'s extension). [`commit`] renames
/// it over `target`; dropping the guard without committing removes it.
pub fn temp_path(target: &Path) -> Result<TempPath> {
    let (file, guard) = create_temp(target)?;
    drop(file);
    let ext = target.extension().map(|e| e.to_string_lossy().into_owned());
    let path = match ext {
        Some(ext) => {
            let with_ext = guard.path.with_extension(format!("tmp.{ext}"));
            fs::rename(&guard.path, &with_ext).map_err(|e| io_error(target, e))?;
            with_ext
        }
        None => guard.path.clone(),
    };
    let mut guard = guard;
    guard.path = path;
    Ok(TempPath {
        target: target.to_path_buf(),
        guard,
    })
}

/// A temporary file next to a target, from [`temp_path`].
pub struct TempPath {
    target: PathBuf,
    guard: TempGuard,
}

impl TempPath {
    /// The temporary file's path (write here).
    pub fn path(&self) -> &Path {
        &self.guard.path
    }
}

/// Flushes the temporary file to disk and renames it over its target.
pub fn commit(mut temp: TempPath) -> Result<()> {
    if let Ok(f) = OpenOptions::new().write(true).open(&temp.guard.path) {
        f.sync_all().map_err(|e| io_error(&temp.target, e))?;
    }
    fs::rename(&temp.guard.path, &temp.target).map_err(|e| io_error(&temp.target, e))?;
    temp.guard.armed = false;
    Ok(())
}
