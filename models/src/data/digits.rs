//! Grey-level digit images as 2-D point clouds, a filter by digit, and a
//! seeded 90/10 train/test split of the images.
//!
//! # Image → cloud
//! An image of `rows × cols` grey levels is a probability distribution over
//! its pixels, pixel (r, c) having probability `v(r, c) / Σ v`. A cloud of
//! N points (default [`DEFAULT_POINTS`]) draws N pixels from it
//! independently (with replacement, so a bright pixel gives several points)
//! and places each point uniformly at random inside its pixel: at
//! `(c + u, r + w)` in pixel units with `u, w ~ U[0, 1)`. The image square
//! is mapped to [−1, 1]² with y up: with `s = max(rows, cols)`,
//!
//! ```text
//! x = 2 (c + u − cols / 2) / s,    y = −2 (r + w − rows / 2) / s
//! ```
//!
//! so row 0 (the top of the image) is at y ≈ 1, column 0 at x ≈ −1, and a
//! pixel is `2 / s` wide (1/14 for MNIST's 28 × 28). A non-square image is
//! centred and keeps its aspect ratio. The draws come from `seed`, so a
//! cloud is a pure function of the image, N and the seed.

use crate::data::idx::IdxImages;
use crate::data::split_indices;
use ferrograd_nn::{Error, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The number of points of a cloud unless asked otherwise.
pub const DEFAULT_POINTS: usize = 500;
/// The fraction of the images in the test part of [`train_test_split`].
pub const TEST_FRACTION: f64 = 0.1;

/// A cloud of `points` points drawn from a `rows × cols` image in
/// proportion to its grey levels, with sub-pixel jitter, in [−1, 1]² with y
/// up (see the module docs for the exact mapping).
///
/// Errors when `pixels` does not hold `rows × cols` values and when the
/// image is all zero (no ink to draw from).
///
/// ```
/// use ferrograd_models::data::digits::image_cloud;
/// // A 2 × 2 image with ink only at the top left.
/// let cloud = image_cloud(&[255, 0, 0, 0], 2, 2, 100, 7).unwrap();
/// assert_eq!(cloud.len(), 100);
/// assert!(cloud.iter().all(|&[x, y]| (-1.0..=0.0).contains(&x) && (0.0..=1.0).contains(&y)));
/// ```
pub fn image_cloud(
    pixels: &[u8],
    rows: usize,
    cols: usize,
    points: usize,
    seed: u64,
) -> Result<Vec<[f32; 2]>> {
    if rows.checked_mul(cols) != Some(pixels.len()) {
        return Err(Error::Config(format!(
            "an image of {rows} × {cols} pixels cannot have {} values",
            pixels.len()
        )));
    }
    // Running sums of the grey levels: pixel k covers [cum[k] − v[k], cum[k]).
    let cum: Vec<u64> = pixels
        .iter()
        .scan(0u64, |total, &v| {
            *total += u64::from(v);
            Some(*total)
        })
        .collect();
    let total = cum.last().copied().unwrap_or(0);
    if total == 0 {
        return Err(Error::Config(format!(
            "the {rows} × {cols} image is blank (every pixel 0): no ink to draw points from"
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let scale = 2.0 / rows.max(cols) as f64;
    let (half_rows, half_cols) = (rows as f64 / 2.0, cols as f64 / 2.0);
    let cloud = (0..points)
        .map(|_| {
            let t = rng.random_range(0..total);
            let k = cum.partition_point(|&c| c <= t);
            let (r, c) = ((k / cols) as f64, (k % cols) as f64);
            let u: f64 = rng.random();
            let w: f64 = rng.random();
            let x = scale * (c + u - half_cols);
            let y = -scale * (r + w - half_rows);
            [x as f32, y as f32]
        })
        .collect();
    Ok(cloud)
}

/// The clouds of images `indices` of `images`, `points` points each. Image
/// i's cloud is drawn with a seed mixed from `seed` and i, so it does not
/// depend on which other images are asked for or in what order.
///
/// Errors name an index past the end and a blank image.
pub fn clouds(
    images: &IdxImages,
    indices: &[usize],
    points: usize,
    seed: u64,
) -> Result<Vec<Vec<[f32; 2]>>> {
    indices
        .iter()
        .map(|&i| {
            let pixels = images.image(i).ok_or_else(|| {
                Error::Config(format!(
                    "image {i} asked for, but there are {}",
                    images.count
                ))
            })?;
            image_cloud(
                pixels,
                images.rows,
                images.cols,
                points,
                mix(seed, i as u64),
            )
            .map_err(|e| Error::Config(format!("image {i}: {e}")))
        })
        .collect()
}

/// A seed for item `i` of a run seeded with `seed` (SplitMix64 finaliser).
fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The indices of the images labelled `digit`, ascending; an error (naming
/// the labels present) when there are none.
///
/// ```
/// use ferrograd_models::data::digits::of_digit;
/// assert_eq!(of_digit(&[4, 1, 4, 0], 4).unwrap(), [0, 2]);
/// assert!(of_digit(&[4, 1, 4, 0], 7).is_err());
/// ```
pub fn of_digit(labels: &[u8], digit: u8) -> Result<Vec<usize>> {
    let found: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == digit).collect();
    if found.is_empty() {
        let mut present = labels.to_vec();
        present.sort_unstable();
        present.dedup();
        return Err(Error::Config(format!(
            "no image is labelled {digit}; the {} labels are {present:?}",
            labels.len()
        )));
    }
    Ok(found)
}

/// A seeded split of `indices` into a training part (90 %) and a test part
/// ([`TEST_FRACTION`], rounded), each keeping the order of `indices`; the
/// same indices and seed give the same split. Errors when there are too few
/// indices for a non-empty test part (fewer than 5).
///
/// ```
/// use ferrograd_models::data::digits::train_test_split;
/// let (train, test) = train_test_split(&(100..120).collect::<Vec<_>>(), 3).unwrap();
/// assert_eq!((train.len(), test.len()), (18, 2));
/// ```
pub fn train_test_split(indices: &[usize], seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    let (train, _, test) = split_indices(indices.len(), 0.0, TEST_FRACTION, seed)?;
    let pick = |part: Vec<usize>| part.into_iter().map(|k| indices[k]).collect();
    Ok((pick(train), pick(test)))
}

#[cfg(test)]
mod tests;
