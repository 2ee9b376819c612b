//! Rollout files in HDF5 (feature `hdf5`, crate `hdf5-metno`, the system
//! library libhdf5):
//!
//! ```text
//! rollout_data.h5
//! ├── metadata                  (group, optional)
//! ├── parameter_names           (dataset of strings)
//! ├── param_0                   (group)
//! │   ├── param_state           (dataset (P,), f64 or f32, parameter_names order)
//! │   ├── success               (attribute, bool)
//! │   └── metabolic/cot/MA/mean (attribute; the name contains slashes)
//! ├── param_1, param_2, ...
//! ```
//!
//! Strings may be variable-length (UTF-8 or ASCII, h5py's default) or
//! fixed-length (NumPy `S` arrays); `success` a NumPy bool (h5py's
//! `FALSE`/`TRUE` enum), an integer or a float. Every error names the file,
//! the group and the label.
//!
//! [`read_rollouts`] reads in the calling process, for trusted files only:
//! libhdf5 itself can crash, hang or allocate gigabytes on a corrupt file
//! (`fuzz/open-crashers/`). Everything else ([`super::data::load`],
//! `ferrograd regress train`) reads through
//! [`super::h5_child::read_rollouts_isolated`], which runs it in a forked
//! child. The checks here (sizes bounded by the file's length before
//! anything is read, finite f32 values) are what the `hdf5_structure` fuzz
//! target exercises on well-formed files of every odd layout.

use super::config::AttrMap;
use super::data::{input_columns, Rollouts, Samples};
use ferrograd_nn::{Error, Result};
use ferrograd_tensor::Tensor;
use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use std::path::Path;
use std::str::FromStr;

fn format_error(path: &Path, problem: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// The number of elements of a dataset or attribute, refused when more than
/// `limit`: a header may claim any dimensions (a chunked dataset with no
/// chunks written is tiny on disk), and the reader allocates them all.
/// `shape` is the container's dimensions (their product is checked here:
/// `Container::size` multiplies without a check).
fn bounded(shape: &[usize], limit: usize, what: &str) -> std::result::Result<usize, String> {
    match shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
        Some(size) if size <= limit => Ok(size),
        _ => Err(format!(
            "{what} claims {shape:?} elements, more than the file's {limit} bytes can hold"
        )),
    }
}

/// The strings of a 1-D dataset of any HDF5 string type, at most `limit`.
fn read_strings(ds: &hdf5::Dataset, limit: usize) -> std::result::Result<Vec<String>, String> {
    bounded(&ds.shape(), limit, "the dataset")?;
    let descr = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| format!("unreadable type: {e}"))?;
    let e = |e: hdf5::Error| format!("unreadable: {e}");
    Ok(match descr {
        TypeDescriptor::VarLenUnicode => ds
            .read_raw::<VarLenUnicode>()
            .map_err(e)?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        TypeDescriptor::VarLenAscii => ds
            .read_raw::<VarLenAscii>()
            .map_err(e)?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        TypeDescriptor::FixedAscii(_) => ds
            .read_raw::<FixedAscii<256>>()
            .map_err(e)?
            .iter()
            .map(|s| s.as_str().trim_end_matches('\0').to_string())
            .collect(),
        TypeDescriptor::FixedUnicode(_) => ds
            .read_raw::<FixedUnicode<256>>()
            .map_err(e)?
            .iter()
            .map(|s| s.as_str().trim_end_matches('\0').to_string())
            .collect(),
        other => return Err(format!("holds {other}, not strings")),
    })
}

fn is_number(d: &TypeDescriptor) -> bool {
    matches!(
        d,
        TypeDescriptor::Float(_) | TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)
    )
}

/// The `param_N` groups of a file, in the order of N.
fn rollout_groups(file: &hdf5::File) -> std::result::Result<Vec<String>, String> {
    let mut groups: Vec<(u64, String)> = file
        .member_names()
        .map_err(|e| format!("cannot list the groups: {e}"))?
        .into_iter()
        .filter_map(|n| {
            n.strip_prefix("param_")
                .and_then(|i| i.parse::<u64>().ok())
                .map(|i| (i, n.clone()))
        })
        .collect();
    groups.sort();
    Ok(groups.into_iter().map(|(_, n)| n).collect())
}

fn read_success(g: &hdf5::Group, gname: &str) -> std::result::Result<bool, String> {
    let Ok(a) = g.attr("success") else {
        return Ok(true);
    };
    let bad = |e: hdf5::Error| format!("group '{gname}': attribute 'success' is unreadable: {e}");
    let d = a.dtype().and_then(|t| t.to_descriptor()).map_err(bad)?;
    match d {
        TypeDescriptor::Boolean => a.read_scalar::<bool>().map_err(bad),
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => {
            Ok(a.read_scalar::<i64>().map_err(bad)? != 0)
        }
        TypeDescriptor::Float(_) => Ok(a.read_scalar::<f64>().map_err(bad)? != 0.0),
        other => Err(format!(
            "group '{gname}': attribute 'success' is {other}, not a bool"
        )),
    }
}

fn read_output(
    g: &hdf5::Group,
    gname: &str,
    label: &str,
    attr: &str,
) -> std::result::Result<f64, String> {
    let names = g.attr_names().unwrap_or_default();
    if !names.iter().any(|n| n == attr) {
        return Err(format!(
            "group '{gname}' has no attribute '{attr}' (output label '{label}'); its attributes: [{}]",
            names.join(", ")
        ));
    }
    let bad = |e: hdf5::Error| {
        format!("group '{gname}': attribute '{attr}' (output label '{label}') is unreadable: {e}")
    };
    let a = g.attr(attr).map_err(bad)?;
    let shape = a.shape();
    if shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) != Some(1) {
        return Err(format!(
            "group '{gname}': attribute '{attr}' (output label '{label}') has shape {shape:?}, \
             not one value"
        ));
    }
    let d = a.dtype().and_then(|t| t.to_descriptor()).map_err(bad)?;
    if !is_number(&d) {
        return Err(format!(
            "group '{gname}': attribute '{attr}' (output label '{label}') is {d}, not a number"
        ));
    }
    let v = a.read_raw::<f64>().map_err(bad)?;
    match v.as_slice() {
        [x] if x.is_finite() => Ok(*x),
        [x] => Err(format!(
            "group '{gname}': attribute '{attr}' (output label '{label}') is {x}, not finite"
        )),
        _ => Err(format!(
            "group '{gname}': attribute '{attr}' (output label '{label}') holds {} values, not one",
            v.len()
        )),
    }
}

/// The rows of one rollout file: `in_lbl` picked from each `param_state`
/// by `parameter_names`, `out_lbl` read from the attributes `attrs` maps
/// them to, unsuccessful rollouts skipped unless `include_failed`.
///
/// Trusted files only: this reads in the calling process, and a file
/// corrupt enough to crash libhdf5 itself (a signal in the C library)
/// brings the process down.
/// [`super::h5_child::read_rollouts_isolated`], which everything else
/// uses, reads it in a forked child process instead.
pub fn read_rollouts(
    path: &Path,
    in_lbl: &[String],
    out_lbl: &[String],
    attrs: &AttrMap,
    include_failed: bool,
) -> Result<Samples> {
    let file_len = std::fs::metadata(path)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let file = hdf5::File::open(path)
        .map_err(|e| format_error(path, format!("not a readable HDF5 file: {e}")))?;
    read_open(
        &file,
        path,
        file_len,
        in_lbl,
        out_lbl,
        attrs,
        include_failed,
    )
}

/// [`read_rollouts`] of a file already open (say, an in-memory file of the
/// core driver, as the `hdf5_structure` fuzz target writes): `path` names
/// it in errors; its size (`H5Fget_filesize`) bounds the dimensions read.
/// Trusted files only, as [`read_rollouts`].
pub fn read_rollouts_open(
    file: &hdf5::File,
    path: &Path,
    in_lbl: &[String],
    out_lbl: &[String],
    attrs: &AttrMap,
    include_failed: bool,
) -> Result<Samples> {
    let size = file.size();
    read_open(file, path, size, in_lbl, out_lbl, attrs, include_failed)
}

fn read_open(
    file: &hdf5::File,
    path: &Path,
    file_len: u64,
    in_lbl: &[String],
    out_lbl: &[String],
    attrs: &AttrMap,
    include_failed: bool,
) -> Result<Samples> {
    let limit = usize::try_from(file_len).unwrap_or(usize::MAX);
    let bad = |p: String| format_error(path, p);
    let names_ds = file.dataset("parameter_names").map_err(|_| {
        bad("no 'parameter_names' dataset (the names of param_state's entries)".into())
    })?;
    let names =
        read_strings(&names_ds, limit).map_err(|p| bad(format!("'parameter_names' {p}")))?;
    let cols = input_columns(&names, in_lbl).map_err(&bad)?;
    let groups = rollout_groups(file).map_err(&bad)?;
    if groups.is_empty() {
        return Err(bad("no param_N groups (rollouts) in the file".into()));
    }
    let (mut x, mut y, mut skipped) = (Vec::new(), Vec::new(), 0);
    for gname in &groups {
        let g = file
            .group(gname)
            .map_err(|e| bad(format!("'{gname}' is not a readable group: {e}")))?;
        if !read_success(&g, gname).map_err(&bad)? && !include_failed {
            skipped += 1;
            continue;
        }
        let ds = g
            .dataset("param_state")
            .map_err(|_| bad(format!("group '{gname}' has no 'param_state' dataset")))?;
        let d = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(|e| bad(format!("group '{gname}': 'param_state' is unreadable: {e}")))?;
        if !is_number(&d) {
            return Err(bad(format!(
                "group '{gname}': 'param_state' is {d}, not numbers"
            )));
        }
        // Checked before reading: the dimensions may claim any size.
        let size = bounded(&ds.shape(), limit, "'param_state'")
            .map_err(|p| bad(format!("group '{gname}': {p}")))?;
        if size != names.len() {
            return Err(bad(format!(
                "group '{gname}': 'param_state' has {size} values for {} parameter_names",
                names.len()
            )));
        }
        let state = ds
            .read_raw::<f64>()
            .map_err(|e| bad(format!("group '{gname}': 'param_state' is unreadable: {e}")))?;
        if state.len() != names.len() {
            return Err(bad(format!(
                "group '{gname}': 'param_state' has {} values for {} parameter_names",
                state.len(),
                names.len()
            )));
        }
        for (&c, l) in cols.iter().zip(in_lbl) {
            // Checked after the cast: a finite f64 such as 1e300 is an
            // infinite f32 (found by the hdf5 fuzz target).
            let v = state[c] as f32;
            if !v.is_finite() {
                return Err(bad(format!(
                    "group '{gname}': input '{l}' (param_state[{c}]) is {}, not a finite f32",
                    state[c]
                )));
            }
            x.push(v);
        }
        for l in out_lbl {
            let attr = attrs.attribute(l);
            let v = read_output(&g, gname, l, attr).map_err(&bad)?;
            if !(v as f32).is_finite() {
                return Err(bad(format!(
                    "group '{gname}': attribute '{attr}' (output label '{l}') is {v}, too large \
                     for f32"
                )));
            }
            y.push(v as f32);
        }
    }
    let n = x.len() / in_lbl.len();
    Ok(Samples {
        in_names: in_lbl.to_vec(),
        out_names: out_lbl.to_vec(),
        x: Tensor::from_vec(x, &[n, in_lbl.len()])?,
        y: Tensor::from_vec(y, &[n, out_lbl.len()])?,
        skipped_failed: skipped,
    })
}

/// How [`write_rollouts`] stores its values (the variants files written by
/// h5py have).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `parameter_names` as fixed-length ASCII (NumPy `S`) instead of
    /// variable-length UTF-8.
    pub fixed_strings: bool,
    /// `param_state` as f32 instead of f64.
    pub f32_state: bool,
}

fn write_file(path: &Path, r: &Rollouts, opts: WriteOptions) -> hdf5::Result<()> {
    let file = hdf5::File::create(path)?;
    let meta = file.create_group("metadata")?;
    meta.new_attr::<VarLenUnicode>()
        .create("generator")?
        .write_scalar(
            &VarLenUnicode::from_str("ferrograd regress make-data").map_err(|e| e.to_string())?,
        )?;
    if opts.fixed_strings {
        let names = r
            .parameter_names
            .iter()
            .map(|s| FixedAscii::<32>::from_ascii(s.as_bytes()).map_err(|e| e.to_string()))
            .collect::<std::result::Result<Vec<_>, String>>()?;
        file.new_dataset_builder()
            .with_data(&names[..])
            .create("parameter_names")?;
    } else {
        let names = r
            .parameter_names
            .iter()
            .map(|s| VarLenUnicode::from_str(s).map_err(|e| e.to_string()))
            .collect::<std::result::Result<Vec<_>, String>>()?;
        file.new_dataset_builder()
            .with_data(&names[..])
            .create("parameter_names")?;
    }
    for (i, state) in r.states.iter().enumerate() {
        let g = file.create_group(&format!("param_{i}"))?;
        if opts.f32_state {
            let s: Vec<f32> = state.iter().map(|&v| v as f32).collect();
            g.new_dataset_builder()
                .with_data(&s[..])
                .create("param_state")?;
        } else {
            g.new_dataset_builder()
                .with_data(&state[..])
                .create("param_state")?;
        }
        g.new_attr::<bool>()
            .create("success")?
            .write_scalar(&r.success[i])?;
        for (name, values) in &r.attributes {
            g.new_attr::<f64>()
                .create(name.as_str())?
                .write_scalar(&values[i])?;
        }
    }
    file.flush()?;
    Ok(())
}

/// Writes `r` as a rollout file at `path` (through a temporary file renamed
/// into place, so a reader never sees half a file).
pub fn write_rollouts(path: &Path, r: &Rollouts, opts: WriteOptions) -> Result<()> {
    let temp = ferrograd_nn::atomic::temp_path(path)?;
    write_file(temp.path(), r, opts)
        .map_err(|e| format_error(path, format!("cannot write the HDF5 file: {e}")))?;
    ferrograd_nn::atomic::commit(temp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regress::data::{synthetic, SYNTHETIC_ATTR};

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ferrograd-h5-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn round_trip_in_every_string_and_float_variant() {
        let d = dir("roundtrip");
        let r = synthetic(50, 9);
        let want = r
            .select(
                &s(&["gait_cadence", "gait_stride"]),
                &s(&["cot_ma15"]),
                &AttrMap::default(),
                false,
            )
            .unwrap();
        for (i, opts) in [
            WriteOptions::default(),
            WriteOptions {
                fixed_strings: true,
                f32_state: false,
            },
            WriteOptions {
                fixed_strings: false,
                f32_state: true,
            },
        ]
        .into_iter()
        .enumerate()
        {
            let p = d.join(format!("r{i}.h5"));
            write_rollouts(&p, &r, opts).unwrap();
            let got = read_rollouts(
                &p,
                &s(&["gait_cadence", "gait_stride"]),
                &s(&["cot_ma15"]),
                &AttrMap::default(),
                false,
            )
            .unwrap();
            assert_eq!(got.skipped_failed, want.skipped_failed);
            assert_eq!(got.y.data(), want.y.data());
            assert!(got.x.max_abs_diff(&want.x) < 1e-6, "{opts:?}");
            let all = read_rollouts(
                &p,
                &s(&["gait_width"]),
                &s(&["cot_ma15"]),
                &AttrMap::default(),
                true,
            )
            .unwrap();
            assert_eq!((all.len(), all.skipped_failed), (50, 0));
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Files written by h5py and NumPy (`tests/data/make_h5py_rollouts.py`):
    /// variable-length UTF-8 and fixed-length ASCII names, f64 and f32
    /// states, NumPy bool and int8 success flags, a missing flag.
    #[test]
    fn files_written_by_h5py_read() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        for (file, rows, skipped) in [("h5py_vlen.h5", 11, 1), ("h5py_fixed.h5", 7, 1)] {
            let got = read_rollouts(
                &data.join(file),
                &s(&["gait_cadence", "gait_stride"]),
                &s(&["cot_ma15"]),
                &AttrMap::default(),
                false,
            )
            .unwrap();
            assert_eq!((got.len(), got.skipped_failed), (rows, skipped), "{file}");
            for (x, y) in got.x.data().chunks_exact(2).zip(got.y.data()) {
                let want = 3.0 + x[1] - x[0] / 2.0;
                assert!((y - want).abs() < 1e-5, "{file}: {y} vs {want}");
                assert!((1.2..2.4).contains(&x[0]) && (0.8..1.8).contains(&x[1]));
            }
        }
    }

    #[test]
    fn errors_name_the_file_group_and_label() {
        let d = dir("errors");
        let mut r = synthetic(5, 1);
        r.success = vec![true; 5];
        let p = d.join("ok.h5");
        write_rollouts(&p, &r, WriteOptions::default()).unwrap();
        let read = |p: &Path, inp: &[&str], out: &[&str]| {
            read_rollouts(p, &s(inp), &s(out), &AttrMap::default(), false)
                .unwrap_err()
                .to_string()
        };
        let e = read(&p, &["gait_speed"], &["cot_ma15"]);
        assert!(
            e.contains("ok.h5") && e.contains("'gait_speed'") && e.contains("gait_stride"),
            "{e}"
        );
        let e = read(&p, &["gait_stride"], &["power"]);
        assert!(
            e.contains("param_0") && e.contains("'power'") && e.contains(SYNTHETIC_ATTR),
            "{e}"
        );
        let e = read(&d.join("missing.h5"), &["gait_stride"], &["cot_ma15"]);
        assert!(e.contains("missing.h5"), "{e}");
        let junk = d.join("junk.h5");
        std::fs::write(&junk, b"not hdf5 at all").unwrap();
        let e = read(&junk, &["gait_stride"], &["cot_ma15"]);
        assert!(e.contains("junk.h5") && e.contains("HDF5"), "{e}");
        // A group without param_state, and a non-numeric attribute.
        let odd = d.join("odd.h5");
        write_rollouts(&odd, &r, WriteOptions::default()).unwrap();
        {
            let f = hdf5::File::open_rw(&odd).unwrap();
            f.unlink("param_3/param_state").unwrap();
            f.group("param_0")
                .unwrap()
                .new_attr::<VarLenUnicode>()
                .create("note")
                .unwrap()
                .write_scalar(&VarLenUnicode::from_str("fast").unwrap())
                .unwrap();
        }
        let e = read(&odd, &["gait_stride"], &["cot_ma15"]);
        assert!(e.contains("param_3") && e.contains("param_state"), "{e}");
        let e = read_rollouts(
            &odd,
            &s(&["gait_stride"]),
            &s(&["speed"]),
            &"speed=note".parse().unwrap(),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("param_0") && e.contains("'note'") && e.contains("not a number"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// An in-memory file (the core driver without a backing store, as the
    /// `hdf5_structure` fuzz target writes) reads like one on disk, and its
    /// size bounds the claimed dimensions as the file's length does.
    #[test]
    fn in_memory_files_read_and_huge_claims_are_refused() {
        let create = |name: &str| {
            hdf5::File::with_options()
                .with_fapl(|p| p.core_filebacked(false))
                .create(name)
                .unwrap()
        };
        let f = create("ferrograd-h5-test-memory.h5");
        let names: Vec<VarLenUnicode> = ["gait_stride", "gait_cadence"]
            .iter()
            .map(|n| VarLenUnicode::from_str(n).unwrap())
            .collect();
        f.new_dataset_builder()
            .with_data(&names[..])
            .create("parameter_names")
            .unwrap();
        for (i, state) in [[1.0, 2.0], [3.0, 4.0]].iter().enumerate() {
            let g = f.create_group(&format!("param_{i}")).unwrap();
            g.new_dataset_builder()
                .with_data(&state[..])
                .create("param_state")
                .unwrap();
            g.new_attr::<f64>()
                .create(SYNTHETIC_ATTR)
                .unwrap()
                .write_scalar(&(i as f64))
                .unwrap();
        }
        let read = |f: &hdf5::File| {
            read_rollouts_open(
                f,
                Path::new("mem.h5"),
                &s(&["gait_cadence"]),
                &s(&["cot_ma15"]),
                &AttrMap::default(),
                false,
            )
        };
        let got = read(&f).unwrap();
        assert_eq!(got.x.data(), &[2.0, 4.0]);
        assert_eq!(got.y.data(), &[0.0, 1.0]);
        let g = f.create_group("param_2").unwrap();
        g.new_dataset::<f64>()
            .chunk(1024)
            .shape(1usize << 40)
            .create("param_state")
            .unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(
            e.contains("mem.h5") && e.contains("param_2") && e.contains("claims"),
            "{e}"
        );
    }

    /// Datasets and attributes whose dimensions claim 10¹² elements (a
    /// chunked dataset with no chunk written is a few KB on disk) are
    /// refused before anything is read: reading first would allocate 8 TB.
    #[test]
    fn huge_dimensions_are_refused_before_reading() {
        let d = dir("huge");
        let r = synthetic(2, 1);
        let read = |p: &Path| {
            read_rollouts(
                p,
                &s(&["gait_stride"]),
                &s(&["cot_ma15"]),
                &AttrMap::default(),
                true,
            )
            .unwrap_err()
            .to_string()
        };
        let huge = 1_000_000_000_000usize;
        let state = d.join("state.h5");
        write_rollouts(&state, &r, WriteOptions::default()).unwrap();
        {
            let f = hdf5::File::open_rw(&state).unwrap();
            let g = f.group("param_1").unwrap();
            g.unlink("param_state").unwrap();
            g.new_dataset::<f64>()
                .chunk(1024)
                .shape(huge)
                .create("param_state")
                .unwrap();
        }
        assert!(std::fs::metadata(&state).unwrap().len() < 1 << 20);
        let e = read(&state);
        assert!(e.contains("param_1") && e.contains("claims"), "{e}");
        let names = d.join("names.h5");
        write_rollouts(&names, &r, WriteOptions::default()).unwrap();
        {
            let f = hdf5::File::open_rw(&names).unwrap();
            f.unlink("parameter_names").unwrap();
            f.new_dataset::<VarLenUnicode>()
                .chunk(1024)
                .shape(huge)
                .create("parameter_names")
                .unwrap();
        }
        let e = read(&names);
        assert!(e.contains("parameter_names") && e.contains("claims"), "{e}");
        let attr = d.join("attr.h5");
        write_rollouts(&attr, &r, WriteOptions::default()).unwrap();
        {
            let f = hdf5::File::open_rw(&attr).unwrap();
            let g = f.group("param_0").unwrap();
            g.delete_attr(SYNTHETIC_ATTR).unwrap();
            g.new_attr::<f64>()
                .shape(3)
                .create(SYNTHETIC_ATTR)
                .unwrap()
                .write(&[1.0, 2.0, 3.0])
                .unwrap();
        }
        let e = read(&attr);
        assert!(e.contains("param_0") && e.contains("not one value"), "{e}");
        // Found by the hdf5 fuzz target: finite f64 values beyond the f32
        // range were read as infinities.
        let mut big = synthetic(2, 1);
        big.states[0][0] = 1e300;
        let p = d.join("big.h5");
        write_rollouts(&p, &big, WriteOptions::default()).unwrap();
        let e = read(&p);
        assert!(
            e.contains("param_0") && e.contains("not a finite f32"),
            "{e}"
        );
        let mut big = synthetic(2, 1);
        for (_, values) in &mut big.attributes {
            values[1] = -1e300;
        }
        write_rollouts(&p, &big, WriteOptions::default()).unwrap();
        let e = read(&p);
        assert!(
            e.contains("param_1") && e.contains("too large for f32"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
