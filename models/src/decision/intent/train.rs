//! Training and evaluation of the intent transformer on the shared run
//! harness ([`crate::run`]).
//!
//! A run learns the tokeniser's vocabulary from the training commands,
//! then trains with AdamW (linear warm-up, cosine decay) on batches drawn
//! from a seed derived from the step (so a resumed run repeats an
//! uninterrupted one), loss = intent cross-entropy + `slot_weight` × slot
//! tag cross-entropy. Every `valid_every` steps it scores the validation
//! commands (training phrasings) and keeps the checkpoint of the lowest
//! validation loss as `checkpoints/best.safetensors`; the held-out sets
//! never choose the model. At the end the best checkpoint is scored on the
//! held-out phrasings and on the typo set (or on the user's test file) into
//! `eval.json`, and `loss_trajectory.png` is drawn.

use super::config::IntentRunConfig;
use super::generator::{CommandSets, SetSizes};
use super::labels::{INTENTS, SLOTS};
use super::metrics::{score, Scores};
use super::model::{Batch, IntentTransformer};
use super::predict::{parse_texts, IntentModel};
use super::text::{words, Example};
use super::tokenizer::Tokenizer;
use crate::run::{
    fit, Event, FitSummary, Goal, LoopSettings, Monitor, Reporter, RunDir, Schedule,
    SchedulerTiming, TrainTask,
};
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::optim::{AdamConfig, AdamW};
use ferrograd_nn::schedule::CosineAnnealing;
use ferrograd_nn::train::{derive_seed, derive_seed_index, read_metrics};
use ferrograd_nn::{Error, Module, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The family name in the checkpoints of `decision intent train`.
pub const FAMILY: &str = "decision-intent";
/// Checkpoint metadata key of the tokeniser (JSON).
pub const META_TOKENIZER: &str = "tokenizer";
/// Checkpoint metadata key of the label sets (JSON: intents and slots).
pub const META_LABELS: &str = "labels";
/// Name of the held-out phrasing set in reports.
pub const HELD_OUT: &str = "held_out";
/// Name of the typo set in reports.
pub const TYPOS: &str = "typos";

/// The commands of a run.
#[derive(Clone, Debug)]
pub struct IntentData {
    /// Training commands.
    pub train: Vec<Example>,
    /// Validation commands (choose the best checkpoint).
    pub valid: Vec<Example>,
    /// Named test sets, scored at the end.
    pub tests: Vec<(String, Vec<Example>)>,
}

/// The commands of `cfg`: the built-in sets, or the user's files.
pub fn load_data(cfg: &IntentRunConfig) -> Result<IntentData> {
    let mut data = match &cfg.data {
        None => {
            let sets = CommandSets::builtin(
                &SetSizes {
                    train: cfg.train_examples,
                    valid: cfg.valid_examples,
                    test: cfg.test_examples,
                    train_typo_rate: cfg.train_typo_rate,
                    test_typo_rate: cfg.test_typo_rate,
                },
                cfg.seed,
            )?;
            IntentData {
                train: sets.train,
                valid: sets.valid,
                tests: vec![(HELD_OUT.into(), sets.test), (TYPOS.into(), sets.typo)],
            }
        }
        Some(path) => {
            let all = super::jsonl::read(path)?;
            let (train, valid, _) =
                crate::data::split_indices(all.len(), 0.1, 0.0, derive_seed(cfg.seed, "split"))
                    .map_err(|e| Error::Format {
                        path: path.clone(),
                        problem: format!("cannot split off 10% for validation: {e}"),
                    })?;
            IntentData {
                train: train.iter().map(|&i| all[i].clone()).collect(),
                valid: valid.iter().map(|&i| all[i].clone()).collect(),
                tests: Vec::new(),
            }
        }
    };
    if let Some(path) = &cfg.test_data {
        data.tests = vec![("test".into(), super::jsonl::read(path)?)];
    }
    for (what, set) in [("training", &data.train), ("validation", &data.valid)]
        .into_iter()
        .chain(data.tests.iter().map(|(n, s)| (n.as_str(), s)))
    {
        if let Some(e) = set.iter().find(|e| words(&e.text).len() > cfg.max_len) {
            return Err(Error::Config(format!(
                "a {what} command has {} words, more than --max-len {}: {:?}",
                words(&e.text).len(),
                cfg.max_len,
                e.text
            )));
        }
    }
    Ok(data)
}

/// The metadata of an `intent` checkpoint.
pub fn metadata(cfg: &IntentRunConfig, tok: &Tokenizer) -> Result<BTreeMap<String, String>> {
    let mut ckpt = crate::run::family_metadata(FAMILY, cfg)?;
    ckpt.metadata.insert(META_TOKENIZER.into(), tok.to_json()?);
    ckpt.set_json(
        META_LABELS,
        &serde_json::json!({"intents": INTENTS, "slots": SLOTS}),
    )?;
    Ok(ckpt.metadata)
}

/// The evaluation of a model: scores per set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The data, e.g. `built-in commands`.
    pub data: String,
    /// Scores by set (`held_out`, `typos`, `validation`, or a file's).
    pub sets: BTreeMap<String, Scores>,
    /// Trainable parameters.
    pub params: usize,
    /// Vocabulary words and n-gram buckets of the tokeniser.
    pub vocabulary: (usize, usize),
    /// Optimizer steps of the evaluated checkpoint, if recorded.
    pub step: Option<u64>,
    /// Training wall time in seconds, if recorded.
    pub train_seconds: Option<f64>,
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} parameters, {} words + {} n-gram buckets",
            self.data, self.params, self.vocabulary.0, self.vocabulary.1
        )?;
        if let Some(s) = self.step {
            write!(f, ", step {s}")?;
        }
        write!(f, ")")?;
        for (name, s) in &self.sets {
            write!(f, "\n  {name}: {s}")?;
        }
        Ok(())
    }
}

/// Scores `model` on each named set.
pub fn evaluate(
    model: &IntentTransformer,
    tok: &Tokenizer,
    cfg: &IntentRunConfig,
    sets: &[(String, Vec<Example>)],
) -> Result<EvalReport> {
    let mut out = BTreeMap::new();
    for (name, set) in sets {
        let texts: Vec<&str> = set.iter().map(|e| e.text.as_str()).collect();
        out.insert(name.clone(), score(set, &parse_texts(model, tok, &texts)?));
    }
    Ok(EvalReport {
        data: cfg.data_name(),
        sets: out,
        params: model.num_params(),
        vocabulary: (tok.words.len(), tok.buckets),
        step: None,
        train_seconds: None,
    })
}

/// [`evaluate`] of a checkpoint: on `data` (a JSON-lines file) if given,
/// else on its run's test sets (regenerated from the configuration).
pub fn evaluate_checkpoint(path: &Path, data: Option<&Path>) -> Result<EvalReport> {
    let m = IntentModel::load(path)?;
    let sets = match data {
        Some(file) => vec![(file.display().to_string(), super::jsonl::read(file)?)],
        None => {
            let d = load_data(&m.config)?;
            match d.tests.is_empty() {
                true => vec![("validation".to_string(), d.valid)],
                false => d.tests,
            }
        }
    };
    let mut r = evaluate(&m.model, &m.tokenizer, &m.config, &sets)?;
    if let Some(s) = m
        .checkpoint
        .json::<crate::run::RunState>(crate::run::META_RUN_STATE)?
    {
        r.step = Some(s.step);
        r.train_seconds = Some(s.train_seconds);
    }
    Ok(r)
}

/// Encoded training commands: texts, intents, tags.
struct Encoded {
    texts: Vec<String>,
    intents: Vec<usize>,
    tags: Vec<Vec<usize>>,
}

fn encode(set: &[Example], what: &str) -> Result<Encoded> {
    let tags = set
        .iter()
        .map(|e| {
            e.tags()
                .map_err(|p| Error::Config(format!("{what} command {:?}: {p}", e.text)))
        })
        .collect::<Result<_>>()?;
    Ok(Encoded {
        texts: set.iter().map(|e| e.text.clone()).collect(),
        intents: set.iter().map(|e| e.intent).collect(),
        tags,
    })
}

/// The training task.
struct IntentTask<'a> {
    model: &'a IntentTransformer,
    tok: &'a Tokenizer,
    cfg: &'a IntentRunConfig,
    train: Encoded,
    valid: Encoded,
    valid_examples: &'a [Example],
}

impl IntentTask<'_> {
    fn batch_loss(
        &self,
        set: &Encoded,
        rows: &[usize],
        dropout: Option<(f64, &mut StdRng)>,
    ) -> Result<Var> {
        let texts: Vec<&str> = rows.iter().map(|&i| set.texts[i].as_str()).collect();
        let batch = Batch::new(self.tok, &texts, self.cfg.max_len, dropout)?;
        let intents: Vec<usize> = rows.iter().map(|&i| set.intents[i]).collect();
        let tags: Vec<Vec<usize>> = rows.iter().map(|&i| set.tags[i].clone()).collect();
        self.model
            .loss(&batch, &intents, &tags, self.cfg.slot_weight)
    }
}

impl TrainTask for IntentTask<'_> {
    fn module(&self) -> &dyn Module {
        self.model
    }

    fn loss(&mut self, step: u64) -> Result<Var> {
        let mut rng = StdRng::seed_from_u64(derive_seed_index(
            derive_seed(self.cfg.seed, "batches"),
            step,
        ));
        let n = self.train.texts.len();
        let rows: Vec<usize> = (0..self.cfg.batch)
            .map(|_| rng.random_range(0..n))
            .collect();
        self.batch_loss(&self.train, &rows, Some((self.cfg.word_dropout, &mut rng)))
    }

    fn validate(&mut self) -> Result<Vec<(String, f64)>> {
        let n = self.valid.texts.len();
        let mut total = 0.0;
        for start in (0..n).step_by(64) {
            let rows: Vec<usize> = (start..(start + 64).min(n)).collect();
            let l = no_grad(|| self.batch_loss(&self.valid, &rows, None))?;
            total += l.item()? as f64 * rows.len() as f64;
        }
        let texts: Vec<&str> = self.valid.texts.iter().map(String::as_str).collect();
        let s = score(
            self.valid_examples,
            &parse_texts(self.model, self.tok, &texts)?,
        );
        Ok(vec![
            ("valid_loss".into(), total / n.max(1) as f64),
            ("valid_intent_accuracy".into(), s.intent_accuracy),
            ("valid_slot_f1".into(), s.slot_f1),
        ])
    }

    fn metadata(&self) -> Result<BTreeMap<String, String>> {
        metadata(self.cfg, self.tok)
    }
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// The evaluation of the best checkpoint (written to `eval.json`).
    pub eval: EvalReport,
    /// Training and validation commands.
    pub commands: (usize, usize),
    /// The driver's summary.
    pub fit: FitSummary,
}

/// Draws `loss_trajectory.png`: training and validation loss per step.
fn draw_losses(run: &RunDir, cfg: &IntentRunConfig) -> Result<()> {
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for r in read_metrics(run.metrics())? {
        if let Some(v) = r.metrics.get("train_loss").copied().flatten() {
            train.push((r.step as f32, v as f32));
        }
        if let Some(v) = r.metrics.get("valid_loss").copied().flatten() {
            valid.push((r.step as f32, v as f32));
        }
    }
    train.retain(|p| p.1.is_finite() && p.1 > 0.0);
    valid.retain(|p| p.1.is_finite() && p.1 > 0.0);
    crate::plot::chart(
        &run.file("loss_trajectory.png"),
        &format!("intent transformer on {}", cfg.data_name()),
        "step",
        "intent + slot cross-entropy",
        &[
            crate::plot::Series::line("training", train),
            crate::plot::Series::line("validation", valid),
        ],
        true,
    )
}

/// Trains with `cfg` into `run` (or continues it with `resume`), then
/// scores the best checkpoint on the test sets.
pub fn train(
    cfg: &IntentRunConfig,
    run: &RunDir,
    resume: bool,
    no_plot: bool,
    reporter: &mut dyn Reporter,
) -> Result<TrainSummary> {
    cfg.validate()?;
    reporter.report(Event::Phase(format!("reading {}", cfg.data_name())));
    let data = load_data(cfg)?;
    let tok = Tokenizer::learn(
        data.train.iter().map(|e| e.text.as_str()),
        cfg.min_count,
        cfg.buckets,
        cfg.min_n,
        cfg.max_n,
    )?;
    if !resume {
        run.write_json(crate::run::dir::CONFIG_FILE, cfg)?;
    }
    let model = IntentTransformer::new(&cfg.model(tok.units()), derive_seed(cfg.seed, "init"))?;
    let mut opt = AdamW::new(
        model.params(),
        AdamConfig {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..AdamConfig::default()
        },
    )?;
    let mut cosine = CosineAnnealing::new(cfg.lr, cfg.steps - cfg.warmup, cfg.min_lr)?;
    if cfg.warmup > 0 {
        cosine = cosine.with_warmup(cfg.warmup, 0.01)?;
    }
    let settings = LoopSettings {
        valid_every: cfg.valid_every,
        monitor: Some(Monitor {
            metric: "valid_loss".into(),
            goal: Goal::Minimize,
        }),
        max_nonfinite: cfg.max_nonfinite,
        clip_grad_norm: (cfg.clip > 0.0).then_some(cfg.clip),
        accumulate: cfg.accumulate as u64,
        ..LoopSettings::steps(cfg.steps, cfg.log_every)
    };
    let mut task = IntentTask {
        model: &model,
        tok: &tok,
        cfg,
        train: encode(&data.train, "training")?,
        valid: encode(&data.valid, "validation")?,
        valid_examples: &data.valid,
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
    reporter.report(Event::Phase("scoring the best checkpoint".into()));
    let best = IntentModel::load(run.best())?;
    let mut sets = data.tests.clone();
    sets.push(("validation".into(), data.valid.clone()));
    let mut eval = evaluate(&best.model, &best.tokenizer, cfg, &sets)?;
    if let Some(s) = best
        .checkpoint
        .json::<crate::run::RunState>(crate::run::META_RUN_STATE)?
    {
        eval.step = Some(s.step);
    }
    eval.train_seconds = Some(fit.state.train_seconds);
    run.write_json(crate::run::dir::EVAL_FILE, &eval)?;
    if !no_plot {
        draw_losses(run, cfg)?;
    }
    Ok(TrainSummary {
        eval,
        commands: (data.train.len(), data.valid.len()),
        fit,
    })
}

#[cfg(test)]
mod tests;
