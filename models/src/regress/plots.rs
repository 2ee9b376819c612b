//! The PNGs of a regression run: `loss.png` (each part of the objective
//! over the epochs), `pred_vs_true.png` (predicted against true on the
//! validation rows) and, for two or more inputs, `surface.png` (the learned
//! surface over the first two inputs as a heat map, the other inputs at
//! their mean, with the data points on it).

use super::config::RegressConfig;
use super::model::RegressionNet;
use super::train::SplitData;
use crate::plot::{chart, plot_error, write_png, Axis, Series};
use crate::run::RunDir;
use ferrograd_nn::train::read_metrics;
use ferrograd_nn::Result;
use ferrograd_tensor::Tensor;
use plotters::prelude::*;
use std::path::Path;

/// Draws every plot of a run into its folder.
pub fn draw_all(
    run: &RunDir,
    cfg: &RegressConfig,
    model: &RegressionNet,
    split: &SplitData,
) -> Result<()> {
    loss_curves(&run.file("loss.png"), &run.metrics())?;
    pred_vs_true(&run.file("pred_vs_true.png"), cfg, model, split)?;
    if split.train.x.dims()[1] >= 2 {
        surface(&run.file("surface.png"), cfg, model, split)?;
    }
    Ok(())
}

/// The objective's parts (unweighted) and the validation loss over the
/// epochs, on a log scale.
pub fn loss_curves(path: &Path, metrics: &Path) -> Result<()> {
    let records = read_metrics(metrics)?;
    let names = [
        ("train_recon", "reconstruction"),
        ("train_l1", "mean |θ|"),
        ("train_l2", "mean θ²"),
        ("train_grad", "gradient penalty"),
        ("valid_loss", "validation loss (weighted)"),
    ];
    let series: Vec<Series> = names
        .iter()
        .map(|(key, label)| {
            let pts = records
                .iter()
                .filter_map(|r| {
                    let v = r.metrics.get(*key).copied().flatten()?;
                    let e = r.metrics.get("epoch").copied().flatten()?;
                    (v > 0.0).then_some((e as f32, v as f32))
                })
                .collect();
            Series::line(label, pts)
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    chart(path, "loss components", "epoch", "value", &series, true)
}

/// Predicted against true outputs of the validation rows (every output
/// column), with the diagonal.
pub fn pred_vs_true(
    path: &Path,
    cfg: &RegressConfig,
    model: &RegressionNet,
    split: &SplitData,
) -> Result<()> {
    let p = model.predict(&split.valid.x)?;
    let pts: Vec<(f32, f32)> = split
        .valid
        .y
        .data()
        .iter()
        .zip(p.data())
        .map(|(&t, &q)| (t, q))
        .take(20_000)
        .collect();
    let lo = pts
        .iter()
        .map(|p| p.0.min(p.1))
        .fold(f32::INFINITY, f32::min);
    let hi = pts
        .iter()
        .map(|p| p.0.max(p.1))
        .fold(f32::NEG_INFINITY, f32::max);
    let which = if split.valid_is_train {
        "all rows"
    } else {
        "validation rows"
    };
    chart(
        path,
        &format!("{} predicted vs true ({which})", cfg.out_lbl.0.join(", ")),
        "true",
        "predicted",
        &[
            Series::dots("rows", pts),
            Series::line("y = x", vec![(lo, lo), (hi, hi)]),
        ],
        false,
    )
}

fn colour(v: f32) -> RGBColor {
    // viridis-like: dark blue → teal → yellow.
    let stops = [
        (68.0, 1.0, 84.0),
        (33.0, 145.0, 140.0),
        (253.0, 231.0, 37.0),
    ];
    let v = v.clamp(0.0, 1.0) * 2.0;
    let (a, b, t) = if v < 1.0 {
        (stops[0], stops[1], v)
    } else {
        (stops[1], stops[2], v - 1.0)
    };
    let l = |x: f32, y: f32| (x + (y - x) * t).round() as u8;
    RGBColor(l(a.0, b.0), l(a.1, b.1), l(a.2, b.2))
}

/// The learned surface of the first output over the first two inputs.
pub fn surface(
    path: &Path,
    cfg: &RegressConfig,
    model: &RegressionNet,
    split: &SplitData,
) -> Result<()> {
    const N: usize = 80;
    let x = &split.train.x;
    let d = x.dims()[1];
    let col = |j: usize| x.data().iter().skip(j).step_by(d).copied();
    let range = |j: usize| {
        let (lo, hi) = col(j).fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if hi > lo {
            (lo, hi)
        } else {
            (lo - 1.0, lo + 1.0)
        }
    };
    let means: Vec<f32> = (0..d)
        .map(|j| col(j).sum::<f32>() / x.dims()[0].max(1) as f32)
        .collect();
    let ((x0, x1), (y0, y1)) = (range(0), range(1));
    let mut grid = Vec::with_capacity(N * N * d);
    for j in 0..N {
        for i in 0..N {
            let mut row = means.clone();
            row[0] = x0 + (x1 - x0) * (i as f32 + 0.5) / N as f32;
            row[1] = y0 + (y1 - y0) * (j as f32 + 0.5) / N as f32;
            grid.extend(row);
        }
    }
    let pred = model.predict(&Tensor::from_vec(grid, &[N * N, d])?)?;
    let k = model.spec().outputs;
    let values: Vec<f32> = pred.data().iter().step_by(k).copied().collect();
    let (vmin, vmax) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = if vmax > vmin { vmax - vmin } else { 1.0 };
    let names = &cfg.in_lbl.0;
    let title = format!(
        "learned {} over {} and {}",
        cfg.out_lbl.0[0], names[0], names[1]
    );
    write_png(path, (760, 620), |root| {
        let area = root
            .titled(&title, ("sans-serif", 20))
            .map_err(|e| plot_error(path, e))?;
        let (aw, _) = area.dim_in_pixel();
        let (left, right) = area.split_horizontally(aw.saturating_sub(110));
        let (xa, ya) = (Axis::linear(x0, x1, 6), Axis::linear(y0, y1, 8));
        let mut c = ChartBuilder::on(&left)
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(xa.coord(x0, x1), ya.coord(y0, y1))
            .map_err(|e| plot_error(path, e))?;
        c.configure_mesh()
            .disable_mesh()
            .x_desc(names[0].as_str())
            .y_desc(names[1].as_str())
            .label_style(("sans-serif", 13))
            .x_label_formatter(&|v| xa.label(v))
            .y_label_formatter(&|v| ya.label(v))
            .draw()
            .map_err(|e| plot_error(path, e))?;
        let (dx, dy) = ((x1 - x0) / N as f32, (y1 - y0) / N as f32);
        c.draw_series(values.iter().enumerate().map(|(n, &v)| {
            let (i, j) = ((n % N) as f32, (n / N) as f32);
            let (px, py) = (x0 + i * dx, y0 + j * dy);
            Rectangle::new(
                [(px, py), (px + dx, py + dy)],
                colour((v - vmin) / span).filled(),
            )
        }))
        .map_err(|e| plot_error(path, e))?;
        let pts: Vec<(f32, f32)> = x
            .data()
            .chunks_exact(d)
            .take(3000)
            .map(|r| (r[0], r[1]))
            .collect();
        c.draw_series(
            pts.iter()
                .map(|&p| Circle::new(p, 2, RGBColor(240, 240, 240).filled())),
        )
        .map_err(|e| plot_error(path, e))?;
        c.draw_series(
            pts.iter()
                .map(|&p| Circle::new(p, 2, BLACK.stroke_width(1))),
        )
        .map_err(|e| plot_error(path, e))?;
        // Colour bar.
        let axis = Axis::linear(vmin, vmin + span, 8);
        let mut bar = ChartBuilder::on(&right)
            .margin_top(10)
            .margin_bottom(55)
            .margin_left(4)
            .margin_right(4)
            .set_label_area_size(LabelAreaPosition::Right, 60)
            .build_cartesian_2d(Axis::none().coord(0.0, 1.0), axis.coord(vmin, vmin + span))
            .map_err(|e| plot_error(path, e))?;
        bar.configure_mesh()
            .disable_mesh()
            .label_style(("sans-serif", 13))
            .y_label_formatter(&|v| axis.label(v))
            .draw()
            .map_err(|e| plot_error(path, e))?;
        let h = span / 128.0;
        bar.draw_series((0..128).map(|s| {
            let y = vmin + s as f32 * h;
            Rectangle::new(
                [(0.0, y), (1.0, y + h)],
                colour((s as f32 + 0.5) / 128.0).filled(),
            )
        }))
        .map_err(|e| plot_error(path, e))?;
        Ok(())
    })
}
