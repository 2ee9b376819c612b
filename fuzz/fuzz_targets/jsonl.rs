//! JSON lines of user data (`ferrograd decision intent` commands).
#![no_main]
use ferrograd_models::decision::intent::jsonl;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let bytes = ferrograd_fuzz::input(data, SEEDS.get_or_init(ferrograd_fuzz::jsonl_seeds));
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return;
    };
    if let Ok(examples) = jsonl::parse(text) {
        assert!(examples.len() <= text.lines().count());
    }
});
