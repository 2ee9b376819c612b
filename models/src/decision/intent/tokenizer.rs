//! The tokeniser: a text's [`words`](super::text::words), each a bag of
//! units summed into one vector (fastText's scheme): its id in a vocabulary
//! learned from the training text (or `<unk>`), and the hashed character
//! n-grams of `<word>` (n from `min_n` to `max_n`, boundary marks
//! included). A typo changes a few n-grams of a word and keeps the rest, and
//! an unseen word still has its n-grams, so neither collapses to `<unk>`.
//!
//! The tokeniser is stored in the checkpoint's metadata as JSON
//! ([`Tokenizer::to_json`]); the n-gram hash is FNV-1a, the same on every
//! platform.

use ferrograd_nn::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Unit id of padding (never produced for a word; row 0 of the table).
pub const PAD: usize = 0;
/// Unit id of a word outside the vocabulary.
pub const UNK: usize = 1;
/// Unit id of the first vocabulary word.
const FIRST_WORD: usize = 2;

/// Vocabulary plus hashed n-grams; see the module docs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tokenizer {
    /// The vocabulary (normalised words), in id order.
    pub words: Vec<String>,
    /// Number of n-gram hash buckets.
    pub buckets: usize,
    /// Shortest n-gram.
    pub min_n: usize,
    /// Longest n-gram.
    pub max_n: usize,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl PartialEq for Tokenizer {
    fn eq(&self, other: &Tokenizer) -> bool {
        (&self.words, self.buckets, self.min_n, self.max_n)
            == (&other.words, other.buckets, other.min_n, other.max_n)
    }
}

/// A word as the tokeniser sees it: lower case, typographic apostrophes
/// made plain.
pub fn normalize(word: &str) -> String {
    word.to_lowercase().replace('’', "'")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Tokenizer {
    /// A tokeniser whose vocabulary is every word seen at least `min_count`
    /// times in `texts` (sorted by count, then alphabetically), with
    /// `buckets` n-gram buckets for n in `min_n..=max_n`.
    pub fn learn<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        min_count: usize,
        buckets: usize,
        min_n: usize,
        max_n: usize,
    ) -> Result<Tokenizer> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for t in texts {
            for w in super::text::words(t) {
                *counts.entry(normalize(&t[w.start..w.end])).or_default() += 1;
            }
        }
        let mut words: Vec<(String, usize)> = counts
            .into_iter()
            .filter(|(_, c)| *c >= min_count.max(1))
            .collect();
        words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Tokenizer {
            words: words.into_iter().map(|(w, _)| w).collect(),
            buckets,
            min_n,
            max_n,
            index: HashMap::new(),
        }
        .checked()
    }

    /// Checks the settings and builds the word index (after parsing).
    pub fn checked(mut self) -> Result<Tokenizer> {
        let bad = |m: String| Err(Error::Config(format!("tokenizer: {m}")));
        if self.buckets == 0 {
            return bad("buckets must be at least 1".into());
        }
        if self.min_n == 0 || self.min_n > self.max_n {
            return bad(format!(
                "n-gram lengths must satisfy 1 ≤ min_n ≤ max_n, got {}..{}",
                self.min_n, self.max_n
            ));
        }
        self.index = HashMap::with_capacity(self.words.len());
        for (i, w) in self.words.iter().enumerate() {
            if self.index.insert(w.clone(), FIRST_WORD + i).is_some() {
                return bad(format!("the vocabulary lists '{w}' twice"));
            }
        }
        Ok(self)
    }

    /// Rows of the unit table: padding, `<unk>`, the vocabulary, the
    /// buckets.
    /// (Saturating: a tokeniser read from a file claiming `usize::MAX`
    /// buckets gives `usize::MAX` units, which no checkpoint holds.)
    pub fn units(&self) -> usize {
        FIRST_WORD
            .saturating_add(self.words.len())
            .saturating_add(self.buckets)
    }

    /// The unit id of `word` (normalised) in the vocabulary, if it is there.
    pub fn word_id(&self, word: &str) -> Option<usize> {
        self.index.get(&normalize(word)).copied()
    }

    /// The unit ids of the hashed n-grams of `<word>` (normalised).
    pub fn ngrams(&self, word: &str) -> Vec<usize> {
        let marked: Vec<char> = format!("<{}>", normalize(word)).chars().collect();
        let base = FIRST_WORD + self.words.len();
        let mut out = Vec::new();
        let mut buf = String::new();
        for n in self.min_n..=self.max_n {
            for window in marked.windows(n) {
                buf.clear();
                buf.extend(window);
                out.push(base + (fnv1a(buf.as_bytes()) % self.buckets as u64) as usize);
            }
        }
        out
    }

    /// Every unit of `word`: its vocabulary id (or [`UNK`]) first, then its
    /// n-grams.
    pub fn word_units(&self, word: &str) -> Vec<usize> {
        let mut u = vec![self.word_id(word).unwrap_or(UNK)];
        u.extend(self.ngrams(word));
        u
    }

    /// The tokeniser as JSON (for checkpoint metadata).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Config(format!("tokenizer: {e}")))
    }

    /// The tokeniser from [`Self::to_json`]'s JSON.
    pub fn from_json(json: &str) -> Result<Tokenizer> {
        serde_json::from_str::<Tokenizer>(json)
            .map_err(|e| Error::Config(format!("tokenizer: {e}")))?
            .checked()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn tok() -> Tokenizer {
        Tokenizer::learn(
            [
                "bring me the water from the kitchen",
                "turn on the kitchen lights",
                "the",
            ],
            1,
            4096,
            3,
            5,
        )
        .unwrap()
    }

    #[test]
    fn vocabulary_is_learned_by_count_and_survives_json() {
        let t = tok();
        assert_eq!(t.words[0], "the");
        assert_eq!(t.word_id("The"), Some(FIRST_WORD));
        assert_eq!(t.word_id("kitchen"), Some(FIRST_WORD + 1));
        assert_eq!(t.word_id("fridge"), None);
        assert_eq!(t.units(), 2 + t.words.len() + 4096);
        let back = Tokenizer::from_json(&t.to_json().unwrap()).unwrap();
        assert_eq!(back, t);
        for w in ["kitchen", "kitchn", "Fridge", "I'm"] {
            assert_eq!(back.word_units(w), t.word_units(w));
        }
        let rare = Tokenizer::learn(["a a b"], 2, 10, 3, 5).unwrap();
        assert_eq!(rare.words, ["a"]);
        assert!(Tokenizer::learn(["a"], 1, 0, 3, 5).is_err());
        assert!(Tokenizer::learn(["a"], 1, 10, 4, 3).is_err());
        assert!(
            Tokenizer::from_json(r#"{"words":["a","a"],"buckets":3,"min_n":1,"max_n":2}"#)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    #[test]
    fn typos_keep_most_units_and_unseen_words_do_not_collapse() {
        let t = tok();
        let set = |w: &str| t.ngrams(w).into_iter().collect::<BTreeSet<_>>();
        for (word, typo) in [
            ("kitchen", "kitchn"),
            ("kitchen", "kitchenn"),
            ("kitchen", "kithcen"),
            ("lights", "lighst"),
            ("water", "watr"),
        ] {
            let (a, b) = (set(word), set(typo));
            let shared = a.intersection(&b).count();
            assert!(
                shared * 5 >= a.len(),
                "{word}/{typo}: {shared} of {} n-grams shared",
                a.len()
            );
            assert_ne!(t.word_units(typo)[0], t.word_units(word)[0]);
        }
        // Unseen words are <unk> plus their own n-grams, which differ.
        let (a, b) = (t.word_units("fridge"), t.word_units("garage"));
        assert_eq!((a[0], b[0]), (UNK, UNK));
        assert_ne!(a[1..], b[1..]);
        assert!(set("fridge").is_disjoint(&set("lamp")));
        // Case and typographic apostrophes do not matter.
        assert_eq!(t.word_units("I’M"), t.word_units("i'm"));
    }
}
