use super::super::scenes::{canonical_caption, Attribute};
use super::*;
use crate::run::{OpenMode, Silent};

#[test]
fn batches_repeat_by_step_and_hold_distinct_seen_combinations() {
    let cfg = ClipRunConfig {
        batch: 16,
        ..ClipRunConfig::default()
    };
    let seen = combinations(Split::Seen);
    let (a, ca) = batch(&cfg, &seen, None, 3).unwrap();
    let (b, cb) = batch(&cfg, &seen, None, 3).unwrap();
    let (c, _) = batch(&cfg, &seen, None, 4).unwrap();
    assert_eq!(a.dims(), &[16, 3, 32, 32]);
    assert_eq!((a.data(), &ca), (b.data(), &cb));
    assert_ne!(a.data(), c.data());
    // No training caption ever describes a held-out combination.
    let held: std::collections::HashSet<String> = combinations(Split::HeldOut)
        .iter()
        .flat_map(all_captions)
        .collect();
    for step in 0..40 {
        let (_, caps) = batch(&cfg, &seen, None, step).unwrap();
        assert!(caps.iter().all(|c| !held.contains(c)), "step {step}");
    }
    let v = training_vocab();
    // Held-out captions use only words of the training vocabulary.
    for h in combinations(Split::HeldOut) {
        for cap in all_captions(&h) {
            assert!(v.ids(&cap).iter().all(|&i| i > 1), "{cap}");
        }
    }
}

#[test]
fn a_short_run_beats_chance_retrieval_and_reloads() {
    let dir = std::env::temp_dir().join(format!("ferrograd-clip-train-{}", std::process::id()));
    let run = RunDir::open(&dir, OpenMode::Overwrite).unwrap();
    let mut cfg = ClipRunConfig::default();
    ClipRunConfig::test_preset(&mut cfg);
    cfg.steps = 150;
    cfg.valid_every = 50;
    let s = train(&cfg, &run, false, false, &mut Silent).unwrap();
    let e = &s.eval;
    // Seen combinations: far above chance in both directions.
    assert!(e.test.image_to_text_top1 > 4.0 * e.test.chance_top1, "{e}");
    assert!(e.test.text_to_image_top5 > 3.0 * e.test.chance_top5, "{e}");
    // The held-out pairs are at least better than chance for colour or shape.
    let z = e.zero_shot_held_out.as_ref().unwrap();
    assert!(z.size > 0.6 && z.position > 0.3, "{e}");
    assert!(run.file("retrieval.png").is_file());
    // The checkpoint carries its vocabulary and reloads to the same scores.
    let (again, l, d) = evaluate_checkpoint(&run.best()).unwrap();
    assert_eq!(l.vocab, training_vocab());
    assert_eq!(again.test, e.test);
    // Scoring one image: its own caption beats one of another size and
    // position, for most scenes of the test set.
    let mut right = 0;
    for s in &d.scenes.as_ref().unwrap().seen.scenes[..40] {
        let a = s.attributes;
        let other = a
            .with(Attribute::Size, 1 - a.size)
            .with(Attribute::Position, (a.position + 1) % 5);
        let texts = [canonical_caption(&a), canonical_caption(&other)];
        let sims = l.similarities(&s.render(), &texts).unwrap();
        right += (sims[0] > sims[1]) as usize;
    }
    assert!(right >= 30, "{right} of 40");
    assert!(l.similarities(&[0.0; 10], &[]).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
