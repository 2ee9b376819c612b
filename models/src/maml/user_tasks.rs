//! MAML on a user's own regression tasks: a folder of CSV files, one task
//! per file (input columns and one target column, chosen by name), split
//! by seed into training, validation and held-out test tasks.
//!
//! Inputs and the target are standardised with the statistics of the
//! training tasks' rows (recorded in the checkpoint); adaptation and the
//! meta-loss work on standardised values, and the evaluation reports the
//! query MSE in the target's own units (standardised MSE × σy²).

use super::learner::{Maml, MamlConfig, TaskBatch, TaskLoss};
use super::meta_train::{meta_fit, metadata, monitor, step_rng, MetaLoop};
use super::stats::MeanCi;
use crate::data::{split_indices, TaskFolder, UserTask};
use crate::run::config::{Checks, List};
use crate::run::{check_claimed_size, family_checkpoint, Event, FitSummary, Reporter, RunDir};
use ferrograd_nn::checkpoint::Checkpoint;
use ferrograd_nn::train::derive_seed;
use ferrograd_nn::{Activation, Error, Mlp, Normalizer, Result};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The family name in user-task checkpoints.
pub const FAMILY: &str = "maml-tasks";
/// Checkpoint metadata key of the standardisation statistics.
pub const META_NORMALIZATION: &str = "normalization";

fn d() -> UserTasksConfig {
    UserTasksConfig::default()
}

/// Every setting of a user-task run: the flags of `maml tasks train`, the
/// keys of its YAML configuration and of `config.json`.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserTasksConfig {
    /// The folder of task files (`*.csv`, one task each, with a header).
    #[arg(long, value_name = "DIR")]
    pub tasks: Option<PathBuf>,
    /// The input columns (comma list).
    #[arg(long, value_name = "A,B", default_value_t = d().x_cols)]
    pub x_cols: List<String>,
    /// The target column.
    #[arg(long, value_name = "Y", default_value_t = d().y_col)]
    pub y_col: String,
    /// K: support examples per task.
    #[arg(long, default_value_t = d().shots)]
    pub shots: usize,
    /// Query examples per held-out task at evaluation (at most the smallest
    /// held-out task's rows minus K).
    #[arg(long, default_value_t = d().queries)]
    pub queries: usize,
    /// Inner SGD steps during meta-training.
    #[arg(long, default_value_t = d().inner_steps)]
    pub inner_steps: usize,
    /// Inner learning rate α.
    #[arg(long, default_value_t = d().inner_lr)]
    pub inner_lr: f32,
    /// First-order MAML (inner gradients treated as constants).
    #[arg(long)]
    pub first_order: bool,
    /// Tasks per meta-batch (drawn with replacement from the training tasks).
    #[arg(long, default_value_t = d().meta_batch)]
    pub meta_batch: usize,
    /// Meta-iterations.
    #[arg(long, default_value_t = d().iterations)]
    pub iterations: usize,
    /// Adam learning rate of the meta-update.
    #[arg(long, default_value_t = d().meta_lr)]
    pub meta_lr: f64,
    /// Hidden widths of the ReLU network, a comma list.
    #[arg(long, default_value_t = d().hidden)]
    pub hidden: List<usize>,
    /// Fraction of the task files used for validation.
    #[arg(long, default_value_t = d().valid_fraction)]
    pub valid_fraction: f64,
    /// Fraction of the task files held out for the final evaluation.
    #[arg(long, default_value_t = d().test_fraction)]
    pub test_fraction: f64,
    /// Log every this many iterations.
    #[arg(long, default_value_t = d().log_every)]
    pub log_every: usize,
    /// Validate every this many iterations (picks the best checkpoint).
    #[arg(long, default_value_t = d().valid_every)]
    pub valid_every: usize,
    /// Stop after this many validations without improvement.
    #[arg(long)]
    pub patience: Option<u64>,
    /// Stop with an error after this many non-finite meta-losses in a row.
    #[arg(long, default_value_t = d().max_nonfinite)]
    pub max_nonfinite: u64,
    /// Base seed (task split, initialisation, task draws).
    #[arg(long, default_value_t = d().seed)]
    pub seed: u64,
}

impl Default for UserTasksConfig {
    fn default() -> Self {
        UserTasksConfig {
            tasks: None,
            x_cols: List(vec!["x".into()]),
            y_col: "y".into(),
            shots: 5,
            queries: 20,
            inner_steps: 1,
            inner_lr: 0.01,
            first_order: false,
            meta_batch: 10,
            iterations: 5_000,
            meta_lr: 1e-3,
            hidden: List(vec![40, 40]),
            valid_fraction: 0.2,
            test_fraction: 0.2,
            log_every: 100,
            valid_every: 500,
            patience: None,
            max_nonfinite: 20,
            seed: 1,
        }
    }
}

impl UserTasksConfig {
    /// The number of weights and biases of the network of this
    /// configuration (inputs → hidden… → 1), `None` if it overflows `usize`;
    /// computed without building anything, so a loader can refuse a
    /// configuration claiming more than its file holds.
    pub fn min_value_count(&self) -> Option<usize> {
        crate::run::sizes::dense(&self.widths())
    }

    /// The network's widths: the input columns, the hidden widths, 1.
    fn widths(&self) -> Vec<usize> {
        let mut widths = vec![self.x_cols.0.len()];
        widths.extend(&self.hidden.0);
        widths.push(1);
        widths
    }

    /// The `--test` preset: 100 iterations.
    pub fn test_preset(cfg: &mut UserTasksConfig) {
        cfg.iterations = 100;
        cfg.log_every = 20;
        cfg.valid_every = 50;
    }

    /// Checks every setting, naming the flag at fault and its range.
    pub fn validate(&self) -> Result<()> {
        let c = Checks("maml tasks");
        if self.tasks.is_none() {
            return Err(c.fail(
                "tasks",
                "DIR is required: a folder of CSV files, one task each",
            ));
        }
        if self.x_cols.0.is_empty() {
            return Err(c.fail("x_cols", "must name at least one input column"));
        }
        if self.y_col.trim().is_empty() {
            return Err(c.fail("y_col", "must name the target column"));
        }
        c.at_least(&[
            ("shots", self.shots, 1),
            ("queries", self.queries, 1),
            ("inner_steps", self.inner_steps, 1),
            ("meta_batch", self.meta_batch, 1),
            ("iterations", self.iterations, 1),
            ("log_every", self.log_every, 1),
            ("valid_every", self.valid_every, 1),
        ])?;
        c.positive("inner_lr", self.inner_lr as f64)?;
        c.positive("meta_lr", self.meta_lr)?;
        c.widths("hidden", &self.hidden.0)?;
        for (name, v) in [
            ("valid_fraction", self.valid_fraction),
            ("test_fraction", self.test_fraction),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 1.0) {
                return Err(c.fail(name, format!("must be in (0, 1), got {v}")));
            }
        }
        c.loop_limits(self.max_nonfinite, self.patience)
    }

    fn folder(&self) -> &Path {
        self.tasks.as_deref().unwrap_or(Path::new("."))
    }
}

/// Standardisation statistics of inputs and target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardization {
    /// Of the input columns.
    pub x: Normalizer,
    /// Of the target column.
    pub y: Normalizer,
}

impl Standardization {
    fn fit(tasks: &[&UserTask]) -> Result<Standardization> {
        let xs: Vec<&Tensor> = tasks.iter().map(|t| &t.x).collect();
        let ys: Vec<&Tensor> = tasks.iter().map(|t| &t.y).collect();
        Ok(Standardization {
            x: Normalizer::fit(&Tensor::concat(&xs, 0)?)?,
            y: Normalizer::fit(&Tensor::concat(&ys, 0)?)?,
        })
    }

    fn apply(&self, t: &UserTask) -> Result<UserTask> {
        Ok(UserTask {
            x: self.x.normalize(&t.x)?,
            y: self.y.normalize(&t.y)?,
            ..t.clone()
        })
    }
}

/// The tasks of a run, split and standardised.
struct Split {
    train: Vec<UserTask>,
    valid: Vec<UserTask>,
    test: Vec<UserTask>,
    norm: Standardization,
}

fn read_split(cfg: &UserTasksConfig) -> Result<Split> {
    let dir = cfg.folder();
    let all = TaskFolder::read(dir, &cfg.x_cols.0, &cfg.y_col, 2 * cfg.shots)?;
    let (tr, va, te) = split_indices(
        all.len(),
        cfg.valid_fraction,
        cfg.test_fraction,
        derive_seed(cfg.seed, "task split"),
    )
    .map_err(|e| Error::Format {
        path: dir.to_path_buf(),
        problem: format!("cannot split {} task files: {e}", all.len()),
    })?;
    let pick = |idx: &[usize]| idx.iter().map(|&i| &all[i]).collect::<Vec<_>>();
    let norm = Standardization::fit(&pick(&tr))?;
    let apply = |idx: &[usize]| {
        pick(idx)
            .into_iter()
            .map(|t| norm.apply(t))
            .collect::<Result<Vec<_>>>()
    };
    Ok(Split {
        train: apply(&tr)?,
        valid: apply(&va)?,
        test: apply(&te)?,
        norm: norm.clone(),
    })
}

/// The query count of held-out tasks: `cfg.queries`, capped so that every
/// task has K + queries rows.
fn query_count(cfg: &UserTasksConfig, tasks: &[UserTask]) -> usize {
    let smallest = tasks.iter().map(UserTask::rows).min().unwrap_or(0);
    cfg.queries.min(smallest.saturating_sub(cfg.shots)).max(1)
}

fn fixed_batches(
    cfg: &UserTasksConfig,
    tasks: &[UserTask],
    stream: &str,
) -> Result<Vec<TaskBatch>> {
    let q = query_count(cfg, tasks);
    let mut rng = StdRng::seed_from_u64(derive_seed(cfg.seed, stream));
    tasks
        .iter()
        .map(|t| t.sample(cfg.shots, q, &mut rng))
        .collect()
}

pub(crate) fn learner(cfg: &UserTasksConfig, seed: u64) -> Result<Maml<Mlp>> {
    let sizes = cfg.widths();
    let config = MamlConfig {
        inner_steps: cfg.inner_steps,
        inner_lr: cfg.inner_lr,
        first_order: cfg.first_order,
        loss: TaskLoss::Mse,
    };
    Ok(Maml::new(
        Mlp::new(&sizes, Activation::Relu, seed)?,
        config,
        false,
    ))
}

/// The evaluation of a checkpoint on held-out tasks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalReport {
    /// K.
    pub shots: usize,
    /// Query examples per task.
    pub queries: usize,
    /// The tasks evaluated (file stems).
    pub tasks: Vec<String>,
    /// Index k: query MSE (target's units) after k fine-tuning steps.
    pub mse: Vec<MeanCi>,
}

fn evaluate(
    cfg: &UserTasksConfig,
    m: &Maml<Mlp>,
    norm: &Standardization,
    tasks: &[UserTask],
) -> Result<EvalReport> {
    let batches = fixed_batches(cfg, tasks, "evaluation draws")?;
    let scale = norm.y.std()[0].powi(2);
    let per_step = m.evaluate(&batches, 10)?;
    Ok(EvalReport {
        shots: cfg.shots,
        queries: query_count(cfg, tasks),
        tasks: tasks.iter().map(|t| t.name.clone()).collect(),
        mse: per_step
            .iter()
            .map(|v| MeanCi::of(&v.iter().map(|e| e * scale).collect::<Vec<_>>()))
            .collect(),
    })
}

/// A trained learner, its configuration and standardisation, from a
/// checkpoint written by [`train`].
pub fn load(path: &Path) -> Result<(UserTasksConfig, Maml<Mlp>, Standardization)> {
    let (ckpt, cfg): (Checkpoint, UserTasksConfig) = family_checkpoint(path, FAMILY)?;
    check_claimed_size(cfg.min_value_count(), &ckpt, path)?;
    let bad = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let norm: Standardization = ckpt
        .json(META_NORMALIZATION)?
        .ok_or_else(|| bad(format!("metadata '{META_NORMALIZATION}' is missing")))?;
    let m = learner(&cfg, 0).map_err(|e| bad(format!("bad configuration: {e}")))?;
    ckpt.load_into(&m)
        .map_err(|e| bad(format!("the tensors do not fit the recorded network: {e}")))?;
    Ok((cfg, m, norm))
}

/// Evaluates a checkpoint on the held-out tasks of its training folder, or
/// on every task in `folder`.
pub fn evaluate_checkpoint(path: &Path, folder: Option<&Path>) -> Result<EvalReport> {
    let (cfg, m, norm) = load(path)?;
    let tasks = match folder {
        None => read_split(&cfg)?.test,
        Some(dir) => TaskFolder::read(dir, &cfg.x_cols.0, &cfg.y_col, cfg.shots + 1)?
            .iter()
            .map(|t| norm.apply(t))
            .collect::<Result<Vec<_>>>()?,
    };
    evaluate(&cfg, &m, &norm, &tasks)
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// The evaluation of the best checkpoint on the held-out tasks.
    pub eval: EvalReport,
    /// The driver's summary.
    pub fit: FitSummary,
}

/// Meta-trains into `run` (or continues it with `resume`) and evaluates the
/// best checkpoint (by validation MSE) on the held-out task files; writes
/// `eval.json`.
pub fn train(
    cfg: &UserTasksConfig,
    run: &RunDir,
    resume: bool,
    reporter: &mut dyn Reporter,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let split = read_split(cfg)?;
    if !resume {
        run.write_json(crate::run::dir::CONFIG_FILE, cfg)?;
    }
    let m = learner(cfg, derive_seed(cfg.seed, "init"))?;
    let valid = fixed_batches(cfg, &split.valid, "validation draws")?;
    let settings = MetaLoop {
        iterations: cfg.iterations,
        meta_lr: cfg.meta_lr,
        log_every: cfg.log_every,
        valid_every: cfg.valid_every,
        patience: cfg.patience,
        max_nonfinite: cfg.max_nonfinite,
        seed: cfg.seed,
    };
    let mut meta = metadata(FAMILY, cfg)?;
    let mut c = Checkpoint::new();
    c.set_json(META_NORMALIZATION, &split.norm)?;
    meta.extend(c.metadata);
    let train = &split.train;
    let fit = meta_fit(
        &m,
        &m,
        &settings,
        monitor("valid_mse", false),
        meta,
        |step| {
            let mut rng = step_rng(cfg.seed, step);
            let batch = (0..cfg.meta_batch)
                .map(|_| {
                    let t = &train[rng.random_range(0..train.len())];
                    t.sample(cfg.shots, cfg.shots, &mut rng)
                })
                .collect::<Result<Vec<_>>>()?;
            m.meta_loss(&batch)
        },
        || {
            let per_step = m.evaluate(&valid, cfg.inner_steps)?;
            let last = per_step.last().map(|v| MeanCi::of(v).mean);
            Ok(vec![("valid_mse".into(), last.unwrap_or(f64::NAN))])
        },
        run,
        resume,
        reporter,
    )?;
    reporter.report(Event::Phase(format!(
        "evaluating on {} held-out tasks",
        split.test.len()
    )));
    let (_, best, norm) = load(&run.best())?;
    let eval = evaluate(cfg, &best, &norm, &split.test)?;
    run.write_json(crate::run::dir::EVAL_FILE, &eval)?;
    Ok(TrainSummary { eval, fit })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{OpenMode, Silent};
    use std::fmt::Write as _;

    /// Writes `n` sine tasks y = A·sin(x − φ) + 3 (x in [−5, 5]) as CSV.
    fn sine_folder(name: &str, n: usize) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ferrograd-usertasks-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        for t in 0..n {
            let (a, p): (f32, f32) = (rng.random_range(0.5..3.0), rng.random_range(0.0..3.0));
            let mut csv = String::from("x,y\n");
            for _ in 0..40 {
                let x: f32 = rng.random_range(-5.0..5.0);
                let _ = writeln!(csv, "{x},{}", a * (x - p).sin() + 3.0);
            }
            std::fs::write(dir.join(format!("task{t:02}.csv")), csv).unwrap();
        }
        dir
    }

    #[test]
    fn meta_training_on_a_folder_of_csv_tasks_adapts_in_one_step() {
        let folder = sine_folder("train", 30);
        let cfg = UserTasksConfig {
            tasks: Some(folder.clone()),
            shots: 10,
            iterations: 300,
            meta_batch: 8,
            inner_lr: 0.05,
            meta_lr: 3e-3,
            valid_every: 100,
            ..UserTasksConfig::default()
        };
        let out = folder.join("run");
        let run = RunDir::open(&out, OpenMode::Fresh).unwrap();
        let s = train(&cfg, &run, false, &mut Silent).unwrap();
        assert_eq!(s.eval.tasks.len(), 6);
        let (m0, m1) = (s.eval.mse[0].mean, s.eval.mse[1].mean);
        assert!(m1 < m0, "one step must help: {m0} → {m1}");
        assert!(run.eval().is_file() && run.best().is_file());
        let again = evaluate_checkpoint(&run.best(), None).unwrap();
        assert_eq!(again.mse[1].mean, s.eval.mse[1].mean);
        let e = crate::cde::load(run.best()).err().unwrap().to_string();
        assert!(e.contains("maml-tasks"), "{e}");
        std::fs::remove_dir_all(&folder).unwrap();
    }

    #[test]
    fn too_few_task_files_or_rows_are_clear_errors() {
        let folder = sine_folder("few", 2);
        let cfg = UserTasksConfig {
            tasks: Some(folder.clone()),
            ..UserTasksConfig::default()
        };
        let run = RunDir::open(folder.join("run"), OpenMode::Fresh).unwrap();
        let e = train(&cfg, &run, false, &mut Silent)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("task files") && e.contains(&folder.display().to_string()),
            "{e}"
        );
        let cfg = UserTasksConfig { shots: 30, ..cfg };
        let e = train(&cfg, &run, false, &mut Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("task00.csv") && e.contains("60"), "{e}");
        let e = UserTasksConfig::default()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("--tasks"), "{e}");
        std::fs::remove_dir_all(&folder).unwrap();
    }
}
