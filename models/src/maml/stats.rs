//! Mean and 95% confidence interval of a sample.

use serde::{Deserialize, Serialize};

/// A sample mean with the half-width of its normal-approximation 95%
/// confidence interval (1.96·s/√n).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanCi {
    /// The mean.
    pub mean: f64,
    /// Half-width of the 95% interval.
    pub ci95: f64,
}

impl MeanCi {
    /// Statistics of `values` (an empty sample gives NaN).
    pub fn of(values: &[f32]) -> MeanCi {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0).max(1.0);
        MeanCi {
            mean,
            ci95: 1.96 * (var / n).sqrt(),
        }
    }
}

impl std::fmt::Display for MeanCi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3} ± {:.3}", self.mean, self.ci95)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_values() {
        let s = MeanCi::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.mean, 2.5);
        // sample variance 5/3, n = 4
        assert!((s.ci95 - 1.96 * (5.0f64 / 3.0 / 4.0).sqrt()).abs() < 1e-12);
    }
}
