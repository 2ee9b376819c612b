//! Per-feature standardisation, `z = (x − mean) / std`.

use crate::{Error, Result};
use ferrograd_autograd::Var;
use ferrograd_tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Per-feature mean and standard deviation of a `[N, F]` data set, applied
/// along the last axis of `[..., F]` tensors.
///
/// [`Normalizer::fit`] uses the unbiased standard deviation (divisor
/// `N − 1`, as `torch.std`). Where it is undefined or zero (a single
/// sample, a constant feature) the std is set to 1, so such a feature is
/// only centred and no NaN or infinity appears. It saves as JSON
/// ([`Normalizer::to_json`], serde) or as two tensors
/// ([`Normalizer::to_tensors`]) to sit in a checkpoint.
///
/// ```
/// use ferrograd_nn::data::Normalizer;
/// use ferrograd_tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0, 5.0, 3.0, 5.0], &[2, 2]).unwrap();
/// let norm = Normalizer::fit(&x).unwrap();
/// assert_eq!(norm.mean(), &[2.0, 5.0]);
/// assert_eq!(norm.std(), &[2f32.sqrt(), 1.0]); // constant column: std 1
/// let z = norm.normalize(&x).unwrap();
/// assert_eq!(z.data()[1], 0.0);
/// let back = norm.denormalize(&z).unwrap();
/// assert!(back.max_abs_diff(&x) < 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Normalizer {
    /// A normalizer with the given per-feature statistics. Both must have
    /// the same length, the means be finite and the stds finite and > 0.
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Normalizer> {
        if mean.len() != std.len() {
            return Err(Error::Config(format!(
                "Normalizer: {} means but {} stds",
                mean.len(),
                std.len()
            )));
        }
        if let Some(i) = mean.iter().position(|m| !m.is_finite()) {
            return Err(Error::Config(format!(
                "Normalizer: mean of feature {i} is {}",
                mean[i]
            )));
        }
        if let Some(i) = std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::Config(format!(
                "Normalizer: std of feature {i} is {}; it must be finite and > 0",
                std[i]
            )));
        }
        Ok(Normalizer { mean, std })
    }

    /// Mean 0 and std 1 for `features` features: leaves data unchanged.
    pub fn identity(features: usize) -> Normalizer {
        Normalizer {
            mean: vec![0.0; features],
            std: vec![1.0; features],
        }
    }

    /// Statistics of `x`, shaped `[N, F]` with `N ≥ 1`, computed in f64.
    pub fn fit(x: &Tensor) -> Result<Normalizer> {
        let &[n, f] = x.dims() else {
            return Err(Error::Config(format!(
                "Normalizer::fit: expects [N, F] data, got shape {:?}",
                x.dims()
            )));
        };
        if n == 0 {
            return Err(Error::Config("Normalizer::fit: no samples".into()));
        }
        let data = x.data();
        let mut mean = vec![0f64; f];
        for row in data.chunks_exact(f) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut sq = vec![0f64; f];
        for row in data.chunks_exact(f) {
            for ((s, &v), m) in sq.iter_mut().zip(row).zip(&mean) {
                *s += (f64::from(v) - m).powi(2);
            }
        }
        let std = sq
            .iter()
            .map(|s| {
                let sd = if n > 1 {
                    (s / (n - 1) as f64).sqrt() as f32
                } else {
                    0.0
                };
                if sd.is_finite() && sd > 0.0 {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Normalizer::new(mean.into_iter().map(|m| m as f32).collect(), std)
    }

    /// Per-feature means.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Per-feature standard deviations (all > 0).
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// Number of features.
    pub fn features(&self) -> usize {
        self.mean.len()
    }

    fn stats(&self, dims: &[usize], what: &str) -> Result<(Tensor, Tensor)> {
        if dims.last() != Some(&self.features()) {
            return Err(Error::Config(format!(
                "Normalizer::{what}: expects [..., {}], got shape {dims:?}",
                self.features()
            )));
        }
        let f = [self.features()];
        Ok((
            Tensor::from_slice(&self.mean, &f)?,
            Tensor::from_slice(&self.std, &f)?,
        ))
    }

    /// `(x − mean) / std` along the last axis of `x` (`[..., F]`).
    pub fn normalize(&self, x: &Tensor) -> Result<Tensor> {
        let (mean, std) = self.stats(x.dims(), "normalize")?;
        Ok(x.sub(&mean)?.div(&std)?)
    }

    /// `z · std + mean`, the inverse of [`Normalizer::normalize`].
    pub fn denormalize(&self, z: &Tensor) -> Result<Tensor> {
        let (mean, std) = self.stats(z.dims(), "denormalize")?;
        Ok(z.mul(&std)?.add(&mean)?)
    }

    /// [`Normalizer::normalize`] inside a recorded graph.
    pub fn normalize_var(&self, x: &Var) -> Result<Var> {
        let (mean, std) = self.stats(x.dims(), "normalize_var")?;
        Ok(x.sub(&Var::constant(mean))?.div(&Var::constant(std))?)
    }

    /// [`Normalizer::denormalize`] inside a recorded graph (for example on
    /// a model's normalised predictions).
    pub fn denormalize_var(&self, z: &Var) -> Result<Var> {
        let (mean, std) = self.stats(z.dims(), "denormalize_var")?;
        Ok(z.mul(&Var::constant(std))?.add(&Var::constant(mean))?)
    }

    /// `{"mean":[...],"std":[...]}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses [`Normalizer::to_json`]'s output, validating it as
    /// [`Normalizer::new`] does.
    pub fn from_json(text: &str) -> Result<Normalizer> {
        let raw: Normalizer = serde_json::from_str(text)
            .map_err(|e| Error::Config(format!("Normalizer::from_json: {e}")))?;
        Normalizer::new(raw.mean, raw.std)
    }

    /// The statistics as tensors `{prefix}mean` and `{prefix}std`, both
    /// `[F]` (for example with prefix `"normalizer."` in a checkpoint).
    pub fn to_tensors(&self, prefix: &str) -> BTreeMap<String, Tensor> {
        let f = [self.features()];
        let mut out = BTreeMap::new();
        if let (Ok(m), Ok(s)) = (
            Tensor::from_slice(&self.mean, &f),
            Tensor::from_slice(&self.std, &f),
        ) {
            out.insert(format!("{prefix}mean"), m);
            out.insert(format!("{prefix}std"), s);
        }
        out
    }

    /// Reads `{prefix}mean` and `{prefix}std` (both `[F]`) from `tensors`.
    pub fn from_tensors(tensors: &BTreeMap<String, Tensor>, prefix: &str) -> Result<Normalizer> {
        let get = |name: &str| {
            let key = format!("{prefix}{name}");
            match tensors.get(&key) {
                Some(t) if t.rank() == 1 => Ok(t.data().to_vec()),
                Some(t) => Err(Error::Config(format!(
                    "Normalizer::from_tensors: '{key}' has shape {:?}, expected [F]",
                    t.dims()
                ))),
                None => Err(Error::Config(format!(
                    "Normalizer::from_tensors: missing tensor '{key}'"
                ))),
            }
        };
        Normalizer::new(get("mean")?, get("std")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(data: &[f32], dims: &[usize]) -> Tensor {
        Tensor::from_slice(data, dims).unwrap()
    }

    #[test]
    fn hand_computed_statistics() {
        // Column 0: 1, 2, 3, 6 → mean 3, unbiased var (4+1+0+9)/3 = 14/3.
        let x = t(&[1.0, 0.5, 2.0, 0.5, 3.0, 0.5, 6.0, 0.5], &[4, 2]);
        let n = Normalizer::fit(&x).unwrap();
        assert_eq!(n.mean(), &[3.0, 0.5]);
        assert_eq!(n.std(), &[(14.0f32 / 3.0).sqrt(), 1.0]);
        let z = n.normalize(&x).unwrap();
        let s = (14.0f32 / 3.0).sqrt();
        let expect = [-2.0 / s, 0.0, -1.0 / s, 0.0, 0.0, 0.0, 3.0 / s, 0.0];
        assert!(z.max_abs_diff(&t(&expect, &[4, 2])) < 1e-6);
        assert!(n.denormalize(&z).unwrap().max_abs_diff(&x) < 1e-6);
    }

    #[test]
    fn constant_column_and_single_sample_stay_finite() {
        let constant = t(&[2.5, 1.0, 2.5, 2.0, 2.5, 3.0], &[3, 2]);
        let single = t(&[4.0, -1.0, 1e30], &[1, 3]);
        for x in [constant, single] {
            let n = Normalizer::fit(&x).unwrap();
            let z = n.normalize(&x).unwrap();
            assert!(z.data().iter().all(|v| v.is_finite()), "{z:?}");
            assert!(n.denormalize(&z).unwrap().max_abs_diff(&x) < 1e-6);
        }
        let one = Normalizer::fit(&t(&[4.0, -1.0], &[1, 2])).unwrap();
        assert_eq!(one.std(), &[1.0, 1.0]);
        assert_eq!(
            one.normalize(&t(&[4.0, -1.0], &[2])).unwrap().data(),
            &[0.0, 0.0]
        );
    }

    #[test]
    fn shapes_are_checked() {
        assert!(Normalizer::fit(&t(&[1.0; 3], &[3])).is_err());
        assert!(Normalizer::fit(&Tensor::zeros(&[0, 2]).unwrap()).is_err());
        let n = Normalizer::identity(2);
        let err = n.normalize(&t(&[1.0; 3], &[1, 3])).unwrap_err().to_string();
        assert!(err.contains("[..., 2]"), "{err}");
        assert!(n.normalize(&Tensor::scalar(1.0)).is_err());
        // Higher rank: batch of sequences.
        let z = n.normalize(&t(&[1.0; 8], &[2, 2, 2])).unwrap();
        assert_eq!(z.dims(), &[2, 2, 2]);
        assert!(Normalizer::new(vec![0.0], vec![0.0]).is_err());
        assert!(Normalizer::new(vec![0.0], vec![1.0, 1.0]).is_err());
    }

    #[test]
    fn var_versions_match_and_differentiate() {
        let n = Normalizer::new(vec![1.0, -2.0], vec![2.0, 4.0]).unwrap();
        let x = t(&[3.0, 2.0, -1.0, 0.0], &[2, 2]);
        let v = Var::param(x.clone());
        let z = n.normalize_var(&v).unwrap();
        assert_eq!(z.value().data(), n.normalize(&x).unwrap().data());
        z.sum_all().backward().unwrap();
        assert_eq!(v.grad().unwrap().data(), &[0.5, 0.25, 0.5, 0.25]);
        let back = n.denormalize_var(&z).unwrap();
        assert!(back.value().max_abs_diff(&x) < 1e-6);
    }

    #[test]
    fn json_and_tensor_round_trips() {
        let n = Normalizer::new(vec![0.1, -3.5], vec![0.7, 1e-3]).unwrap();
        assert_eq!(Normalizer::from_json(&n.to_json()).unwrap(), n);
        let tensors = n.to_tensors("norm.");
        assert_eq!(
            tensors.keys().collect::<Vec<_>>(),
            ["norm.mean", "norm.std"]
        );
        assert_eq!(Normalizer::from_tensors(&tensors, "norm.").unwrap(), n);
        assert!(Normalizer::from_tensors(&tensors, "other.").is_err());
        assert!(Normalizer::from_json(r#"{"mean":[0],"std":[0]}"#).is_err());
        assert!(Normalizer::from_json("[").is_err());
    }
}
