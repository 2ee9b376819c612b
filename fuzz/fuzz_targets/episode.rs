//! Episode files of the world model (safetensors with four tensors).
#![no_main]
use ferrograd_models::world::episodes::Episode;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let bytes = ferrograd_fuzz::input(data, SEEDS.get_or_init(ferrograd_fuzz::episode_seeds));
    let Ok(ep) = Episode::from_bytes(&bytes, Path::new("fuzz.safetensors")) else {
        return;
    };
    let t = ep.len();
    assert!(t >= 1);
    assert_eq!(ep.rewards.len(), t);
    assert_eq!(ep.dones.len(), t);
    assert!(ep.total_reward().is_finite() || ep.rewards.iter().any(|r| r.abs() > 1e30));
    let _ = ep.frame(t);
});
