//! The library (`data::load`, `h5_child::read_rollouts_isolated`) and so
//! `ferrograd regress train` read HDF5 files in a forked child process: the
//! inputs of `fuzz/open-crashers/`, which crash, hang or exhaust the memory
//! of libhdf5 itself, end in a clear error naming the file, never in the
//! death of the caller (this test binary, `ferrograd`); a valid file reads
//! the same rows as in-process. Needs the `hdf5` feature.
#![cfg(all(feature = "hdf5", unix))]

use ferrograd_models::regress::config::AttrMap;
use ferrograd_models::regress::data::{self, Hdf5Reading};
use ferrograd_models::regress::h5::read_rollouts;
use ferrograd_models::regress::h5_child::read_rollouts_isolated;
use ferrograd_models::regress::RegressConfig;
use ferrograd_models::run::config::List;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How long the hanging input is read before its child is stopped.
const TIMEOUT: Duration = Duration::from_secs(3);

mod common;

/// The inputs and output the hdf5 fuzz target reads
/// (`fuzz/fuzz_targets/hdf5.rs`).
const IN_LBL: &str = "gait_stride,gait_cadence";
const OUT_LBL: &str = "cot_ma15";

/// The HDF5 file of a fuzz input, as the fuzz target builds it
/// (`ferrograd_fuzz::input`): an odd first byte picks a seed with the
/// second and mutates it with the rest; an even one gives the rest as it
/// is. The target reads unsuccessful rollouts too when the input's length
/// is even.
fn fuzz_file(data: &[u8], seeds: &[Vec<u8>]) -> (Vec<u8>, bool) {
    let bytes = match data {
        [mode, pick, rest @ ..] if mode % 2 == 1 => {
            ferrograd_nn::mutate::from_fuzz_bytes(&seeds[usize::from(*pick) % seeds.len()], rest)
        }
        [_, rest @ ..] => rest.to_vec(),
        [] => Vec::new(),
    };
    (bytes, data.len().is_multiple_of(2))
}

fn crashers() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/open-crashers");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn names(s: &str) -> Vec<String> {
    s.split(',').map(str::to_string).collect()
}

/// The crashers through the library: `read_rollouts_isolated` and
/// `data::load_with` (what `data::load` does, with a short timeout), in
/// this multi-threaded test process.
#[test]
fn files_that_crash_libhdf5_are_an_error_of_the_library_not_a_crash() {
    let dir = common::tmp("hdf5", "crashers-lib");
    let seeds = ferrograd_models::seeds::hdf5_seeds();
    let (i, y) = (names(IN_LBL), names(OUT_LBL));
    let mut crashed = 0;
    for (name, data) in &crashers() {
        let (bytes, include_failed) = fuzz_file(data, &seeds);
        let path = dir.join(format!("{name}.h5"));
        std::fs::write(&path, &bytes).unwrap();
        let direct =
            read_rollouts_isolated(TIMEOUT, &path, &i, &y, &AttrMap::default(), include_failed);
        let cfg = RegressConfig {
            data_path: vec![path.clone()],
            in_lbl: List(i.clone()),
            out_lbl: List(y.clone()),
            include_failed,
            ..RegressConfig::default()
        };
        let loaded = data::load_with(&cfg, &Hdf5Reading::Isolated { timeout: TIMEOUT });
        for got in [direct.map(|_| ()), loaded.map(|_| ())] {
            match got {
                Err(ferrograd_nn::Error::Format { path: p, problem }) => {
                    println!("{name}: {problem}");
                    assert_eq!(p, path, "{name}");
                    assert!(
                        !problem.is_empty() && !problem.contains("panicked"),
                        "{name}"
                    );
                    crashed += usize::from(problem.contains("crashed reading this file"));
                }
                other => panic!("{name}: not a format error: {other:?}"),
            }
        }
    }
    assert!(crashed >= 2, "no input crashed the reading child");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The crashers through `ferrograd regress train`: exit code 1 and a
/// message naming the file.
#[test]
fn files_that_crash_libhdf5_are_an_error_not_a_crash() {
    let dir = common::tmp("hdf5", "crashers");
    let seeds = ferrograd_models::seeds::hdf5_seeds();
    let crashers = crashers();
    assert_eq!(crashers.len(), 8, "fuzz/open-crashers/ holds 8 inputs");
    let mut crashed = 0;
    for (name, data) in &crashers {
        let (bytes, include_failed) = fuzz_file(data, &seeds);
        let file = format!("{name}.h5");
        std::fs::write(dir.join(&file), &bytes).unwrap();
        let mut args = vec![
            "regress",
            "train",
            "--test",
            "--quiet",
            "--no-plot",
            "--data",
            &file,
            "--in-lbl",
            IN_LBL,
            "--out-lbl",
            OUT_LBL,
            "--out",
            name,
        ];
        if include_failed {
            args.push("--include-failed");
        }
        let o = Command::new(env!("CARGO_BIN_EXE_ferrograd"))
            .args(&args)
            .current_dir(&dir)
            // The hanging input is stopped after this long.
            .env("FERROGRAD_HDF5_TIMEOUT", TIMEOUT.as_secs().to_string())
            .output()
            .unwrap();
        let e = common::text(&o.stderr);
        println!("{name}: {e}");
        assert_eq!(o.status.signal(), None, "{name}: ferrograd died: {e}");
        assert_eq!(o.status.code(), Some(1), "{name}: {e}");
        assert!(
            e.starts_with(&format!("ferrograd: {file}: ")) && !e.contains("panicked"),
            "{name}: {e}"
        );
        if e.contains("the HDF5 library crashed reading this file (signal ") {
            assert!(e.contains("it is corrupt or not HDF5"), "{name}: {e}");
            crashed += 1;
        }
        // A failed run leaves no run folder behind.
        assert!(!dir.join(name).exists(), "{name}: run folder left");
    }
    // Most of them crash the reading child (the others are refused or
    // stopped: which ones depends on the heap and the libhdf5 build).
    assert!(crashed >= 1, "no input crashed the reading child");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_valid_file_reads_the_same_rows_in_the_child_and_trains() {
    let dir = common::tmp("hdf5", "valid");
    let o = common::run(
        &["regress", "make-data", "--out", "d.h5", "--rows", "200"],
        &dir,
    );
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    let path = dir.join("d.h5");
    let (i, y, attrs) = (names(IN_LBL), names(OUT_LBL), AttrMap::default());
    for include_failed in [false, true] {
        let here = read_rollouts(&path, &i, &y, &attrs, include_failed).unwrap();
        let child = read_rollouts_isolated(TIMEOUT, &path, &i, &y, &attrs, include_failed).unwrap();
        let cfg = RegressConfig {
            data_path: vec![path.clone()],
            in_lbl: List(i.clone()),
            out_lbl: List(y.clone()),
            include_failed,
            ..RegressConfig::default()
        };
        // The library's default: isolated.
        let loaded = data::load(&cfg).unwrap();
        for got in [&child, &loaded] {
            assert_eq!(got.x.dims(), here.x.dims());
            assert_eq!(got.x.data(), here.x.data());
            assert_eq!(got.y.data(), here.y.data());
            assert_eq!(got.skipped_failed, here.skipped_failed);
            assert_eq!(got.in_names, here.in_names);
        }
    }
    // The reader's own errors come back as they are, naming the file.
    let bad = read_rollouts_isolated(TIMEOUT, &path, &names("speed"), &y, &attrs, false)
        .err()
        .unwrap()
        .to_string();
    let here = read_rollouts(&path, &names("speed"), &y, &attrs, false)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(bad, here);
    // A missing file is the same I/O error.
    let missing = dir.join("missing.h5");
    let e = read_rollouts_isolated(TIMEOUT, &missing, &i, &y, &attrs, false).unwrap_err();
    assert!(
        matches!(&e, ferrograd_nn::Error::Io { path, .. } if *path == missing),
        "{e}"
    );
    // Many threads forking readers at once (a rayon pool, a test harness):
    // every one gets the rows.
    let want = read_rollouts(&path, &i, &y, &attrs, false).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    let got =
                        read_rollouts_isolated(TIMEOUT, &path, &i, &y, &attrs, false).unwrap();
                    assert_eq!(got.x.data(), want.x.data());
                }
            });
        }
    });
    // And the CLI trains on it through the child.
    let o = common::run(
        &[
            "regress",
            "train",
            "--test",
            "--quiet",
            "--no-plot",
            "--data",
            "d.h5",
            "--out",
            "r",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r/eval.json")).unwrap()).unwrap();
    let (train, valid) = (
        eval["train_rows"].as_u64().unwrap(),
        eval["valid_rows"].as_u64().unwrap(),
    );
    let rows = match eval["valid_is_train"].as_bool().unwrap() {
        true => train,
        false => train + valid,
    };
    let skipped = eval["skipped_failed"].as_u64().unwrap();
    assert_eq!(rows + skipped, 200);
    assert!(eval["valid_rmse"].as_f64().unwrap().is_finite());
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Mutated valid rollout files (the mutations of the hdf5 fuzz target)
    /// read through the child: rows of the asked widths, or an error naming
    /// the file, whatever libhdf5 does with them. (The in-process version,
    /// `mutated_tests::hdf5_rollouts`, is ignored: one crash of libhdf5
    /// kills the test binary.)
    #[test]
    fn mutated_files_read_in_the_child_give_rows_or_an_error(
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 2..62),
    ) {
        thread_local! {
            static SEEDS: Vec<Vec<u8>> = ferrograd_models::seeds::hdf5_seeds();
        }
        // Odd first byte: a mutated seed, as the fuzz target reads it.
        let mut data = data;
        data[0] |= 1;
        let (bytes, include_failed) = SEEDS.with(|s| fuzz_file(&data, s));
        let path = std::env::temp_dir().join(format!("ferrograd-h5-mut-{}.h5", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let (i, y) = (names(IN_LBL), names(OUT_LBL));
        let got = read_rollouts_isolated(
            TIMEOUT,
            &path,
            &i,
            &y,
            &AttrMap::default(),
            include_failed,
        );
        let _ = std::fs::remove_file(&path);
        match got {
            Ok(s) => {
                proptest::prop_assert_eq!(s.x.dims()[1], 2);
                proptest::prop_assert_eq!(s.y.dims()[1], 1);
                proptest::prop_assert_eq!(s.x.dims()[0], s.y.dims()[0]);
                proptest::prop_assert!(s.x.data().iter().chain(s.y.data()).all(|v| v.is_finite()));
            }
            Err(ferrograd_nn::Error::Format { path: p, .. }) => proptest::prop_assert_eq!(p, path),
            Err(e) => proptest::prop_assert!(false, "untyped error {}", e),
        }
    }
}
