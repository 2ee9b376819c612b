//! Demonstrations: observations labelled with the expert's action, drawn
//! from whole expert episodes ([`expert_demos`]), and the DAgger
//! relabelling of states a learned policy visited ([`relabel`]).
//!
//! A state is stored as a [`Visit`] (the seed of its episode and the
//! robot's cell): its observation and the expert's label are functions of
//! it, so a DAgger aggregate is saved as a short list of visits and
//! rebuilt exactly when a run resumes.

use super::obs::Symmetry;
use super::rollout::{rollout_with, Expert};
use super::sim::{Action, Cell, Scenario, SimConfig, NUM_ACTIONS};
use ferrograd_nn::train::{derive_seed, derive_seed_index};
use ferrograd_nn::{Error, Result};
use ferrograd_tensor::{Indices, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One visited state: the seed of its episode and the robot's cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// The episode's seed ([`Scenario::generate`]).
    pub episode: u64,
    /// Column.
    pub x: i32,
    /// Row.
    pub y: i32,
}

/// Observations `[N, dim]` with their expert actions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateSet {
    /// Observation width.
    pub dim: usize,
    /// The observations, row-major.
    pub obs: Vec<f32>,
    /// The expert's action class of each row.
    pub actions: Vec<usize>,
    /// Per row, the actions that start a shortest path (bit per class):
    /// the expert's is one of them.
    pub optimal: Vec<u16>,
}

impl StateSet {
    /// An empty set of observations of width `dim`.
    pub fn new(dim: usize) -> StateSet {
        StateSet {
            dim,
            ..StateSet::default()
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Appends every row of `other` (same width).
    pub fn extend(&mut self, other: &StateSet) {
        debug_assert_eq!(self.dim, other.dim);
        self.obs.extend_from_slice(&other.obs);
        self.actions.extend_from_slice(&other.actions);
        self.optimal.extend_from_slice(&other.optimal);
    }

    /// The rows `rows` as a `[B, dim]` tensor and their labels.
    pub fn batch(&self, rows: &[usize]) -> Result<(Tensor, Indices)> {
        let mut x = Vec::with_capacity(rows.len() * self.dim);
        let mut y = Vec::with_capacity(rows.len());
        for &r in rows {
            x.extend_from_slice(&self.obs[r * self.dim..(r + 1) * self.dim]);
            y.push(self.actions[r]);
        }
        Ok((
            Tensor::from_vec(x, &[rows.len(), self.dim])?,
            Indices::new(y, &[rows.len()])?,
        ))
    }

    /// As [`StateSet::batch`] with row `rows[i]` mapped by `syms[i]` (its
    /// observation and its label), for observations of view radius `view`.
    pub fn batch_mapped(
        &self,
        rows: &[usize],
        syms: &[Symmetry],
        view: usize,
    ) -> Result<(Tensor, Indices)> {
        let mut x = Vec::with_capacity(rows.len() * self.dim);
        let mut y = Vec::with_capacity(rows.len());
        for (&r, g) in rows.iter().zip(syms) {
            g.observation(&self.obs[r * self.dim..(r + 1) * self.dim], view, &mut x);
            let a = Action::from_index(self.actions[r]).unwrap_or(Action::Stay);
            y.push(g.action(a).index());
        }
        Ok((
            Tensor::from_vec(x, &[rows.len(), self.dim])?,
            Indices::new(y, &[rows.len()])?,
        ))
    }

    /// How often each action is the label.
    pub fn class_counts(&self) -> [usize; NUM_ACTIONS] {
        let mut c = [0; NUM_ACTIONS];
        for &a in &self.actions {
            c[a] += 1;
        }
        c
    }

    /// The accuracy of always answering the most frequent label.
    pub fn majority_rate(&self) -> f64 {
        let c = self.class_counts();
        *c.iter().max().unwrap_or(&0) as f64 / self.len().max(1) as f64
    }
}

/// The seed of episode `i` of the named stream of a run seeded `seed`.
pub fn episode_seed(seed: u64, stream: &str, i: u64) -> u64 {
    derive_seed_index(derive_seed(seed, stream), i)
}

/// The scenarios of episodes `0..n` of a stream.
pub fn scenarios(cfg: &SimConfig, seed: u64, stream: &str, n: usize) -> Result<Vec<Scenario>> {
    (0..n as u64)
        .map(|i| Scenario::generate(cfg, episode_seed(seed, stream, i)))
        .collect()
}

/// `n` expert state→action pairs from whole expert episodes of the named
/// stream (episodes 0, 1, … until there are `n`; the last one cut short).
pub fn expert_demos(cfg: &SimConfig, n: usize, seed: u64, stream: &str) -> Result<StateSet> {
    let mut set = StateSet::new(cfg.obs_dim());
    let mut next = 0u64;
    while set.len() < n {
        // Batches of episodes, rolled out together.
        let batch: Vec<u64> = (next..next + 64)
            .map(|i| episode_seed(seed, stream, i))
            .collect();
        next += 64;
        let scen: Vec<Scenario> = batch
            .iter()
            .map(|&s| Scenario::generate(cfg, s))
            .collect::<Result<_>>()?;
        let mut per: Vec<StateSet> = vec![StateSet::new(cfg.obs_dim()); batch.len()];
        rollout_with(cfg, scen, &Expert, |i, nav| {
            per[i].obs.extend(nav.observation());
            per[i].actions.push(nav.expert_action().index());
            let s = nav.scenario();
            per[i]
                .optimal
                .push(s.field().optimal_mask(&s.world, nav.position()));
        })?;
        for p in &per {
            let room = n - set.len();
            let take = p.len().min(room);
            set.obs.extend_from_slice(&p.obs[..take * set.dim]);
            set.actions.extend_from_slice(&p.actions[..take]);
            set.optimal.extend_from_slice(&p.optimal[..take]);
            if set.len() == n {
                break;
            }
        }
    }
    Ok(set)
}

/// The observations of `visits` labelled by the expert (each episode is
/// regenerated from its seed once).
pub fn relabel(cfg: &SimConfig, visits: &[Visit]) -> Result<StateSet> {
    let mut set = StateSet::new(cfg.obs_dim());
    let mut episodes: BTreeMap<u64, Scenario> = BTreeMap::new();
    for v in visits {
        let s = match episodes.entry(v.episode) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(Scenario::generate(cfg, v.episode)?)
            }
        };
        let cell = Cell::new(v.x, v.y);
        if !s.world.is_free(cell) || s.field().cost(cell).is_none() {
            return Err(Error::Config(format!(
                "DAgger state {cell} of episode {} is not a free cell that can reach the goal",
                v.episode
            )));
        }
        super::obs::features(&s.world, cell, s.goal, cfg.view, &mut set.obs);
        set.actions
            .push(s.field().best_action(&s.world, cell).index());
        set.optimal.push(s.field().optimal_mask(&s.world, cell));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demos_are_seeded_sized_and_agree_with_relabelling() {
        let cfg = SimConfig::default();
        let a = expert_demos(&cfg, 300, 5, "demos").unwrap();
        let b = expert_demos(&cfg, 300, 5, "demos").unwrap();
        let c = expert_demos(&cfg, 300, 6, "demos").unwrap();
        assert_eq!(a, b);
        assert_ne!(a.obs, c.obs);
        assert_eq!((a.len(), a.obs.len()), (300, 300 * cfg.obs_dim()));
        assert!(a.actions.iter().all(|&x| (1..NUM_ACTIONS).contains(&x)));
        assert!(a.majority_rate() < 0.5, "{:?}", a.class_counts());
        // The start of episode 0, relabelled, is the first row.
        let s0 = Scenario::generate(&cfg, episode_seed(5, "demos", 0)).unwrap();
        let v = Visit {
            episode: episode_seed(5, "demos", 0),
            x: s0.start.x,
            y: s0.start.y,
        };
        let r = relabel(&cfg, &[v]).unwrap();
        assert_eq!(r.obs, a.obs[..cfg.obs_dim()]);
        assert_eq!(r.actions[0], a.actions[0]);
        assert_eq!(r.optimal[0], a.optimal[0]);
        assert!(a
            .actions
            .iter()
            .zip(&a.optimal)
            .all(|(&x, &m)| m & 1 << x != 0));
        let bad = Visit { x: -1, ..v };
        assert!(relabel(&cfg, &[bad]).is_err());
    }
}
