//! Tests of the IDX reader: files written into temp dirs, malformed ones,
//! the shipped digits and (when installed) Debian's Fashion-MNIST.

use super::{builtin_mnist, labels_from_bytes, read_labels, read_pair, IdxImages};
use crate::data::tests::{message, TempDir};
use ferrograd_nn::Error;
use flate2::write::GzEncoder;
use flate2::Compression;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// An IDX file: magic `00 00 type dims`, the sizes, then `data`.
fn idx(type_byte: u8, sizes: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, type_byte, sizes.len() as u8];
    for s in sizes {
        out.extend(s.to_be_bytes());
    }
    out.extend(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random()).collect()
}

/// The problem of a `Format` error, checking that it names `path`.
fn problem<T: std::fmt::Debug>(r: ferrograd_nn::Result<T>, path: &Path) -> String {
    match r.expect_err("expected an error") {
        Error::Format { path: p, problem } => {
            assert_eq!(p, path);
            problem
        }
        other => panic!("expected a format error, got {other}"),
    }
}

#[test]
fn raw_and_gzipped_images_round_trip() {
    let dir = TempDir::new("idx-images-round-trip");
    let pixels = random_bytes(7 * 5 * 3, 1);
    let file = idx(0x08, &[7, 5, 3], &pixels);
    let raw = dir.write("images-idx3-ubyte", &file);
    let gz = dir.write("images-idx3-ubyte.gz", gzip(&file));
    for path in [&raw, &gz] {
        let images = IdxImages::read(path).unwrap();
        assert_eq!((images.count, images.rows, images.cols), (7, 5, 3));
        assert_eq!(images.pixels, pixels);
        assert_eq!(images.image(6), Some(&pixels[90..105]));
        assert_eq!(images.image(7), None);
        // Found writing the idx fuzz target: the end of the last index overflowed.
        assert_eq!(images.image(usize::MAX), None);
    }
    assert_eq!(
        IdxImages::from_bytes(&gzip(&file), "x").unwrap(),
        IdxImages::read(&raw).unwrap()
    );
    // An empty set is a valid file.
    let empty = dir.write("empty", idx(0x08, &[0, 28, 28], &[]));
    assert_eq!(IdxImages::read(&empty).unwrap().count, 0);
}

#[test]
fn raw_and_gzipped_labels_round_trip_and_pair() {
    let dir = TempDir::new("idx-labels-round-trip");
    let labels: Vec<u8> = (0..40).map(|i| (i * 7 % 10) as u8).collect();
    let file = idx(0x08, &[40], &labels);
    let raw = dir.write("labels", &file);
    let gz = dir.write("labels.gz", gzip(&file));
    assert_eq!(read_labels(&raw).unwrap(), labels);
    assert_eq!(read_labels(&gz).unwrap(), labels);
    assert_eq!(labels_from_bytes(&file, "x").unwrap(), labels);
    let images = dir.write("images.gz", gzip(&idx(0x08, &[40, 2, 2], &[9; 160])));
    let (im, lab) = read_pair(&images, &gz).unwrap();
    assert_eq!((im.count, lab), (40, labels));
}

#[test]
fn counts_that_disagree_are_refused_naming_both_files() {
    let dir = TempDir::new("idx-pair-counts");
    let images = dir.write("images", idx(0x08, &[6, 2, 2], &[1; 24]));
    let labels = dir.write("labels", idx(0x08, &[5], &[1; 5]));
    let p = problem(read_pair(&images, &labels), &labels);
    assert!(p.contains("5 labels"), "{p}");
    assert!(p.contains("6 images"), "{p}");
    assert!(p.contains(&images.display().to_string()), "{p}");
}

#[test]
fn bad_magic_shows_the_four_bytes() {
    let dir = TempDir::new("idx-bad-magic");
    let zip = dir.write("images.zip", b"PK\x03\x04 not an idx file at all");
    let p = problem(IdxImages::read(&zip), &zip);
    assert!(p.starts_with("bad magic 50 4b 03 04"), "{p}");
    assert!(p.contains("00 00 08 03"), "{p}");
    let gz = dir.write("labels.gz", gzip(b"\x12\x34\x56\x78\x00\x00\x00\x01x"));
    assert!(problem(read_labels(&gz), &gz).starts_with("bad magic 12 34 56 78"));
}

#[test]
fn wrong_type_byte_is_named() {
    let dir = TempDir::new("idx-type-byte");
    let path = dir.write("floats", idx(0x0D, &[1, 1, 1], &[0; 4]));
    let p = problem(IdxImages::read(&path), &path);
    assert!(p.starts_with("data type byte 0x0d (f32)"), "{p}");
    assert!(p.contains("0x08 (unsigned byte)"), "{p}");
}

#[test]
fn wrong_number_of_dimensions_is_refused() {
    let dir = TempDir::new("idx-dims");
    let labels = dir.write("labels", idx(0x08, &[4], &[0; 4]));
    let images = dir.write("images", idx(0x08, &[1, 2, 2], &[0; 4]));
    let p = problem(IdxImages::read(&labels), &labels);
    assert!(p.starts_with("1 dimensions in magic 00 00 08 01"), "{p}");
    assert!(p.contains("need 3"), "{p}");
    let p = problem(read_labels(&images), &images);
    assert!(p.starts_with("3 dimensions in magic 00 00 08 03"), "{p}");
    let zero = dir.write("zero-rows", idx(0x08, &[3, 0, 28], &[]));
    assert!(problem(IdxImages::read(&zero), &zero).contains("dimension 1"));
}

#[test]
fn truncated_files_say_how_much_is_missing() {
    let dir = TempDir::new("idx-truncated");
    let file = idx(0x08, &[3, 4, 4], &[7; 40]);
    for (name, bytes) in [("raw", file.clone()), ("gz", gzip(&file))] {
        let path = dir.write(name, bytes);
        let p = problem(IdxImages::read(&path), &path);
        assert_eq!(
            p, "truncated: expected 48 bytes of pixel data (3 × 4 × 4), found 40",
            "{name}"
        );
    }
    let labels = dir.write("labels", idx(0x08, &[10], &[1; 3]));
    let p = problem(read_labels(&labels), &labels);
    assert!(
        p.contains("expected 10 bytes of label data (10), found 3"),
        "{p}"
    );
    let header = dir.write("header", &file[..9]);
    let p = problem(IdxImages::read(&header), &header);
    assert!(p.starts_with("truncated header: 5 of the 12 bytes"), "{p}");
    let magic = dir.write("magic", [0u8, 0]);
    assert!(problem(read_labels(&magic), &magic).starts_with("truncated header: 2 bytes (00 00)"));
    let empty = dir.write("empty", []);
    assert!(problem(read_labels(&empty), &empty).starts_with("truncated header: 0 bytes"));
}

#[test]
fn cut_gzip_stream_and_trailing_bytes_are_errors() {
    let dir = TempDir::new("idx-cut-gzip");
    let file = idx(0x08, &[50, 28, 28], &random_bytes(50 * 784, 2));
    let gz = gzip(&file);
    let cut = dir.write("cut.gz", &gz[..gz.len() / 2]);
    let p = problem(IdxImages::read(&cut), &cut);
    assert!(p.contains("corrupt or truncated gzip stream"), "{p}");
    let mut long = idx(0x08, &[2, 2, 2], &[1; 8]);
    long.push(0);
    let long = dir.write("long", long);
    let p = problem(IdxImages::read(&long), &long);
    assert!(p.starts_with("more than the 8 bytes of pixel data"), "{p}");
}

#[test]
fn absurd_header_is_refused_before_allocating() {
    let dir = TempDir::new("idx-absurd");
    // 10^6 × 10^6 × 10^6 = 10^12 elements claimed, 100 bytes present.
    let file = idx(0x08, &[1_000_000, 1_000_000, 1], &[0; 100]);
    let start = Instant::now();
    for (name, bytes) in [("raw", file.clone()), ("gz", gzip(&file))] {
        let path = dir.write(name, bytes);
        let p = problem(IdxImages::read(&path), &path);
        assert_eq!(
            p,
            "truncated: expected 1000000000000 bytes of pixel data \
             (1000000 × 1000000 × 1), found 100"
        );
    }
    // The largest claim a header can make: (2^32 − 1)^3 bytes.
    let max = dir.write("max", idx(0x08, &[u32::MAX; 3], &[]));
    let p = problem(IdxImages::read(&max), &max);
    assert!(p.contains("more than memory can hold"), "{p}");
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let path = Path::new("/nonexistent/ferrograd/images-idx3-ubyte.gz");
    let m = message(IdxImages::read(path));
    assert!(m.starts_with(&path.display().to_string()), "{m}");
    assert!(matches!(read_labels(path), Err(Error::Io { .. })));
}

#[test]
fn no_input_panics() {
    let file = idx(0x08, &[4, 3, 3], &random_bytes(36, 3));
    let gz = gzip(&file);
    let mut rng = StdRng::seed_from_u64(4);
    for len in 0..=gz.len().max(file.len()) {
        let _ = IdxImages::from_bytes(&file[..len.min(file.len())], "raw");
        let _ = IdxImages::from_bytes(&gz[..len.min(gz.len())], "gz");
        let _ = labels_from_bytes(&file[..len.min(file.len())], "raw");
    }
    for _ in 0..500 {
        let mut bytes = if rng.random() {
            file.clone()
        } else {
            gz.clone()
        };
        for _ in 0..rng.random_range(1..4) {
            let k = rng.random_range(0..bytes.len());
            bytes[k] = rng.random();
        }
        let _ = IdxImages::from_bytes(&bytes, "mutated");
        let _ = labels_from_bytes(&bytes, "mutated");
    }
    assert!(IdxImages::from_bytes(&file, "raw").is_ok());
}

#[test]
fn shipped_digits_load_with_about_1000_of_each() {
    let (images, labels) = builtin_mnist().unwrap();
    assert_eq!((images.count, images.rows, images.cols), (10_000, 28, 28));
    assert_eq!(images.pixels.len(), 10_000 * 784);
    let mut per_digit = [0usize; 10];
    for &l in &labels {
        per_digit[usize::from(l)] += 1;
    }
    assert_eq!(
        per_digit,
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
    assert!(per_digit.iter().all(|&n| (800..1200).contains(&n)));
    assert_eq!(&labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Real digits: dark borders, some full-ink pixels, about a fifth inked.
    let image = images.image(0).unwrap();
    assert!(image[..28].iter().all(|&v| v == 0));
    assert!(image.contains(&255) || image.contains(&254));
    let inked = images.pixels.iter().filter(|&&v| v > 0).count() as f64 / 7_840_000.0;
    assert!((0.1..0.3).contains(&inked), "{inked}");
    // The embedded copy is the committed files.
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let from_disk = read_pair(
        folder.join("images-idx3-ubyte.gz"),
        folder.join("labels-idx1-ubyte.gz"),
    )
    .unwrap();
    assert_eq!(from_disk, (images, labels));
}

#[test]
fn debian_fashion_mnist_reads_when_installed() {
    let folder = Path::new("/usr/share/datasets/fashion-mnist");
    if !folder.is_dir() {
        eprintln!(
            "skipped: {} is absent (apt-get install dataset-fashion-mnist)",
            folder.display()
        );
        return;
    }
    for (prefix, count) in [("train", 60_000), ("t10k", 10_000)] {
        let (images, labels) = read_pair(
            folder.join(format!("{prefix}-images-idx3-ubyte.gz")),
            folder.join(format!("{prefix}-labels-idx1-ubyte.gz")),
        )
        .unwrap();
        assert_eq!((images.count, images.rows, images.cols), (count, 28, 28));
        let mut per_class = [0usize; 10];
        for &l in &labels {
            per_class[usize::from(l)] += 1;
        }
        assert_eq!(per_class, [count / 10; 10], "{prefix}");
    }
}
