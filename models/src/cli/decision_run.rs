//! `ferrograd decision run "go to the kitchen"`: the intent model parses a
//! command, its location becomes a goal cell of the navigation simulator,
//! and the learned policy drives there.
//!
//! Places: every location name has a fixed cell of the arena, derived from
//! a hash of the name (so "kitchen" is always in the same place), moved to
//! the nearest free cell of the seeded arena.

use super::output::Output;
use crate::decision::intent::IntentModel;
use crate::decision::policy::{Cell, Outcome, PolicyModel};
use clap::Args;
use ferrograd_nn::train::fnv1a64;
use ferrograd_nn::{Error, Result};
use std::path::PathBuf;

/// Options of `decision run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The command, e.g. "go to the kitchen".
    text: String,
    /// The folder of `decision train-all` (its intent_transformer and
    /// neural_policy files are used unless given below).
    #[arg(long, value_name = "DIR", default_value = "runs/decision")]
    models: PathBuf,
    /// An intent checkpoint instead of MODELS/intent_transformer.safetensors.
    #[arg(long, value_name = "FILE")]
    intent: Option<PathBuf>,
    /// A policy checkpoint instead of MODELS/neural_policy.safetensors.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Seed of the arena and of the robot's start.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Draw the trajectory (and the expert's) into this PNG.
    #[arg(long, value_name = "FILE.png")]
    png: Option<PathBuf>,
}

/// The cell of a named place in a `size × size` arena (before moving it to
/// a free cell).
pub fn place_cell(name: &str, size: usize) -> Cell {
    let h = fnv1a64(name.trim().to_lowercase().as_bytes());
    let n = size.max(1) as u64;
    Cell {
        x: (h % n) as i32,
        y: ((h / n) % n) as i32,
    }
}

/// Runs `decision run`.
pub fn run(a: RunArgs, out: &mut Output) -> Result<()> {
    let intent_path = a
        .intent
        .clone()
        .unwrap_or_else(|| a.models.join("intent_transformer.safetensors"));
    let policy_path = a
        .policy
        .clone()
        .unwrap_or_else(|| a.models.join("neural_policy.safetensors"));
    for p in [&intent_path, &policy_path] {
        if !p.is_file() {
            return Err(Error::Config(format!(
                "decision run: {} does not exist (run `ferrograd decision train-all --out {}` first, or give --intent/--policy)",
                p.display(),
                a.models.display()
            )));
        }
    }
    let parse = IntentModel::load(&intent_path)?.predict(&a.text)?;
    out.line(format!(
        "parse: {}",
        serde_json::to_string(&parse).map_err(|e| Error::Config(e.to_string()))?
    ))?;
    let Some(place) = parse.slots.get("location") else {
        return out.line(format!(
            "intent '{}' names no location: nothing to drive to",
            parse.intent
        ));
    };
    let policy = PolicyModel::load(&policy_path)?;
    let base = policy.scenario(a.seed)?;
    let size = base.world.size();
    let wanted = place_cell(place, size);
    let goal = base
        .world
        .nearest_free(wanted)
        .ok_or_else(|| Error::Config("decision run: the arena has no free cell".into()))?;
    if goal == base.start {
        return out.line(format!("the robot is already at the {place}"));
    }
    let scenario = policy.scenario_in(base.world.clone(), base.start, goal)?;
    let learned = policy.run_episode(scenario.clone())?;
    let expert = policy.expert_episode(scenario.clone())?;
    let outcome = match learned.outcome {
        Outcome::Reached => "reached",
        Outcome::Collided => "collided with an obstacle",
        Outcome::TimedOut => "ran out of steps",
    };
    out.line(format!(
        "goal: the {place} at cell ({}, {}); start ({}, {}); the policy {outcome} after {} steps (the shortest path takes {})",
        goal.x,
        goal.y,
        base.start.x,
        base.start.y,
        learned.actions.len(),
        expert.actions.len()
    ))?;
    if let Some(png) = &a.png {
        let title = format!("\"{}\" → {}", a.text, place);
        policy.draw_episode(png, &title, &scenario, &learned, Some(&expert))?;
        out.line(format!("wrote {}", png.display()))?;
    }
    Ok(())
}
