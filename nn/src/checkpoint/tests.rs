use super::*;
use crate::Linear;
use proptest::prelude::*;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::path::PathBuf;

/// A fresh folder under the system temp dir, removed on drop.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> TestDir {
        let dir =
            std::env::temp_dir().join(format!("ferrograd-ckpt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn t(data: &[f32], dims: &[usize]) -> Tensor {
    Tensor::from_slice(data, dims).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.data().iter().map(|v| v.to_bits()).collect()
}

fn sample() -> Checkpoint {
    let mut ckpt = Checkpoint::new();
    let odd = [
        f32::NAN,
        f32::from_bits(0x7fc0_1234), // NaN with a payload
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        f32::MIN_POSITIVE / 4.0, // subnormal
        f32::MAX,
        1.5,
    ];
    ckpt.tensors.insert("layer.weight".into(), t(&odd, &[2, 4]));
    ckpt.tensors
        .insert("layer.bias".into(), t(&[0.25, -3.0], &[2]));
    ckpt.tensors.insert("scale".into(), Tensor::scalar(-0.0));
    ckpt.tensors.insert("empty".into(), t(&[], &[0, 3]));
    ckpt.metadata
        .insert("config".into(), r#"{"lr":0.001,"name":"möbius"}"#.into());
    ckpt.metadata.insert("note".into(), "plain text".into());
    ckpt
}

fn assert_same(a: &Checkpoint, b: &Checkpoint) {
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        b.tensors.keys().collect::<Vec<_>>()
    );
    for (name, x) in &a.tensors {
        let y = &b.tensors[name];
        assert_eq!(x.dims(), y.dims(), "{name}");
        assert_eq!(bits(x), bits(y), "{name}");
    }
    assert_eq!(a.metadata, b.metadata);
}

fn format_problem(e: Error, path: &Path) -> String {
    match e {
        Error::Format { path: p, problem } => {
            assert_eq!(p, path);
            problem
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn round_trip_is_bit_identical() {
    let dir = TestDir::new("roundtrip");
    let path = dir.file("a.safetensors");
    let ckpt = sample();
    ckpt.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_same(&ckpt, &back);
    assert_eq!(back.tensors["scale"].rank(), 0);
    assert_eq!(dir.entries(), ["a.safetensors"]);
}

#[test]
fn empty_checkpoint_round_trips() {
    let dir = TestDir::new("empty-ckpt");
    let path = dir.file("e.safetensors");
    Checkpoint::new().save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert!(back.tensors.is_empty() && back.metadata.is_empty());
}

#[test]
fn json_metadata_and_training_state() {
    let mut ckpt = Checkpoint::new();
    let state = TrainingState {
        epoch: 2,
        step: 17,
        seed: u64::MAX,
    };
    ckpt.set_json(META_TRAINING_STATE, &state).unwrap();
    ckpt.set_json(META_CONFIG, &serde_json::json!({"hidden": [64, 64]}))
        .unwrap();
    assert_eq!(ckpt.training_state().unwrap(), Some(state));
    assert_eq!(ckpt.json::<u32>("absent").unwrap(), None);
    ckpt.metadata.insert("bad".into(), "{not json".into());
    let err = ckpt.json::<TrainingState>("bad").unwrap_err().to_string();
    assert!(err.contains("'bad'"), "{err}");
}

#[test]
fn missing_file_is_io_error_with_path() {
    let dir = TestDir::new("missing");
    let path = dir.file("nope.safetensors");
    match Checkpoint::load(&path) {
        Err(Error::Io { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected Io error, got {other:?}"),
    }
}

#[test]
fn truncated_files_are_format_errors() {
    let dir = TestDir::new("truncated");
    let good = format::to_bytes(&sample()).unwrap();
    let path = dir.file("t.safetensors");
    for cut in [
        0,
        1,
        7,
        8,
        9,
        20,
        good.len() / 2,
        good.len() - 4,
        good.len() - 1,
    ] {
        std::fs::write(&path, &good[..cut]).unwrap();
        let problem = format_problem(Checkpoint::load(&path).unwrap_err(), &path);
        assert!(!problem.is_empty(), "cut at {cut}");
    }
    std::fs::write(&path, b"").unwrap();
    let problem = format_problem(Checkpoint::load(&path).unwrap_err(), &path);
    assert!(problem.contains("not a safetensors file"), "{problem}");
}

#[test]
fn garbage_and_flipped_header_are_format_errors() {
    let dir = TestDir::new("garbage");
    let path = dir.file("g.safetensors");
    std::fs::write(&path, b"this is certainly not a safetensors file at all").unwrap();
    format_problem(Checkpoint::load(&path).unwrap_err(), &path);

    let good = format::to_bytes(&sample()).unwrap();
    // Flip a byte inside the JSON header (the opening brace).
    let mut bad = good.clone();
    bad[8] ^= 0xff;
    std::fs::write(&path, &bad).unwrap();
    let problem = format_problem(Checkpoint::load(&path).unwrap_err(), &path);
    assert!(problem.contains("header"), "{problem}");
    // Corrupt the length field.
    let mut bad = good.clone();
    bad[7] = 0x10;
    std::fs::write(&path, &bad).unwrap();
    format_problem(Checkpoint::load(&path).unwrap_err(), &path);
    // Trailing bytes.
    let mut bad = good;
    bad.extend_from_slice(&[0; 4]);
    std::fs::write(&path, &bad).unwrap();
    format_problem(Checkpoint::load(&path).unwrap_err(), &path);
}

#[test]
fn wrong_dtype_and_rank_name_the_tensor() {
    let dir = TestDir::new("dtype");
    let path = dir.file("d.safetensors");
    let bytes = [0u8; 16];
    let f64_view = TensorView::new(Dtype::F64, vec![2], &bytes).unwrap();
    let i64_view = TensorView::new(Dtype::I64, vec![2], &bytes).unwrap();
    for (dtype, view) in [("F64", f64_view), ("I64", i64_view)] {
        let file = safetensors::serialize([("net.weight", view)], None).unwrap();
        std::fs::write(&path, file).unwrap();
        let problem = format_problem(Checkpoint::load(&path).unwrap_err(), &path);
        assert!(problem.contains("'net.weight'"), "{problem}");
        assert!(problem.contains(dtype), "{problem}");
    }
    let deep = [0u8; 4];
    let view = TensorView::new(Dtype::F32, vec![1; 9], &deep).unwrap();
    let file = safetensors::serialize([("deep", view)], None).unwrap();
    std::fs::write(&path, file).unwrap();
    let problem = format_problem(Checkpoint::load(&path).unwrap_err(), &path);
    assert!(
        problem.contains("'deep'") && problem.contains("9 dims"),
        "{problem}"
    );
}

#[test]
fn saving_over_an_existing_file_replaces_it_and_leaves_no_temp() {
    let dir = TestDir::new("overwrite");
    let path = dir.file("m.safetensors");
    sample().save(&path).unwrap();
    let mut second = Checkpoint::new();
    second.tensors.insert("x".into(), t(&[1.0], &[1]));
    second.save(&path).unwrap();
    assert_same(&second, &Checkpoint::load(&path).unwrap());
    assert_eq!(dir.entries(), ["m.safetensors"]);
}

#[test]
fn failed_writes_leave_old_file_intact_and_no_temp() {
    let dir = TestDir::new("atomic");
    let path = dir.file("m.safetensors");
    let original = sample();
    original.save(&path).unwrap();
    // A write that fails half way (as a full disk would).
    let err = crate::atomic::write_with(&path, |f| {
        use std::io::Write;
        f.write_all(b"half a file")?;
        Err(std::io::Error::other("disk full"))
    })
    .unwrap_err();
    assert!(
        matches!(&err, Error::Io { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert_same(&original, &Checkpoint::load(&path).unwrap());
    assert_eq!(dir.entries(), ["m.safetensors"]);
    // The rename fails: the target is a non-empty folder.
    let blocker = dir.file("blocker");
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("keep"), b"x").unwrap();
    assert!(original.save(&blocker).is_err());
    assert_eq!(dir.entries(), ["blocker", "m.safetensors"]);
    // A missing folder.
    let err = original
        .save(dir.file("no/such/dir.safetensors"))
        .unwrap_err();
    assert!(err.to_string().contains("dir.safetensors"), "{err}");
    // An invalid tensor name fails before anything is written.
    let mut bad = original.clone();
    bad.tensors
        .insert("__metadata__".into(), Tensor::scalar(1.0));
    format_problem(bad.save(&path).unwrap_err(), &path);
    assert_same(&original, &Checkpoint::load(&path).unwrap());
    assert_eq!(dir.entries(), ["blocker", "m.safetensors"]);
}

#[test]
fn module_and_optimizer_state_are_separated() {
    let dir = TestDir::new("module");
    let path = dir.file("train.safetensors");
    let model = Linear::new(3, 2, 5);
    let mut opt = BTreeMap::new();
    opt.insert("exp_avg.0".to_string(), t(&[1.0; 6], &[2, 3]));
    opt.insert("step".to_string(), Tensor::scalar(10.0));
    let mut meta = BTreeMap::new();
    meta.insert(META_OPTIMIZER.to_string(), r#"{"lr":0.01}"#.to_string());
    save_training(&path, &model, &opt, &meta).unwrap();

    let ckpt = Checkpoint::load(&path).unwrap();
    assert!(ckpt.tensors.contains_key("optimizer.exp_avg.0"));
    assert_eq!(
        ckpt.optimizer_state().keys().collect::<Vec<_>>(),
        ["exp_avg.0", "step"]
    );
    assert_eq!(
        ckpt.model_state().keys().collect::<Vec<_>>(),
        ["bias", "weight"]
    );

    let fresh = Linear::new(3, 2, 99);
    assert_eq!(load_module(&path, &fresh).unwrap(), meta);
    assert_eq!(bits(&fresh.weight.value()), bits(&model.weight.value()));

    save_module(&path, &model, &BTreeMap::new()).unwrap();
    assert!(Checkpoint::load(&path)
        .unwrap()
        .optimizer_state()
        .is_empty());
}

#[test]
fn mismatched_module_lists_every_problem_and_changes_nothing() {
    let dir = TestDir::new("mismatch");
    let path = dir.file("m.safetensors");
    let mut ckpt = Checkpoint::new();
    ckpt.tensors.insert("weight".into(), t(&[0.0; 4], &[2, 2]));
    ckpt.tensors.insert("extra".into(), Tensor::scalar(1.0));
    ckpt.save(&path).unwrap();
    let model = Linear::new(3, 2, 0);
    let before = bits(&model.weight.value());
    let problem = format_problem(load_module(&path, &model).unwrap_err(), &path);
    for needle in ["'weight'", "'bias'", "'extra'"] {
        assert!(problem.contains(needle), "{problem}");
    }
    assert_eq!(bits(&model.weight.value()), before);
}

#[test]
fn model_names_under_the_optimizer_prefix_are_refused() {
    struct Odd(crate::Param);
    impl Module for Odd {
        fn visit(&self, c: &mut crate::Collector) {
            c.param("optimizer.w", &self.0);
        }
    }
    let dir = TestDir::new("prefix");
    let m = Odd(crate::Param::new(Tensor::scalar(1.0)));
    let err = save_module(dir.file("x"), &m, &BTreeMap::new()).unwrap_err();
    assert!(
        matches!(err, Error::Config(ref s) if s.contains("optimizer.w")),
        "{err}"
    );
    assert!(dir.entries().is_empty());
}

/// Reads a checkpoint with Python's `safetensors.numpy`, and a file it wrote (run with
/// `cargo test -p ferrograd-nn --lib checkpoint -- --ignored`; needs the
/// interpreter at /work/anchors-venv).
#[test]
#[ignore]
fn python_safetensors_reads_our_files() {
    let dir = TestDir::new("python");
    let path = dir.file("py.safetensors");
    sample().save(&path).unwrap();
    let script = "import sys, numpy as np\n\
        from safetensors import safe_open\n\
        from safetensors.numpy import load_file\n\
        t = load_file(sys.argv[1])\n\
        w = t['layer.weight']\n\
        assert w.dtype == np.float32 and w.shape == (2, 4)\n\
        assert np.isnan(w[0, 0]) and w[0, 2] == np.inf and np.signbit(w[1, 0])\n\
        assert t['scale'].shape == () and t['empty'].shape == (0, 3)\n\
        assert list(t['layer.bias']) == [0.25, -3.0]\n\
        m = safe_open(sys.argv[1], 'np').metadata()\n\
        assert m['note'] == 'plain text', m\n\
        from safetensors.numpy import save_file\n\
        save_file({'w': np.arange(6, dtype=np.float32).reshape(2, 3)}, sys.argv[2], {'format': 'np'})";
    let out = std::process::Command::new("/work/anchors-venv/bin/python")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .arg(dir.file("from_py.safetensors"))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = Checkpoint::load(dir.file("from_py.safetensors")).unwrap();
    assert_eq!(theirs.tensors["w"].dims(), &[2, 3]);
    assert_eq!(theirs.tensors["w"].data(), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(theirs.metadata["format"], "np");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn truncations_never_panic_and_always_fail(cut in 0usize..10_000) {
        let good = format::to_bytes(&sample()).unwrap();
        let cut = cut % good.len();
        prop_assert!(format::from_bytes(&good[..cut]).is_err());
    }

    #[test]
    fn byte_flips_never_panic(pos in 0usize..10_000, mask in 1u8..=255) {
        let mut bytes = format::to_bytes(&sample()).unwrap();
        let pos = pos % bytes.len();
        bytes[pos] ^= mask;
        if let Ok(ckpt) = format::from_bytes(&bytes) {
            for t in ckpt.tensors.values() {
                prop_assert_eq!(t.numel(), t.dims().iter().product::<usize>());
            }
        }
    }
}

/// One [`crate::mutate::Mutation`] of any kind.
fn mutation() -> impl Strategy<Value = crate::mutate::Mutation> {
    (
        any::<u8>(),
        any::<usize>(),
        any::<u8>(),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(k, at, pick, raw, bytes)| {
            crate::mutate::Mutation::from_parts(k, at, pick, raw, bytes)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Bit flips, truncations, insertions and huge length fields (in the
    /// length prefix, the header JSON's numbers or anywhere): a typed
    /// error naming the file, or a checkpoint whose tensors hold what
    /// their shapes say and no more values than the file has bytes for.
    #[test]
    fn mutated_checkpoints_load_or_fail_cleanly(
        muts in proptest::collection::vec(mutation(), 1..4)
    ) {
        let mut good = sample();
        good.set_json(META_TRAINING_STATE, &TrainingState { epoch: 1, step: 2, seed: 3 }).unwrap();
        let mut bytes = good.to_bytes("m.safetensors").unwrap();
        for m in &muts {
            bytes = m.apply(&bytes);
        }
        match Checkpoint::from_bytes(&bytes, "m.safetensors") {
            Ok(ckpt) => {
                let values: usize = ckpt.tensors.values().map(Tensor::numel).sum();
                prop_assert!(values * 4 <= bytes.len());
                for t in ckpt.tensors.values() {
                    prop_assert_eq!(t.numel(), t.dims().iter().product::<usize>());
                }
                let _ = ckpt.training_state();
            }
            Err(Error::Format { path, problem }) => {
                prop_assert_eq!(path, PathBuf::from("m.safetensors"));
                prop_assert!(!problem.is_empty());
            }
            Err(other) => prop_assert!(false, "untyped error {other}"),
        }
    }
}

/// Safetensors bytes with a hand-written JSON header and `data` after it.
fn raw_safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// A header claiming 10¹² elements (offsets to match) over 100 bytes, and
/// shapes whose product overflows, are refused before any tensor is
/// allocated (the test would otherwise need 4 TB and minutes).
#[test]
fn header_claiming_1e12_elements_is_refused_before_allocating() {
    let dir = TestDir::new("huge");
    let start = std::time::Instant::now();
    let cases = [
        (
            "claim",
            r#"{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}}"#,
            "truncated: the header describes",
        ),
        (
            "claim-small-offsets",
            r#"{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,100]}}"#,
            "do not match its dtype and shape",
        ),
        (
            "overflow",
            r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,100]}}"#,
            "overflows",
        ),
    ];
    for (name, header, want) in cases {
        let path = dir.file(name);
        std::fs::write(&path, raw_safetensors(header, &[0; 100])).unwrap();
        let p = format_problem(Checkpoint::load(&path).err().unwrap(), &path);
        assert!(p.contains(want), "{name}: {p}");
    }
    assert!(start.elapsed() < std::time::Duration::from_millis(500));
}
