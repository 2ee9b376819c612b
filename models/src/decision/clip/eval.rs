//! Evaluation of a dual encoder: image→text and text→image retrieval
//! (top-1 and top-5) within a set of scenes, and zero-shot attribute
//! accuracy (each image scored against canonical captions that vary one
//! attribute). Within a set several scenes can share one combination of
//! attributes; a retrieved item counts as correct when its combination is
//! the query's, and the chance level is computed exactly for that rule.

use super::model::{normalise_rows, DualEncoder};
use super::pairs::Pairs;
use super::scenes::{all_combinations, canonical_caption, Attribute, Attributes, SceneSet, SIDE};
use super::vocab::Vocab;
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::Result;
use ferrograd_tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Images or texts per forward pass when embedding in bulk.
const CHUNK: usize = 256;

/// Unit-norm image embeddings of every image of `set`.
pub fn embed_images(model: &DualEncoder, set: &Pairs) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(set.len());
    for start in (0..set.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(set.len());
        let px = Tensor::from_vec(set.flat_pixels(start..end), &[end - start, 3, SIDE, SIDE])?;
        let e = no_grad(|| model.image.forward(&Var::constant(px)))?;
        out.extend(normalise_rows(e.value()));
    }
    Ok(out)
}

/// Unit-norm text embeddings of `texts`.
pub fn embed_texts(model: &DualEncoder, vocab: &Vocab, texts: &[String]) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(CHUNK) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let enc = vocab.encode(&refs, model.config().max_tokens)?;
        let e = no_grad(|| model.text.forward(&enc))?;
        out.extend(normalise_rows(e.value()));
    }
    Ok(out)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Indices of the `k` largest of `scores`, largest first.
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]).then(i.cmp(&j)));
    idx.truncate(k);
    idx
}

/// The probability that `k` items drawn at random from `n` include at
/// least one of `m` correct ones.
pub fn chance_at_k(n: usize, m: usize, k: usize) -> f64 {
    let mut miss = 1.0;
    for i in 0..k.min(n) {
        miss *= (n - m).saturating_sub(i) as f64 / (n - i) as f64;
    }
    1.0 - miss
}

/// Retrieval within a gallery of scenes and their captions: each query
/// image ranks every caption of the gallery, each query caption every
/// image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Retrieval {
    /// Query scenes (each asked as an image and as a caption).
    pub queries: usize,
    /// Scenes (and captions) in the gallery, the queries among them.
    pub gallery: usize,
    /// Image → text: the top caption describes the image's combination.
    pub image_to_text_top1: f64,
    /// Image → text: one of the top 5 captions does.
    pub image_to_text_top5: f64,
    /// Text → image: the top image shows the caption's combination.
    pub text_to_image_top1: f64,
    /// Text → image: one of the top 5 images does.
    pub text_to_image_top5: f64,
    /// Top-1 accuracy of a random ranking (either direction).
    pub chance_top1: f64,
    /// Top-5 accuracy of a random ranking.
    pub chance_top5: f64,
}

/// [`Retrieval`] of images `img` against texts `txt` (row `i` of each
/// belongs to pair `i`, whose match key is `keys[i]`), asking the pairs
/// `queries`.
pub fn retrieval(
    img: &[Vec<f32>],
    txt: &[Vec<f32>],
    keys: &[usize],
    queries: &[usize],
) -> Retrieval {
    let attrs = keys;
    let n = img.len();
    let (mut i1, mut i5, mut t1, mut t5, mut c1, mut c5) = (0, 0, 0, 0, 0.0, 0.0);
    for &q in queries {
        let hit = |j: &usize| attrs[*j] == attrs[q];
        let row: Vec<f32> = txt.iter().map(|b| dot(&img[q], b)).collect();
        let col: Vec<f32> = img.iter().map(|a| dot(a, &txt[q])).collect();
        let (row, col) = (top_k(&row, 5), top_k(&col, 5));
        i1 += hit(&row[0]) as usize;
        i5 += row.iter().any(hit) as usize;
        t1 += hit(&col[0]) as usize;
        t5 += col.iter().any(hit) as usize;
        let m = attrs.iter().filter(|a| **a == attrs[q]).count();
        c1 += chance_at_k(n, m, 1);
        c5 += chance_at_k(n, m, 5);
    }
    let q = queries.len().max(1) as f64;
    let f = |c: usize| c as f64 / q;
    Retrieval {
        queries: queries.len(),
        gallery: n,
        image_to_text_top1: f(i1),
        image_to_text_top5: f(i5),
        text_to_image_top1: f(t1),
        text_to_image_top5: f(t5),
        chance_top1: c1 / q,
        chance_top5: c5 / q,
    }
}

/// Zero-shot accuracy of naming each attribute: the image against the
/// canonical captions of its combination with that one attribute changed
/// to every value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZeroShot {
    /// Images scored.
    pub scenes: usize,
    /// Colour accuracy (chance 1/6).
    pub colour: f64,
    /// Shape accuracy (chance 1/5).
    pub shape: f64,
    /// Size accuracy (chance 1/2).
    pub size: f64,
    /// Position accuracy (chance 1/5).
    pub position: f64,
    /// The whole combination: the top of all 300 canonical captions
    /// (chance 1/300).
    pub all_attributes: f64,
}

/// Unit-norm embeddings of the canonical caption of every combination, in
/// [`Attributes::index`] order.
pub fn caption_table(model: &DualEncoder, vocab: &Vocab) -> Result<Vec<Vec<f32>>> {
    let texts: Vec<String> = all_combinations().iter().map(canonical_caption).collect();
    embed_texts(model, vocab, &texts)
}

/// [`ZeroShot`] of images `img` showing `attrs`, against `table` (from
/// [`caption_table`]).
pub fn zero_shot(img: &[Vec<f32>], attrs: &[Attributes], table: &[Vec<f32>]) -> ZeroShot {
    let mut right = [0usize; 4];
    let mut all = 0;
    for (e, a) in img.iter().zip(attrs) {
        for (k, attr) in Attribute::ALL.iter().enumerate() {
            let scores: Vec<f32> = (0..attr.count())
                .map(|v| dot(e, &table[a.with(*attr, v).index()]))
                .collect();
            right[k] += (top_k(&scores, 1)[0] == a.get(*attr)) as usize;
        }
        let scores: Vec<f32> = table.iter().map(|t| dot(e, t)).collect();
        all += (top_k(&scores, 1)[0] == a.index()) as usize;
    }
    let f = |c: usize| c as f64 / img.len().max(1) as f64;
    ZeroShot {
        scenes: img.len(),
        colour: f(right[0]),
        shape: f(right[1]),
        size: f(right[2]),
        position: f(right[3]),
        all_attributes: f(all),
    }
}

/// The evaluation of a model on its run's test sets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The data: `built-in scenes` or the user's pairs file.
    pub data: String,
    /// Retrieval among the test pairs: new scenes of the combinations seen
    /// in training, or the user's test pairs.
    pub test: Retrieval,
    /// Built-in scenes: retrieval of the held-out scenes in a gallery of
    /// the held-out and the seen test scenes together (so a red triangle
    /// competes with red circles and green triangles).
    pub held_out: Option<Retrieval>,
    /// Built-in scenes: zero-shot attribute accuracy on the held-out scenes.
    pub zero_shot_held_out: Option<ZeroShot>,
    /// Built-in scenes: zero-shot attribute accuracy on the seen-combination
    /// test scenes.
    pub zero_shot_seen: Option<ZeroShot>,
    /// The learned temperature τ.
    pub temperature: f64,
    /// Optimizer steps of the evaluated checkpoint, if recorded.
    pub step: Option<u64>,
    /// Training wall time in seconds, if recorded.
    pub train_seconds: Option<f64>,
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

impl fmt::Display for Retrieval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "image→text top-1 {} top-5 {}, text→image top-1 {} top-5 {} (chance {} / {}; {} queries \
             in a gallery of {})",
            pct(self.image_to_text_top1),
            pct(self.image_to_text_top5),
            pct(self.text_to_image_top1),
            pct(self.text_to_image_top5),
            pct(self.chance_top1),
            pct(self.chance_top5),
            self.queries,
            self.gallery
        )
    }
}

impl fmt::Display for ZeroShot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "colour {} (chance 16.7%), shape {} (20%), size {} (50%), position {} (20%), \
             all four {} (0.3%)",
            pct(self.colour),
            pct(self.shape),
            pct(self.size),
            pct(self.position),
            pct(self.all_attributes)
        )
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.held_out {
            Some(h) => {
                writeln!(f, "retrieval, seen combinations: {}", self.test)?;
                writeln!(f, "retrieval, held-out combinations: {h}")?;
            }
            None => writeln!(f, "retrieval, test pairs of {}: {}", self.data, self.test)?,
        }
        if let Some(z) = &self.zero_shot_held_out {
            writeln!(f, "zero-shot, held-out combinations: {z}")?;
        }
        if let Some(z) = &self.zero_shot_seen {
            writeln!(f, "zero-shot, seen combinations: {z}")?;
        }
        write!(f, "learned temperature {:.4}", self.temperature)
    }
}

/// Retrieval within `test`.
pub fn evaluate_pairs(model: &DualEncoder, vocab: &Vocab, test: &Pairs) -> Result<Retrieval> {
    let img = embed_images(model, test)?;
    let txt = embed_texts(model, vocab, &test.captions)?;
    let all: Vec<usize> = (0..img.len()).collect();
    Ok(retrieval(&img, &txt, &test.keys, &all))
}

/// Scores `model` on the user's test pairs.
pub fn evaluate_user(
    model: &DualEncoder,
    vocab: &Vocab,
    data: &str,
    test: &Pairs,
) -> Result<EvalReport> {
    Ok(EvalReport {
        data: data.to_string(),
        test: evaluate_pairs(model, vocab, test)?,
        held_out: None,
        zero_shot_held_out: None,
        zero_shot_seen: None,
        temperature: model.temperature()?.item()? as f64,
        step: None,
        train_seconds: None,
    })
}

/// Scores `model` on the built-in test sets: retrieval among the seen
/// scenes, retrieval of the held-out scenes among both, and zero-shot
/// attribute accuracy on each.
pub fn evaluate(
    model: &DualEncoder,
    vocab: &Vocab,
    seen: &SceneSet,
    held_out: &SceneSet,
) -> Result<EvalReport> {
    let table = caption_table(model, vocab)?;
    let (sp, hp) = (Pairs::from_scenes(seen), Pairs::from_scenes(held_out));
    let (si, hi) = (embed_images(model, &sp)?, embed_images(model, &hp)?);
    let st = embed_texts(model, vocab, &sp.captions)?;
    let ht = embed_texts(model, vocab, &hp.captions)?;
    let s = retrieval(&si, &st, &sp.keys, &(0..si.len()).collect::<Vec<_>>());
    let queries: Vec<usize> = (si.len()..si.len() + hi.len()).collect();
    let h = retrieval(
        &[si.clone(), hi.clone()].concat(),
        &[st, ht].concat(),
        &[sp.keys.clone(), hp.keys.clone()].concat(),
        &queries,
    );
    let zs = zero_shot(&si, &seen.attributes(), &table);
    let zh = zero_shot(&hi, &held_out.attributes(), &table);
    Ok(EvalReport {
        data: "built-in scenes".into(),
        test: s,
        held_out: Some(h),
        zero_shot_held_out: Some(zh),
        zero_shot_seen: Some(zs),
        temperature: model.temperature()?.item()? as f64,
        step: None,
        train_seconds: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(colour: usize) -> Attributes {
        Attributes {
            colour,
            shape: 0,
            size: 0,
            position: 0,
        }
    }

    #[test]
    fn chance_is_exact_for_small_cases() {
        assert!((chance_at_k(10, 1, 1) - 0.1).abs() < 1e-12);
        assert!((chance_at_k(10, 1, 5) - 0.5).abs() < 1e-12);
        assert!((chance_at_k(4, 2, 2) - (1.0 - 2.0 / 4.0 * 1.0 / 3.0)).abs() < 1e-12);
        assert_eq!(chance_at_k(3, 3, 1), 1.0);
    }

    #[test]
    fn retrieval_counts_matching_combinations() {
        // Scenes 0 and 1 share a combination; image 2 looks like text 0.
        let attrs = [a(0).index(), a(0).index(), a(1).index()];
        let img = vec![vec![1.0, 0.0], vec![0.9, 0.1], vec![0.8, 0.6]];
        let txt = vec![vec![1.0, 0.0], vec![0.9, 0.1], vec![0.0, 1.0]];
        let r = retrieval(&img, &txt, &attrs, &[0, 1, 2]);
        assert_eq!((r.queries, r.gallery), (3, 3));
        // Image 2 retrieves text 0, of another combination: 2 of 3 right.
        assert!((r.image_to_text_top1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.image_to_text_top5, 1.0);
        // Text 1 finds image 0 first, which shares its combination: right.
        assert_eq!(r.text_to_image_top1, 1.0);
        let c1 = (2.0 / 3.0 + 2.0 / 3.0 + 1.0 / 3.0) / 3.0;
        assert!((r.chance_top1 - c1).abs() < 1e-12);
        // Only scene 2 asked: wrong one way, right the other.
        let r = retrieval(&img, &txt, &attrs, &[2]);
        assert_eq!((r.image_to_text_top1, r.text_to_image_top1), (0.0, 1.0));
        assert!((r.chance_top1 - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(top_k(&[0.1, 0.5, 0.3], 2), [1, 2]);
    }
}
