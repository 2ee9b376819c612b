//! `trajectories.png`: a grid of episodes, each panel the arena (obstacles
//! grey), the start (black square), the goal (green disc) and the paths of
//! the expert and the learned policies through the cell centres; a cross
//! marks where a policy collided.

use super::rollout::Trajectory;
use super::sim::{Cell, Outcome, Scenario};
use crate::plot::{plot_error, write_png};
use ferrograd_nn::Result;
use plotters::prelude::*;
use std::path::Path;

/// Colour of the expert's path.
pub const EXPERT: RGBColor = RGBColor(31, 90, 170);
/// Colour of behaviour cloning's path.
pub const BC: RGBColor = RGBColor(200, 50, 40);
/// Colour of DAgger's path.
pub const DAGGER: RGBColor = RGBColor(230, 140, 20);

/// One controller's path in a panel.
pub struct PathSpec {
    /// Legend name (`expert`, `BC`, `DAgger`).
    pub label: String,
    /// Line colour.
    pub colour: RGBColor,
    /// The episode as it was driven.
    pub trajectory: Trajectory,
}

/// One panel: an episode and the paths driven in it.
pub struct EpisodePanel {
    /// Caption above the panel.
    pub caption: String,
    /// The episode.
    pub scenario: Scenario,
    /// The paths, drawn in order.
    pub paths: Vec<PathSpec>,
}

/// A caption such as `expert 14 steps, BC collided after 6`.
pub fn outcome_caption(paths: &[PathSpec]) -> String {
    paths
        .iter()
        .map(|p| {
            let t = &p.trajectory;
            match t.outcome {
                Outcome::Reached => format!("{} {} steps", p.label, t.steps()),
                Outcome::Collided => format!("{} hit after {}", p.label, t.steps()),
                Outcome::TimedOut => format!("{} timed out", p.label),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn centre(c: Cell, shift: f32) -> (f32, f32) {
    (c.x as f32 + 0.5 + shift, c.y as f32 + 0.5 + shift)
}

/// Draws `panels`, `cols` per row, to the PNG `path` (atomically).
pub fn trajectories(path: &Path, title: &str, panels: &[EpisodePanel], cols: usize) -> Result<()> {
    if panels.is_empty() || cols == 0 {
        return Err(plot_error(path, "no episodes to draw"));
    }
    let cols = cols.min(panels.len());
    let rows = panels.len().div_ceil(cols);
    const CELL: u32 = 380;
    let size = (CELL * cols as u32, (CELL + 20) * rows as u32 + 50);
    write_png(path, size, |root| {
        let area = root
            .titled(title, ("sans-serif", 20))
            .map_err(|e| plot_error(path, e))?;
        for (cell, p) in area.split_evenly((rows, cols)).iter().zip(panels) {
            let s = p.scenario.world.size() as f32;
            let mut c = ChartBuilder::on(cell)
                .margin(10)
                .caption(&p.caption, ("sans-serif", 14))
                .build_cartesian_2d(0f32..s, 0f32..s)
                .map_err(|e| plot_error(path, e))?;
            c.configure_mesh()
                .disable_mesh()
                .disable_x_axis()
                .disable_y_axis()
                .draw()
                .map_err(|e| plot_error(path, e))?;
            let pa = c.plotting_area();
            let grey = RGBColor(150, 150, 150).filled();
            for r in p.scenario.world.rects() {
                pa.draw(&Rectangle::new(
                    [
                        (r.x as f32, r.y as f32),
                        (
                            (r.x + r.w).min(s as i32) as f32,
                            (r.y + r.h).min(s as i32) as f32,
                        ),
                    ],
                    grey,
                ))
                .map_err(|e| plot_error(path, e))?;
            }
            pa.draw(&Rectangle::new([(0.0, 0.0), (s, s)], BLACK.stroke_width(2)))
                .map_err(|e| plot_error(path, e))?;
            let n = p.paths.len() as f32;
            for (k, spec) in p.paths.iter().enumerate() {
                // Paths side by side where they overlap.
                let shift = (k as f32 - (n - 1.0) / 2.0) * 0.14;
                let pts: Vec<(f32, f32)> = spec
                    .trajectory
                    .cells
                    .iter()
                    .map(|&c| centre(c, shift))
                    .collect();
                let style = spec.colour.stroke_width(3);
                pa.draw(&PathElement::new(pts.clone(), style))
                    .map_err(|e| plot_error(path, e))?;
                if spec.trajectory.outcome == Outcome::Collided {
                    if let (Some(&last), Some(a)) =
                        (spec.trajectory.cells.last(), spec.trajectory.actions.last())
                    {
                        let (dx, dy) = a.delta();
                        let (x, y) = centre(last, shift);
                        let hit = (x + 0.5 * dx as f32, y + 0.5 * dy as f32);
                        pa.draw(&Cross::new(hit, 7, spec.colour.stroke_width(3)))
                            .map_err(|e| plot_error(path, e))?;
                    }
                }
            }
            let start = centre(p.scenario.start, 0.0);
            pa.draw(&Rectangle::new(
                [
                    (start.0 - 0.3, start.1 - 0.3),
                    (start.0 + 0.3, start.1 + 0.3),
                ],
                BLACK.filled(),
            ))
            .map_err(|e| plot_error(path, e))?;
            pa.draw(&Circle::new(
                centre(p.scenario.goal, 0.0),
                8,
                RGBColor(30, 160, 60).filled(),
            ))
            .map_err(|e| plot_error(path, e))?;
        }
        Ok(())
    })
}
