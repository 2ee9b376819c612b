//! Training and evaluation of the dual encoder on the shared run harness
//! ([`crate::run`]).
//!
//! Each step renders a fresh batch of scenes of distinct seen combinations
//! (from a seed derived from the step, so a resumed run repeats an
//! uninterrupted one) with one caption each, and takes one Adam step on
//! the symmetric InfoNCE loss. Every `valid_every` steps the mean of
//! image→text and text→image top-1 retrieval on the validation scenes
//! (`valid_top1`) picks the best checkpoint; at the end the best
//! checkpoint is scored on the two test sets into `eval.json` and drawn
//! into `retrieval.png`. The vocabulary is stored in every checkpoint.

use super::config::ClipRunConfig;
use super::eval::{
    caption_table, embed_images, embed_texts, evaluate, evaluate_user, retrieval, EvalReport,
};
use super::model::DualEncoder;
use super::pairs::{read_pairs, Pairs};
use super::plots::{pick, pick_scenes, retrieval_png};
use super::scenes::{all_captions, combinations, Attributes, SceneSet, Split, SIDE};
use super::vocab::Vocab;
use crate::data::split_indices;
use crate::run::{
    check_claimed_size, family_checkpoint, fit, Event, FitSummary, Goal, LoopSettings, Monitor,
    Reporter, RunDir, RunState, Schedule, SchedulerTiming, TrainTask, META_RUN_STATE,
};
use ferrograd_autograd::Var;
use ferrograd_nn::checkpoint::Checkpoint;
use ferrograd_nn::optim::{Adam, AdamConfig};
use ferrograd_nn::schedule::CosineAnnealing;
use ferrograd_nn::train::{derive_seed, derive_seed_index};
use ferrograd_nn::{Error, Module, Result};
use ferrograd_tensor::Tensor;
use std::collections::BTreeMap;
use std::path::Path;

/// The family name in the checkpoints of `decision clip train`.
pub const FAMILY: &str = "decision-clip";
/// Checkpoint metadata key of the vocabulary (a JSON list of tokens).
pub const META_VOCAB: &str = "vocab";
/// Scenes shown in `retrieval.png`.
const SHOWN: usize = 8;

/// The vocabulary of every caption the generator writes for the seen
/// combinations.
pub fn training_vocab() -> Vocab {
    let caps: Vec<String> = combinations(Split::Seen)
        .iter()
        .flat_map(all_captions)
        .collect();
    Vocab::build(caps.iter().map(String::as_str))
}

/// The built-in test scenes of a run.
pub struct TestScenes {
    /// New scenes of the seen combinations.
    pub seen: SceneSet,
    /// Scenes of the held-out combinations.
    pub held_out: SceneSet,
}

/// The fixed data of a run: drawn from the run's seed (built-in scenes) or
/// read and split (the user's pairs).
pub struct ClipData {
    /// The user's training pairs (none for built-in scenes, whose training
    /// batches are rendered step by step).
    pub train: Option<Pairs>,
    /// Validation pairs: they pick the best checkpoint.
    pub valid: Pairs,
    /// Test pairs: the seen-combination test scenes or the user's test
    /// pairs.
    pub test: Pairs,
    /// The built-in test scenes (for zero-shot scores and the picture).
    pub scenes: Option<TestScenes>,
}

/// The data of `cfg`.
pub fn data(cfg: &ClipRunConfig) -> Result<ClipData> {
    if let Some(path) = &cfg.pairs {
        let all = read_pairs(path, 10)?;
        let (train, valid, test) =
            split_indices(all.len(), 0.1, 0.1, derive_seed(cfg.seed, "split"))?;
        if cfg.batch > train.len() {
            return Err(Error::Config(format!(
                "decision clip train: --batch must be at most the {} training pairs of {}, got {}",
                train.len(),
                path.display(),
                cfg.batch
            )));
        }
        return Ok(ClipData {
            train: Some(all.select(&train)),
            valid: all.select(&valid),
            test: all.select(&test),
            scenes: None,
        });
    }
    let seen = combinations(Split::Seen);
    let held = combinations(Split::HeldOut);
    let valid = SceneSet::sample(
        &seen,
        cfg.valid_scenes,
        derive_seed(cfg.seed, "valid"),
        false,
    );
    let scenes = TestScenes {
        seen: SceneSet::sample(&seen, cfg.test_scenes, derive_seed(cfg.seed, "test"), false),
        held_out: SceneSet::sample(
            &held,
            cfg.test_scenes,
            derive_seed(cfg.seed, "test-held-out"),
            false,
        ),
    };
    Ok(ClipData {
        train: None,
        valid: Pairs::from_scenes(&valid),
        test: Pairs::from_scenes(&scenes.seen),
        scenes: Some(scenes),
    })
}

/// The vocabulary of a run: every word the generator writes for the seen
/// combinations, or of the user's training captions.
pub fn vocab_of(data: &ClipData) -> Vocab {
    match &data.train {
        Some(t) => Vocab::build(t.captions.iter().map(String::as_str)),
        None => training_vocab(),
    }
}

/// The training batch of `step` as `[B, 3, 32, 32]` pixels and captions:
/// `batch` scenes of distinct seen combinations, or `batch` distinct pairs
/// of `user` drawn at random.
pub fn batch(
    cfg: &ClipRunConfig,
    seen: &[Attributes],
    user: Option<&Pairs>,
    step: u64,
) -> Result<(Tensor, Vec<String>)> {
    let seed = derive_seed_index(derive_seed(cfg.seed, "batches"), step);
    let (px, caps) = match user {
        Some(p) => {
            let mut rng = ferrograd_nn::init::rng(seed);
            let rows =
                rand::seq::index::sample(&mut rng, p.len(), cfg.batch.min(p.len())).into_vec();
            let b = p.select(&rows);
            (b.flat_pixels(0..b.len()), b.captions)
        }
        None => {
            let set = SceneSet::sample(seen, cfg.batch, seed, true);
            (set.pixels(0..set.len()), set.captions)
        }
    };
    let n = caps.len();
    Ok((Tensor::from_vec(px, &[n, 3, SIDE, SIDE])?, caps))
}

/// A trained model with its vocabulary and configuration.
pub struct Loaded {
    /// The run's configuration.
    pub config: ClipRunConfig,
    /// The vocabulary the text encoder reads.
    pub vocab: Vocab,
    /// The model.
    pub model: DualEncoder,
    /// The checkpoint file's contents.
    pub checkpoint: Checkpoint,
}

impl Loaded {
    /// The cosine similarity of one image (`[3, 32, 32]` values in [0, 1],
    /// channels first, as [`Scene::render`](super::scenes::Scene::render)
    /// writes) to each of `texts`.
    pub fn similarities(&self, pixels: &[f32], texts: &[String]) -> Result<Vec<f32>> {
        if pixels.len() != 3 * SIDE * SIDE {
            return Err(Error::Config(format!(
                "dual encoder: an image must have 3×{SIDE}×{SIDE} = {} values, got {}",
                3 * SIDE * SIDE,
                pixels.len()
            )));
        }
        let set = Tensor::from_vec(pixels.to_vec(), &[1, 3, SIDE, SIDE])?;
        let e = ferrograd_autograd::no_grad(|| self.model.image.forward(&Var::constant(set)))?;
        let img = &super::model::normalise_rows(e.value())[0];
        Ok(embed_texts(&self.model, &self.vocab, texts)?
            .iter()
            .map(|t| t.iter().zip(img).map(|(a, b)| a * b).sum())
            .collect())
    }
}

/// Loads a `decision clip train` checkpoint; a file of another family,
/// without a vocabulary, or with tensors that do not fit the recorded
/// configuration is an error naming the file.
pub fn load(path: impl AsRef<Path>) -> Result<Loaded> {
    let path = path.as_ref();
    let bad = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let (checkpoint, config): (Checkpoint, ClipRunConfig) = family_checkpoint(path, FAMILY)?;
    config
        .validate()
        .map_err(|e| bad(format!("bad configuration: {e}")))?;
    let tokens: Vec<String> = checkpoint
        .json(META_VOCAB)
        .map_err(|e| bad(format!("its vocabulary does not parse: {e}")))?
        .ok_or_else(|| {
            bad(format!(
                "metadata '{META_VOCAB}' (the vocabulary) is missing"
            ))
        })?;
    let vocab = Vocab::from_tokens(tokens).map_err(|e| bad(e.to_string()))?;
    let model_config = config.model(vocab.len());
    check_claimed_size(model_config.min_value_count(), &checkpoint, path)?;
    let model = DualEncoder::new(&model_config, 0)?;
    checkpoint
        .load_into(&model)
        .map_err(|e| bad(format!("the tensors do not fit the recorded model: {e}")))?;
    Ok(Loaded {
        config,
        vocab,
        model,
        checkpoint,
    })
}

/// The metadata of a `decision-clip` checkpoint.
pub fn metadata(cfg: &ClipRunConfig, vocab: &Vocab) -> Result<BTreeMap<String, String>> {
    let mut ckpt = crate::run::family_metadata(FAMILY, cfg)?;
    ckpt.set_json(META_VOCAB, vocab.tokens())?;
    Ok(ckpt.metadata)
}

/// Draws `retrieval.png`: the first held-out test scenes with their top-3
/// of the 300 canonical captions, or the first user test pairs with their
/// top-3 of the test captions.
pub fn draw(path: &Path, model: &DualEncoder, vocab: &Vocab, data: &ClipData) -> Result<()> {
    let shown = match &data.scenes {
        Some(s) => {
            let n = SHOWN.min(s.held_out.len());
            let head = SceneSet {
                scenes: s.held_out.scenes[..n].to_vec(),
                captions: s.held_out.captions[..n].to_vec(),
            };
            let img = embed_images(model, &Pairs::from_scenes(&head))?;
            pick_scenes(&head, &img, &caption_table(model, vocab)?, n)
        }
        None => {
            let t = &data.test;
            let img = embed_images(model, t)?;
            let table = embed_texts(model, vocab, &t.captions)?;
            pick(t, &img, &t.captions, &table, &t.keys, SHOWN)
        }
    };
    let title = match &data.scenes {
        Some(_) => {
            "held-out scenes and the model's top-3 of all 300 captions (green: right)".into()
        }
        None => "test images and the model's top-3 of the test captions (green: right)".to_string(),
    };
    retrieval_png(path, &title, &shown)
}

/// Scores `model` on `data`'s test sets.
pub fn evaluate_data(
    model: &DualEncoder,
    vocab: &Vocab,
    cfg: &ClipRunConfig,
    data: &ClipData,
) -> Result<EvalReport> {
    match &data.scenes {
        Some(s) => evaluate(model, vocab, &s.seen, &s.held_out),
        None => evaluate_user(model, vocab, &cfg.data_name(), &data.test),
    }
}

/// [`evaluate`] of a checkpoint on its run's test sets (the user's pairs
/// file is read again from the recorded path).
pub fn evaluate_checkpoint(path: &Path) -> Result<(EvalReport, Loaded, ClipData)> {
    let l = load(path)?;
    let d = data(&l.config)?;
    let mut r = evaluate_data(&l.model, &l.vocab, &l.config, &d)?;
    if let Some(s) = l.checkpoint.json::<RunState>(META_RUN_STATE)? {
        r.step = Some(s.step);
        r.train_seconds = Some(s.train_seconds);
    }
    Ok((r, l, d))
}

/// The training task.
struct ClipTask<'a> {
    model: &'a DualEncoder,
    cfg: &'a ClipRunConfig,
    vocab: &'a Vocab,
    seen: Vec<Attributes>,
    user: Option<&'a Pairs>,
    valid: &'a Pairs,
}

impl TrainTask for ClipTask<'_> {
    fn module(&self) -> &dyn Module {
        self.model
    }

    fn loss(&mut self, step: u64) -> Result<Var> {
        let (px, caps) = batch(self.cfg, &self.seen, self.user, step)?;
        let refs: Vec<&str> = caps.iter().map(String::as_str).collect();
        let enc = self.vocab.encode(&refs, self.cfg.max_tokens)?;
        self.model.loss(&Var::constant(px), &enc)
    }

    fn validate(&mut self) -> Result<Vec<(String, f64)>> {
        let img = embed_images(self.model, self.valid)?;
        let txt = embed_texts(self.model, self.vocab, &self.valid.captions)?;
        let all: Vec<usize> = (0..img.len()).collect();
        let r = retrieval(&img, &txt, &self.valid.keys, &all);
        Ok(vec![
            (
                "valid_top1".into(),
                0.5 * (r.image_to_text_top1 + r.text_to_image_top1),
            ),
            ("valid_i2t_top1".into(), r.image_to_text_top1),
            ("valid_t2i_top1".into(), r.text_to_image_top1),
            (
                "temperature".into(),
                self.model.temperature()?.item()? as f64,
            ),
        ])
    }

    fn metadata(&self) -> Result<BTreeMap<String, String>> {
        metadata(self.cfg, self.vocab)
    }
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// The evaluation of the best checkpoint (written to `eval.json`).
    pub eval: EvalReport,
    /// The driver's summary.
    pub fit: FitSummary,
}

/// Trains with `cfg` into `run` (or continues it with `resume`), then
/// evaluates the best checkpoint on the test sets and draws
/// `retrieval.png` (unless `no_plot`).
pub fn train(
    cfg: &ClipRunConfig,
    run: &RunDir,
    resume: bool,
    no_plot: bool,
    reporter: &mut dyn Reporter,
) -> Result<TrainSummary> {
    cfg.validate()?;
    reporter.report(Event::Phase(format!(
        "preparing the validation and test pairs ({})",
        cfg.data_name()
    )));
    let d = data(cfg)?;
    let vocab = vocab_of(&d);
    if !resume {
        run.write_json(crate::run::dir::CONFIG_FILE, cfg)?;
    }
    let model = DualEncoder::new(&cfg.model(vocab.len()), derive_seed(cfg.seed, "init"))?;
    let mut opt = Adam::new(
        model.params(),
        AdamConfig {
            lr: cfg.lr,
            ..AdamConfig::default()
        },
    )?;
    let mut cosine = CosineAnnealing::new(cfg.lr, cfg.steps, cfg.min_lr)?;
    let settings = LoopSettings {
        valid_every: cfg.valid_every,
        monitor: Some(Monitor {
            metric: "valid_top1".into(),
            goal: Goal::Maximize,
        }),
        max_nonfinite: cfg.max_nonfinite,
        clip_grad_norm: (cfg.clip > 0.0).then_some(cfg.clip),
        ..LoopSettings::steps(cfg.steps, cfg.log_every)
    };
    let mut task = ClipTask {
        model: &model,
        cfg,
        vocab: &vocab,
        seen: combinations(Split::Seen),
        user: d.train.as_ref(),
        valid: &d.valid,
    };
    let sched = Schedule {
        scheduler: &mut cosine,
        timing: SchedulerTiming::EveryStep,
    };
    let fit = fit(
        &mut task,
        &mut opt,
        Some(sched),
        &settings,
        run,
        resume,
        cfg.seed,
        reporter,
    )?;
    reporter.report(Event::Phase(
        "evaluating the best checkpoint on the test scenes".into(),
    ));
    let (mut eval, best, _) = evaluate_checkpoint(&run.best())?;
    eval.train_seconds = Some(fit.state.train_seconds);
    run.write_json(crate::run::dir::EVAL_FILE, &eval)?;
    if !no_plot {
        reporter.report(Event::Phase("drawing retrieval.png".into()));
        draw(&run.file("retrieval.png"), &best.model, &best.vocab, &d)?;
    }
    Ok(TrainSummary { eval, fit })
}

#[cfg(test)]
#[path = "train_tests.rs"]
mod tests;
