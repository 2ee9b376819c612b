//! Where a `cde` run's rows come from: a built-in data set (splits fixed
//! by the seed, identity normalisation) or a user's CSV files (columns
//! chosen by name, split by seed unless validation and test files are
//! given, normalised with statistics of the training split).

use super::config::CdeConfig;
use super::data::Split;
use crate::data::split::{split_indices, take_rows};
use crate::data::table::Table;
use ferrograd_nn::train::derive_seed;
use ferrograd_nn::{Error, Normalizer, Result};
use ferrograd_tensor::Tensor;
use std::path::Path;

/// The rows of a run and their normalisation.
pub struct CdeData {
    /// Training rows.
    pub train: Split,
    /// Validation rows.
    pub valid: Split,
    /// Test rows.
    pub test: Split,
    /// Statistics of the targets (identity for built-in data).
    pub x_norm: Normalizer,
    /// Statistics of the features (identity for built-in data).
    pub f_norm: Normalizer,
    /// Names of the target columns (`x1`, `x2` for built-in data).
    pub x_names: Vec<String>,
    /// Names of the feature columns (`f` for built-in data).
    pub f_names: Vec<String>,
}

/// Reads the x and f columns of a CSV file as a split.
pub fn read_split(path: &Path, x_cols: &[String], f_cols: &[String]) -> Result<Split> {
    let table = Table::read(path)?;
    split_of(&table, x_cols, f_cols)
}

fn split_of(table: &Table, x_cols: &[String], f_cols: &[String]) -> Result<Split> {
    let xs: Vec<&str> = x_cols.iter().map(String::as_str).collect();
    let fs: Vec<&str> = f_cols.iter().map(String::as_str).collect();
    let x = table.columns(&xs)?;
    let f = if fs.is_empty() {
        Tensor::zeros(&[x.dims()[0], 0])?
    } else {
        table.columns(&fs)?
    };
    Ok(Split { x, f })
}

fn take(s: &Split, rows: &[usize]) -> Result<Split> {
    Ok(Split {
        x: take_rows(&s.x, rows)?,
        f: take_rows(&s.f, rows)?,
    })
}

/// Loads the rows of `cfg` (see the module docs).
pub fn load(cfg: &CdeConfig) -> Result<CdeData> {
    let Some(path) = &cfg.data else {
        let s = cfg.splits();
        return Ok(CdeData {
            x_norm: Normalizer::identity(s.train.x.dims()[1]),
            f_norm: Normalizer::identity(s.train.f.dims()[1]),
            train: s.train,
            valid: s.valid,
            test: s.test,
            x_names: vec!["x1".into(), "x2".into()],
            f_names: vec!["f".into()],
        });
    };
    let (xc, fc) = (&cfg.x_cols.0, &cfg.f_cols.0);
    let all = read_split(path, xc, fc)?;
    let n = all.len();
    let vf = if cfg.valid_data.is_some() {
        0.0
    } else {
        cfg.valid_fraction
    };
    let tf = if cfg.test_data.is_some() {
        0.0
    } else {
        cfg.test_fraction
    };
    let (tr, va, te) =
        split_indices(n, vf, tf, derive_seed(cfg.seed, "data")).map_err(|e| Error::Format {
            path: path.clone(),
            problem: format!("cannot split {n} rows: {e}"),
        })?;
    let train = take(&all, &tr)?;
    let valid = match &cfg.valid_data {
        Some(p) => read_split(p, xc, fc)?,
        None => take(&all, &va)?,
    };
    let test = match &cfg.test_data {
        Some(p) => read_split(p, xc, fc)?,
        None => take(&all, &te)?,
    };
    for (what, s, p) in [
        (
            "validation",
            &valid,
            cfg.valid_data.as_ref().unwrap_or(path),
        ),
        ("test", &test, cfg.test_data.as_ref().unwrap_or(path)),
    ] {
        if s.is_empty() {
            return Err(Error::Format {
                path: p.clone(),
                problem: format!("the {what} split has no rows"),
            });
        }
    }
    let x_norm = Normalizer::fit(&train.x)?;
    let f_norm = if train.f.dims()[1] == 0 {
        Normalizer::identity(0)
    } else {
        Normalizer::fit(&train.f)?
    };
    Ok(CdeData {
        train,
        valid,
        test,
        x_norm,
        f_norm,
        x_names: xc.clone(),
        f_names: fc.clone(),
    })
}
