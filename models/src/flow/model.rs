//! The networks of the flow-matching generator: a PointNet encoder with an
//! optional VAE head, a sinusoidal time embedding and the AdaLN-modulated
//! per-point velocity network, configured by [`FlowConfig`].

use super::matching::Target;
use ferrograd_autograd::Var;
use ferrograd_nn::init;
use ferrograd_nn::{
    Activation, AdaLayerNorm, Collector, Error, Forward, Linear, Mlp, Module, Result,
};
use ferrograd_tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The model's shape and training objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowConfig {
    /// Hidden widths of the encoder's shared per-point MLP.
    pub encoder_hidden: Vec<usize>,
    /// Size of the global code (64 in the reference).
    pub code: usize,
    /// Size of the sinusoidal time embedding (even).
    pub time_embedding: usize,
    /// Width of the velocity network's hidden layers.
    pub velocity_width: usize,
    /// Number of AdaLN-modulated residual blocks of the velocity network.
    pub velocity_blocks: usize,
    /// Whether the encoder has a VAE head (mean, log-variance).
    pub vae: bool,
    /// Weight of the KL term in the loss (used with the VAE head).
    pub kl_weight: f32,
    /// What the network predicts.
    pub target: Target,
}

impl Default for FlowConfig {
    fn default() -> FlowConfig {
        FlowConfig {
            encoder_hidden: vec![64, 128],
            code: 64,
            time_embedding: 32,
            velocity_width: 128,
            velocity_blocks: 3,
            vae: false,
            kl_weight: 1e-3,
            target: Target::Velocity,
        }
    }
}

impl FlowConfig {
    /// The number of weights and biases a model of this configuration
    /// holds (encoder, VAE head, velocity network), `None` if it overflows
    /// `usize`; computed without building anything, so a loader can refuse
    /// a configuration claiming more than its file holds.
    pub fn min_value_count(&self) -> Option<usize> {
        use crate::run::sizes::{dense, linear, sum};
        let mut widths = vec![2];
        widths.extend(&self.encoder_hidden);
        widths.push(self.code);
        let head = match self.vae {
            true => linear(self.code, self.code)?.checked_mul(2)?,
            false => 0,
        };
        let (w, cond) = (
            self.velocity_width,
            self.code.checked_add(self.time_embedding)?,
        );
        let block = sum([linear(cond, w.checked_mul(2)?), linear(w, w)])?;
        sum([
            dense(&widths),
            Some(head),
            linear(2, w),
            block.checked_mul(self.velocity_blocks),
            linear(w, 2),
        ])
    }

    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |field: &str, why: &str| Err(Error::Config(format!("flow config: {field} {why}")));
        if self.encoder_hidden.is_empty() || self.encoder_hidden.contains(&0) {
            return bad("encoder_hidden", "needs at least one width, all positive");
        }
        if self.code == 0 {
            return bad("code", "must be positive");
        }
        if self.time_embedding == 0 || !self.time_embedding.is_multiple_of(2) {
            return bad("time_embedding", "must be a positive even number");
        }
        if self.velocity_width == 0 {
            return bad("velocity_width", "must be positive");
        }
        if self.velocity_blocks == 0 {
            return bad("velocity_blocks", "must be at least 1");
        }
        if !(self.kl_weight.is_finite() && self.kl_weight >= 0.0) {
            return bad("kl_weight", "must be finite and non-negative");
        }
        Ok(())
    }
}

/// Sinusoidal embedding of times `t ∈ [0, 1]` (one per cloud) to `[B, dim]`:
/// `[sin(t·f₀), …, sin(t·f_{h−1}), cos(t·f₀), …]` with `h = dim/2` and
/// frequencies `f_k = 1000^{k/h}` (1 to about 1000), a constant.
pub fn time_embedding(t: &[f32], dim: usize) -> Result<Tensor> {
    let h = dim / 2;
    let mut out = Vec::with_capacity(t.len() * dim);
    for &ti in t {
        let args: Vec<f32> = (0..h)
            .map(|k| ti * 1000f32.powf(k as f32 / h as f32))
            .collect();
        out.extend(args.iter().map(|a| a.sin()));
        out.extend(args.iter().map(|a| a.cos()));
    }
    Ok(Tensor::from_vec(out, &[t.len(), 2 * h])?)
}

/// The encoder's output: the code and, with the VAE head, its KL term.
pub struct Encoded {
    /// `[B, code]`: the sample `μ + σ·ξ` in training with the VAE head, `μ`
    /// otherwise.
    pub code: Var,
    /// Mean over the batch of `KL(N(μ, σ²) ‖ N(0, I))`, with the VAE head.
    pub kl: Option<Var>,
}

/// PointNet: a shared per-point MLP on `[B, N, 2]`, max-pooled over the
/// points to `[B, code]`; optionally followed by a VAE head.
/// Parameters `mlp.0.weight`, …, and `mean.*`, `logvar.*` with the head.
pub struct PointNet {
    /// The per-point MLP, `2 → hidden… → code` (ReLU between layers).
    pub mlp: Mlp,
    /// The VAE head: mean and log-variance layers `code → code`.
    pub head: Option<(Linear, Linear)>,
}

impl PointNet {
    fn new(cfg: &FlowConfig, seed: u64) -> Result<PointNet> {
        let mut widths = vec![2];
        widths.extend(&cfg.encoder_hidden);
        widths.push(cfg.code);
        let mlp = Mlp::new(&widths, Activation::Relu, seed)?;
        let head = cfg.vae.then(|| {
            (
                Linear::new(cfg.code, cfg.code, seed ^ 0x11),
                Linear::new(cfg.code, cfg.code, seed ^ 0x22),
            )
        });
        Ok(PointNet { mlp, head })
    }

    /// Encodes clouds `[B, N, 2]`. With the VAE head and `sample_seed`
    /// given, the code is the reparameterised sample; without a seed it is
    /// the mean.
    pub fn encode(&self, x: &Var, sample_seed: Option<u64>) -> Result<Encoded> {
        let d = x.dims();
        if d.len() != 3 || d[2] != 2 || d[1] == 0 {
            return Err(Error::Config(format!(
                "flow encoder: clouds must be [B, N, 2] with N > 0, got {d:?}"
            )));
        }
        let pooled = self.mlp.forward(x)?.max(&[1], false)?;
        let Some((mean, logvar)) = &self.head else {
            return Ok(Encoded {
                code: pooled,
                kl: None,
            });
        };
        let mu = mean.forward(&pooled)?;
        let lv = logvar.forward(&pooled)?;
        // KL = ½ Σ (μ² + σ² − 1 − ln σ²), summed over the code, mean over B.
        let kl = mu
            .square()
            .add(&lv.exp())?
            .sub(&lv)?
            .add_scalar(-1.0)
            .sum(&[1], false)?
            .mean_all()
            .mul_scalar(0.5);
        let code = match sample_seed {
            Some(seed) => {
                let xi = init::normal(mu.dims(), 0.0, 1.0, &mut init::rng(seed));
                mu.add(&lv.mul_scalar(0.5).exp().mul(&Var::constant(xi))?)?
            }
            None => mu,
        };
        Ok(Encoded { code, kl: Some(kl) })
    }
}

impl Module for PointNet {
    fn visit(&self, c: &mut Collector) {
        c.child("mlp", &self.mlp);
        if let Some((m, l)) = &self.head {
            c.child("mean", m);
            c.child("logvar", l);
        }
    }
}

/// One residual block: `h + linear(silu(norm(h | cond)))`.
pub struct Block {
    /// Adaptive LayerNorm from the conditioning vector (zero-initialised).
    pub norm: AdaLayerNorm,
    /// `width → width`.
    pub linear: Linear,
}

impl Module for Block {
    fn visit(&self, c: &mut Collector) {
        c.child("norm", &self.norm);
        c.child("linear", &self.linear);
    }
}

/// The per-point velocity network: `input: 2 → W`, residual AdaLN blocks
/// conditioned on `silu([code, time embedding])`, `out: W → 2`.
pub struct VelocityNet {
    /// `2 → width`.
    pub input: Linear,
    /// The modulated blocks.
    pub blocks: Vec<Block>,
    /// `width → 2`.
    pub out: Linear,
    /// Size of the time embedding.
    pub time_embedding: usize,
}

impl VelocityNet {
    fn new(cfg: &FlowConfig, seed: u64) -> VelocityNet {
        let (w, cond) = (cfg.velocity_width, cfg.code + cfg.time_embedding);
        VelocityNet {
            input: Linear::new(2, w, seed),
            blocks: (0..cfg.velocity_blocks)
                .map(|i| Block {
                    norm: AdaLayerNorm::new(w, cond),
                    linear: Linear::new(w, w, seed + 1 + i as u64),
                })
                .collect(),
            out: Linear::new(w, 2, seed + 1000),
            time_embedding: cfg.time_embedding,
        }
    }

    /// The prediction for points `x_t` `[B, N, 2]` at times `t` (one per
    /// cloud) given codes `[B, code]`: `[B, N, 2]`.
    pub fn predict(&self, x_t: &Var, t: &[f32], code: &Var) -> Result<Var> {
        let (d, cd) = (x_t.dims(), code.dims());
        if d.len() != 3 || d[2] != 2 || t.len() != d[0] || cd.len() != 2 || cd[0] != d[0] {
            return Err(Error::Config(format!(
                "flow velocity: x_t must be [B, N, 2] with B times and a [B, C] code, got {d:?}, {} times, code {cd:?}",
                t.len()
            )));
        }
        let temb = Var::constant(time_embedding(t, self.time_embedding)?);
        let cond = Var::concat(&[code, &temb], -1)?.silu();
        let mut h = self.input.forward(x_t)?;
        for b in &self.blocks {
            let m = b.norm.forward_cond(&h, &cond)?;
            h = h.add(&b.linear.forward(&m.silu())?)?;
        }
        self.out.forward(&h)
    }
}

impl Module for VelocityNet {
    fn visit(&self, c: &mut Collector) {
        c.child("input", &self.input);
        for (i, b) in self.blocks.iter().enumerate() {
            c.child(&format!("blocks.{i}"), b);
        }
        c.child("out", &self.out);
    }
}

/// The whole generator: `encoder` and `velocity`.
pub struct FlowModel {
    /// The configuration it was built from.
    pub config: FlowConfig,
    /// PointNet encoder (with the VAE head if configured).
    pub encoder: PointNet,
    /// The velocity network.
    pub velocity: VelocityNet,
}

impl FlowModel {
    /// A model for a validated `config`, seeded.
    ///
    /// ```
    /// use ferrograd_models::flow::model::{FlowConfig, FlowModel};
    /// use ferrograd_nn::Module;
    /// let m = FlowModel::new(FlowConfig::default(), 0).unwrap();
    /// assert!(m.state_dict().contains_key("velocity.blocks.0.norm.proj.weight"));
    /// ```
    pub fn new(config: FlowConfig, seed: u64) -> Result<FlowModel> {
        config.validate()?;
        Ok(FlowModel {
            encoder: PointNet::new(&config, seed)?,
            velocity: VelocityNet::new(&config, seed.wrapping_add(7919)),
            config,
        })
    }
}

impl Module for FlowModel {
    fn visit(&self, c: &mut Collector) {
        c.child("encoder", &self.encoder);
        c.child("velocity", &self.velocity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(b: usize, n: usize, seed: u64) -> Var {
        Var::constant(init::normal(&[b, n, 2], 0.0, 0.5, &mut init::rng(seed)))
    }

    #[test]
    fn shapes_and_names() {
        let cfg = FlowConfig {
            vae: true,
            ..FlowConfig::default()
        };
        let m = FlowModel::new(cfg, 1).unwrap();
        let x = cloud(3, 17, 2);
        let enc = m.encoder.encode(&x, Some(5)).unwrap();
        assert_eq!(enc.code.dims(), &[3, 64]);
        assert!(enc.kl.unwrap().item().unwrap() >= 0.0);
        let v = m.velocity.predict(&x, &[0.0, 0.5, 1.0], &enc.code).unwrap();
        assert_eq!(v.dims(), &[3, 17, 2]);
        let names: Vec<String> = m.named_params().into_iter().map(|(n, _)| n).collect();
        for want in [
            "encoder.mlp.0.weight",
            "encoder.mlp.4.bias",
            "encoder.mean.weight",
            "encoder.logvar.bias",
            "velocity.input.weight",
            "velocity.blocks.0.norm.proj.weight",
            "velocity.blocks.2.linear.bias",
            "velocity.out.weight",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
        assert!(m.velocity.predict(&x, &[0.0], &enc.code).is_err());
        assert!(m
            .encoder
            .encode(&cloud(2, 3, 1).reshape(&[2, 6]).unwrap(), None)
            .is_err());
    }

    #[test]
    fn validate_names_the_field() {
        let cases: Vec<(FlowConfig, &str)> = vec![
            (
                FlowConfig {
                    code: 0,
                    ..FlowConfig::default()
                },
                "code",
            ),
            (
                FlowConfig {
                    time_embedding: 3,
                    ..FlowConfig::default()
                },
                "time_embedding",
            ),
            (
                FlowConfig {
                    kl_weight: -1.0,
                    ..FlowConfig::default()
                },
                "kl_weight",
            ),
            (
                FlowConfig {
                    encoder_hidden: vec![],
                    ..FlowConfig::default()
                },
                "encoder_hidden",
            ),
            (
                FlowConfig {
                    velocity_blocks: 0,
                    ..FlowConfig::default()
                },
                "velocity_blocks",
            ),
        ];
        for (cfg, field) in cases {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
        let json = serde_json::to_string(&FlowConfig::default()).unwrap();
        let back: FlowConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, FlowConfig::default());
    }

    #[test]
    fn adaln_starts_at_identity_then_gradients_reach_every_parameter() {
        let cfg = FlowConfig {
            vae: true,
            velocity_width: 16,
            encoder_hidden: vec![16],
            code: 8,
            ..FlowConfig::default()
        };
        let m = FlowModel::new(cfg, 3).unwrap();
        let x = cloud(2, 10, 4);
        // Zero-initialised modulation: the code and time do not matter yet.
        let c1 = Var::constant(init::normal(&[2, 8], 0.0, 1.0, &mut init::rng(1)));
        let c2 = Var::constant(init::normal(&[2, 8], 0.0, 1.0, &mut init::rng(2)));
        let a = m.velocity.predict(&x, &[0.1, 0.9], &c1).unwrap();
        let b = m.velocity.predict(&x, &[0.7, 0.2], &c2).unwrap();
        assert_eq!(a.value(), b.value());
        // Perturb the modulation (as one optimiser step would), then every
        // parameter receives a non-zero gradient.
        for blk in &m.velocity.blocks {
            let p = &blk.norm.proj.weight;
            p.set(init::normal(&p.dims(), 0.0, 0.1, &mut init::rng(9)));
        }
        let enc = m.encoder.encode(&x, Some(1)).unwrap();
        let v = m.velocity.predict(&x, &[0.3, 0.6], &enc.code).unwrap();
        let loss = v.square().mean_all().add(&enc.kl.unwrap()).unwrap();
        loss.backward().unwrap();
        for (name, p) in m.named_params() {
            let g = p.grad().unwrap_or_else(|| panic!("{name} has no gradient"));
            assert!(
                g.data().iter().any(|v| *v != 0.0),
                "{name} gradient is zero"
            );
        }
    }
}
