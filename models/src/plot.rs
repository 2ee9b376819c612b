//! PNG plots (plotters, bitmap backend): line charts and scatter plots with
//! a title, axis labels and a legend, and the helpers every plot of this
//! crate shares: tick selection ([`linear_ticks`], [`log_ticks`]), tick
//! labels ([`format_tick`], [`format_tick_step`]), legend placement
//! ([`legend_spot`]) and one atomic PNG writer.

use ferrograd_nn::{Error, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf32;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;
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

/// The error of a failed drawing operation on the plot at `path`.
pub(crate) fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        problem: format!("could not draw the plot: {e}"),
    }
}

/// Draws a `size` PNG with `draw` and writes it to `path` atomically: the
/// picture goes to a uniquely named temporary file in the same folder
/// (ending in `.png`, as the encoder picks the format by extension), which
/// is flushed to disk and renamed over `path`. On any error the temporary
/// file is removed and an existing `path` is left as it was. Every plot of
/// this crate is written through here.
pub(crate) fn write_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<()> {
    let tmp = ferrograd_nn::atomic::temp_path(path)?;
    {
        let root = BitMapBackend::new(tmp.path(), size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        draw(&root)?;
        root.present().map_err(|e| plot_error(path, e))?;
    }
    ferrograd_nn::atomic::commit(tmp)
}

/// The largest "nice" step (1, 2 or 5 × 10^k) not above `x` (so the next
/// smaller nice step is `nice_below(step * 0.99)`).
fn nice_below(x: f64) -> f64 {
    let p = 10f64.powf(x.log10().floor());
    for m in [5.0, 2.0, 1.0] {
        if m * p <= x * (1.0 + 1e-9) {
            return m * p;
        }
    }
    p / 2.0
}

/// Multiples of `step` within `[lo, hi]` (zero snapped to exactly 0).
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // Through decimal text, so that ticks are exactly 0.6, not 0.6000000000000001.
    let decimals = (-step.log10()).ceil().max(0.0) as usize + 1;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            format!("{v:.decimals$}").parse().unwrap_or(v) + 0.0
        })
        .collect()
}

/// Ticks for a linear axis over `[lo, hi]`: the multiples of a step of
/// 1, 2 or 5 × 10^k, about `target` of them and never fewer than 3 (for
/// a non-empty, finite range).
pub fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    linear_ticks_step(lo, hi, target).0
}

/// [`linear_ticks`] and the step between them.
pub fn linear_ticks_step(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if !(lo.is_finite() && hi.is_finite()) || hi - lo <= 0.0 {
        return (vec![lo], 1.0);
    }
    let target = target.max(3);
    // Start at the smallest nice step giving at most `target` ticks ...
    let mut step = nice_below((hi - lo) / (target - 1) as f64);
    while multiples(lo, hi, step).len() > target {
        step = nice_below(step * 2.6); // the next larger nice step
    }
    // ... and refine until there are at least 3.
    while multiples(lo, hi, step).len() < 3 {
        step = nice_below(step * 0.99);
    }
    (multiples(lo, hi, step), step)
}

/// Ticks for a logarithmic axis over `[lo, hi]` (both positive): 1-2-5 per
/// decade; 1…9 per decade when 1-2-5 gives fewer than 5 (and 1…9 gives 5
/// to 15); half steps as well (1, 1.5, 2, …, 5, 6, …) when 1…9 gives fewer
/// than 5; linear ticks when all give fewer than 3 (a range narrower than a
/// factor of about 1.5); one tick per decade (or per few decades) when
/// 1-2-5 gives more than 12.
/// Always at least 3 ticks for a non-empty range.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if !(lo > 0.0 && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let decades = |mantissas: &[f64], every: i32| -> Vec<f64> {
        let (d0, d1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let mut out = Vec::new();
        for d in (d0..=d1).filter(|d| d.rem_euclid(every) == 0) {
            for &m in mantissas {
                // Parse the decimal text, so that ticks are exactly 0.5, not
                // 0.5000000000000001.
                let v: f64 = format!("{m}e{d}").parse().unwrap_or(m * 10f64.powi(d));
                if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                    out.push(v);
                }
            }
        }
        out
    };
    let t = decades(&[1.0, 2.0, 5.0], 1);
    if t.len() > 12 {
        let mut every = 1;
        loop {
            let t = decades(&[1.0], every);
            if t.len() <= 10 {
                return t;
            }
            every += 1;
        }
    }
    if t.len() >= 5 {
        return t;
    }
    // Under about two decades: every integer mantissa, so the curve is
    // never more than a factor of 2 from a labelled tick.
    let fine = decades(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 1);
    if fine.len() >= 5 && fine.len() <= 15 {
        return fine;
    }
    // Under a factor of about 3: half steps too.
    let halves = decades(
        &[
            1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0,
        ],
        1,
    );
    if halves.len() >= 3 && halves.len() <= 15 {
        return halves;
    }
    if fine.len() >= 3 && fine.len() <= 15 {
        return fine;
    }
    if t.len() >= 3 {
        return t;
    }
    linear_ticks(lo, hi, 5)
}

/// A tick label: at most 4 significant digits without trailing zeros,
/// scientific notation below 1e-3 and from 1e5 on, and never "-0".
pub fn format_tick(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let s = if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        trim_zeros(format!("{v:.digits$}"))
    } else {
        let s = format!("{v:.3e}");
        match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim_zeros(m.to_string())),
            None => s,
        }
    };
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        "0".into()
    } else {
        s
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A tick label on a linear axis whose ticks are `step` apart: as many
/// decimals as the step needs (so 0.5, 1.0, 1.5 print as "0.5", "1.0",
/// "1.5"), scientific notation for very small or large magnitudes, and
/// never "-0".
pub fn format_tick_step(v: f64, step: f64) -> String {
    if !(step.is_finite() && step > 0.0) {
        return format_tick(v);
    }
    if v.abs() < step * 1e-6 {
        return "0".into();
    }
    let big = v.abs().max(step);
    if step < 1e-4 || big >= 1e6 {
        return format_tick(v);
    }
    let decimals = (-step.log10() - 1e-9).ceil().max(0.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        "0".into()
    } else {
        s
    }
}

/// One axis of a chart: its ticks and how their labels are formatted.
#[derive(Clone, Debug)]
pub(crate) struct Axis {
    /// Tick positions.
    pub ticks: Vec<f32>,
    step: Option<f64>,
}

impl Axis {
    /// A linear axis over `[lo, hi]` with about `target` ticks.
    pub fn linear(lo: f32, hi: f32, target: usize) -> Axis {
        let (t, step) = linear_ticks_step(lo as f64, hi as f64, target);
        Axis {
            ticks: t.into_iter().map(|v| v as f32).collect(),
            step: Some(step),
        }
    }

    /// A logarithmic axis over `[lo, hi]`.
    pub fn log(lo: f32, hi: f32) -> Axis {
        Axis {
            ticks: log_ticks(lo as f64, hi as f64)
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            step: None,
        }
    }

    /// An axis without ticks.
    pub fn none() -> Axis {
        Axis {
            ticks: Vec::new(),
            step: None,
        }
    }

    /// A linear coordinate over `[lo, hi]` with these ticks.
    pub fn coord(&self, lo: f32, hi: f32) -> Ticked<RangedCoordf32> {
        Ticked {
            inner: (lo..hi).into(),
            ticks: self.ticks.clone(),
        }
    }

    /// A logarithmic coordinate over `[lo, hi]` with these ticks.
    pub fn log_coord(&self, lo: f32, hi: f32) -> Ticked<LogCoord<f32>> {
        Ticked {
            inner: (lo..hi).log_scale().into(),
            ticks: self.ticks.clone(),
        }
    }

    /// The label of the tick at `v`.
    pub fn label(&self, v: &f32) -> String {
        // Through the shortest decimal text of the f32, so 0.3f32 is 0.3.
        let v: f64 = format!("{v}").parse().unwrap_or(*v as f64);
        match self.step {
            Some(s) => format_tick_step(v, s),
            None => format_tick(v),
        }
    }
}

/// A coordinate whose ticks (and grid lines) are exactly `ticks`, with
/// labels from the mesh's label formatter (plotters' own `WithKeyPoints`
/// cannot be given a formatter on f32 axes).
pub(crate) struct Ticked<R: Ranged> {
    inner: R,
    ticks: Vec<R::ValueType>,
}

impl<R: Ranged> Ranged for Ticked<R>
where
    R::ValueType: Clone,
{
    type ValueType = R::ValueType;
    type FormatOption = DefaultFormatting;

    fn range(&self) -> Range<Self::ValueType> {
        self.inner.range()
    }

    fn map(&self, value: &Self::ValueType, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<Self::ValueType> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn axis_pixel_range(&self, limit: (i32, i32)) -> Range<i32> {
        self.inner.axis_pixel_range(limit)
    }
}

/// A legend position inside the plot area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spot {
    /// Top left corner.
    UpperLeft,
    /// Top edge, centred.
    UpperMiddle,
    /// Top right corner.
    UpperRight,
    /// Bottom left corner.
    LowerLeft,
    /// Bottom edge, centred.
    LowerMiddle,
    /// Bottom right corner.
    LowerRight,
}

impl Spot {
    const ALL: [Spot; 6] = [
        Spot::UpperRight,
        Spot::UpperLeft,
        Spot::LowerRight,
        Spot::LowerLeft,
        Spot::UpperMiddle,
        Spot::LowerMiddle,
    ];

    fn position(self) -> SeriesLabelPosition {
        match self {
            Spot::UpperLeft => SeriesLabelPosition::UpperLeft,
            Spot::UpperMiddle => SeriesLabelPosition::UpperMiddle,
            Spot::UpperRight => SeriesLabelPosition::UpperRight,
            Spot::LowerLeft => SeriesLabelPosition::LowerLeft,
            Spot::LowerMiddle => SeriesLabelPosition::LowerMiddle,
            Spot::LowerRight => SeriesLabelPosition::LowerRight,
        }
    }

    /// The box `[x0, x1] × [y0, y1]` (fractions of the plot area, y up) of
    /// a `w × h` legend with edge gap `gap`.
    fn rect(self, w: f64, h: f64, gap: (f64, f64)) -> (f64, f64, f64, f64) {
        let (x0, y0) = match self {
            Spot::UpperLeft => (gap.0, 1.0 - gap.1 - h),
            Spot::UpperMiddle => (0.5 - w / 2.0, 1.0 - gap.1 - h),
            Spot::UpperRight => (1.0 - gap.0 - w, 1.0 - gap.1 - h),
            Spot::LowerLeft => (gap.0, gap.1),
            Spot::LowerMiddle => (0.5 - w / 2.0, gap.1),
            Spot::LowerRight => (1.0 - gap.0 - w, gap.1),
        };
        (x0, x0 + w, y0, y0 + h)
    }
}

/// Where a legend of `w × h` (fractions of the plot area) covers the fewest
/// of `pts` (fractions of the plot area, x right, y up; lines should be
/// passed densified), and how many it covers there. `gap` is the legend's
/// distance from the edges (fractions), and also the clearance kept
/// around it. Ties go to the upper right, then
/// the upper left, lower right, lower left, top centre, bottom centre.
pub fn legend_spot(pts: &[(f64, f64)], w: f64, h: f64, gap: (f64, f64)) -> (Spot, usize) {
    let mut best = (Spot::UpperRight, usize::MAX);
    for spot in Spot::ALL {
        let (x0, x1, y0, y1) = spot.rect(w, h, gap);
        // Keep a clearance of one gap around the box.
        let (x0, x1, y0, y1) = (x0 - gap.0, x1 + gap.0, y0 - gap.1, y1 + gap.1);
        let n = pts
            .iter()
            .filter(|&&(x, y)| x >= x0 && x <= x1 && y >= y0 && y <= y1)
            .count();
        if n < best.1 {
            best = (spot, n);
        }
    }
    best
}

/// The points of `series` as fractions of the window (x right, y up), lines
/// densified to about 1/300 of the window so that a segment crossing a box
/// counts.
fn fractions(series: &[Series], x: (f64, f64), y: (f64, f64), log_y: bool) -> Vec<(f64, f64)> {
    let ty = |v: f64| if log_y { v.ln() } else { v };
    let (ya, yb) = (ty(y.0), ty(y.1));
    let frac = |&(px, py): &(f32, f32)| {
        (
            (px as f64 - x.0) / (x.1 - x.0),
            (ty(py as f64) - ya) / (yb - ya),
        )
    };
    let mut out = Vec::new();
    for s in series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| usable(p, log_y))
            .map(frac)
            .collect();
        if s.dots {
            out.extend(pts);
            continue;
        }
        for w in pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let n = (((b.0 - a.0).hypot(b.1 - a.1)) * 300.0)
                .ceil()
                .clamp(1.0, 3000.0) as usize;
            for k in 0..n {
                let t = k as f64 / n as f64;
                out.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
            }
        }
        out.extend(pts.last().copied());
    }
    out
}

fn usable(&(x, y): &(f32, f32), log_y: bool) -> bool {
    x.is_finite() && y.is_finite() && (!log_y || y > 0.0)
}

fn bounds(series: &[Series], log_y: bool) -> (f32, f32, f32, f32) {
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for &(x, y) in series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| usable(p, log_y))
    {
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
    if log_y {
        if y1 / y0 < 1.01 {
            (y0, y1) = (y0 / 1.5, y1 * 1.5);
        }
        (x0, x1, y0 / 1.15, y1 * 1.15)
    } else {
        if y1 - y0 < 1e-6 {
            (y0, y1) = (y0 - 0.5, y1 + 0.5);
        }
        let pad = 0.05 * (y1 - y0);
        (x0, x1, y0 - pad, y1 + pad)
    }
}

const CHART_SIZE: (u32, u32) = (800, 560);
const MARGIN: u32 = 12;
const X_LABEL_AREA: u32 = 45;
const Y_LABEL_AREA: u32 = 65;
const LEGEND_FONT: u32 = 15;

/// Draws `series` into a PNG at `path` (written atomically). `log_y` uses a
/// logarithmic y axis (non-positive values skipped). The legend goes where
/// it covers the fewest points; when every spot would cover some, the y
/// range is extended upwards to make room above the data.
pub fn chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<()> {
    write_png(path, CHART_SIZE, |root| {
        let area = root
            .titled(title, ("sans-serif", 22))
            .map_err(|e| plot_error(path, e))?;
        let (aw, ah) = area.dim_in_pixel();
        let plot_w = aw.saturating_sub(2 * MARGIN + Y_LABEL_AREA).max(1) as f64;
        let plot_h = ah.saturating_sub(2 * MARGIN + X_LABEL_AREA).max(1) as f64;
        let (x0, x1, y0, mut y1) = bounds(series, log_y);

        // The legend's size as plotters lays it out: the widest label plus
        // the 30 px sample area and two 10 px margins; lines of 1.2 em.
        let font: TextStyle = ("sans-serif", LEGEND_FONT).into_font().into();
        let mut label_w = 0u32;
        for s in series {
            let (w, _) = area
                .estimate_text_size(&s.label, &font)
                .map_err(|e| plot_error(path, e))?;
            label_w = label_w.max(w);
        }
        let legend_w = (label_w + 30 + 20) as f64 / plot_w;
        let legend_h = (series.len() as f64 * LEGEND_FONT as f64 * 1.25 + 22.0) / plot_h;
        let gap = (5.0 / plot_w, 5.0 / plot_h);
        let pts = fractions(
            series,
            (x0 as f64, x1 as f64),
            (y0 as f64, y1 as f64),
            log_y,
        );
        let (mut spot, covered) = legend_spot(&pts, legend_w, legend_h, gap);
        if covered > 0 {
            // Room above the data: the data keeps the lower part of the axis.
            let keep = (1.0 - legend_h - 2.0 * gap.1).max(0.3) as f32;
            y1 = if log_y {
                (y0.ln() + (y1.ln() - y0.ln()) / keep).exp()
            } else {
                y0 + (y1 - y0) / keep
            };
            spot = Spot::UpperRight;
        }
        let xa = Axis::linear(x0, x1, 10);
        let ya = if log_y {
            Axis::log(y0, y1)
        } else {
            Axis::linear(y0, y1, 8)
        };
        let mut builder = ChartBuilder::on(&area);
        builder
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA);
        let palette = [&BLUE, &RED, &GREEN, &MAGENTA, &CYAN, &BLACK];
        let xr = xa.coord(x0, x1);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(x_label)
                    .y_desc(y_label)
                    .label_style(("sans-serif", 14))
                    .axis_desc_style(("sans-serif", 16))
                    .x_label_formatter(&|v| xa.label(v))
                    .y_label_formatter(&|v| ya.label(v))
                    .light_line_style(WHITE)
                    .bold_line_style(BLACK.mix(0.12))
                    .draw()
                    .map_err(|e| plot_error(path, e))?;
                for (i, s) in series.iter().enumerate() {
                    let color = palette[i % palette.len()];
                    let pts = s.points.iter().copied().filter(|p| usable(p, log_y));
                    if s.dots {
                        chart
                            .draw_series(pts.map(|p| Circle::new(p, 4, color.filled())))
                            .map_err(|e| plot_error(path, e))?
                            .label(s.label.as_str())
                            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
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
                    .position(spot.position())
                    .label_font(("sans-serif", LEGEND_FONT))
                    .background_style(WHITE.mix(0.9))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| plot_error(path, e))?;
            }};
        }
        if log_y {
            draw!(builder
                .build_cartesian_2d(xr, ya.log_coord(y0, y1))
                .map_err(|e| plot_error(path, e))?);
        } else {
            draw!(builder
                .build_cartesian_2d(xr, ya.coord(y0, y1))
                .map_err(|e| plot_error(path, e))?);
        }
        Ok(())
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    /// A fresh folder for one test's pictures, kept when
    /// `FERROGRAD_KEEP_PLOTS` is set (to look at them).
    pub(crate) fn plot_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ferrograd-plots-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Checks that `path` is a PNG of `size` and that no temporary file is
    /// left beside it.
    pub(crate) fn assert_png(path: &Path, size: (u32, u32)) {
        let bytes = fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
        assert_eq!(&bytes[12..16], b"IHDR");
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), size, "{}", path.display());
        let dir = path.parent().unwrap();
        for e in fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.contains(".tmp"), "temporary file {name} left behind");
        }
    }

    pub(crate) fn done(dir: &Path) {
        if std::env::var_os("FERROGRAD_KEEP_PLOTS").is_none() {
            fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn log_ticks_cover_the_curve() {
        let t = log_ticks(0.3, 3.5);
        for v in [0.5, 1.0, 2.0] {
            assert!(t.contains(&v), "{t:?}");
        }
        assert!(t.len() >= 3);
        // A MAML-like loss curve settling near 0.34: labels below 1.
        let t = log_ticks(0.3, 5.0);
        assert!(t.iter().filter(|&&v| v < 1.0).count() >= 1, "{t:?}");
        // A short noisy run between 2.3 and 5.1: labels below 3.
        let t = log_ticks(2.0, 5.9);
        assert!(t.contains(&2.5) && t.contains(&5.0), "{t:?}");
        // Narrow ranges still get at least 3 labels.
        for (lo, hi) in [(0.31, 0.45), (1.02, 1.3), (7.0, 13.0), (0.33, 0.34)] {
            let t = log_ticks(lo, hi);
            assert!(t.len() >= 3, "{lo}..{hi}: {t:?}");
            assert!(t.iter().all(|&v| v >= lo && v <= hi), "{t:?}");
        }
        // Wide ranges stay readable.
        let t = log_ticks(1e-8, 1e6);
        assert!((3..=10).contains(&t.len()), "{t:?}");
    }

    #[test]
    fn linear_ticks_are_nice_and_enough() {
        assert_eq!(
            linear_ticks(0.0, 1.0, 6),
            vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        );
        let t = linear_ticks(-0.05, 0.05, 5);
        assert!(t.contains(&0.0) && t.len() >= 3, "{t:?}");
        for (lo, hi) in [(0.31, 0.32), (-3.7, 12.9), (1e4, 1e4 + 3.0), (0.0, 200.0)] {
            let t = linear_ticks(lo, hi, 8);
            assert!((3..=8).contains(&t.len()), "{lo}..{hi}: {t:?}");
        }
    }

    #[test]
    fn tick_labels_have_no_negative_zero() {
        assert_eq!(format_tick(-0.0), "0");
        assert_eq!(format_tick(-1e-12), "-1e-12");
        assert_eq!(format_tick(0.5), "0.5");
        assert_eq!(format_tick(2.0), "2");
        assert_eq!(format_tick(0.30000001192092896), "0.3");
        assert_eq!(format_tick(2e-5), "2e-5");
        assert_eq!(format_tick(1234.6), "1235");
        assert_eq!(format_tick_step(-0.0, 0.5), "0");
        assert_eq!(format_tick_step(-1e-17, 0.5), "0");
        assert_eq!(format_tick_step(-0.04, 0.5), "0");
        assert_eq!(format_tick_step(1.5, 0.5), "1.5");
        assert_eq!(format_tick_step(1.0, 0.5), "1.0");
        assert_eq!(format_tick_step(-2.0, 1.0), "-2");
        assert_eq!(format_tick_step(0.02, 0.01), "0.02");
        let labels: Vec<String> = linear_ticks(-1.03, 1.03, 8)
            .into_iter()
            .map(|v| format_tick_step(v, 0.5))
            .collect();
        assert!(labels.contains(&"0".to_string()), "{labels:?}");
        let zero_is_plain = |l: &String| l == "0" || l.parse::<f64>().unwrap() != 0.0;
        assert!(labels.iter().all(zero_is_plain), "{labels:?}");
        for (lo, hi) in [(-1.0, 1.0), (-0.3, 0.1), (-7.3, 2.2), (-1e-3, 1e-3)] {
            let a = Axis::linear(lo, hi, 5);
            let labels: Vec<String> = a.ticks.iter().map(|v| a.label(v)).collect();
            assert!(labels.contains(&"0".to_string()), "{labels:?}");
            assert!(labels.iter().all(zero_is_plain), "{labels:?}");
        }
    }

    #[test]
    fn legend_goes_where_the_points_are_not() {
        // Points fill the upper right quarter: the legend goes elsewhere.
        let pts: Vec<(f64, f64)> = (0..100)
            .map(|i| {
                (
                    0.55 + 0.004 * i as f64,
                    0.55 + 0.0045 * (i % 10) as f64 * 10.0,
                )
            })
            .collect();
        let (spot, n) = legend_spot(&pts, 0.3, 0.2, (0.01, 0.01));
        assert_eq!(n, 0);
        assert_ne!(spot, Spot::UpperRight);
        // A decaying curve (upper left to lower right): upper right is free.
        let pts: Vec<(f64, f64)> = (0..=100)
            .map(|i| (i as f64 / 100.0, (-(i as f64) / 15.0).exp()))
            .collect();
        assert_eq!(
            legend_spot(&pts, 0.3, 0.2, (0.01, 0.01)),
            (Spot::UpperRight, 0)
        );
    }

    #[test]
    fn writes_charts() {
        let dir = plot_dir("chart");
        // A MAML-like meta-training loss on a log axis.
        let loss: Vec<(f32, f32)> = (0..=70)
            .map(|i| {
                let it = i as f32 * 100.0;
                (it, 0.34 + 3.0 * (-it / 800.0).exp())
            })
            .collect();
        let path = dir.join("log.png");
        chart(
            &path,
            "meta-training loss",
            "iteration",
            "loss",
            &[Series::line("MAML, K = 10", loss)],
            true,
        )
        .unwrap();
        assert_png(&path, CHART_SIZE);
        // Curves filling the whole area with dots, legend of five rows.
        let grid: Vec<f32> = (0..=200).map(|i| -5.0 + 0.05 * i as f32).collect();
        let mut series = vec![Series::line(
            "true function",
            grid.iter().map(|&x| (x, 3.0 * (x + 0.5).sin())).collect(),
        )];
        for (k, name) in ["after 0 steps", "after 1 step", "after 10 steps"]
            .iter()
            .enumerate()
        {
            let a = 0.5 + k as f32;
            series.push(Series::line(
                name,
                grid.iter().map(|&x| (x, a * (x + 0.3).sin())).collect(),
            ));
        }
        series.push(Series::dots(
            "10 support points",
            (0..10)
                .map(|i| (-4.5 + i as f32, 3.0 * (-4.0 + i as f32).sin()))
                .collect(),
        ));
        let path = dir.join("lines.png");
        chart(&path, "adaptation", "x", "y", &series, false).unwrap();
        assert_png(&path, CHART_SIZE);
        // Degenerate input: no points, one flat point.
        let path = dir.join("empty.png");
        chart(
            &path,
            "empty",
            "x",
            "y",
            &[Series::line("none", vec![])],
            true,
        )
        .unwrap();
        assert_png(&path, CHART_SIZE);
        let path = dir.join("flat.png");
        chart(
            &path,
            "flat",
            "x",
            "y",
            &[Series::dots("one", vec![(1.0, -0.0)])],
            false,
        )
        .unwrap();
        assert_png(&path, CHART_SIZE);
        done(&dir);
    }

    #[test]
    fn maml_run_plots() {
        use crate::maml::sinusoid::{plot_adaptation, train, SinusoidConfig};
        let dir = plot_dir("maml");
        let cfg = SinusoidConfig {
            shots: 5,
            iterations: 60,
            meta_batch: 4,
            hidden: crate::run::config::List(vec![16, 16]),
            eval_tasks: 10,
            eval_points: 20,
            log_every: 5,
            valid_every: 30,
            valid_tasks: 5,
            meta_lr: 3e-3,
            ..SinusoidConfig::default()
        };
        let run = crate::run::RunDir::open(dir.join("run"), crate::run::OpenMode::Fresh).unwrap();
        train(&cfg, &run, false, false, &mut crate::run::Silent).unwrap();
        assert_png(&dir.join("run/training_loss.png"), CHART_SIZE);
        let (_, m) = crate::maml::sinusoid::load(&run.best()).unwrap();
        let paths = plot_adaptation(&cfg, &m, &dir, 1).unwrap();
        assert_eq!(paths.len(), 1);
        assert_png(&paths[0], CHART_SIZE);
        done(&dir);
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        let dir = plot_dir("fail");
        let path = dir.join("x.png");
        let err = write_png(&path, (10, 10), |_| Err(plot_error(&path, "refused"))).unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        done(&dir);
    }
}
