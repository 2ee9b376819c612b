//! Tests of the image → cloud conversion, the digit filter and the split.

use super::{clouds, image_cloud, of_digit, train_test_split, DEFAULT_POINTS};
use crate::data::idx::{builtin_mnist, IdxImages};
use ferrograd_nn::Error;

/// The (row, col) pixel of a 28 × 28 image a point falls in.
fn pixel_of([x, y]: [f32; 2]) -> (usize, usize) {
    let c = ((f64::from(x) + 1.0) * 14.0).floor().clamp(0.0, 27.0) as usize;
    let r = ((1.0 - f64::from(y)) * 14.0).floor().clamp(0.0, 27.0) as usize;
    (r, c)
}

#[test]
fn single_bright_pixel_gives_points_inside_it() {
    let (r, c) = (5, 20);
    let mut image = [0u8; 784];
    image[r * 28 + c] = 200;
    let cloud = image_cloud(&image, 28, 28, DEFAULT_POINTS, 1).unwrap();
    assert_eq!(cloud.len(), 500);
    // The pixel's centre: x to the right of the middle, y up (row 5 is high).
    let (cx, cy) = (
        2.0 * (c as f32 + 0.5) / 28.0 - 1.0,
        1.0 - 2.0 * (r as f32 + 0.5) / 28.0,
    );
    let half = 1.0 / 28.0 + 1e-6;
    assert!(cloud
        .iter()
        .all(|&[x, y]| (x - cx).abs() <= half && (y - cy).abs() <= half));
    assert!(cy > 0.5 && cx > 0.4);
    // The jitter spreads the points over the whole pixel.
    let xs: Vec<f32> = cloud.iter().map(|p| p[0]).collect();
    let spread =
        xs.iter().cloned().fold(f32::MIN, f32::max) - xs.iter().cloned().fold(f32::MAX, f32::min);
    assert!(spread > 0.9 * 2.0 / 28.0, "{spread}");
}

#[test]
fn points_follow_the_intensity() {
    let mut image = [0u8; 784];
    image[0] = 200; // top left
    image[783] = 50; // bottom right
    let cloud = image_cloud(&image, 28, 28, 10_000, 2).unwrap();
    let top_left = cloud.iter().filter(|&&[x, y]| x < 0.0 && y > 0.0).count();
    let bottom_right = cloud.iter().filter(|&&[x, y]| x > 0.0 && y < 0.0).count();
    assert_eq!(top_left + bottom_right, 10_000);
    let share = top_left as f64 / 10_000.0;
    assert!((share - 0.8).abs() < 0.03, "{share}");
    assert!(cloud.iter().all(|p| p[0].abs() <= 1.0 && p[1].abs() <= 1.0));
}

#[test]
fn real_digit_clouds_lie_in_the_square_on_inked_pixels() {
    let (images, labels) = builtin_mnist().unwrap();
    let fours = of_digit(&labels, 4).unwrap();
    let picked = &fours[..20];
    let all = clouds(&images, picked, DEFAULT_POINTS, 9).unwrap();
    for (&i, cloud) in picked.iter().zip(&all) {
        assert_eq!(cloud.len(), DEFAULT_POINTS);
        let image = images.image(i).unwrap();
        let mut on_ink = 0;
        for &p in cloud {
            assert!(p[0].abs() <= 1.0 && p[1].abs() <= 1.0, "{p:?}");
            let (r, c) = pixel_of(p);
            on_ink += usize::from(image[r * 28 + c] > 0);
        }
        assert!(on_ink >= 495, "image {i}: {on_ink} of 500 on ink");
        // Bright pixels get more points than faint ones: the mean grey level
        // under the points exceeds the mean over the inked pixels.
        let inked: Vec<f64> = image
            .iter()
            .filter(|&&v| v > 0)
            .map(|&v| f64::from(v))
            .collect();
        let ink_mean = inked.iter().sum::<f64>() / inked.len() as f64;
        let point_mean = cloud
            .iter()
            .map(|&p| {
                let (r, c) = pixel_of(p);
                f64::from(image[r * 28 + c])
            })
            .sum::<f64>()
            / cloud.len() as f64;
        assert!(point_mean > ink_mean, "{point_mean} vs {ink_mean}");
    }
}

#[test]
fn clouds_are_deterministic_per_seed_and_per_image() {
    let (images, _) = builtin_mnist().unwrap();
    let a = clouds(&images, &[3, 7], 100, 5).unwrap();
    assert_eq!(a, clouds(&images, &[3, 7], 100, 5).unwrap());
    assert_eq!(a[1], clouds(&images, &[7], 100, 5).unwrap()[0]);
    assert_ne!(a, clouds(&images, &[3, 7], 100, 6).unwrap());
    let one = image_cloud(images.image(3).unwrap(), 28, 28, 50, 11).unwrap();
    assert_eq!(
        one,
        image_cloud(images.image(3).unwrap(), 28, 28, 50, 11).unwrap()
    );
}

#[test]
fn bad_images_are_errors() {
    let blank = image_cloud(&[0; 784], 28, 28, 10, 0)
        .unwrap_err()
        .to_string();
    assert!(blank.contains("blank"), "{blank}");
    let short = image_cloud(&[1; 700], 28, 28, 10, 0)
        .unwrap_err()
        .to_string();
    assert!(
        short.contains("28 × 28") && short.contains("700"),
        "{short}"
    );
    let images = IdxImages {
        count: 2,
        rows: 2,
        cols: 2,
        pixels: vec![0, 0, 0, 0, 9, 0, 0, 0],
    };
    let past = clouds(&images, &[2], 10, 0).unwrap_err().to_string();
    assert!(
        past.contains("image 2") && past.contains("there are 2"),
        "{past}"
    );
    let blank = clouds(&images, &[1, 0], 10, 0).unwrap_err().to_string();
    assert!(
        blank.starts_with("image 0:") && blank.contains("blank"),
        "{blank}"
    );
    assert!(matches!(of_digit(&[1, 2], 3), Err(Error::Config(_))));
}

#[test]
fn digit_filter_and_split_of_the_shipped_fours() {
    let (_, labels) = builtin_mnist().unwrap();
    let fours = of_digit(&labels, 4).unwrap();
    assert_eq!(fours.len(), 980);
    assert!(fours.iter().all(|&i| labels[i] == 4));
    let missing = of_digit(&labels, 10).unwrap_err().to_string();
    assert!(
        missing.contains("[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"),
        "{missing}"
    );

    let (train, test) = train_test_split(&fours, 42).unwrap();
    assert_eq!((train.len(), test.len()), (882, 98));
    let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, fours);
    assert!(train.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        (train.clone(), test.clone()),
        train_test_split(&fours, 42).unwrap()
    );
    assert_ne!(test, train_test_split(&fours, 43).unwrap().1);
    assert!(train_test_split(&fours[..4], 0).is_err());
}
