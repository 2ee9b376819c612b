//! The clouds of a flow run: the built-in MNIST digits, the user's IDX
//! files or synthetic strokes, filtered by digit, drawn as clouds
//! ([`crate::data::digits`]) and split 90/10 into training and test clouds
//! by the run's seed.

use super::config::FlowRunConfig;
use crate::data::digits::{clouds, of_digit, train_test_split, TEST_FRACTION};
use crate::data::idx::{builtin_mnist, read_pair};
use crate::data::split_indices;
use crate::data::strokes::synthetic_clouds;
use ferrograd_nn::train::derive_seed;
use ferrograd_nn::Result;
use ferrograd_tensor::Tensor;

/// Training and test clouds, `[N, points, 2]` each.
pub struct FlowData {
    /// The training clouds.
    pub train: Tensor,
    /// The test clouds.
    pub test: Tensor,
}

/// Stacks clouds of equal length into `[N, P, 2]`.
pub fn stack(clouds: &[Vec<[f32; 2]>]) -> Result<Tensor> {
    let p = clouds.first().map_or(0, Vec::len);
    let flat: Vec<f32> = clouds.iter().flatten().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, &[clouds.len(), p, 2])?)
}

/// The clouds `cfg` asks for.
pub fn load(cfg: &FlowRunConfig) -> Result<FlowData> {
    let seed = derive_seed(cfg.seed, "clouds");
    let split_seed = derive_seed(cfg.seed, "split");
    if cfg.synthetic {
        let all = synthetic_clouds(cfg.digit, cfg.synthetic_clouds, cfg.points, seed)?;
        let (train, _, test) = split_indices(all.len(), 0.0, TEST_FRACTION, split_seed)?;
        let pick = |ix: &[usize]| stack(&ix.iter().map(|&i| all[i].clone()).collect::<Vec<_>>());
        return Ok(FlowData {
            train: pick(&train)?,
            test: pick(&test)?,
        });
    }
    let (images, labels) = match (&cfg.images, &cfg.labels) {
        (Some(i), Some(l)) => read_pair(i, l)?,
        _ => builtin_mnist()?,
    };
    let of = of_digit(&labels, cfg.digit)?;
    let (train, test) = train_test_split(&of, split_seed)?;
    Ok(FlowData {
        train: stack(&clouds(&images, &train, cfg.points, seed)?)?,
        test: stack(&clouds(&images, &test, cfg.points, seed)?)?,
    })
}
