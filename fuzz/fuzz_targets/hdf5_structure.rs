//! HDF5 rollout files of every odd layout, structure-aware: the input
//! decides the layout of a *well-formed* file, written with the hdf5 crate
//! into memory (the core driver, no backing store), and the in-process
//! reader `h5::read_rollouts_open` reads it, guided by the coverage of our
//! code: `parameter_names` missing, of vlen or fixed strings, of integers
//! or with a huge claimed dataspace; `param_N` groups (or datasets by that
//! name, odd numbers) with missing, wrong-typed, multi-dimensional, scalar
//! or huge chunked (no data written) `param_state`; `success` of every
//! type; outputs missing, wrong-typed, of several values; NaN, infinite and
//! huge values; empty groups. The reader must return rows of the asked
//! widths with finite values, or an error naming the file: no panic, no
//! unbounded allocation. (Corrupt bytes, which libhdf5 itself may crash
//! on, are the `hdf5` target's, read in a child process.)
#![no_main]
use ferrograd_models::regress::config::AttrMap;
use ferrograd_models::regress::h5::read_rollouts_open;
use hdf5::types::{FixedAscii, VarLenAscii, VarLenUnicode};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::str::FromStr;

/// The attribute of output `cot_ma15`.
const OUT_ATTR: &str = "metabolic/cot/MA/mean";
/// Claimed dimensions of the huge datasets (nothing is written).
const HUGE: [usize; 4] = [1 << 20, 1_000_000_000_000, 1 << 40, usize::MAX / 16];

/// The fuzz bytes as a stream of choices (zeros once they run out).
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn pick(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }
    fn value(&mut self) -> f64 {
        const ODD: [f64; 12] = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            3.5e38,
            -3.4e38,
            -0.0,
            1e-310,
            4e9,
        ];
        let b = self.byte();
        if b >= 0xf0 {
            ODD[usize::from(b - 0xf0) % ODD.len()]
        } else {
            f64::from(b) / 16.0 - 4.0
        }
    }
    fn name(&mut self) -> String {
        const NAMES: [&str; 6] = ["gait_stride", "gait_cadence", "gait_width", "", "x", "é"];
        NAMES[self.pick(NAMES.len())].to_string()
    }
}

fn vlen(s: &str) -> hdf5::Result<VarLenUnicode> {
    VarLenUnicode::from_str(s).map_err(|e| e.to_string().into())
}

fn write_names(f: &hdf5::File, c: &mut Choices) -> hdf5::Result<()> {
    let n = c.pick(6);
    let names: Vec<String> = (0..n).map(|_| c.name()).collect();
    match c.pick(7) {
        0 => {}
        1 => {
            let v = names
                .iter()
                .map(|s| vlen(s))
                .collect::<hdf5::Result<Vec<_>>>()?;
            f.new_dataset_builder()
                .with_data(&v[..])
                .create("parameter_names")?;
        }
        2 => {
            let v: Vec<VarLenAscii> = names
                .iter()
                .map(|s| VarLenAscii::from_ascii(s.as_bytes()).unwrap_or_default())
                .collect();
            f.new_dataset_builder()
                .with_data(&v[..])
                .create("parameter_names")?;
        }
        3 => {
            let v: Vec<FixedAscii<16>> = names
                .iter()
                .map(|s| FixedAscii::from_ascii(s.as_bytes()).unwrap_or_default())
                .collect();
            f.new_dataset_builder()
                .with_data(&v[..])
                .create("parameter_names")?;
        }
        4 => {
            let v: Vec<i32> = (0..n as i32).collect();
            f.new_dataset_builder()
                .with_data(&v[..])
                .create("parameter_names")?;
        }
        5 => {
            f.new_dataset::<VarLenUnicode>()
                .chunk(1024)
                .shape(HUGE[c.pick(HUGE.len())])
                .create("parameter_names")?;
        }
        _ => {
            // A group by that name.
            f.create_group("parameter_names")?;
        }
    }
    Ok(())
}

fn write_state(g: &hdf5::Group, c: &mut Choices) -> hdf5::Result<()> {
    let n = c.pick(6);
    let v: Vec<f64> = (0..n).map(|_| c.value()).collect();
    match c.pick(9) {
        0 => {}
        1 | 2 => {
            g.new_dataset_builder()
                .with_data(&v[..])
                .create("param_state")?;
        }
        3 => {
            let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            g.new_dataset_builder()
                .with_data(&v[..])
                .create("param_state")?;
        }
        4 => {
            let v: Vec<i64> = v.iter().map(|&x| x as i64).collect();
            g.new_dataset_builder()
                .with_data(&v[..])
                .create("param_state")?;
        }
        5 => {
            let s = vlen("1.5")?;
            g.new_dataset_builder()
                .with_data(&[s.clone(), s][..])
                .create("param_state")?;
        }
        6 => {
            g.new_dataset::<f64>()
                .chunk(1024)
                .shape(HUGE[c.pick(HUGE.len())])
                .create("param_state")?;
        }
        7 => {
            let (a, b) = (1 + c.pick(3), 1 + c.pick(3));
            let vals: Vec<f64> = (0..a * b).map(|_| c.value()).collect();
            g.new_dataset::<f64>()
                .shape((a, b))
                .create("param_state")?
                .write_raw(&vals)?;
        }
        _ => {
            g.new_dataset::<f64>()
                .shape(())
                .create("param_state")?
                .write_scalar(&c.value())?;
        }
    }
    Ok(())
}

fn write_attr(g: &hdf5::Group, name: &str, c: &mut Choices) -> hdf5::Result<()> {
    match c.pick(8) {
        0 => {}
        1 | 2 => g.new_attr::<f64>().create(name)?.write_scalar(&c.value())?,
        3 => g
            .new_attr::<bool>()
            .create(name)?
            .write_scalar(&(c.byte() % 2 == 1))?,
        4 => g
            .new_attr::<i64>()
            .create(name)?
            .write_scalar(&(c.value() as i64))?,
        5 => g
            .new_attr::<f32>()
            .create(name)?
            .write_scalar(&(c.value() as f32))?,
        6 => g
            .new_attr::<VarLenUnicode>()
            .create(name)?
            .write_scalar(&vlen("yes")?)?,
        _ => {
            let n = c.pick(4);
            let v: Vec<f64> = (0..n).map(|_| c.value()).collect();
            g.new_attr::<f64>().shape(n).create(name)?.write_raw(&v)?;
        }
    }
    Ok(())
}

fn write_file(f: &hdf5::File, c: &mut Choices) -> hdf5::Result<()> {
    write_names(f, c)?;
    for i in 0..c.pick(6) {
        let name = match c.pick(8) {
            0 => "param_x".to_string(),
            1 => "param_99999999999999999999".to_string(),
            2 => format!("param_{}", c.byte()),
            _ => format!("param_{i}"),
        };
        if f.link_exists(&name) {
            continue;
        }
        if c.pick(10) == 0 {
            // A dataset where a group is expected.
            f.new_dataset_builder()
                .with_data(&[1.0f64][..])
                .create(name.as_str())?;
            continue;
        }
        let g = f.create_group(&name)?;
        write_state(&g, c)?;
        write_attr(&g, "success", c)?;
        write_attr(&g, OUT_ATTR, c)?;
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut c = Choices(data);
    let include_failed = c.byte() % 2 == 1;
    let inputs: Vec<String> = match c.pick(3) {
        0 => vec!["gait_stride".into(), "gait_cadence".into()],
        1 => vec!["gait_width".into()],
        _ => vec!["gait_cadence".into(), "gait_cadence".into(), "x".into()],
    };
    let outputs = vec!["cot_ma15".to_string()];
    let Ok(file) = hdf5::File::with_options()
        .with_fapl(|p| p.core_filebacked(false))
        .create("ferrograd-fuzz-structure.h5")
    else {
        panic!("cannot create an in-memory HDF5 file");
    };
    if write_file(&file, &mut c).is_err() {
        return;
    }
    let name = Path::new("structure.h5");
    match read_rollouts_open(
        &file,
        name,
        &inputs,
        &outputs,
        &AttrMap::default(),
        include_failed,
    ) {
        Ok(s) => {
            assert_eq!(s.x.dims()[1], inputs.len());
            assert_eq!(s.y.dims()[1], 1);
            assert_eq!(s.x.dims()[0], s.y.dims()[0]);
            assert!(s.len() + s.skipped_failed <= 6);
            assert!(s.x.data().iter().chain(s.y.data()).all(|v| v.is_finite()));
        }
        Err(ferrograd_nn::Error::Format { path, problem }) => {
            assert_eq!(path, name);
            assert!(!problem.is_empty());
        }
        Err(e) => panic!("not a format error: {e}"),
    }
});
