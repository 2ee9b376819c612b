//! Task distributions for meta-learning: the sinusoid regression family of
//! Finn et al. (2017) and a synthetic N-way K-shot classification family.

use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Examples drawn from one task: inputs `[n, in]` and targets (`[n, out]`
/// for regression; class indices as f32 `[n]` for classification).
#[derive(Clone, Debug)]
pub struct Examples {
    /// Inputs.
    pub x: Tensor,
    /// Targets.
    pub y: Tensor,
}

/// A family of tasks: sample a task, then examples from it.
pub trait TaskDistribution {
    /// One task's parameters.
    type Task: Clone + Send + Sync;
    /// Draws a task.
    fn sample_task(&self, rng: &mut StdRng) -> Self::Task;
    /// Draws `n` examples from `task` (for classification, `n` per class).
    fn sample(&self, task: &Self::Task, n: usize, rng: &mut StdRng) -> Examples;
}

/// y = A·sin(x − φ) with A ~ U[0.1, 5], φ ~ U[0, π], x ~ U[−5, 5].
#[derive(Clone, Copy, Debug, Default)]
pub struct Sinusoid;

/// Amplitude and phase of a sinusoid task.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SineTask {
    /// A.
    pub amplitude: f32,
    /// φ.
    pub phase: f32,
}

impl SineTask {
    /// The task's function.
    pub fn eval(&self, x: f32) -> f32 {
        self.amplitude * (x - self.phase).sin()
    }
}

impl TaskDistribution for Sinusoid {
    type Task = SineTask;

    fn sample_task(&self, rng: &mut StdRng) -> SineTask {
        SineTask {
            amplitude: rng.random_range(0.1..5.0),
            phase: rng.random_range(0.0..std::f32::consts::PI),
        }
    }

    fn sample(&self, task: &SineTask, n: usize, rng: &mut StdRng) -> Examples {
        let xs: Vec<f32> = (0..n).map(|_| rng.random_range(-5.0..5.0)).collect();
        let ys: Vec<f32> = xs.iter().map(|&x| task.eval(x)).collect();
        Examples {
            x: Tensor::from_vec(xs, &[n, 1]).expect("n values"),
            y: Tensor::from_vec(ys, &[n, 1]).expect("n values"),
        }
    }
}

/// N-way classification in a `dim`-dimensional feature space: each task
/// draws N class centres from N(0, spread²·I); examples of a class are its
/// centre plus N(0, I) noise. Labels are 0..N (as f32).
#[derive(Clone, Copy, Debug)]
pub struct GaussianClusters {
    /// Classes per task (N).
    pub ways: usize,
    /// Feature dimension.
    pub dim: usize,
    /// Standard deviation of the class centres.
    pub spread: f32,
}

/// The class centres of one classification task, `[ways, dim]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterTask {
    /// Centres, one row per class.
    pub centres: Vec<f32>,
}

impl TaskDistribution for GaussianClusters {
    type Task = ClusterTask;

    fn sample_task(&self, rng: &mut StdRng) -> ClusterTask {
        let centres = (0..self.ways * self.dim)
            .map(|_| self.spread * Distribution::<f32>::sample(&StandardNormal, rng))
            .collect();
        ClusterTask { centres }
    }

    fn sample(&self, task: &ClusterTask, per_class: usize, rng: &mut StdRng) -> Examples {
        let n = self.ways * per_class;
        let mut x = Vec::with_capacity(n * self.dim);
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let class = i % self.ways;
            let centre = &task.centres[class * self.dim..(class + 1) * self.dim];
            x.extend(
                centre
                    .iter()
                    .map(|&c| c + Distribution::<f32>::sample(&StandardNormal, rng)),
            );
            y.push(class as f32);
        }
        Examples {
            x: Tensor::from_vec(x, &[n, self.dim]).expect("n·dim values"),
            y: Tensor::from_vec(y, &[n]).expect("n labels"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn sinusoid_examples_follow_their_task() {
        let mut rng = StdRng::seed_from_u64(3);
        let task = Sinusoid.sample_task(&mut rng);
        assert!((0.1..5.0).contains(&task.amplitude) && (0.0..3.2).contains(&task.phase));
        let ex = Sinusoid.sample(&task, 10, &mut rng);
        for (x, y) in ex.x.data().iter().zip(ex.y.data()) {
            assert!((-5.0..5.0).contains(x));
            assert_eq!(*y, task.eval(*x));
        }
    }

    #[test]
    fn clusters_label_every_class_equally() {
        let dist = GaussianClusters {
            ways: 5,
            dim: 4,
            spread: 3.0,
        };
        let mut rng = StdRng::seed_from_u64(4);
        let task = dist.sample_task(&mut rng);
        let ex = dist.sample(&task, 3, &mut rng);
        assert_eq!(ex.x.dims(), &[15, 4]);
        for c in 0..5 {
            assert_eq!(ex.y.data().iter().filter(|&&l| l == c as f32).count(), 3);
        }
    }
}
