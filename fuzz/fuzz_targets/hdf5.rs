//! HDF5 rollout files (`ferrograd regress`) through the path users call:
//! `h5_child::read_rollouts_isolated`, which reads each file in a forked
//! child process (libhdf5 itself crashes, hangs or allocates gigabytes on
//! some corrupt files: `fuzz/open-crashers/`). The target (the parent)
//! must never crash, hang or over-allocate; a crash of the child is an
//! `Err` naming the file. libhdf5 reads files, so each input is written to
//! a scratch file in /dev/shm first.
//!
//! The coverage of the child is invisible to libFuzzer (its counters are
//! the child's copy-on-write pages): this target is guided by the parent's
//! code only, so it is close to a random mutation run over the seeds. The
//! reader's own checks are fuzzed with coverage, in-process, by
//! `hdf5_structure`.
#![no_main]
use ferrograd_models::regress::config::AttrMap;
use ferrograd_models::regress::h5_child::read_rollouts_isolated;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;

static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let bytes = ferrograd_fuzz::input(data, SEEDS.get_or_init(ferrograd_fuzz::hdf5_seeds));
    let path = ferrograd_fuzz::scratch_file("rollouts.h5");
    std::fs::write(&path, &bytes).expect("scratch file");
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let inputs = names(&ferrograd_models::regress::data::SYNTHETIC_PARAMS[..2]);
    let outputs = names(&["cot_ma15"]);
    // Under libFuzzer's -timeout=10: a hanging child is stopped first.
    // Reading a file of at most 64 KiB takes milliseconds; some corrupt
    // global heaps keep libhdf5 looping until the timeout, so a short one
    // keeps the executions per second up.
    match read_rollouts_isolated(
        Duration::from_millis(500),
        &path,
        &inputs,
        &outputs,
        &AttrMap::default(),
        data.len() % 2 == 0,
    ) {
        Ok(s) => {
            assert_eq!(s.x.dims()[1], 2);
            assert_eq!(s.y.dims()[1], 1);
            assert_eq!(s.x.dims()[0], s.y.dims()[0]);
            assert!(s.x.data().iter().chain(s.y.data()).all(|v| v.is_finite()));
        }
        Err(ferrograd_nn::Error::Format { path: p, .. }) => assert_eq!(p, path),
        Err(e) => panic!("not a format error: {e}"),
    }
});
