//! The rows a surrogate learns from: inputs chosen by name, outputs by
//! label, from rollout files (HDF5, [`super::h5`], feature `hdf5`), CSV
//! files with a header, or the built-in synthetic rollouts
//! ([`synthetic`]: a known smooth function with noise and 5% gross
//! outliers, what `regress make-data` writes).

use super::config::{AttrMap, RegressConfig};
use crate::data::Table;
use ferrograd_nn::{Error, Result};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::path::Path;

/// Rows of inputs `x` `[N, d]` and outputs `y` `[N, k]`.
#[derive(Clone, Debug)]
pub struct Samples {
    /// The input names, in column order.
    pub in_names: Vec<String>,
    /// The output labels, in column order.
    pub out_names: Vec<String>,
    /// Inputs `[N, d]`.
    pub x: Tensor,
    /// Outputs `[N, k]`.
    pub y: Tensor,
    /// Rollouts left out because they were unsuccessful.
    pub skipped_failed: usize,
}

impl Samples {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.x.dims()[0]
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows at `idx`.
    pub fn rows(&self, idx: &[usize]) -> Result<Samples> {
        let pick = |t: &Tensor| -> Result<Tensor> {
            let w = t.dims()[1];
            let mut v = Vec::with_capacity(idx.len() * w);
            for &i in idx {
                v.extend_from_slice(&t.data()[i * w..(i + 1) * w]);
            }
            Ok(Tensor::from_vec(v, &[idx.len(), w])?)
        };
        Ok(Samples {
            in_names: self.in_names.clone(),
            out_names: self.out_names.clone(),
            x: pick(&self.x)?,
            y: pick(&self.y)?,
            skipped_failed: self.skipped_failed,
        })
    }

    fn concat(parts: Vec<Samples>) -> Result<Samples> {
        let mut it = parts.into_iter();
        let first = it.next().expect("at least one part");
        let (d, k) = (first.x.dims()[1], first.y.dims()[1]);
        let (mut x, mut y) = (first.x.data().to_vec(), first.y.data().to_vec());
        let mut skipped = first.skipped_failed;
        for p in it {
            x.extend_from_slice(p.x.data());
            y.extend_from_slice(p.y.data());
            skipped += p.skipped_failed;
        }
        let n = x.len() / d;
        Ok(Samples {
            in_names: first.in_names,
            out_names: first.out_names,
            x: Tensor::from_vec(x, &[n, d])?,
            y: Tensor::from_vec(y, &[n, k])?,
            skipped_failed: skipped,
        })
    }
}

/// Rollouts in the HDF5 layout's terms, for writing files and for the
/// built-in data: the parameter names, each rollout's `param_state`,
/// `success` and named scalar attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollouts {
    /// `parameter_names`.
    pub parameter_names: Vec<String>,
    /// One `param_state` per rollout.
    pub states: Vec<Vec<f64>>,
    /// One `success` flag per rollout.
    pub success: Vec<bool>,
    /// Attribute name → one value per rollout.
    pub attributes: Vec<(String, Vec<f64>)>,
}

impl Rollouts {
    /// The rows of `in_lbl` (by parameter name) and `out_lbl` (through
    /// `attrs`), skipping unsuccessful rollouts unless `include_failed`.
    pub fn select(
        &self,
        in_lbl: &[String],
        out_lbl: &[String],
        attrs: &AttrMap,
        include_failed: bool,
    ) -> Result<Samples> {
        let where_ = Path::new("<built-in synthetic rollouts>");
        let bad = |problem: String| Error::Format {
            path: where_.to_path_buf(),
            problem,
        };
        let cols = input_columns(&self.parameter_names, in_lbl).map_err(bad)?;
        let outs: Vec<&Vec<f64>> = out_lbl
            .iter()
            .map(|l| {
                let a = attrs.attribute(l);
                self.attributes
                    .iter()
                    .find(|(n, _)| n == a)
                    .map(|(_, v)| v)
                    .ok_or_else(|| bad(format!("no attribute '{a}' for output label '{l}'")))
            })
            .collect::<Result<_>>()?;
        let (mut x, mut y, mut skipped) = (Vec::new(), Vec::new(), 0);
        for (i, state) in self.states.iter().enumerate() {
            if !self.success[i] && !include_failed {
                skipped += 1;
                continue;
            }
            x.extend(cols.iter().map(|&c| state[c] as f32));
            y.extend(outs.iter().map(|v| v[i] as f32));
        }
        let n = x.len() / cols.len();
        Ok(Samples {
            in_names: in_lbl.to_vec(),
            out_names: out_lbl.to_vec(),
            x: Tensor::from_vec(x, &[n, cols.len()])?,
            y: Tensor::from_vec(y, &[n, out_lbl.len()])?,
            skipped_failed: skipped,
        })
    }
}

/// The positions of `in_lbl` among `names`, or a message naming the
/// missing one and the names there are.
pub fn input_columns(
    names: &[String],
    in_lbl: &[String],
) -> std::result::Result<Vec<usize>, String> {
    in_lbl
        .iter()
        .map(|l| {
            names.iter().position(|n| n == l).ok_or_else(|| {
                format!(
                    "input '{l}' is not among parameter_names [{}]",
                    names.join(", ")
                )
            })
        })
        .collect()
}

/// The attribute of the synthetic rollouts' output.
pub const SYNTHETIC_ATTR: &str = "metabolic/cot/MA/mean";
/// The synthetic rollouts' parameter names.
pub const SYNTHETIC_PARAMS: [&str; 3] = ["gait_stride", "gait_cadence", "gait_width"];
/// The ranges the synthetic parameters are drawn from.
pub const SYNTHETIC_RANGES: [(f64, f64); 3] = [(0.8, 1.8), (1.2, 2.4), (0.1, 0.3)];
/// Standard deviation of the synthetic outputs' Gaussian noise.
pub const SYNTHETIC_NOISE: f64 = 0.05;
/// Fraction of synthetic rollouts with a gross outlier.
pub const SYNTHETIC_OUTLIERS: f64 = 0.05;
/// Fraction of synthetic rollouts marked unsuccessful.
pub const SYNTHETIC_FAILED: f64 = 0.03;

/// The noiseless synthetic cost of transport at (stride, cadence): a
/// smooth bowl with a tilt and a ripple, between about 2.5 and 5.5.
pub fn truth(stride: f64, cadence: f64) -> f64 {
    let u = (stride - 1.3) / 0.5;
    let v = (cadence - 1.8) / 0.6;
    3.0 + 1.2 * u * u + 0.8 * v * v - 0.6 * u * v + 0.3 * (3.0 * u).sin()
}

/// `n` synthetic rollouts (seeded): parameters uniform in
/// [`SYNTHETIC_RANGES`], the output [`truth`] plus N(0, 0.05²) noise, a
/// 5% share of gross outliers (+2 to +5) and a 3% share of unsuccessful
/// rollouts whose output is nonsense (+20).
pub fn synthetic(n: usize, seed: u64) -> Rollouts {
    let mut rng = StdRng::seed_from_u64(seed);
    let noise = Normal::new(0.0, SYNTHETIC_NOISE).expect("valid normal");
    let (mut states, mut success, mut cot) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let s: Vec<f64> = SYNTHETIC_RANGES
            .iter()
            .map(|&(lo, hi)| rng.random_range(lo..hi))
            .collect();
        let mut y = truth(s[0], s[1]) + noise.sample(&mut rng);
        if rng.random::<f64>() < SYNTHETIC_OUTLIERS {
            y += rng.random_range(2.0..5.0);
        }
        let ok = rng.random::<f64>() >= SYNTHETIC_FAILED;
        if !ok {
            y += 20.0;
        }
        states.push(s);
        success.push(ok);
        cot.push(y);
    }
    Rollouts {
        parameter_names: SYNTHETIC_PARAMS.iter().map(|s| s.to_string()).collect(),
        states,
        success,
        attributes: vec![(SYNTHETIC_ATTR.to_string(), cot)],
    }
}

/// Whether `path` names an HDF5 file (by extension: .h5, .hdf5, .he5).
pub fn is_hdf5(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("h5" | "hdf5" | "he5")
    )
}

/// The rows of one CSV file with a header: columns `in_lbl`, then
/// `out_lbl`. A `success` column, if there is one, drops the rows where it
/// is 0 unless `include_failed` (as the HDF5 attribute does).
pub fn read_csv(
    path: &Path,
    in_lbl: &[String],
    out_lbl: &[String],
    include_failed: bool,
) -> Result<Samples> {
    let table = Table::read(path)?;
    let all = Samples {
        in_names: in_lbl.to_vec(),
        out_names: out_lbl.to_vec(),
        x: table.columns(in_lbl)?,
        y: table.columns(out_lbl)?,
        skipped_failed: 0,
    };
    let has_success = table.names().iter().any(|n| n == "success");
    if include_failed || !has_success || in_lbl.iter().chain(out_lbl).any(|n| n == "success") {
        return Ok(all);
    }
    let ok = table.columns(&["success"])?;
    let keep: Vec<usize> = (0..all.len()).filter(|&i| ok.data()[i] != 0.0).collect();
    let mut s = all.rows(&keep)?;
    s.skipped_failed = all.len() - keep.len();
    Ok(s)
}

/// Where [`load_with`] reads HDF5 files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hdf5Reading {
    /// In this process, for trusted files only: a file corrupt enough to
    /// crash libhdf5 itself (`fuzz/open-crashers/`) brings the process
    /// down.
    InProcess,
    /// In a forked child process stopped after `timeout` (`h5_child`): a
    /// crash, hang or memory exhaustion of libhdf5 is an error naming the
    /// file. What [`load`] does (the default, 600 s). On other systems than
    /// Unix, in this process.
    Isolated {
        /// How long the child may read one file.
        timeout: std::time::Duration,
    },
}

/// The default of [`HDF5_TIMEOUT_VAR`], in seconds.
pub const HDF5_TIMEOUT_SECONDS: u64 = 600;
/// The environment variable that sets [`Hdf5Reading::from_env`]'s timeout
/// in whole seconds (default [`HDF5_TIMEOUT_SECONDS`]).
pub const HDF5_TIMEOUT_VAR: &str = "FERROGRAD_HDF5_TIMEOUT";

impl Default for Hdf5Reading {
    /// Isolated, stopped after [`HDF5_TIMEOUT_SECONDS`].
    fn default() -> Self {
        Hdf5Reading::Isolated {
            timeout: std::time::Duration::from_secs(HDF5_TIMEOUT_SECONDS),
        }
    }
}

impl Hdf5Reading {
    /// Isolated, stopped after the seconds of [`HDF5_TIMEOUT_VAR`] (default
    /// 600); a value that is not a positive whole number is an error.
    pub fn from_env() -> Result<Self> {
        let timeout = match std::env::var(HDF5_TIMEOUT_VAR) {
            Err(_) => HDF5_TIMEOUT_SECONDS,
            Ok(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|&s| s > 0)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "regress: {HDF5_TIMEOUT_VAR} must be a positive number of seconds, \
                         got '{v}'"
                    ))
                })?,
        };
        Ok(Hdf5Reading::Isolated {
            timeout: std::time::Duration::from_secs(timeout),
        })
    }
}

fn read_one(cfg: &RegressConfig, path: &Path, hdf5: &Hdf5Reading) -> Result<Samples> {
    if is_hdf5(path) {
        #[cfg(feature = "hdf5")]
        {
            let (i, o, a, f) = (
                &cfg.in_lbl.0,
                &cfg.out_lbl.0,
                &cfg.out_attrs,
                cfg.include_failed,
            );
            match hdf5 {
                Hdf5Reading::InProcess => super::h5::read_rollouts(path, i, o, a, f),
                Hdf5Reading::Isolated { timeout } => {
                    super::h5_child::read_rollouts_isolated(*timeout, path, i, o, a, f)
                }
            }
        }
        #[cfg(not(feature = "hdf5"))]
        {
            let _ = hdf5;
            Err(Error::Format {
                path: path.to_path_buf(),
                problem:
                    "this ferrograd was built without HDF5 support; rebuild with \
                          `--features ferrograd-models/hdf5` (needs libhdf5-dev) or give a CSV file"
                        .into(),
            })
        }
    } else {
        read_csv(path, &cfg.in_lbl.0, &cfg.out_lbl.0, cfg.include_failed)
    }
}

/// The rows of a run: every file of `data_path` concatenated (HDF5 by
/// extension, read in a forked child process as [`Hdf5Reading::from_env`]
/// says; else CSV), or the built-in synthetic rollouts. No rows is an
/// error naming the files.
pub fn load(cfg: &RegressConfig) -> Result<Samples> {
    load_with(cfg, &Hdf5Reading::from_env()?)
}

/// [`load`], reading HDF5 files as `hdf5` says.
pub fn load_with(cfg: &RegressConfig, hdf5: &Hdf5Reading) -> Result<Samples> {
    let samples = if cfg.data_path.is_empty() {
        synthetic(cfg.synthetic_rows, cfg.random_seed).select(
            &cfg.in_lbl.0,
            &cfg.out_lbl.0,
            &cfg.out_attrs,
            cfg.include_failed,
        )?
    } else {
        let parts = cfg
            .data_path
            .iter()
            .map(|p| read_one(cfg, p, hdf5))
            .collect::<Result<Vec<_>>>()?;
        Samples::concat(parts)?
    };
    if samples.is_empty() {
        return Err(Error::Config(format!(
            "regress: no rows to train on in {} ({} unsuccessful rollouts skipped; \
             --include-failed uses them)",
            cfg.data_name(),
            samples.skipped_failed
        )));
    }
    Ok(samples)
}

/// Whether the run's data is the built-in synthetic function with inputs
/// stride and cadence (in some order) and the one output, so the noiseless
/// truth is known.
pub fn truth_known(cfg: &RegressConfig) -> bool {
    let mut names = cfg.in_lbl.0.clone();
    names.sort();
    cfg.data_path.is_empty()
        && names == ["gait_cadence", "gait_stride"]
        && cfg.out_lbl.0.len() == 1
        && cfg.out_attrs.attribute(&cfg.out_lbl.0[0]) == SYNTHETIC_ATTR
}

/// A `side × side` grid over the synthetic ranges of `in_lbl` (stride and
/// cadence, in that order of columns) and the noiseless truth there.
pub fn truth_grid(in_lbl: &[String], side: usize) -> Result<(Tensor, Tensor)> {
    let range = |name: &str| {
        let i = SYNTHETIC_PARAMS
            .iter()
            .position(|p| *p == name)
            .unwrap_or(0);
        SYNTHETIC_RANGES[i]
    };
    let (r0, r1) = (range(&in_lbl[0]), range(&in_lbl[1]));
    let stride_first = in_lbl[0] == "gait_stride";
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..side {
        for j in 0..side {
            let a = r0.0 + (r0.1 - r0.0) * (i as f64 + 0.5) / side as f64;
            let b = r1.0 + (r1.1 - r1.0) * (j as f64 + 0.5) / side as f64;
            x.extend([a as f32, b as f32]);
            let (s, c) = if stride_first { (a, b) } else { (b, a) };
            y.push(truth(s, c) as f32);
        }
    }
    Ok((
        Tensor::from_vec(x, &[side * side, 2])?,
        Tensor::from_vec(y, &[side * side, 1])?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::config::List;

    #[test]
    fn synthetic_rollouts_have_outliers_failures_and_select_by_name() {
        let r = synthetic(4000, 3);
        let outliers = r
            .states
            .iter()
            .zip(&r.attributes[0].1)
            .zip(&r.success)
            .filter(|((s, &y), &ok)| ok && (y - truth(s[0], s[1])).abs() > 1.0);
        let share = outliers.count() as f64 / 4000.0;
        assert!((0.03..0.07).contains(&share), "outlier share {share}");
        let failed = r.success.iter().filter(|s| !**s).count();
        assert!((60..180).contains(&failed), "{failed}");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let s = r
            .select(
                &names(&["gait_cadence", "gait_stride"]),
                &names(&["cot_ma15"]),
                &AttrMap::default(),
                false,
            )
            .unwrap();
        assert_eq!(s.len() + s.skipped_failed, 4000);
        assert_eq!(s.skipped_failed, failed);
        // Column 0 is the cadence (param_state[1]).
        let first_ok = r.success.iter().position(|s| *s).unwrap();
        assert_eq!(s.x.data()[0], r.states[first_ok][1] as f32);
        assert_eq!(s.x.data()[1], r.states[first_ok][0] as f32);
        let e = r
            .select(
                &names(&["speed"]),
                &names(&["cot_ma15"]),
                &AttrMap::default(),
                false,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("'speed'") && e.contains("gait_stride"), "{e}");
        let e = r
            .select(
                &names(&["gait_stride"]),
                &names(&["power"]),
                &AttrMap::default(),
                false,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("'power'"), "{e}");
    }

    #[test]
    fn csv_files_concatenate_and_truth_grid_follows_the_order() {
        let dir =
            std::env::temp_dir().join(format!("ferrograd-regress-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
        std::fs::write(&a, "u,v,out\n1,2,3\n4,5,6\n").unwrap();
        std::fs::write(&b, "out,v,u\n9,8,7\n").unwrap();
        let cfg = RegressConfig {
            data_path: vec![a.clone(), b],
            in_lbl: List(vec!["u".into(), "v".into()]),
            out_lbl: List(vec!["out".into()]),
            ..RegressConfig::default()
        };
        let s = load(&cfg).unwrap();
        assert_eq!(s.x.data(), &[1.0, 2.0, 4.0, 5.0, 7.0, 8.0]);
        assert_eq!(s.y.data(), &[3.0, 6.0, 9.0]);
        let e = load(&RegressConfig {
            out_lbl: List(vec!["nope".into()]),
            ..cfg
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("nope") && e.contains("a.csv"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        let lbl = vec!["gait_cadence".to_string(), "gait_stride".to_string()];
        let (x, y) = truth_grid(&lbl, 4).unwrap();
        let (c, s) = (x.data()[0] as f64, x.data()[1] as f64);
        assert!((y.data()[0] as f64 - truth(s, c)).abs() < 1e-5);
        assert!(truth_known(&RegressConfig::default()));
    }
}
