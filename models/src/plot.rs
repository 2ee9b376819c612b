//! PNG plots (plotters, bitmap backend): line charts and scatter plots with
//! a title, axis labels and a legend.

use ferrograd_nn::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// One named series of points, drawn as a line or as dots.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points (x, y).
    pub points: Vec<(f32, f32)>,
    /// Dots instead of a line.
    pub dots: bool,
}

impl Series {
    /// A line.
    pub fn line(label: &str, points: Vec<(f32, f32)>) -> Series {
        Series {
            label: label.to_string(),
            points,
            dots: false,
        }
    }

    /// Dots.
    pub fn dots(label: &str, points: Vec<(f32, f32)>) -> Series {
        Series {
            label: label.to_string(),
            points,
            dots: true,
        }
    }
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        problem: format!("could not draw the plot: {e}"),
    }
}

fn bounds(series: &[Series], log_y: bool) -> (f32, f32, f32, f32) {
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log_y || *y > 0.0));
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, if log_y { 0.1 } else { 0.0 }, 1.0);
    }
    if x1 - x0 < 1e-6 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-6 {
        y1 = y0 + 1.0;
    }
    if log_y {
        (x0, x1, y0 * 0.8, y1 * 1.25)
    } else {
        let pad = 0.05 * (y1 - y0);
        (x0, x1, y0 - pad, y1 + pad)
    }
}

/// Draws `series` into a PNG at `path` (written to a temporary file, then
/// renamed). `log_y` uses a logarithmic y axis (non-positive values skipped).
pub fn chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<()> {
    let tmp = path.with_extension("partial.png"); // the encoder picks the format by extension
    {
        let root = BitMapBackend::new(&tmp, (800, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        let (x0, x1, y0, y1) = bounds(series, log_y);
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60);
        let palette = [&BLUE, &RED, &GREEN, &MAGENTA, &CYAN, &BLACK];
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(x_label)
                    .y_desc(y_label)
                    .draw()
                    .map_err(|e| plot_error(path, e))?;
                for (i, s) in series.iter().enumerate() {
                    let color = palette[i % palette.len()];
                    let pts =
                        s.points.iter().copied().filter(|(x, y)| {
                            x.is_finite() && y.is_finite() && (!log_y || *y > 0.0)
                        });
                    if s.dots {
                        chart
                            .draw_series(pts.map(|p| Circle::new(p, 3, color.filled())))
                            .map_err(|e| plot_error(path, e))?
                            .label(s.label.as_str())
                            .legend(move |(x, y)| Circle::new((x + 10, y), 3, color.filled()));
                    } else {
                        chart
                            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                            .map_err(|e| plot_error(path, e))?
                            .label(s.label.as_str())
                            .legend(move |(x, y)| {
                                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                            });
                    }
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| plot_error(path, e))?;
            }};
        }
        if log_y {
            draw!(builder
                .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                .map_err(|e| plot_error(path, e))?);
        } else {
            draw!(builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| plot_error(path, e))?);
        }
        root.present().map_err(|e| plot_error(path, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png() {
        let dir = std::env::temp_dir().join(format!("ferrograd-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.png");
        let s = vec![
            Series::line(
                "sin",
                (0..50)
                    .map(|i| (i as f32 * 0.1, (i as f32 * 0.1).sin() + 1.5))
                    .collect(),
            ),
            Series::dots("pts", vec![(1.0, 1.0), (2.0, 2.0)]),
        ];
        chart(&path, "test", "x", "y", &s, true).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
