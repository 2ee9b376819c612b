//! A seeded 2-D navigation simulator on a grid: a square arena, random
//! rectangular obstacles, a robot and a goal, nine discrete actions (the
//! eight moves and `Stay`). An episode ends when the robot reaches the
//! goal, collides (moves into an obstacle or the arena's wall, or cuts the
//! corner of an obstacle diagonally), or runs out of steps.
//!
//! The interface is gym-like: [`Nav::reset`] draws an episode from a seed
//! and returns the first observation, [`Nav::step`] applies an action and
//! returns the next observation, the reward and whether the episode is
//! over. Every episode drawn by [`Scenario::generate`] is solvable.

use super::expert::DistanceField;
use super::obs;
use crate::run::config::Checks;
use ferrograd_nn::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A cell of the arena: `x` grows to the right, `y` upwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cell {
    /// Column, 0 at the left wall.
    pub x: i32,
    /// Row, 0 at the bottom wall.
    pub y: i32,
}

impl Cell {
    /// The cell `(x, y)`.
    pub fn new(x: i32, y: i32) -> Cell {
        Cell { x, y }
    }

    /// This cell moved by `(dx, dy)`.
    pub fn offset(self, (dx, dy): (i32, i32)) -> Cell {
        Cell::new(self.x + dx, self.y + dy)
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.x, self.y)
    }
}

/// Number of discrete actions (the network's output width).
pub const NUM_ACTIONS: usize = 9;

/// The discrete actions; `index()` is the class of the policy network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Stay in place (uses a step).
    Stay,
    /// +x.
    East,
    /// +x +y.
    NorthEast,
    /// +y.
    North,
    /// −x +y.
    NorthWest,
    /// −x.
    West,
    /// −x −y.
    SouthWest,
    /// −y.
    South,
    /// +x −y.
    SouthEast,
}

impl Action {
    /// Every action, in class order.
    pub const ALL: [Action; NUM_ACTIONS] = [
        Action::Stay,
        Action::East,
        Action::NorthEast,
        Action::North,
        Action::NorthWest,
        Action::West,
        Action::SouthWest,
        Action::South,
        Action::SouthEast,
    ];

    /// The eight moves (every action but `Stay`).
    pub fn moves() -> &'static [Action] {
        &Action::ALL[1..]
    }

    /// The class index of this action.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The action of class `i`, if `i < NUM_ACTIONS`.
    pub fn from_index(i: usize) -> Option<Action> {
        Action::ALL.get(i).copied()
    }

    /// The displacement `(dx, dy)`.
    pub fn delta(self) -> (i32, i32) {
        match self {
            Action::Stay => (0, 0),
            Action::East => (1, 0),
            Action::NorthEast => (1, 1),
            Action::North => (0, 1),
            Action::NorthWest => (-1, 1),
            Action::West => (-1, 0),
            Action::SouthWest => (-1, -1),
            Action::South => (0, -1),
            Action::SouthEast => (1, -1),
        }
    }

    /// Whether the move is diagonal.
    pub fn is_diagonal(self) -> bool {
        let (dx, dy) = self.delta();
        dx != 0 && dy != 0
    }

    /// The path cost of the move: 10 straight, 14 diagonal (≈ 10·√2), 0
    /// for `Stay` (integers, so equal-cost paths tie exactly).
    pub fn cost(self) -> u32 {
        match self {
            Action::Stay => 0,
            a if a.is_diagonal() => 14,
            _ => 10,
        }
    }
}

/// The arena's settings, and the robot's view (they fix the observation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Cells per side of the square arena.
    pub size: usize,
    /// Rectangular obstacles per episode (they may overlap).
    pub obstacles: usize,
    /// Longest side of an obstacle, in cells.
    pub max_side: usize,
    /// Shortest start-to-goal path, in straight-move units.
    pub min_distance: usize,
    /// Step limit of an episode.
    pub max_steps: usize,
    /// Radius of the robot's square occupancy view, in cells.
    pub view: usize,
}

impl Default for SimConfig {
    /// A 16×16 arena, 6 obstacles of sides 1 to 3, starts at least 6 from
    /// the goal, 64 steps, a view of radius 4 (9×9 cells).
    fn default() -> Self {
        SimConfig {
            size: 16,
            obstacles: 6,
            max_side: 3,
            min_distance: 6,
            max_steps: 64,
            view: 4,
        }
    }
}

impl SimConfig {
    /// Checks the settings, naming the flag at fault.
    pub fn validate(&self) -> Result<()> {
        let c = Checks("decision policy");
        c.at_least(&[
            ("size", self.size, 4),
            ("max_side", self.max_side, 1),
            ("max_steps", self.max_steps, 1),
            ("min_distance", self.min_distance, 1),
        ])?;
        if self.size > 256 {
            return Err(c.fail("size", format!("must be at most 256, got {}", self.size)));
        }
        if self.max_side > self.size / 2 {
            return Err(c.fail(
                "max_side",
                format!(
                    "must be at most half of --size ({}), got {}",
                    self.size / 2,
                    self.max_side
                ),
            ));
        }
        if self.min_distance >= self.size {
            return Err(c.fail(
                "min_distance",
                format!(
                    "must be below --size ({}), got {}",
                    self.size, self.min_distance
                ),
            ));
        }
        if self.obstacles > self.size * self.size / 4 {
            return Err(c.fail(
                "obstacles",
                format!(
                    "must be at most size²/4 = {}, got {}",
                    self.size * self.size / 4,
                    self.obstacles
                ),
            ));
        }
        if self.view > self.size {
            return Err(c.fail(
                "view",
                format!("must be at most --size ({}), got {}", self.size, self.view),
            ));
        }
        Ok(())
    }

    /// The width of an observation vector.
    pub fn obs_dim(&self) -> usize {
        obs::dim(self.view)
    }
}

/// An axis-aligned rectangle of blocked cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rect {
    /// Left column.
    pub x: i32,
    /// Bottom row.
    pub y: i32,
    /// Width in cells.
    pub w: i32,
    /// Height in cells.
    pub h: i32,
}

/// The arena: its size and blocked cells.
#[derive(Clone, Debug, PartialEq)]
pub struct World {
    size: usize,
    blocked: Vec<bool>,
    rects: Vec<Rect>,
}

impl World {
    /// A `size`×`size` arena with the cells of `rects` blocked (parts of a
    /// rectangle outside the arena are ignored).
    pub fn new(size: usize, rects: Vec<Rect>) -> Result<World> {
        if !(1..=256).contains(&size) {
            return Err(Error::Config(format!(
                "arena size must be 1 to 256, got {size}"
            )));
        }
        let mut blocked = vec![false; size * size];
        for r in &rects {
            for y in r.y.max(0)..(r.y + r.h).min(size as i32) {
                for x in r.x.max(0)..(r.x + r.w).min(size as i32) {
                    blocked[y as usize * size + x as usize] = true;
                }
            }
        }
        Ok(World {
            size,
            blocked,
            rects,
        })
    }

    /// Cells per side.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The obstacles.
    pub fn rects(&self) -> &[Rect] {
        &self.rects
    }

    /// Whether `c` is inside the arena.
    pub fn contains(&self, c: Cell) -> bool {
        (0..self.size as i32).contains(&c.x) && (0..self.size as i32).contains(&c.y)
    }

    /// The index of `c` in row-major order (`c` must be inside).
    pub fn index(&self, c: Cell) -> usize {
        c.y as usize * self.size + c.x as usize
    }

    /// Whether `c` is inside the arena and not blocked.
    pub fn is_free(&self, c: Cell) -> bool {
        self.contains(c) && !self.blocked[self.index(c)]
    }

    /// Every free cell, row by row.
    pub fn free_cells(&self) -> Vec<Cell> {
        let s = self.size as i32;
        (0..s)
            .flat_map(|y| (0..s).map(move |x| Cell::new(x, y)))
            .filter(|&c| self.is_free(c))
            .collect()
    }

    /// The free cell nearest to `c` (Euclidean, then row-major order), if
    /// any cell is free; `c` itself when it is free.
    pub fn nearest_free(&self, c: Cell) -> Option<Cell> {
        self.free_cells().into_iter().min_by_key(|f| {
            let (dx, dy) = ((f.x - c.x) as i64, (f.y - c.y) as i64);
            dx * dx + dy * dy
        })
    }

    /// Where action `a` takes a robot at `from`, or `None` for a collision:
    /// the target cell is blocked or outside, or a diagonal move would cut
    /// the corner of a blocked cell (either cell beside the diagonal is
    /// blocked). The rule is symmetric, so a move is possible exactly when
    /// its reverse is.
    pub fn try_move(&self, from: Cell, a: Action) -> Option<Cell> {
        let (dx, dy) = a.delta();
        let to = from.offset((dx, dy));
        if !self.is_free(to) {
            return None;
        }
        if a.is_diagonal()
            && !(self.is_free(from.offset((dx, 0))) && self.is_free(from.offset((0, dy))))
        {
            return None;
        }
        Some(to)
    }
}

/// One episode's arena, start and goal, with the expert's distance field.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The arena.
    pub world: World,
    /// The robot's first cell.
    pub start: Cell,
    /// The goal cell.
    pub goal: Cell,
    field: DistanceField,
}

impl Scenario {
    /// An episode in `world` from `start` to `goal`; an error if either is
    /// outside the arena or blocked, or the goal cannot be reached.
    pub fn new(world: World, start: Cell, goal: Cell) -> Result<Scenario> {
        for (what, c) in [("start", start), ("goal", goal)] {
            if !world.contains(c) {
                return Err(Error::Config(format!(
                    "the {what} {c} is outside the {0}×{0} arena",
                    world.size()
                )));
            }
            if !world.is_free(c) {
                return Err(Error::Config(format!(
                    "the {what} {c} is inside an obstacle"
                )));
            }
        }
        let field = DistanceField::new(&world, goal);
        if field.cost(start).is_none() {
            return Err(Error::Config(format!(
                "the goal {goal} cannot be reached from the start {start}: obstacles cut it off"
            )));
        }
        Ok(Scenario {
            world,
            start,
            goal,
            field,
        })
    }

    /// The episode of `seed`: `cfg.obstacles` random rectangles, then a
    /// free start and goal with the goal reachable at least
    /// `cfg.min_distance` straight moves away (redrawn until so).
    pub fn generate(cfg: &SimConfig, seed: u64) -> Result<Scenario> {
        cfg.validate()?;
        let mut rng = ferrograd_nn::init::rng(seed);
        let s = cfg.size as i32;
        let side = cfg.max_side as i32;
        for _ in 0..200 {
            let rects: Vec<Rect> = (0..cfg.obstacles)
                .map(|_| {
                    let w = rng.random_range(1..=side);
                    let h = rng.random_range(1..=side);
                    Rect {
                        x: rng.random_range(0..=s - w),
                        y: rng.random_range(0..=s - h),
                        w,
                        h,
                    }
                })
                .collect();
            let world = World::new(cfg.size, rects)?;
            let free = world.free_cells();
            if free.len() < 2 {
                continue;
            }
            for _ in 0..20 {
                let goal = free[rng.random_range(0..free.len())];
                let field = DistanceField::new(&world, goal);
                let far: Vec<Cell> = free
                    .iter()
                    .copied()
                    .filter(|&c| {
                        field
                            .cost(c)
                            .is_some_and(|d| d >= 10 * cfg.min_distance as u32)
                    })
                    .collect();
                if far.is_empty() {
                    continue;
                }
                let start = far[rng.random_range(0..far.len())];
                return Ok(Scenario {
                    world,
                    start,
                    goal,
                    field,
                });
            }
        }
        Err(Error::Config(format!(
            "decision policy: could not draw a solvable episode in 200 arenas (seed {seed}); \
             use fewer --obstacles, a smaller --min-distance or a larger --size"
        )))
    }

    /// The expert's distance field to the goal.
    pub fn field(&self) -> &DistanceField {
        &self.field
    }

    /// The cost of a shortest path from the start (10 per straight move,
    /// 14 per diagonal one).
    pub fn optimal_cost(&self) -> u32 {
        self.field.cost(self.start).unwrap_or(u32::MAX)
    }
}

/// How an episode ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The robot reached the goal.
    Reached,
    /// The robot hit an obstacle or the wall.
    Collided,
    /// The step limit ran out.
    TimedOut,
}

/// Reward of every step.
pub const STEP_REWARD: f32 = -0.01;
/// Extra reward for reaching the goal.
pub const GOAL_REWARD: f32 = 1.0;
/// Extra reward for a collision.
pub const COLLISION_REWARD: f32 = -1.0;

/// What [`Nav::step`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The observation after the step.
    pub obs: Vec<f32>,
    /// The step's reward.
    pub reward: f32,
    /// Whether the episode is over.
    pub done: bool,
    /// How it ended, once `done`.
    pub outcome: Option<Outcome>,
}

/// The simulator: one episode at a time (see the module docs).
#[derive(Clone, Debug)]
pub struct Nav {
    cfg: SimConfig,
    scenario: Scenario,
    pos: Cell,
    steps: usize,
    outcome: Option<Outcome>,
}

impl Nav {
    /// A simulator with the settings `cfg`, at the episode of seed 0.
    pub fn new(cfg: SimConfig) -> Result<Nav> {
        let scenario = Scenario::generate(&cfg, 0)?;
        Nav::with_scenario(cfg, scenario)
    }

    /// A simulator at the start of `scenario` (its arena must have
    /// `cfg.size` cells per side).
    pub fn with_scenario(cfg: SimConfig, scenario: Scenario) -> Result<Nav> {
        cfg.validate()?;
        if scenario.world.size() != cfg.size {
            return Err(Error::Config(format!(
                "the scenario's arena is {0}×{0} but the simulator's is {1}×{1}",
                scenario.world.size(),
                cfg.size
            )));
        }
        let pos = scenario.start;
        Ok(Nav {
            cfg,
            scenario,
            pos,
            steps: 0,
            outcome: None,
        })
    }

    /// Starts the episode of `seed` and returns its first observation.
    pub fn reset(&mut self, seed: u64) -> Result<Vec<f32>> {
        let s = Scenario::generate(&self.cfg, seed)?;
        Ok(self.reset_to(s))
    }

    /// Starts `scenario` (same arena size) and returns its first
    /// observation.
    pub fn reset_to(&mut self, scenario: Scenario) -> Vec<f32> {
        self.pos = scenario.start;
        self.scenario = scenario;
        self.steps = 0;
        self.outcome = None;
        self.observation()
    }

    /// Applies `action`: the robot moves (or collides), the step counter
    /// grows, and the episode ends at the goal, at a collision (the robot
    /// stays where it was) or at the step limit. An error once the episode
    /// is over.
    pub fn step(&mut self, action: Action) -> Result<Step> {
        if let Some(o) = self.outcome {
            return Err(Error::Config(format!(
                "the episode is over ({o:?} after {} steps): call reset first",
                self.steps
            )));
        }
        self.steps += 1;
        let mut reward = STEP_REWARD;
        match self.scenario.world.try_move(self.pos, action) {
            None => {
                reward += COLLISION_REWARD;
                self.outcome = Some(Outcome::Collided);
            }
            Some(to) => {
                self.pos = to;
                if to == self.scenario.goal {
                    reward += GOAL_REWARD;
                    self.outcome = Some(Outcome::Reached);
                } else if self.steps >= self.cfg.max_steps {
                    self.outcome = Some(Outcome::TimedOut);
                }
            }
        }
        Ok(Step {
            obs: self.observation(),
            reward,
            done: self.outcome.is_some(),
            outcome: self.outcome,
        })
    }

    /// The observation now (see [`super::obs`]).
    pub fn observation(&self) -> Vec<f32> {
        let mut v = Vec::with_capacity(self.cfg.obs_dim());
        obs::features(
            &self.scenario.world,
            self.pos,
            self.scenario.goal,
            self.cfg.view,
            &mut v,
        );
        v
    }

    /// The expert's action now.
    pub fn expert_action(&self) -> Action {
        self.scenario
            .field()
            .best_action(&self.scenario.world, self.pos)
    }

    /// The robot's cell.
    pub fn position(&self) -> Cell {
        self.pos
    }

    /// The current episode.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The settings.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Steps taken in this episode.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// How the episode ended, once it has.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    /// Whether the episode is over.
    pub fn done(&self) -> bool {
        self.outcome.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(size: usize) -> World {
        World::new(size, vec![]).unwrap()
    }

    #[test]
    fn episodes_are_a_function_of_the_seed() {
        let cfg = SimConfig::default();
        let a = Scenario::generate(&cfg, 7).unwrap();
        let b = Scenario::generate(&cfg, 7).unwrap();
        let c = Scenario::generate(&cfg, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(
            (a.start, a.goal, a.world.rects()),
            (c.start, c.goal, c.world.rects())
        );
        let mut n1 = Nav::new(cfg.clone()).unwrap();
        let mut n2 = Nav::new(cfg).unwrap();
        assert_eq!(n1.reset(3).unwrap(), n2.reset(3).unwrap());
        for a in [Action::East, Action::North, Action::SouthWest] {
            if n1.done() {
                break;
            }
            assert_eq!(n1.step(a).unwrap(), n2.step(a).unwrap());
        }
    }

    #[test]
    fn generated_episodes_are_solvable_and_far_enough() {
        let cfg = SimConfig::default();
        for seed in 0..200 {
            let s = Scenario::generate(&cfg, seed).unwrap();
            assert!(s.world.is_free(s.start) && s.world.is_free(s.goal));
            let d = s.optimal_cost();
            assert!(d >= 10 * cfg.min_distance as u32 && d < u32::MAX, "{d}");
        }
    }

    #[test]
    fn moves_collisions_corners_and_the_step_limit() {
        // A wall block at (3, 3).
        let w = World::new(
            8,
            vec![Rect {
                x: 3,
                y: 3,
                w: 1,
                h: 1,
            }],
        )
        .unwrap();
        let c = Cell::new(2, 2);
        assert_eq!(w.try_move(c, Action::East), Some(Cell::new(3, 2)));
        assert_eq!(w.try_move(c, Action::NorthEast), None, "into the block");
        assert_eq!(w.try_move(Cell::new(2, 3), Action::East), None);
        // Cutting the block's corner diagonally is a collision too.
        assert_eq!(w.try_move(Cell::new(3, 2), Action::NorthWest), None);
        assert_eq!(w.try_move(Cell::new(2, 3), Action::NorthEast), None);
        assert_eq!(w.try_move(Cell::new(4, 2), Action::NorthWest), None);
        assert_eq!(w.try_move(Cell::new(1, 1), Action::NorthEast), Some(c));
        assert_eq!(w.try_move(Cell::new(0, 0), Action::West), None, "the wall");
        assert_eq!(w.try_move(c, Action::Stay), Some(c));
        assert_eq!(w.nearest_free(c), Some(c));
        assert_eq!(w.nearest_free(Cell::new(3, 3)), Some(Cell::new(3, 2)));

        let cfg = SimConfig {
            size: 8,
            max_side: 2,
            max_steps: 3,
            min_distance: 2,
            ..SimConfig::default()
        };
        let s = Scenario::new(w.clone(), Cell::new(0, 0), Cell::new(7, 7)).unwrap();
        let mut nav = Nav::with_scenario(cfg.clone(), s.clone()).unwrap();
        let st = nav.step(Action::East).unwrap();
        assert_eq!(nav.position(), Cell::new(1, 0));
        assert!(!st.done && (st.reward - STEP_REWARD).abs() < 1e-7);
        nav.step(Action::Stay).unwrap();
        let st = nav.step(Action::North).unwrap();
        assert_eq!((st.done, st.outcome), (true, Some(Outcome::TimedOut)));
        assert!(nav
            .step(Action::North)
            .unwrap_err()
            .to_string()
            .contains("reset"));
        // A collision ends the episode where the robot was.
        nav.reset_to(s);
        let st = nav.step(Action::South).unwrap();
        assert_eq!(
            (st.outcome, nav.position()),
            (Some(Outcome::Collided), Cell::new(0, 0))
        );
        assert!(st.reward < -0.9);
        // Reaching the goal.
        let s = Scenario::new(open(8), Cell::new(0, 0), Cell::new(1, 1)).unwrap();
        let mut nav = Nav::with_scenario(cfg, s).unwrap();
        let st = nav.step(Action::NorthEast).unwrap();
        assert_eq!(st.outcome, Some(Outcome::Reached));
        assert!((st.reward - (STEP_REWARD + GOAL_REWARD)).abs() < 1e-6);
    }

    #[test]
    fn bad_scenarios_and_settings_are_errors() {
        let w = World::new(
            8,
            vec![Rect {
                x: 0,
                y: 3,
                w: 8,
                h: 1,
            }],
        )
        .unwrap();
        let e = Scenario::new(w.clone(), Cell::new(0, 0), Cell::new(5, 7)).unwrap_err();
        assert!(e.to_string().contains("cannot be reached"), "{e}");
        let e = Scenario::new(w.clone(), Cell::new(0, 3), Cell::new(5, 7)).unwrap_err();
        assert!(e.to_string().contains("inside an obstacle"), "{e}");
        let e = Scenario::new(w, Cell::new(0, 0), Cell::new(9, 7)).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let bad = SimConfig {
            max_side: 20,
            ..SimConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--max-side"));
    }
}
