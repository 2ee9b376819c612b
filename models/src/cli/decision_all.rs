//! `ferrograd decision train-all`: the four learned parts of a robot's
//! decision stack in one command (intent transformer, imitation policy with
//! DAgger, CLIP-style dual encoder, MAML few-shot classifier), each in its
//! own run folder under `--out`, their final models copied beside them and
//! a summary table (Markdown and JSON).

use super::output::Output;
use super::progress::Terminal;
use crate::decision::{clip, intent, policy};
use crate::maml::classification::{self, ClassifyConfig};
use crate::run::{Event, OpenMode, Reporter, RunDir};
use clap::Args;
use ferrograd_nn::{atomic, Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `decision train-all`.
#[derive(Args, Debug)]
pub struct TrainAllArgs {
    /// The output folder (refused if it holds an earlier run, unless
    /// --overwrite).
    #[arg(long, value_name = "DIR", default_value = "runs/decision")]
    out: PathBuf,
    /// Delete the earlier runs' files first.
    #[arg(long)]
    overwrite: bool,
    /// Every model's small `--test` settings (seconds in all).
    #[arg(long)]
    test: bool,
    /// Do not draw PNG plots.
    #[arg(long)]
    no_plot: bool,
    /// No progress bar or progress lines.
    #[arg(long)]
    quiet: bool,
}

/// One row of the summary.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryRow {
    /// The model.
    pub model: String,
    /// The file its final weights were copied to.
    pub file: String,
    /// Metric name and value, in the order shown.
    pub metrics: Vec<(String, f64)>,
    /// Training wall time, seconds.
    pub seconds: f64,
}

/// Runs `decision train-all`.
pub fn run(a: TrainAllArgs, out: &mut Output) -> Result<()> {
    let mode = if a.overwrite {
        OpenMode::Overwrite
    } else {
        OpenMode::Fresh
    };
    let top = RunDir::open(&a.out, mode)?;
    let mut rep = Terminal::new(a.quiet);
    let rows = train_all(&a, &top, mode, &mut rep).inspect_err(|_| top.remove_if_empty());
    drop(rep);
    let rows = rows?;
    let md = summary_markdown(&rows);
    atomic::write_bytes(a.out.join("summary.md"), md.as_bytes())?;
    atomic::write_json(a.out.join("summary.json"), &rows)?;
    out.line(md.trim_end())?;
    out.line(format!("wrote {}", a.out.display()))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).map_err(|e| Error::Io {
        path: from.to_path_buf(),
        source: e,
    })?;
    atomic::write_bytes(to, &bytes)
}

fn train_all(
    a: &TrainAllArgs,
    top: &RunDir,
    mode: OpenMode,
    rep: &mut dyn Reporter,
) -> Result<Vec<SummaryRow>> {
    let root = top.root().to_path_buf();
    let sub = |name: &str| RunDir::open(root.join(name), mode);
    let mut rows = Vec::new();

    rep.report(Event::Phase("1/4 intent transformer".into()));
    let t = Instant::now();
    let mut icfg = intent::IntentRunConfig::default();
    if a.test {
        intent::IntentRunConfig::test_preset(&mut icfg);
    }
    let run = sub("intent")?;
    let s = intent::train(&icfg, &run, false, a.no_plot, rep)?;
    copy(&run.best(), &root.join("intent_transformer.safetensors"))?;
    let mut m = Vec::new();
    for (set, label) in [("held_out", "held-out"), ("typos", "typos")] {
        if let Some(sc) = s.eval.sets.get(set) {
            m.push((format!("intent accuracy, {label}"), sc.intent_accuracy));
            m.push((format!("slot F1, {label}"), sc.slot_f1));
        }
    }
    rows.push(row(
        "intent transformer",
        "intent_transformer.safetensors",
        m,
        t,
    ));

    rep.report(Event::Phase("2/4 imitation policy (DAgger)".into()));
    let t = Instant::now();
    let mut pcfg = policy::PolicyRunConfig {
        dagger: true,
        ..Default::default()
    };
    if a.test {
        policy::PolicyRunConfig::test_preset(&mut pcfg);
    }
    let run = sub("policy")?;
    let s = policy::train(&pcfg, &run, false, a.no_plot, rep)?;
    copy(&run.last(), &root.join("neural_policy.safetensors"))?;
    let mut m = vec![(
        "action accuracy, held-out states".into(),
        s.eval.test_accuracy,
    )];
    for c in &s.eval.closed_loop {
        m.push((format!("success, {}", c.controller), c.success_rate));
    }
    rows.push(row("imitation policy", "neural_policy.safetensors", m, t));

    rep.report(Event::Phase("3/4 vision-language dual encoder".into()));
    let t = Instant::now();
    let mut ccfg = clip::ClipRunConfig::default();
    if a.test {
        clip::ClipRunConfig::test_preset(&mut ccfg);
    }
    let run = sub("clip")?;
    let s = clip::train(&ccfg, &run, false, a.no_plot, rep)?;
    copy(&run.best(), &root.join("vision_language.safetensors"))?;
    let mut m = vec![
        (
            "image→text top-1, test".into(),
            s.eval.test.image_to_text_top1,
        ),
        (
            "text→image top-1, test".into(),
            s.eval.test.text_to_image_top1,
        ),
    ];
    if let Some(z) = &s.eval.zero_shot_held_out {
        m.push((
            "zero-shot, all attributes, held-out pairs".into(),
            z.all_attributes,
        ));
    }
    rows.push(row(
        "CLIP-style dual encoder",
        "vision_language.safetensors",
        m,
        t,
    ));

    rep.report(Event::Phase("4/4 MAML few-shot classifier".into()));
    let t = Instant::now();
    let mut mcfg = ClassifyConfig::default();
    if a.test {
        ClassifyConfig::test_preset(&mut mcfg);
    }
    let run = sub("maml")?;
    let r = classification::run(&mcfg, &run, false, rep)?;
    copy(&run.best(), &root.join("meta_learner.safetensors"))?;
    let m = vec![
        ("query accuracy after adaptation".into(), r.maml.mean),
        ("from scratch, same steps".into(), r.scratch_same_steps.mean),
    ];
    rows.push(row("MAML meta-learner", "meta_learner.safetensors", m, t));
    Ok(rows)
}

fn row(model: &str, file: &str, metrics: Vec<(String, f64)>, t: Instant) -> SummaryRow {
    SummaryRow {
        model: model.into(),
        file: file.into(),
        metrics,
        seconds: t.elapsed().as_secs_f64(),
    }
}

/// The summary as a Markdown table, one line per metric.
pub fn summary_markdown(rows: &[SummaryRow]) -> String {
    let mut s = String::from("| model | metric | value | train time |\n|---|---|---|---|\n");
    for r in rows {
        for (i, (name, v)) in r.metrics.iter().enumerate() {
            let time = if i == 0 {
                format!("{:.0} s", r.seconds)
            } else {
                String::new()
            };
            let model = if i == 0 { r.model.as_str() } else { "" };
            s.push_str(&format!(
                "| {model} | {name} | {:.1}% | {time} |\n",
                100.0 * v
            ));
        }
    }
    s
}
