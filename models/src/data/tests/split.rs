use super::message;
use crate::data::{split_indices, take_rows};
use ferrograd_tensor::Tensor;

#[test]
fn split_is_deterministic_disjoint_and_complete() {
    let a = split_indices(1000, 0.15, 0.1, 42).unwrap();
    assert_eq!(a, split_indices(1000, 0.15, 0.1, 42).unwrap());
    assert_ne!(a, split_indices(1000, 0.15, 0.1, 43).unwrap());
    let (train, valid, test) = a;
    assert_eq!((train.len(), valid.len(), test.len()), (750, 150, 100));
    let mut all: Vec<usize> = [train.clone(), valid.clone(), test.clone()].concat();
    all.sort_unstable();
    assert_eq!(all, (0..1000).collect::<Vec<_>>());
    for part in [&train, &valid, &test] {
        assert!(part.windows(2).all(|w| w[0] < w[1]));
    }
    // A shuffle, not a cut: the test rows are spread over the file.
    assert!(test[0] < 100 && test[99] > 900, "{test:?}");
}

#[test]
fn zero_fractions_give_empty_parts() {
    let (train, valid, test) = split_indices(5, 0.0, 0.0, 1).unwrap();
    assert_eq!(
        (train, valid.len(), test.len()),
        (vec![0, 1, 2, 3, 4], 0, 0)
    );
}

#[test]
fn bad_fractions_and_empty_parts_are_errors_naming_the_numbers() {
    let m = message(split_indices(100, 1.5, 0.0, 0));
    assert!(
        m.contains("validation fraction 1.5 is not in [0, 1)"),
        "{m}"
    );
    let m = message(split_indices(100, 0.1, -0.1, 0));
    assert!(m.contains("test fraction -0.1"), "{m}");
    assert!(split_indices(100, f64::NAN, 0.0, 0).is_err());
    let m = message(split_indices(10, 0.2, 0.01, 0));
    assert!(
        m.contains("test fraction 0.01 of 10 rows gives no test rows"),
        "{m}"
    );
    assert!(m.contains("at least 50 rows"), "{m}");
    let m = message(split_indices(4, 0.5, 0.5, 0));
    assert!(
        m.contains("4 rows split into 2 validation and 2 test rows"),
        "{m}"
    );
    assert!(m.contains("no training rows"), "{m}");
    assert!(split_indices(0, 0.0, 0.0, 0).is_err());
}

#[test]
fn take_rows_picks_rows_in_order() {
    let t = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[4, 3]).unwrap();
    let picked = take_rows(&t, &[3, 1, 3]).unwrap();
    assert_eq!(picked.dims(), &[3, 3]);
    assert_eq!(
        picked.data(),
        &[9.0, 10.0, 11.0, 3.0, 4.0, 5.0, 9.0, 10.0, 11.0]
    );
    assert_eq!(take_rows(&t, &[]).unwrap().dims(), &[0, 3]);
    assert!(message(take_rows(&t, &[4])).contains('4'));
}
