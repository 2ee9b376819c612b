//! The pictures of a flow run: the loss trajectory (training loss and test
//! Chamfer per epoch) and grids of point clouds (real test clouds beside
//! generated ones).

use crate::plot::{chart, plot_error, write_png, Series};
use ferrograd_nn::Result;
use ferrograd_tensor::Tensor;
use plotters::prelude::*;
use std::path::Path;

/// Colour of real clouds.
pub const REAL: RGBColor = RGBColor(31, 90, 170);
/// Colour of generated clouds.
pub const GENERATED: RGBColor = RGBColor(200, 50, 40);

/// `loss_trajectory.png`: the training loss and the test reconstruction
/// Chamfer distance against the epoch, on a log scale.
pub fn loss_trajectory(
    path: &Path,
    title: &str,
    loss: &[(f32, f32)],
    chamfer: &[(f32, f32)],
) -> Result<()> {
    chart(
        path,
        title,
        "epoch",
        "value (log scale)",
        &[
            Series::line("training loss (flow matching MSE)", loss.to_vec()),
            Series::line("test reconstruction Chamfer", chamfer.to_vec()),
        ],
        true,
    )
}

/// One panel of a [`cloud_grid`]: a caption, the points and their colour.
pub struct CloudPanel {
    /// Caption above the panel.
    pub caption: String,
    /// The cloud.
    pub points: Vec<[f32; 2]>,
    /// Dot colour.
    pub colour: RGBColor,
}

/// The clouds of `[B, N, 2]` as panels with `caption(i)` and `colour`.
pub fn panels(
    clouds: &Tensor,
    colour: RGBColor,
    caption: impl Fn(usize) -> String,
) -> Vec<CloudPanel> {
    let n = clouds.dims().get(1).copied().unwrap_or(0);
    clouds
        .data()
        .chunks_exact(2 * n.max(1))
        .enumerate()
        .map(|(i, c)| CloudPanel {
            caption: caption(i),
            points: c.chunks_exact(2).map(|p| [p[0], p[1]]).collect(),
            colour,
        })
        .collect()
}

/// A grid of clouds, `cols` panels per row, each on [−1.1, 1.1]² with
/// equal scales (so a digit keeps its shape); written atomically.
pub fn cloud_grid(path: &Path, title: &str, panels: &[CloudPanel], cols: usize) -> Result<()> {
    if panels.is_empty() || cols == 0 {
        return Err(plot_error(path, "no clouds to draw"));
    }
    let rows = panels.len().div_ceil(cols);
    const CELL: u32 = 170;
    let size = (CELL * cols as u32, CELL * rows as u32 + 40);
    write_png(path, size, |root| {
        let area = root
            .titled(title, ("sans-serif", 20))
            .map_err(|e| plot_error(path, e))?;
        for (cell, p) in area.split_evenly((rows, cols)).iter().zip(panels) {
            let mut c = ChartBuilder::on(cell)
                .margin(6)
                .caption(&p.caption, ("sans-serif", 13))
                .build_cartesian_2d(-1.1f32..1.1f32, -1.1f32..1.1f32)
                .map_err(|e| plot_error(path, e))?;
            c.configure_mesh()
                .disable_mesh()
                .disable_x_axis()
                .disable_y_axis()
                .draw()
                .map_err(|e| plot_error(path, e))?;
            c.plotting_area()
                .draw(&Rectangle::new(
                    [(-1.1f32, -1.1f32), (1.1, 1.1)],
                    BLACK.mix(0.25),
                ))
                .map_err(|e| plot_error(path, e))?;
            let style = p.colour.mix(0.8).filled();
            c.draw_series(
                p.points
                    .iter()
                    .filter(|q| q[0].is_finite() && q[1].is_finite())
                    .map(|q| Circle::new((q[0], q[1]), 1, style)),
            )
            .map_err(|e| plot_error(path, e))?;
        }
        Ok(())
    })
}

/// `samples.png` of a run: the first `n` test clouds (blue) each beside its
/// reconstruction from its code (red), and, with `prior`, a row of clouds
/// generated from z ~ N(0, I) (red).
pub fn samples(
    path: &Path,
    title: &str,
    real: &Tensor,
    recon: &Tensor,
    prior: Option<&Tensor>,
) -> Result<()> {
    let real_p = panels(real, REAL, |i| format!("test cloud {}", i + 1));
    let recon_p = panels(recon, GENERATED, |i| format!("from its code {}", i + 1));
    let mut all = Vec::new();
    for (a, b) in real_p.into_iter().zip(recon_p) {
        all.push(a);
        all.push(b);
    }
    if let Some(p) = prior {
        all.extend(panels(p, GENERATED, |i| format!("z ~ N(0, I) #{}", i + 1)));
    }
    cloud_grid(path, title, &all, 8)
}
