//! Batching with seeded, per-epoch shuffling.

use super::Dataset;
use crate::train::derive_seed_index;
use crate::{init, Error, Result};
use ferrograd_tensor::Tensor;
use rand::seq::SliceRandom;

/// Splits a [`Dataset`] into batches, in order or shuffled.
///
/// Shuffling is seeded: epoch `e` uses the permutation drawn from the
/// generator `init::rng(derive_seed_index(seed, e))` ([`init::rng`],
/// [`derive_seed_index`]), so every epoch has its own order and a run with
/// the same seed sees the same orders again (also after
/// resuming at epoch `e`). Each example appears exactly once per epoch; with
/// `drop_last` the final, smaller batch is left out.
///
/// ```
/// use ferrograd_nn::data::{DataLoader, TensorDataset};
/// use ferrograd_tensor::Tensor;
/// let x = Tensor::from_vec((0..10).map(|i| i as f32).collect(), &[10, 1]).unwrap();
/// let loader = DataLoader::new(TensorDataset::new(vec![x]).unwrap(), 4)
///     .unwrap()
///     .shuffle(42);
/// let sizes: Vec<usize> = loader.epoch(0).map(|b| b.unwrap()[0].dims()[0]).collect();
/// assert_eq!(sizes, [4, 4, 2]);
/// assert_eq!(loader.drop_last(true).num_batches(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct DataLoader<D> {
    dataset: D,
    batch_size: usize,
    seed: Option<u64>,
    drop_last: bool,
}

impl<D: Dataset> DataLoader<D> {
    /// Batches of `batch_size` examples of `dataset`, in order, keeping the
    /// last partial batch. An error if `batch_size` is 0.
    pub fn new(dataset: D, batch_size: usize) -> Result<DataLoader<D>> {
        if batch_size == 0 {
            return Err(Error::Config(
                "DataLoader: batch_size must be at least 1".into(),
            ));
        }
        Ok(DataLoader {
            dataset,
            batch_size,
            seed: None,
            drop_last: false,
        })
    }

    /// Shuffles every epoch, seeded by `seed` and the epoch number.
    pub fn shuffle(mut self, seed: u64) -> DataLoader<D> {
        self.seed = Some(seed);
        self
    }

    /// Leaves out the last batch if it is smaller than the batch size.
    pub fn drop_last(mut self, drop_last: bool) -> DataLoader<D> {
        self.drop_last = drop_last;
        self
    }

    /// The data set.
    pub fn dataset(&self) -> &D {
        &self.dataset
    }

    /// Examples per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The order in which epoch `epoch` visits the examples (all of them,
    /// before `drop_last` is applied).
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if let Some(seed) = self.seed {
            order.shuffle(&mut init::rng(derive_seed_index(seed, epoch)));
        }
        order
    }

    /// The batches of epoch `epoch`, each the collated fields
    /// ([`Dataset::get_batch`]).
    pub fn epoch(&self, epoch: u64) -> Batches<'_, D> {
        Batches {
            dataset: &self.dataset,
            order: self.order(epoch),
            batch_size: self.batch_size,
            next: 0,
            remaining: self.num_batches(),
        }
    }
}

/// The batches of one epoch of a [`DataLoader`].
#[derive(Debug)]
pub struct Batches<'a, D> {
    dataset: &'a D,
    order: Vec<usize>,
    batch_size: usize,
    next: usize,
    remaining: usize,
}

impl<D: Dataset> Iterator for Batches<'_, D> {
    type Item = Result<Vec<Tensor>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let end = (self.next + self.batch_size).min(self.order.len());
        let indices = &self.order[self.next..end];
        self.next = end;
        Some(self.dataset.get_batch(indices))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<D: Dataset> ExactSizeIterator for Batches<'_, D> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::TensorDataset;

    /// Ten examples: x = [i, 10 i], y = i.
    fn numbered(n: usize) -> TensorDataset {
        let x: Vec<f32> = (0..n).flat_map(|i| [i as f32, 10.0 * i as f32]).collect();
        let y: Vec<f32> = (0..n).map(|i| i as f32).collect();
        TensorDataset::new(vec![
            Tensor::from_vec(x, &[n, 2]).unwrap(),
            Tensor::from_vec(y, &[n]).unwrap(),
        ])
        .unwrap()
    }

    fn visited(loader: &DataLoader<TensorDataset>, epoch: u64) -> Vec<usize> {
        loader
            .epoch(epoch)
            .flat_map(|b| b.unwrap()[1].data().to_vec())
            .map(|v| v as usize)
            .collect()
    }

    #[test]
    fn sequential_batches_and_shapes() {
        let loader = DataLoader::new(numbered(10), 4).unwrap();
        let batches: Vec<Vec<Tensor>> = loader.epoch(0).map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 3);
        assert_eq!(batches[0][0].dims(), &[4, 2]);
        assert_eq!(batches[0][1].dims(), &[4]);
        assert_eq!(batches[2][0].dims(), &[2, 2]);
        assert_eq!(batches[2][0].data(), &[8.0, 80.0, 9.0, 90.0]);
        assert_eq!(visited(&loader, 0), (0..10).collect::<Vec<_>>());
        assert_eq!(loader.epoch(0).len(), 3);
    }

    #[test]
    fn drop_last_drops_only_the_partial_batch() {
        let loader = DataLoader::new(numbered(10), 4).unwrap().drop_last(true);
        assert_eq!(loader.num_batches(), 2);
        assert!(loader.epoch(0).all(|b| b.unwrap()[0].dims() == [4, 2]));
        let exact = DataLoader::new(numbered(8), 4).unwrap().drop_last(true);
        assert_eq!(exact.epoch(0).count(), 2);
        let tiny = DataLoader::new(numbered(3), 4).unwrap().drop_last(true);
        assert_eq!(tiny.epoch(0).count(), 0);
    }

    #[test]
    fn shuffling_is_seeded_per_epoch_and_complete() {
        let a = DataLoader::new(numbered(50), 7).unwrap().shuffle(1);
        let b = DataLoader::new(numbered(50), 7).unwrap().shuffle(1);
        let c = DataLoader::new(numbered(50), 7).unwrap().shuffle(2);
        assert_eq!(visited(&a, 0), visited(&b, 0));
        assert_eq!(visited(&a, 3), visited(&b, 3));
        assert_ne!(visited(&a, 0), visited(&a, 1));
        assert_ne!(visited(&a, 0), visited(&c, 0));
        for epoch in 0..3 {
            let order = visited(&a, epoch);
            assert_ne!(order, (0..50).collect::<Vec<_>>());
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..50).collect::<Vec<_>>(), "epoch {epoch}");
        }
        // x stays paired with y through the shuffle.
        for batch in a.epoch(5) {
            let batch = batch.unwrap();
            for (row, y) in batch[0].data().chunks(2).zip(batch[1].data()) {
                assert_eq!(row, [*y, 10.0 * y]);
            }
        }
    }

    #[test]
    fn bad_configuration_and_empty_data() {
        assert!(DataLoader::new(numbered(3), 0).is_err());
        let empty = TensorDataset::new(vec![Tensor::zeros(&[0, 2]).unwrap()]).unwrap();
        let loader = DataLoader::new(empty, 2).unwrap().shuffle(0);
        assert_eq!(loader.epoch(0).count(), 0);
        let borrowed = DataLoader::new(loader.dataset(), 1).unwrap();
        assert_eq!(borrowed.num_batches(), 0);
    }
}
