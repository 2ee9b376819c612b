//! PNG plots of a conditional density run (plotters, bitmap backend):
//!
//! * [`nll_curves`]: training and validation NLL per epoch (with the true
//!   validation NLL as a flat line where known);
//! * [`samples`]: ground-truth samples and the model's samples side by
//!   side at f = 0.1, 0.5, 0.9 (one pair of panels per feature);
//! * [`densities`]: the learned density p(x | f) as a heat map at the same
//!   features, each panel with its own labelled colour bar, drawn by
//!   [`heatmap_with_scale`];
//! * for models trained on a user's data: [`samples_beside_data`] (d = 2,
//!   samples beside data at chosen feature values) and
//!   [`pairwise_marginals`] (d > 2, a grid of pairwise scatter plots with
//!   histograms on the diagonal).
//!
//! Each panel's window is the central 99% of 4,000 ground-truth samples at
//! that feature (per coordinate), padded by 10%, so heavy tails do not
//! shrink the picture.

use super::data::Dataset;
use super::train::{CdeConfig, CdeModel};
use crate::plot::{chart, plot_error, write_png, Axis, Series};
use ferrograd_nn::{derive_seed, Result};
use ferrograd_tensor::Tensor;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// The features at which samples and densities are drawn.
pub const FEATURES: [f32; 3] = [0.1, 0.5, 0.9];

/// Samples per panel in [`samples`].
const SAMPLES: usize = 1_000;

/// Grid cells per axis in [`densities`].
const GRID: usize = 80;

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

/// Points drawn per panel at most (a random-free, evenly strided subset).
const MAX_POINTS: usize = 2_000;

/// Colour of data / ground truth.
const DATA_COLOUR: RGBColor = RGBColor(31, 90, 190);
/// Colour of model samples.
const MODEL_COLOUR: RGBColor = RGBColor(200, 40, 40);

/// Every `k`-th point so that at most `max` remain.
fn thin<T: Copy>(pts: &[T], max: usize) -> impl Iterator<Item = T> + '_ {
    let k = pts.len().div_ceil(max.max(1)).max(1);
    pts.iter().step_by(k).copied()
}

/// The central `1 - 2q` range of the finite values in `v` (None if none).
fn central(v: impl Iterator<Item = f32>, q: f64) -> Option<(f32, f32)> {
    let mut v: Vec<f32> = v.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some((quantile(&v, q), quantile(&v, 1.0 - q)))
}

/// The axis range showing data and model values: the central 99% of the
/// data, widened to the central 90% of the model's values, padded by 10%.
fn shared_range(data: impl Iterator<Item = f32>, model: impl Iterator<Item = f32>) -> (f32, f32) {
    let d = central(data, 0.005);
    let m = central(model, 0.05);
    let (lo, hi) = match (d, m) {
        (Some(d), Some(m)) => (d.0.min(m.0), d.1.max(m.1)),
        (Some(r), None) | (None, Some(r)) => r,
        (None, None) => (0.0, 1.0),
    };
    let pad = 0.1 * (hi - lo).max(1e-3);
    (lo - pad, hi + pad)
}

/// One panel of [`samples_beside_data`]: data and model samples at one
/// feature value, drawn side by side.
pub struct SamplePanel<'a> {
    /// Caption, e.g. "f = (0.3, 1.2)".
    pub title: String,
    /// The model's samples (x, y).
    pub model: &'a [(f32, f32)],
    /// The data points (x, y).
    pub data: &'a [(f32, f32)],
}

/// One pair of scatter panels sharing a window.
struct Pair<'a> {
    title: String,
    window: Window,
    left: (&'a str, &'a [(f32, f32)], RGBColor),
    right: (&'a str, &'a [(f32, f32)], RGBColor),
}

/// One scatter chart of `pts` in `w`; the caption names the points and how
/// many fall outside the window.
fn scatter(
    path: &Path,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    w: Window,
    (label, pts, colour): (&str, &[(f32, f32)], RGBColor),
    (x_name, y_name): (&str, &str),
) -> Result<()> {
    let inside = |p: &(f32, f32)| p.0 >= w.x0 && p.0 <= w.x1 && p.1 >= w.y0 && p.1 <= w.y1;
    let outside = pts.iter().filter(|p| !inside(p)).count();
    let caption = if outside > 0 {
        format!("{label} ({outside} of {} outside)", pts.len())
    } else {
        label.to_string()
    };
    let (xa, ya) = (Axis::linear(w.x0, w.x1, 6), Axis::linear(w.y0, w.y1, 10));
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16).into_font().color(&colour))
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(xa.coord(w.x0, w.x1), ya.coord(w.y0, w.y1))
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc(x_name)
        .y_desc(y_name)
        .label_style(("sans-serif", 13))
        .x_label_formatter(&|v| xa.label(v))
        .y_label_formatter(&|v| ya.label(v))
        .bold_line_style(BLACK.mix(0.1))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    let style = colour.mix(0.45).filled();
    chart
        .draw_series(
            thin(pts, MAX_POINTS)
                .filter(inside)
                .map(|p| Circle::new(p, 2, style)),
        )
        .map_err(|e| plot_error(path, e))?;
    Ok(())
}

/// Draws `pairs` in one row, each a captioned pair of scatter panels.
fn draw_pairs(path: &Path, title: &str, pairs: &[Pair], names: (&str, &str)) -> Result<()> {
    if pairs.is_empty() {
        return Err(plot_error(path, "no panels to draw"));
    }
    let size = (760 * pairs.len() as u32, 500);
    write_png(path, size, |root| {
        let area = root
            .titled(title, ("sans-serif", 22))
            .map_err(|e| plot_error(path, e))?;
        for (panel, pair) in area.split_evenly((1, pairs.len())).iter().zip(pairs) {
            let panel = panel.margin(0, 0, 10, 10);
            let panel = panel
                .titled(&pair.title, ("sans-serif", 19))
                .map_err(|e| plot_error(path, e))?;
            let halves = panel.split_evenly((1, 2));
            scatter(path, &halves[0], pair.window, pair.left, names)?;
            scatter(path, &halves[1], pair.window, pair.right, names)?;
        }
        Ok(())
    })
}

/// Ground-truth samples and the model's samples side by side at
/// [`FEATURES`], one pair of panels per feature (each pair on the
/// [`window`] of its feature).
pub fn samples(path: &Path, cfg: &CdeConfig, model: &CdeModel) -> Result<()> {
    let mut sets = Vec::new();
    for (i, &f) in FEATURES.iter().enumerate() {
        let truth = cfg
            .dataset
            .sample_given(&[f; SAMPLES], derive_seed(cfg.seed, "plot truth"));
        let ours = model.sample_at(f, SAMPLES, derive_seed(cfg.seed + i as u64, "plot"))?;
        sets.push((f, points(&truth), points(&ours)));
    }
    let pairs: Vec<Pair> = sets
        .iter()
        .map(|(f, truth, ours)| Pair {
            title: format!("f = {f}"),
            window: window(cfg.dataset, *f),
            left: ("ground truth", truth, DATA_COLOUR),
            right: ("model samples", ours, MODEL_COLOUR),
        })
        .collect();
    draw_pairs(
        path,
        &format!(
            "{} on {}: samples beside ground truth",
            cfg.model, cfg.dataset
        ),
        &pairs,
        ("x1", "x2"),
    )
}

/// For a model of a two-dimensional target (d = 2) trained on a user's
/// data: one row of `panels`, each the data points and the model's samples
/// side by side under the panel's title, all on one window (the central
/// 99% of all data widened to the central 90% of all samples, padded by
/// 10%), axes named `x_name` and `y_name`. Written atomically.
pub fn samples_beside_data(
    path: &Path,
    panels: &[SamplePanel],
    x_name: &str,
    y_name: &str,
) -> Result<()> {
    let all = |model: bool, axis: usize| {
        panels.iter().flat_map(move |p| {
            let pts = if model { p.model } else { p.data };
            pts.iter().map(move |q| if axis == 0 { q.0 } else { q.1 })
        })
    };
    let (x0, x1) = shared_range(all(false, 0), all(true, 0));
    let (y0, y1) = shared_range(all(false, 1), all(true, 1));
    let w = Window { x0, x1, y0, y1 };
    let pairs: Vec<Pair> = panels
        .iter()
        .map(|p| Pair {
            title: p.title.clone(),
            window: w,
            left: ("data", p.data, DATA_COLOUR),
            right: ("model samples", p.model, MODEL_COLOUR),
        })
        .collect();
    draw_pairs(path, "model samples beside data", &pairs, (x_name, y_name))
}

/// A d×d grid for a model of a d-dimensional target (meant for d > 2):
/// cell (i, j) off the diagonal plots coordinate j (across) against
/// coordinate i (up) for `data` `[m, d]` (blue) and `model` samples
/// `[n, d]` (red) overlaid; diagonal cells are histograms of coordinate i
/// of both (as densities). Axes are named by `names` (one per coordinate)
/// and share a range per coordinate (the central 99% of the data widened
/// to the central 90% of the samples, padded by 10%). Written atomically.
pub fn pairwise_marginals(
    path: &Path,
    model: &Tensor,
    data: &Tensor,
    names: &[String],
) -> Result<()> {
    let d = names.len();
    for (what, t) in [("model samples", model), ("data", data)] {
        if t.dims().len() != 2 || t.dims()[1] != d || t.dims()[0] == 0 {
            return Err(plot_error(
                path,
                format!(
                    "{what} must be [rows ≥ 1, {d}] for {d} names, got {:?}",
                    t.dims()
                ),
            ));
        }
    }
    if d == 0 {
        return Err(plot_error(path, "no coordinates to plot"));
    }
    let col =
        |t: &Tensor, j: usize| -> Vec<f32> { t.data().chunks_exact(d).map(|r| r[j]).collect() };
    let (mcols, dcols): (Vec<_>, Vec<_>) = (0..d).map(|j| (col(model, j), col(data, j))).unzip();
    let ranges: Vec<(f32, f32)> = (0..d)
        .map(|j| shared_range(dcols[j].iter().copied(), mcols[j].iter().copied()))
        .collect();
    let cell = (1800 / d as u32).clamp(200, 320);
    // The legend line needs 600 pixels; a single variable gets a wide cell.
    let width = (cell * d as u32).max(600);
    let size = (width, cell * d as u32 + 60);
    write_png(path, size, |root| {
        let (head, body) = root.split_vertically(60);
        let title = ("sans-serif", 22).into_font();
        head.draw(&Text::new("pairwise marginals:", (20, 18), title.clone()))
            .map_err(|e| plot_error(path, e))?;
        for (k, (label, colour)) in [("data", DATA_COLOUR), ("model samples", MODEL_COLOUR)]
            .into_iter()
            .enumerate()
        {
            let x = 240 + 170 * k as i32;
            head.draw(&Circle::new((x, 30), 6, colour.filled()))
                .map_err(|e| plot_error(path, e))?;
            head.draw(&Text::new(
                label,
                (x + 14, 18),
                title.clone().color(&colour),
            ))
            .map_err(|e| plot_error(path, e))?;
        }
        let cells = body.split_evenly((d, d));
        for i in 0..d {
            for j in 0..d {
                let area = &cells[i * d + j];
                if i == j {
                    histogram(path, area, ranges[i], &dcols[i], &mcols[i], &names[i])?;
                } else {
                    let (x, y) = (ranges[j], ranges[i]);
                    let w = Window {
                        x0: x.0,
                        x1: x.1,
                        y0: y.0,
                        y1: y.1,
                    };
                    let pair = |a: &[f32], b: &[f32]| -> Vec<(f32, f32)> {
                        a.iter().copied().zip(b.iter().copied()).collect()
                    };
                    overlay(
                        path,
                        area,
                        w,
                        &[
                            (&pair(&dcols[j], &dcols[i]), DATA_COLOUR),
                            (&pair(&mcols[j], &mcols[i]), MODEL_COLOUR),
                        ],
                        (&names[j], &names[i]),
                    )?;
                }
            }
        }
        Ok(())
    })
}

/// A small scatter chart of several point sets in `w`.
fn overlay(
    path: &Path,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    w: Window,
    sets: &[(&[(f32, f32)], RGBColor)],
    (x_name, y_name): (&str, &str),
) -> Result<()> {
    let (xa, ya) = (Axis::linear(w.x0, w.x1, 5), Axis::linear(w.y0, w.y1, 5));
    let mut chart = ChartBuilder::on(area)
        .margin(6)
        .x_label_area_size(36)
        .y_label_area_size(46)
        .build_cartesian_2d(xa.coord(w.x0, w.x1), ya.coord(w.y0, w.y1))
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc(x_name)
        .y_desc(y_name)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 13))
        .x_label_formatter(&|v| xa.label(v))
        .y_label_formatter(&|v| ya.label(v))
        .bold_line_style(BLACK.mix(0.1))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    let inside = |p: &(f32, f32)| p.0 >= w.x0 && p.0 <= w.x1 && p.1 >= w.y0 && p.1 <= w.y1;
    for &(pts, colour) in sets {
        let style = colour.mix(0.35).filled();
        chart
            .draw_series(
                thin(pts, MAX_POINTS)
                    .filter(inside)
                    .map(|p| Circle::new(p, 1, style)),
            )
            .map_err(|e| plot_error(path, e))?;
    }
    Ok(())
}

/// Normalised histogram (a density) of `v` over `[lo, hi]` in `bins` bins;
/// values outside are left out.
fn density_histogram(v: &[f32], (lo, hi): (f32, f32), bins: usize) -> Vec<f32> {
    let mut h = vec![0f32; bins];
    let width = (hi - lo) / bins as f32;
    for &x in v.iter().filter(|x| x.is_finite()) {
        let b = ((x - lo) / width).floor();
        if b >= 0.0 && (b as usize) < bins {
            h[b as usize] += 1.0;
        }
    }
    let n = v.len().max(1) as f32;
    h.iter_mut().for_each(|c| *c /= n * width);
    h
}

/// A diagonal cell: histograms of data and model values as step lines.
fn histogram(
    path: &Path,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    range: (f32, f32),
    data: &[f32],
    model: &[f32],
    name: &str,
) -> Result<()> {
    const BINS: usize = 30;
    let (hd, hm) = (
        density_histogram(data, range, BINS),
        density_histogram(model, range, BINS),
    );
    let top = hd.iter().chain(&hm).copied().fold(0f32, f32::max).max(1e-6) * 1.1;
    let (xa, ya) = (Axis::linear(range.0, range.1, 5), Axis::linear(0.0, top, 5));
    let mut chart = ChartBuilder::on(area)
        .margin(6)
        .x_label_area_size(36)
        .y_label_area_size(46)
        .build_cartesian_2d(xa.coord(range.0, range.1), ya.coord(0f32, top))
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc(name)
        .y_desc("density")
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 13))
        .x_label_formatter(&|v| xa.label(v))
        .y_label_formatter(&|v| ya.label(v))
        .bold_line_style(BLACK.mix(0.1))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    let width = (range.1 - range.0) / BINS as f32;
    for (h, colour) in [(&hd, DATA_COLOUR), (&hm, MODEL_COLOUR)] {
        let mut steps = vec![(range.0, 0.0)];
        for (b, &c) in h.iter().enumerate() {
            let x = range.0 + b as f32 * width;
            steps.push((x, c));
            steps.push((x + width, c));
        }
        steps.push((range.1, 0.0));
        chart
            .draw_series(LineSeries::new(steps, colour.stroke_width(2)))
            .map_err(|e| plot_error(path, e))?;
    }
    Ok(())
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

/// [`heatmap_with_scale`] with colour bars labelled "value".
pub fn heatmap(path: &Path, panels: &[HeatPanel]) -> Result<()> {
    heatmap_with_scale(path, panels, "value")
}

/// Draws `panels` side by side into a PNG at `path` (written atomically),
/// each a grid of filled rectangles coloured from 0 (white) to the panel's
/// maximum (dark red), with a colour bar beside it whose axis, named
/// `scale_label`, gives the values in the panel's units.
pub fn heatmap_with_scale(path: &Path, panels: &[HeatPanel], scale_label: &str) -> Result<()> {
    for p in panels {
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
    }
    let width = 600 * panels.len().max(1) as u32;
    write_png(path, (width, 520), |root| {
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, p) in areas.iter().zip(panels) {
            let area = area
                .titled(&p.title, ("sans-serif", 18))
                .map_err(|e| plot_error(path, e))?;
            let (aw, _) = area.dim_in_pixel();
            let (left, right) = area.split_horizontally(aw.saturating_sub(110));
            let max = p
                .values
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0f32, f32::max);
            heat_panel(path, &left, p, max)?;
            colour_bar(path, &right, if max > 0.0 { max } else { 1.0 }, scale_label)?;
        }
        Ok(())
    })
}

/// Margins and label areas of a heat map, shared with its colour bar so
/// that both plot areas line up.
const HEAT_MARGIN: u32 = 10;
const HEAT_X_LABELS: u32 = 40;

fn heat_panel(
    path: &Path,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    p: &HeatPanel,
    max: f32,
) -> Result<()> {
    let w = p.window;
    let (xa, ya) = (Axis::linear(w.x0, w.x1, 6), Axis::linear(w.y0, w.y1, 10));
    let mut chart = ChartBuilder::on(area)
        .margin(HEAT_MARGIN)
        .x_label_area_size(HEAT_X_LABELS)
        .y_label_area_size(50)
        .build_cartesian_2d(xa.coord(w.x0, w.x1), ya.coord(w.y0, w.y1))
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("x1")
        .y_desc("x2")
        .label_style(("sans-serif", 13))
        .x_label_formatter(&|v| xa.label(v))
        .y_label_formatter(&|v| ya.label(v))
        .draw()
        .map_err(|e| plot_error(path, e))?;
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
    Ok(())
}

/// A vertical colour bar from 0 to `max`, labelled on its right.
fn colour_bar(
    path: &Path,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    max: f32,
    label: &str,
) -> Result<()> {
    const STRIPS: usize = 128;
    let axis = Axis::linear(0.0, max, 8);
    let mut chart = ChartBuilder::on(area)
        .margin_top(HEAT_MARGIN)
        .margin_bottom(HEAT_MARGIN + HEAT_X_LABELS)
        .margin_left(4)
        .margin_right(4)
        .set_label_area_size(LabelAreaPosition::Right, 70)
        .build_cartesian_2d(Axis::none().coord(0.0, 1.0), axis.coord(0.0, max))
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style(("sans-serif", 13))
        .y_label_formatter(&|v| axis.label(v))
        .draw()
        .map_err(|e| plot_error(path, e))?;
    let h = max / STRIPS as f32;
    chart
        .draw_series((0..STRIPS).map(|k| {
            let y = k as f32 * h;
            Rectangle::new(
                [(0.0, y), (1.0, y + h)],
                ramp((k as f32 + 0.5) / STRIPS as f32).filled(),
            )
        }))
        .map_err(|e| plot_error(path, e))?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.0, 0.0), (1.0, max)],
            BLACK.stroke_width(1),
        )))
        .map_err(|e| plot_error(path, e))?;
    // The scale's name, centred under the bar (where the heat map has its
    // x labels).
    let (w, h) = area.dim_in_pixel();
    let font = ("sans-serif", 15).into_font();
    let (tw, _) = area
        .estimate_text_size(label, &font.clone().into())
        .map_err(|e| plot_error(path, e))?;
    let x = (w as i32 - tw as i32).max(0) / 2;
    area.draw(&Text::new(
        label,
        (x, h as i32 - HEAT_X_LABELS as i32 + 8),
        font,
    ))
    .map_err(|e| plot_error(path, e))?;
    Ok(())
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

/// The learned density as a heat map at [`FEATURES`], with a colour bar
/// in units of p(x | f).
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
    heatmap_with_scale(path, &panels, "p(x | f)")
}

/// The picture of a model trained on a user's CSV: for d = 2, model
/// samples beside the data at three feature vectors (the test rows at the
/// 10%, 50% and 90% ranks of the first feature; the data shown are the 5%
/// of all rows nearest to each in standardised feature space, at least 50);
/// otherwise the
/// pairwise marginals of one model sample per test row (at that row's
/// features) against the test rows.
pub fn user_samples(
    path: &Path,
    data: &super::source::CdeData,
    model: &super::CdeModel,
    seed: u64,
) -> Result<()> {
    use super::ConditionalDensity as _;
    let test = &data.test;
    let (n, d, c) = (test.len(), test.x.dims()[1], test.f.dims()[1]);
    if d != 2 {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
        let samples = ferrograd_autograd::no_grad(|| model.sample(&test.f, &mut rng))?;
        return pairwise_marginals(path, &samples, &test.x, &data.x_names);
    }
    let rows = |t: &Tensor| -> Vec<Vec<f32>> {
        let w = t.dims()[1];
        (0..t.dims()[0])
            .map(|i| t.data()[i * w..(i + 1) * w].to_vec())
            .collect()
    };
    let fs = rows(&test.f);
    let all_f = rows(&Tensor::concat(
        &[&data.train.f, &data.valid.f, &test.f],
        0,
    )?);
    let all_x = rows(&Tensor::concat(
        &[&data.train.x, &data.valid.x, &test.x],
        0,
    )?);
    let m = all_f.len();
    let keep = if c == 0 {
        m.min(1_000)
    } else {
        (m / 20).max(50).min(m)
    };
    let std = data.f_norm.std().to_vec();
    let mut order: Vec<usize> = (0..n).collect();
    if c > 0 {
        order.sort_by(|&a, &b| fs[a][0].total_cmp(&fs[b][0]));
    }
    let picks: Vec<usize> = if c == 0 {
        vec![0]
    } else {
        [0.1, 0.5, 0.9]
            .iter()
            .map(|q| order[((n - 1) as f64 * q).round() as usize])
            .collect()
    };
    let mut owned = Vec::new();
    for (k, &i) in picks.iter().enumerate() {
        let f = &fs[i];
        let dist = |j: usize| -> f32 {
            all_f[j]
                .iter()
                .zip(f)
                .zip(&std)
                .map(|((a, b), s)| ((a - b) / s).powi(2))
                .sum()
        };
        let mut near: Vec<usize> = (0..m).collect();
        near.sort_by(|&a, &b| dist(a).total_cmp(&dist(b)));
        near.truncate(keep);
        let shown: Vec<(f32, f32)> = near.iter().map(|&j| (all_x[j][0], all_x[j][1])).collect();
        let s = model.sample_at_features(f, 1_000, derive_seed(seed, &format!("panel {k}")))?;
        let pts: Vec<(f32, f32)> = s.data().chunks_exact(2).map(|r| (r[0], r[1])).collect();
        let title = if c == 0 {
            "no conditioning columns: all rows".to_string()
        } else {
            let named: Vec<String> = data
                .f_names
                .iter()
                .zip(f)
                .map(|(name, v)| format!("{name} = {}", crate::plot::format_tick(*v as f64)))
                .collect();
            named.join(", ")
        };
        owned.push((title, pts, shown));
    }
    let panels: Vec<SamplePanel> = owned
        .iter()
        .map(|(title, model, data)| SamplePanel {
            title: title.clone(),
            model,
            data,
        })
        .collect();
    samples_beside_data(path, &panels, &data.x_names[0], &data.x_names[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cde::data::Dataset;
    use crate::cde::train::{train, ModelKind};
    use crate::plot::tests::{assert_png, done, plot_dir};

    #[test]
    fn run_plots_are_pngs_of_the_expected_size() {
        let dir = plot_dir("cde-run");
        let cfg = CdeConfig::new(ModelKind::Maf, Dataset::Banana).test_sized();
        let rd = crate::run::RunDir::open(dir.join("run"), crate::run::OpenMode::Fresh).unwrap();
        let run = train(&cfg, &rd, false, true, &mut crate::run::Silent).unwrap();
        let model = crate::cde::load(rd.best()).unwrap().model;
        nll_curves(&dir.join("nll.png"), &cfg, &run.curve).unwrap();
        assert_png(&dir.join("nll.png"), (800, 560));
        samples(&dir.join("samples.png"), &cfg, &model).unwrap();
        assert_png(&dir.join("samples.png"), (760 * 3, 500));
        densities(&dir.join("density.png"), &cfg, &model).unwrap();
        assert_png(&dir.join("density.png"), (600 * 3, 520));
        std::fs::remove_dir_all(dir.join("run")).unwrap();
        done(&dir);
    }

    type Points = Vec<(f32, f32)>;

    /// Deterministic pseudo-normal numbers (a sum of uniforms).
    fn noise(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        let mut uni = move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as f32 / u32::MAX as f32
        };
        (0..n)
            .map(|_| (0..6).map(|_| uni()).sum::<f32>() - 3.0)
            .collect()
    }

    #[test]
    fn user_data_plots() {
        let dir = plot_dir("cde-user");
        let feats = [(0.3f32, 1.2f32), (0.5, -0.4), (0.9, 2.0)];
        let sets: Vec<(Points, Points)> = feats
            .iter()
            .enumerate()
            .map(|(k, &(a, b))| {
                let make = |seed: u32, spread: f32| {
                    let (u, v) = (noise(600, seed), noise(600, seed + 7));
                    u.iter()
                        .zip(&v)
                        .map(|(&u, &v)| (10.0 * a + spread * u, b + 0.5 * u * u + 0.3 * v))
                        .collect::<Vec<_>>()
                };
                (make(k as u32 * 2 + 1, 1.0), make(k as u32 * 2 + 2, 1.2))
            })
            .collect();
        let panels: Vec<SamplePanel> = feats
            .iter()
            .zip(&sets)
            .map(|(&(a, b), (model, data))| SamplePanel {
                title: format!("f = ({a}, {b})"),
                model,
                data,
            })
            .collect();
        let path = dir.join("beside.png");
        samples_beside_data(&path, &panels, "height", "weight").unwrap();
        assert_png(&path, (760 * 3, 500));
        assert!(samples_beside_data(&path, &[], "a", "b").is_err());

        let d = 4;
        let table = |n: usize, seed: u32, scale: f32| {
            let z = noise(n * d, seed);
            let mut v = Vec::with_capacity(n * d);
            for r in z.chunks_exact(d) {
                v.extend([
                    r[0],
                    r[0] + 0.5 * r[1],
                    scale * r[2] * r[2],
                    -3.0 + r[3] * 0.1,
                ]);
            }
            Tensor::from_vec(v, &[n, d]).unwrap()
        };
        let names: Vec<String> = ["a", "b", "c²", "offset"].map(String::from).to_vec();
        let path = dir.join("pairs.png");
        pairwise_marginals(&path, &table(800, 3, 1.0), &table(1000, 4, 1.3), &names).unwrap();
        assert_png(&path, (320 * 4, 320 * 4 + 60));
        // Shapes are checked, and nothing is written on error.
        let bad = dir.join("bad.png");
        assert!(
            pairwise_marginals(&bad, &table(10, 1, 1.0), &table(10, 2, 1.0), &names[..3]).is_err()
        );
        assert!(!bad.exists());
        done(&dir);
    }

    #[test]
    fn histograms_are_densities() {
        let v: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let h = density_histogram(&v, (0.0, 1.0), 10);
        let area: f32 = h.iter().map(|c| c * 0.1).sum();
        assert!((area - 1.0).abs() < 1e-4, "{area}");
    }

    #[test]
    fn heatmaps_check_their_grids() {
        let dir = plot_dir("cde-heat");
        let w = Window {
            x0: -1.0,
            x1: 1.0,
            y0: 0.0,
            y1: 2.0,
        };
        let panel = |values| HeatPanel {
            title: "p".into(),
            window: w,
            nx: 4,
            ny: 4,
            values,
        };
        let path = dir.join("h.png");
        assert!(heatmap(&path, &[panel(vec![1.0; 3])]).is_err());
        let values = (0..16).map(|k| k as f32 * 0.01).collect();
        heatmap(&path, &[panel(values), panel(vec![0.0; 16])]).unwrap();
        assert_png(&path, (1200, 520));
        done(&dir);
    }
}
