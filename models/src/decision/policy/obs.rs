//! The robot's observation, a fixed-width feature vector:
//!
//! * the goal relative to the robot, `dx/size`, `dy/size`, and its
//!   Euclidean distance `/size` (3);
//! * for each of the eight moves (class order, `East` first), the cosine
//!   between the move and the direction of the goal (8; 0 at the goal);
//! * for each of the eight moves, the number of free cells along that ray
//!   before a blocked cell or the wall, `/size` (8);
//! * for each of the eight moves, 1 if the move is possible (no
//!   collision), else 0 (8);
//! * the occupancy of the `(2·view+1)²` cells around the robot, 1 for a
//!   blocked cell or outside the arena, 0 for a free one, row by row from
//!   the top (`view` is the radius).

use super::sim::{Action, Cell, World};

/// The width of an observation with a view of radius `view`.
pub fn dim(view: usize) -> usize {
    PATCH + (2 * view + 1) * (2 * view + 1)
}

/// Offset of the per-move goal alignments.
const ALIGN: usize = 3;
/// Offset of the per-move ray lengths.
const RAYS: usize = 11;
/// Offset of the per-move free flags.
const FREE: usize = 19;
/// Offset of the occupancy view.
const PATCH: usize = 27;

/// Appends the observation of a robot at `pos` heading for `goal` to `out`.
pub fn features(world: &World, pos: Cell, goal: Cell, view: usize, out: &mut Vec<f32>) {
    let s = world.size() as f32;
    let (dx, dy) = ((goal.x - pos.x) as f32, (goal.y - pos.y) as f32);
    let d = dx.hypot(dy);
    out.extend_from_slice(&[dx / s, dy / s, d / s]);
    for &a in Action::moves() {
        let (mx, my) = a.delta();
        let (mx, my) = (mx as f32, my as f32);
        out.push(if d > 0.0 {
            (dx * mx + dy * my) / (d * mx.hypot(my))
        } else {
            0.0
        });
    }
    for &a in Action::moves() {
        let mut c = pos.offset(a.delta());
        let mut k = 0;
        while world.is_free(c) {
            k += 1;
            c = c.offset(a.delta());
        }
        out.push(k as f32 / s);
    }
    for &a in Action::moves() {
        out.push(if world.try_move(pos, a).is_some() {
            1.0
        } else {
            0.0
        });
    }
    let v = view as i32;
    for oy in (-v..=v).rev() {
        for ox in -v..=v {
            let free = world.is_free(pos.offset((ox, oy)));
            out.push(if free { 0.0 } else { 1.0 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::sim::Rect;
    use super::*;

    #[test]
    fn features_describe_goal_rays_and_view() {
        let w = World::new(
            8,
            vec![Rect {
                x: 4,
                y: 2,
                w: 1,
                h: 1,
            }],
        )
        .unwrap();
        let mut f = Vec::new();
        features(&w, Cell::new(2, 2), Cell::new(6, 2), 1, &mut f);
        assert_eq!(f.len(), dim(1));
        assert_eq!(&f[..3], &[0.5, 0.0, 0.5]);
        assert!((f[3] - 1.0).abs() < 1e-6, "east points at the goal");
        assert!((f[3 + 4] + 1.0).abs() < 1e-6, "west points away");
        // Rays: east stops at the block after one free cell; west has two.
        assert_eq!(f[11] * 8.0, 1.0);
        assert_eq!(f[11 + 4] * 8.0, 2.0);
        // All eight moves are possible; the 3×3 view around (2, 2) is free.
        assert!(f[FREE..PATCH].iter().all(|&v| v == 1.0));
        assert!(f[PATCH..].iter().all(|&v| v == 0.0));
        // At the left wall the view's left column is outside (blocked).
        let mut g = Vec::new();
        features(&w, Cell::new(0, 4), Cell::new(6, 2), 1, &mut g);
        let view = &g[PATCH..];
        assert_eq!(view, &[1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        // West, north-west and south-west hit the wall.
        assert_eq!(&g[FREE..PATCH], &[1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
    }
}

/// A symmetry of the square: `reflect` (y → −y) first, then `rot`
/// quarter turns anticlockwise. The arena's dynamics and the expert's
/// costs are unchanged by each of these eight maps, so a demonstration
/// mapped by one is another valid demonstration (data augmentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symmetry {
    /// Quarter turns anticlockwise, 0 to 3.
    pub rot: u8,
    /// Reflect y before turning.
    pub reflect: bool,
}

impl Symmetry {
    /// The eight symmetries, the identity first.
    pub fn all() -> [Symmetry; 8] {
        let mut out = [Symmetry {
            rot: 0,
            reflect: false,
        }; 8];
        for (i, s) in out.iter_mut().enumerate() {
            *s = Symmetry {
                rot: (i % 4) as u8,
                reflect: i >= 4,
            };
        }
        out
    }

    /// The image of the vector `(x, y)`.
    pub fn apply(self, (x, y): (i32, i32)) -> (i32, i32) {
        let (mut x, mut y) = if self.reflect { (x, -y) } else { (x, y) };
        for _ in 0..self.rot {
            (x, y) = (-y, x);
        }
        (x, y)
    }

    /// The image of an action (`Stay` stays).
    pub fn action(self, a: Action) -> Action {
        let d = self.apply(a.delta());
        Action::ALL
            .iter()
            .copied()
            .find(|b| b.delta() == d)
            .unwrap_or(Action::Stay)
    }

    /// The observation (of view radius `view`) of the mapped arena, robot
    /// and goal, from the observation `src` of the original.
    pub fn observation(self, src: &[f32], view: usize, out: &mut Vec<f32>) {
        let start = out.len();
        out.resize(start + src.len(), 0.0);
        let o = &mut out[start..];
        // The goal vector turns with the arena; the distance does not.
        let g = |v: (f32, f32)| {
            let (mut x, mut y) = if self.reflect { (v.0, -v.1) } else { v };
            for _ in 0..self.rot {
                (x, y) = (-y, x);
            }
            (x, y)
        };
        let (dx, dy) = g((src[0], src[1]));
        o[0] = dx;
        o[1] = dy;
        o[2] = src[2];
        // Per-move features move to the image of their move.
        for (k, &a) in Action::moves().iter().enumerate() {
            let j = self.action(a).index() - 1;
            for block in [ALIGN, RAYS, FREE] {
                o[block + j] = src[block + k];
            }
        }
        // The view's cell at offset u goes to offset g(u).
        let v = view as i32;
        let w = 2 * v + 1;
        let at = |(ox, oy): (i32, i32)| PATCH + ((v - oy) * w + (ox + v)) as usize;
        for oy in -v..=v {
            for ox in -v..=v {
                o[at(self.apply((ox, oy)))] = src[at((ox, oy))];
            }
        }
    }
}

#[cfg(test)]
mod symmetry_tests {
    use super::super::expert::DistanceField;
    use super::super::sim::{Cell, Rect, Scenario, SimConfig};
    use super::*;

    /// The image of `s` under `g`, about the arena's centre.
    fn mapped(s: &Scenario, g: Symmetry) -> (World, Cell, Cell) {
        let n = s.world.size() as i32;
        // Cell centres doubled, relative to the centre: 2c + 1 − n.
        let map = |c: Cell| {
            let (x, y) = g.apply((2 * c.x + 1 - n, 2 * c.y + 1 - n));
            Cell::new((x + n - 1) / 2, (y + n - 1) / 2)
        };
        let mut rects = Vec::new();
        for c in 0..n {
            for r in 0..n {
                let cell = Cell::new(c, r);
                if !s.world.is_free(cell) {
                    let m = map(cell);
                    rects.push(Rect {
                        x: m.x,
                        y: m.y,
                        w: 1,
                        h: 1,
                    });
                }
            }
        }
        (
            World::new(s.world.size(), rects).unwrap(),
            map(s.start),
            map(s.goal),
        )
    }

    #[test]
    fn symmetries_map_observations_and_expert_actions_consistently() {
        let cfg = SimConfig::default();
        let (mut same, mut total) = (0, 0);
        for seed in 0..20 {
            let s = Scenario::generate(&cfg, seed).unwrap();
            for g in Symmetry::all() {
                let (w, start, goal) = mapped(&s, g);
                let mut a = Vec::new();
                features(&s.world, s.start, s.goal, cfg.view, &mut a);
                let mut b = Vec::new();
                features(&w, start, goal, cfg.view, &mut b);
                let mut via = Vec::new();
                g.observation(&a, cfg.view, &mut via);
                for (x, y) in via.iter().zip(&b) {
                    assert!((x - y).abs() < 1e-6, "seed {seed} {g:?}");
                }
                let e0 = s.field().best_action(&s.world, s.start);
                let e1 = DistanceField::new(&w, goal).best_action(&w, start);
                total += 1;
                same += (g.action(e0) == e1) as usize;
            }
        }
        // Exact ties between mirror-image detours break by class order, the
        // only place the expert is not symmetric.
        assert!(same as f64 >= 0.95 * total as f64, "{same}/{total}");
        let id = Symmetry::all()[0];
        assert!(Action::ALL.iter().all(|&a| id.action(a) == a));
        let quarter = Symmetry::all()[1];
        assert_eq!(quarter.action(Action::East), Action::North);
        assert_eq!(quarter.action(Action::NorthEast), Action::NorthWest);
    }
}
