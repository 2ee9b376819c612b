//! Training the world model's two networks on the shared run harness: the
//! VAE on frames sampled from stored episodes ([`train_vae`]) and the
//! MDN-RNN on latent windows of those episodes ([`train_rnn`]).

use super::config::WorldConfig;
use super::dream::{encode_episodes, LatentEpisode};
use super::env::ACTIONS;
use super::episodes::{load_dir, Episode};
use super::mdn_rnn::MdnRnn;
use super::vae::{frames_to_tensor, ConvVae};
use crate::run::{
    check_claimed_size, family_checkpoint, fit, Event, FitSummary, Goal, LoopSettings, Monitor,
    Reporter, RunDir, TrainTask,
};
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::optim::{Adam, AdamConfig};
use ferrograd_nn::train::derive_seed;
use ferrograd_nn::{Error, Module, Result};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The family of `world train-vae` checkpoints.
pub const VAE_FAMILY: &str = "world-vae";
/// The family of `world train-rnn` checkpoints.
pub const RNN_FAMILY: &str = "world-rnn";

/// The episodes of `cfg.episodes_dir`, the unreadable ones reported.
pub fn read_episodes(cfg: &WorldConfig, reporter: &mut dyn Reporter) -> Result<Vec<Episode>> {
    let dir = cfg.episodes_dir.as_ref().ok_or_else(|| {
        Error::Config("world: give --episodes-dir DIR (from `world collect`)".into())
    })?;
    let (eps, skipped) = load_dir(dir)?;
    for s in &skipped {
        reporter.report(Event::Phase(format!("skipped {s}")));
    }
    Ok(eps)
}

/// Splits episodes into training and test parts by `cfg.seed` (at least
/// one of each when there are two or more).
pub fn split<T: Clone>(items: &[T], cfg: &WorldConfig) -> (Vec<T>, Vec<T>) {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(derive_seed(cfg.seed, "split")));
    let n_test = ((items.len() as f64 * cfg.test_fraction).round() as usize)
        .clamp(usize::from(items.len() > 1), items.len().saturating_sub(1));
    let pick = |ix: &[usize]| ix.iter().map(|&i| items[i].clone()).collect();
    (pick(&idx[n_test..]), pick(&idx[..n_test]))
}

fn checkpoint_meta(family: &str, cfg: &WorldConfig) -> Result<BTreeMap<String, String>> {
    Ok(crate::run::family_metadata(family, cfg)?.metadata)
}

/// The rows of each batch: a seeded shuffle of `n` rows per epoch, drawn
/// once per epoch and cut into batches.
struct EpochOrder {
    n: usize,
    batch: usize,
    seed: u64,
    order: Option<(u64, Vec<usize>)>,
}

impl EpochOrder {
    fn new(n: usize, batch: usize, seed: u64) -> EpochOrder {
        EpochOrder {
            n,
            batch,
            seed,
            order: None,
        }
    }

    /// The rows of optimizer step `step`.
    fn rows(&mut self, step: u64) -> &[usize] {
        let per_epoch = self.n.div_ceil(self.batch) as u64;
        let (epoch, i) = (step / per_epoch, (step % per_epoch) as usize);
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let mut o: Vec<usize> = (0..self.n).collect();
            o.shuffle(&mut StdRng::seed_from_u64(self.seed ^ epoch));
            self.order = Some((epoch, o));
        }
        let o = &self.order.as_ref().expect("set above").1;
        &o[i * self.batch..((i + 1) * self.batch).min(o.len())]
    }
}

// ---------------------------------------------------------------------------
// VAE
// ---------------------------------------------------------------------------

struct VaeTask<'a> {
    vae: &'a ConvVae,
    frames: Vec<&'a [u8]>,
    valid: Tensor,
    order: EpochOrder,
    seed: u64,
    meta: BTreeMap<String, String>,
}

impl TrainTask for VaeTask<'_> {
    fn module(&self) -> &dyn Module {
        self.vae
    }

    fn loss(&mut self, step: u64) -> Result<Var> {
        let frames = &self.frames;
        let batch: Vec<&[u8]> = self.order.rows(step).iter().map(|&r| frames[r]).collect();
        let x = Var::constant(frames_to_tensor(&batch)?);
        Ok(self
            .vae
            .loss(&x, self.seed ^ step.wrapping_mul(0x9E37_79B9))?
            .total)
    }

    fn validate(&mut self) -> Result<Vec<(String, f64)>> {
        let x = Var::constant(self.valid.clone());
        let l = no_grad(|| self.vae.loss(&x, 7))?;
        Ok(vec![
            ("valid_recon".into(), l.reconstruction as f64),
            ("valid_kl".into(), l.kl as f64),
        ])
    }

    fn metadata(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.meta.clone())
    }
}

/// Trains the VAE on `cfg.vae_frames` frames drawn from the training
/// episodes, keeping the checkpoint of the lowest validation
/// reconstruction error (frames of the test episodes), and draws the best
/// checkpoint's reconstructions of validation frames into `recon.png`.
pub fn train_vae(
    cfg: &WorldConfig,
    run: &RunDir,
    resume: bool,
    reporter: &mut dyn Reporter,
) -> Result<FitSummary> {
    cfg.validate()?;
    let eps = read_episodes(cfg, reporter)?;
    let (train, test) = split(&eps, cfg);
    let mut rng = StdRng::seed_from_u64(derive_seed(cfg.seed, "frames"));
    let mut draw = |set: &[Episode], n: usize| -> Vec<(usize, usize)> {
        (0..n)
            .map(|_| {
                let e = rng.random_range(0..set.len());
                (e, rng.random_range(0..=set[e].len()))
            })
            .collect()
    };
    let picks = draw(&train, cfg.vae_frames);
    let test_set = if test.is_empty() { &train } else { &test };
    let valid_picks = draw(test_set, 64.min(cfg.vae_frames));
    let frames: Vec<&[u8]> = picks.iter().map(|&(e, t)| train[e].frame(t)).collect();
    let valid: Vec<&[u8]> = valid_picks
        .iter()
        .map(|&(e, t)| test_set[e].frame(t))
        .collect();
    if !resume {
        run.write_json(crate::run::dir::CONFIG_FILE, cfg)?;
    }
    let vae = ConvVae::new(cfg.vae(), derive_seed(cfg.seed, "vae"))?;
    let mut opt = Adam::new(
        vae.params(),
        AdamConfig {
            lr: cfg.vae_lr,
            ..AdamConfig::default()
        },
    )?;
    let spe = frames.len().div_ceil(cfg.vae_batch) as u64;
    let settings = LoopSettings {
        steps_per_epoch: Some(spe),
        valid_every: spe,
        save_every: spe,
        monitor: Some(Monitor {
            metric: "valid_recon".into(),
            goal: Goal::Minimize,
        }),
        max_nonfinite: cfg.max_nonfinite,
        ..LoopSettings::steps(spe * cfg.vae_epochs as u64, spe.min(20))
    };
    let seed = derive_seed(cfg.seed, "vae-batches");
    let mut task = VaeTask {
        vae: &vae,
        order: EpochOrder::new(frames.len(), cfg.vae_batch, seed),
        frames,
        valid: frames_to_tensor(&valid)?,
        seed,
        meta: checkpoint_meta(VAE_FAMILY, cfg)?,
    };
    let valid_frames = valid.clone();
    let summary = fit(
        &mut task, &mut opt, None, &settings, run, resume, cfg.seed, reporter,
    )?;
    let best = run.file("checkpoints/best.safetensors");
    if best.exists() {
        let (vae, _) = load_vae(&best)?;
        crate::world::strip::recon_strip(&run.file("recon.png"), &vae, &valid_frames)?;
    }
    Ok(summary)
}

/// Loads a `world train-vae` checkpoint.
pub fn load_vae(path: &Path) -> Result<(ConvVae, WorldConfig)> {
    let (ckpt, cfg): (_, WorldConfig) = family_checkpoint(path, VAE_FAMILY)?;
    check_claimed_size(cfg.vae().value_count(), &ckpt, path)?;
    let vae = ConvVae::new(cfg.vae(), 0)?;
    ckpt.load_into(&vae).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        problem: format!("does not fit its configuration: {e}"),
    })?;
    Ok((vae, cfg))
}

/// Loads a `world train-rnn` checkpoint.
pub fn load_rnn(path: &Path) -> Result<(MdnRnn, WorldConfig)> {
    let (ckpt, cfg): (_, WorldConfig) = family_checkpoint(path, RNN_FAMILY)?;
    check_claimed_size(cfg.rnn().min_value_count(), &ckpt, path)?;
    let rnn = MdnRnn::new(&cfg.rnn(), 0)?;
    ckpt.load_into(&rnn).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        problem: format!("does not fit its configuration: {e}"),
    })?;
    Ok((rnn, cfg))
}

// ---------------------------------------------------------------------------
// MDN-RNN
// ---------------------------------------------------------------------------

/// Training windows of latent episodes: inputs `[N, L, Z + A]`, next
/// latents `[N, L, Z]`, rewards, dones and masks `[N, L]`.
#[derive(Clone, Debug)]
pub struct Windows {
    /// `[z_t, one_hot(a_t)]`.
    pub za: Tensor,
    /// `z_{t+1}`.
    pub z_next: Tensor,
    /// `r_t`.
    pub reward: Tensor,
    /// `done_t`.
    pub done: Tensor,
    /// 1 for real steps, 0 for padding.
    pub mask: Tensor,
}

/// Cuts every episode into windows of `len` steps (the last one padded
/// and masked).
pub fn windows(eps: &[LatentEpisode], zd: usize, len: usize) -> Result<Windows> {
    let (mut za, mut zn, mut r, mut d, mut m) = (vec![], vec![], vec![], vec![], vec![]);
    let mut n = 0;
    for e in eps {
        let mut start = 0;
        while start < e.len() {
            for t in start..start + len {
                if t < e.len() {
                    za.extend_from_slice(&e.z[t * zd..(t + 1) * zd]);
                    za.extend_from_slice(&super::env::one_hot(e.actions[t] as usize));
                    zn.extend_from_slice(&e.z[(t + 1) * zd..(t + 2) * zd]);
                    r.push(e.rewards[t]);
                    d.push(e.dones[t] as f32);
                    m.push(1.0);
                } else {
                    za.extend(std::iter::repeat_n(0.0, zd + ACTIONS));
                    zn.extend(std::iter::repeat_n(0.0, zd));
                    r.push(0.0);
                    d.push(0.0);
                    m.push(0.0);
                }
            }
            n += 1;
            start += len;
        }
    }
    if n == 0 {
        return Err(Error::Config("world: no episode steps to train on".into()));
    }
    Ok(Windows {
        za: Tensor::from_vec(za, &[n, len, zd + ACTIONS])?,
        z_next: Tensor::from_vec(zn, &[n, len, zd])?,
        reward: Tensor::from_vec(r, &[n, len])?,
        done: Tensor::from_vec(d, &[n, len])?,
        mask: Tensor::from_vec(m, &[n, len])?,
    })
}

impl Windows {
    fn rows(&self, idx: &[usize]) -> Result<[Var; 5]> {
        let ix = ferrograd_tensor::Indices::new(idx.to_vec(), &[idx.len()])?;
        let sel = |t: &Tensor| -> Result<Var> { Ok(Var::constant(t.index_select(0, &ix)?)) };
        Ok([
            sel(&self.za)?,
            sel(&self.z_next)?,
            sel(&self.reward)?,
            sel(&self.done)?,
            sel(&self.mask)?,
        ])
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.za.dims()[0]
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Scores of `model` over every real step of `w`: the mean per-step NLL of
/// the next latent, reward MSE and done BCE, and the mean predicted reward
/// at the steps whose reward is −1, 0 and +1 (NaN for an outcome that never
/// occurs: how well the memory model tells a catch from a miss from
/// nothing). One forward pass per chunk of windows.
pub fn rnn_scores(model: &MdnRnn, w: &Windows) -> Result<([f64; 3], [f64; 3])> {
    let all: Vec<usize> = (0..w.len()).collect();
    let mut sums = [0.0f64; 3];
    let mut steps = 0.0;
    let (mut by_outcome, mut outcomes) = ([0.0f64; 3], [0usize; 3]);
    for chunk in all.chunks(64) {
        let [za, zn, r, d, m] = w.rows(chunk)?;
        let count = m.value().data().iter().sum::<f32>() as f64;
        let (o, parts) = no_grad(|| -> Result<_> {
            let o = model.forward_heads(&za)?;
            let parts = model.masked_terms(&o, &zn, &r, &d, &m)?.1;
            Ok((o, parts))
        })?;
        for (s, p) in sums.iter_mut().zip(parts) {
            *s += p as f64 * count;
        }
        steps += count;
        let pred = o.reward.value();
        for ((&p, &r), &m) in pred
            .data()
            .iter()
            .zip(r.value().data())
            .zip(m.value().data())
        {
            if m > 0.0 {
                let k = super::mdn_rnn::reward_class(r);
                by_outcome[k] += p as f64;
                outcomes[k] += 1;
            }
        }
    }
    Ok((
        sums.map(|s| s / steps.max(1.0)),
        [0, 1, 2].map(|k| by_outcome[k] / outcomes[k] as f64),
    ))
}

/// The NLL per step of an unconditional baseline: an independent Gaussian
/// per latent dimension fitted to the training latents, scored on `w`.
pub fn unconditional_nll(train: &Windows, w: &Windows) -> f64 {
    let zd = train.z_next.dims()[2];
    let (mut mean, mut sq, mut n) = (vec![0.0f64; zd], vec![0.0f64; zd], 0.0);
    for (row, &m) in train.z_next.data().chunks(zd).zip(train.mask.data()) {
        if m > 0.0 {
            for j in 0..zd {
                mean[j] += row[j] as f64;
                sq[j] += (row[j] as f64).powi(2);
            }
            n += 1.0;
        }
    }
    let var: Vec<f64> = (0..zd)
        .map(|j| (sq[j] / n - (mean[j] / n).powi(2)).max(1e-8))
        .collect();
    let (mut nll, mut steps) = (0.0f64, 0.0f64);
    for (row, &m) in w.z_next.data().chunks(zd).zip(w.mask.data()) {
        if m > 0.0 {
            for j in 0..zd {
                let e = row[j] as f64 - mean[j] / n;
                nll += 0.5 * (e * e / var[j] + var[j].ln() + (2.0 * std::f64::consts::PI).ln());
            }
            steps += 1.0;
        }
    }
    nll / steps.max(1.0)
}

struct RnnTask<'a> {
    model: &'a MdnRnn,
    train: Windows,
    test: &'a Windows,
    order: EpochOrder,
    meta: BTreeMap<String, String>,
}

impl TrainTask for RnnTask<'_> {
    fn module(&self) -> &dyn Module {
        self.model
    }

    fn loss(&mut self, step: u64) -> Result<Var> {
        let [za, zn, r, d, m] = self.train.rows(self.order.rows(step))?;
        Ok(self.model.masked_loss(&za, &zn, &r, &d, &m)?.0)
    }

    fn validate(&mut self) -> Result<Vec<(String, f64)>> {
        let ([nll, r, d], _) = rnn_scores(self.model, self.test)?;
        Ok(vec![
            ("test_nll".into(), nll),
            ("test_reward_mse".into(), r),
            ("test_done_bce".into(), d),
        ])
    }

    fn metadata(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.meta.clone())
    }
}

/// What [`train_rnn`] measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RnnReport {
    /// Training and test windows.
    pub windows: (usize, usize),
    /// Test NLL per step of the trained network (best checkpoint).
    pub test_nll: f64,
    /// The same network untrained.
    pub untrained_nll: f64,
    /// An independent Gaussian per latent dimension (no memory, no action).
    pub unconditional_nll: f64,
    /// Test reward MSE and done BCE of the trained network.
    pub test_reward_mse: f64,
    /// Done BCE.
    pub test_done_bce: f64,
    /// The trained network's mean predicted reward at the test steps whose
    /// reward is −1, 0 and +1 ([`rnn_scores`]).
    pub test_reward_by_outcome: [f64; 3],
}

/// Encodes the episodes with the VAE at `vae_path`, trains the MDN-RNN on
/// windows of the training episodes, and scores it against an untrained
/// network and an unconditional baseline on the test episodes.
pub fn train_rnn(
    cfg: &WorldConfig,
    vae_path: &Path,
    run: &RunDir,
    resume: bool,
    reporter: &mut dyn Reporter,
) -> Result<RnnReport> {
    cfg.validate()?;
    let (vae, vcfg) = load_vae(vae_path)?;
    if vcfg.z_dim != cfg.z_dim {
        return Err(Error::Config(format!(
            "world train-rnn: the VAE {} has --z-dim {}, this run {}",
            vae_path.display(),
            vcfg.z_dim,
            cfg.z_dim
        )));
    }
    let eps = read_episodes(cfg, reporter)?;
    reporter.report(Event::Phase(format!("encoding {} episodes", eps.len())));
    let latents = encode_episodes(&vae, &eps, 64)?;
    let (train_eps, test_eps) = split(&latents, cfg);
    let train = windows(&train_eps, cfg.z_dim, cfg.seq_len)?;
    let test = windows(&test_eps, cfg.z_dim, cfg.seq_len)?;
    if !resume {
        run.write_json(crate::run::dir::CONFIG_FILE, cfg)?;
        write_vae_link(run, vae_path)?;
    }
    let model = MdnRnn::new(&cfg.rnn(), derive_seed(cfg.seed, "rnn"))?;
    let untrained = rnn_scores(&model, &test)?.0[0];
    let mut opt = Adam::new(
        model.params(),
        AdamConfig {
            lr: cfg.rnn_lr,
            ..AdamConfig::default()
        },
    )?;
    let spe = train.len().div_ceil(cfg.rnn_batch) as u64;
    let settings = LoopSettings {
        steps_per_epoch: Some(spe),
        valid_every: spe,
        save_every: spe,
        monitor: Some(Monitor {
            metric: "test_nll".into(),
            goal: Goal::Minimize,
        }),
        clip_grad_norm: (cfg.clip > 0.0).then_some(cfg.clip),
        max_nonfinite: cfg.max_nonfinite,
        ..LoopSettings::steps(spe * cfg.rnn_epochs as u64, spe)
    };
    let n = (train.len(), test.len());
    let unconditional = unconditional_nll(&train, &test);
    let mut task = RnnTask {
        model: &model,
        order: EpochOrder::new(
            train.len(),
            cfg.rnn_batch,
            derive_seed(cfg.seed, "rnn-batches"),
        ),
        train,
        test: &test,
        meta: checkpoint_meta(RNN_FAMILY, cfg)?,
    };
    fit(
        &mut task, &mut opt, None, &settings, run, resume, cfg.seed, reporter,
    )?;
    let (best, _) = load_rnn(&run.file("checkpoints/best.safetensors"))?;
    let ([nll, r, d], by_outcome) = rnn_scores(&best, &test)?;
    let report = RnnReport {
        windows: n,
        test_nll: nll,
        untrained_nll: untrained,
        unconditional_nll: unconditional,
        test_reward_mse: r,
        test_done_bce: d,
        test_reward_by_outcome: by_outcome,
    };
    run.write_json(crate::run::dir::EVAL_FILE, &report)?;
    Ok(report)
}

/// Records which VAE a memory model was trained on (`vae.txt`).
fn write_vae_link(run: &RunDir, vae: &Path) -> Result<()> {
    let abs: PathBuf = std::fs::canonicalize(vae).unwrap_or_else(|_| vae.to_path_buf());
    ferrograd_nn::atomic::write_bytes(run.file("vae.txt"), abs.display().to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{OpenMode, Silent};
    use crate::world::episodes::collect;

    #[test]
    fn the_pipeline_trains_both_networks_and_beats_an_untrained_memory() {
        let root =
            std::env::temp_dir().join(format!("ferrograd-world-train-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut cfg = WorldConfig::default();
        WorldConfig::test_preset(&mut cfg);
        cfg.episodes_dir = Some(root.join("episodes"));
        collect(
            &root.join("episodes"),
            cfg.episodes,
            0,
            cfg.noise,
            cfg.noise_levels,
        )
        .unwrap();
        let vrun = RunDir::open(root.join("vae"), OpenMode::Fresh).unwrap();
        let s = train_vae(&cfg, &vrun, false, &mut Silent).unwrap();
        assert!(s.state.step > 0);
        let vae_path = vrun.file("checkpoints/best.safetensors");
        let (vae, _) = load_vae(&vae_path).unwrap();
        assert_eq!(vae.config.z_dim, cfg.z_dim);
        cfg.rnn_epochs = 8;
        let rrun = RunDir::open(root.join("rnn"), OpenMode::Fresh).unwrap();
        let r = train_rnn(&cfg, &vae_path, &rrun, false, &mut Silent).unwrap();
        assert!(r.test_nll < r.untrained_nll, "{r:?}");
        assert!(load_rnn(&vae_path).is_err(), "a VAE is not a memory model");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn windows_pad_and_mask_the_last_steps() {
        let e = LatentEpisode {
            z: (0..4 * 2).map(|v| v as f32).collect(),
            actions: vec![0, 2, 1],
            rewards: vec![0.0, 1.0, -1.0],
            dones: vec![0, 0, 1],
        };
        let w = windows(&[e], 2, 2).unwrap();
        assert_eq!(w.za.dims(), &[2, 2, 2 + ACTIONS]);
        assert_eq!(w.mask.data(), &[1.0, 1.0, 1.0, 0.0]);
        assert_eq!(&w.z_next.data()[..2], &[2.0, 3.0]);
        assert_eq!(&w.za.data()[5..10], &[2.0, 3.0, 0.0, 0.0, 1.0]);
        assert_eq!(w.done.data()[2], 1.0);
    }
}
