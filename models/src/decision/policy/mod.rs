//! An imitation policy for 2-D navigation (issue 15): a seeded grid
//! simulator with random obstacles ([`sim`]), an optimal expert planner
//! ([`expert`]), observation features ([`obs`]), expert demonstrations and
//! DAgger relabelling ([`demos`]), a feed-forward policy ([`model`])
//! trained by behaviour cloning with cross-entropy and optionally DAgger
//! ([`train`]), and its evaluation: action accuracy on held-out states and
//! closed-loop success with Wilson intervals ([`eval`]), with a picture of
//! a few trajectories ([`plots`]).
//!
//! For a demonstration end to end:
//!
//! ```no_run
//! use ferrograd_models::decision::policy::{Cell, PolicyModel};
//! let m = PolicyModel::load("runs/policy/checkpoints/last.safetensors")?;
//! let s = m.scenario(42)?; // a seeded arena with obstacles
//! // A goal of your own (e.g. where "the kitchen" is), moved off obstacles:
//! let goal = s.world.nearest_free(Cell::new(14, 14)).expect("a free cell");
//! let s = m.scenario_in(s.world.clone(), s.start, goal)?; // errors if cut off
//! let t = m.run_episode(s.clone())?;
//! println!("{:?} after {} steps", t.outcome, t.steps());
//! let e = m.expert_episode(s.clone())?;
//! m.draw_episode("go_to.png".as_ref(), "go to the kitchen", &s, &t, Some(&e))?;
//! # Ok::<(), ferrograd_nn::Error>(())
//! ```

pub mod config;
pub mod demos;
pub mod eval;
pub mod expert;
pub mod model;
pub mod obs;
pub mod plots;
pub mod rollout;
pub mod sim;
pub mod train;

pub use config::PolicyRunConfig;
pub use model::{PolicyModel, PolicyNet};
pub use rollout::{rollout, Controller, Expert, Trajectory};
pub use sim::{Action, Cell, Nav, Outcome, Rect, Scenario, SimConfig, Step, World};
pub use train::{evaluate_checkpoint, train, EvalReport, FAMILY};
