//! Chamfer distance between 2-D point clouds.
//!
//! For clouds `A` (`n` points) and `B` (`m` points):
//!
//! `CD(A, B) = (1/n) Σ_{a∈A} min_{b∈B} ‖a − b‖² + (1/m) Σ_{b∈B} min_{a∈A} ‖a − b‖²`,
//!
//! the mean squared distance to the nearest neighbour in the other cloud,
//! both directions added. Nearest neighbours are exact: one cloud is sorted
//! by x and each query scans outwards from its x position, stopping once
//! `(Δx)²` alone exceeds the best squared distance found so far.

use ferrograd_nn::{Error, Result};
use ferrograd_tensor::Tensor;

/// A cloud sorted by x, for exact nearest-neighbour queries.
struct SortedCloud {
    xs: Vec<f32>,
    ys: Vec<f32>,
}

impl SortedCloud {
    fn new(points: &[[f32; 2]]) -> SortedCloud {
        let mut p = points.to_vec();
        p.sort_by(|a, b| a[0].total_cmp(&b[0]));
        SortedCloud {
            xs: p.iter().map(|q| q[0]).collect(),
            ys: p.iter().map(|q| q[1]).collect(),
        }
    }

    /// The squared distance from `q` to its nearest point (the cloud is not empty).
    fn nearest_sq(&self, q: [f32; 2]) -> f32 {
        let start = self.xs.partition_point(|&x| x < q[0]);
        let mut best = f32::INFINITY;
        // Right of q (x ≥ q.x), then left.
        for i in start..self.xs.len() {
            let dx = self.xs[i] - q[0];
            if dx * dx > best {
                break;
            }
            let dy = self.ys[i] - q[1];
            best = best.min(dx * dx + dy * dy);
        }
        for i in (0..start).rev() {
            let dx = q[0] - self.xs[i];
            if dx * dx > best {
                break;
            }
            let dy = self.ys[i] - q[1];
            best = best.min(dx * dx + dy * dy);
        }
        best
    }
}

/// The mean over `from` of the squared distance to the nearest point of `to`
/// (exact, x-sorted search).
pub fn mean_nearest_sq(from: &[[f32; 2]], to: &[[f32; 2]]) -> f32 {
    let sorted = SortedCloud::new(to);
    let total: f64 = from.iter().map(|&q| sorted.nearest_sq(q) as f64).sum();
    (total / from.len().max(1) as f64) as f32
}

/// The same as [`mean_nearest_sq`] by brute force, O(n·m): the reference
/// the fast search is tested against.
pub fn mean_nearest_sq_brute(from: &[[f32; 2]], to: &[[f32; 2]]) -> f32 {
    let total: f64 = from
        .iter()
        .map(|a| {
            to.iter()
                .map(|b| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2))
                .fold(f32::INFINITY, f32::min) as f64
        })
        .sum();
    (total / from.len().max(1) as f64) as f32
}

/// The Chamfer distance of two clouds given as point lists (both non-empty).
pub fn chamfer_points(a: &[[f32; 2]], b: &[[f32; 2]]) -> Result<f32> {
    if a.is_empty() || b.is_empty() {
        return Err(Error::Config(format!(
            "chamfer: both clouds need points, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    if a.iter().chain(b).flatten().any(|v| !v.is_finite()) {
        return Err(Error::Config(
            "chamfer: the clouds hold a non-finite coordinate".into(),
        ));
    }
    Ok(mean_nearest_sq(a, b) + mean_nearest_sq(b, a))
}

/// The points of a `[n, 2]` slice of row-major values.
fn as_points(d: &[f32]) -> Vec<[f32; 2]> {
    d.chunks_exact(2).map(|p| [p[0], p[1]]).collect()
}

/// The Chamfer distance between clouds `[n, 2]` and `[m, 2]`.
///
/// ```
/// use ferrograd_models::flow::chamfer::chamfer;
/// use ferrograd_tensor::Tensor;
/// let a = Tensor::from_vec(vec![0.0, 0.0, 1.0, 0.0], &[2, 2]).unwrap();
/// let b = Tensor::from_vec(vec![0.0, 0.5], &[1, 2]).unwrap();
/// // A → B: (0.25 + 1.25) / 2; B → A: 0.25.
/// assert!((chamfer(&a, &b).unwrap() - 1.0).abs() < 1e-6);
/// ```
pub fn chamfer(a: &Tensor, b: &Tensor) -> Result<f32> {
    for (name, t) in [("first", a), ("second", b)] {
        if t.dims().len() != 2 || t.dims()[1] != 2 {
            return Err(Error::Config(format!(
                "chamfer: the {name} cloud must be [n, 2], got {:?}",
                t.dims()
            )));
        }
    }
    chamfer_points(&as_points(a.data()), &as_points(b.data()))
}

/// Chamfer distances of `[B, n, 2]` against `[B, m, 2]`, one per batch entry.
pub fn chamfer_batch(a: &Tensor, b: &Tensor) -> Result<Vec<f32>> {
    let (ad, bd) = (a.dims(), b.dims());
    if ad.len() != 3 || bd.len() != 3 || ad[2] != 2 || bd[2] != 2 || ad[0] != bd[0] {
        return Err(Error::Config(format!(
            "chamfer: batches must be [B, n, 2] and [B, m, 2] with the same B, got {ad:?} and {bd:?}"
        )));
    }
    let (sa, sb) = (ad[1] * 2, bd[1] * 2);
    (0..ad[0])
        .map(|i| {
            chamfer_points(
                &as_points(&a.data()[i * sa..(i + 1) * sa]),
                &as_points(&b.data()[i * sb..(i + 1) * sb]),
            )
        })
        .collect()
}

/// The mean of [`chamfer_batch`].
pub fn chamfer_batch_mean(a: &Tensor, b: &Tensor) -> Result<f32> {
    let all = chamfer_batch(a, b)?;
    Ok(all.iter().sum::<f32>() / all.len().max(1) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_cloud(n: usize, seed: u64) -> Vec<[f32; 2]> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
            .collect()
    }

    fn tensor(p: &[[f32; 2]]) -> Tensor {
        Tensor::from_vec(p.iter().flatten().copied().collect(), &[p.len(), 2]).unwrap()
    }

    #[test]
    fn identical_clouds_are_zero() {
        let a = random_cloud(50, 1);
        assert_eq!(chamfer(&tensor(&a), &tensor(&a)).unwrap(), 0.0);
    }

    #[test]
    fn one_shifted_point_by_hand() {
        // A grid with spacing 1; shifting one point by (0.1, 0) leaves its
        // nearest neighbour at 0.1 in both directions: 0.01/n + 0.01/n.
        let a: Vec<[f32; 2]> = (0..4)
            .flat_map(|i| (0..4).map(move |j| [i as f32, j as f32]))
            .collect();
        let mut b = a.clone();
        b[5][0] += 0.1;
        let cd = chamfer(&tensor(&a), &tensor(&b)).unwrap();
        assert!((cd - 2.0 * 0.01 / 16.0).abs() < 1e-6, "{cd}");
    }

    #[test]
    fn translated_cloud_by_hand() {
        // Points 10 apart, translated by (0.3, −0.4): every nearest
        // neighbour is the moved copy at squared distance 0.25.
        let a: Vec<[f32; 2]> = (0..5).map(|i| [10.0 * i as f32, 0.0]).collect();
        let b: Vec<[f32; 2]> = a.iter().map(|p| [p[0] + 0.3, p[1] - 0.4]).collect();
        let cd = chamfer(&tensor(&a), &tensor(&b)).unwrap();
        assert!((cd - 0.5).abs() < 1e-5, "{cd}");
    }

    #[test]
    fn fast_search_matches_brute_force_and_is_fast() {
        for seed in 0..5 {
            let a = random_cloud(500, seed);
            let b = random_cloud(400 + seed as usize * 37, seed + 100);
            let fast = mean_nearest_sq(&a, &b);
            let brute = mean_nearest_sq_brute(&a, &b);
            assert!(
                (fast - brute).abs() <= 1e-6 * brute.max(1e-3),
                "{fast} vs {brute}"
            );
        }
        let (a, b) = (random_cloud(500, 7), random_cloud(500, 8));
        let t0 = std::time::Instant::now();
        for _ in 0..20 {
            std::hint::black_box(chamfer_points(&a, &b).unwrap());
        }
        let fast = t0.elapsed() / 20;
        let t0 = std::time::Instant::now();
        for _ in 0..20 {
            std::hint::black_box(mean_nearest_sq_brute(&a, &b) + mean_nearest_sq_brute(&b, &a));
        }
        let brute = t0.elapsed() / 20;
        eprintln!("chamfer 500x500: x-sorted {fast:?}, brute force {brute:?}");
    }

    #[test]
    fn batched_and_errors() {
        let (a, b) = (random_cloud(30, 1), random_cloud(20, 2));
        let mut ab: Vec<f32> = a.iter().flatten().copied().collect();
        ab.extend(b.iter().flatten());
        let mut ba: Vec<f32> = b.iter().flatten().copied().collect();
        ba.extend(b.iter().flatten());
        // Batches of [2, 25, 2] built from the same 50 points.
        let x = Tensor::from_vec(ab[..100].to_vec(), &[2, 25, 2]).unwrap();
        let y = Tensor::from_vec(ba[..80].to_vec(), &[2, 20, 2]).unwrap();
        let per = chamfer_batch(&x, &y).unwrap();
        let first = chamfer_points(&as_points(&ab[..50]), &b).unwrap();
        assert!((per[0] - first).abs() < 1e-6);
        assert!((chamfer_batch_mean(&x, &y).unwrap() - (per[0] + per[1]) / 2.0).abs() < 1e-6);
        let bad = Tensor::zeros(&[3, 20, 2]).unwrap();
        assert!(matches!(chamfer_batch(&x, &bad), Err(Error::Config(_))));
        assert!(matches!(
            chamfer(&Tensor::zeros(&[3, 3]).unwrap(), &tensor(&a)),
            Err(Error::Config(_))
        ));
        assert!(chamfer_points(&[], &a).is_err());
        assert!(chamfer_points(&[[f32::NAN, 0.0]], &a).is_err());
    }
}
