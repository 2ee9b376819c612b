//! Lookup table of learned vectors (token embeddings).

use crate::init;
use crate::module::{Collector, Module};
use crate::param::{OwnParams, Param, ParamSource};
use crate::{Error, Result};
use ferrograd_autograd::Var;
use ferrograd_tensor::Indices;

/// A table of `num` learned vectors of size `dim` (PyTorch's
/// `nn.Embedding`): the parameter `weight` `[num, dim]` is initialised
/// N(0, 1), and ids of any shape `[...]` give `[..., dim]`. The gradient of
/// `weight` is dense (rows not looked up get zeros; repeated ids add up).
///
/// ```
/// use ferrograd_nn::layers::embedding::Embedding;
/// use ferrograd_nn::Module;
/// use ferrograd_tensor::Indices;
/// let emb = Embedding::new(10, 4, 0);
/// let ids = Indices::new(vec![1, 5, 5, 9, 0, 2], &[2, 3]).unwrap();
/// let y = emb.forward_ids(&ids).unwrap();
/// assert_eq!(y.dims(), &[2, 3, 4]);
/// assert!(emb.forward_ids(&Indices::new(vec![10], &[1]).unwrap()).is_err());
/// ```
pub struct Embedding {
    /// `[num, dim]`, one row per id.
    pub weight: Param,
}

impl Embedding {
    /// A table of `num` vectors of size `dim`, N(0, 1), seeded.
    pub fn new(num: usize, dim: usize, seed: u64) -> Embedding {
        let weight = init::normal(&[num, dim], 0.0, 1.0, &mut init::rng(seed));
        Embedding {
            weight: Param::new(weight),
        }
    }

    /// A table with the given weight `[num, dim]`.
    pub fn from_weight(weight: Param) -> Result<Embedding> {
        if weight.dims().len() != 2 {
            return Err(Error::Config(format!(
                "embedding: the weight has shape {:?}, expected [num, dim]",
                weight.dims()
            )));
        }
        Ok(Embedding { weight })
    }

    /// Number of vectors (valid ids are `0..num`).
    pub fn num(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Size of each vector.
    pub fn dim(&self) -> usize {
        self.weight.dims()[1]
    }

    /// The vectors of `ids` (`[...]` → `[..., dim]`) with the layer's own
    /// weight; an id `≥ num` is a configuration error.
    pub fn forward_ids(&self, ids: &Indices) -> Result<Var> {
        self.forward_ids_with(&OwnParams, ids)
    }

    /// The vectors of `ids` with the weight read from `params`.
    pub fn forward_ids_with(&self, params: &dyn ParamSource, ids: &Indices) -> Result<Var> {
        let weight = params.var(&self.weight);
        let (num, dim) = match weight.dims() {
            &[num, dim] => (num, dim),
            other => {
                return Err(Error::Config(format!(
                    "embedding: the weight has shape {other:?}, expected [num, dim]"
                )))
            }
        };
        if let Some(bad) = ids.data().iter().find(|&&i| i >= num) {
            return Err(Error::Config(format!(
                "embedding: id {bad} is out of range for {num} embeddings"
            )));
        }
        // index_select reads the ids in row-major order whatever their shape.
        let rows = weight.index_select(0, ids)?;
        let mut dims = ids.dims().to_vec();
        dims.push(dim);
        Ok(rows.reshape(&dims)?)
    }
}

impl Module for Embedding {
    fn visit(&self, c: &mut Collector) {
        c.param("weight", &self.weight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::activation::to_autograd;
    use crate::FastWeights;
    use ferrograd_autograd::{gradcheck, GradcheckOptions};
    use ferrograd_tensor::Tensor;

    fn table() -> Embedding {
        let w = Tensor::from_vec((0..8).map(|i| i as f32).collect(), &[4, 2]).unwrap();
        Embedding::from_weight(Param::new(w)).unwrap()
    }

    #[test]
    fn looks_up_rows_by_hand() {
        let ids = Indices::new(vec![3, 0, 3, 1], &[2, 2]).unwrap();
        let y = table().forward_ids(&ids).unwrap();
        assert_eq!(y.dims(), &[2, 2, 2]);
        assert_eq!(y.value().data(), &[6.0, 7.0, 0.0, 1.0, 6.0, 7.0, 2.0, 3.0]);
    }

    #[test]
    fn init_is_standard_normal_and_seeded() {
        let e = Embedding::new(100, 50, 4);
        assert_eq!(e.weight.value(), Embedding::new(100, 50, 4).weight.value());
        let d = e.weight.value();
        let mean = d.data().iter().sum::<f32>() / 5000.0;
        let var = d.data().iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 5000.0;
        assert!(
            mean.abs() < 0.06 && (var - 1.0).abs() < 0.08,
            "{mean} {var}"
        );
        assert_eq!(e.named_params()[0].0, "weight");
        assert_eq!((e.num(), e.dim()), (100, 50));
    }

    #[test]
    fn out_of_range_ids_and_bad_weights_are_errors() {
        let ids = Indices::new(vec![0, 4], &[2]).unwrap();
        assert!(matches!(table().forward_ids(&ids), Err(Error::Config(_))));
        let w = Param::new(Tensor::ones(&[4]).unwrap());
        assert!(matches!(Embedding::from_weight(w), Err(Error::Config(_))));
    }

    #[test]
    fn repeated_ids_accumulate_gradient() {
        let e = table();
        let ids = Indices::new(vec![3, 0, 3], &[3]).unwrap();
        let w = e.weight.clone();
        let f = |v: &[Var]| {
            let mut fast = FastWeights::new();
            fast.insert(&w, v[0].clone());
            to_autograd(e.forward_ids_with(&fast, &ids).map(|y| y.square()))
        };
        gradcheck(f, &[e.weight.value()], GradcheckOptions::default()).unwrap();
        e.forward_ids(&ids).unwrap().sum_all().backward().unwrap();
        assert_eq!(
            e.weight.grad().unwrap().data(),
            &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0]
        );
    }
}
