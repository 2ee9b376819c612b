//! Multi-class cross-entropy from unnormalised scores (logits), through
//! `log_softmax` (no overflow for large logits), with PyTorch's label
//! smoothing and ignored index.

use super::{reduce, Reduction};
use crate::{Error, Result};
use ferrograd_autograd::Var;
use ferrograd_tensor::{Indices, Tensor};

/// Options of [`cross_entropy_with`], as in PyTorch's `CrossEntropyLoss`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CrossEntropyOptions {
    /// ε in [0, 1]: the target distribution is `(1 − ε)·onehot + ε/C`
    /// (default 0).
    pub label_smoothing: f32,
    /// Targets equal to this class index contribute 0 to the loss and are not
    /// counted by the mean (PyTorch's `ignore_index`; default none).
    pub ignore_index: Option<usize>,
}

/// Cross-entropy between logits and class indices, with no label smoothing
/// and no ignored index; see [`cross_entropy_with`].
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{cross_entropy, Reduction};
/// use ferrograd_tensor::{Indices, Tensor};
/// let logits = Var::param(Tensor::from_vec(vec![0.0, 0.0, 2.0, 0.0], &[2, 2]).unwrap());
/// let target = Indices::new(vec![1, 0], &[2]).unwrap();
/// let loss = cross_entropy(&logits, &target, Reduction::None).unwrap();
/// let expected = [2f32.ln(), (1.0 + (-2f32).exp()).ln()];
/// for (l, e) in loss.value().data().iter().zip(expected) {
///     assert!((l - e).abs() < 1e-6);
/// }
/// ```
pub fn cross_entropy(logits: &Var, target: &Indices, reduction: Reduction) -> Result<Var> {
    cross_entropy_with(logits, target, &CrossEntropyOptions::default(), reduction)
}

/// Cross-entropy from logits, as PyTorch's `CrossEntropyLoss` with class
/// index targets.
///
/// `logits` is `[N, C]`, `[N, C, d₁, …]` (class axis 1) or unbatched `[C]`;
/// `target` has the logits' shape without the class axis (`[N]`,
/// `[N, d₁, …]` or `[]`) and holds indices in `0..C` (or the ignored index).
/// With `lp = log_softmax(logits)` over the class axis and target `t`, each
/// position's loss is
///
/// `(1 − ε)·(−lp[t]) + ε·(−(1/C)·Σ_c lp[c])`,
///
/// and 0 where `t` is the ignored index. [`Reduction::None`] returns the
/// target's shape; [`Reduction::Sum`] sums; [`Reduction::Mean`] divides the
/// sum by the number of non-ignored positions, and returns 0 (with zero
/// gradient) when every position is ignored, where PyTorch returns NaN.
///
/// Errors ([`Error::Config`]): logits of rank 0 or with no class, a target
/// of the wrong shape, a target index out of range, label smoothing outside
/// [0, 1].
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{cross_entropy_with, CrossEntropyOptions, Reduction};
/// use ferrograd_tensor::{Indices, Tensor};
/// let logits = Var::param(Tensor::zeros(&[3, 4]).unwrap());
/// let target = Indices::new(vec![1, 3, 3], &[3]).unwrap();
/// let opts = CrossEntropyOptions { label_smoothing: 0.1, ignore_index: Some(3) };
/// let loss = cross_entropy_with(&logits, &target, &opts, Reduction::Mean).unwrap();
/// assert!((loss.item().unwrap() - 4f32.ln()).abs() < 1e-6); // uniform logits
/// ```
pub fn cross_entropy_with(
    logits: &Var,
    target: &Indices,
    options: &CrossEntropyOptions,
    reduction: Reduction,
) -> Result<Var> {
    let eps = options.label_smoothing;
    if !(0.0..=1.0).contains(&eps) {
        return Err(Error::Config(format!(
            "cross_entropy: label_smoothing must be in [0, 1], got {eps}"
        )));
    }
    if logits.shape().rank() == 0 {
        return Err(Error::Config(
            "cross_entropy: logits must be [C], [N, C] or [N, C, d1, ...], got a scalar".into(),
        ));
    }
    if logits.shape().rank() == 1 {
        // Unbatched: one sample of C logits and a scalar target.
        if target.shape().rank() != 0 {
            return Err(Error::Config(format!(
                "cross_entropy: unbatched logits {} need a scalar target, got {}",
                logits.shape(),
                target.shape()
            )));
        }
        let batched = logits.unsqueeze(0)?;
        let t = Indices::new(target.data().to_vec(), &[1])?;
        let loss = cross_entropy_with(&batched, &t, options, reduction)?;
        return Ok(match reduction {
            Reduction::None => loss.reshape(&[])?,
            _ => loss,
        });
    }
    let dims = logits.dims();
    let classes = dims[1];
    let mut expected = vec![dims[0]];
    expected.extend_from_slice(&dims[2..]);
    if target.dims() != expected.as_slice() {
        return Err(Error::Config(format!(
            "cross_entropy: logits {} need a target of shape {:?}, got {}",
            logits.shape(),
            expected,
            target.shape()
        )));
    }
    if classes == 0 {
        return Err(Error::Config(
            "cross_entropy: logits have no class (C = 0)".into(),
        ));
    }
    // Indices to gather (ignored positions read class 0) and the 0/1 mask
    // of the positions that count.
    let mut gather_at = Vec::with_capacity(target.data().len());
    let mut keep = Vec::with_capacity(target.data().len());
    for (pos, &t) in target.data().iter().enumerate() {
        if Some(t) == options.ignore_index {
            gather_at.push(0);
            keep.push(0.0);
        } else if t < classes {
            gather_at.push(t);
            keep.push(1.0);
        } else {
            return Err(Error::Config(format!(
                "cross_entropy: target {t} at position {pos} is out of range for {classes} classes"
            )));
        }
    }
    let counted = keep.iter().filter(|&&k| k != 0.0).count();
    let mut gather_dims = expected.clone();
    gather_dims.insert(1, 1);
    let idx = Indices::new(gather_at, &gather_dims)?;
    let mask = Tensor::from_vec(keep, &expected)?;

    let lp = logits.log_softmax(1)?;
    let nll = lp.gather(1, &idx)?.squeeze(1)?.neg();
    let per = if eps > 0.0 {
        let smooth = lp.mean(&[1], false)?.neg();
        nll.mul_scalar(1.0 - eps).add(&smooth.mul_scalar(eps))?
    } else {
        nll
    };
    let per = Var::select(&mask, &per, &Var::constant(Tensor::scalar(0.0)))?;
    match reduction {
        Reduction::Mean => Ok(per.sum_all().mul_scalar(1.0 / counted.max(1) as f32)),
        _ => reduce(&per, reduction),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ag, assert_close, constant, tensor};
    use super::*;
    use ferrograd_autograd::{grad, gradcheck, gradgradcheck, GradOptions, GradcheckOptions};

    const LOGITS: [f32; 12] = [
        1.0, -0.5, 2.0, 0.3, 0.2, 0.1, -1.0, 1.5, -2.0, 0.7, 0.0, 0.4,
    ];

    fn targets() -> Indices {
        Indices::new(vec![2, 3, 0], &[3]).unwrap()
    }

    /// −log softmax(row)[t], in plain f32.
    fn nll(row: &[f32], t: usize) -> f32 {
        let lse = row.iter().map(|v| v.exp()).sum::<f32>().ln();
        lse - row[t]
    }

    #[test]
    fn plain_cross_entropy_matches_hand_values() {
        let x = constant(&LOGITS, &[3, 4]);
        let each: Vec<f32> = (0..3)
            .map(|i| nll(&LOGITS[4 * i..4 * i + 4], [2, 3, 0][i]))
            .collect();
        let sum: f32 = each.iter().sum();
        assert_close(
            &cross_entropy(&x, &targets(), Reduction::None).unwrap(),
            &each,
            1e-5,
        );
        assert_close(
            &cross_entropy(&x, &targets(), Reduction::Sum).unwrap(),
            &[sum],
            1e-5,
        );
        let mean = cross_entropy(&x, &targets(), Reduction::Mean).unwrap();
        assert_close(&mean, &[sum / 3.0], 1e-5);
        // From torch.nn.functional.cross_entropy (torch 2.15).
        assert_close(&mean, &[1.4986254], 1e-5);
    }

    #[test]
    fn smoothing_and_ignore_index_match_torch() {
        // Numbers from torch.nn.functional.cross_entropy(x, t, reduction=...,
        // label_smoothing=0.1, ignore_index=3) (torch 2.15).
        let x = Var::param(tensor(&LOGITS, &[3, 4]));
        let opts = CrossEntropyOptions {
            label_smoothing: 0.1,
            ignore_index: Some(3),
        };
        let ce = |r| cross_entropy_with(&x, &targets(), &opts, r).unwrap();
        assert_close(&ce(Reduction::None), &[0.62020326, 0.0, 3.357411], 1e-5);
        assert_close(&ce(Reduction::Sum), &[3.9776144], 1e-5);
        let mean = ce(Reduction::Mean);
        assert_close(&mean, &[1.9888072], 1e-5);
        let g = grad(&[&mean], &[&x], None, GradOptions::default()).unwrap();
        let torch_grad = [
            0.10016342,
            0.012638609,
            -0.15624903,
            0.043447003,
            0.0,
            0.0,
            0.0,
            0.0,
            -0.4479193,
            0.20445651,
            0.09523742,
            0.14822534,
        ];
        assert_close(&g[0], &torch_grad, 1e-5);
    }

    #[test]
    fn spatial_targets_match_torch() {
        // Logits [N, C, d] = [2, 3, 2]; label_smoothing 0.2, ignore_index 2 (torch 2.15).
        let y = [
            0.5, -1.0, 0.25, 2.0, -0.3, 0.8, 1.1, 0.0, -0.6, 0.9, 0.4, -1.2,
        ];
        let x = constant(&y, &[2, 3, 2]);
        let t = Indices::new(vec![0, 2, 1, 1], &[2, 2]).unwrap();
        let opts = CrossEntropyOptions {
            label_smoothing: 0.2,
            ignore_index: Some(2),
        };
        let none = cross_entropy_with(&x, &t, &opts, Reduction::None).unwrap();
        assert_eq!(none.dims(), &[2, 2]);
        assert_close(&none, &[0.87116253, 0.0, 2.0383584, 0.62463105], 1e-5);
        let mean = cross_entropy_with(&x, &t, &opts, Reduction::Mean).unwrap();
        assert_close(&mean, &[1.1780506], 1e-5);
        let sum = cross_entropy_with(&x, &t, &opts, Reduction::Sum).unwrap();
        assert_close(&sum, &[3.534152], 1e-5);
    }

    #[test]
    fn unbatched_and_all_ignored() {
        let x = Var::param(tensor(&LOGITS[..4], &[4]));
        let t = Indices::new(vec![2], &[]).unwrap();
        let l = cross_entropy(&x, &t, Reduction::None).unwrap();
        assert_eq!(l.dims(), &[] as &[usize]);
        assert_close(&l, &[nll(&LOGITS[..4], 2)], 1e-6);
        // Every target ignored: 0 with zero gradient (PyTorch gives NaN).
        let x = Var::param(tensor(&LOGITS, &[3, 4]));
        let t = Indices::new(vec![1, 1, 1], &[3]).unwrap();
        let opts = CrossEntropyOptions {
            label_smoothing: 0.3,
            ignore_index: Some(1),
        };
        let l = cross_entropy_with(&x, &t, &opts, Reduction::Mean).unwrap();
        assert_eq!(l.item().unwrap(), 0.0);
        let g = grad(&[&l], &[&x], None, GradOptions::default()).unwrap();
        assert!(g[0].value().data().iter().all(|&v| v == 0.0));
    }

    #[test]
    fn cross_entropy_rejects_bad_arguments() {
        let x = constant(&LOGITS, &[3, 4]);
        let out_of_range = Indices::new(vec![0, 4, 1], &[3]).unwrap();
        let short = Indices::new(vec![0, 1], &[2]).unwrap();
        for t in [&out_of_range, &short] {
            assert!(matches!(
                cross_entropy(&x, t, Reduction::Mean),
                Err(Error::Config(_))
            ));
        }
        let bad = CrossEntropyOptions {
            label_smoothing: 1.5,
            ignore_index: None,
        };
        let r = cross_entropy_with(&x, &targets(), &bad, Reduction::Mean);
        assert!(matches!(r, Err(Error::Config(_))));
        let scalar = Var::scalar(1.0);
        let t = Indices::new(vec![0], &[]).unwrap();
        assert!(matches!(
            cross_entropy(&scalar, &t, Reduction::Mean),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn cross_entropy_gradients() {
        let opts = GradcheckOptions::default();
        let x = [tensor(&LOGITS, &[3, 4])];
        let smooth = CrossEntropyOptions {
            label_smoothing: 0.1,
            ignore_index: Some(3),
        };
        for o in [CrossEntropyOptions::default(), smooth] {
            let f = |v: &[Var]| ag(cross_entropy_with(&v[0], &targets(), &o, Reduction::Mean));
            gradcheck(f, &x, opts).unwrap();
            gradgradcheck(f, &x, opts).unwrap();
        }
        let f = |v: &[Var]| ag(cross_entropy(&v[0], &targets(), Reduction::None));
        gradcheck(f, &x, opts).unwrap();
    }
}
