//! Commands as text: the words of a text (with their byte spans, so slot
//! values are cut from the original text), labelled examples, and the BIO
//! tags of their words.

use super::labels::{begin, inside, slot_of, OUTSIDE, SLOTS};
use serde::{Deserialize, Serialize};

/// A word of a text: bytes `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\'' || c == '’'
}

/// The words of `text`: maximal runs of letters, digits and apostrophes,
/// without leading or trailing apostrophes. Punctuation and spaces separate
/// words and are not words.
///
/// ```
/// use ferrograd_models::decision::intent::text::words;
/// let t = "I'm thirsty, water from the kitchen!";
/// let w: Vec<&str> = words(t).iter().map(|w| &t[w.start..w.end]).collect();
/// assert_eq!(w, ["I'm", "thirsty", "water", "from", "the", "kitchen"]);
/// ```
pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (word_char(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let w = &text[s..i];
                let trimmed = w.trim_matches(['\'', '’']);
                if !trimmed.is_empty() {
                    let lead = w.len() - w.trim_start_matches(['\'', '’']).len();
                    out.push(Word {
                        start: s + lead,
                        end: s + lead + trimmed.len(),
                    });
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A slot's value in a text: slot `slot` (an index into [`SLOTS`]) over
/// bytes `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotSpan {
    /// The slot.
    pub slot: usize,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// A labelled command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The command as typed.
    pub text: String,
    /// The intent (an index into [`super::labels::INTENTS`]).
    pub intent: usize,
    /// The slot values, in text order, not overlapping, each covering
    /// whole words.
    pub spans: Vec<SlotSpan>,
}

impl Example {
    /// The text of `span`.
    pub fn value(&self, span: &SlotSpan) -> &str {
        &self.text[span.start..span.end]
    }

    /// The BIO tag of each of the text's [`words`]; an error (naming the
    /// problem) if a span cuts a word or covers none.
    pub fn tags(&self) -> Result<Vec<usize>, String> {
        let w = words(&self.text);
        let mut tags = vec![OUTSIDE; w.len()];
        for span in &self.spans {
            let inside_span: Vec<usize> = (0..w.len())
                .filter(|&i| w[i].end > span.start && w[i].start < span.end)
                .collect();
            let Some(&first) = inside_span.first() else {
                return Err(format!(
                    "the {} value at bytes {}..{} covers no word",
                    SLOTS[span.slot], span.start, span.end
                ));
            };
            for &i in &inside_span {
                if w[i].start < span.start || w[i].end > span.end {
                    return Err(format!(
                        "the {} value '{}' cuts the word '{}'",
                        SLOTS[span.slot],
                        self.value(span),
                        &self.text[w[i].start..w[i].end]
                    ));
                }
                if tags[i] != OUTSIDE {
                    return Err(format!(
                        "the word '{}' is in two slot values",
                        &self.text[w[i].start..w[i].end]
                    ));
                }
                tags[i] = if i == first {
                    begin(span.slot)
                } else {
                    inside(span.slot)
                };
            }
        }
        Ok(tags)
    }
}

/// The slot spans of BIO `tags` over `words`: a `B-` tag starts a span, an
/// `I-` tag of the same slot continues it, and an `I-` tag after a word of
/// another slot (or none) starts a span too (the lenient CoNLL reading).
/// Spans cover from their first word's start to their last word's end, so
/// a value keeps the text's own spelling and spacing.
pub fn decode(words: &[Word], tags: &[usize]) -> Vec<SlotSpan> {
    let mut spans: Vec<SlotSpan> = Vec::new();
    let mut open: Option<usize> = None;
    for (w, &tag) in words.iter().zip(tags) {
        match slot_of(tag) {
            None => open = None,
            Some((slot, starts)) => {
                if !starts && open == Some(slot) {
                    spans.last_mut().expect("an open span").end = w.end;
                } else {
                    spans.push(SlotSpan {
                        slot,
                        start: w.start,
                        end: w.end,
                    });
                    open = Some(slot);
                }
            }
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_spans_and_skip_punctuation() {
        let t = "  'Bring' the TV-remote,  now…";
        let w: Vec<&str> = words(t).iter().map(|w| &t[w.start..w.end]).collect();
        assert_eq!(w, ["Bring", "the", "TV", "remote", "now"]);
        assert!(words("?! ...").is_empty());
        assert_eq!(words("wait 5 min").len(), 3);
    }

    #[test]
    fn tags_and_decode_are_inverse() {
        let text = "Put the red mug on the kitchen table.".to_string();
        let e = Example {
            intent: 1,
            spans: vec![
                SlotSpan {
                    slot: 0,
                    start: 8,
                    end: 15,
                },
                SlotSpan {
                    slot: 1,
                    start: 23,
                    end: 36,
                },
            ],
            text,
        };
        assert_eq!(e.value(&e.spans[0]), "red mug");
        let tags = e.tags().unwrap();
        assert_eq!(tags, [0, 0, 1, 2, 0, 0, 3, 4]);
        assert_eq!(decode(&words(&e.text), &tags), e.spans);
        // An I- tag without a B- starts a span.
        let d = decode(&words(&e.text), &[0, 0, 2, 2, 0, 0, 0, 4]);
        assert_eq!(d.len(), 2);
        assert_eq!(&e.text[d[0].start..d[0].end], "red mug");
        assert_eq!(&e.text[d[1].start..d[1].end], "table");
        // A span that cuts a word is refused.
        let bad = Example {
            spans: vec![SlotSpan {
                slot: 0,
                start: 9,
                end: 15,
            }],
            ..e.clone()
        };
        assert!(bad.tags().unwrap_err().contains("cuts the word 'red'"));
    }
}
