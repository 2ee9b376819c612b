//! `ferrograd regress train` reads HDF5 files in a child process: the
//! inputs of `fuzz/open-crashers/`, which crash, hang or exhaust the memory
//! of libhdf5 itself, end in a clear error naming the file, never in the
//! death of `ferrograd`; a valid file reads the same rows as in-process.
//! Needs the `hdf5` feature.
#![cfg(all(feature = "hdf5", unix))]

use ferrograd_models::regress::config::AttrMap;
use ferrograd_models::regress::h5::read_rollouts;
use ferrograd_models::regress::h5_child::read_rollouts_isolated;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

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
            .env("FERROGRAD_HDF5_TIMEOUT", "10")
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
        let child = read_rollouts_isolated(
            Path::new(env!("CARGO_BIN_EXE_ferrograd")),
            Duration::from_secs(60),
            &path,
            &i,
            &y,
            &attrs,
            include_failed,
        )
        .unwrap();
        assert_eq!(child.x.dims(), here.x.dims());
        assert_eq!(child.x.data(), here.x.data());
        assert_eq!(child.y.data(), here.y.data());
        assert_eq!(child.skipped_failed, here.skipped_failed);
        assert_eq!(child.in_names, here.in_names);
    }
    // The reader's own errors come back as they are, naming the file.
    let bad = read_rollouts_isolated(
        Path::new(env!("CARGO_BIN_EXE_ferrograd")),
        Duration::from_secs(60),
        &path,
        &names("speed"),
        &y,
        &attrs,
        false,
    )
    .err()
    .unwrap()
    .to_string();
    let here = read_rollouts(&path, &names("speed"), &y, &attrs, false)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(bad, here);
    // A checker that is not ferrograd: an error, not a hang or a crash.
    let not_ferrograd = read_rollouts_isolated(
        Path::new("/bin/false"),
        Duration::from_secs(60),
        &path,
        &i,
        &y,
        &attrs,
        false,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        not_ferrograd.contains("d.h5") && not_ferrograd.contains("exit code 1"),
        "{not_ferrograd}"
    );
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
            Path::new(env!("CARGO_BIN_EXE_ferrograd")),
            Duration::from_secs(10),
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
