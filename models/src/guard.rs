//! Checks of the numbers given to a model's public API: every inference
//! entry point refuses a NaN or an infinity in its inputs, and a result that
//! is not finite (an input too far outside the training range), with an
//! [`Error::Config`] naming the API, the argument and the element.

use ferrograd_nn::{Error, Result};
use ferrograd_tensor::Tensor;

/// An error naming `api` and `what` if `values` holds a NaN or an infinity
/// (`width` > 0 gives the row and column of the first one).
pub fn finite_input(api: &str, what: &str, values: &[f32], width: usize) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => {
            let at = match i.checked_div(width) {
                Some(row) => format!("row {row}, column {}", i % width),
                None => format!("element {i}"),
            };
            Err(Error::Config(format!(
                "{api}: {what} holds {} at {at}; inputs must be finite numbers",
                values[i]
            )))
        }
    }
}

/// [`finite_input`] of a tensor, by rows of its last axis.
pub fn finite_tensor(api: &str, what: &str, t: &Tensor) -> Result<()> {
    let width = t.dims().last().copied().unwrap_or(0);
    finite_input(api, what, t.data(), width)
}

/// An error naming `api` if the result `values` is not finite.
pub fn finite_output(api: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::Config(format!(
            "{api}: the result is not finite ({} at element {i}): an input lies too far \
             outside the range the model was trained on",
            values[i]
        ))),
    }
}

/// An error naming `api` and `what` unless `t` has rank `rank`.
pub fn rank(api: &str, what: &str, t: &Tensor, rank: usize) -> Result<()> {
    if t.dims().len() == rank {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{api}: {what} must have {rank} axes, got shape {:?}",
            t.dims()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_api_the_argument_and_the_place() {
        let e = finite_input("regress predict", "x", &[1.0, 2.0, f32::NAN], 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "regress predict: x holds NaN at row 1, column 0; inputs must be finite numbers"
        );
        assert!(finite_input("a", "b", &[1.0, 2.0], 2).is_ok());
        let e = finite_output("cde log_prob", &[0.0, f32::NEG_INFINITY]).unwrap_err();
        assert!(e.to_string().contains("-inf at element 1"), "{e}");
        assert!(rank("a", "x", &Tensor::scalar(1.0), 2).is_err());
    }
}
