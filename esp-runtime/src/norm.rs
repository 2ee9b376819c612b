//! Per-column affine normalisation of a density model's x and features
//! (format version 2): the model sees x̃ = (x − μx)/σx and
//! f̃ = (f − μf)/σf, and densities and samples are in the user's units.

use crate::format::{add, mul, Floats};
use crate::Error;

/// The normalisation statistics of a MAF or MDN blob (version 2), borrowed
/// from the blob: x̃ = (x − μx)/σx, f̃ = (f − μf)/σf.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalisation<'a> {
    /// μx, d values.
    pub x_mean: &'a [f32],
    /// σx, d positive values.
    pub x_std: &'a [f32],
    /// μf, c values.
    pub f_mean: &'a [f32],
    /// σf, c positive values.
    pub f_std: &'a [f32],
}

/// A checked [`Normalisation`] with Σ_j log σx_j fixed at parse time,
/// kept as one slice (μx, σx, μf, σf) so that a model stays small enough
/// for the C ABI's `fg_model`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Norm<'a> {
    /// μx, σx (d each), μf, σf (c each).
    values: &'a [f32],
    /// d (≤ the models' `MAX_DIM`).
    dim: u32,
    /// Σ_j log σx_j (libm `logf`, summed in order), subtracted from every
    /// log-density.
    pub(crate) log_std_sum: f32,
}

impl<'a> Norm<'a> {
    /// Takes μx, σx (d each), μf, σf (c each) from the payload and checks
    /// them: every μ finite, every σ finite and > 0. `d` must fit a u32.
    pub(crate) fn parse(floats: &mut Floats<'a>, d: usize, c: usize) -> Result<Norm<'a>, Error> {
        let dim = u32::try_from(d).map_err(|_| Error::Inconsistent("dimensions overflow"))?;
        let values = floats.take(add(mul(2, d)?, mul(2, c)?)?)?;
        let norm = Norm {
            values,
            dim,
            log_std_sum: 0.0,
        };
        let stats = norm.stats();
        if !stats
            .x_mean
            .iter()
            .chain(stats.f_mean)
            .all(|m| m.is_finite())
        {
            return Err(Error::Inconsistent("normalisation mean is not finite"));
        }
        let positive = |s: &f32| s.is_finite() && *s > 0.0;
        if !stats.x_std.iter().chain(stats.f_std).all(positive) {
            return Err(Error::Inconsistent(
                "normalisation std must be finite and > 0",
            ));
        }
        let mut log_std_sum = 0.0f32;
        for &s in stats.x_std {
            log_std_sum += libm::logf(s);
        }
        Ok(Norm {
            log_std_sum,
            ..norm
        })
    }

    /// The four arrays.
    pub(crate) fn stats(&self) -> Normalisation<'a> {
        let d = self.dim as usize;
        let c = (self.values.len() - 2 * d) / 2;
        let (x, f) = self.values.split_at(2 * d);
        let (x_mean, x_std) = x.split_at(d);
        let (f_mean, f_std) = f.split_at(c);
        Normalisation {
            x_mean,
            x_std,
            f_mean,
            f_std,
        }
    }

    /// `out ← (f − μf)/σf`.
    pub(crate) fn features(&self, f: &[f32], out: &mut [f32]) {
        let s = self.stats();
        for (((o, &v), &m), &sd) in out.iter_mut().zip(f).zip(s.f_mean).zip(s.f_std) {
            *o = (v - m) / sd;
        }
    }

    /// x̃_j = (x_j − μx_j)/σx_j.
    pub(crate) fn x_tilde(&self, j: usize, x: f32) -> f32 {
        let d = self.dim as usize;
        (x - self.values[j]) / self.values[d + j]
    }

    /// `v ← μx + σx ⊙ v` (model units to the user's).
    pub(crate) fn denormalise(&self, v: &mut [f32]) {
        let s = self.stats();
        for ((v, &m), &sd) in v.iter_mut().zip(s.x_mean).zip(s.x_std) {
            *v = m + sd * *v;
        }
    }
}

/// Splits `scratch` for a model with normalisation `norm`: with one, f̃
/// goes to the first c values and the rest is returned beside it; without,
/// the scratch and `features` come back unchanged.
pub(crate) fn split_features<'s>(
    norm: Option<&Norm<'_>>,
    features: &'s [f32],
    scratch: &'s mut [f32],
) -> (&'s [f32], &'s mut [f32]) {
    match norm {
        Some(n) => {
            let (ft, rest) = scratch.split_at_mut(features.len());
            n.features(features, ft);
            (ft, rest)
        }
        None => (features, scratch),
    }
}
