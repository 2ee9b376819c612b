//! The built-in data of the dual encoder: seeded 32×32 RGB scenes of one
//! shape each (colour, shape, size, position, with jittered placement,
//! tint, background and pixel noise), captions in several phrasings, and
//! the split of attribute combinations: the colour×shape pairs of
//! [`HELD_OUT`] never appear in training.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Side of a scene in pixels.
pub const SIDE: usize = 32;
/// Colour names and their base RGB.
pub const COLOURS: [(&str, [f32; 3]); 6] = [
    ("red", [0.86, 0.16, 0.16]),
    ("green", [0.16, 0.70, 0.24]),
    ("blue", [0.20, 0.31, 0.90]),
    ("yellow", [0.90, 0.82, 0.16]),
    ("purple", [0.59, 0.24, 0.78]),
    ("cyan", [0.16, 0.78, 0.82]),
];
/// Shape names.
pub const SHAPES: [&str; 5] = ["circle", "square", "triangle", "diamond", "cross"];
/// Size names.
pub const SIZES: [&str; 2] = ["small", "large"];
/// Position names.
pub const POSITIONS: [&str; 5] = ["left", "right", "top", "bottom", "centre"];
/// The colour×shape pairs (indices into [`COLOURS`] and [`SHAPES`]) held
/// out of training: red triangle, green square, blue circle, yellow cross,
/// purple diamond, cyan triangle. Every colour and every shape is still
/// seen in training, with other partners.
pub const HELD_OUT: [(usize, usize); 6] = [(0, 2), (1, 1), (2, 0), (3, 4), (4, 3), (5, 2)];

/// The four attributes that the names above describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attribute {
    /// One of [`COLOURS`].
    Colour,
    /// One of [`SHAPES`].
    Shape,
    /// One of [`SIZES`].
    Size,
    /// One of [`POSITIONS`].
    Position,
}

impl Attribute {
    /// All four, in order.
    pub const ALL: [Attribute; 4] = [
        Attribute::Colour,
        Attribute::Shape,
        Attribute::Size,
        Attribute::Position,
    ];

    /// How many values the attribute takes.
    pub fn count(self) -> usize {
        match self {
            Attribute::Colour => COLOURS.len(),
            Attribute::Shape => SHAPES.len(),
            Attribute::Size => SIZES.len(),
            Attribute::Position => POSITIONS.len(),
        }
    }

    /// The attribute's name (`colour`, `shape`, `size`, `position`).
    pub fn name(self) -> &'static str {
        match self {
            Attribute::Colour => "colour",
            Attribute::Shape => "shape",
            Attribute::Size => "size",
            Attribute::Position => "position",
        }
    }
}

/// One combination of attribute values (indices into the name tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attributes {
    /// Index into [`COLOURS`].
    pub colour: usize,
    /// Index into [`SHAPES`].
    pub shape: usize,
    /// Index into [`SIZES`].
    pub size: usize,
    /// Index into [`POSITIONS`].
    pub position: usize,
}

impl Attributes {
    /// The value of `a`.
    pub fn get(&self, a: Attribute) -> usize {
        match a {
            Attribute::Colour => self.colour,
            Attribute::Shape => self.shape,
            Attribute::Size => self.size,
            Attribute::Position => self.position,
        }
    }

    /// The same combination with `a` set to `value`.
    pub fn with(mut self, a: Attribute, value: usize) -> Attributes {
        match a {
            Attribute::Colour => self.colour = value,
            Attribute::Shape => self.shape = value,
            Attribute::Size => self.size = value,
            Attribute::Position => self.position = value,
        }
        self
    }

    /// Whether the colour×shape pair is one of [`HELD_OUT`].
    pub fn held_out(&self) -> bool {
        HELD_OUT.contains(&(self.colour, self.shape))
    }

    /// A short name: `small red circle, left`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {}, {}",
            SIZES[self.size], COLOURS[self.colour].0, SHAPES[self.shape], POSITIONS[self.position]
        )
    }

    /// A dense index in `0..300` (for tables over every combination).
    pub fn index(&self) -> usize {
        ((self.colour * SHAPES.len() + self.shape) * SIZES.len() + self.size) * POSITIONS.len()
            + self.position
    }
}

/// Every combination of the four attributes (300), in [`Attributes::index`]
/// order.
pub fn all_combinations() -> Vec<Attributes> {
    let mut v = Vec::new();
    for colour in 0..COLOURS.len() {
        for shape in 0..SHAPES.len() {
            for size in 0..SIZES.len() {
                for position in 0..POSITIONS.len() {
                    v.push(Attributes {
                        colour,
                        shape,
                        size,
                        position,
                    });
                }
            }
        }
    }
    v
}

/// Which combinations a set draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The combinations whose colour×shape pair is not held out (240).
    Seen,
    /// The combinations of the held-out pairs (60).
    HeldOut,
}

/// The combinations of `split`.
pub fn combinations(split: Split) -> Vec<Attributes> {
    all_combinations()
        .into_iter()
        .filter(|a| a.held_out() == (split == Split::HeldOut))
        .collect()
}

/// A scene: its attributes and the random details of its drawing.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    /// What the scene shows.
    pub attributes: Attributes,
    /// Centre of the shape in pixels (x right, y down).
    pub centre: (f32, f32),
    /// The shape's radius in pixels.
    pub radius: f32,
    /// The shape's RGB in [0, 1].
    pub rgb: [f32; 3],
    /// The background grey level.
    pub background: f32,
    /// Seed of the pixel noise.
    pub noise_seed: u64,
}

/// Standard deviation of the pixel noise.
const NOISE: f32 = 0.03;

/// The nominal centre of a position.
fn anchor(position: usize) -> (f32, f32) {
    let (lo, mid, hi) = (8.5, 16.0, 23.5);
    match position {
        0 => (lo, mid),
        1 => (hi, mid),
        2 => (mid, lo),
        3 => (mid, hi),
        _ => (mid, mid),
    }
}

impl Scene {
    /// A scene of `attributes` with details drawn from `rng`: the centre
    /// within ±2 px of the position's anchor, radius 3.5–4.5 px (small) or
    /// 6–7 px (large), the colour tinted by ±0.08 per channel, a
    /// background grey in [0.08, 0.25].
    pub fn sample(attributes: Attributes, rng: &mut impl Rng) -> Scene {
        let (ax, ay) = anchor(attributes.position);
        let centre = (
            ax + rng.random_range(-2.0..2.0),
            ay + rng.random_range(-2.0..2.0),
        );
        let radius = match attributes.size {
            0 => rng.random_range(3.5..4.5),
            _ => rng.random_range(6.0..7.0),
        };
        let base = COLOURS[attributes.colour].1;
        let rgb = base.map(|c: f32| (c + rng.random_range(-0.08..0.08)).clamp(0.0, 1.0));
        Scene {
            attributes,
            centre,
            radius,
            rgb,
            background: rng.random_range(0.08..0.25),
            noise_seed: rng.random(),
        }
    }

    /// Whether the point `(dx, dy)` from the centre is inside the shape.
    /// Every shape covers about πr², so size does not depend on shape.
    fn inside(&self, dx: f32, dy: f32) -> bool {
        let r = self.radius;
        match self.attributes.shape {
            0 => dx * dx + dy * dy <= r * r,
            1 => dx.abs() <= 0.886 * r && dy.abs() <= 0.886 * r,
            2 => {
                // Apex up at −1.3r, base at +1.1r, half-width 1.3r at the base.
                let depth = dy + 1.3 * r;
                (0.0..=2.4 * r).contains(&depth) && dx.abs() <= 1.3 * r * depth / (2.4 * r)
            }
            3 => dx.abs() + dy.abs() <= 1.253 * r,
            _ => {
                let (t, l) = (0.4 * r, 1.2 * r);
                (dx.abs() <= t && dy.abs() <= l) || (dy.abs() <= t && dx.abs() <= l)
            }
        }
    }

    /// The fraction of pixel `(x, y)` covered by the shape (4×4 samples).
    fn coverage(&self, x: usize, y: usize) -> f32 {
        let mut n = 0;
        for sy in 0..4 {
            for sx in 0..4 {
                let px = x as f32 + (sx as f32 + 0.5) / 4.0;
                let py = y as f32 + (sy as f32 + 0.5) / 4.0;
                n += self.inside(px - self.centre.0, py - self.centre.1) as u32;
            }
        }
        n as f32 / 16.0
    }

    /// The scene as `[3, 32, 32]` values in [0, 1] (channels first, rows
    /// top to bottom), the same for the same scene.
    pub fn render(&self) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(self.noise_seed);
        let plane = SIDE * SIDE;
        let mut out = vec![0.0; 3 * plane];
        for y in 0..SIDE {
            for x in 0..SIDE {
                let a = self.coverage(x, y);
                for (ch, &c) in self.rgb.iter().enumerate() {
                    let noise = NOISE * (rng.random::<f32>() + rng.random::<f32>() - 1.0) * 1.7;
                    let v = a * c + (1.0 - a) * self.background + noise;
                    out[ch * plane + y * SIDE + x] = v.clamp(0.0, 1.0);
                }
            }
        }
        out
    }
}

/// Position phrases of the caption templates, by template group.
const POSITION_PHRASES: [[&str; 5]; 4] = [
    [
        "on the left",
        "on the right",
        "at the top",
        "at the bottom",
        "in the centre",
    ],
    [
        "left side",
        "right side",
        "top side",
        "bottom side",
        "centre",
    ],
    ["left", "right", "top", "bottom", "centre"],
    [
        "to the left",
        "to the right",
        "near the top",
        "near the bottom",
        "in the middle",
    ],
];
/// Size words: the first is the attribute's name.
const SIZE_WORDS: [[&str; 3]; 2] = [["small", "little", "tiny"], ["large", "big", "huge"]];
/// Number of caption templates.
pub const TEMPLATES: usize = 5;

/// The caption of `a` in template `template` (mod [`TEMPLATES`]) with size
/// word `size_word` (mod 3; template 4 always uses the size's name).
/// Template 0 with size word 0 is the canonical phrasing
/// ("a small red circle on the left").
pub fn caption_with(a: &Attributes, template: usize, size_word: usize) -> String {
    let colour = COLOURS[a.colour].0;
    let shape = SHAPES[a.shape];
    let size = SIZE_WORDS[a.size][size_word % 3];
    let pos = |g: usize| POSITION_PHRASES[g][a.position];
    match template % TEMPLATES {
        0 => format!("a {size} {colour} {shape} {}", pos(0)),
        1 => format!("{colour} {shape}, {size}, {}", pos(1)),
        2 => format!("there is a {size} {shape} {} and it is {colour}", pos(0)),
        3 => format!("{}: a {colour} {shape}, {size}", pos(2)),
        _ => format!("a {colour} {shape} of {} size {}", SIZES[a.size], pos(3)),
    }
}

/// The canonical caption of `a` ("a small red circle on the left").
pub fn canonical_caption(a: &Attributes) -> String {
    caption_with(a, 0, 0)
}

/// A caption of `a` in a template and size word drawn from `rng`.
pub fn caption(a: &Attributes, rng: &mut impl Rng) -> String {
    caption_with(a, rng.random_range(0..TEMPLATES), rng.random_range(0..3))
}

/// Every caption the generator can write for `a`.
pub fn all_captions(a: &Attributes) -> Vec<String> {
    let mut v: Vec<String> = (0..TEMPLATES)
        .flat_map(|t| (0..3).map(move |s| caption_with(a, t, s)))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A set of scenes with one caption each.
#[derive(Clone, Debug)]
pub struct SceneSet {
    /// The scenes.
    pub scenes: Vec<Scene>,
    /// One caption per scene.
    pub captions: Vec<String>,
}

impl SceneSet {
    /// `n` scenes of `combos` drawn with `seed`. With `distinct`, the first
    /// `min(n, combos.len())` scenes have distinct combinations (a random
    /// subset) and `n` may not exceed `combos.len()`; without it, each
    /// scene's combination is drawn uniformly.
    pub fn sample(combos: &[Attributes], n: usize, seed: u64, distinct: bool) -> SceneSet {
        let mut rng = StdRng::seed_from_u64(seed);
        let picks: Vec<Attributes> = if distinct {
            let mut order: Vec<usize> = (0..combos.len()).collect();
            let k = n.min(order.len());
            for i in 0..k {
                let j = rng.random_range(i..order.len());
                order.swap(i, j);
            }
            order[..k].iter().map(|&i| combos[i]).collect()
        } else {
            (0..n)
                .map(|_| combos[rng.random_range(0..combos.len())])
                .collect()
        };
        let mut scenes = Vec::with_capacity(picks.len());
        let mut captions = Vec::with_capacity(picks.len());
        for a in picks {
            scenes.push(Scene::sample(a, &mut rng));
            captions.push(caption(&a, &mut rng));
        }
        SceneSet { scenes, captions }
    }

    /// Number of scenes.
    pub fn len(&self) -> usize {
        self.scenes.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.scenes.is_empty()
    }

    /// The images of scenes `rows` as one `[len, 3, 32, 32]` buffer.
    pub fn pixels(&self, rows: std::ops::Range<usize>) -> Vec<f32> {
        self.scenes[rows].iter().flat_map(Scene::render).collect()
    }

    /// The attributes of every scene.
    pub fn attributes(&self) -> Vec<Attributes> {
        self.scenes.iter().map(|s| s.attributes).collect()
    }
}

#[cfg(test)]
#[path = "scenes_tests.rs"]
mod tests;
