//! HDF5 rollout files (`ferrograd regress`): wrong types, missing groups,
//! huge dimensions. libhdf5 reads files, so each input is written to a
//! scratch file in /dev/shm first.
#![no_main]
use ferrograd_models::regress::config::AttrMap;
use ferrograd_models::regress::h5::read_rollouts;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let bytes = ferrograd_fuzz::input(data, SEEDS.get_or_init(ferrograd_fuzz::hdf5_seeds));
    let path = ferrograd_fuzz::scratch_file("rollouts.h5");
    std::fs::write(&path, &bytes).expect("scratch file");
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let inputs = names(&ferrograd_models::regress::data::SYNTHETIC_PARAMS[..2]);
    let outputs = names(&["cot_ma15"]);
    if let Ok(s) = read_rollouts(
        &path,
        &inputs,
        &outputs,
        &AttrMap::default(),
        data.len() % 2 == 0,
    ) {
        assert_eq!(s.x.dims()[1], 2);
        assert_eq!(s.y.dims()[1], 1);
        assert_eq!(s.x.dims()[0], s.y.dims()[0]);
        assert!(s.x.data().iter().chain(s.y.data()).all(|v| v.is_finite()));
    }
});
