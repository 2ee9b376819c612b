//! Tests of the data readers; each writes its files into its own temp dir.

mod split;
mod table;
mod tasks;

use std::path::{Path, PathBuf};

/// A fresh folder under the system temp dir, removed on drop.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("ferrograd-data-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `file` in the folder and returns its path.
    pub(super) fn write(&self, file: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(file);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The error's message, for tests that expect an error.
pub(super) fn message<T: std::fmt::Debug>(r: ferrograd_nn::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}
