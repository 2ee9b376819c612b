//! Safetensors checkpoints: the nn reader (names, shapes, dtypes, metadata
//! JSON) and the `cde` loader behind it (model description, MADE masks,
//! normalisation buffers).
#![no_main]
use ferrograd_nn::checkpoint::Checkpoint;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let bytes = ferrograd_fuzz::input(data, SEEDS.get_or_init(ferrograd_fuzz::checkpoint_seeds));
    let path = Path::new("fuzz.safetensors");
    let Ok(ckpt) = Checkpoint::from_bytes(&bytes, path) else {
        return;
    };
    let mut values = 0;
    for t in ckpt.tensors.values() {
        assert_eq!(t.numel(), t.dims().iter().product::<usize>());
        values += t.numel();
    }
    assert!(values * 4 <= bytes.len(), "more values than bytes");
    let _ = ckpt.training_state();
    if let Ok(loaded) = ferrograd_models::cde::model::from_checkpoint(ckpt, path) {
        let d = loaded.model.density_inner().dim();
        assert!(d >= 1 && d * 4 <= bytes.len());
    }
});
