//! A user's labelled commands in JSON lines, one object per line:
//!
//! ```text
//! {"text": "bring me the water from the kitchen", "intent": "fetch", "slots": {"object": "water", "location": "kitchen"}}
//! {"text": "stop", "intent": "stop"}
//! ```
//!
//! `intent` is one of [`INTENTS`]; `slots` (optional) maps slot names of
//! [`SLOTS`] to a value or a list of values, each a run of whole words of
//! the text (matched ignoring case; a value found twice takes its first
//! place not used by another value). Blank lines are skipped. Every problem
//! is an [`Error::Format`] naming the file, the line and the field.

use super::labels::{intent_index, slot_index, INTENTS, SLOTS};
use super::text::{words, Example, SlotSpan};
use super::tokenizer::normalize;
use ferrograd_nn::{Error, Result};
use serde_json::{Map, Value};
use std::path::Path;

/// Reads the labelled commands of `path` (see the module docs).
pub fn read(path: &Path) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let out = parse(&text).map_err(|problem| Error::Format {
        path: path.to_path_buf(),
        problem,
    })?;
    if out.is_empty() {
        return Err(Error::Format {
            path: path.to_path_buf(),
            problem: "no commands: expected one JSON object per line, such as \
                      {\"text\": \"stop\", \"intent\": \"stop\"}"
                .into(),
        });
    }
    Ok(out)
}

/// The commands of JSON-lines `text`; the error names the line and field.
pub fn parse(text: &str) -> std::result::Result<Vec<Example>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_line(line).map_err(|p| format!("line {}: {p}", i + 1))?);
    }
    Ok(out)
}

fn parse_line(line: &str) -> std::result::Result<Example, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(obj) = v else {
        return Err(format!(
            "expected an object with fields text, intent and slots, got {v}"
        ));
    };
    for key in obj.keys() {
        if !["text", "intent", "slots"].contains(&key.as_str()) {
            return Err(format!(
                "unknown field '{key}'; the fields are text, intent and slots"
            ));
        }
    }
    let text = match obj.get("text") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("field 'text' must be a string, got {other}")),
        None => return Err("field 'text' is missing".into()),
    };
    if words(&text).is_empty() {
        return Err(format!("field 'text' has no words: {text:?}"));
    }
    let intent = match obj.get("intent") {
        Some(Value::String(s)) => intent_index(s).ok_or_else(|| {
            format!(
                "field 'intent': unknown intent '{s}'; the intents are {}",
                INTENTS.join(", ")
            )
        })?,
        Some(other) => return Err(format!("field 'intent' must be a string, got {other}")),
        None => return Err("field 'intent' is missing".into()),
    };
    let slots = match obj.get("slots") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(format!(
                "field 'slots' must be an object such as {{\"object\": \"water\"}}, got {other}"
            ))
        }
    };
    let mut spans: Vec<SlotSpan> = Vec::new();
    for (name, value) in &slots {
        let field = format!("slots.{name}");
        let slot = slot_index(name).ok_or_else(|| {
            format!(
                "field '{field}': unknown slot '{name}'; the slots are {}",
                SLOTS.join(", ")
            )
        })?;
        let values: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items
                .iter()
                .map(|x| {
                    x.as_str()
                        .ok_or_else(|| format!("field '{field}': values must be strings, got {x}"))
                })
                .collect::<std::result::Result<_, _>>()?,
            other => {
                return Err(format!(
                    "field '{field}' must be a string or a list of strings, got {other}"
                ))
            }
        };
        for v in values {
            spans
                .push(locate(&text, v, slot, &spans).map_err(|p| format!("field '{field}': {p}"))?);
        }
    }
    spans.sort_by_key(|s| s.start);
    Ok(Example {
        text,
        intent,
        spans,
    })
}

/// The span of `value`'s words in `text`: the first run of the text's
/// words equal to them (ignoring case) that overlaps no span of `taken`.
pub fn locate(
    text: &str,
    value: &str,
    slot: usize,
    taken: &[SlotSpan],
) -> std::result::Result<SlotSpan, String> {
    let want: Vec<String> = words(value)
        .iter()
        .map(|w| normalize(&value[w.start..w.end]))
        .collect();
    if want.is_empty() {
        return Err(format!("the value {value:?} has no words"));
    }
    let have = words(text);
    let norm: Vec<String> = have
        .iter()
        .map(|w| normalize(&text[w.start..w.end]))
        .collect();
    let mut found_taken = false;
    for i in 0..(have.len() + 1).saturating_sub(want.len()) {
        if norm[i..i + want.len()] != want[..] {
            continue;
        }
        let span = SlotSpan {
            slot,
            start: have[i].start,
            end: have[i + want.len() - 1].end,
        };
        if taken
            .iter()
            .any(|t| t.start < span.end && span.start < t.end)
        {
            found_taken = true;
            continue;
        }
        return Ok(span);
    }
    Err(match found_taken {
        true => format!("the value {value:?} is only found where another slot value is"),
        false => format!("the value {value:?} is not a run of whole words of the text {text:?}"),
    })
}

/// The commands as JSON lines (the format [`read`] reads).
pub fn to_jsonl(examples: &[Example]) -> String {
    let mut out = String::new();
    for e in examples {
        let mut slots = Map::new();
        for sp in &e.spans {
            let v = Value::String(e.value(sp).to_string());
            match slots.get_mut(SLOTS[sp.slot]) {
                None => {
                    slots.insert(SLOTS[sp.slot].to_string(), v);
                }
                Some(Value::Array(list)) => list.push(v),
                Some(first) => *first = Value::Array(vec![first.clone(), v]),
            }
        }
        let line = serde_json::json!({"text": e.text, "intent": INTENTS[e.intent], "slots": slots});
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::generator::{generate, Split, Style};
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let ex = generate(
            300,
            Split::Test,
            &Style {
                typo_rate: 0.1,
                at_least_one_typo: false,
                filler_rate: 0.3,
                noise_rate: 0.3,
            },
            2,
        )
        .unwrap();
        let back = parse(&to_jsonl(&ex)).unwrap();
        for (a, b) in ex.iter().zip(&back) {
            assert_eq!((&a.text, a.intent), (&b.text, b.intent));
            assert_eq!(a.tags().unwrap(), b.tags().unwrap(), "{}", a.text);
        }
    }

    #[test]
    fn values_are_found_as_whole_words_ignoring_case() {
        let e = parse(
            r#"{"text": "Put the Cup in the cupboard, then the cup on the table", "intent": "place", "slots": {"object": ["cup", "cup"], "location": "TABLE"}}"#,
        )
        .unwrap()
        .remove(0);
        let v: Vec<&str> = e.spans.iter().map(|s| e.value(s)).collect();
        assert_eq!(v, ["Cup", "cup", "table"]);
        assert_eq!(e.spans[1].start, 38);
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let cases = [
            ("{\"text\": \"stop\"", "line 1: not valid JSON"),
            ("[1]", "line 1: expected an object"),
            ("{\"intent\": \"stop\"}", "line 1: field 'text' is missing"),
            ("{\"text\": 3, \"intent\": \"stop\"}", "field 'text' must be a string"),
            ("{\"text\": \"?!\", \"intent\": \"stop\"}", "field 'text' has no words"),
            ("{\"text\": \"dance\", \"intent\": \"dance\"}", "unknown intent 'dance'; the intents are fetch"),
            ("{\"text\": \"stop\"}", "field 'intent' is missing"),
            ("{\"text\": \"stop\", \"intent\": \"stop\", \"slot\": {}}", "unknown field 'slot'"),
            ("{\"text\": \"get the mug\", \"intent\": \"fetch\", \"slots\": {\"thing\": \"mug\"}}", "field 'slots.thing': unknown slot"),
            ("{\"text\": \"get the mug\", \"intent\": \"fetch\", \"slots\": {\"object\": \"cup\"}}", "field 'slots.object': the value \"cup\" is not a run"),
            ("{\"text\": \"get the mugs\", \"intent\": \"fetch\", \"slots\": {\"object\": \"mug\"}}", "is not a run of whole words"),
            ("{\"text\": \"get the mug\", \"intent\": \"fetch\", \"slots\": {\"object\": 5}}", "must be a string or a list"),
            ("{\"text\": \"get the mug\", \"intent\": \"fetch\", \"slots\": [\"mug\"]}", "field 'slots' must be an object"),
            ("{\"text\": \"the mug\", \"intent\": \"fetch\", \"slots\": {\"object\": \"mug\", \"location\": \"mug\"}}", "only found where another slot value is"),
        ];
        for (line, want) in cases {
            let text = format!("\n{{\"text\": \"stop\", \"intent\": \"stop\"}}\n{line}\n");
            let err = parse(&text).unwrap_err();
            assert!(err.starts_with("line 3: "), "{err}");
            assert!(
                err.contains(want.trim_start_matches("line 1: ")),
                "{line}: {err}"
            );
        }
        let dir = std::env::temp_dir().join(format!("intent-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.jsonl");
        std::fs::write(&f, "\n\n").unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(
            e.contains("empty.jsonl") && e.contains("no commands"),
            "{e}"
        );
        assert!(read(&dir.join("missing.jsonl")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
