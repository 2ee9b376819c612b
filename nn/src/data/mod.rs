//! Data sets and batching: the [`Dataset`] trait, [`TensorDataset`] (fields
//! stacked along axis 0), the seeded, shuffling [`DataLoader`], and the
//! per-feature [`Normalizer`].

mod loader;
mod normalize;

pub use loader::{Batches, DataLoader};
pub use normalize::Normalizer;

use crate::{Error, Result};
use ferrograd_tensor::{Indices, Tensor};

/// A finite, indexable collection of examples; an example is a list of
/// fields (for example `[input, target]`), each a tensor.
pub trait Dataset {
    /// Number of examples.
    fn len(&self) -> usize;

    /// Whether there are no examples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fields of example `index`; an error if out of range.
    fn get(&self, index: usize) -> Result<Vec<Tensor>>;

    /// The examples `indices` collated into a batch: field `k` of the batch
    /// stacks field `k` of each example along a new axis 0. The default
    /// calls [`Dataset::get`] per example; data sets that hold whole fields
    /// (such as [`TensorDataset`]) gather each field at once instead.
    fn get_batch(&self, indices: &[usize]) -> Result<Vec<Tensor>> {
        let examples: Vec<Vec<Tensor>> = indices
            .iter()
            .map(|&i| self.get(i))
            .collect::<Result<_>>()?;
        collate(&examples)
    }
}

impl<D: Dataset + ?Sized> Dataset for &D {
    fn len(&self) -> usize {
        (**self).len()
    }

    fn get(&self, index: usize) -> Result<Vec<Tensor>> {
        (**self).get(index)
    }

    fn get_batch(&self, indices: &[usize]) -> Result<Vec<Tensor>> {
        (**self).get_batch(indices)
    }
}

/// Stacks field `k` of every example along a new axis 0. Every example must
/// have the same number of fields, and field `k` the same shape in all.
pub fn collate(examples: &[Vec<Tensor>]) -> Result<Vec<Tensor>> {
    let Some(first) = examples.first() else {
        return Err(Error::Config("collate: no examples".into()));
    };
    for (i, ex) in examples.iter().enumerate() {
        if ex.len() != first.len() {
            return Err(Error::Config(format!(
                "collate: example {i} has {} fields, example 0 has {}",
                ex.len(),
                first.len()
            )));
        }
        for (k, (a, b)) in ex.iter().zip(first).enumerate() {
            if a.dims() != b.dims() {
                return Err(Error::Config(format!(
                    "collate: field {k} of example {i} has shape {:?}, example 0 has {:?}",
                    a.dims(),
                    b.dims()
                )));
            }
        }
    }
    (0..first.len())
        .map(|k| {
            let parts: Vec<&Tensor> = examples.iter().map(|ex| &ex[k]).collect();
            Ok(Tensor::stack(&parts, 0)?)
        })
        .collect()
}

/// Examples stored as whole tensors: example `i` is row `i` (along axis 0)
/// of every field.
///
/// ```
/// use ferrograd_nn::data::{Dataset, TensorDataset};
/// use ferrograd_tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]).unwrap();
/// let y = Tensor::from_vec(vec![10.0, 20.0, 30.0], &[3]).unwrap();
/// let data = TensorDataset::new(vec![x, y]).unwrap();
/// assert_eq!(data.len(), 3);
/// let ex = data.get(1).unwrap();
/// assert_eq!((ex[0].data(), ex[1].data()), (&[3.0, 4.0][..], &[20.0][..]));
/// let batch = data.get_batch(&[2, 0]).unwrap();
/// assert_eq!(batch[0].dims(), &[2, 2]);
/// assert_eq!(batch[1].data(), &[30.0, 10.0]);
/// ```
#[derive(Clone, Debug)]
pub struct TensorDataset {
    fields: Vec<Tensor>,
    len: usize,
}

impl TensorDataset {
    /// A data set from `fields`, which must all have rank ≥ 1 and the same
    /// size along axis 0 (the number of examples).
    pub fn new(fields: Vec<Tensor>) -> Result<TensorDataset> {
        let Some(first) = fields.first() else {
            return Err(Error::Config(
                "TensorDataset: needs at least one field".into(),
            ));
        };
        let len = first.dims().first().copied().unwrap_or(0);
        for (k, f) in fields.iter().enumerate() {
            match f.dims().first() {
                None => {
                    return Err(Error::Config(format!(
                        "TensorDataset: field {k} is a scalar; fields need an example axis 0"
                    )))
                }
                Some(&n) if n != len => {
                    return Err(Error::Config(format!(
                        "TensorDataset: field {k} has {n} examples (shape {:?}), field 0 has {len}",
                        f.dims()
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(TensorDataset { fields, len })
    }

    /// The stored fields, each `[len, ...]`.
    pub fn fields(&self) -> &[Tensor] {
        &self.fields
    }

    fn check(&self, index: usize) -> Result<()> {
        if index < self.len {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "TensorDataset: index {index} out of range for {} examples",
                self.len
            )))
        }
    }
}

impl Dataset for TensorDataset {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> Result<Vec<Tensor>> {
        self.check(index)?;
        self.fields
            .iter()
            .map(|f| Ok(f.narrow(0, index, 1)?.squeeze(0)?))
            .collect()
    }

    /// One `index_select` per field.
    fn get_batch(&self, indices: &[usize]) -> Result<Vec<Tensor>> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len) {
            self.check(bad)?;
        }
        let idx = Indices::new(indices.to_vec(), &[indices.len()])?;
        self.fields
            .iter()
            .map(|f| Ok(f.index_select(0, &idx)?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(data: &[f32], dims: &[usize]) -> Tensor {
        Tensor::from_slice(data, dims).unwrap()
    }

    fn dataset() -> TensorDataset {
        let x = t(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[3, 2]);
        let y = t(&[7.0, 8.0, 9.0], &[3]);
        TensorDataset::new(vec![x, y]).unwrap()
    }

    #[test]
    fn get_returns_rows() {
        let d = dataset();
        let ex = d.get(2).unwrap();
        assert_eq!(ex[0].dims(), &[2]);
        assert_eq!(ex[0].data(), &[4.0, 5.0]);
        assert_eq!(ex[1].dims(), &[] as &[usize]);
        assert_eq!(ex[1].data(), &[9.0]);
        assert!(d.get(3).unwrap_err().to_string().contains("index 3"));
    }

    #[test]
    fn index_select_batch_matches_default_collation() {
        let d = dataset();
        struct PerExample<'a>(&'a TensorDataset);
        impl Dataset for PerExample<'_> {
            fn len(&self) -> usize {
                self.0.len()
            }
            fn get(&self, i: usize) -> Result<Vec<Tensor>> {
                self.0.get(i)
            }
        }
        let fast = d.get_batch(&[2, 0, 2]).unwrap();
        let slow = PerExample(&d).get_batch(&[2, 0, 2]).unwrap();
        for (a, b) in fast.iter().zip(&slow) {
            assert_eq!(a.dims(), b.dims());
            assert_eq!(a.data(), b.data());
        }
        assert_eq!(fast[0].data(), &[4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
        assert!(d.get_batch(&[0, 5]).is_err());
        assert!(PerExample(&d).get_batch(&[0, 5]).is_err());
    }

    #[test]
    fn construction_errors() {
        assert!(TensorDataset::new(vec![]).is_err());
        assert!(TensorDataset::new(vec![Tensor::scalar(1.0)]).is_err());
        let e = TensorDataset::new(vec![t(&[1.0; 3], &[3]), t(&[1.0; 2], &[2])]).unwrap_err();
        assert!(e.to_string().contains("field 1 has 2 examples"), "{e}");
    }

    #[test]
    fn collate_checks_fields_and_shapes() {
        let a = vec![t(&[1.0, 2.0], &[2])];
        let b = vec![t(&[3.0], &[1])];
        assert!(collate(&[a.clone(), b])
            .unwrap_err()
            .to_string()
            .contains("field 0 of example 1"));
        assert!(collate(&[a.clone(), vec![]]).is_err());
        assert!(collate(&[]).is_err());
        let batch = collate(&[a.clone(), a]).unwrap();
        assert_eq!(batch[0].dims(), &[2, 2]);
    }
}
