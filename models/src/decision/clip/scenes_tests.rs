use super::*;
use std::collections::HashSet;

#[test]
fn the_same_seed_draws_the_same_scenes_and_pixels() {
    let combos = combinations(Split::Seen);
    let a = SceneSet::sample(&combos, 20, 7, false);
    let b = SceneSet::sample(&combos, 20, 7, false);
    let c = SceneSet::sample(&combos, 20, 8, false);
    assert_eq!(a.scenes, b.scenes);
    assert_eq!(a.captions, b.captions);
    assert_eq!(a.pixels(0..20), b.pixels(0..20));
    assert_ne!(a.pixels(0..20), c.pixels(0..20));
    let px = a.pixels(0..3);
    assert_eq!(px.len(), 3 * 3 * SIDE * SIDE);
    assert!(px.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn held_out_combinations_never_reach_training() {
    let seen = combinations(Split::Seen);
    let held = combinations(Split::HeldOut);
    assert_eq!((seen.len(), held.len()), (240, 60));
    let s: HashSet<_> = seen.iter().collect();
    assert!(held.iter().all(|a| !s.contains(a)));
    // Every colour and every shape is still seen in training.
    for c in 0..COLOURS.len() {
        assert!(seen.iter().any(|a| a.colour == c));
    }
    for sh in 0..SHAPES.len() {
        assert!(seen.iter().filter(|a| a.shape == sh).count() >= 40);
    }
    let set = SceneSet::sample(&seen, 500, 3, false);
    assert!(set.attributes().iter().all(|a| !a.held_out()));
    let distinct = SceneSet::sample(&seen, 128, 3, true);
    let d: HashSet<_> = distinct.attributes().into_iter().collect();
    assert_eq!(d.len(), 128);
    assert_eq!(all_combinations()[77].index(), 77);
}

/// The word sequence of a caption, punctuation dropped.
fn words(c: &str) -> Vec<String> {
    c.split(|ch: char| !ch.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_caption_names_its_attributes_and_no_others() {
    for a in all_combinations() {
        let caps = all_captions(&a);
        assert!(caps.len() >= 5);
        for cap in caps {
            let w = words(&cap);
            let has = |x: &str| w.iter().any(|v| v == x);
            for (i, (name, _)) in COLOURS.iter().enumerate() {
                assert_eq!(has(name), i == a.colour, "{cap}");
            }
            for (i, name) in SHAPES.iter().enumerate() {
                assert_eq!(has(name), i == a.shape, "{cap}");
            }
            for (i, syn) in SIZE_WORDS.iter().enumerate() {
                assert_eq!(syn.iter().any(|s| has(s)), i == a.size, "{cap}");
            }
            let side = |p: usize| match p {
                4 => has("centre") || has("middle"),
                p => has(POSITIONS[p]),
            };
            for p in 0..POSITIONS.len() {
                assert_eq!(side(p), p == a.position, "{cap}");
            }
        }
    }
    let a = Attributes {
        colour: 0,
        shape: 0,
        size: 0,
        position: 0,
    };
    assert_eq!(canonical_caption(&a), "a small red circle on the left");
    assert_eq!(caption_with(&a, 1, 0), "red circle, small, left side");
}

#[test]
fn pictures_show_their_attributes() {
    let set = SceneSet::sample(&all_combinations(), 300, 11, true);
    let plane = SIDE * SIDE;
    for s in &set.scenes {
        let px = s.render();
        // Shape pixels: far from the background grey.
        let mut count = 0usize;
        let (mut sx, mut sy) = (0.0, 0.0);
        let mut mean = [0.0f32; 3];
        for i in 0..plane {
            let d: f32 = (0..3)
                .map(|c| (px[c * plane + i] - s.background).abs())
                .sum();
            if d > 0.4 {
                count += 1;
                sx += (i % SIDE) as f32;
                sy += (i / SIDE) as f32;
                for (c, m) in mean.iter_mut().enumerate() {
                    *m += px[c * plane + i];
                }
            }
        }
        let a = s.attributes;
        assert!(count > 10, "{}: {count} pixels", a.describe());
        let (cx, cy) = (sx / count as f32 + 0.5, sy / count as f32 + 0.5);
        // The centroid sits in the position's region.
        let ok = match a.position {
            0 => cx < 12.0,
            1 => cx > 20.0,
            2 => cy < 13.0,
            3 => cy > 19.0,
            _ => (12.0..20.0).contains(&cx) && (12.0..20.0).contains(&cy),
        };
        assert!(ok, "{} centroid ({cx}, {cy})", a.describe());
        // Small shapes cover fewer pixels than any large one.
        match a.size {
            0 => assert!(count < 75, "{}: {count}", a.describe()),
            _ => assert!(count > 95, "{}: {count}", a.describe()),
        }
        // The mean colour is nearest to the named colour.
        let m = mean.map(|v| v / count as f32);
        let nearest = (0..COLOURS.len())
            .min_by(|&i, &j| {
                let d = |k: usize| {
                    (0..3)
                        .map(|c| (COLOURS[k].1[c] - m[c]).powi(2))
                        .sum::<f32>()
                };
                d(i).total_cmp(&d(j))
            })
            .unwrap();
        assert_eq!(nearest, a.colour, "{} mean {m:?}", a.describe());
    }
}
