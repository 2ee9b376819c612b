//! The `ferrograd-esp` C ABI (`capi` feature): the `extern "C"` functions
//! called from Rust give the same bits as the Rust API and the right error
//! codes (null pointers included), the generated C header compiles with
//! `-std=c99 -Wall -Werror`, and a C program linked against a host
//! staticlib of the runtime prints the same log-densities, samples and
//! outputs as Rust.

mod common_esp;

use common_esp::{all_blobs, mdn_models, mlp_blob, split, with_words, Aligned, MafModel};
use ferrograd_esp::capi::{
    fg_log_prob, fg_mlp_forward, fg_model_dim, fg_model_features, fg_model_kind, fg_model_open,
    fg_model_scratch_len, fg_sample, FgModel, NULL_POINTER,
};
use ferrograd_esp::{export, Error, Kind, Model, Rng};
use std::mem::{align_of, size_of, MaybeUninit};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::{null, null_mut};

// ------------------------------------------------------------------ helpers

/// A model opened through the C ABI; borrows the blob it was opened on.
struct Handle<'a> {
    storage: Box<MaybeUninit<FgModel>>,
    _blob: std::marker::PhantomData<&'a [u8]>,
}

impl<'a> Handle<'a> {
    /// `fg_model_open` on `bytes`: the handle, or the error code.
    fn open(bytes: &'a [u8]) -> Result<Handle<'a>, i32> {
        let mut storage = Box::new(MaybeUninit::<FgModel>::uninit());
        // SAFETY: `bytes` is valid for its length and outlives the handle;
        // `storage` is writable FgModel storage.
        let rc = unsafe { fg_model_open(bytes.as_ptr(), bytes.len(), storage.as_mut_ptr()) };
        if rc == 0 {
            Ok(Handle {
                storage,
                _blob: std::marker::PhantomData,
            })
        } else {
            Err(rc)
        }
    }

    fn ptr(&self) -> *const FgModel {
        self.storage.as_ptr()
    }

    fn kind(&self) -> i32 {
        // SAFETY: opened by a successful fg_model_open, blob alive.
        unsafe { fg_model_kind(self.ptr()) }
    }

    fn dim(&self) -> usize {
        // SAFETY: as above.
        unsafe { fg_model_dim(self.ptr()) }
    }

    fn features(&self) -> usize {
        // SAFETY: as above.
        unsafe { fg_model_features(self.ptr()) }
    }

    fn scratch_len(&self) -> usize {
        // SAFETY: as above.
        unsafe { fg_model_scratch_len(self.ptr()) }
    }

    fn log_prob(&self, x: &[f32], f: &[f32], scratch: &mut [f32]) -> Result<f32, i32> {
        let mut out = f32::from_bits(0x7fc0_dead);
        // SAFETY: every pointer is valid for its length.
        let rc = unsafe {
            fg_log_prob(
                self.ptr(),
                x.as_ptr(),
                x.len(),
                f.as_ptr(),
                f.len(),
                scratch.as_mut_ptr(),
                scratch.len(),
                &mut out,
            )
        };
        if rc == 0 {
            Ok(out)
        } else {
            // A failed call leaves *out alone.
            assert_eq!(out.to_bits(), 0x7fc0_dead);
            Err(rc)
        }
    }

    fn sample(&self, f: &[f32], n: usize, seed: u64, out: &mut [f32], scratch: &mut [f32]) -> i32 {
        // SAFETY: every pointer is valid for its length.
        unsafe {
            fg_sample(
                self.ptr(),
                f.as_ptr(),
                f.len(),
                n,
                seed,
                out.as_mut_ptr(),
                out.len(),
                scratch.as_mut_ptr(),
                scratch.len(),
            )
        }
    }

    fn forward(&self, x: &[f32], out: &mut [f32], scratch: &mut [f32]) -> i32 {
        // SAFETY: every pointer is valid for its length.
        unsafe {
            fg_mlp_forward(
                self.ptr(),
                x.as_ptr(),
                x.len(),
                out.as_mut_ptr(),
                out.len(),
                scratch.as_mut_ptr(),
                scratch.len(),
            )
        }
    }
}

/// `fg_model_open`'s code for `bytes` (0 on success).
fn open_code(bytes: &[u8]) -> i32 {
    Handle::open(bytes).err().unwrap_or(0)
}

/// Fixed inputs: `n` (x, features) pairs from a seeded generator.
fn points(n: usize, dim: usize, features: usize, seed: u64) -> Vec<(Vec<f32>, Vec<f32>)> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let x = (0..dim).map(|_| 1.5 * rng.normal()).collect();
            let f = (0..features).map(|_| rng.uniform() * 2.0 - 1.0).collect();
            (x, f)
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Every density blob the tests use: the standard MAF, a MAF without
/// hidden layers, and the three MDN variants.
fn density_blobs() -> Vec<(String, Vec<u8>)> {
    let mut v = vec![
        ("maf".to_string(), all_blobs()[1].1.clone()),
        (
            "maf-no-hidden".to_string(),
            MafModel::new(7, 2, 1, 2, &[]).blob(),
        ),
    ];
    for (i, m) in mdn_models().iter().enumerate() {
        v.push((format!("mdn-{i}"), m.blob()));
    }
    v
}

// ------------------------------------------------------ the ABI from Rust

#[test]
fn fg_model_matches_the_c_declaration() {
    // typedef struct { uint64_t opaque[16]; } fg_model;
    assert_eq!(size_of::<FgModel>(), 16 * 8);
    assert_eq!(align_of::<FgModel>(), align_of::<u64>());
    assert!(size_of::<Model<'static>>() <= size_of::<FgModel>());
    assert!(export::C_API.contains("typedef struct { uint64_t opaque[16]; } fg_model;"));
    assert!(export::C_API.contains(&format!("FG_NULL_POINTER = {NULL_POINTER}")));
    assert_eq!(NULL_POINTER, -12);
}

#[test]
fn open_reports_kind_dims_and_scratch() {
    for (name, blob) in all_blobs() {
        let blob = Aligned::new(&blob);
        let model = Model::from_bytes(blob.bytes()).unwrap();
        let h = Handle::open(blob.bytes()).unwrap();
        assert_eq!(h.kind(), model.kind() as i32, "{name}");
        assert_eq!(h.dim(), model.dim(), "{name}");
        assert_eq!(h.features(), model.features(), "{name}");
        assert_eq!(h.scratch_len(), model.scratch_len(), "{name}");
    }
    let kinds: Vec<i32> = all_blobs()
        .iter()
        .map(|(_, b)| Handle::open(Aligned::new(b).bytes()).unwrap().kind())
        .collect();
    assert_eq!(kinds, [1, 2, 3]);
}

#[test]
fn fg_log_prob_is_bit_identical_to_rust() {
    for (name, blob) in density_blobs() {
        let blob = Aligned::new(&blob);
        let model = Model::from_bytes(blob.bytes()).unwrap();
        let h = Handle::open(blob.bytes()).unwrap();
        let mut s1 = vec![0.0; model.scratch_len()];
        let mut s2 = vec![f32::NAN; h.scratch_len()];
        for (x, f) in points(16, model.dim(), model.features(), 21) {
            let rust = match model {
                Model::Maf(m) => m.log_prob(&x, &f, &mut s1).unwrap(),
                Model::Mdn(m) => m.log_prob(&x, &f, &mut s1).unwrap(),
                Model::Mlp(_) | Model::ResMlp(_) => unreachable!(),
            };
            let c = h.log_prob(&x, &f, &mut s2).unwrap();
            assert_eq!(c.to_bits(), rust.to_bits(), "{name}: {c} vs {rust}");
        }
    }
}

#[test]
fn fg_sample_is_bit_identical_to_rust() {
    for (name, blob) in density_blobs() {
        let blob = Aligned::new(&blob);
        let model = Model::from_bytes(blob.bytes()).unwrap();
        let h = Handle::open(blob.bytes()).unwrap();
        let d = model.dim();
        let mut scratch = vec![0.0; model.scratch_len()];
        for (seed, (_, f)) in points(4, 0, model.features(), 5).into_iter().enumerate() {
            let n = 1 + seed * 2;
            let (mut rust, mut c) = (vec![0.0; n * d], vec![0.0; n * d]);
            match model {
                Model::Maf(m) => m
                    .sample(&f, n, &mut rust, seed as u64, &mut scratch)
                    .unwrap(),
                Model::Mdn(m) => m
                    .sample(&f, n, &mut rust, seed as u64, &mut scratch)
                    .unwrap(),
                Model::Mlp(_) | Model::ResMlp(_) => unreachable!(),
            }
            assert_eq!(
                h.sample(&f, n, seed as u64, &mut c, &mut scratch),
                0,
                "{name}"
            );
            assert_eq!(bits(&c), bits(&rust), "{name}, seed {seed}");
        }
    }
}

#[test]
fn fg_mlp_forward_is_bit_identical_to_rust() {
    let blob = Aligned::new(&mlp_blob());
    let Model::Mlp(mlp) = Model::from_bytes(blob.bytes()).unwrap() else {
        unreachable!()
    };
    let h = Handle::open(blob.bytes()).unwrap();
    let mut scratch = vec![0.0; mlp.scratch_len()];
    for (x, _) in points(16, 3, 0, 8) {
        let (mut rust, mut c) = ([0.0; 2], [0.0; 2]);
        mlp.forward(&x, &mut rust, &mut scratch).unwrap();
        assert_eq!(h.forward(&x, &mut c, &mut scratch), 0);
        assert_eq!(bits(&c), bits(&rust));
    }
}

/// `FgModel` is plain data borrowing the blob: a byte copy of an opened
/// handle (as C code copies structs) works as the original.
#[test]
fn a_copied_handle_works() {
    let blob = Aligned::new(&all_blobs()[1].1);
    let h = Handle::open(blob.bytes()).unwrap();
    let mut copy = Box::new(MaybeUninit::<FgModel>::uninit());
    // SAFETY: both are valid FgModel storage; the source is initialised.
    unsafe { std::ptr::copy_nonoverlapping(h.ptr(), copy.as_mut_ptr(), 1) };
    let copy = Handle {
        storage: copy,
        _blob: std::marker::PhantomData,
    };
    drop(h);
    let mut s = vec![0.0; copy.scratch_len()];
    let lp = copy.log_prob(&[0.1, 0.2, 0.3], &[0.5], &mut s).unwrap();
    let Model::Maf(maf) = Model::from_bytes(blob.bytes()).unwrap() else {
        unreachable!()
    };
    assert_eq!(
        lp.to_bits(),
        maf.log_prob(&[0.1, 0.2, 0.3], &[0.5], &mut s)
            .unwrap()
            .to_bits()
    );
}

#[test]
fn null_pointers_give_null_pointer() {
    let blobs: Vec<Aligned> = all_blobs().iter().map(|(_, b)| Aligned::new(b)).collect();
    let (mlp_bytes, maf_bytes) = (blobs[0].bytes(), blobs[1].bytes());
    let mut storage = MaybeUninit::<FgModel>::uninit();
    // SAFETY: null pointers are the point; the non-null ones are valid.
    unsafe {
        assert_eq!(
            fg_model_open(null(), maf_bytes.len(), storage.as_mut_ptr()),
            NULL_POINTER
        );
        assert_eq!(fg_model_open(null(), 0, storage.as_mut_ptr()), NULL_POINTER);
        assert_eq!(
            fg_model_open(maf_bytes.as_ptr(), maf_bytes.len(), null_mut()),
            NULL_POINTER
        );
        assert_eq!(fg_model_kind(null()), NULL_POINTER);
        assert_eq!(fg_model_dim(null()), 0);
        assert_eq!(fg_model_features(null()), 0);
        assert_eq!(fg_model_scratch_len(null()), 0);
    }

    let maf = Handle::open(maf_bytes).unwrap();
    let (x, f) = ([0.1f32, 0.2, 0.3], [0.5f32]);
    let mut s = vec![0.0; maf.scratch_len()];
    let (sp, sl) = (s.as_mut_ptr(), s.len());
    let mut out = 0.0f32;
    let mut samples = [0.0f32; 6];
    // SAFETY: as above.
    unsafe {
        let m = maf.ptr();
        let lp = |m, x: *const f32, xl, f: *const f32, fl, s: *mut f32, sl, o: *mut f32| {
            fg_log_prob(m, x, xl, f, fl, s, sl, o)
        };
        assert_eq!(
            lp(null(), x.as_ptr(), 3, f.as_ptr(), 1, sp, sl, &mut out),
            NULL_POINTER
        );
        assert_eq!(
            lp(m, null(), 3, f.as_ptr(), 1, sp, sl, &mut out),
            NULL_POINTER
        );
        assert_eq!(
            lp(m, x.as_ptr(), 3, null(), 1, sp, sl, &mut out),
            NULL_POINTER
        );
        assert_eq!(
            lp(m, x.as_ptr(), 3, f.as_ptr(), 1, null_mut(), sl, &mut out),
            NULL_POINTER
        );
        assert_eq!(
            lp(m, x.as_ptr(), 3, f.as_ptr(), 1, sp, sl, null_mut()),
            NULL_POINTER
        );
        // A null pointer with a zero length is an empty slice: the lengths
        // are then what is wrong.
        assert_eq!(
            lp(m, null(), 0, f.as_ptr(), 1, sp, sl, &mut out),
            Error::InputLength {
                what: "x",
                expected: 3,
                got: 0
            }
            .code()
        );
        assert_eq!(lp(m, x.as_ptr(), 3, null(), 0, sp, sl, &mut out), -11);
        assert_eq!(
            lp(m, x.as_ptr(), 3, f.as_ptr(), 1, null_mut(), 0, &mut out),
            -10
        );
        assert_eq!(lp(m, x.as_ptr(), 3, f.as_ptr(), 1, sp, sl, &mut out), 0);

        let smp = samples.as_mut_ptr();
        assert_eq!(
            fg_sample(null(), f.as_ptr(), 1, 2, 0, smp, 6, sp, sl),
            NULL_POINTER
        );
        assert_eq!(fg_sample(m, null(), 1, 2, 0, smp, 6, sp, sl), NULL_POINTER);
        assert_eq!(
            fg_sample(m, f.as_ptr(), 1, 2, 0, null_mut(), 6, sp, sl),
            NULL_POINTER
        );
        assert_eq!(
            fg_sample(m, f.as_ptr(), 1, 2, 0, smp, 6, null_mut(), sl),
            NULL_POINTER
        );
        assert_eq!(fg_sample(m, f.as_ptr(), 1, 0, 0, null_mut(), 0, sp, sl), 0);
        assert_eq!(
            fg_sample(m, f.as_ptr(), 1, 2, 0, null_mut(), 0, sp, sl),
            -11
        );
        assert_eq!(fg_sample(m, f.as_ptr(), 1, 2, 0, smp, 6, sp, sl), 0);
    }

    let mlp = Handle::open(mlp_bytes).unwrap();
    let mut s = vec![0.0; mlp.scratch_len()];
    let (sp, sl) = (s.as_mut_ptr(), s.len());
    let x = [0.1f32, 0.2, 0.3];
    let mut y = [0.0f32; 2];
    // SAFETY: as above.
    unsafe {
        let m = mlp.ptr();
        let yp = y.as_mut_ptr();
        assert_eq!(
            fg_mlp_forward(null(), x.as_ptr(), 3, yp, 2, sp, sl),
            NULL_POINTER
        );
        assert_eq!(fg_mlp_forward(m, null(), 3, yp, 2, sp, sl), NULL_POINTER);
        assert_eq!(
            fg_mlp_forward(m, x.as_ptr(), 3, null_mut(), 2, sp, sl),
            NULL_POINTER
        );
        assert_eq!(
            fg_mlp_forward(m, x.as_ptr(), 3, yp, 2, null_mut(), sl),
            NULL_POINTER
        );
        assert_eq!(fg_mlp_forward(m, x.as_ptr(), 3, yp, 2, sp, sl), 0);
    }
}

/// `fg_model_open` returns `Error::code()` of the error `Model::from_bytes`
/// gives, for every framing and validation error.
#[test]
fn bad_blobs_give_their_error_codes() {
    let blob = all_blobs()[1].1.clone();
    let n = blob.len();
    let mut cases: Vec<(&str, Vec<u8>, i32)> = vec![
        ("truncated preamble", blob[..10].to_vec(), -1),
        ("truncated body", blob[..n - 1].to_vec(), -1),
        ("trailing byte", [&blob[..], &[0u8][..]].concat(), -2),
        ("bad magic", [&b"fgrt"[..], &blob[4..]].concat(), -3),
        (
            "bad checksum",
            {
                let mut b = blob.clone();
                b[n - 10] ^= 0x10;
                b
            },
            -7,
        ),
        ("inconsistent", with_words(&blob, |w| w[0] = 0), -9),
    ];
    let mut parts = split(&blob);
    parts.version = 3;
    cases.push(("version 3", common_esp::frame(&parts), -4));
    parts.version = 1;
    parts.kind = 7;
    cases.push(("kind 7", common_esp::frame(&parts), -5));
    for (case, bytes, code) in &cases {
        let stored = Aligned::new(bytes);
        let err = Model::from_bytes(stored.bytes()).unwrap_err();
        assert_eq!(err.code(), *code, "{case}: {err}");
        assert_eq!(open_code(stored.bytes()), *code, "{case}");
    }
    // Misaligned: the blob one byte into a buffer of u32 words.
    let stored = Aligned::at_offset(&blob, 1);
    assert_eq!(open_code(stored.bytes()), Error::Misaligned.code());
    assert_eq!(open_code(stored.bytes()), -8);
    // An empty (non-null) blob is truncated.
    assert_eq!(open_code(&stored.bytes()[..0]), -1);
}

#[test]
fn wrong_kind_scratch_and_length_codes() {
    let blobs: Vec<Aligned> = all_blobs().iter().map(|(_, b)| Aligned::new(b)).collect();
    let mlp = Handle::open(blobs[0].bytes()).unwrap();
    let maf = Handle::open(blobs[1].bytes()).unwrap();
    let mdn = Handle::open(blobs[2].bytes()).unwrap();
    let wrong = Error::WrongKind {
        expected: Kind::Mlp,
        found: Kind::Maf,
    }
    .code();
    assert_eq!(wrong, -6);
    let mut s = vec![0.0; 4096];
    assert_eq!(maf.forward(&[0.0; 3], &mut [0.0; 1], &mut s), wrong);
    assert_eq!(mdn.forward(&[0.0; 2], &mut [0.0; 1], &mut s), wrong);
    assert_eq!(mlp.log_prob(&[0.0; 3], &[0.0; 2], &mut s), Err(wrong));
    assert_eq!(mlp.sample(&[0.0; 2], 1, 0, &mut [0.0; 3], &mut s), wrong);

    let need = maf.scratch_len();
    assert_eq!(
        maf.log_prob(&[0.0; 3], &[0.0], &mut s[..need - 1]),
        Err(-10)
    );
    assert_eq!(
        maf.sample(&[0.0], 1, 0, &mut [0.0; 3], &mut s[..need - 1]),
        -10
    );
    let need = mlp.scratch_len();
    assert_eq!(
        mlp.forward(&[0.0; 3], &mut [0.0; 2], &mut s[..need - 1]),
        -10
    );
    let need = mdn.scratch_len();
    assert_eq!(
        mdn.log_prob(&[0.0; 2], &[0.0], &mut s[..need - 1]),
        Err(-10)
    );

    assert_eq!(maf.log_prob(&[0.0; 2], &[0.0], &mut s), Err(-11));
    assert_eq!(maf.log_prob(&[0.0; 3], &[0.0; 2], &mut s), Err(-11));
    assert_eq!(maf.sample(&[0.0], 2, 0, &mut [0.0; 3], &mut s), -11);
    assert_eq!(
        mdn.sample(&[0.0], usize::MAX, 0, &mut [0.0; 2], &mut s),
        -11
    );
    assert_eq!(mlp.forward(&[0.0; 3], &mut [0.0; 3], &mut s), -11);
    assert_eq!(mlp.forward(&[0.0; 4], &mut [0.0; 2], &mut s), -11);
}

// ------------------------------------------------------------------- real C

/// A fresh directory for this process's C files.
fn c_dir(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("esp_capi")
        .join(format!("{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A C file that uses the header's blob and every API function.
const USE_API: &str = r#"#include "model.h"
int use_api(float *scratch, size_t scratch_len, float *out, size_t out_len) {
    fg_model m;
    float x[4] = {0}, f[4] = {0}, lp = 0;
    int32_t rc = fg_model_open(test_model, test_model_LEN, &m);
    if (rc != FG_OK) return rc;
    if (fg_model_kind(&m) == FG_KIND_MLP)
        return fg_mlp_forward(&m, x, fg_model_dim(&m), out, out_len, scratch, scratch_len);
    if (fg_model_scratch_len(&m) > scratch_len) return FG_SCRATCH_TOO_SMALL;
    rc = fg_log_prob(&m, x, fg_model_dim(&m), f, fg_model_features(&m), scratch, scratch_len, &lp);
    if (rc != FG_OK) return rc;
    return fg_sample(&m, f, fg_model_features(&m), 1, 42u, out, out_len, scratch, scratch_len);
}
"#;

/// The generated header compiles as C99 with every warning an error (and
/// as C++ when a C++ compiler is around, for the `extern "C"` guards).
#[test]
fn c_header_compiles() {
    if !have("cc") {
        eprintln!("NOTE: cc is not on PATH: the generated C header was not compiled");
        return;
    }
    let dir = c_dir("compile");
    for (name, blob) in all_blobs() {
        std::fs::write(
            dir.join("model.h"),
            export::c_header(&blob, "test_model", "test"),
        )
        .unwrap();
        std::fs::write(dir.join("use.c"), USE_API).unwrap();
        run(Command::new("cc")
            .args([
                "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", "use.c", "-o",
            ])
            .arg(format!("use-{name}.o"))
            .current_dir(&dir));
        // Included twice (the guards), and as C++.
        std::fs::write(
            dir.join("twice.c"),
            format!("#include \"model.h\"\n{USE_API}"),
        )
        .unwrap();
        run(Command::new("cc")
            .args([
                "-std=c99", "-Wall", "-Werror", "-c", "twice.c", "-o", "twice.o",
            ])
            .current_dir(&dir));
        if have("c++") {
            std::fs::write(dir.join("use.cc"), USE_API).unwrap();
            run(Command::new("c++")
                .args([
                    "-std=c++11",
                    "-Wall",
                    "-Werror",
                    "-c",
                    "use.cc",
                    "-o",
                    "use-cc.o",
                ])
                .current_dir(&dir));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The generated header is also the only place the C declarations live, so
/// a translation unit that calls the API without using the blob includes
/// it too, and must still compile with `-Wall -Werror` (gcc's
/// `-Wunused-const-variable` spares `static const` arrays from headers).
#[test]
fn c_header_without_using_the_blob_compiles() {
    if !have("cc") {
        eprintln!("NOTE: cc is not on PATH: the generated C header was not compiled");
        return;
    }
    let dir = c_dir("unused");
    std::fs::write(
        dir.join("model.h"),
        export::c_header(&mlp_blob(), "test_model", "test"),
    )
    .unwrap();
    std::fs::write(
        dir.join("api_only.c"),
        "#include \"model.h\"\nsize_t dim_of(const fg_model *m) { return fg_model_dim(m); }\n",
    )
    .unwrap();
    run(Command::new("cc")
        .args([
            "-std=c99",
            "-Wall",
            "-Werror",
            "-c",
            "api_only.c",
            "-o",
            "api_only.o",
        ])
        .current_dir(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `no_std` staticlib of the runtime for the host: ferrograd-esp itself
/// has no panic handler, and its dependency ferrograd-tensor links `alloc`
/// (so a global allocator is required even though the runtime never
/// allocates). This wrapper supplies both — the handler aborts, the
/// allocator always fails — and re-exports the C ABI.
/// Builds the committed C-ABI staticlib crate (`esp-runtime/staticlib`, its
/// own workspace) into the test's temporary target dir and returns the
/// library's path. Offline: its dependencies are the workspace's, already
/// downloaded.
fn build_staticlib() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("esp_capi_staticlib");
    let manifest =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../esp-runtime/staticlib/Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo)
        .args([
            "build",
            "--release",
            "--offline",
            "--locked",
            "--quiet",
            "--manifest-path",
        ])
        .arg(manifest)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS"));
    target.join("release/libferrograd_esp_c.a")
}

/// C array initialisers of f32 bits.
fn c_bits(v: &[f32]) -> String {
    if v.is_empty() {
        return "0".into();
    }
    v.iter()
        .map(|x| format!("0x{:08x}u", x.to_bits()))
        .collect::<Vec<_>>()
        .join(", ")
}

const POINTS: usize = 8;
const SAMPLES: usize = 3;
const SEED: u64 = 0x5eed_f00d_1234_5678;

/// The C test program for one model: prints the kind, sizes, one line per
/// point (log-density bits, or MLP output bits), the samples, and the codes
/// of a few failing calls.
fn c_program(dim: usize, features: usize, xs: &[f32], fs: &[f32]) -> String {
    format!(
        r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

static const uint32_t xs_bits[] = {{ {xs} }};
static const uint32_t fs_bits[] = {{ {fs} }};
/* The blob one byte into a word buffer, for FG_MISALIGNED. */
static uint32_t shifted[test_model_LEN / 4 + 2];

static uint32_t bits(float v) {{ uint32_t u; memcpy(&u, &v, 4); return u; }}

int main(void) {{
    fg_model m;
    size_t dim, nf, ns, i, j;
    float *scratch, *x, *f, *out;
    int32_t rc = fg_model_open(test_model, test_model_LEN, &m);
    printf("open %d\n", (int)rc);
    if (rc != FG_OK) return 1;
    dim = fg_model_dim(&m);
    nf = fg_model_features(&m);
    ns = fg_model_scratch_len(&m);
    if (dim != {dim} || nf != {features}) return 2;
    printf("kind %d dim %u features %u scratch %u\n", (int)fg_model_kind(&m),
           (unsigned)dim, (unsigned)nf, (unsigned)ns);
    scratch = malloc((ns + 1) * sizeof(float));
    x = malloc((dim + 1) * sizeof(float));
    f = malloc((nf + 1) * sizeof(float));
    out = malloc(({samples} * (dim > nf ? dim : nf) + 1) * sizeof(float));
    for (i = 0; i < {points}; i++) {{
        memcpy(x, &xs_bits[i * dim], dim * sizeof(float));
        if (fg_model_kind(&m) == FG_KIND_MLP) {{
            rc = fg_mlp_forward(&m, x, dim, out, nf, scratch, ns);
            printf("out %u %d", (unsigned)i, (int)rc);
            for (j = 0; j < nf; j++) printf(" %08x", (unsigned)bits(out[j]));
            printf("\n");
        }} else {{
            float lp = 0;
            memcpy(f, &fs_bits[i * nf], nf * sizeof(float));
            rc = fg_log_prob(&m, x, dim, f, nf, scratch, ns, &lp);
            printf("lp %u %d %08x\n", (unsigned)i, (int)rc, (unsigned)bits(lp));
        }}
    }}
    if (fg_model_kind(&m) != FG_KIND_MLP) {{
        memcpy(f, fs_bits, nf * sizeof(float));
        rc = fg_sample(&m, f, nf, {samples}, {seed}ull, out, {samples} * dim, scratch, ns);
        printf("sample %d", (int)rc);
        for (j = 0; j < {samples} * dim; j++) printf(" %08x", (unsigned)bits(out[j]));
        printf("\n");
        printf("wrong_kind %d\n", (int)fg_mlp_forward(&m, x, dim, out, 1, scratch, ns));
        printf("scratch_too_small %d\n", (int)fg_log_prob(&m, x, dim, f, nf, scratch, ns - 1, out));
        printf("input_length %d\n", (int)fg_log_prob(&m, x, dim + 1, f, nf, scratch, ns, out));
    }} else {{
        printf("wrong_kind %d\n", (int)fg_log_prob(&m, x, dim, f, 0, scratch, ns, out));
        printf("scratch_too_small %d\n", (int)fg_mlp_forward(&m, x, dim, out, nf, scratch, ns - 1));
        printf("input_length %d\n", (int)fg_mlp_forward(&m, x, dim, out, nf + 1, scratch, ns));
    }}
    printf("null %d\n", (int)fg_model_open(NULL, test_model_LEN, &m));
    printf("truncated %d\n", (int)fg_model_open(test_model, test_model_LEN - 1, &m));
    memcpy((uint8_t *)shifted + 1, test_model, test_model_LEN);
    printf("misaligned %d\n", (int)fg_model_open((uint8_t *)shifted + 1, test_model_LEN, &m));
    free(scratch); free(x); free(f); free(out);
    return 0;
}}
"#,
        xs = c_bits(xs),
        fs = c_bits(fs),
        points = POINTS,
        samples = SAMPLES,
        seed = SEED,
    )
}

/// What the C program must print, computed with the Rust API.
fn expected_output(model: &Model<'_>, xs: &[f32], fs: &[f32]) -> String {
    let (dim, nf, ns) = (model.dim(), model.features(), model.scratch_len());
    let hex = |v: &[f32]| {
        v.iter()
            .map(|x| format!(" {:08x}", x.to_bits()))
            .collect::<String>()
    };
    let mut s = format!(
        "open 0\nkind {} dim {dim} features {nf} scratch {ns}\n",
        model.kind() as i32
    );
    let mut scratch = vec![0.0; ns];
    for i in 0..POINTS {
        let x = &xs[i * dim..(i + 1) * dim];
        match model {
            Model::Mlp(m) => {
                let mut out = vec![0.0; nf];
                m.forward(x, &mut out, &mut scratch).unwrap();
                s += &format!("out {i} 0{}\n", hex(&out));
            }
            _ => {
                let f = &fs[i * nf..(i + 1) * nf];
                let lp = model.log_prob(x, f, &mut scratch).unwrap();
                s += &format!("lp {i} 0 {:08x}\n", lp.to_bits());
            }
        }
    }
    if !matches!(model, Model::Mlp(_)) {
        let mut out = vec![0.0; SAMPLES * dim];
        model
            .sample(&fs[..nf], SAMPLES, &mut out, SEED, &mut scratch)
            .unwrap();
        s += &format!("sample 0{}\n", hex(&out));
    }
    s += "wrong_kind -6\nscratch_too_small -10\ninput_length -11\nnull -12\ntruncated -1\nmisaligned -8\n";
    s
}

/// A C program including the generated header, linked against a host
/// staticlib of the runtime, prints bit for bit what the Rust API computes
/// (and the runtime never touches the heap: the staticlib's allocator
/// always fails, which would abort).
#[test]
fn c_program_links_and_matches_rust() {
    if !have("cc") {
        eprintln!("NOTE: cc is not on PATH: the C program was not built");
        return;
    }
    let lib = build_staticlib();
    let dir = c_dir("link");
    let mut blobs = vec![("mlp".to_string(), mlp_blob())];
    blobs.extend(density_blobs());
    for (name, blob) in blobs {
        let stored = Aligned::new(&blob);
        let model = Model::from_bytes(stored.bytes()).unwrap();
        let (dim, nf) = (model.dim(), model.features());
        // (For an MLP, `features` is the output width: the C program's
        // feature table is then zeros it never reads.)
        let pts = points(POINTS, dim, nf, 77);
        let xs: Vec<f32> = pts.iter().flat_map(|(x, _)| x.clone()).collect();
        let mut fs: Vec<f32> = pts.iter().flat_map(|(_, f)| f.clone()).collect();
        if matches!(model, Model::Mlp(_)) {
            fs.fill(0.0);
        }
        std::fs::write(
            dir.join("model.h"),
            export::c_header(&blob, "test_model", &name),
        )
        .unwrap();
        std::fs::write(dir.join("main.c"), c_program(dim, nf, &xs, &fs)).unwrap();
        let exe = dir.join(format!("prog-{name}"));
        run(Command::new("cc")
            .args(["-std=c99", "-Wall", "-Werror", "main.c"])
            .arg(&lib)
            .arg("-o")
            .arg(&exe)
            .current_dir(&dir));
        let printed = run(&mut Command::new(&exe));
        assert_eq!(printed, expected_output(&model, &xs, &fs), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
