//! Reading HDF5 rollout files in a forked child process. A corrupt file can
//! crash libhdf5 itself (a signal inside the C library, a hang, an 8 GB
//! allocation: the inputs kept in `fuzz/open-crashers/`), and no check on
//! the Rust side can stop a crash inside the C library. So
//! [`read_rollouts_isolated`] `fork()`s (no `exec`: it works in any
//! program that links this library), and the child, under an
//! address-space limit ([`MEMORY_BASE`], [`MEMORY_PER_BYTE`]), runs
//! [`super::h5::read_rollouts`], writes the rows or the reader's error
//! into a pipe and ends with `_exit` (no atexit handler, no destructor, no
//! return into the caller's code). The parent reads the pipe until a
//! deadline (`timeout`; [`super::data::Hdf5Reading::from_env`]: the
//! environment's `FERROGRAD_HDF5_TIMEOUT`, default 600 s), then kills and reaps
//! the child. A crash, a hang or an exhausted limit ends the child, not the
//! caller, and is an [`Error::Format`] naming the file; the calling process
//! never opens the file with libhdf5.
//!
//! Everything reads HDF5 files this way: [`super::data::load`] (the
//! default, [`super::data::Hdf5Reading::Isolated`]), [`super::train`]
//! and so `ferrograd regress train`. Only [`super::data::Hdf5Reading::InProcess`] and
//! [`super::h5::read_rollouts`] itself read in the calling process, for
//! trusted files.
//!
//! The fork is safe in a multi-threaded process (a rayon pool, a test
//! harness): it happens under hdf5-metno's global lock, so no other thread
//! is inside libhdf5 then (the child, a copy of the forking thread, owns
//! the reentrant lock and reads under it), and the child only resets its
//! signal handlers (the program's own, libFuzzer's or Rust's stack-overflow
//! handler, must not run there), sets its limits, points its standard
//! output at /dev/null and its standard error at a second pipe (the parent
//! keeps its first 4 KB for the error message: a failed allocation, a
//! glibc heap check), reads and `_exit`s: no rayon, no stdout lock, no
//! lock another thread may have held at the fork. On other systems than
//! Unix there is no fork: the reading is in-process (a corrupt file can
//! bring the caller down there).

use super::config::AttrMap;
use super::data::Samples;
use ferrograd_nn::{Error, Result};
use ferrograd_tensor::Tensor;
use std::path::Path;
use std::time::Duration;

/// The child's address-space limit: the calling process's virtual size at
/// the fork plus this much plus [`MEMORY_PER_BYTE`] bytes per byte of the
/// file (libhdf5's caches and the rows read).
pub const MEMORY_BASE: u64 = 2 << 30;
/// See [`MEMORY_BASE`].
pub const MEMORY_PER_BYTE: u64 = 16;

#[cfg_attr(not(unix), allow(dead_code))]
const MAGIC: &[u8; 4] = b"FGH5";
/// The first byte of the child's answer: rows ([`encode`]) follow.
#[cfg_attr(not(unix), allow(dead_code))]
const ROWS: u8 = b'R';
/// The first byte of the child's answer: the reader's error message follows.
#[cfg_attr(not(unix), allow(dead_code))]
const REFUSED: u8 = b'E';
/// The first byte of the child's answer: the reader panicked (the message is
/// on the child's standard error).
#[cfg_attr(not(unix), allow(dead_code))]
const PANICKED: u8 = b'P';

/// [`super::h5::read_rollouts`] of `path`, run in a forked child process
/// killed after `timeout` (see the module documentation). The same rows or
/// the same error as the in-process reader; and if libhdf5 crashes (a
/// signal), hangs or runs out of memory on the file, an [`Error::Format`]
/// naming the file instead of the caller's death. (Not on Unix: the
/// in-process reader.)
pub fn read_rollouts_isolated(
    timeout: Duration,
    path: &Path,
    in_lbl: &[String],
    out_lbl: &[String],
    attrs: &AttrMap,
    include_failed: bool,
) -> Result<Samples> {
    #[cfg(unix)]
    {
        fork::read(timeout, path, in_lbl, out_lbl, attrs, include_failed)
    }
    #[cfg(not(unix))]
    {
        let _ = timeout;
        super::h5::read_rollouts(path, in_lbl, out_lbl, attrs, include_failed)
    }
}

/// The child's answer for the reader's result: [`ROWS`] and the rows, or
/// [`REFUSED`] and the error's message.
#[cfg_attr(not(unix), allow(dead_code))]
fn answer(result: Result<Samples>) -> Vec<u8> {
    match result {
        Ok(s) => {
            let mut b = vec![ROWS];
            b.extend_from_slice(&encode(&s));
            b
        }
        Err(Error::Format { problem, .. }) => [&[REFUSED], problem.as_bytes()].concat(),
        Err(e) => [&[REFUSED], e.to_string().as_bytes()].concat(),
    }
}

/// The reader's result from the child's answer; an error says what is
/// wrong with the answer (for a message naming the file).
#[cfg_attr(not(unix), allow(dead_code))]
fn parse_answer(
    b: &[u8],
    in_lbl: &[String],
    out_lbl: &[String],
) -> std::result::Result<std::result::Result<Samples, String>, String> {
    match b.split_first() {
        Some((&ROWS, rows)) => decode(rows, in_lbl, out_lbl).map(Ok),
        Some((&REFUSED, msg)) => Ok(Err(String::from_utf8_lossy(msg).into_owned())),
        Some((&PANICKED, _)) => Err("is that the reader panicked".into()),
        Some(_) => Err("is not rows".into()),
        None => Err("is empty".into()),
    }
}

/// The rows' encoding: magic, rows and skipped rollouts (u64), then `x` and
/// `y` as little-endian f32.
#[cfg_attr(not(unix), allow(dead_code))]
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
#[cfg_attr(not(unix), allow(dead_code))]
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

#[cfg(unix)]
mod fork {
    use super::*;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::time::Instant;

    /// How much of the child's standard error the parent keeps.
    const STDERR_KEPT: usize = 4096;

    pub(super) fn read(
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
        let io_error = |source: io::Error| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        // A missing or unreadable file is the in-process reader's I/O error.
        let len = std::fs::metadata(path).map_err(io_error)?.len();
        let memory = virtual_size()
            .map(|v| {
                v.saturating_add(MEMORY_BASE)
                    .saturating_add(len.saturating_mul(MEMORY_PER_BYTE))
            })
            .unwrap_or(u64::MAX);
        // The longest answer of a sound child: a row per group, and a group
        // takes more than a byte of the file.
        let width = (in_lbl.len() + out_lbl.len()) as u64;
        let longest = len
            .saturating_add(1)
            .saturating_mul(width.saturating_mul(4))
            .saturating_add(64);
        let child = Child::start(memory, || {
            answer(super::super::h5::read_rollouts(
                path,
                in_lbl,
                out_lbl,
                attrs,
                include_failed,
            ))
        })
        .map_err(io_error)?;
        let end = child.finish(timeout, longest).map_err(io_error)?;
        let memory_note = if memory == u64::MAX {
            String::new()
        } else {
            format!(" of {} MB", memory >> 20)
        };
        let stderr = match end.stderr.trim() {
            "" => String::new(),
            e => format!(": {e}"),
        };
        match end.how {
            How::TimedOut => Err(bad(format!(
                "the HDF5 library did not finish reading this file in {} s (the reading \
                 child was stopped); it is corrupt, or too large for the time limit",
                timeout.as_secs_f64()
            ))),
            How::TooLong => Err(bad(format!(
                "the HDF5 reading child's answer is longer than the {longest} bytes rows of \
                 this file can take (the child was stopped)"
            ))),
            How::Signal(_) if end.stderr.contains("memory allocation of") => Err(bad(format!(
                "the HDF5 reader ran out of its memory limit{memory_note} reading this file \
                 ({}); it is corrupt, or too large for the limit",
                end.stderr.trim()
            ))),
            How::Signal(sig) => Err(bad(format!(
                "the HDF5 library crashed reading this file (signal {sig}{}{stderr}); it is \
                 corrupt or not HDF5",
                signal_name(sig).map_or(String::new(), |n| format!(", {n}"))
            ))),
            How::Exited(0) => match parse_answer(&end.data, in_lbl, out_lbl) {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(problem)) => Err(bad(problem)),
                Err(p) => Err(bad(format!("the HDF5 reading child's answer {p}{stderr}"))),
            },
            How::Exited(code) => Err(bad(format!(
                "the HDF5 reading child failed (exit code {code}){stderr}"
            ))),
        }
    }

    fn signal_name(sig: i32) -> Option<&'static str> {
        Some(match sig {
            libc::SIGILL => "SIGILL",
            libc::SIGABRT => "SIGABRT",
            libc::SIGBUS => "SIGBUS",
            libc::SIGFPE => "SIGFPE",
            libc::SIGKILL => "SIGKILL",
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGSYS => "SIGSYS",
            libc::SIGXCPU => "SIGXCPU",
            _ => return None,
        })
    }

    /// This process's virtual size in bytes (/proc/self/statm), or `None`
    /// where there is no /proc (then the child's memory is not limited).
    fn virtual_size() -> Option<u64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
        // SAFETY: sysconf reads a configuration value.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        pages.checked_mul(u64::try_from(page).ok().filter(|&p| p > 0)?)
    }

    /// How the child ended.
    enum How {
        Exited(i32),
        Signal(i32),
        TimedOut,
        TooLong,
    }

    /// The child's end, its answer and the start of its standard error.
    struct End {
        how: How,
        data: Vec<u8>,
        stderr: String,
    }

    /// A running reading child and the read ends of its two pipes.
    struct Child {
        pid: libc::pid_t,
        data: OwnedFd,
        stderr: OwnedFd,
        /// A descriptor that becomes readable when the child ends (Linux
        /// `pidfd_open`), so the parent wakes at once rather than polling
        /// in 1 ms sleeps; `None` where the kernel has no pidfd.
        ended: Option<OwnedFd>,
    }

    /// A pidfd of `pid` (Linux 5.3 and later), or `None`.
    #[cfg(target_os = "linux")]
    fn pidfd(pid: libc::pid_t) -> Option<OwnedFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new
        // descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: the descriptor was just opened and is owned here only.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }

    #[cfg(not(target_os = "linux"))]
    fn pidfd(_pid: libc::pid_t) -> Option<OwnedFd> {
        None
    }

    fn check(r: libc::c_int) -> io::Result<libc::c_int> {
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// A pipe (read end, write end), both close-on-exec (a program another
    /// thread starts does not hold the write end open).
    fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two descriptors into the array it is given.
        check(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
        // SAFETY: both descriptors were just opened and are owned here only.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&r, &w] {
            // SAFETY: fcntl on a descriptor owned here.
            check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        }
        Ok((r, w))
    }

    impl Child {
        /// Forks a child that runs `read` under an address-space limit of
        /// `memory` bytes and sends its answer through a pipe; it never
        /// returns into the caller's code.
        fn start(memory: u64, read: impl FnOnce() -> Vec<u8>) -> io::Result<Child> {
            let (data_r, data_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            // Under hdf5-metno's lock: no other thread is inside libhdf5 at
            // the fork, and the child, the forking thread's copy, owns the
            // reentrant lock, so the reader's own locking cannot wait for
            // a thread that does not exist in the child.
            let pid = hdf5::sync::sync(|| {
                // SAFETY: fork; the child runs `child` only, which never
                // returns (it ends with _exit).
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    child(data_w.as_raw_fd(), err_w.as_raw_fd(), memory, read);
                }
                pid
            });
            drop((data_w, err_w));
            check(pid)?;
            for fd in [&data_r, &err_r] {
                // SAFETY: fcntl on a descriptor owned here.
                unsafe {
                    let flags = check(libc::fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
                    check(libc::fcntl(
                        fd.as_raw_fd(),
                        libc::F_SETFL,
                        flags | libc::O_NONBLOCK,
                    ))?;
                }
            }
            Ok(Child {
                pid,
                data: data_r,
                stderr: err_r,
                ended: pidfd(pid),
            })
        }

        /// Reads the child's answer (at most `longest` bytes) until it ends
        /// or `timeout` passes, and reaps it (killed first if it is still
        /// running: after the timeout, or when its answer is too long).
        fn finish(self, timeout: Duration, longest: u64) -> io::Result<End> {
            let deadline = Instant::now() + timeout;
            let (mut data, mut stderr) = (Vec::new(), Vec::new());
            let (mut data_open, mut err_open) = (true, true);
            let how = loop {
                let exited = self.try_wait()?;
                // After the child's end, whatever it wrote is in the pipes.
                if data_open {
                    data_open = drain(self.data.as_raw_fd(), &mut data, usize::MAX)?;
                }
                if err_open {
                    err_open = drain(self.stderr.as_raw_fd(), &mut stderr, STDERR_KEPT)?;
                }
                if let Some(how) = exited {
                    break how;
                }
                if data.len() as u64 > longest {
                    self.kill()?;
                    break How::TooLong;
                }
                let now = Instant::now();
                if now >= deadline {
                    self.kill()?;
                    break How::TimedOut;
                }
                // Both pipes closed and no pidfd: the child is ending; poll
                // on nothing is a short sleep before the next look.
                let wait = (deadline - now).min(Duration::from_millis(100));
                let mut fds: Vec<libc::pollfd> =
                    [(data_open, &self.data), (err_open, &self.stderr)]
                        .into_iter()
                        .filter(|(open, _)| *open)
                        .map(|(_, fd)| fd)
                        .chain(self.ended.as_ref())
                        .map(|fd| libc::pollfd {
                            fd: fd.as_raw_fd(),
                            events: libc::POLLIN,
                            revents: 0,
                        })
                        .collect();
                let ms = if fds.is_empty() {
                    1
                } else {
                    wait.as_millis().clamp(1, 100) as libc::c_int
                };
                // SAFETY: poll reads and writes the array it is given.
                let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
                if r == -1 {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        self.kill()?;
                        return Err(e);
                    }
                }
            };
            Ok(End {
                how,
                data,
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            })
        }

        /// The child's end if it has ended (reaped), else `None`.
        fn try_wait(&self) -> io::Result<Option<How>> {
            let mut status = 0;
            loop {
                // SAFETY: waitpid on our own child, writing its status here.
                let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
                match r {
                    0 => return Ok(None),
                    -1 => {
                        let e = io::Error::last_os_error();
                        if e.kind() != io::ErrorKind::Interrupted {
                            return Err(e);
                        }
                    }
                    _ => break,
                }
            }
            Ok(Some(if libc::WIFSIGNALED(status) {
                How::Signal(libc::WTERMSIG(status))
            } else {
                How::Exited(libc::WEXITSTATUS(status))
            }))
        }

        /// Kills the child and reaps it.
        fn kill(&self) -> io::Result<()> {
            // SAFETY: signals and reaps our own, not yet reaped, child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                let mut status = 0;
                while libc::waitpid(self.pid, &mut status, 0) == -1 {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
            Ok(())
        }
    }

    /// Reads what `fd` (non-blocking) holds into `buf`, keeping at most
    /// `keep` bytes; whether the pipe is still open.
    fn drain(fd: RawFd, buf: &mut Vec<u8>, keep: usize) -> io::Result<bool> {
        let mut chunk = [0u8; 65536];
        loop {
            // SAFETY: read into a buffer of the length given.
            let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
            match n {
                0 => return Ok(false),
                n if n > 0 => {
                    let n = n as usize;
                    let room = keep.saturating_sub(buf.len()).min(n);
                    buf.extend_from_slice(&chunk[..room]);
                }
                _ => {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return Ok(true),
                        io::ErrorKind::Interrupted => {}
                        _ => return Err(e),
                    }
                }
            }
        }
    }

    /// Writes all of `b` to `fd`; whether it all went.
    fn write_all(fd: RawFd, mut b: &[u8]) -> bool {
        while !b.is_empty() {
            // SAFETY: write from a buffer of the length given.
            let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
            if n > 0 {
                b = &b[n as usize..];
            } else if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return false;
            }
        }
        true
    }

    /// The forked child: default signal handlers, no core file, the memory
    /// limit, standard error into `err`, then `read`'s answer into `data`,
    /// and `_exit`.
    fn child(data: RawFd, err: RawFd, memory: u64, read: impl FnOnce() -> Vec<u8>) -> ! {
        // SAFETY: these calls change this child process only (its signal
        // dispositions, limits and descriptors); `_exit` ends it without
        // running the parent's atexit handlers or destructors.
        unsafe {
            for sig in [
                libc::SIGSEGV,
                libc::SIGBUS,
                libc::SIGILL,
                libc::SIGFPE,
                libc::SIGABRT,
                libc::SIGTRAP,
                libc::SIGSYS,
                libc::SIGALRM,
                libc::SIGINT,
                libc::SIGTERM,
                libc::SIGXCPU,
                libc::SIGUSR1,
                libc::SIGUSR2,
            ] {
                libc::signal(sig, libc::SIG_DFL);
            }
            let zero = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
            if memory != u64::MAX {
                let lim = libc::rlimit {
                    rlim_cur: memory as libc::rlim_t,
                    rlim_max: memory as libc::rlim_t,
                };
                // A failure (a lower hard limit already set) keeps that one.
                libc::setrlimit(libc::RLIMIT_AS, &lim);
            }
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null >= 0 {
                libc::dup2(null, 0);
                libc::dup2(null, 1);
            }
            libc::dup2(err, 2);
        }
        // A panic's message goes to the stderr pipe without std's stderr
        // lock, which another thread may have held at the fork.
        std::panic::set_hook(Box::new(|info| {
            let msg = format!("the HDF5 reader panicked: {info}");
            write_all(2, msg.as_bytes());
        }));
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
            .unwrap_or_else(|_| vec![PANICKED]);
        let code = if write_all(data, &answer) { 0 } else { 2 };
        // SAFETY: ends this child at once, as fork's children must.
        unsafe { libc::_exit(code) }
    }
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
        let a = answer(Ok(s));
        assert!(matches!(parse_answer(&a, &i, &o), Ok(Ok(_))));
        let refused = answer(Err(Error::Format {
            path: "f.h5".into(),
            problem: "no rows".into(),
        }));
        assert_eq!(
            parse_answer(&refused, &i, &o).unwrap().unwrap_err(),
            "no rows"
        );
        assert!(parse_answer(&[PANICKED], &i, &o).is_err());
        assert!(parse_answer(b"", &i, &o).is_err());
        assert!(parse_answer(b"x", &i, &o).is_err());
    }
}
