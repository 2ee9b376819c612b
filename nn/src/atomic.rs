//! Atomic file replacement: write a unique temporary file in the target's
//! folder, fsync it, then rename it over the target. Every file ferrograd
//! writes (checkpoints, configurations, evaluations, plots, exported models,
//! CSV output) goes through here, so a crash or a full disk never leaves a
//! half-written file under the target's name.
//!
//! A target that exists and is not a regular file (`/dev/stdout`,
//! `/dev/full`, a named pipe) is written in place instead: renaming over it
//! would replace the device with a file. A full device then fails at the
//! write, naming the target.
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

/// Whether `target` exists and is something other than a regular file (a
/// device, a pipe, or a symbolic link to one), so it must be written in
/// place rather than replaced.
fn is_special(target: &Path) -> bool {
    fs::metadata(target).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Writes a special file (see [`is_special`]) in place.
fn write_in_place(target: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(target)
        .map_err(|e| io_error(target, e))?;
    write(&mut file)
        .and_then(|()| file.flush())
        .map_err(|e| io_error(target, e))
}

/// Syncs `target`'s folder so a rename into it survives a power loss; some
/// platforms cannot open a folder, and the data is already safe, so
/// failures are ignored.
fn sync_parent(target: &Path) {
    if let Some(dir) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Writes `target` atomically: `write` fills a fresh temporary file in the
/// same folder, which is then flushed to disk and renamed over `target`.
/// On any error the temporary file is removed and an existing `target` is
/// left as it was. Errors are [`Error::Io`] naming `target`. A device or
/// pipe is written in place (see the module docs).
pub fn write_with(target: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
    if is_special(target) {
        return write_in_place(target, write);
    }
    let (mut file, mut guard) = create_temp(target)?;
    write(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(target, e))?;
    drop(file);
    fs::rename(&guard.path, target).map_err(|e| io_error(target, e))?;
    guard.armed = false;
    sync_parent(target);
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
/// it over `target`; dropping the guard without committing removes it. For
/// a device or pipe the "temporary" path is `target` itself and [`commit`]
/// only checks that it is still there (see the module docs).
pub fn temp_path(target: &Path) -> Result<TempPath> {
    if is_special(target) {
        return Ok(TempPath {
            target: target.to_path_buf(),
            guard: TempGuard {
                path: target.to_path_buf(),
                armed: false,
            },
        });
    }
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
    if temp.guard.path == temp.target {
        return Ok(());
    }
    if let Ok(f) = OpenOptions::new().write(true).open(&temp.guard.path) {
        f.sync_all().map_err(|e| io_error(&temp.target, e))?;
    }
    fs::rename(&temp.guard.path, &temp.target).map_err(|e| io_error(&temp.target, e))?;
    temp.guard.armed = false;
    sync_parent(&temp.target);
    Ok(())
}

/// Checks that files can be written in folder `dir` now, by writing one
/// byte to a temporary file there (removed again): a read-only folder or a
/// full disk is an [`Error::Io`] naming `dir` before any work is done.
pub fn check_writable(dir: &Path) -> Result<()> {
    let context = |e: io::Error| {
        io_error(
            dir,
            io::Error::new(e.kind(), format!("cannot write files in this folder: {e}")),
        )
    };
    let probe = dir.join("write-check");
    let (mut file, guard) = create_temp(&probe).map_err(|e| match e {
        Error::Io { source, .. } => context(source),
        other => other,
    })?;
    file.write_all(b"x")
        .and_then(|()| file.sync_all())
        .map_err(context)?;
    drop(file);
    drop(guard);
    Ok(())
}

/// Whether `name` is a temporary file name made by this module for a
/// process other than this one (`.TARGET.PID.N.tmp`, optionally followed by
/// `.EXT`); returns that process id.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let at = rest.rfind(".tmp")?;
    let tail = &rest[at + 4..];
    let ext_ok = tail.len() > 1 && tail.starts_with('.') && !tail[1..].contains('.');
    if !(tail.is_empty() || ext_ok) {
        return None;
    }
    let mut parts = rest[..at].rsplitn(3, '.');
    let _n: u64 = parts.next()?.parse().ok()?;
    let pid: u32 = parts.next()?.parse().ok()?;
    parts.next().filter(|stem| !stem.is_empty())?;
    Some(pid)
}

/// Whether process `pid` may still be running (on Linux, whether
/// `/proc/PID` exists; elsewhere only this process counts as running).
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    cfg!(target_os = "linux") && Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the temporary files that writers of this module left in `dir`
/// when their process was killed mid-write (their names carry the process
/// id; files of a process still running are kept). Returns the removed
/// paths; a missing folder holds none.
pub fn remove_stale_temps(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir, e)),
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = name
            .to_str()
            .and_then(temp_owner)
            .is_some_and(|pid| !alive(pid));
        let path = entry.path();
        if stale && path.is_file() {
            fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
            removed.push(path);
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("ferrograd-atomic-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn temp_names_are_recognised_with_their_process() {
        assert_eq!(temp_owner(".last.safetensors.123.4.tmp"), Some(123));
        assert_eq!(temp_owner(".loss.png.77.0.tmp.png"), Some(77));
        for other in [
            "last.safetensors",
            ".last.safetensors.x.4.tmp",
            ".123.4.tmp",
            ".a.1.2.tmpx",
            ".a.1.2.tmp.png.bak",
            "notes.tmp",
        ] {
            assert_eq!(temp_owner(other), None, "{other}");
        }
    }

    #[test]
    fn stale_temps_of_dead_processes_are_removed_and_others_kept() {
        let dir = tmp("stale");
        // Process ids wrap far below u32::MAX on Linux: this one is dead.
        let dead = dir.join(".last.safetensors.4294967295.0.tmp");
        let mine = dir.join(format!(".eval.json.{}.0.tmp", std::process::id()));
        let user = dir.join("notes.tmp");
        for p in [&dead, &mine, &user] {
            fs::write(p, b"x").unwrap();
        }
        assert_eq!(remove_stale_temps(&dir).unwrap(), vec![dead.clone()]);
        assert!(!dead.exists() && mine.exists() && user.exists());
        assert!(remove_stale_temps(&dir.join("missing")).unwrap().is_empty());
        check_writable(&dir).unwrap();
        let e = check_writable(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing") && e.contains("cannot write files"),
            "{e}"
        );
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            2,
            "the probe is removed"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_written_in_place_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let null = Path::new("/dev/null");
        if !null.exists() {
            return;
        }
        write_bytes(null, b"discarded").unwrap();
        let t = temp_path(null).unwrap();
        assert_eq!(t.path(), null);
        commit(t).unwrap();
        assert!(fs::metadata(null).unwrap().file_type().is_char_device());
        let full = Path::new("/dev/full");
        if full.exists() {
            let e = write_bytes(full, b"no room").unwrap_err().to_string();
            assert!(e.contains("/dev/full"), "{e}");
            assert!(fs::metadata(full).unwrap().file_type().is_char_device());
        }
    }
}
