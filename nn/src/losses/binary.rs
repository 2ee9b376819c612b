//! Binary cross-entropy from logits, through `softplus` (no overflow for
//! large logits), with PyTorch's `pos_weight`.

use super::{check_same_shape, reduce, Reduction};
use crate::{Error, Result};
use ferrograd_autograd::Var;

/// Binary cross-entropy from logits, as PyTorch's `BCEWithLogitsLoss`: with
/// logit `x`, target `y` (usually in [0, 1]) and optional positive-class
/// weight `p`,
///
/// `ℓ = −[p·y·log σ(x) + (1 − y)·log(1 − σ(x))]`
///
/// computed as `softplus(x) − x·y + (p − 1)·y·softplus(−x)`, where
/// `softplus(x) = max(x, 0) + log(1 + e^−|x|)` never overflows. `target`
/// must have the logits' shape; `pos_weight` must broadcast to it (usually
/// one weight per class, shape `[C]` against logits `[N, C]`).
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{binary_cross_entropy_with_logits, Reduction};
/// use ferrograd_tensor::Tensor;
/// let x = Var::param(Tensor::from_vec(vec![0.0, 100.0], &[2]).unwrap());
/// let y = Var::constant(Tensor::from_vec(vec![1.0, 1.0], &[2]).unwrap());
/// let l = binary_cross_entropy_with_logits(&x, &y, None, Reduction::None).unwrap();
/// assert!((l.value().data()[0] - 2f32.ln()).abs() < 1e-6);
/// assert_eq!(l.value().data()[1], 0.0);
/// ```
pub fn binary_cross_entropy_with_logits(
    logits: &Var,
    target: &Var,
    pos_weight: Option<&Var>,
    reduction: Reduction,
) -> Result<Var> {
    check_same_shape(
        "binary_cross_entropy_with_logits",
        "logits and target",
        logits,
        target,
    )?;
    let mut per = logits.softplus().sub(&logits.mul(target)?)?;
    if let Some(p) = pos_weight {
        if p.value().broadcast_to(logits.shape()).is_err() {
            return Err(Error::Config(format!(
                "binary_cross_entropy_with_logits: pos_weight {} does not broadcast to the logits {}",
                p.shape(),
                logits.shape()
            )));
        }
        let extra = p
            .add_scalar(-1.0)
            .mul(target)?
            .mul(&logits.neg().softplus())?;
        per = per.add(&extra)?;
    }
    reduce(&per, reduction)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ag, assert_close, constant, tensor};
    use super::*;
    use ferrograd_autograd::{grad, gradcheck, gradgradcheck, GradOptions, GradcheckOptions};

    const Z: [f32; 6] = [0.5, -1.5, 3.0, -0.2, 2.2, -4.0];
    const TZ: [f32; 6] = [1.0, 0.0, 1.0, 0.0, 1.0, 0.3];
    const PW: [f32; 3] = [2.0, 0.5, 3.0];

    #[test]
    fn bce_matches_hand_values_and_torch() {
        let (z, tz) = (constant(&Z, &[2, 3]), constant(&TZ, &[2, 3]));
        // −[y log σ(x) + (1 − y) log(1 − σ(x))], in plain f32.
        let each: Vec<f32> = Z
            .iter()
            .zip(&TZ)
            .map(|(&x, &y)| {
                let s = 1.0 / (1.0 + (-x).exp());
                -(y * s.ln() + (1.0 - y) * (1.0 - s).ln())
            })
            .collect();
        let sum: f32 = each.iter().sum();
        let bce = |r| binary_cross_entropy_with_logits(&z, &tz, None, r).unwrap();
        assert_close(&bce(Reduction::None), &each, 1e-5);
        assert_close(&bce(Reduction::Sum), &[sum], 1e-5);
        assert_close(&bce(Reduction::Mean), &[sum / 6.0], 1e-5);
        // From torch.nn.functional.binary_cross_entropy_with_logits (torch 2.15).
        assert_close(&bce(Reduction::Mean), &[0.44090828], 1e-5);
    }

    #[test]
    fn bce_pos_weight_matches_torch() {
        // Numbers from torch.nn.functional.binary_cross_entropy_with_logits(
        // z, tz, pos_weight=[2.0, 0.5, 3.0], reduction=...) (torch 2.15).
        let z = Var::param(tensor(&Z, &[2, 3]));
        let (tz, pw) = (constant(&TZ, &[2, 3]), constant(&PW, &[3]));
        let bce = |r| binary_cross_entropy_with_logits(&z, &tz, Some(&pw), r).unwrap();
        let torch_none = [
            0.948154, 0.20141327, 0.14576206, 0.59813887, 0.05254166, 3.62904,
        ];
        assert_close(&bce(Reduction::None), &torch_none, 1e-5);
        assert_close(&bce(Reduction::Sum), &[5.5750494], 1e-5);
        let mean = bce(Reduction::Mean);
        assert_close(&mean, &[0.9291749], 1e-5);
        let g = grad(&[&mean], &[&z], None, GradOptions::default()).unwrap();
        let torch_grad = [
            -0.12584688,
            0.030404255,
            -0.023712954,
            0.07502767,
            -0.008312538,
            -0.14520368,
        ];
        assert_close(&g[0], &torch_grad, 1e-5);
    }

    #[test]
    fn bce_is_stable_and_checks_shapes() {
        let z = constant(&[-200.0, 200.0], &[2]);
        let t = constant(&[0.0, 0.0], &[2]);
        let l = binary_cross_entropy_with_logits(&z, &t, None, Reduction::None).unwrap();
        assert_eq!(l.value().data(), &[0.0, 200.0]);
        let t3 = constant(&[0.0, 0.0, 1.0], &[3]);
        let r = binary_cross_entropy_with_logits(&z, &t3, None, Reduction::Mean);
        assert!(matches!(r, Err(Error::Config(_))));
        let pw = constant(&PW, &[3]);
        let r = binary_cross_entropy_with_logits(&z, &t, Some(&pw), Reduction::Mean);
        assert!(matches!(r, Err(Error::Config(_))));
    }

    #[test]
    fn bce_gradients() {
        let opts = GradcheckOptions::default();
        let inputs = [tensor(&Z, &[2, 3]), tensor(&TZ, &[2, 3]), tensor(&PW, &[3])];
        let f = |v: &[Var]| {
            ag(binary_cross_entropy_with_logits(
                &v[0],
                &v[1],
                Some(&v[2]),
                Reduction::Mean,
            ))
        };
        gradcheck(f, &inputs, opts).unwrap();
        gradgradcheck(f, &inputs, opts).unwrap();
        let g = |v: &[Var]| {
            ag(binary_cross_entropy_with_logits(
                &v[0],
                &v[1],
                None,
                Reduction::None,
            ))
        };
        gradcheck(g, &inputs[..2], opts).unwrap();
        gradgradcheck(g, &inputs[..2], opts).unwrap();
    }
}
