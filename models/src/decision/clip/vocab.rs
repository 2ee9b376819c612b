//! A word vocabulary for captions: lower-cased words and punctuation marks
//! as tokens, id 0 for padding and 1 for unknown words. It is built from
//! the training captions and saved in the checkpoint.

use ferrograd_nn::{Error, Result};
use ferrograd_tensor::{Indices, Tensor};
use std::collections::{BTreeSet, HashMap};

/// The padding token (id 0).
pub const PAD: &str = "<pad>";
/// The unknown-word token (id 1).
pub const UNK: &str = "<unk>";

/// The tokens of `text`: runs of letters and digits, lower-cased, and
/// every other non-space character on its own.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            cur.extend(ch.to_lowercase());
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if !ch.is_whitespace() {
                out.push(ch.to_string());
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Token ids of a batch of texts with their padding mask.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// `[B, T]` token ids, padded with 0.
    pub ids: Indices,
    /// `[B, T]`: 1 marks padding (the attention's key padding mask).
    pub padding: Tensor,
    /// `[B, T, 1]`: 1 for a real token, 0 for padding (for pooling).
    pub keep: Tensor,
    /// `[B, 1]`: the number of real tokens of each text (at least 1).
    pub lengths: Tensor,
}

/// A word vocabulary: `tokens[id]` is the token of `id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocab {
    tokens: Vec<String>,
    ids: HashMap<String, usize>,
}

impl Vocab {
    /// The vocabulary of `texts`: [`PAD`], [`UNK`], then every token in
    /// sorted order.
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vocab {
        let set: BTreeSet<String> = texts.into_iter().flat_map(words).collect();
        let tokens = [PAD.to_string(), UNK.to_string()]
            .into_iter()
            .chain(set)
            .collect();
        Vocab::from_tokens_unchecked(tokens)
    }

    fn from_tokens_unchecked(tokens: Vec<String>) -> Vocab {
        let ids = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        Vocab { tokens, ids }
    }

    /// A vocabulary from its token list (as saved in a checkpoint): it
    /// must start with [`PAD`] and [`UNK`] and hold no token twice.
    pub fn from_tokens(tokens: Vec<String>) -> Result<Vocab> {
        if tokens.len() < 2 || tokens[0] != PAD || tokens[1] != UNK {
            return Err(Error::Config(format!(
                "vocabulary: must start with {PAD} and {UNK}, got {:?}",
                &tokens[..tokens.len().min(2)]
            )));
        }
        let v = Vocab::from_tokens_unchecked(tokens);
        if v.ids.len() != v.tokens.len() {
            return Err(Error::Config("vocabulary: a token appears twice".into()));
        }
        Ok(v)
    }

    /// The tokens, by id.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Number of tokens, [`PAD`] and [`UNK`] included.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Never true: a vocabulary holds at least [`PAD`] and [`UNK`].
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The ids of `text`'s tokens (unknown ones as 1).
    pub fn ids(&self, text: &str) -> Vec<usize> {
        words(text)
            .iter()
            .map(|w| self.ids.get(w).copied().unwrap_or(1))
            .collect()
    }

    /// `texts` as `[B, max_tokens]` ids with their masks. A text longer
    /// than `max_tokens` keeps its first `max_tokens` tokens; an empty text
    /// is one [`UNK`].
    pub fn encode(&self, texts: &[&str], max_tokens: usize) -> Result<Encoded> {
        let (b, t) = (texts.len(), max_tokens);
        let mut ids = vec![0usize; b * t];
        let mut keep = vec![0.0f32; b * t];
        let mut lengths = Vec::with_capacity(b);
        for (i, text) in texts.iter().enumerate() {
            let mut row = self.ids(text);
            if row.is_empty() {
                row.push(1);
            }
            row.truncate(t);
            for (j, &id) in row.iter().enumerate() {
                ids[i * t + j] = id;
                keep[i * t + j] = 1.0;
            }
            lengths.push(row.len() as f32);
        }
        let padding: Vec<f32> = keep.iter().map(|k| 1.0 - k).collect();
        Ok(Encoded {
            ids: Indices::new(ids, &[b, t])?,
            padding: Tensor::from_vec(padding, &[b, t])?,
            keep: Tensor::from_vec(keep, &[b, t, 1])?,
            lengths: Tensor::from_vec(lengths, &[b, 1])?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_punctuation_and_lowercase() {
        assert_eq!(
            words("Red circle, small:  LEFT side"),
            ["red", "circle", ",", "small", ":", "left", "side"]
        );
    }

    #[test]
    fn encode_pads_truncates_and_marks_unknown_words() {
        let v = Vocab::build(["a red circle", "blue square, small"]);
        assert_eq!(&v.tokens()[..2], [PAD, UNK]);
        assert_eq!(v.len(), 2 + 7);
        let e = v
            .encode(&["red square", "a green circle and more", ""], 4)
            .unwrap();
        assert_eq!(e.ids.dims(), &[3, 4]);
        let ids = e.ids.data();
        assert_eq!(ids[2..4], [0, 0]);
        assert_eq!(ids[4 + 1], 1, "green is unknown");
        assert_eq!(ids[8..12], [1, 0, 0, 0]);
        assert_eq!(e.lengths.data(), &[2.0, 4.0, 1.0]);
        assert_eq!(e.padding.data()[..4], [0.0, 0.0, 1.0, 1.0]);
        let back = Vocab::from_tokens(v.tokens().to_vec()).unwrap();
        assert_eq!(back, v);
        assert!(Vocab::from_tokens(vec!["a".into(), "b".into()]).is_err());
        let twice = vec![PAD.into(), UNK.into(), "a".into(), "a".into()];
        assert!(Vocab::from_tokens(twice).is_err());
    }
}
