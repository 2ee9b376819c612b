//! Image–caption pairs as the evaluation and the user-data path see them
//! (pixels already decoded), and the reader of a user's pairs: a JSON-lines
//! file of `{"image": PATH, "caption": TEXT}`, each image (PNG, JPEG or BMP,
//! any size; paths relative to the file) resized to 32×32 RGB.

use super::scenes::{SceneSet, SIDE};
use ferrograd_nn::{Error, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// Images with one caption each, and a key per pair: two pairs with the
/// same key describe the same thing (a retrieval of either counts as
/// right).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pairs {
    /// `[3, 32, 32]` values in [0, 1] per image, channels first.
    pub pixels: Vec<Vec<f32>>,
    /// One caption per image.
    pub captions: Vec<String>,
    /// The match key of each pair.
    pub keys: Vec<usize>,
}

impl Pairs {
    /// Rendered scenes, keyed by their combination of attributes.
    pub fn from_scenes(set: &SceneSet) -> Pairs {
        Pairs {
            pixels: set.scenes.iter().map(|s| s.render()).collect(),
            captions: set.captions.clone(),
            keys: set.scenes.iter().map(|s| s.attributes.index()).collect(),
        }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pixels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// The pairs `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Pairs {
        Pairs {
            pixels: rows.iter().map(|&i| self.pixels[i].clone()).collect(),
            captions: rows.iter().map(|&i| self.captions[i].clone()).collect(),
            keys: rows.iter().map(|&i| self.keys[i]).collect(),
        }
    }

    /// The images `rows` as one `[len, 3, 32, 32]` buffer.
    pub fn flat_pixels(&self, rows: std::ops::Range<usize>) -> Vec<f32> {
        self.pixels[rows].concat()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    image: String,
    caption: String,
}

/// An image file as `[3, 32, 32]` values in [0, 1] (resized with a
/// triangle filter, alpha dropped).
pub fn read_image(path: &Path) -> Result<Vec<f32>> {
    let img = image::open(path).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        problem: format!("not a readable PNG, JPEG or BMP image: {e}"),
    })?;
    let side = SIDE as u32;
    let rgb = image::imageops::resize(
        &img.to_rgb8(),
        side,
        side,
        image::imageops::FilterType::Triangle,
    );
    let plane = SIDE * SIDE;
    let mut out = vec![0.0; 3 * plane];
    for (i, p) in rgb.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = p.0[c] as f32 / 255.0;
        }
    }
    Ok(out)
}

/// Reads a JSON-lines file of pairs (blank lines skipped). Pairs whose
/// captions have the same words (case and punctuation aside) share a key.
/// Errors name the file and line: bad JSON, unknown or missing fields, an
/// empty caption, an unreadable image, fewer than `min` pairs.
pub fn read_pairs(path: &Path, min: usize) -> Result<Pairs> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let bad = |line: usize, problem: String| Error::Format {
        path: path.to_path_buf(),
        problem: format!("line {line}: {problem}"),
    };
    let mut pairs = Pairs::default();
    let mut keys: HashMap<Vec<String>, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw).map_err(|e| {
            bad(
                i + 1,
                format!("expected {{\"image\": PATH, \"caption\": TEXT}}: {e}"),
            )
        })?;
        let words: Vec<String> = super::vocab::words(&line.caption)
            .into_iter()
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .collect();
        if words.is_empty() {
            return Err(bad(i + 1, "the caption is empty".into()));
        }
        let img = read_image(&base.join(&line.image))
            .map_err(|e| bad(i + 1, format!("image '{}': {e}", line.image)))?;
        let next = keys.len();
        pairs.keys.push(*keys.entry(words).or_insert(next));
        pairs.pixels.push(img);
        pairs.captions.push(line.caption);
    }
    if pairs.len() < min {
        return Err(Error::Format {
            path: path.to_path_buf(),
            problem: format!("needs at least {min} pairs, found {}", pairs.len()),
        });
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pairs_resizes_images_and_names_bad_lines() {
        let dir = std::env::temp_dir().join(format!("ferrograd-clip-pairs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A 64×48 image: red left half, blue right half.
        let img = image::RgbImage::from_fn(64, 48, |x, _| {
            if x < 32 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        });
        img.save(dir.join("a.png")).unwrap();
        let file = dir.join("pairs.jsonl");
        std::fs::write(
            &file,
            "{\"image\": \"a.png\", \"caption\": \"Red, then blue\"}\n\n\
             {\"image\": \"a.png\", \"caption\": \"red then BLUE\"}\n\
             {\"image\": \"a.png\", \"caption\": \"two halves\"}\n",
        )
        .unwrap();
        let p = read_pairs(&file, 2).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.keys, [0, 0, 1]);
        let plane = SIDE * SIDE;
        let px = &p.pixels[0];
        assert_eq!(px.len(), 3 * plane);
        assert!(px[0] > 0.9 && px[2 * plane] < 0.1, "top left is red");
        assert!(px[SIDE - 1] < 0.1 && px[2 * plane + SIDE - 1] > 0.9);
        assert!(read_pairs(&file, 4)
            .unwrap_err()
            .to_string()
            .contains("at least 4"));
        for (body, needle) in [
            ("{\"image\": \"a.png\"}\n", "line 1"),
            (
                "{\"image\": \"a.png\", \"caption\": \" , \"}\n",
                "caption is empty",
            ),
            (
                "{\"image\": \"nope.png\", \"caption\": \"x\"}\n",
                "nope.png",
            ),
            ("not json\n", "line 1"),
        ] {
            std::fs::write(&file, body).unwrap();
            let e = read_pairs(&file, 1).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains("pairs.jsonl"), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
