//! `retrieval.png`: a few test images, enlarged, each beside the three
//! captions that the model ranks highest (for built-in scenes, of the
//! canonical captions of all 300 combinations), green when the caption
//! describes the image and red otherwise.

use super::pairs::Pairs;
use super::scenes::{all_combinations, canonical_caption, Attributes, SceneSet, SIDE};
use crate::plot::{plot_error, write_png};
use ferrograd_nn::Result;
use plotters::prelude::*;
use std::path::Path;

/// One image of the picture with its ranked captions.
pub struct Shown {
    /// The image's `[3, 32, 32]` pixels.
    pub pixels: Vec<f32>,
    /// What the image shows.
    pub truth: String,
    /// The top captions: text, cosine similarity and whether it is right,
    /// best first.
    pub top: Vec<(String, f32, bool)>,
}

/// The first `shown` images of `set` (embedded as `img`), each with the
/// top 3 of `candidates` (unit-norm caption embeddings `table`, match
/// keys `keys`).
pub fn pick(
    set: &Pairs,
    img: &[Vec<f32>],
    candidates: &[String],
    table: &[Vec<f32>],
    keys: &[usize],
    shown: usize,
) -> Vec<Shown> {
    (0..shown.min(set.len()))
        .map(|i| {
            let scores: Vec<f32> = table
                .iter()
                .map(|t| t.iter().zip(&img[i]).map(|(a, b)| a * b).sum())
                .collect();
            let top = super::eval::top_k(&scores, 3)
                .into_iter()
                .map(|j| (candidates[j].clone(), scores[j], keys[j] == set.keys[i]))
                .collect();
            Shown {
                pixels: set.pixels[i].clone(),
                truth: set.captions[i].clone(),
                top,
            }
        })
        .collect()
}

/// [`pick`] for built-in scenes: the candidates are the canonical captions
/// of all 300 combinations (`table` in [`Attributes::index`] order), and
/// each scene is named by its attributes.
pub fn pick_scenes(
    set: &SceneSet,
    img: &[Vec<f32>],
    table: &[Vec<f32>],
    shown: usize,
) -> Vec<Shown> {
    let combos = all_combinations();
    let texts: Vec<String> = combos.iter().map(canonical_caption).collect();
    let keys: Vec<usize> = combos.iter().map(Attributes::index).collect();
    let mut v = pick(&Pairs::from_scenes(set), img, &texts, table, &keys, shown);
    for (s, scene) in v.iter_mut().zip(&set.scenes) {
        s.truth = scene.attributes.describe();
    }
    v
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
            let truth = format!("shows: {}", s.truth);
            root.draw(&Text::new(truth, (tx, y0), ("sans-serif", 15).into_font()))
                .map_err(err)?;
            for (r, (caption, sim, right)) in s.top.iter().enumerate() {
                let colour = if *right { RIGHT } else { WRONG };
                let line = format!("{}. {caption} ({sim:.2})", r + 1);
                let font = ("sans-serif", 14).into_font().color(&colour);
                root.draw(&Text::new(line, (tx, y0 + 22 + 20 * r as i32), font))
                    .map_err(err)?;
            }
        }
        Ok(())
    })
}
