//! Seeded train / validation / test splits of a table's rows.

use ferrograd_nn::{Error, Result};
use ferrograd_tensor::{Indices, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Row indices of the training, validation and test parts of `n` rows.
///
/// The rows are shuffled with `seed` (the same arguments give the same split)
/// and the validation and test parts get `round(n · fraction)` rows each; the
/// training part gets the rest. Each part is sorted ascending, so the rows
/// keep their file order. A fraction of 0 asks for an empty part (e.g. when
/// the user gives a separate validation file).
///
/// Errors when a fraction is not in [0, 1), when the fractions leave no
/// training rows, and when a non-zero fraction of `n` rounds to no rows; the
/// message names the numbers.
///
/// ```
/// use ferrograd_models::data::split_indices;
/// let (train, valid, test) = split_indices(10, 0.2, 0.1, 7).unwrap();
/// assert_eq!((train.len(), valid.len(), test.len()), (7, 2, 1));
/// assert!(split_indices(10, 0.01, 0.0, 7).is_err());
/// ```
pub fn split_indices(
    n: usize,
    valid_fraction: f64,
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>)> {
    for (what, f) in [("validation", valid_fraction), ("test", test_fraction)] {
        if !(0.0..1.0).contains(&f) {
            return Err(Error::Config(format!(
                "{what} fraction {f} is not in [0, 1)"
            )));
        }
    }
    let n_valid = (n as f64 * valid_fraction).round() as usize;
    let n_test = (n as f64 * test_fraction).round() as usize;
    for (what, f, count) in [
        ("validation", valid_fraction, n_valid),
        ("test", test_fraction, n_test),
    ] {
        if f > 0.0 && count == 0 {
            return Err(Error::Config(format!(
                "{what} fraction {f} of {n} rows gives no {what} rows; \
                 fewer rows than the split needs (at least {} rows)",
                (0.5 / f).ceil() as usize
            )));
        }
    }
    if n_valid + n_test >= n {
        return Err(Error::Config(format!(
            "{n} rows split into {n_valid} validation and {n_test} test rows \
             (fractions {valid_fraction} and {test_fraction}) leave no training rows"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut test = order.split_off(n - n_test);
    let mut valid = order.split_off(n - n_test - n_valid);
    let mut train = order;
    for part in [&mut train, &mut valid, &mut test] {
        part.sort_unstable();
    }
    Ok((train, valid, test))
}

/// Rows `rows` of `t` along its first axis (repeats allowed), e.g. one part
/// of [`split_indices`]; an error names an index past the end.
///
/// ```
/// use ferrograd_models::data::take_rows;
/// use ferrograd_tensor::Tensor;
/// let t = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[3, 2]).unwrap();
/// assert_eq!(take_rows(&t, &[2, 0]).unwrap().data(), &[4.0, 5.0, 0.0, 1.0]);
/// ```
pub fn take_rows(t: &Tensor, rows: &[usize]) -> Result<Tensor> {
    let idx = Indices::new(rows.to_vec(), &[rows.len()])?;
    Ok(t.index_select(0, &idx)?)
}
