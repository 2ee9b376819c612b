//! The vision model V of World Models: a convolutional VAE of 64×64 RGB
//! frames, with the paper's architecture.
//!
//! * Encoder: four 4×4 convolutions of stride 2 (3 → 32 → 64 → 128 → 256
//!   channels, ReLU; 64 → 31 → 14 → 6 → 2 pixels), flattened to 1,024, then
//!   linear layers to the mean `mu` and log-variance `logvar` of z (32).
//! * Decoder: linear z → 1,024 as a 1×1 image of 1,024 channels, then four
//!   transposed convolutions of stride 2 (kernels 5, 5, 6, 6; 1,024 → 128 →
//!   64 → 32 → 3 channels; 1 → 5 → 13 → 30 → 64 pixels), ReLU between and a
//!   sigmoid at the end.
//! * Loss per frame: the squared error summed over the 12,288 pixel values
//!   plus `KL(N(mu, σ²) ‖ N(0, I))` summed over z, floored at
//!   `kl_tolerance · z` ("free bits", 0.5 in the paper), both averaged over
//!   the batch.
//!
//! Parameter names: `enc.{0..3}`, `mu`, `logvar`, `dec_in`, `dec.{0..3}`
//! (`.weight`, `.bias`). Frames enter as `[B, 3, 64, 64]` floats in [0, 1]
//! ([`frames_to_tensor`]).

use super::env::SIZE;
use ferrograd_autograd::Var;
use ferrograd_nn::layers::conv::{Conv2d, ConvTranspose2d};
use ferrograd_nn::{init, Collector, Error, Forward, Linear, Module, Result};
use ferrograd_tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Settings of a [`ConvVae`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VaeConfig {
    /// Latent size (32 in the paper).
    pub z_dim: usize,
    /// Free bits per latent dimension: the KL term is at least
    /// `kl_tolerance · z_dim` (0.5 in the paper).
    pub kl_tolerance: f32,
}

impl Default for VaeConfig {
    fn default() -> VaeConfig {
        VaeConfig {
            z_dim: 32,
            kl_tolerance: 0.5,
        }
    }
}

impl VaeConfig {
    /// The number of weights and biases of a [`ConvVae`] of this
    /// configuration (the fixed convolutions and the latent's three linear
    /// layers), `None` if it overflows `usize`; computed without building
    /// anything, so a loader can refuse a latent size its file cannot hold.
    pub fn value_count(&self) -> Option<usize> {
        use crate::run::sizes::{conv, linear, sum};
        let z = self.z_dim;
        let enc = (0..4).map(|i| conv(ENC_CHANNELS[i], ENC_CHANNELS[i + 1], 4));
        let dec = (0..4).map(|i| conv(DEC_CHANNELS[i], DEC_CHANNELS[i + 1], DEC_KERNELS[i]));
        let latent = [linear(FLAT, z), linear(FLAT, z), linear(z, FLAT)];
        sum(enc.chain(dec).chain(latent))
    }
}

/// The encoder's output for a batch.
pub struct Encoding {
    /// `[B, z]`.
    pub mu: Var,
    /// `[B, z]`.
    pub logvar: Var,
}

/// The loss of one batch, split into its parts.
pub struct VaeLoss {
    /// Reconstruction plus floored KL, differentiable.
    pub total: Var,
    /// Squared error summed over a frame, mean over the batch.
    pub reconstruction: f32,
    /// KL summed over z, mean over the batch (before the floor).
    pub kl: f32,
}

/// The convolutional VAE (see the module doc).
pub struct ConvVae {
    /// The configuration it was built from.
    pub config: VaeConfig,
    enc: Vec<Conv2d>,
    mu: Linear,
    logvar: Linear,
    dec_in: Linear,
    dec: Vec<ConvTranspose2d>,
}

const ENC_CHANNELS: [usize; 5] = [3, 32, 64, 128, 256];
const DEC_CHANNELS: [usize; 5] = [1024, 128, 64, 32, 3];
const DEC_KERNELS: [usize; 4] = [5, 5, 6, 6];
const FLAT: usize = 1024;

impl ConvVae {
    /// A VAE with PyTorch-style default initialisation, seeded.
    pub fn new(config: VaeConfig, seed: u64) -> Result<ConvVae> {
        if config.z_dim == 0 || !(config.kl_tolerance.is_finite() && config.kl_tolerance >= 0.0) {
            return Err(Error::Config(format!(
                "vae: z_dim must be positive and kl_tolerance finite and non-negative, got {} and {}",
                config.z_dim, config.kl_tolerance
            )));
        }
        let enc = (0..4)
            .map(|i| {
                Ok(Conv2d::new(
                    ENC_CHANNELS[i],
                    ENC_CHANNELS[i + 1],
                    (4, 4),
                    seed + i as u64,
                )?
                .with_stride((2, 2)))
            })
            .collect::<Result<_>>()?;
        let dec = (0..4)
            .map(|i| {
                let k = DEC_KERNELS[i];
                Ok(ConvTranspose2d::new(
                    DEC_CHANNELS[i],
                    DEC_CHANNELS[i + 1],
                    (k, k),
                    seed + 10 + i as u64,
                )?
                .with_stride((2, 2)))
            })
            .collect::<Result<_>>()?;
        let z = config.z_dim;
        Ok(ConvVae {
            enc,
            mu: Linear::new(FLAT, z, seed + 20),
            logvar: Linear::new(FLAT, z, seed + 21),
            dec_in: Linear::new(z, FLAT, seed + 22),
            dec,
            config,
        })
    }

    /// Encodes frames `[B, 3, 64, 64]`.
    pub fn encode(&self, x: &Var) -> Result<Encoding> {
        let d = x.dims();
        if d.len() != 4 || d[1..] != [3, SIZE, SIZE] {
            return Err(Error::Config(format!(
                "vae: frames must be [B, 3, {SIZE}, {SIZE}], got {d:?}"
            )));
        }
        crate::guard::finite_tensor("vae encode", "frames", x.value())?;
        let mut h = x.clone();
        for c in &self.enc {
            h = c.forward(&h)?.relu();
        }
        let h = h.reshape(&[d[0], FLAT])?;
        Ok(Encoding {
            mu: self.mu.forward(&h)?,
            logvar: self.logvar.forward(&h)?,
        })
    }

    /// Decodes latents `[B, z]` to frames `[B, 3, 64, 64]` in (0, 1).
    pub fn decode(&self, z: &Var) -> Result<Var> {
        crate::guard::rank("vae decode", "latents", z.value(), 2)?;
        crate::guard::finite_tensor("vae decode", "latents", z.value())?;
        let b = z.dims()[0];
        let mut h = self.dec_in.forward(z)?.reshape(&[b, FLAT, 1, 1])?;
        for (i, c) in self.dec.iter().enumerate() {
            h = c.forward(&h)?;
            h = if i + 1 < self.dec.len() {
                h.relu()
            } else {
                h.sigmoid()
            };
        }
        Ok(h)
    }

    /// The loss on frames `x` with the reparameterised sample drawn from
    /// `seed`.
    pub fn loss(&self, x: &Var, seed: u64) -> Result<VaeLoss> {
        let b = x.dims().first().copied().unwrap_or(0);
        let xi = init::normal(&[b, self.config.z_dim], 0.0, 1.0, &mut init::rng(seed));
        self.loss_with_noise(x, &xi)
    }

    /// The loss on frames `x` with the sample `z = mu + exp(logvar / 2)·xi`
    /// for the given standard-normal `xi` `[B, z]`.
    pub fn loss_with_noise(&self, x: &Var, xi: &Tensor) -> Result<VaeLoss> {
        let e = self.encode(x)?;
        let b = x.dims()[0] as f32;
        if xi.dims() != e.mu.dims() {
            return Err(Error::Config(format!(
                "vae: noise {:?} does not match the latent {:?}",
                xi.dims(),
                e.mu.dims()
            )));
        }
        let noise = e
            .logvar
            .mul_scalar(0.5)
            .exp()
            .mul(&Var::constant(xi.clone()))?;
        let z = e.mu.add(&noise)?;
        let recon = self
            .decode(&z)?
            .sub(x)?
            .square()
            .sum_all()
            .mul_scalar(1.0 / b);
        let kl =
            e.mu.square()
                .add(&e.logvar.exp())?
                .sub(&e.logvar)?
                .add_scalar(-1.0)
                .sum_all()
                .mul_scalar(0.5 / b);
        let floor = self.config.kl_tolerance * self.config.z_dim as f32;
        let (recon_v, kl_v) = (recon.item()?, kl.item()?);
        // max(kl, floor): below the floor the KL term has no gradient.
        let kl_term = if kl_v > floor {
            kl
        } else {
            Var::constant(Tensor::scalar(floor))
        };
        Ok(VaeLoss {
            total: recon.add(&kl_term)?,
            reconstruction: recon_v,
            kl: kl_v,
        })
    }
}

impl Module for ConvVae {
    fn visit(&self, c: &mut Collector) {
        for (i, l) in self.enc.iter().enumerate() {
            c.child(&format!("enc.{i}"), l);
        }
        c.child("mu", &self.mu);
        c.child("logvar", &self.logvar);
        c.child("dec_in", &self.dec_in);
        for (i, l) in self.dec.iter().enumerate() {
            c.child(&format!("dec.{i}"), l);
        }
    }
}

/// Frames (`64 × 64 × 3` bytes each, concatenated) as a `[B, 3, 64, 64]`
/// tensor in [0, 1].
pub fn frames_to_tensor(frames: &[&[u8]]) -> Result<Tensor> {
    let per = SIZE * SIZE;
    let mut out = vec![0.0f32; frames.len() * 3 * per];
    for (i, f) in frames.iter().enumerate() {
        if f.len() != 3 * per {
            return Err(Error::Config(format!(
                "vae: frame {i} has {} bytes, expected {}",
                f.len(),
                3 * per
            )));
        }
        let o = &mut out[i * 3 * per..(i + 1) * 3 * per];
        for (p, rgb) in f.chunks_exact(3).enumerate() {
            for c in 0..3 {
                o[c * per + p] = rgb[c] as f32 / 255.0;
            }
        }
    }
    Ok(Tensor::from_vec(out, &[frames.len(), 3, SIZE, SIZE])?)
}

/// A `[B, 3, 64, 64]` tensor in [0, 1] back to frames of bytes.
pub fn tensor_to_frames(t: &Tensor) -> Vec<Vec<u8>> {
    let per = SIZE * SIZE;
    t.data()
        .chunks_exact(3 * per)
        .map(|img| {
            (0..per)
                .flat_map(|p| {
                    (0..3).map(move |c| (img[c * per + p].clamp(0.0, 1.0) * 255.0).round() as u8)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::env::{Catch, Env};
    use ferrograd_nn::optim::{Adam, AdamConfig, Optimizer};

    #[test]
    fn shapes_names_and_frame_conversion() {
        let vae = ConvVae::new(VaeConfig::default(), 0).unwrap();
        let sd = vae.state_dict();
        assert_eq!(sd["enc.3.weight"].dims(), &[256, 128, 4, 4]);
        assert_eq!(sd["dec.0.weight"].dims(), &[1024, 128, 5, 5]);
        let mut env = Catch::default();
        let f = env.reset(4);
        let x = frames_to_tensor(&[&f, &f]).unwrap();
        assert_eq!(tensor_to_frames(&x)[1], f);
        let e = vae.encode(&Var::constant(x)).unwrap();
        assert_eq!(e.mu.dims(), &[2, 32]);
        let y = vae.decode(&e.mu).unwrap();
        assert_eq!(y.dims(), &[2, 3, 64, 64]);
        assert!(vae
            .encode(&Var::constant(Tensor::zeros(&[1, 3, 32, 32]).unwrap()))
            .is_err());
    }

    #[test]
    fn a_few_steps_lower_the_reconstruction_error() {
        let vae = ConvVae::new(VaeConfig::default(), 1).unwrap();
        let mut env = Catch::default();
        let frames: Vec<Vec<u8>> = (0..4).map(|s| env.reset(s)).collect();
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let x = Var::constant(frames_to_tensor(&refs).unwrap());
        let mut opt = Adam::new(
            vae.params(),
            AdamConfig {
                lr: 1e-3,
                ..AdamConfig::default()
            },
        )
        .unwrap();
        let first = vae.loss(&x, 0).unwrap().reconstruction;
        for s in 0..15 {
            let l = vae.loss(&x, s).unwrap();
            opt.zero_grad();
            l.total.backward().unwrap();
            opt.step().unwrap();
        }
        let last = vae.loss(&x, 99).unwrap().reconstruction;
        assert!(last < 0.5 * first, "{first} -> {last}");
    }
}
