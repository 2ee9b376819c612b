//! The label sets: the 12 intents, the 5 slot names and their BIO tags.

/// The intents, in class order.
pub const INTENTS: [&str; 12] = [
    "fetch",
    "place",
    "clean",
    "go_to",
    "open",
    "close",
    "turn_on",
    "turn_off",
    "follow",
    "stop",
    "report_status",
    "wait",
];

/// The slot names; slot `s` has tags `B-s` ([`begin`]) and `I-s`
/// ([`inside`]), and every other word is `O` (tag 0).
pub const SLOTS: [&str; 5] = ["object", "location", "device", "person", "duration"];

/// Number of BIO tags: `O` plus `B-` and `I-` of each slot.
pub const TAGS: usize = 1 + 2 * SLOTS.len();

/// The tag of a word outside every slot.
pub const OUTSIDE: usize = 0;

/// The tag of the first word of slot `slot`.
pub fn begin(slot: usize) -> usize {
    1 + 2 * slot
}

/// The tag of a later word of slot `slot`.
pub fn inside(slot: usize) -> usize {
    2 + 2 * slot
}

/// The slot of a `B-`/`I-` tag and whether it begins a span; `None` for `O`
/// (or a tag out of range).
pub fn slot_of(tag: usize) -> Option<(usize, bool)> {
    (1..TAGS)
        .contains(&tag)
        .then(|| ((tag - 1) / 2, tag % 2 == 1))
}

/// The name of a tag: `O`, `B-object`, `I-location`, …
pub fn tag_name(tag: usize) -> String {
    match slot_of(tag) {
        None => "O".into(),
        Some((s, true)) => format!("B-{}", SLOTS[s]),
        Some((s, false)) => format!("I-{}", SLOTS[s]),
    }
}

/// The class of an intent name.
pub fn intent_index(name: &str) -> Option<usize> {
    INTENTS.iter().position(|&i| i == name)
}

/// The index of a slot name.
pub fn slot_index(name: &str) -> Option<usize> {
    SLOTS.iter().position(|&s| s == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        assert_eq!(TAGS, 11);
        assert_eq!(tag_name(OUTSIDE), "O");
        for (s, name) in SLOTS.iter().enumerate() {
            assert_eq!(slot_of(begin(s)), Some((s, true)));
            assert_eq!(slot_of(inside(s)), Some((s, false)));
            assert_eq!(tag_name(inside(s)), format!("I-{name}"));
        }
        assert_eq!(slot_of(TAGS), None);
        assert_eq!(intent_index("report_status"), Some(10));
        assert_eq!(slot_index("duration"), Some(4));
        assert_eq!(intent_index("dance"), None);
    }
}
