//! Atomic file replacement: write a unique temporary file in the target's
//! folder, fsync it, then rename it over the target.

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
pub(crate) fn write_atomic(
    target: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<()> {
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

/// Writes `bytes` to `target` atomically (see [`write_atomic`]).
pub(crate) fn write_bytes_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(target, |f| f.write_all(bytes))
}
