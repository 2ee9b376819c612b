//! The configuration of a conditional density run: the `cde train` flags
//! and the `config.json` of its run folder, one struct.

use super::data::{Dataset, SplitSizes};
use super::maf::MafConfig;
use super::mdn::MdnConfig;
use crate::run::config::{Checks, List};
use clap::Args;
use ferrograd_nn::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Which model a run trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Masked autoregressive flow ([`super::maf::Maf`]).
    Maf,
    /// Mixture density network with full covariances ([`super::mdn::Mdn`]).
    Mdn,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Maf => "maf",
            ModelKind::Mdn => "mdn",
        })
    }
}

impl FromStr for ModelKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<ModelKind> {
        match s.to_ascii_lowercase().as_str() {
            "maf" => Ok(ModelKind::Maf),
            "mdn" => Ok(ModelKind::Mdn),
            _ => Err(Error::Config(format!(
                "unknown model '{s}': expected maf or mdn"
            ))),
        }
    }
}

/// Hidden widths: `64,64` (one width per layer), `64` (two layers of 64)
/// or `32x1` (WIDTHxLAYERS) on the command line; a list in JSON and YAML.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hidden(pub Vec<usize>);

impl fmt::Display for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        List(self.0.clone()).fmt(f)
    }
}

impl FromStr for Hidden {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Hidden, String> {
        if let Some((w, n)) = s.split_once('x') {
            return match (w.trim().parse::<usize>(), n.trim().parse::<usize>()) {
                (Ok(w), Ok(n)) if w > 0 && n > 0 => Ok(Hidden(vec![w; n])),
                _ => Err(format!(
                    "hidden '{s}' is not WIDTHxLAYERS with positive integers (e.g. 32x1)"
                )),
            };
        }
        let widths = s
            .split(',')
            .map(|w| match w.trim().parse::<usize>() {
                Ok(v) if v > 0 => Ok(v),
                _ => Err(format!(
                    "hidden width '{}' is not a positive integer (expected e.g. 64, 64,64 or 32x1)",
                    w.trim()
                )),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Hidden(if widths.len() == 1 {
            vec![widths[0]; 2]
        } else {
            widths
        }))
    }
}

fn d() -> CdeConfig {
    CdeConfig::default()
}

/// Every setting of a run: the flags of `cde train`, the keys of its YAML
/// configuration and of `config.json`.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CdeConfig {
    /// The model: maf or mdn.
    #[arg(long, default_value_t = d().model)]
    pub model: ModelKind,
    /// The built-in data set (banana, student-t or moons), unless --data.
    #[arg(long, default_value_t = d().dataset)]
    pub dataset: Dataset,
    /// A CSV file with a header to train on instead of a built-in data set
    /// (with --x-cols and --f-cols).
    #[arg(long, value_name = "FILE.csv")]
    pub data: Option<PathBuf>,
    /// The target columns of --data (comma list), any number ≥ 1.
    #[arg(long, value_name = "A,B", default_value_t = d().x_cols)]
    pub x_cols: List<String>,
    /// The conditioning columns of --data (comma list; may be empty).
    #[arg(long, value_name = "C,D", default_value_t = d().f_cols)]
    pub f_cols: List<String>,
    /// A CSV file of validation rows (else split from --data).
    #[arg(long, value_name = "FILE.csv")]
    pub valid_data: Option<PathBuf>,
    /// A CSV file of test rows (else split from --data).
    #[arg(long, value_name = "FILE.csv")]
    pub test_data: Option<PathBuf>,
    /// Fraction of --data held out for validation when no --valid-data.
    #[arg(long, default_value_t = d().valid_fraction)]
    pub valid_fraction: f64,
    /// Fraction of --data held out for testing when no --test-data.
    #[arg(long, default_value_t = d().test_fraction)]
    pub test_fraction: f64,
    /// MADE blocks (MAF).
    #[arg(long, default_value_t = d().flows)]
    pub flows: usize,
    /// Hidden widths: a comma list (64,64), one width for two layers (64),
    /// or WIDTHxLAYERS (32x1: one layer of 32).
    #[arg(long, default_value_t = d().hidden)]
    pub hidden: Hidden,
    /// Mixture components (MDN).
    #[arg(long, default_value_t = d().components)]
    pub components: usize,
    /// Passes over the training split.
    #[arg(long, default_value_t = d().epochs)]
    pub epochs: usize,
    /// Rows per batch.
    #[arg(long, default_value_t = d().batch)]
    pub batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = d().lr)]
    pub lr: f64,
    /// Seed of the data splits, initialisation and batch order.
    #[arg(long, default_value_t = d().seed)]
    pub seed: u64,
    /// Training rows of a built-in data set.
    #[arg(long, default_value_t = d().train_rows)]
    pub train_rows: usize,
    /// Validation rows of a built-in data set.
    #[arg(long, default_value_t = d().valid_rows)]
    pub valid_rows: usize,
    /// Test rows of a built-in data set.
    #[arg(long, default_value_t = d().test_rows)]
    pub test_rows: usize,
    /// Stop after this many epochs without a better validation NLL.
    #[arg(long)]
    pub patience: Option<u64>,
    /// Stop with an error after this many non-finite batches in a row.
    #[arg(long, default_value_t = d().max_nonfinite)]
    pub max_nonfinite: u64,
}

impl Default for CdeConfig {
    /// MAF on banana: 5 flows, 2×64 hidden (K = 5 for the MDN), 200 epochs of
    /// batch 256 at Adam 1e-3, splits 20,000 / 5,000 / 5,000, seed 1.
    fn default() -> Self {
        CdeConfig {
            model: ModelKind::Maf,
            dataset: Dataset::Banana,
            data: None,
            x_cols: List(Vec::new()),
            f_cols: List(Vec::new()),
            valid_data: None,
            test_data: None,
            valid_fraction: 0.1,
            test_fraction: 0.1,
            flows: 5,
            hidden: Hidden(vec![64, 64]),
            components: 5,
            epochs: 200,
            batch: 256,
            lr: 1e-3,
            seed: 1,
            train_rows: 20_000,
            valid_rows: 5_000,
            test_rows: 5_000,
            patience: None,
            max_nonfinite: 20,
        }
    }
}

impl CdeConfig {
    /// The default configuration of `model` on `dataset`.
    pub fn new(model: ModelKind, dataset: Dataset) -> CdeConfig {
        CdeConfig {
            model,
            dataset,
            ..CdeConfig::default()
        }
    }

    /// The `--test` preset: splits 2,000 / 500 / 500, 2 epochs.
    pub fn test_preset(cfg: &mut CdeConfig) {
        cfg.train_rows = 2_000;
        cfg.valid_rows = 500;
        cfg.test_rows = 500;
        cfg.epochs = 2;
    }

    /// This configuration with the `--test` preset applied.
    pub fn test_sized(mut self) -> CdeConfig {
        CdeConfig::test_preset(&mut self);
        self
    }

    /// The sizes of a built-in data set's splits.
    pub fn sizes(&self) -> SplitSizes {
        SplitSizes {
            train: self.train_rows,
            valid: self.valid_rows,
            test: self.test_rows,
        }
    }

    /// The data's name: the built-in data set or the CSV file.
    pub fn data_name(&self) -> String {
        match &self.data {
            Some(p) => p.display().to_string(),
            None => self.dataset.to_string(),
        }
    }

    /// Checks every setting, naming the field at fault and its range.
    pub fn validate(&self) -> Result<()> {
        let c = Checks("cde");
        let bad = |field: &str, why: String| Err(c.fail(field, why));
        c.at_least(&[("epochs", self.epochs, 1), ("batch", self.batch, 1)])?;
        c.positive("lr", self.lr)?;
        c.widths("hidden", &self.hidden.0)?;
        if self.model == ModelKind::Maf {
            c.at_least(&[("flows", self.flows, 1)])?;
        } else {
            c.at_least(&[("components", self.components, 1)])?;
        }
        c.loop_limits(self.max_nonfinite, self.patience)?;
        for (name, v) in [
            ("valid_fraction", self.valid_fraction),
            ("test_fraction", self.test_fraction),
        ] {
            if !(v.is_finite() && (0.0..1.0).contains(&v)) {
                return bad(name, format!("must be in [0, 1), got {v}"));
            }
        }
        if self.valid_fraction + self.test_fraction >= 1.0 {
            return bad(
                "valid_fraction",
                format!(
                    "plus --test-fraction must be below 1, got {} + {}",
                    self.valid_fraction, self.test_fraction
                ),
            );
        }
        match &self.data {
            None => {
                c.at_least(&[
                    ("train_rows", self.train_rows, 1),
                    ("valid_rows", self.valid_rows, 1),
                    ("test_rows", self.test_rows, 1),
                ])?;
                if !self.x_cols.0.is_empty() || !self.f_cols.0.is_empty() {
                    return bad("x_cols", "and --f-cols need --data FILE.csv".into());
                }
                if self.valid_data.is_some() || self.test_data.is_some() {
                    return bad("valid_data", "and --test-data need --data FILE.csv".into());
                }
            }
            Some(_) => {
                if self.x_cols.0.is_empty() {
                    return bad(
                        "x_cols",
                        "must name at least one target column of --data".into(),
                    );
                }
                let mut all: Vec<&String> = self.x_cols.0.iter().chain(&self.f_cols.0).collect();
                all.sort();
                if let Some(w) = all.windows(2).find(|w| w[0] == w[1]) {
                    return bad(
                        "x_cols",
                        format!("and --f-cols name column '{}' twice", w[0]),
                    );
                }
            }
        }
        Ok(())
    }

    /// The MAF of this run for `dim` targets and `features` conditioning
    /// inputs (every other hyper-parameter at [`MafConfig`]'s default; the
    /// checkpoint records them all).
    pub fn maf_config(&self, dim: usize, features: usize) -> MafConfig {
        MafConfig {
            dim,
            features,
            flows: self.flows,
            hidden: self.hidden.0.clone(),
            ..MafConfig::default()
        }
    }

    /// The MDN of this run (see [`CdeConfig::maf_config`]).
    pub fn mdn_config(&self, dim: usize, features: usize) -> MdnConfig {
        MdnConfig {
            dim,
            features,
            components: self.components,
            hidden: self.hidden.0.clone(),
            ..MdnConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_widths_parse() {
        assert_eq!("64,32".parse::<Hidden>().unwrap().0, [64, 32]);
        assert_eq!("48".parse::<Hidden>().unwrap().0, [48, 48]);
        assert_eq!("32x1".parse::<Hidden>().unwrap().0, [32]);
        assert_eq!("16x3".parse::<Hidden>().unwrap().0, [16, 16, 16]);
        for bad in ["0", "32x0", "x2", "32x", "a,b", "32,,32"] {
            assert!(bad.parse::<Hidden>().is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_flag() {
        let cases: Vec<(CdeConfig, &str)> = vec![
            (CdeConfig { epochs: 0, ..d() }, "--epochs"),
            (CdeConfig { lr: -1e-3, ..d() }, "--lr"),
            (
                CdeConfig {
                    hidden: Hidden(vec![64, 0]),
                    ..d()
                },
                "--hidden",
            ),
            (CdeConfig { batch: 0, ..d() }, "--batch"),
            (
                CdeConfig {
                    test_rows: 0,
                    ..d()
                },
                "--test-rows",
            ),
            (
                CdeConfig {
                    valid_fraction: 0.6,
                    test_fraction: 0.5,
                    ..d()
                },
                "--valid-fraction",
            ),
            (
                CdeConfig {
                    x_cols: List(vec!["a".into()]),
                    ..d()
                },
                "--data",
            ),
            (
                CdeConfig {
                    data: Some("t.csv".into()),
                    ..d()
                },
                "--x-cols",
            ),
        ];
        for (cfg, needle) in cases {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        assert!(d().validate().is_ok());
    }
}
