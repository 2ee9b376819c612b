//! Scores of a parse against labelled commands: intent accuracy, and
//! entity-level slot precision, recall and F1 (a predicted value counts
//! only if its slot and its exact words match a labelled value, as in the
//! CoNLL evaluation), plus the share of commands parsed exactly right.

use super::labels::INTENTS;
use super::text::{Example, SlotSpan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A model's reading of one command.
#[derive(Clone, Debug, PartialEq)]
pub struct Parse {
    /// The intent (an index into [`INTENTS`]).
    pub intent: usize,
    /// Its probability.
    pub probability: f32,
    /// The slot values found.
    pub spans: Vec<SlotSpan>,
}

/// Scores of one set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Commands scored.
    pub examples: usize,
    /// Share of commands with the right intent.
    pub intent_accuracy: f64,
    /// Share of predicted slot values that are right.
    pub slot_precision: f64,
    /// Share of labelled slot values found.
    pub slot_recall: f64,
    /// Harmonic mean of precision and recall.
    pub slot_f1: f64,
    /// Share of commands with the right intent and exactly the right slots.
    pub exact_match: f64,
    /// Intent accuracy of each intent (over the commands labelled with it).
    pub per_intent_accuracy: BTreeMap<String, f64>,
}

/// Scores `parses` against `gold` (the same commands, in order).
pub fn score(gold: &[Example], parses: &[Parse]) -> Scores {
    let (mut right, mut exact) = (0usize, 0usize);
    let (mut tp, mut predicted, mut labelled) = (0usize, 0usize, 0usize);
    let mut per: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for (g, p) in gold.iter().zip(parses) {
        let ok = g.intent == p.intent;
        right += ok as usize;
        let e = per.entry(g.intent).or_default();
        e.0 += ok as usize;
        e.1 += 1;
        let hits = p.spans.iter().filter(|s| g.spans.contains(s)).count();
        tp += hits;
        predicted += p.spans.len();
        labelled += g.spans.len();
        exact += (ok && hits == g.spans.len() && hits == p.spans.len()) as usize;
    }
    let n = gold.len().min(parses.len());
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let (precision, recall) = (ratio(tp, predicted), ratio(tp, labelled));
    Scores {
        examples: n,
        intent_accuracy: ratio(right, n),
        slot_precision: precision,
        slot_recall: recall,
        slot_f1: if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        },
        exact_match: ratio(exact, n),
        per_intent_accuracy: per
            .into_iter()
            .map(|(i, (r, c))| (INTENTS[i].to_string(), ratio(r, c)))
            .collect(),
    }
}

impl fmt::Display for Scores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "intent accuracy {:.1}%, slot F1 {:.1}% (precision {:.1}%, recall {:.1}%), exact {:.1}% over {} commands",
            100.0 * self.intent_accuracy,
            100.0 * self.slot_f1,
            100.0 * self.slot_precision,
            100.0 * self.slot_recall,
            100.0 * self.exact_match,
            self.examples
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(slot: usize, start: usize, end: usize) -> SlotSpan {
        SlotSpan { slot, start, end }
    }

    #[test]
    fn entity_level_counts() {
        let gold = vec![
            Example {
                text: "put the red mug on the table".into(),
                intent: 1,
                spans: vec![span(0, 8, 15), span(1, 23, 28)],
            },
            Example {
                text: "stop".into(),
                intent: 9,
                spans: vec![],
            },
        ];
        let parses = vec![
            // Right intent, one slot exact, one cut short ("mug" only).
            Parse {
                intent: 1,
                probability: 0.9,
                spans: vec![span(0, 12, 15), span(1, 23, 28)],
            },
            Parse {
                intent: 11,
                probability: 0.6,
                spans: vec![span(4, 0, 4)],
            },
        ];
        let s = score(&gold, &parses);
        assert_eq!(s.examples, 2);
        assert_eq!(s.intent_accuracy, 0.5);
        assert!((s.slot_precision - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.slot_recall, 0.5);
        assert!((s.slot_f1 - 0.4).abs() < 1e-12);
        assert_eq!(s.exact_match, 0.0);
        assert_eq!(s.per_intent_accuracy["stop"], 0.0);
        assert_eq!(s.per_intent_accuracy["place"], 1.0);
        let perfect = score(
            &gold[1..],
            &[Parse {
                intent: 9,
                probability: 1.0,
                spans: vec![],
            }],
        );
        assert_eq!((perfect.slot_f1, perfect.exact_match), (1.0, 1.0));
    }
}
