//! Closed-loop episodes: a [`Controller`] (the expert, or a trained
//! policy) drives many simulators at once, one batched decision per step,
//! and each episode's [`Trajectory`] is recorded.

use super::sim::{Action, Cell, Nav, Outcome, Scenario, SimConfig};
use ferrograd_nn::Result;
use serde::{Deserialize, Serialize};

/// Chooses the actions of several simulators at once.
pub trait Controller {
    /// One action per simulator of `navs` (none of them done).
    fn act(&self, navs: &[&Nav]) -> Result<Vec<Action>>;
}

/// The expert planner as a controller.
#[derive(Clone, Copy, Debug, Default)]
pub struct Expert;

impl Controller for Expert {
    fn act(&self, navs: &[&Nav]) -> Result<Vec<Action>> {
        Ok(navs.iter().map(|n| n.expert_action()).collect())
    }
}

/// One episode as it was driven.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// The robot's cells, from the start to the last one (a collision
    /// leaves the robot where it was).
    pub cells: Vec<Cell>,
    /// The actions taken (one per step).
    pub actions: Vec<Action>,
    /// The rewards of the steps.
    pub rewards: Vec<f32>,
    /// How it ended.
    pub outcome: Outcome,
    /// The goal.
    pub goal: Cell,
    /// Path cost of the moves made (10 straight, 14 diagonal).
    pub cost: u32,
    /// The expert's (shortest) path cost from the start.
    pub optimal_cost: u32,
}

impl Trajectory {
    /// Whether the goal was reached.
    pub fn success(&self) -> bool {
        self.outcome == Outcome::Reached
    }

    /// Steps taken.
    pub fn steps(&self) -> usize {
        self.actions.len()
    }

    /// The sum of the rewards.
    pub fn total_reward(&self) -> f32 {
        self.rewards.iter().sum()
    }
}

/// Runs every scenario to its end under `ctrl`; `visit(i, nav)` sees the
/// simulator of episode `i` before each of its decisions (for DAgger).
pub fn rollout_with(
    cfg: &SimConfig,
    scenarios: Vec<Scenario>,
    ctrl: &dyn Controller,
    mut visit: impl FnMut(usize, &Nav),
) -> Result<Vec<Trajectory>> {
    let mut navs: Vec<Nav> = scenarios
        .into_iter()
        .map(|s| Nav::with_scenario(cfg.clone(), s))
        .collect::<Result<_>>()?;
    let mut trajs: Vec<Trajectory> = navs
        .iter()
        .map(|n| Trajectory {
            cells: vec![n.position()],
            actions: Vec::new(),
            rewards: Vec::new(),
            outcome: Outcome::TimedOut,
            goal: n.scenario().goal,
            cost: 0,
            optimal_cost: n.scenario().optimal_cost(),
        })
        .collect();
    loop {
        let live: Vec<usize> = (0..navs.len()).filter(|&i| !navs[i].done()).collect();
        if live.is_empty() {
            break;
        }
        for &i in &live {
            visit(i, &navs[i]);
        }
        let actions = {
            let refs: Vec<&Nav> = live.iter().map(|&i| &navs[i]).collect();
            ctrl.act(&refs)?
        };
        for (&i, a) in live.iter().zip(actions) {
            let st = navs[i].step(a)?;
            let t = &mut trajs[i];
            t.actions.push(a);
            t.rewards.push(st.reward);
            if st.outcome != Some(Outcome::Collided) {
                t.cost += a.cost();
                t.cells.push(navs[i].position());
            }
            if let Some(o) = st.outcome {
                t.outcome = o;
            }
        }
    }
    Ok(trajs)
}

/// Runs every scenario to its end under `ctrl`.
pub fn rollout(
    cfg: &SimConfig,
    scenarios: Vec<Scenario>,
    ctrl: &dyn Controller,
) -> Result<Vec<Trajectory>> {
    rollout_with(cfg, scenarios, ctrl, |_, _| {})
}
