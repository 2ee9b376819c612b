//! A built-in generator of synthetic handwritten digits drawn as 2-D point
//! clouds: each digit 0–9 is a few pen strokes (polylines), bent by a
//! random affine transform per cloud, and the points are spread along the
//! strokes by arc length with a Gaussian pen width. Thousands of clouds in
//! milliseconds, for tests and quick experiments (`--synthetic`); the real
//! digits come from [`super::digits`].

use ferrograd_nn::{Error, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::f32::consts::PI;

/// A polyline.
type Stroke = Vec<[f32; 2]>;

/// Points of an elliptic arc centred at (cx, cy) with radii (rx, ry), from
/// angle `a0` to `a1` (radians, counter-clockwise from +x).
fn arc(cx: f32, cy: f32, rx: f32, ry: f32, a0: f32, a1: f32) -> Stroke {
    const N: usize = 24;
    (0..=N)
        .map(|k| {
            let a = a0 + (a1 - a0) * k as f32 / N as f32;
            [cx + rx * a.cos(), cy + ry * a.sin()]
        })
        .collect()
}

/// The strokes of `digit` in the box [−0.6, 0.6] × [−0.8, 0.8], y up.
fn strokes(digit: u8) -> Vec<Stroke> {
    let deg = PI / 180.0;
    match digit {
        0 => vec![arc(0.0, 0.0, 0.45, 0.78, 0.0, 2.0 * PI)],
        1 => vec![vec![[-0.25, 0.5], [0.05, 0.8], [0.05, -0.8]]],
        2 => {
            let mut s = arc(0.0, 0.38, 0.45, 0.42, 160.0 * deg, -40.0 * deg);
            s.extend([[-0.5, -0.8], [0.5, -0.8]]);
            vec![s]
        }
        3 => {
            let mut s = arc(0.0, 0.4, 0.42, 0.4, 150.0 * deg, -90.0 * deg);
            s.extend(arc(0.0, -0.4, 0.46, 0.4, 90.0 * deg, -150.0 * deg));
            vec![s]
        }
        4 => vec![vec![[0.2, -0.8], [0.2, 0.8], [-0.5, -0.25], [0.5, -0.25]]],
        5 => {
            let mut s = vec![[0.45, 0.8], [-0.35, 0.8], [-0.42, 0.08]];
            s.extend(arc(0.0, -0.32, 0.45, 0.45, 130.0 * deg, -140.0 * deg));
            vec![s]
        }
        6 => {
            let mut s = arc(0.25, 0.05, 0.7, 0.75, 80.0 * deg, 180.0 * deg);
            s.extend(arc(0.0, -0.4, 0.45, 0.4, 180.0 * deg, 540.0 * deg));
            vec![s]
        }
        7 => vec![vec![[-0.5, 0.8], [0.5, 0.8], [-0.1, -0.8]]],
        8 => vec![
            arc(0.0, 0.42, 0.36, 0.36, -90.0 * deg, 270.0 * deg),
            arc(0.0, -0.38, 0.44, 0.42, 90.0 * deg, 450.0 * deg),
        ],
        _ => {
            let mut s = arc(0.0, 0.38, 0.42, 0.4, 0.0, 360.0 * deg);
            s.extend([[0.42, 0.38], [0.3, -0.8]]);
            vec![s]
        }
    }
}

/// `n` synthetic clouds of `digit` (0–9), `points` points each, seeded.
///
/// ```
/// use ferrograd_models::data::strokes::synthetic_clouds;
/// let clouds = synthetic_clouds(4, 3, 100, 7).unwrap();
/// assert_eq!((clouds.len(), clouds[0].len()), (3, 100));
/// assert!(clouds[0].iter().all(|p| p[0].abs() <= 1.0 && p[1].abs() <= 1.0));
/// ```
pub fn synthetic_clouds(
    digit: u8,
    n: usize,
    points: usize,
    seed: u64,
) -> Result<Vec<Vec<[f32; 2]>>> {
    if digit > 9 {
        return Err(Error::Config(format!(
            "synthetic digits are 0 to 9, not {digit}"
        )));
    }
    if points == 0 {
        return Err(Error::Config("a cloud needs at least one point".into()));
    }
    let mut rng = StdRng::seed_from_u64(seed ^ (digit as u64).wrapping_mul(0x9E37_79B9));
    let pen = Normal::new(0.0f32, 0.035).expect("valid σ");
    let base = strokes(digit);
    Ok((0..n)
        .map(|_| one_cloud(&base, points, &mut rng, &pen))
        .collect())
}

/// One cloud: a random affine transform of the strokes (rotation ±12°,
/// scale 0.8–1.05, shear ±0.25, shift ±0.08), then points by arc length.
fn one_cloud(base: &[Stroke], points: usize, rng: &mut StdRng, pen: &Normal<f32>) -> Vec<[f32; 2]> {
    let rot = rng.random_range(-12.0f32..12.0).to_radians();
    let (sx, sy) = (
        rng.random_range(0.8f32..1.05),
        rng.random_range(0.8f32..1.05),
    );
    let shear = rng.random_range(-0.25f32..0.25);
    let (tx, ty) = (
        rng.random_range(-0.08f32..0.08),
        rng.random_range(-0.08f32..0.08),
    );
    let (c, s) = (rot.cos(), rot.sin());
    let map = |[x, y]: [f32; 2]| {
        let (x, y) = (sx * (x + shear * y), sy * y);
        [c * x - s * y + tx, s * x + c * y + ty]
    };
    let segments: Vec<([f32; 2], [f32; 2])> = base
        .iter()
        .flat_map(|st| st.windows(2).map(|w| (map(w[0]), map(w[1]))))
        .collect();
    let mut cum = Vec::with_capacity(segments.len());
    let mut total = 0.0f32;
    for (a, b) in &segments {
        total += ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        cum.push(total);
    }
    (0..points)
        .map(|_| {
            let u = rng.random::<f32>() * total;
            let k = cum.partition_point(|&c| c < u).min(segments.len() - 1);
            let (a, b) = segments[k];
            let f = rng.random::<f32>();
            let p = [
                a[0] + f * (b[0] - a[0]) + pen.sample(rng),
                a[1] + f * (b[1] - a[1]) + pen.sample(rng),
            ];
            [p[0].clamp(-1.0, 1.0), p[1].clamp(-1.0, 1.0)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::chamfer::chamfer_points;

    #[test]
    fn seeded_in_range_and_digits_differ() {
        let a = synthetic_clouds(4, 5, 300, 1).unwrap();
        assert_eq!(a, synthetic_clouds(4, 5, 300, 1).unwrap());
        assert_ne!(a, synthetic_clouds(4, 5, 300, 2).unwrap());
        for d in 0..10 {
            let c = synthetic_clouds(d, 2, 200, 3).unwrap();
            assert!(c.iter().flatten().all(|p| p.iter().all(|v| v.abs() <= 1.0)));
        }
        // Two fours are closer to each other than a four to a one.
        let fours = synthetic_clouds(4, 2, 400, 5).unwrap();
        let one = &synthetic_clouds(1, 1, 400, 5).unwrap()[0];
        let same = chamfer_points(&fours[0], &fours[1]).unwrap();
        let other = chamfer_points(&fours[0], one).unwrap();
        assert!(same < other, "{same} vs {other}");
        assert!(synthetic_clouds(10, 1, 10, 0).is_err());
        assert!(synthetic_clouds(3, 1, 0, 0).is_err());
    }
}
