//! The built-in, seeded generator of robot commands (see [`super::templates`]
//! for the phrasings and values): an intent drawn uniformly, one of its
//! templates, slot values from the lexicons, optional filler words before
//! and after, an optional request frame around an imperative ("could you …"), random capitals and end punctuation, and typos (a letter
//! dropped, doubled, swapped with its neighbour or replaced by a key next
//! to it on a QWERTY keyboard).
//!
//! Four sets come out of one seed ([`CommandSets::builtin`]): training and
//! validation commands from the training templates and values, and two test
//! sets from the held-out templates and every value, one clean and one with
//! at least one typo in each command.

use super::labels::INTENTS;
use super::templates::{
    IntentTemplates, DURATION, DURATION_PHRASES, FRAMES, IMPERATIVES, LEXICONS, NOISE,
    NUMBER_WORDS, PREFIXES, SUFFIXES, TEMPLATES, UNITS,
};
use super::text::{words, Example, SlotSpan};
use ferrograd_nn::train::derive_seed;
use ferrograd_nn::{Error, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which templates and values a generated set draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The training templates and the shared values.
    Train,
    /// The held-out templates and every value (shared and test-only).
    Test,
}

/// How commands are rendered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Style {
    /// Probability of a typo in each word of three letters or more (see
    /// [`add_typos`]).
    pub typo_rate: f64,
    /// Whether every command gets at least one typo.
    pub at_least_one_typo: bool,
    /// Probability of a filler before the command, and again after it.
    pub filler_rate: f64,
    /// Probability of one stray word ([`NOISE`], tagged `O`) inserted at
    /// a random place outside the slot values (training augmentation: a
    /// word the tagger does not know is not a slot value for that alone).
    pub noise_rate: f64,
}

impl Style {
    /// No typos, fillers at `filler_rate`.
    pub fn clean(filler_rate: f64) -> Style {
        Style {
            typo_rate: 0.0,
            at_least_one_typo: false,
            filler_rate,
            noise_rate: 0.0,
        }
    }
}

/// The templates of `split` for `intent` (an index into [`INTENTS`]).
pub fn templates(intent: usize, split: Split) -> &'static [&'static str] {
    let t: &IntentTemplates = TEMPLATES
        .iter()
        .find(|t| t.intent == INTENTS[intent])
        .expect("every intent has templates");
    match split {
        Split::Train => t.train,
        Split::Test => t.test,
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A value for placeholder `name`, with its slot index.
fn value(name: &str, split: Split, rng: &mut StdRng) -> Result<(String, usize)> {
    if name == DURATION {
        let slot = super::labels::slot_index("duration").expect("a slot");
        if rng.random_bool(0.3) {
            return Ok((pick(rng, DURATION_PHRASES).to_string(), slot));
        }
        let (one, many) = *pick(rng, UNITS);
        let (n, single) = if rng.random_bool(0.5) {
            let n = rng.random_range(1..=60u32);
            (n.to_string(), n == 1)
        } else {
            let w = *pick(rng, NUMBER_WORDS);
            (w.to_string(), w == "one")
        };
        return Ok((format!("{n} {}", if single { one } else { many }), slot));
    }
    let lex = LEXICONS.iter().find(|l| l.name == name).ok_or_else(|| {
        Error::Config(format!(
            "command generator: a template names an unknown placeholder {{{name}}}"
        ))
    })?;
    let n = lex.values.len()
        + match split {
            Split::Train => 0,
            Split::Test => lex.test_only.len(),
        };
    let i = rng.random_range(0..n);
    let v = lex
        .values
        .get(i)
        .unwrap_or_else(|| &lex.test_only[i - lex.values.len()]);
    Ok((v.to_string(), lex.slot_index()))
}

const KEYBOARD: [&str; 3] = ["qwertyuiop", "asdfghjkl", "zxcvbnm"];

/// A key next to `c` on a QWERTY keyboard (same row), or `c` itself.
fn neighbour(c: char, rng: &mut StdRng) -> char {
    for row in KEYBOARD {
        if let Some(i) = row.find(c) {
            let keys: Vec<char> = row.chars().collect();
            let mut options = Vec::new();
            if i > 0 {
                options.push(keys[i - 1]);
            }
            if i + 1 < keys.len() {
                options.push(keys[i + 1]);
            }
            return *pick(rng, &options);
        }
    }
    c
}

/// Whether `word` has enough letters for a typo.
fn typo_eligible(word: &str) -> bool {
    word.chars().filter(|c| c.is_ascii_alphabetic()).count() >= 3
}

/// `word` with one typo among its ASCII letters (other characters are kept).
pub fn typo(word: &str, rng: &mut StdRng) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    let letters: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i].is_ascii_alphabetic())
        .collect();
    if letters.len() < 2 {
        return word.to_string();
    }
    let at = letters[rng.random_range(0..letters.len())];
    match rng.random_range(0..4) {
        0 if letters.len() >= 4 => {
            chars.remove(at);
        }
        1 => {
            let j = letters
                [(letters.iter().position(|&l| l == at).expect("a letter") + 1) % letters.len()];
            if chars[at] == chars[j] {
                chars.insert(at, chars[at]);
            } else {
                chars.swap(at, j);
            }
        }
        2 => {
            let lower = chars[at].to_ascii_lowercase();
            let n = neighbour(lower, rng);
            chars[at] = if chars[at].is_ascii_uppercase() {
                n.to_ascii_uppercase()
            } else {
                n
            };
        }
        _ => chars.insert(at, chars[at]),
    }
    chars.into_iter().collect()
}

/// One word of a command being rendered: its text and its slot.
struct Piece {
    text: String,
    slot: Option<usize>,
    /// Index of the placeholder that produced it (words of one value share it).
    value: Option<usize>,
}

/// Renders `template` for `intent` (see the module docs).
pub fn render(
    template: &str,
    intent: usize,
    split: Split,
    style: &Style,
    rng: &mut StdRng,
) -> Result<Example> {
    let mut pieces: Vec<Piece> = Vec::new();
    let literal = |t: &str| Piece {
        text: t.to_string(),
        slot: None,
        value: None,
    };
    if rng.random_bool(style.filler_rate) {
        let f = pick(rng, PREFIXES);
        let comma = rng.random_bool(0.5);
        let words: Vec<&str> = f.split(' ').collect();
        for (i, w) in words.iter().enumerate() {
            let last = i + 1 == words.len();
            pieces.push(literal(&format!(
                "{w}{}",
                if last && comma { "," } else { "" }
            )));
        }
    }
    let first = template.split_whitespace().next().unwrap_or("");
    if IMPERATIVES.contains(&first) && rng.random_bool(style.filler_rate) {
        for w in pick(rng, FRAMES).split(' ') {
            pieces.push(literal(w));
        }
    }
    for (k, token) in template.split_whitespace().enumerate() {
        match (token.find('{'), token.find('}')) {
            (Some(a), Some(b)) if a < b => {
                let (v, slot) = value(&token[a + 1..b], split, rng)?;
                let words: Vec<&str> = v.split(' ').collect();
                if a > 0 {
                    pieces.push(literal(&token[..a]));
                }
                for w in words {
                    pieces.push(Piece {
                        text: w.to_string(),
                        slot: Some(slot),
                        value: Some(k),
                    });
                }
                if b + 1 < token.len() {
                    // Punctuation after a value joins its last word's token
                    // outside the span.
                    pieces.push(Piece {
                        text: token[b + 1..].to_string(),
                        slot: None,
                        value: Some(usize::MAX),
                    });
                }
            }
            _ => pieces.push(literal(token)),
        }
    }
    if rng.random_bool(style.filler_rate) {
        for w in pick(rng, SUFFIXES).split(' ') {
            pieces.push(literal(w));
        }
    }
    if style.noise_rate > 0.0 && rng.random_bool(style.noise_rate) {
        // Between two pieces that are not words of one value.
        let places: Vec<usize> = (0..=pieces.len())
            .filter(|&i| {
                i == 0
                    || i == pieces.len()
                    || pieces[i - 1].slot.is_none()
                    || pieces[i - 1].value != pieces[i].value
            })
            .filter(|&i| i == pieces.len() || pieces[i].value != Some(usize::MAX))
            .collect();
        let at = *pick(rng, &places);
        let w = *pick(rng, NOISE);
        pieces.insert(at, literal(w));
    }
    if rng.random_bool(0.3) {
        if let Some(p) = pieces.first_mut() {
            let mut c = p.text.chars();
            if let Some(f) = c.next() {
                p.text = f.to_uppercase().chain(c).collect();
            }
        }
    }
    if rng.random_bool(0.3) {
        pieces.push(Piece {
            text: pick(rng, &[".", "!", "?"]).to_string(),
            slot: None,
            value: Some(usize::MAX),
        });
    }
    // Join: attached punctuation (value Some(MAX)) without a space.
    let mut text = String::new();
    let mut spans: Vec<SlotSpan> = Vec::new();
    let mut last_value = None;
    for p in &pieces {
        let attached = p.value == Some(usize::MAX);
        if !text.is_empty() && !attached {
            text.push(' ');
        }
        let start = text.len();
        text.push_str(&p.text);
        match p.slot {
            Some(slot) if last_value == p.value && !spans.is_empty() => {
                spans.last_mut().expect("checked").end = text.len();
                let _ = slot;
            }
            Some(slot) => spans.push(SlotSpan {
                slot,
                start,
                end: text.len(),
            }),
            None => {}
        }
        last_value = if p.slot.is_some() { p.value } else { None };
    }
    Ok(Example {
        text,
        intent,
        spans,
    })
}

/// `e` with typos: each word of three letters or more changed with
/// probability `rate` (and one such word at least if `at_least_one`); the
/// slot spans follow their words.
pub fn add_typos(e: &Example, rate: f64, at_least_one: bool, rng: &mut StdRng) -> Example {
    let ws = words(&e.text);
    let eligible: Vec<usize> = (0..ws.len())
        .filter(|&i| typo_eligible(&e.text[ws[i].start..ws[i].end]))
        .collect();
    let mut change: Vec<bool> = vec![false; ws.len()];
    for &i in &eligible {
        change[i] = rate > 0.0 && rng.random_bool(rate);
    }
    if at_least_one && !change.iter().any(|&c| c) && !eligible.is_empty() {
        change[*pick(rng, &eligible)] = true;
    }
    let mut text = String::with_capacity(e.text.len() + 4);
    let mut new_words = Vec::with_capacity(ws.len());
    let mut at = 0;
    for (w, &c) in ws.iter().zip(&change) {
        text.push_str(&e.text[at..w.start]);
        let start = text.len();
        let word = &e.text[w.start..w.end];
        if c {
            text.push_str(&typo(word, rng));
        } else {
            text.push_str(word);
        }
        new_words.push((start, text.len()));
        at = w.end;
    }
    text.push_str(&e.text[at..]);
    let spans = e
        .spans
        .iter()
        .map(|sp| {
            let first = ws.iter().position(|w| w.start == sp.start);
            let last = ws.iter().rposition(|w| w.end == sp.end);
            match (first, last) {
                (Some(f), Some(l)) => SlotSpan {
                    slot: sp.slot,
                    start: new_words[f].0,
                    end: new_words[l].1,
                },
                // Spans always sit on word boundaries (Example::tags checks).
                _ => *sp,
            }
        })
        .collect();
    Example {
        text,
        intent: e.intent,
        spans,
    }
}

/// `n` commands of `split` in `style` from `seed`, intents uniform.
pub fn generate(n: usize, split: Split, style: &Style, seed: u64) -> Result<Vec<Example>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let intent = rng.random_range(0..INTENTS.len());
            let t = *pick(&mut rng, templates(intent, split));
            let e = render(t, intent, split, style, &mut rng)?;
            Ok(match style.typo_rate > 0.0 || style.at_least_one_typo {
                true => add_typos(&e, style.typo_rate, style.at_least_one_typo, &mut rng),
                false => e,
            })
        })
        .collect()
}

/// The four built-in sets of one run.
#[derive(Clone, Debug)]
pub struct CommandSets {
    /// Training commands (training templates, typos at the training rate).
    pub train: Vec<Example>,
    /// Validation commands (training templates, another seed).
    pub valid: Vec<Example>,
    /// Held-out phrasings, no typos.
    pub test: Vec<Example>,
    /// Held-out phrasings with at least one typo each.
    pub typo: Vec<Example>,
}

/// Sizes and noise of [`CommandSets::builtin`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SetSizes {
    /// Training commands.
    pub train: usize,
    /// Validation commands.
    pub valid: usize,
    /// Commands of each test set.
    pub test: usize,
    /// Per-word typo probability of the training commands.
    pub train_typo_rate: f64,
    /// Per-word typo probability of the typo test set (at least one each).
    pub test_typo_rate: f64,
}

impl CommandSets {
    /// The sets of `sizes` from `seed`.
    pub fn builtin(sizes: &SetSizes, seed: u64) -> Result<CommandSets> {
        let fill = 0.25;
        let train_style = Style {
            typo_rate: sizes.train_typo_rate,
            noise_rate: 0.2,
            ..Style::clean(fill)
        };
        let s = |name: &str| derive_seed(seed, name);
        Ok(CommandSets {
            train: generate(sizes.train, Split::Train, &train_style, s("intent-train"))?,
            valid: generate(sizes.valid, Split::Train, &train_style, s("intent-valid"))?,
            test: generate(
                sizes.test,
                Split::Test,
                &Style::clean(fill),
                s("intent-test"),
            )?,
            typo: Vec::new(),
        }
        .with_typo_set(sizes.test_typo_rate, s("intent-typo")))
    }

    /// Sets `typo` to the held-out commands `test`, each with typos at
    /// `rate` per word and at least one.
    fn with_typo_set(mut self, rate: f64, seed: u64) -> CommandSets {
        let mut rng = StdRng::seed_from_u64(seed);
        self.typo = self
            .test
            .iter()
            .map(|e| add_typos(e, rate, true, &mut rng))
            .collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::super::labels::{slot_of, SLOTS};
    use super::super::text::words;
    use super::*;
    use std::collections::BTreeSet;

    fn style() -> Style {
        Style {
            typo_rate: 0.1,
            at_least_one_typo: false,
            filler_rate: 0.3,
            noise_rate: 0.3,
        }
    }

    #[test]
    fn every_intent_and_slot_appears_and_bio_is_consistent() {
        let ex = generate(3000, Split::Train, &style(), 7).unwrap();
        let intents: BTreeSet<usize> = ex.iter().map(|e| e.intent).collect();
        assert_eq!(intents.len(), INTENTS.len());
        let mut slots = BTreeSet::new();
        for e in &ex {
            let tags = e.tags().unwrap_or_else(|p| panic!("{}: {p}", e.text));
            assert_eq!(tags.len(), words(&e.text).len());
            // BIO: an I- tag continues a span of its own slot.
            let mut prev = None;
            for &t in &tags {
                if let Some((s, begins)) = slot_of(t) {
                    assert!(begins || prev == Some(s), "{}: {tags:?}", e.text);
                    slots.insert(s);
                    prev = Some(s);
                } else {
                    prev = None;
                }
            }
            // Each span's value is whole words of the text.
            for sp in &e.spans {
                let v = e.value(sp);
                assert!(
                    !v.is_empty() && !v.starts_with(' ') && !v.ends_with(' '),
                    "{v:?}"
                );
                assert!(!v.ends_with(',') && !v.ends_with('?'), "{}: {v:?}", e.text);
            }
        }
        assert_eq!(slots.len(), SLOTS.len());
    }

    #[test]
    fn held_out_templates_are_disjoint_and_used_only_by_the_test_split() {
        let mut train = BTreeSet::new();
        let mut test = BTreeSet::new();
        for (i, name) in INTENTS.iter().enumerate() {
            assert!(templates(i, Split::Train).len() >= 10, "{name}");
            assert!(templates(i, Split::Test).len() >= 4, "{name}");
            train.extend(templates(i, Split::Train).iter().copied());
            test.extend(templates(i, Split::Test).iter().copied());
        }
        assert!(
            train.is_disjoint(&test),
            "{:?}",
            train.intersection(&test).collect::<Vec<_>>()
        );
        // A clean test command never renders to the same words as some
        // training template could: compare the word patterns of the
        // templates, values stripped.
        let pattern = |t: &str| {
            t.split_whitespace()
                .map(|w| if w.contains('{') { "{}" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let train_p: BTreeSet<String> = train.iter().map(|t| pattern(t)).collect();
        for t in &test {
            assert!(!train_p.contains(&pattern(t)), "{t}");
        }
        // Every placeholder is known (render does not fail) in both splits.
        for split in [Split::Train, Split::Test] {
            for i in 0..INTENTS.len() {
                for t in templates(i, split) {
                    let mut rng = StdRng::seed_from_u64(1);
                    render(t, i, split, &Style::clean(0.0), &mut rng).unwrap();
                }
            }
        }
    }

    #[test]
    fn test_only_values_never_reach_training() {
        let ex = generate(4000, Split::Train, &Style::clean(0.0), 3).unwrap();
        let test_only: BTreeSet<&str> = LEXICONS
            .iter()
            .flat_map(|l| l.test_only.iter().copied())
            .collect();
        for e in &ex {
            for sp in &e.spans {
                assert!(!test_only.contains(e.value(sp)), "{}", e.text);
            }
        }
        let ex = generate(4000, Split::Test, &Style::clean(0.0), 3).unwrap();
        assert!(ex
            .iter()
            .any(|e| e.spans.iter().any(|sp| test_only.contains(e.value(sp)))));
    }

    #[test]
    fn generation_is_seeded_and_typo_sets_have_typos() {
        let a = generate(50, Split::Test, &style(), 11).unwrap();
        assert_eq!(a, generate(50, Split::Test, &style(), 11).unwrap());
        assert_ne!(a, generate(50, Split::Test, &style(), 12).unwrap());
        let sizes = SetSizes {
            train: 20,
            valid: 10,
            test: 200,
            train_typo_rate: 0.0,
            test_typo_rate: 0.1,
        };
        let sets = CommandSets::builtin(&sizes, 5).unwrap();
        // The typo set is the clean test set with typos: same intents, same
        // number of words and slots, different text, tags still valid.
        for (a, b) in sets.test.iter().zip(&sets.typo) {
            assert_ne!(a.text, b.text);
            assert_eq!(a.intent, b.intent);
            assert_eq!(
                a.tags().unwrap(),
                b.tags().unwrap(),
                "{} / {}",
                a.text,
                b.text
            );
        }
        let mut rng = StdRng::seed_from_u64(0);
        for w in ["kitchen", "Water,", "it's"] {
            let t = typo(w, &mut rng);
            assert_ne!(t, w);
            assert!((t.len() as i64 - w.len() as i64).abs() <= 1);
        }
        assert_eq!(typo("a", &mut rng), "a");
    }
}
