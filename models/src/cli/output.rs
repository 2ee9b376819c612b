//! Standard output that never panics: a closed pipe (`ferrograd … | head`)
//! quietly ends the output while the command goes on (a training run still
//! evaluates and plots); any other write error (`> /dev/full`) is an error
//! naming standard output.

use ferrograd_nn::{Error, Result};
use std::fmt::Display;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;

/// Lines and bytes to standard output (see the module docs).
#[derive(Debug, Default)]
pub struct Output {
    closed: bool,
}

impl Output {
    /// Output to this process's standard output.
    pub fn new() -> Output {
        Output::default()
    }

    /// Whether the reader has gone (a closed pipe): further output is
    /// dropped.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Writes `bytes` and flushes.
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        match out.write_all(bytes).and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(source) => Err(Error::Io {
                path: PathBuf::from("standard output"),
                source,
            }),
        }
    }

    /// Writes one line.
    pub fn line(&mut self, text: impl Display) -> Result<()> {
        self.bytes(format!("{text}\n").as_bytes())
    }
}

/// Writes a line to standard error, ignoring failures (a closed or full
/// standard error must not stop a run).
pub fn note(text: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
