//! YAML configuration files (`--config FILE`), resolved into a family's
//! configuration (`cde`, with sections as the `regress` family has them).
#![no_main]
use clap::{Args, Command};
use ferrograd_models::cde::CdeConfig;
use ferrograd_models::run::config::{parse_yaml, resolve};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let bytes = ferrograd_fuzz::input(data, SEEDS.get_or_init(ferrograd_fuzz::yaml_seeds));
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return;
    };
    let path = ferrograd_fuzz::scratch_file("config.yaml");
    let _ = parse_yaml(text, &path);
    std::fs::write(&path, text).expect("scratch file");
    let matches = CdeConfig::augment_args(Command::new("fuzz")).get_matches_from(["fuzz"]);
    if let Ok(cfg) = resolve::<CdeConfig>(&matches, Some(&path), None) {
        let _ = cfg.validate();
    }
});
