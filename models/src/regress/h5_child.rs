//! Reading HDF5 rollout files in a child process. A corrupt file can crash
//! libhdf5 itself (a signal inside the C library, a hang, an 8 GB
//! allocation: the inputs kept in `fuzz/open-crashers/`), and no check on
//! the Rust side can stop a crash inside the C library. So
//! [`read_rollouts_isolated`] runs [`super::h5::read_rollouts`] in a child
//! process, `CHECKER __check-hdf5 FILE REQUEST` (the `ferrograd` program
//! re-executing itself; [`child_main`] is the child's body), under a
//! memory limit and a time limit, and takes the rows from the child's
//! standard output. A crash, a hang or an exhausted limit ends the child,
//! not the caller, and is an [`Error::Format`] naming the file; the calling
//! process never opens the file with libhdf5.
//!
//! `ferrograd regress train` reads every HDF5 file this way. Library users
//! who call [`super::h5::read_rollouts`] (or [`super::data::load`]) read in
//! their own process, as before: a corrupt file can bring it down. They can
//! isolate the reading with [`super::data::Hdf5Reading::Isolated`] if their
//! program handles [`CHILD_COMMAND`] as `ferrograd` does
//! ([`crate::cli::internal_command`]).

use super::config::AttrMap;
use super::data::Samples;
use ferrograd_nn::{Error, Result};
use ferrograd_tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hidden first argument that makes `ferrograd` the reading child.
pub const CHILD_COMMAND: &str = "__check-hdf5";

/// The child's address-space limit: this much plus [`MEMORY_PER_BYTE`]
/// bytes per byte of the file (libhdf5's caches and the rows read).
pub const MEMORY_BASE: u64 = 2 << 30;
/// See [`MEMORY_BASE`].
pub const MEMORY_PER_BYTE: u64 = 16;

const MAGIC: &[u8; 4] = b"FGH5";
/// Exit code of a child whose reader returned an error (on stderr).
const EXIT_REFUSED: i32 = 3;
/// Exit code of a child given bad arguments.
const EXIT_USAGE: i32 = 2;

/// What the child reads: [`super::h5::read_rollouts`]'s arguments but the
/// file, passed as JSON.
#[derive(Serialize, Deserialize)]
struct Request {
    in_lbl: Vec<String>,
    out_lbl: Vec<String>,
    attrs: AttrMap,
    include_failed: bool,
}

/// [`super::h5::read_rollouts`] of `path`, run in a child process:
/// `checker` started as `checker __check-hdf5 FILE REQUEST`, killed after
/// `timeout`. The same rows or the same error as the in-process reader;
/// and if libhdf5 crashes (a signal), hangs or runs out of memory on the
/// file, an [`Error::Format`] naming the file instead of the caller's
/// death.
pub fn read_rollouts_isolated(
    checker: &Path,
    timeout: Duration,
    path: &Path,
    in_lbl: &[String],
    out_lbl: &[String],
    attrs: &AttrMap,
    include_failed: bool,
) -> Result<Samples> {
    let bad = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    // A missing or unreadable file is the in-process reader's I/O error.
    std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let request = serde_json::to_string(&Request {
        in_lbl: in_lbl.to_vec(),
        out_lbl: out_lbl.to_vec(),
        attrs: attrs.clone(),
        include_failed,
    })
    .map_err(|e| Error::Config(format!("regress: HDF5 reading request: {e}")))?;
    let mut child = Command::new(checker)
        .arg(CHILD_COMMAND)
        .arg(path)
        .arg(request)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Io {
            path: checker.to_path_buf(),
            source,
        })?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let stderr = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(bad(format!(
                    "the HDF5 library did not finish reading this file in {} s (the reading \
                     child was stopped); it is corrupt, or too large for the time limit",
                    timeout.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(source) => {
                return Err(Error::Io {
                    path: checker.to_path_buf(),
                    source,
                })
            }
        }
    };
    let out = stdout.join().unwrap_or_default();
    let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default())
        .trim()
        .to_string();
    if let Some(sig) = signal(&status) {
        return Err(bad(format!(
            "the HDF5 library crashed reading this file (signal {sig}{}); it is corrupt or not \
             HDF5",
            signal_name(sig).map_or(String::new(), |n| format!(", {n}"))
        )));
    }
    match status.code() {
        Some(0) => decode(&out, in_lbl, out_lbl)
            .map_err(|p| bad(format!("the HDF5 reading child's answer {p}"))),
        Some(EXIT_REFUSED) if !err.is_empty() => Err(bad(err)),
        code => Err(bad(format!(
            "the HDF5 reading child ({}) failed (exit code {}){}{err}",
            checker.display(),
            code.map_or("none".into(), |c| c.to_string()),
            if err.is_empty() { "" } else { ": " }
        ))),
    }
}

#[cfg(unix)]
fn signal(status: &std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(status)
}

#[cfg(not(unix))]
fn signal(_: &std::process::ExitStatus) -> Option<i32> {
    None
}

fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        _ => return None,
    })
}

/// The body of `ferrograd __check-hdf5 FILE REQUEST` (`args` are the two
/// after the command): limits its own memory, reads the file as the
/// parent asked, writes the rows to standard output and returns 0, or
/// writes the reader's error to standard error and returns 3.
pub fn child_main(args: &[OsString]) -> i32 {
    let [file, request] = args else {
        eprintln!("usage: ferrograd {CHILD_COMMAND} FILE REQUEST (internal)");
        return EXIT_USAGE;
    };
    let Some(req) = request
        .to_str()
        .and_then(|r| serde_json::from_str::<Request>(r).ok())
    else {
        eprintln!("{CHILD_COMMAND}: the request is not the JSON the parent sends");
        return EXIT_USAGE;
    };
    let path = PathBuf::from(file);
    let len = std::fs::metadata(&path).map_or(0, |m| m.len());
    limit_memory(MEMORY_BASE.saturating_add(len.saturating_mul(MEMORY_PER_BYTE)));
    let result = super::h5::read_rollouts(
        &path,
        &req.in_lbl,
        &req.out_lbl,
        &req.attrs,
        req.include_failed,
    );
    match result {
        Ok(s) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(&encode(&s)).and_then(|_| out.flush()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{CHILD_COMMAND}: cannot write the rows to the parent: {e}");
                    EXIT_USAGE
                }
            }
        }
        Err(Error::Format { problem, .. }) => {
            eprintln!("{problem}");
            EXIT_REFUSED
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_REFUSED
        }
    }
}

/// Caps this process's address space at `bytes`, so an allocation that a
/// corrupt file's header asks libhdf5 for fails instead of taking the
/// machine's memory. (Not on other systems than Linux and macOS.)
#[cfg(unix)]
fn limit_memory(bytes: u64) {
    let lim = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct it is given and nothing else; a
    // failure (a lower hard limit already set) leaves the limit as it was.
    unsafe {
        libc::setrlimit(libc::RLIMIT_AS, &lim);
    }
}

#[cfg(not(unix))]
fn limit_memory(_: u64) {}

/// The child's answer: magic, rows and skipped rollouts (u64), then `x` and
/// `y` as little-endian f32.
fn encode(s: &Samples) -> Vec<u8> {
    let mut b = Vec::with_capacity(20 + 4 * (s.x.numel() + s.y.numel()));
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&(s.len() as u64).to_le_bytes());
    b.extend_from_slice(&(s.skipped_failed as u64).to_le_bytes());
    for v in s.x.data().iter().chain(s.y.data()) {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

/// The samples of an answer of [`encode`] for these labels; an error says
/// what is wrong with it.
fn decode(b: &[u8], in_lbl: &[String], out_lbl: &[String]) -> std::result::Result<Samples, String> {
    let (magic, rest) = b.split_at_checked(4).ok_or("is empty")?;
    if magic != MAGIC || rest.len() < 16 {
        return Err("is not rows".into());
    }
    let word = |i: usize| u64::from_le_bytes(rest[i..i + 8].try_into().expect("8 bytes"));
    let (rows, skipped) = (word(0), word(8));
    let values = &rest[16..];
    let width = in_lbl.len() + out_lbl.len();
    let n = usize::try_from(rows).map_err(|_| "claims too many rows")?;
    if Some(values.len()) != n.checked_mul(width).and_then(|v| v.checked_mul(4)) {
        return Err(format!(
            "holds {} bytes, not {rows} rows of {width} values",
            values.len()
        ));
    }
    let floats: Vec<f32> = values
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    let (x, y) = floats.split_at(n * in_lbl.len());
    let tensor = |v: &[f32], w: usize| Tensor::from_slice(v, &[n, w]).map_err(|e| e.to_string());
    Ok(Samples {
        in_names: in_lbl.to_vec(),
        out_names: out_lbl.to_vec(),
        x: tensor(x, in_lbl.len())?,
        y: tensor(y, out_lbl.len())?,
        skipped_failed: usize::try_from(skipped).map_err(|_| "claims too many skipped rows")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_and_damaged_ones_are_refused() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (i, o) = (names(&["a", "b"]), names(&["y"]));
        let s = Samples {
            in_names: i.clone(),
            out_names: o.clone(),
            x: Tensor::from_vec(vec![1.0, -2.5, 3.0, f32::MIN_POSITIVE], &[2, 2]).unwrap(),
            y: Tensor::from_vec(vec![0.1, 7.0], &[2, 1]).unwrap(),
            skipped_failed: 3,
        };
        let b = encode(&s);
        let back = decode(&b, &i, &o).unwrap();
        assert_eq!(back.x.data(), s.x.data());
        assert_eq!(back.y.data(), s.y.data());
        assert_eq!(back.skipped_failed, 3);
        assert!(decode(&b[..b.len() - 1], &i, &o).is_err());
        assert!(decode(&b, &i, &i).is_err());
        assert!(decode(b"", &i, &o).is_err());
        let mut huge = b.clone();
        huge[4..12].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&huge, &i, &o).is_err());
    }
}
