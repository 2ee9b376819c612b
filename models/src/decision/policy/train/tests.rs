use super::*;
use crate::decision::policy::expert::DistanceField;
use crate::decision::policy::sim::{Cell, Rect, World};

#[test]
#[ignore]
fn diag_ceiling() {
    for view in [2usize, 4, 6, 8, 16] {
        for (obst, side) in [(8usize, 4usize), (6, 3), (10, 3)] {
            let cfg = SimConfig {
                view,
                obstacles: obst,
                max_side: side,
                ..SimConfig::default()
            };
            let mut agree = 0;
            let mut greedy = 0;
            let mut total = 0;
            for seed in 0..300u64 {
                let s = Scenario::generate(&cfg, seed).unwrap();
                let mut nav =
                    crate::decision::policy::Nav::with_scenario(cfg.clone(), s.clone()).unwrap();
                while !nav.done() {
                    let p = nav.position();
                    let a = nav.expert_action();
                    // local world: only rects cells within view are blocked
                    let v = view as i32;
                    let mut rects = vec![];
                    for y in 0..cfg.size as i32 {
                        for x in 0..cfg.size as i32 {
                            let c = Cell::new(x, y);
                            if (x - p.x).abs() <= v && (y - p.y).abs() <= v && !s.world.is_free(c) {
                                rects.push(Rect { x, y, w: 1, h: 1 });
                            }
                        }
                    }
                    let lw = World::new(cfg.size, rects).unwrap();
                    let f = DistanceField::new(&lw, s.goal);
                    if f.best_action(&lw, p) == a {
                        agree += 1;
                    }
                    let ow = World::new(cfg.size, vec![]).unwrap();
                    let g = DistanceField::new(&ow, s.goal);
                    if g.best_action(&ow, p) == a {
                        greedy += 1;
                    }
                    total += 1;
                    nav.step(a).unwrap();
                }
            }
            println!("view {view} obst {obst} side {side}: local-expert agreement {:.3}, open-space agreement {:.3}, states {total}", agree as f64/total as f64, greedy as f64/total as f64);
        }
    }
}
