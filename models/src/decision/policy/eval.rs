//! Evaluation: action accuracy on labelled states, and closed-loop success
//! over new episodes with Wilson 95% confidence intervals.

use super::demos::StateSet;
use super::model::PolicyNet;
use super::rollout::Trajectory;
use super::sim::Outcome;
use ferrograd_nn::Result;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The fraction of `set`'s rows where `net`'s action is the expert's.
pub fn accuracy(net: &PolicyNet, set: &StateSet) -> Result<f64> {
    const CHUNK: usize = 4096;
    let mut right = 0usize;
    for start in (0..set.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(set.len());
        let pred = net.predict(&set.obs[start * set.dim..end * set.dim])?;
        right += pred
            .iter()
            .zip(&set.actions[start..end])
            .filter(|(p, a)| p == a)
            .count();
    }
    Ok(right as f64 / set.len().max(1) as f64)
}

/// The fraction of `set`'s rows where `net`'s action starts a shortest
/// path (the expert's action, or another as short).
pub fn optimal_rate(net: &PolicyNet, set: &StateSet) -> Result<f64> {
    let pred = net.predict(&set.obs)?;
    let ok = pred
        .iter()
        .zip(&set.optimal)
        .filter(|(&p, &m)| m & 1 << p != 0)
        .count();
    Ok(ok as f64 / set.len().max(1) as f64)
}

/// The Wilson score interval at 95% (z = 1.96) of `k` successes in `n`
/// trials; `(0, 1)` for `n = 0`.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054f64;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// A paired comparison of two controllers on the same episodes: the
/// episodes only the first solved, those only the second solved, and the
/// exact two-sided McNemar p-value (the binomial test of the discordant
/// pairs against one half).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// The first controller.
    pub first: String,
    /// The second controller.
    pub second: String,
    /// Episodes the first solved and the second did not.
    pub only_first: usize,
    /// Episodes the second solved and the first did not.
    pub only_second: usize,
    /// Exact McNemar p-value (1 with no discordant episode).
    pub p_value: f64,
}

impl Paired {
    /// Compares `a` and `b`, episode by episode.
    pub fn of(first: &str, a: &[Trajectory], second: &str, b: &[Trajectory]) -> Paired {
        let only_first = a
            .iter()
            .zip(b)
            .filter(|(x, y)| x.success() && !y.success())
            .count();
        let only_second = a
            .iter()
            .zip(b)
            .filter(|(x, y)| !x.success() && y.success())
            .count();
        Paired {
            first: first.into(),
            second: second.into(),
            only_first,
            only_second,
            p_value: mcnemar_exact(only_first, only_second),
        }
    }
}

impl fmt::Display for Paired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "paired: {} episodes solved only by {}, {} only by {} (exact McNemar p = {:.3})",
            self.only_second, self.second, self.only_first, self.first, self.p_value
        )
    }
}

/// `min(1, 2·P(X ≤ min(b, c)))` for X ~ Binomial(b + c, ½).
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    // log C(n, k) − n log 2, summed in probability space.
    let mut log_c = 0.0f64; // log C(n, 0)
    let mut tail = 0.0;
    for k in 0..=b.min(c) {
        if k > 0 {
            log_c += ((n - k + 1) as f64).ln() - (k as f64).ln();
        }
        tail += (log_c - n as f64 * std::f64::consts::LN_2).exp();
    }
    (2.0 * tail).min(1.0)
}

/// How one controller did over a set of episodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClosedLoop {
    /// `expert`, `behaviour cloning` or `DAgger`.
    pub controller: String,
    /// Episodes driven.
    pub episodes: usize,
    /// Episodes that reached the goal.
    pub successes: usize,
    /// `successes / episodes`.
    pub success_rate: f64,
    /// Wilson 95% interval of the success rate.
    pub ci95: (f64, f64),
    /// Episodes ended by a collision.
    pub collisions: usize,
    /// Episodes ended by the step limit.
    pub timeouts: usize,
    /// Over the successful episodes, the mean of path cost / shortest path
    /// cost (1 is optimal).
    pub path_ratio: f64,
}

impl ClosedLoop {
    /// The summary of `trajs` under the name `controller`.
    pub fn of(controller: &str, trajs: &[Trajectory]) -> ClosedLoop {
        let n = trajs.len();
        let count = |o: Outcome| trajs.iter().filter(|t| t.outcome == o).count();
        let k = count(Outcome::Reached);
        let ratios: Vec<f64> = trajs
            .iter()
            .filter(|t| t.success() && t.optimal_cost > 0)
            .map(|t| t.cost as f64 / t.optimal_cost as f64)
            .collect();
        ClosedLoop {
            controller: controller.to_string(),
            episodes: n,
            successes: k,
            success_rate: k as f64 / n.max(1) as f64,
            ci95: wilson(k, n),
            collisions: count(Outcome::Collided),
            timeouts: count(Outcome::TimedOut),
            path_ratio: ratios.iter().sum::<f64>() / ratios.len().max(1) as f64,
        }
    }
}

impl fmt::Display for ClosedLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<18} success {:5.1}% [{:.1}, {:.1}] ({}/{}), {} collisions, {} timeouts, path {:.3}× shortest",
            self.controller,
            100.0 * self.success_rate,
            100.0 * self.ci95.0,
            100.0 * self.ci95.1,
            self.successes,
            self.episodes,
            self.collisions,
            self.timeouts,
            self.path_ratio
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_the_binomial_tail() {
        // b = 1, c = 9: 2·(1 + 10)/1024.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert!((mcnemar_exact(0, 6) - 2.0 / 64.0).abs() < 1e-12);
    }

    #[test]
    fn wilson_matches_known_intervals() {
        // 45/50: the textbook interval is (0.7864, 0.9565).
        let (lo, hi) = wilson(45, 50);
        assert!(
            (lo - 0.7864).abs() < 1e-3 && (hi - 0.9565).abs() < 1e-3,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-3, "{hi}");
        let (lo, hi) = wilson(500, 500);
        assert!(hi == 1.0 && lo > 0.99 && lo < 0.995, "{lo}");
    }
}
