use super::*;
use crate::run::{OpenMode, Silent};

fn tmp(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("ferrograd-intent-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

#[test]
fn a_small_run_learns_and_its_checkpoint_predicts() {
    let mut cfg = IntentRunConfig::default();
    IntentRunConfig::test_preset(&mut cfg);
    let dir = tmp("learn");
    let run = RunDir::open(&dir, OpenMode::Fresh).unwrap();
    let s = train(&cfg, &run, false, true, &mut Silent).unwrap();
    let first = read_metrics(run.metrics()).unwrap()[0].metrics["train_loss"].unwrap();
    let v = &s.eval.sets["validation"];
    let h = &s.eval.sets[HELD_OUT];
    // Chance is 1/12 for the intent; the slot tags start near ln 11.
    assert!(first > 3.0, "first logged loss {first}");
    assert!(v.intent_accuracy > 0.6, "{v}");
    assert!(h.intent_accuracy > 0.3, "{h}");
    assert!(v.slot_f1 > 0.3, "{v}");
    assert!(s.eval.sets.contains_key(TYPOS));
    assert!(dir.join("eval.json").is_file());
    let m = IntentModel::load(run.best()).unwrap();
    let p = m.predict("Bring me the water from the kitchen!").unwrap();
    assert_eq!(p.text, "Bring me the water from the kitchen!");
    assert!(INTENTS.contains(&p.intent.as_str()));
    assert!(p.probability > 0.0 && p.probability <= 1.0);
    // Slot values are cut from the original text.
    for v in p.slots.values() {
        assert!(p.text.contains(v.as_str()), "{v}");
    }
    assert!(m.predict("!!").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
