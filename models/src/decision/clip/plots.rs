//! `retrieval.png`: a few test scenes, enlarged, each beside the three
//! canonical captions (of all 300 combinations) that the model ranks
//! highest, green when the caption describes the scene and red otherwise.

use super::scenes::{all_combinations, canonical_caption, Attributes, SceneSet, SIDE};
use crate::plot::{plot_error, write_png};
use ferrograd_nn::Result;
use plotters::prelude::*;
use std::path::Path;

/// One scene of the picture with its ranked captions.
pub struct Shown {
    /// The scene's `[3, 32, 32]` pixels.
    pub pixels: Vec<f32>,
    /// What the scene shows.
    pub truth: Attributes,
    /// The top captions: combination and cosine similarity, best first.
    pub top: Vec<(Attributes, f32)>,
}

/// The `shown` scenes from `set` with the top 3 of `table` (unit-norm
/// canonical-caption embeddings in [`Attributes::index`] order) for each
/// image embedding of `img`.
pub fn pick(set: &SceneSet, img: &[Vec<f32>], table: &[Vec<f32>], shown: usize) -> Vec<Shown> {
    let combos = all_combinations();
    (0..shown.min(set.len()))
        .map(|i| {
            let scores: Vec<f32> = table
                .iter()
                .map(|t| t.iter().zip(&img[i]).map(|(a, b)| a * b).sum())
                .collect();
            let top = super::eval::top_k(&scores, 3)
                .into_iter()
                .map(|j| (combos[j], scores[j]))
                .collect();
            Shown {
                pixels: set.scenes[i].render(),
                truth: set.scenes[i].attributes,
                top,
            }
        })
        .collect()
}

const SCALE: i32 = 3;
const CELL_W: i32 = 520;
const CELL_H: i32 = 112;
const RIGHT: RGBColor = RGBColor(20, 130, 40);
const WRONG: RGBColor = RGBColor(200, 40, 30);

/// Draws `shown` in two columns under `title` into `path` (atomically).
pub fn retrieval_png(path: &Path, title: &str, shown: &[Shown]) -> Result<()> {
    if shown.is_empty() {
        return Err(plot_error(path, "no scenes to draw"));
    }
    let cols = 2;
    let rows = shown.len().div_ceil(cols) as i32;
    let size = ((CELL_W * cols as i32) as u32, (40 + CELL_H * rows) as u32);
    write_png(path, size, |root| {
        let err = |e| plot_error(path, e);
        root.draw(&Text::new(title, (12, 10), ("sans-serif", 18).into_font()))
            .map_err(err)?;
        let plane = SIDE * SIDE;
        for (k, s) in shown.iter().enumerate() {
            let x0 = (k % cols) as i32 * CELL_W + 10;
            let y0 = 40 + (k / cols) as i32 * CELL_H;
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let c = |ch: usize| (s.pixels[ch * plane + y * SIDE + x] * 255.0).round() as u8;
                    let (px, py) = (x0 + x as i32 * SCALE, y0 + y as i32 * SCALE);
                    root.draw(&Rectangle::new(
                        [(px, py), (px + SCALE, py + SCALE)],
                        RGBColor(c(0), c(1), c(2)).filled(),
                    ))
                    .map_err(err)?;
                }
            }
            let tx = x0 + SIDE as i32 * SCALE + 12;
            let truth = format!("shows: {}", s.truth.describe());
            root.draw(&Text::new(truth, (tx, y0), ("sans-serif", 15).into_font()))
                .map_err(err)?;
            for (r, (a, sim)) in s.top.iter().enumerate() {
                let colour = if *a == s.truth { RIGHT } else { WRONG };
                let line = format!("{}. {} ({sim:.2})", r + 1, canonical_caption(a));
                let font = ("sans-serif", 14).into_font().color(&colour);
                root.draw(&Text::new(line, (tx, y0 + 22 + 20 * r as i32), font))
                    .map_err(err)?;
            }
        }
        Ok(())
    })
}
