//! Contrastive losses: CLIP's symmetric InfoNCE.

use super::{check_positive, reduce, Reduction};
use crate::{Error, Result};
use ferrograd_autograd::Var;
use ferrograd_tensor::Tensor;

/// The temperature τ that divides the similarities in [`info_nce`]: a fixed
/// number or a learnable scalar [`Var`] (for example a parameter). Build it
/// with `.into()` from an `f32`, a `Var` or a `&Var`.
#[derive(Clone, Debug)]
pub enum Temperature {
    /// A constant τ > 0.
    Fixed(f32),
    /// A one-element τ > 0 that receives a gradient.
    Learned(Var),
}

impl From<f32> for Temperature {
    fn from(t: f32) -> Self {
        Temperature::Fixed(t)
    }
}

impl From<Var> for Temperature {
    fn from(t: Var) -> Self {
        Temperature::Learned(t)
    }
}

impl From<&Var> for Temperature {
    fn from(t: &Var) -> Self {
        Temperature::Learned(t.clone())
    }
}

/// Each row divided by its L2 norm, as PyTorch's `F.normalize` with
/// eps 1e-12: `x / max(‖x‖, eps)` (finite gradient for a zero row).
fn l2_normalize(x: &Var) -> Result<Var> {
    let floor = Var::constant(Tensor::scalar(1e-24));
    let ss = x.square().sum(&[-1], true)?.maximum(&floor)?;
    Ok(x.mul(&ss.rsqrt())?)
}

/// CLIP's symmetric InfoNCE loss (Radford et al., 2021) between paired
/// embeddings `image` and `text`, both `[N, D]` (row `i` of each is a
/// positive pair; every other row is a negative).
///
/// The rows are L2-normalised, `logits = image_n · text_nᵀ / τ` (`[N, N]`),
/// and the loss of pair `i` is
///
/// `½·(CE(logits[i, :], i) + CE(logits[:, i], i))`,
///
/// image-to-text and text-to-image cross-entropy with the diagonal as the
/// target. [`Reduction::Mean`] gives CLIP's
/// `½(CE(logits, arange) + CE(logitsᵀ, arange))`; [`Reduction::None`]
/// returns the `[N]` per-pair values.
///
/// Errors ([`Error::Config`]): embeddings that are not `[N, D]` of one shape
/// with N ≥ 1, a temperature that is not one positive finite number.
///
/// ```
/// use ferrograd_autograd::Var;
/// use ferrograd_nn::losses::{info_nce, Reduction};
/// use ferrograd_tensor::Tensor;
/// let img = Var::param(Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[2, 2]).unwrap());
/// let txt = Var::constant(Tensor::from_vec(vec![2.0, 0.0, 0.0, 3.0], &[2, 2]).unwrap());
/// let tau = Var::param(Tensor::scalar(0.5)); // learnable
/// let loss = info_nce(&img, &txt, &tau, Reduction::Mean).unwrap();
/// // logits = diag(2, 2): each CE is ln(1 + e⁻²).
/// assert!((loss.item().unwrap() - (1.0 + (-2f32).exp()).ln()).abs() < 1e-6);
/// ```
pub fn info_nce(
    image: &Var,
    text: &Var,
    temperature: impl Into<Temperature>,
    reduction: Reduction,
) -> Result<Var> {
    if image.shape().rank() != 2 || image.dims() != text.dims() || image.dims()[0] == 0 {
        return Err(Error::Config(format!(
            "info_nce: image and text embeddings must both be [N, D] with N ≥ 1, got {} and {}",
            image.shape(),
            text.shape()
        )));
    }
    let sim = l2_normalize(image)?.matmul_t(&l2_normalize(text)?, false, true)?;
    let logits = match temperature.into() {
        Temperature::Fixed(t) => {
            check_positive("info_nce", "temperature", t)?;
            sim.mul_scalar(1.0 / t)
        }
        Temperature::Learned(t) => {
            if t.numel() != 1 {
                return Err(Error::Config(format!(
                    "info_nce: the temperature must have one element, got shape {}",
                    t.shape()
                )));
            }
            check_positive("info_nce", "temperature", t.value().data()[0])?;
            sim.div(&t.reshape(&[])?)?
        }
    };
    let image_to_text = logits.log_softmax(1)?.diagonal()?;
    let text_to_image = logits.log_softmax(0)?.diagonal()?;
    let per = image_to_text.add(&text_to_image)?.mul_scalar(-0.5);
    reduce(&per, reduction)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ag, assert_close, constant, tensor};
    use super::*;
    use ferrograd_autograd::{grad, gradcheck, gradgradcheck, GradOptions, GradcheckOptions};

    const IMG: [f32; 6] = [1.0, 2.0, 0.5, -1.0, 0.3, 0.8];
    const TXT: [f32; 6] = [0.9, 1.5, -0.2, -0.5, 1.0, 0.4];

    /// The loss of each pair, from the formula in plain f32 (N = 3, D = 2).
    fn hand_values(tau: f32) -> Vec<f32> {
        let unit = |v: &[f32]| {
            let n = (v[0] * v[0] + v[1] * v[1]).sqrt();
            [v[0] / n, v[1] / n]
        };
        let a: Vec<[f32; 2]> = IMG.chunks(2).map(unit).collect();
        let b: Vec<[f32; 2]> = TXT.chunks(2).map(unit).collect();
        let l = |i: usize, j: usize| (a[i][0] * b[j][0] + a[i][1] * b[j][1]) / tau;
        let lse = |f: &dyn Fn(usize) -> f32| (0..3).map(|k| f(k).exp()).sum::<f32>().ln();
        (0..3)
            .map(|i| {
                let row = lse(&|j| l(i, j)) - l(i, i);
                let col = lse(&|j| l(j, i)) - l(i, i);
                0.5 * (row + col)
            })
            .collect()
    }

    #[test]
    fn values_for_each_reduction() {
        let (img, txt) = (constant(&IMG, &[3, 2]), constant(&TXT, &[3, 2]));
        let each = hand_values(0.2);
        let sum: f32 = each.iter().sum();
        let none = info_nce(&img, &txt, 0.2, Reduction::None).unwrap();
        assert_eq!(none.dims(), &[3]);
        assert_close(&none, &each, 1e-5);
        assert_close(
            &info_nce(&img, &txt, 0.2, Reduction::Sum).unwrap(),
            &[sum],
            1e-5,
        );
        assert_close(
            &info_nce(&img, &txt, 0.2, Reduction::Mean).unwrap(),
            &[sum / 3.0],
            1e-5,
        );
        // A learned temperature gives the same value and receives a gradient.
        let tau = Var::param(Tensor::scalar(0.2));
        let l = info_nce(&img, &txt, &tau, Reduction::Mean).unwrap();
        assert_close(&l, &[sum / 3.0], 1e-5);
        let g = grad(&[&l], &[&tau], None, GradOptions::default()).unwrap();
        let numeric = (hand_values(0.201).iter().sum::<f32>()
            - hand_values(0.199).iter().sum::<f32>())
            / 3.0
            / 0.002;
        assert!((g[0].item().unwrap() - numeric).abs() < 1e-2 * numeric.abs().max(1.0));
    }

    #[test]
    fn rejects_bad_arguments() {
        let img = constant(&IMG, &[3, 2]);
        let txt2 = constant(&TXT[..4], &[2, 2]);
        let flat = constant(&TXT, &[6]);
        for t in [&txt2, &flat] {
            let r = info_nce(&img, t, 0.1, Reduction::Mean);
            assert!(matches!(r, Err(Error::Config(_))));
        }
        let txt = constant(&TXT, &[3, 2]);
        for tau in [0.0, -1.0, f32::NAN] {
            let r = info_nce(&img, &txt, tau, Reduction::Mean);
            assert!(matches!(r, Err(Error::Config(_))));
        }
        let two = constant(&[0.1, 0.2], &[2]);
        assert!(matches!(
            info_nce(&img, &txt, &two, Reduction::Mean),
            Err(Error::Config(_))
        ));
        let empty = Var::constant(Tensor::zeros(&[0, 2]).unwrap());
        assert!(matches!(
            info_nce(&empty, &empty, 0.1, Reduction::Mean),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn zero_embedding_has_finite_gradient() {
        let img = Var::param(tensor(&[0.0, 0.0, 1.0, 0.0], &[2, 2]));
        let txt = constant(&[1.0, 0.0, 0.0, 1.0], &[2, 2]);
        let l = info_nce(&img, &txt, 0.5, Reduction::Mean).unwrap();
        let g = grad(&[&l], &[&img], None, GradOptions::default()).unwrap();
        assert!(g[0].value().data().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn gradients_first_and_second_order() {
        let inputs = [
            tensor(&IMG, &[3, 2]),
            tensor(&TXT, &[3, 2]),
            Tensor::scalar(0.5),
        ];
        let opts = GradcheckOptions::default();
        let f = |v: &[Var]| ag(info_nce(&v[0], &v[1], &v[2], Reduction::Mean));
        gradcheck(f, &inputs, opts).unwrap();
        gradgradcheck(f, &inputs, opts).unwrap();
        let g = |v: &[Var]| ag(info_nce(&v[0], &v[1], 0.3, Reduction::None));
        gradcheck(g, &inputs[..2], opts).unwrap();
    }
}
