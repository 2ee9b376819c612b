//! Seeded parameter initialisers (PyTorch's conventions).
//!
//! `fan_in` and `fan_out` of a weight of shape `[out, in, k…]` are
//! `in·Πk` and `out·Πk`.

use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// A random-number generator from a seed (the one generator type used by
/// every initialiser, data loader and dropout layer, so runs are reproducible).
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn fans(dims: &[usize]) -> (usize, usize) {
    match dims {
        [] => (1, 1),
        [n] => (*n, *n),
        [out, inp, rest @ ..] => {
            let k: usize = rest.iter().product();
            (inp * k, out * k)
        }
    }
}

/// Uniform values in `[low, high)`.
pub fn uniform(dims: &[usize], low: f32, high: f32, rng: &mut StdRng) -> Tensor {
    let n: usize = dims.iter().product();
    let d = (0..n).map(|_| rng.random_range(low..high)).collect();
    Tensor::from_vec(d, dims).expect("length matches")
}

/// Normal values with the given mean and standard deviation.
pub fn normal(dims: &[usize], mean: f32, std: f32, rng: &mut StdRng) -> Tensor {
    let n: usize = dims.iter().product();
    let dist = Normal::new(mean, std.max(0.0)).expect("finite parameters");
    let d = (0..n).map(|_| dist.sample(rng)).collect();
    Tensor::from_vec(d, dims).expect("length matches")
}

/// Zeros.
pub fn zeros(dims: &[usize]) -> Tensor {
    Tensor::zeros(dims).expect("valid shape")
}

/// Ones.
pub fn ones(dims: &[usize]) -> Tensor {
    Tensor::ones(dims).expect("valid shape")
}

/// Xavier/Glorot uniform: U(−a, a), a = gain·√(6 / (fan_in + fan_out)).
pub fn xavier_uniform(dims: &[usize], gain: f32, rng: &mut StdRng) -> Tensor {
    let (i, o) = fans(dims);
    let a = gain * (6.0 / (i + o) as f32).sqrt();
    uniform(dims, -a, a, rng)
}

/// Xavier/Glorot normal: N(0, σ²), σ = gain·√(2 / (fan_in + fan_out)).
pub fn xavier_normal(dims: &[usize], gain: f32, rng: &mut StdRng) -> Tensor {
    let (i, o) = fans(dims);
    normal(dims, 0.0, gain * (2.0 / (i + o) as f32).sqrt(), rng)
}

/// Kaiming/He uniform for ReLU-like layers: U(−b, b), b = gain·√(3 / fan_in)
/// (use gain √2 for ReLU).
pub fn kaiming_uniform(dims: &[usize], gain: f32, rng: &mut StdRng) -> Tensor {
    let (i, _) = fans(dims);
    let b = gain * (3.0 / i as f32).sqrt();
    uniform(dims, -b, b, rng)
}

/// Kaiming/He normal: N(0, σ²), σ = gain/√fan_in.
pub fn kaiming_normal(dims: &[usize], gain: f32, rng: &mut StdRng) -> Tensor {
    let (i, _) = fans(dims);
    normal(dims, 0.0, gain / (i as f32).sqrt(), rng)
}

/// PyTorch's default for linear and convolution layers: U(−1/√fan_in, 1/√fan_in).
pub fn lecun_uniform(dims: &[usize], fan_in: usize, rng: &mut StdRng) -> Tensor {
    let b = 1.0 / (fan_in.max(1) as f32).sqrt();
    uniform(dims, -b, b, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_scaled() {
        let a = xavier_uniform(&[64, 32], 1.0, &mut rng(1));
        let b = xavier_uniform(&[64, 32], 1.0, &mut rng(1));
        assert_eq!(a, b);
        let bound = (6.0f32 / 96.0).sqrt();
        assert!(a.data().iter().all(|v| v.abs() <= bound));
        let k = kaiming_normal(&[256, 100], 2f32.sqrt(), &mut rng(2));
        let var = k.square().mean_all().data()[0];
        assert!((var - 0.02).abs() < 0.002, "{var}");
    }
}
