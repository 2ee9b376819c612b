//! Crash-safe training: a real training run of every model family, killed
//! with SIGKILL at seeded random moments (some timed, some the instant a
//! checkpoint's temporary file appears, so the kill lands inside the
//! write), then continued with `--resume`. After every kill the run folder
//! must hold only loadable checkpoints and a metrics log of valid JSON
//! lines; a torn last line (as a full disk or a power loss leaves) is
//! injected before some resumes and must be cut; and the finished run
//! must end with the same weights, optimizer state and metrics (wall times
//! aside) as an uninterrupted run with the same seed, bit for bit, at one
//! thread.

#![cfg(unix)]

mod common;

use ferrograd_nn::checkpoint::Checkpoint;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One family's run: the flags of a fresh run (without `--out`), the flags
/// a resume needs besides `--resume DIR`, and the kills it must survive.
struct Family {
    name: &'static str,
    train: Vec<String>,
    resume: Vec<String>,
    kills: usize,
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// A family whose resume takes only `--resume DIR --quiet --no-plot`.
fn family(name: &'static str, train: &[&str], kills: usize) -> Family {
    let resume_at = train
        .iter()
        .position(|a| a.starts_with("--"))
        .unwrap_or(train.len());
    let mut resume = strings(&train[..resume_at]);
    resume.extend(strings(&["--quiet", "--no-plot"]));
    Family {
        name,
        train: strings(train),
        resume,
        kills,
    }
}

/// What a family's kills did.
#[derive(Default, Debug)]
struct Tally {
    kills: usize,
    in_checkpoint_write: usize,
    torn_lines_cut: usize,
    resumes: usize,
    restarts: usize,
}

fn spawn(args: &[String], dir: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ferrograd"))
        .args(args)
        .current_dir(dir)
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::from(File::create(log).unwrap()))
        .spawn()
        .unwrap()
}

/// The temporary file of process `pid` in `dir`, if one is there.
fn temp_of(dir: &Path, pid: u32) -> Option<PathBuf> {
    let tag = format!(".{pid}.");
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        (name.starts_with('.') && name.contains(&tag) && name.contains(".tmp")).then(|| e.path())
    })
}

/// Any temporary file of the atomic writers in `dir`.
fn any_temp(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.') && n.contains(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

/// How a kill is timed.
enum KillAt {
    /// Never (a run to the end).
    Never,
    /// This long after the start.
    Delay(Duration),
    /// This long after the last checkpoint is first there (or rewritten,
    /// when resuming), so the kill falls between checkpoints.
    AfterCheckpoint(Duration),
    /// The moment the `n`-th checkpoint temporary file seen appears
    /// (1-based), so the kill falls inside that write.
    CheckpointWrite(usize),
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Runs `args` and kills it as `at` says; `Some(true)` if killed inside a
/// checkpoint write, `Some(false)` if killed elsewhere, `None` if the run
/// finished first (it must have succeeded).
fn run_and_kill(args: &[String], dir: &Path, run: &Path, at: &KillAt) -> Option<bool> {
    let log = dir.join("stderr.txt");
    let last = run.join("checkpoints/last.safetensors");
    let last_before = modified(&last);
    let mut child = spawn(args, dir, &log);
    let pid = child.id();
    let ckpt = run.join("checkpoints");
    let start = Instant::now();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut checkpointed: Option<Instant> = None;
    let fire = loop {
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        let now = Instant::now();
        match at {
            KillAt::Never => {}
            KillAt::Delay(d) if now - start >= *d => break true,
            KillAt::Delay(_) => {}
            KillAt::AfterCheckpoint(d) => match checkpointed {
                Some(t) if now - t >= *d => break true,
                Some(_) => {}
                None => {
                    let m = modified(&last);
                    if m.is_some() && m != last_before {
                        checkpointed = Some(now);
                    }
                }
            },
            KillAt::CheckpointWrite(n) => {
                if let Some(t) = temp_of(&ckpt, pid) {
                    if !seen.contains(&t) {
                        seen.push(t);
                    }
                    if seen.len() >= *n {
                        break true;
                    }
                }
            }
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{args:?} hangs");
        std::thread::sleep(Duration::from_micros(match at {
            KillAt::CheckpointWrite(_) => 20,
            _ => 300,
        }));
    };
    if fire {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    if status.signal() == Some(9) {
        return Some(temp_of(&ckpt, pid).is_some());
    }
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{args:?} failed: {err}");
    None
}

/// The run folder holds only checkpoints that load and a metrics log whose
/// complete lines are JSON objects with rising steps; returns whether its
/// last line is torn (no newline).
fn check_folder(run: &Path) -> bool {
    if let Ok(entries) = std::fs::read_dir(run.join("checkpoints")) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "safetensors") {
                let c = Checkpoint::load(&p).unwrap_or_else(|e| panic!("corrupt checkpoint: {e}"));
                assert!(
                    c.metadata.contains_key("run_state"),
                    "{}: no run state",
                    p.display()
                );
            }
        }
    }
    let Ok(text) = std::fs::read_to_string(run.join("metrics.jsonl")) else {
        return false;
    };
    let mut last_step = 0;
    let mut parts: Vec<&str> = text.split('\n').collect();
    let tail = parts.pop().unwrap_or("");
    for line in parts {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("metrics line {line:?} is not JSON: {e}"));
        let step = v["step"].as_u64().expect("a step");
        assert!(step > last_step, "metrics steps do not rise: {text}");
        last_step = step;
    }
    !tail.is_empty()
}

/// The checkpoint's tensors as bits, by name, with their shapes.
fn tensor_bits(path: &Path) -> Vec<(String, String, Vec<u32>)> {
    let c = Checkpoint::load(path).unwrap();
    c.tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                format!("{:?}", t.shape()),
                t.data().iter().map(|v| v.to_bits()).collect(),
            )
        })
        .collect()
}

/// The metrics log without its wall times.
fn metrics_without_time(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("wall_time");
            v
        })
        .collect()
}

/// The finished crashed run equals the reference bit for bit.
fn same_as_reference(f: &Family, crashed: &Path, reference: &Path) {
    for name in ["last.safetensors", "best.safetensors"] {
        let (a, b) = (
            reference.join("checkpoints").join(name),
            crashed.join("checkpoints").join(name),
        );
        assert_eq!(a.exists(), b.exists(), "{}: {name}", f.name);
        if a.exists() {
            let (ta, tb) = (tensor_bits(&a), tensor_bits(&b));
            assert_eq!(ta.len(), tb.len(), "{}: {name}", f.name);
            for (x, y) in ta.iter().zip(&tb) {
                assert!(
                    x == y,
                    "{}: {name}: tensor {} differs after the kills",
                    f.name,
                    x.0
                );
            }
        }
    }
    assert_eq!(
        metrics_without_time(reference),
        metrics_without_time(crashed),
        "{}: metrics",
        f.name
    );
    for d in [crashed.to_path_buf(), crashed.join("checkpoints")] {
        let left = any_temp(&d);
        assert!(
            left.is_empty(),
            "{}: temporary files left: {left:?}",
            f.name
        );
    }
}

/// Trains `f` uninterrupted into `ref-NAME`, then into `NAME` with
/// `f.kills` kills and resumes, and compares.
fn survive(f: &Family, dir: &Path, rng: &mut StdRng) -> Tally {
    let reference = format!("ref-{}", f.name);
    let args = |out: &str, extra: &[&str]| {
        let mut a = f.train.clone();
        a.extend(strings(&["--out", out]));
        a.extend(strings(extra));
        a
    };
    let start = Instant::now();
    assert_eq!(
        run_and_kill(
            &args(&reference, &[]),
            dir,
            &dir.join(&reference),
            &KillAt::Never
        ),
        None
    );
    let full = start.elapsed();
    let run = dir.join(f.name);
    let mut tally = Tally::default();
    let mut next = args(f.name, &[]);
    loop {
        // Past its kills, a family is killed again (at most 10 more
        // times or restarts) until one kill has landed inside a write.
        let extra = tally.kills.saturating_sub(f.kills) + tally.restarts;
        let want_write = tally.in_checkpoint_write == 0 && extra < 10;
        let at = if tally.kills >= f.kills && want_write {
            // Until one kill has landed inside a checkpoint write (the
            // temporary file was still there after the kill).
            KillAt::CheckpointWrite(1)
        } else if tally.kills >= f.kills {
            KillAt::Never
        } else if tally.resumes == 0 {
            // First a kill just after the first checkpoint, so the run is
            // resumed from the middle at least once.
            KillAt::AfterCheckpoint(Duration::ZERO)
        } else {
            match rng.random_range(0..3) {
                0 => KillAt::CheckpointWrite(rng.random_range(1..=3)),
                1 => KillAt::AfterCheckpoint(full.mul_f64(rng.random_range(0.0..0.3))),
                _ => KillAt::Delay(full.mul_f64(rng.random_range(0.05..0.9))),
            }
        };
        let killed = run_and_kill(&next, dir, &run, &at);
        let torn = check_folder(&run);
        match killed {
            Some(in_write) => {
                tally.kills += 1;
                tally.in_checkpoint_write += in_write as usize;
            }
            None => {
                assert!(!torn, "{}: a finished run left a torn metrics line", f.name);
                same_as_reference(f, &run, &dir.join(&reference));
                if tally.kills >= f.kills && !want_write {
                    return tally;
                }
                // Finished before its kills: train it again from scratch.
                tally.restarts += 1;
                assert!(tally.restarts < 30, "{}: the kills keep missing", f.name);
                next = args(f.name, &["--overwrite"]);
                continue;
            }
        }
        if run.join("checkpoints/last.safetensors").is_file() {
            if !torn && rng.random_bool(0.5) && run.join("metrics.jsonl").is_file() {
                // As a kill inside a line's write would leave it.
                use std::io::Write;
                let mut m = std::fs::OpenOptions::new()
                    .append(true)
                    .open(run.join("metrics.jsonl"))
                    .unwrap();
                m.write_all(b"{\"step\":99999,\"wall_ti").unwrap();
                tally.torn_lines_cut += 1;
            }
            tally.resumes += 1;
            next = f.resume.clone();
            next.extend(strings(&["--resume", f.name]));
        } else {
            // Killed before its first checkpoint: nothing to resume.
            next = args(f.name, &["--overwrite"]);
        }
    }
}

fn setup(dir: &Path, args: &[&str]) {
    let o = common::run(args, dir);
    assert!(o.status.success(), "{}", common::text(&o.stderr));
}

#[test]
fn small_families_survive_kills_and_resume_bit_for_bit() {
    let dir = common::tmp("crash", "small");
    setup(
        &dir,
        &["regress", "make-data", "--out", "d.csv", "--rows", "400"],
    );
    let q = ["--test", "--quiet", "--no-plot"];
    let with = |cmd: &[&'static str]| -> Vec<&'static str> { [cmd, &q[..]].concat() };
    let families = [
        family("cde", &with(&["cde", "train"]), 3),
        family("maml", &with(&["maml", "sinusoid", "train"]), 3),
        family("flow", &with(&["flow", "train"]), 3),
        family(
            "regress",
            &[&with(&["regress", "train"])[..], &["--data", "d.csv"]].concat(),
            3,
        ),
        family("policy", &with(&["decision", "policy", "train"]), 3),
    ];
    survive_all_in(&dir, &families, 18);
}

#[test]
fn transformers_survive_kills_and_resume_bit_for_bit() {
    let dir = common::tmp("crash", "transformers");
    let q = ["--test", "--quiet", "--no-plot"];
    let families = [
        family(
            "intent",
            &[&["decision", "intent", "train"][..], &q[..]].concat(),
            3,
        ),
        family(
            "clip",
            &[&["decision", "clip", "train"][..], &q[..]].concat(),
            3,
        ),
    ];
    survive_all_in(&dir, &families, 1818);
}

#[test]
fn world_models_survive_kills_and_resume_bit_for_bit() {
    let dir = common::tmp("crash", "world");
    setup(
        &dir,
        &["world", "collect", "--episodes", "2", "--out", "eps"],
    );
    let vae = family(
        "vae",
        &[
            "world",
            "train-vae",
            "--test",
            "--quiet",
            "--no-plot",
            "--episodes-dir",
            "eps",
            "--vae-frames",
            "8",
            "--vae-batch",
            "4",
            "--vae-epochs",
            "3",
        ],
        3,
    );
    let rnn_flags = ["--vae", "ref-vae/checkpoints/best.safetensors"];
    let mut rnn = family(
        "rnn",
        &[
            &[
                "world",
                "train-rnn",
                "--test",
                "--quiet",
                "--no-plot",
                "--episodes-dir",
                "eps",
                "--rnn-epochs",
                "3",
                "--rnn-batch",
                "8",
            ][..],
            &rnn_flags[..],
        ]
        .concat(),
        3,
    );
    rnn.resume.extend(strings(&rnn_flags));
    survive_all_in(&dir, &[vae, rnn], 181818);
}

fn survive_all_in(dir: &Path, families: &[Family], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut total = Tally::default();
    for f in families {
        let t = survive(f, dir, &mut rng);
        eprintln!(
            "crash {}: {} kills survived ({} inside a checkpoint write), {} resumes, \
             {} torn metrics lines cut, {} restarts",
            f.name, t.kills, t.in_checkpoint_write, t.resumes, t.torn_lines_cut, t.restarts
        );
        assert!(t.kills >= f.kills);
        assert!(
            t.in_checkpoint_write >= 1,
            "{}: no kill landed inside a checkpoint write in {} tries",
            f.name,
            t.kills
        );
        assert!(
            t.resumes >= 1,
            "{}: no kill left a checkpoint to resume",
            f.name
        );
        total.kills += t.kills;
        total.in_checkpoint_write += t.in_checkpoint_write;
        total.resumes += t.resumes;
    }
    eprintln!(
        "crash, in all: {} kills survived ({} inside a checkpoint write), {} resumes",
        total.kills, total.in_checkpoint_write, total.resumes
    );
    std::fs::remove_dir_all(dir).unwrap();
}
