//! PNG plots of a conditional density run (plotters, bitmap backend):
//!
//! * [`nll_curves`]: training and validation NLL per epoch (with the true
//!   validation NLL as a flat line where known);
//! * [`samples`]: the model's samples beside ground-truth samples at
//!   f = 0.1, 0.5, 0.9, one panel per feature;
//! * [`densities`]: the learned density p(x | f) as a heat map at the same
//!   features (each panel's colours are exp(log p) normalised to its
//!   maximum), drawn by [`heatmap`].
//!
//! Each panel's window is the central 99% of 4,000 ground-truth samples at
//! that feature (per coordinate), padded by 10%, so heavy tails do not
//! shrink the picture.

use super::data::Dataset;
use super::train::{CdeConfig, CdeModel};
use crate::plot::{chart, Series};
use ferrograd_nn::{derive_seed, Error, Result};
use ferrograd_tensor::Tensor;
use plotters::prelude::*;
use std::path::Path;

/// The features at which samples and densities are drawn.
pub const FEATURES: [f32; 3] = [0.1, 0.5, 0.9];

/// Samples per panel in [`samples`].
const SAMPLES: usize = 1_000;

/// Grid cells per axis in [`densities`].
const GRID: usize = 80;

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        problem: format!("could not draw the plot: {e}"),
    }
}

/// A rectangle `[x0, x1] × [y0, y1]` of the target plane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Left edge.
    pub x0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y0: f32,
    /// Top edge.
    pub y1: f32,
}

fn quantile(sorted: &[f32], q: f64) -> f32 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

/// The window showing `dataset` at feature `f`: the central 99% of 4,000
/// ground-truth samples per coordinate, padded by 10%.
pub fn window(dataset: Dataset, f: f32) -> Window {
    let truth = dataset.sample_given(&[f; 4000], derive_seed(0x9107, "window"));
    let mut axes = [Vec::new(), Vec::new()];
    for row in truth.data().chunks_exact(2) {
        axes[0].push(row[0]);
        axes[1].push(row[1]);
    }
    let mut lim = [(0.0, 0.0); 2];
    for (a, l) in axes.iter_mut().zip(&mut lim) {
        a.sort_by(f32::total_cmp);
        let (lo, hi) = (quantile(a, 0.005), quantile(a, 0.995));
        let pad = 0.1 * (hi - lo).max(1e-3);
        *l = (lo - pad, hi + pad);
    }
    Window {
        x0: lim[0].0,
        x1: lim[0].1,
        y0: lim[1].0,
        y1: lim[1].1,
    }
}

/// Training and validation NLL per epoch (`curve[i]` = epoch i + 1).
pub fn nll_curves(path: &Path, cfg: &CdeConfig, curve: &[(f64, f64)]) -> Result<()> {
    let pts = |pick: fn(&(f64, f64)) -> f64| -> Vec<(f32, f32)> {
        curve
            .iter()
            .enumerate()
            .map(|(i, c)| ((i + 1) as f32, pick(c) as f32))
            .collect()
    };
    let mut series = vec![
        Series::line("train NLL", pts(|c| c.0)),
        Series::line("validation NLL", pts(|c| c.1)),
    ];
    if let Some(t) = cfg.dataset.true_nll(&cfg.splits().valid) {
        let n = curve.len().max(1) as f32;
        series.push(Series::line(
            "true validation NLL",
            vec![(1.0, t as f32), (n, t as f32)],
        ));
    }
    chart(
        path,
        &format!("{} on {}: negative log-likelihood", cfg.model, cfg.dataset),
        "epoch",
        "NLL (nats)",
        &series,
        false,
    )
}

fn points(t: &Tensor) -> Vec<(f32, f32)> {
    t.data().chunks_exact(2).map(|r| (r[0], r[1])).collect()
}

/// The model's samples (red) beside ground truth (blue) at [`FEATURES`],
/// one panel per feature.
pub fn samples(path: &Path, cfg: &CdeConfig, model: &CdeModel) -> Result<()> {
    let tmp = path.with_extension("partial.png");
    {
        let root = BitMapBackend::new(&tmp, (1500, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        for (i, (area, &f)) in root.split_evenly((1, 3)).iter().zip(&FEATURES).enumerate() {
            let w = window(cfg.dataset, f);
            let truth = cfg
                .dataset
                .sample_given(&[f; SAMPLES], derive_seed(cfg.seed, "plot truth"));
            let ours = model.sample_at(f, SAMPLES, derive_seed(cfg.seed + i as u64, "plot"))?;
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("{} on {}, f = {f}", cfg.model, cfg.dataset),
                    ("sans-serif", 20),
                )
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(45)
                .build_cartesian_2d(w.x0..w.x1, w.y0..w.y1)
                .map_err(|e| plot_error(path, e))?;
            chart
                .configure_mesh()
                .x_desc("x1")
                .y_desc("x2")
                .draw()
                .map_err(|e| plot_error(path, e))?;
            let inside = |p: &(f32, f32)| {
                p.0 >= w.x0 && p.0 <= w.x1 && p.1 >= w.y0 && p.1 <= w.y1 && p.0.is_finite()
            };
            for (label, pts, color) in [
                ("ground truth", points(&truth), BLUE.mix(0.45)),
                ("model samples", points(&ours), RED.mix(0.45)),
            ] {
                chart
                    .draw_series(
                        pts.into_iter()
                            .filter(inside)
                            .map(|p| Circle::new(p, 2, color.filled())),
                    )
                    .map_err(|e| plot_error(path, e))?
                    .label(label)
                    .legend(move |(x, y)| Circle::new((x + 10, y), 3, color.filled()));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| plot_error(path, e))?;
        }
        root.present().map_err(|e| plot_error(path, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// One heat-map panel: `values[j * nx + i]` is the value of cell (i, j),
/// i along x from `window.x0`, j along y from `window.y0`.
pub struct HeatPanel {
    /// Caption.
    pub title: String,
    /// The area covered.
    pub window: Window,
    /// Cells along x.
    pub nx: usize,
    /// Cells along y.
    pub ny: usize,
    /// Non-negative values, row by row from the bottom.
    pub values: Vec<f32>,
}

/// A white → blue → dark-red ramp for v ∈ [0, 1].
fn ramp(v: f32) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let lerp = |a: f32, b: f32, t: f32| (a + (b - a) * t).round() as u8;
    let (c0, c1, t) = if v < 0.5 {
        ((255.0, 255.0, 255.0), (40.0, 90.0, 200.0), v * 2.0)
    } else {
        ((40.0, 90.0, 200.0), (150.0, 0.0, 30.0), v * 2.0 - 1.0)
    };
    RGBColor(
        lerp(c0.0, c1.0, t),
        lerp(c0.1, c1.1, t),
        lerp(c0.2, c1.2, t),
    )
}

/// Draws `panels` side by side into a PNG at `path` (temporary file, then
/// rename), each a grid of filled rectangles coloured by its values
/// normalised to the panel's maximum.
pub fn heatmap(path: &Path, panels: &[HeatPanel]) -> Result<()> {
    let tmp = path.with_extension("partial.png");
    {
        let width = 500 * panels.len().max(1) as u32;
        let root = BitMapBackend::new(&tmp, (width, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, p) in areas.iter().zip(panels) {
            if p.values.len() != p.nx * p.ny {
                return Err(plot_error(
                    path,
                    format!(
                        "panel '{}' has {} values for a {}×{} grid",
                        p.title,
                        p.values.len(),
                        p.nx,
                        p.ny
                    ),
                ));
            }
            let w = p.window;
            let mut chart = ChartBuilder::on(area)
                .caption(&p.title, ("sans-serif", 20))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(45)
                .build_cartesian_2d(w.x0..w.x1, w.y0..w.y1)
                .map_err(|e| plot_error(path, e))?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc("x1")
                .y_desc("x2")
                .draw()
                .map_err(|e| plot_error(path, e))?;
            let max = p
                .values
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0f32, f32::max);
            let (dx, dy) = ((w.x1 - w.x0) / p.nx as f32, (w.y1 - w.y0) / p.ny as f32);
            chart
                .draw_series(p.values.iter().enumerate().map(|(k, &v)| {
                    let (i, j) = ((k % p.nx) as f32, (k / p.nx) as f32);
                    let v = if max > 0.0 && v.is_finite() {
                        v / max
                    } else {
                        0.0
                    };
                    let (x, y) = (w.x0 + i * dx, w.y0 + j * dy);
                    Rectangle::new([(x, y), (x + dx, y + dy)], ramp(v).filled())
                }))
                .map_err(|e| plot_error(path, e))?;
        }
        root.present().map_err(|e| plot_error(path, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The cell centres of an `nx × ny` grid over `w`, row by row from the
/// bottom, as an `[nx·ny, 2]` tensor, and the cell area.
pub fn grid(w: Window, nx: usize, ny: usize) -> (Tensor, f64) {
    let (dx, dy) = ((w.x1 - w.x0) / nx as f32, (w.y1 - w.y0) / ny as f32);
    let mut xs = Vec::with_capacity(2 * nx * ny);
    for j in 0..ny {
        for i in 0..nx {
            xs.push(w.x0 + (i as f32 + 0.5) * dx);
            xs.push(w.y0 + (j as f32 + 0.5) * dy);
        }
    }
    (
        Tensor::from_vec(xs, &[nx * ny, 2]).expect("2·nx·ny values"),
        dx as f64 * dy as f64,
    )
}

/// log p(x | f) of the model on the cell centres of `grid(w, nx, ny)`.
pub fn grid_log_density(
    model: &CdeModel,
    f: f32,
    w: Window,
    nx: usize,
    ny: usize,
) -> Result<(Vec<f32>, f64)> {
    let (x, area) = grid(w, nx, ny);
    let fs = Tensor::from_vec(vec![f; nx * ny], &[nx * ny, 1])?;
    Ok((model.log_prob_values(&x, &fs)?, area))
}

/// The learned density as a heat map at [`FEATURES`].
pub fn densities(path: &Path, cfg: &CdeConfig, model: &CdeModel) -> Result<()> {
    let panels = FEATURES
        .iter()
        .map(|&f| {
            let w = window(cfg.dataset, f);
            let (lp, _) = grid_log_density(model, f, w, GRID, GRID)?;
            Ok(HeatPanel {
                title: format!("{} on {}: p(x | f = {f})", cfg.model, cfg.dataset),
                window: w,
                nx: GRID,
                ny: GRID,
                values: lp.iter().map(|&v| v.exp()).collect(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    heatmap(path, &panels)
}
