//! Flow matching on the straight path between data and noise, and sampling.
//!
//! **Time convention** (the one used everywhere in this module): data at
//! `t = 0`, noise at `t = 1`,
//!
//! `x_t = t·ε + (1 − t)·x₀`, `ε ~ N(0, I)`, so the velocity is
//! `v = dx_t/dt = ε − x₀`.
//!
//! The network predicts one [`Target`]; at sampling time a prediction `p`
//! at `(x_t, t)` becomes a velocity by ([`to_velocity`]):
//!
//! * velocity: `v = p`;
//! * noise (`p = ε̂`): `x̂₀ = (x_t − t·ε̂)/(1 − t)`, so `v = (ε̂ − x_t)/(1 − t)`;
//! * data (`p = x̂₀`): `ε̂ = (x_t − (1 − t)·x̂₀)/t`, so `v = (x_t − x̂₀)/t`.
//!
//! The noise form is singular at `t = 1` and the data form at `t = 0`: an
//! error `e` of the prediction becomes `e/(1 − t)` (or `e/t`) in the
//! velocity. The denominators are clamped to at least [`MIN_GAP`] (one
//! Euler step of the default 20), so the first noise-target step and the
//! last data-target Heun evaluation stay bounded; the oracle conversions
//! are exact for `t ∈ [MIN_GAP, 1 − MIN_GAP]`.
//!
//! Sampling integrates `dx/dt = v` from noise at `t = 1` down to data at
//! `t = 0` in `steps` equal steps of `h = 1/steps`: Euler
//! `x ← x − h·v(x, t)`, or Heun (Euler predictor, then the average of the
//! velocities at both ends).

use super::model::FlowModel;
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::{init, Error, Result};
use ferrograd_tensor::Tensor;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The smallest denominator `1 − t` or `t` of the target conversions (see
/// the module doc).
pub const MIN_GAP: f32 = 0.05;

/// What the velocity network is trained to predict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The velocity `ε − x₀` (default).
    #[default]
    Velocity,
    /// The noise `ε`.
    Noise,
    /// The data `x₀`.
    Data,
}

/// The ODE solver of [`sample`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// Euler's method (default).
    #[default]
    Euler,
    /// Heun's method (two velocity evaluations per step).
    Heun,
}

/// `x_t = t·ε + (1 − t)·x₀` with one `t` per cloud (`x₀`, `ε`: `[B, N, 2]`).
pub fn interpolate(x0: &Tensor, eps: &Tensor, t: &[f32]) -> Result<Tensor> {
    let d = x0.dims();
    if eps.dims() != d || d.is_empty() || t.len() != d[0] {
        return Err(Error::Config(format!(
            "flow path: x0 {d:?}, noise {:?} and {} times do not fit",
            eps.dims(),
            t.len()
        )));
    }
    let per = x0.numel() / d[0].max(1);
    let out = x0
        .data()
        .iter()
        .zip(eps.data())
        .enumerate()
        .map(|(i, (a, e))| {
            let ti = t[i / per];
            ti * e + (1.0 - ti) * a
        })
        .collect();
    Ok(Tensor::from_vec(out, d)?)
}

/// The training target for `target` given `x₀` and `ε`.
pub fn target_value(target: Target, x0: &Tensor, eps: &Tensor) -> Result<Tensor> {
    Ok(match target {
        Target::Velocity => eps.sub(x0)?,
        Target::Noise => eps.clone(),
        Target::Data => x0.clone(),
    })
}

/// The velocity for a prediction `pred` of `target` at `(x_t, t)`, one `t`
/// per cloud (formulas in the module doc).
pub fn to_velocity(target: Target, pred: &Tensor, x_t: &Tensor, t: &[f32]) -> Result<Tensor> {
    let d = x_t.dims();
    if pred.dims() != d || d.is_empty() || t.len() != d[0] {
        return Err(Error::Config(format!(
            "flow conversion: prediction {:?}, x_t {d:?} and {} times do not fit",
            pred.dims(),
            t.len()
        )));
    }
    if target == Target::Velocity {
        return Ok(pred.clone());
    }
    let per = x_t.numel() / d[0].max(1);
    let out = pred
        .data()
        .iter()
        .zip(x_t.data())
        .enumerate()
        .map(|(i, (p, x))| {
            let ti = t[i / per];
            match target {
                Target::Noise => (p - x) / (1.0 - ti).max(MIN_GAP),
                _ => (x - p) / ti.max(MIN_GAP),
            }
        })
        .collect();
    Ok(Tensor::from_vec(out, d)?)
}

/// One flow-matching loss evaluation.
pub struct FlowLoss {
    /// `MSE(prediction, target) + kl_weight·KL`, differentiable.
    pub total: Var,
    /// The MSE part.
    pub mse: f32,
    /// The KL part (0 without the VAE head), unweighted.
    pub kl: f32,
}

/// The loss on clouds `x₀` `[B, N, 2]`: the code is encoded from `x₀`
/// itself, `t ~ U(0, 1)` per cloud and `ε ~ N(0, I)`, all from `seed`.
pub fn flow_loss(model: &FlowModel, x0: &Tensor, seed: u64) -> Result<FlowLoss> {
    let mut rng = init::rng(seed);
    let b = x0.dims().first().copied().unwrap_or(0);
    let t: Vec<f32> = (0..b).map(|_| rng.random::<f32>()).collect();
    let eps = init::normal(x0.dims(), 0.0, 1.0, &mut rng);
    flow_loss_at(model, x0, &t, &eps, rng.random())
}

/// The loss on clouds `x₀` at the given times `t` (one per cloud) and noise
/// `ε` (the shape of `x₀`); `sample_seed` draws the VAE head's code sample.
pub fn flow_loss_at(
    model: &FlowModel,
    x0: &Tensor,
    t: &[f32],
    eps: &Tensor,
    sample_seed: u64,
) -> Result<FlowLoss> {
    let x_t = interpolate(x0, eps, t)?;
    let enc = model
        .encoder
        .encode(&Var::constant(x0.clone()), Some(sample_seed))?;
    let pred = model.velocity.predict(&Var::constant(x_t), t, &enc.code)?;
    let target = Var::constant(target_value(model.config.target, x0, eps)?);
    let mse = pred.mse(&target)?;
    let (mse_v, mut total) = (mse.item()?, mse);
    let mut kl_v = 0.0;
    if let Some(kl) = enc.kl {
        kl_v = kl.item()?;
        total = total.add(&kl.mul_scalar(model.config.kl_weight))?;
    }
    Ok(FlowLoss {
        total,
        mse: mse_v,
        kl: kl_v,
    })
}

/// Integrates `dx/dt = field(x, t)` from `x` at `t = 1` to `t = 0` in
/// `steps` steps with `solver`.
pub fn integrate(
    mut x: Tensor,
    steps: usize,
    solver: Solver,
    mut field: impl FnMut(&Tensor, f32) -> Result<Tensor>,
) -> Result<Tensor> {
    if steps == 0 {
        return Err(Error::Config(
            "flow sampling: steps must be at least 1".into(),
        ));
    }
    let h = 1.0 / steps as f32;
    for k in 0..steps {
        let t = 1.0 - k as f32 * h;
        let t_next = if k + 1 == steps { 0.0 } else { t - h };
        let v = field(&x, t)?;
        let euler = x.sub(&v.mul_scalar(h))?;
        x = match solver {
            Solver::Euler => euler,
            Solver::Heun => {
                let v2 = field(&euler, t_next)?;
                x.sub(&v.add(&v2)?.mul_scalar(0.5 * h))?
            }
        };
    }
    Ok(x)
}

/// Generates one cloud of `points` points per code (`[B, code]`) from noise
/// seeded by `seed`: `[B, points, 2]`.
pub fn sample(
    model: &FlowModel,
    code: &Tensor,
    points: usize,
    steps: usize,
    solver: Solver,
    seed: u64,
) -> Result<Tensor> {
    let cd = code.dims();
    if cd.len() != 2 || cd[1] != model.config.code || cd[0] == 0 || points == 0 {
        return Err(Error::Config(format!(
            "flow sampling: codes must be [B, {}] with B > 0 and points > 0, got {cd:?} and {points} points",
            model.config.code
        )));
    }
    crate::guard::finite_tensor("flow sampling", "codes", code)?;
    let b = cd[0];
    let noise = init::normal(&[b, points, 2], 0.0, 1.0, &mut init::rng(seed));
    let code = Var::constant(code.clone());
    let clouds = no_grad(|| {
        integrate(noise, steps, solver, |x, t| {
            let ts = vec![t; b];
            let pred = model
                .velocity
                .predict(&Var::constant(x.clone()), &ts, &code)?;
            to_velocity(model.config.target, pred.value(), x, &ts)
        })
    })?;
    crate::guard::finite_output("flow sampling", clouds.data())?;
    Ok(clouds)
}

/// Codes for reconstruction: the encoder's code of each reference cloud
/// (the mean with the VAE head), `[B, code]`.
pub fn encode_codes(model: &FlowModel, clouds: &Tensor) -> Result<Tensor> {
    crate::guard::rank("flow encode", "clouds", clouds, 3)?;
    crate::guard::finite_tensor("flow encode", "clouds", clouds)?;
    let codes = no_grad(|| {
        Ok::<_, Error>(
            model
                .encoder
                .encode(&Var::constant(clouds.clone()), None)?
                .code
                .value()
                .clone(),
        )
    })?;
    crate::guard::finite_output("flow encode", codes.data())?;
    Ok(codes)
}

/// Codes `z ~ N(0, I)` for generation without a reference (VAE head), seeded.
pub fn prior_codes(model: &FlowModel, n: usize, seed: u64) -> Result<Tensor> {
    if !model.config.vae {
        return Err(Error::Config(
            "flow sampling: codes from the prior need the VAE head (vae: true)".into(),
        ));
    }
    Ok(init::normal(
        &[n, model.config.code],
        0.0,
        1.0,
        &mut init::rng(seed),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::chamfer::chamfer_batch_mean;
    use crate::flow::model::FlowConfig;
    use ferrograd_nn::{Adam, AdamConfig, Module, Optimizer};

    fn rand_t(dims: &[usize], seed: u64) -> Tensor {
        init::normal(dims, 0.0, 1.0, &mut init::rng(seed))
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        a.data()
            .iter()
            .zip(b.data())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn perfect_oracles_of_every_target_give_the_same_velocity() {
        let (x0, eps) = (rand_t(&[3, 7, 2], 1), rand_t(&[3, 7, 2], 2));
        let t = [0.05, 0.5, 0.93];
        let x_t = interpolate(&x0, &eps, &t).unwrap();
        let v = eps.sub(&x0).unwrap();
        for target in [Target::Velocity, Target::Noise, Target::Data] {
            let oracle = target_value(target, &x0, &eps).unwrap();
            let got = to_velocity(target, &oracle, &x_t, &t).unwrap();
            assert!(
                max_diff(&got, &v) < 1e-3,
                "{target:?}: {}",
                max_diff(&got, &v)
            );
        }
        assert!(to_velocity(Target::Noise, &x0, &x_t, &[0.1]).is_err());
    }

    #[test]
    fn euler_and_heun_are_exact_on_a_straight_path() {
        let (x0, eps) = (rand_t(&[2, 5, 2], 3), rand_t(&[2, 5, 2], 4));
        // The data-target oracle's velocity (x − x₀)/t is linear in x: Euler
        // stays on the straight path and lands on x₀.
        let field = |x: &Tensor, t: f32| to_velocity(Target::Data, &x0, x, &[t, t]);
        let end = integrate(eps.clone(), 20, Solver::Euler, field).unwrap();
        assert!(max_diff(&end, &x0) < 1e-5, "{}", max_diff(&end, &x0));
        // Constant velocity ε − x₀: both solvers are exact (any step count).
        let v = eps.sub(&x0).unwrap();
        for solver in [Solver::Euler, Solver::Heun] {
            let end = integrate(eps.clone(), 7, solver, |_, _| Ok(v.clone())).unwrap();
            assert!(max_diff(&end, &x0) < 1e-5, "{solver:?}");
        }
        assert!(integrate(eps, 0, Solver::Euler, |_, _| Ok(v.clone())).is_err());
    }

    /// `b` clouds of `n` points: circles of radius 0.6 and horizontal
    /// segments, alternating.
    fn shapes(b: usize, n: usize) -> Tensor {
        let mut d = Vec::with_capacity(b * n * 2);
        for i in 0..b {
            for j in 0..n {
                let u = j as f32 / n as f32;
                if i % 2 == 0 {
                    let a = std::f32::consts::TAU * u;
                    d.extend([0.6 * a.cos(), 0.6 * a.sin()]);
                } else {
                    d.extend([1.6 * u - 0.8, 0.3 * (i as f32 - 2.0) / 2.0]);
                }
            }
        }
        Tensor::from_vec(d, &[b, n, 2]).unwrap()
    }

    fn small_config(vae: bool) -> FlowConfig {
        FlowConfig {
            encoder_hidden: vec![32],
            code: 16,
            time_embedding: 16,
            velocity_width: 64,
            velocity_blocks: 2,
            vae,
            ..FlowConfig::default()
        }
    }

    #[test]
    fn sampling_is_deterministic_per_seed_and_shapes() {
        let m = FlowModel::new(small_config(true), 0).unwrap();
        let codes = prior_codes(&m, 3, 1).unwrap();
        let a = sample(&m, &codes, 40, 5, Solver::Heun, 9).unwrap();
        let b = sample(&m, &codes, 40, 5, Solver::Heun, 9).unwrap();
        let c = sample(&m, &codes, 40, 5, Solver::Heun, 10).unwrap();
        assert_eq!(a.dims(), &[3, 40, 2]);
        assert_eq!(a, b);
        assert!(max_diff(&a, &c) > 0.0);
        let plain = FlowModel::new(small_config(false), 0).unwrap();
        assert!(prior_codes(&plain, 3, 1).is_err());
        let wrong = Tensor::zeros(&[3, 5]).unwrap();
        assert!(sample(&plain, &wrong, 40, 5, Solver::Euler, 0).is_err());
        assert_eq!(
            encode_codes(&plain, &shapes(2, 10)).unwrap().dims(),
            &[2, 16]
        );
    }

    #[test]
    fn tiny_overfit_lowers_loss_and_reconstruction_chamfer() {
        overfit(small_config(false), 300);
    }

    #[test]
    fn tiny_overfit_with_vae_and_other_targets() {
        for target in [Target::Noise, Target::Data] {
            overfit(
                FlowConfig {
                    vae: true,
                    target,
                    ..small_config(true)
                },
                300,
            );
        }
    }

    fn overfit(cfg: FlowConfig, steps: u64) {
        let data = shapes(4, 64);
        let m = FlowModel::new(cfg, 5).unwrap();
        let recon = |m: &FlowModel| {
            let codes = encode_codes(m, &data).unwrap();
            let gen = sample(m, &codes, 64, 20, Solver::Euler, 77).unwrap();
            chamfer_batch_mean(&gen, &data).unwrap()
        };
        let eval_loss = |m: &FlowModel| -> f32 {
            (0..8)
                .map(|s| flow_loss(m, &data, 1000 + s).unwrap().mse)
                .sum::<f32>()
                / 8.0
        };
        let (loss0, cd0) = (eval_loss(&m), recon(&m));
        let cfg = AdamConfig {
            lr: 2e-3,
            ..AdamConfig::default()
        };
        let mut opt = Adam::new(m.params(), cfg).unwrap();
        for step in 0..steps {
            let l = flow_loss(&m, &data, step).unwrap();
            opt.zero_grad();
            l.total.backward().unwrap();
            opt.step().unwrap();
        }
        let (loss1, cd1) = (eval_loss(&m), recon(&m));
        eprintln!(
            "overfit {:?} vae {}: loss {loss0:.4} -> {loss1:.4}, chamfer {cd0:.4} -> {cd1:.4}",
            m.config.target, m.config.vae
        );
        assert!(loss1 < 0.7 * loss0, "loss {loss0} -> {loss1}");
        assert!(cd1 < 0.5 * cd0, "chamfer {cd0} -> {cd1}");
    }
}
