//! IDX image and label files, plain or gzipped.
#![no_main]
use ferrograd_models::data::idx::{labels_from_bytes, IdxImages};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let bytes = ferrograd_fuzz::input(data, SEEDS.get_or_init(ferrograd_fuzz::idx_seeds));
    if let Ok(images) = IdxImages::from_bytes(&bytes, "fuzz-images") {
        assert_eq!(
            images.pixels.len(),
            images.count * images.rows * images.cols
        );
        assert!(images.rows > 0 && images.cols > 0);
        if images.count > 0 {
            assert!(images.image(images.count - 1).is_some());
        }
        assert!(images.image(images.count).is_none());
        assert!(images.image(usize::MAX).is_none());
    }
    if let Ok(labels) = labels_from_bytes(&bytes, "fuzz-labels") {
        assert!(labels.len() <= 64 * 1024 * 1024);
    }
});
