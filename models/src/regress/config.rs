//! The configuration of a regression-surrogate run: the `regress train`
//! flags and the `config.json` of its run folder, one flat struct. A YAML
//! file may group the keys in the reference's sections `data:`, `model:`
//! and `trainer:` (see [`SECTIONS`]); they are read as if at top level.

use super::loss::ReconKind;
use crate::run::config::{Checks, List};
use clap::Args;
use ferrograd_nn::{Activation, Error, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The YAML sections whose keys are read as top-level keys.
pub const SECTIONS: [&str; 3] = ["data", "model", "trainer"];

/// Output labels and the rollout attributes they read:
/// `cot_ma15=metabolic/cot/MA/mean` on the command line (comma list), a
/// mapping in YAML and JSON. A label not listed here (nor in the built-in
/// [`BUILTIN_ATTRS`]) is read from the attribute of its own name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttrMap(pub BTreeMap<String, String>);

/// The built-in label → attribute mapping.
pub const BUILTIN_ATTRS: [(&str, &str); 1] = [("cot_ma15", "metabolic/cot/MA/mean")];

impl AttrMap {
    /// The attribute that holds output `label`: the configured one, else the
    /// built-in one, else the label itself.
    pub fn attribute<'a>(&'a self, label: &'a str) -> &'a str {
        if let Some(a) = self.0.get(label) {
            return a;
        }
        BUILTIN_ATTRS
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, a)| *a)
            .unwrap_or(label)
    }
}

impl fmt::Display for AttrMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl FromStr for AttrMap {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<AttrMap, String> {
        let mut map = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not LABEL=ATTRIBUTE"))?;
            if k.trim().is_empty() || v.trim().is_empty() {
                return Err(format!("'{part}': empty label or attribute"));
            }
            map.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(AttrMap(map))
    }
}

/// One path or a list of paths (`data_path: rollout_data.h5` or
/// `data_path: [a.h5, b.h5]`).
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(p)) => vec![p],
        Some(OneOrMany::Many(v)) => v,
    })
}

fn d() -> RegressConfig {
    RegressConfig::default()
}

/// Every setting of a run: the flags of `regress train`, the keys of its
/// YAML configuration and of `config.json`.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegressConfig {
    // --- data ---
    /// Rollout files (.h5) or CSV files with a header, concatenated;
    /// none: built-in synthetic rollouts (see `regress make-data`).
    #[arg(long = "data", visible_alias = "data-path", value_name = "FILE", num_args = 1.., value_delimiter = ',')]
    #[serde(deserialize_with = "one_or_many")]
    pub data_path: Vec<PathBuf>,
    /// Input names: entries of the files' `parameter_names` (CSV: columns).
    #[arg(long, value_name = "A,B", default_value_t = d().in_lbl)]
    pub in_lbl: List<String>,
    /// Output labels (HDF5: mapped to attributes by --out-attrs; CSV:
    /// columns).
    #[arg(long, value_name = "Y", default_value_t = d().out_lbl)]
    pub out_lbl: List<String>,
    /// Extra label=attribute pairs for HDF5 outputs (built in:
    /// cot_ma15=metabolic/cot/MA/mean).
    #[arg(long, value_name = "L=ATTR", default_value_t = d().out_attrs)]
    pub out_attrs: AttrMap,
    /// Also use rollouts whose `success` attribute is false.
    #[arg(long)]
    pub include_failed: bool,
    /// Rows per batch (the whole data when larger).
    #[arg(long, default_value_t = d().batch_size)]
    pub batch_size: usize,
    /// Fraction of rows to train on; the rest validates. 1.0: train and
    /// validate on all rows.
    #[arg(long, default_value_t = d().train_split)]
    pub train_split: f64,
    /// Seed of the split, the initialisation and the batch order.
    #[arg(long, default_value_t = d().random_seed)]
    pub random_seed: u64,
    /// Rollouts of the built-in synthetic data (without --data).
    #[arg(long, default_value_t = d().synthetic_rows)]
    pub synthetic_rows: usize,
    // --- model ---
    /// Residual MLP (identity skips where widths match, projections where
    /// not); false: a plain MLP.
    #[arg(long, default_value_t = d().residual, action = clap::ArgAction::Set)]
    pub residual: bool,
    /// Hidden widths (comma list).
    #[arg(long, value_name = "W,W", default_value_t = d().layers)]
    pub layers: List<usize>,
    /// Hidden activation: gelu, silu, relu or tanh (any of the framework's).
    #[arg(long, default_value_t = d().activation)]
    pub activation: Activation,
    // --- trainer ---
    /// Passes over the training rows.
    #[arg(long, default_value_t = d().max_epochs)]
    pub max_epochs: usize,
    /// Adam learning rate (the start of the plateau schedule).
    #[arg(long, default_value_t = d().lr)]
    pub lr: f64,
    /// The plateau schedule never lowers the rate below this.
    #[arg(long, default_value_t = d().min_lr)]
    pub min_lr: f64,
    /// Validations without improvement before the rate is cut.
    #[arg(long, default_value_t = d().plateau_patience)]
    pub plateau_patience: u64,
    /// Factor of each cut of the rate.
    #[arg(long, default_value_t = d().plateau_factor)]
    pub plateau_factor: f64,
    /// Reconstruction loss: mse, huber, cauchy, welsch, geman-mcclure or
    /// tukey.
    #[arg(long, default_value_t = d().recon_type)]
    pub recon_type: ReconKind,
    /// Scale of the robust losses (in normalised output units).
    #[arg(long, default_value_t = d().recon_delta)]
    pub recon_delta: f64,
    /// Weight of the reconstruction loss.
    #[arg(long, default_value_t = d().recon_weight)]
    pub recon_weight: f64,
    /// Weight of mean(|θ|) over every parameter.
    #[arg(long, default_value_t = d().l1_weight)]
    pub l1_weight: f64,
    /// Weight of mean(θ²) over every parameter.
    #[arg(long, default_value_t = d().l2_weight)]
    pub l2_weight: f64,
    /// Weight of the gradient penalty mean(‖∂ŷ/∂x‖²) (normalised units).
    #[arg(long, default_value_t = d().grad_weight)]
    pub grad_weight: f64,
    /// Log, validate (and step the plateau schedule) every this many epochs.
    #[arg(long, default_value_t = d().log_period)]
    pub log_period: usize,
    /// Write checkpoints/last.safetensors every this many epochs.
    #[arg(long, default_value_t = d().save_period)]
    pub save_period: usize,
    /// Stop after this many validations without a better validation loss.
    #[arg(long)]
    pub patience: Option<u64>,
    /// Stop with an error after this many non-finite steps in a row.
    #[arg(long, default_value_t = d().max_nonfinite)]
    pub max_nonfinite: u64,
}

impl Default for RegressConfig {
    /// The reference configuration (residual [64, 32] GELU, Huber δ 1,
    /// weights 10 / 0.001 / 0.001 / 0.01, Adam 0.1 down to 0.0005) on the
    /// built-in synthetic rollouts.
    fn default() -> Self {
        RegressConfig {
            data_path: Vec::new(),
            in_lbl: List(vec!["gait_cadence".into(), "gait_stride".into()]),
            out_lbl: List(vec!["cot_ma15".into()]),
            out_attrs: AttrMap::default(),
            include_failed: false,
            batch_size: 65_536,
            train_split: 1.0,
            random_seed: 42,
            synthetic_rows: 4096,
            residual: true,
            layers: List(vec![64, 32]),
            activation: Activation::Gelu,
            max_epochs: 10_002,
            lr: 0.1,
            min_lr: 0.0005,
            plateau_patience: 10,
            plateau_factor: 0.5,
            recon_type: ReconKind::Huber,
            recon_delta: 1.0,
            recon_weight: 10.0,
            l1_weight: 0.001,
            l2_weight: 0.001,
            grad_weight: 0.01,
            log_period: 50,
            save_period: 1000,
            patience: None,
            max_nonfinite: 20,
        }
    }
}

impl RegressConfig {
    /// The `--test` preset: 512 synthetic rollouts, 40 epochs of batch 256,
    /// a [16, 16] network, logging every 10 epochs.
    pub fn test_preset(cfg: &mut RegressConfig) {
        cfg.synthetic_rows = 512;
        cfg.batch_size = 256;
        cfg.max_epochs = 40;
        cfg.layers = List(vec![16, 16]);
        cfg.lr = 0.01;
        cfg.log_period = 10;
        cfg.save_period = 20;
    }

    /// Checks every setting, naming the flag at fault and its range.
    pub fn validate(&self) -> Result<()> {
        let c = Checks("regress");
        c.at_least(&[
            ("batch_size", self.batch_size, 1),
            ("max_epochs", self.max_epochs, 1),
            ("log_period", self.log_period, 1),
            ("in_lbl", self.in_lbl.0.len(), 1),
            ("out_lbl", self.out_lbl.0.len(), 1),
        ])?;
        if self.data_path.is_empty() {
            c.at_least(&[("synthetic_rows", self.synthetic_rows, 2)])?;
        }
        c.widths("layers", &self.layers.0)?;
        c.positive("lr", self.lr)?;
        c.positive("min_lr", self.min_lr)?;
        if self.min_lr > self.lr {
            return Err(c.fail(
                "min_lr",
                format!("must not exceed --lr, got {} > {}", self.min_lr, self.lr),
            ));
        }
        c.positive("recon_delta", self.recon_delta)?;
        if !(self.plateau_factor.is_finite()
            && self.plateau_factor > 0.0
            && self.plateau_factor < 1.0)
        {
            return Err(c.fail(
                "plateau_factor",
                format!("must be in (0, 1), got {}", self.plateau_factor),
            ));
        }
        for (name, w) in [
            ("recon_weight", self.recon_weight),
            ("l1_weight", self.l1_weight),
            ("l2_weight", self.l2_weight),
            ("grad_weight", self.grad_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(c.fail(name, format!("must be finite and ≥ 0, got {w}")));
            }
        }
        if !(self.train_split.is_finite() && self.train_split > 0.0 && self.train_split <= 1.0) {
            return Err(c.fail(
                "train_split",
                format!("must be in (0, 1], got {}", self.train_split),
            ));
        }
        c.loop_limits(self.max_nonfinite, self.patience)?;
        let mut names: Vec<&String> = self.in_lbl.0.iter().chain(&self.out_lbl.0).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(c.fail("in_lbl", format!("and --out-lbl name '{}' twice", w[0])));
        }
        Ok(())
    }

    /// The data's name: the files, or the built-in synthetic rollouts.
    pub fn data_name(&self) -> String {
        if self.data_path.is_empty() {
            format!("built-in synthetic rollouts ({} rows)", self.synthetic_rows)
        } else {
            self.data_path
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// An error for a configuration problem outside the range checks.
pub fn config_error(what: impl fmt::Display) -> Error {
    Error::Config(format!("regress: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_maps_parse_and_fall_back() {
        let m: AttrMap = "a=x/y, b = z".parse().unwrap();
        assert_eq!(m.attribute("a"), "x/y");
        assert_eq!(m.attribute("b"), "z");
        assert_eq!(m.attribute("cot_ma15"), "metabolic/cot/MA/mean");
        assert_eq!(m.attribute("other"), "other");
        assert_eq!(m.to_string(), "a=x/y,b=z");
        assert!("a".parse::<AttrMap>().is_err());
        assert!("=b".parse::<AttrMap>().is_err());
    }

    #[test]
    fn data_path_is_one_or_many() {
        let c: RegressConfig = serde_json::from_str(r#"{"data_path": "a.h5"}"#).unwrap();
        assert_eq!(c.data_path, [PathBuf::from("a.h5")]);
        let c: RegressConfig = serde_json::from_str(r#"{"data_path": ["a.h5", "b.h5"]}"#).unwrap();
        assert_eq!(c.data_path.len(), 2);
        let c: RegressConfig = serde_json::from_str(r#"{"data_path": null}"#).unwrap();
        assert!(c.data_path.is_empty());
    }

    #[test]
    fn validation_names_the_flag() {
        let cases: Vec<(RegressConfig, &str)> = vec![
            (
                RegressConfig {
                    max_epochs: 0,
                    ..d()
                },
                "--max-epochs",
            ),
            (RegressConfig { lr: -1.0, ..d() }, "--lr"),
            (RegressConfig { min_lr: 1.0, ..d() }, "--min-lr"),
            (
                RegressConfig {
                    train_split: 0.0,
                    ..d()
                },
                "--train-split",
            ),
            (
                RegressConfig {
                    train_split: 1.5,
                    ..d()
                },
                "--train-split",
            ),
            (
                RegressConfig {
                    grad_weight: -1.0,
                    ..d()
                },
                "--grad-weight",
            ),
            (
                RegressConfig {
                    recon_delta: 0.0,
                    ..d()
                },
                "--recon-delta",
            ),
            (
                RegressConfig {
                    layers: List(vec![8, 0]),
                    ..d()
                },
                "--layers",
            ),
            (
                RegressConfig {
                    in_lbl: List(vec![]),
                    ..d()
                },
                "--in-lbl",
            ),
            (
                RegressConfig {
                    out_lbl: List(vec!["gait_stride".into()]),
                    ..d()
                },
                "twice",
            ),
        ];
        for (cfg, needle) in cases {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        d().validate().unwrap();
    }
}
