//! `convvae_step`: one training step of the World Models ConvVAE, defined
//! in `benches/reference/convvae_step.py` (this project's PyTorch
//! reference in the anchors' conventions; not part of `../shared/anchors`).
//!
//! Its 5 million parameters are not in the dump (they would be 19 MB): both
//! sides compute them with [`hashed_uniform`], and the dump's metadata says
//! `params: hashed-uniform`.

use super::{adam, Dump, Result, Workload};
use ferrograd_autograd::Var;
use ferrograd_models::world::vae::{ConvVae, VaeConfig};
use ferrograd_nn::optim::{Adam, Optimizer};
use ferrograd_nn::Module;
use ferrograd_tensor::Tensor;
use std::collections::BTreeMap;
use std::path::Path;

const BATCH: usize = 32;

/// `n` values in (−bound, bound): SplitMix64 of (CRC-32 of `name`, index
/// 1..=n), the top 24 bits as `u ∈ [0, 1)`, `(2u − 1)·bound` in f64,
/// rounded to f32 (the same numbers as the Python reference's
/// `hashed_uniform`).
pub fn hashed_uniform(name: &str, n: usize, bound: f64) -> Vec<f32> {
    let seed = (crc32(name.as_bytes()) as u64).wrapping_mul(0x100000001B3);
    (1..=n as u64)
        .map(|i| {
            let mut z = seed.wrapping_add(i.wrapping_mul(0x9E3779B97F4A7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
            z ^= z >> 31;
            let u = (z >> 40) as f64 / (1u64 << 24) as f64;
            ((2.0 * u - 1.0) * bound) as f32
        })
        .collect()
}

/// CRC-32 (IEEE, as Python's `zlib.crc32`).
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
        }
    }
    !c
}

/// The fan-in that bounds a parameter of [`ConvVae`], from its layer's
/// weight shape: `in·k·k` for the encoder's convolutions, `out·k·k` for the
/// decoder's transposed ones, `in` for the linear layers.
fn fan_in(layer: &str, weight: &[usize]) -> usize {
    match weight {
        [_, out, kh, kw] if layer.starts_with("dec.") => out * kh * kw,
        [_, i, kh, kw] => i * kh * kw,
        [_, i] => *i,
        _ => 1,
    }
}

/// `convvae_step`: [`ConvVae`] (the paper's 64×64 architecture, z = 32) on
/// the dump's 32 frames and noise, loss = summed squared error + max(KL,
/// 16), Adam 1e-3.
pub struct ConvvaeStep {
    vae: ConvVae,
    opt: Adam,
    x: Var,
    xi: Tensor,
}

impl ConvvaeStep {
    /// The workload from a `convvae_step` dump (parameters by
    /// [`hashed_uniform`]).
    pub fn from_dump(path: impl AsRef<Path>) -> Result<ConvvaeStep> {
        let dump = Dump::load(path)?;
        dump.expect_workload("convvae_step")?;
        let vae = ConvVae::new(VaeConfig::default(), 0)?;
        let shapes = vae.state_dict();
        let mut params = BTreeMap::new();
        for (name, t) in &shapes {
            let layer = name.rsplit_once('.').map_or("", |(l, _)| l);
            let weight = &shapes[&format!("{layer}.weight")];
            let bound = 1.0 / (fan_in(layer, weight.dims()) as f64).sqrt();
            let values = hashed_uniform(name, t.numel(), bound);
            params.insert(name.clone(), Tensor::from_vec(values, t.dims())?);
        }
        vae.load_state_dict(&params)?;
        let opt = adam(vae.params(), 1e-3)?;
        Ok(ConvvaeStep {
            x: Var::constant(dump.batch_tensor("x", &[BATCH, 3, 64, 64])?),
            xi: dump.batch_tensor("xi", &[BATCH, 32])?,
            vae,
            opt,
        })
    }

    /// One Adam step; returns the loss before it.
    pub fn step(&mut self) -> Result<f32> {
        self.opt.zero_grad();
        let loss = self.vae.loss_with_noise(&self.x, &self.xi)?.total;
        loss.backward()?;
        self.opt.step()?;
        Ok(loss.item()?)
    }
}

impl Workload for ConvvaeStep {
    const NAME: &'static str = "convvae_step";

    fn from_dump(path: &Path) -> Result<Self> {
        ConvvaeStep::from_dump(path)
    }

    fn step(&mut self) -> Result<f32> {
        ConvvaeStep::step(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_and_the_hash_match_python() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        // Python: hashed_uniform("x", (4,), 1.0)
        let python = [
            -0.3010193109512329,
            0.4834362268447876,
            0.6063412427902222,
            0.46396756172180176,
        ];
        assert_eq!(hashed_uniform("x", 4, 1.0), python.map(|v: f64| v as f32));
    }
}
