use super::*;
use crate::decision::policy::sim::{Cell, Outcome};
use crate::run::{OpenMode, Silent};

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ferrograd-policy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn tiny() -> PolicyRunConfig {
    let mut c = PolicyRunConfig::default();
    PolicyRunConfig::test_preset(&mut c);
    c.demos = 800;
    c.eval_episodes = 40;
    c.plot_episodes = 2;
    c
}

fn weights(net: &PolicyNet) -> Vec<Vec<f32>> {
    net.params()
        .iter()
        .map(|p| p.value().data().to_vec())
        .collect()
}

#[test]
fn a_tiny_bc_run_beats_chance_and_its_checkpoint_drives_the_simulator() {
    let dir = tmp("bc");
    let run = RunDir::open(&dir, OpenMode::Fresh).unwrap();
    let cfg = tiny();
    let s = train(&cfg, &run, false, false, &mut Silent).unwrap();
    for f in [
        "config.json",
        "metrics.jsonl",
        "eval.json",
        "trajectories.png",
        "checkpoints/last.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let e = &s.eval;
    // Nine classes, the commonest under a quarter: a policy that learned
    // nothing scores at most that.
    assert!(e.majority_accuracy < 0.3, "{e}");
    assert!(e.test_accuracy > 0.55, "{e}");
    assert!(e.test_accuracy > 2.0 * e.majority_accuracy, "{e}");
    assert!(e.test_optimal >= e.test_accuracy);
    let names: Vec<&str> = e
        .closed_loop
        .iter()
        .map(|c| c.controller.as_str())
        .collect();
    assert_eq!(names, ["expert", "BC"]);
    assert_eq!(
        e.closed_loop[0].successes, 40,
        "the expert solves every episode"
    );
    assert!(e.closed_loop[1].success_rate > 0.2, "{e}");
    assert!(e.closed_loop[1].ci95.0 < e.closed_loop[1].success_rate);

    // The saved policy is the trained one and drives episodes it is given.
    let again = evaluate_checkpoint(&run.last(), None, None, None).unwrap();
    assert_eq!(again.test_accuracy, e.test_accuracy);
    assert_eq!(again.closed_loop, e.closed_loop);
    let m = PolicyModel::load(run.last()).unwrap();
    let sc = m.scenario(11).unwrap();
    let t = m.run_episode(sc.clone()).unwrap();
    assert_eq!(t.cells[0], sc.start);
    assert!(t.steps() >= 1 && t.steps() <= cfg.max_steps);
    if t.outcome == Outcome::Reached {
        assert_eq!(*t.cells.last().unwrap(), sc.goal);
    }
    let world = sc.world.clone();
    let free = world.free_cells();
    let goal = *free.last().unwrap();
    let start = free
        .iter()
        .copied()
        .find(|&c| m.scenario_in(world.clone(), c, goal).is_ok() && c != goal)
        .unwrap();
    let t = m
        .run_episode(m.scenario_in(world.clone(), start, goal).unwrap())
        .unwrap();
    assert_eq!((t.cells[0], t.goal), (start, goal));
    let sc = m.scenario_in(world.clone(), start, goal).unwrap();
    let e = m.expert_episode(sc.clone()).unwrap();
    assert!(e.success() && e.cost == sc.optimal_cost());
    let png = dir.join("one.png");
    m.draw_episode(&png, "one episode", &sc, &t, Some(&e))
        .unwrap();
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    let blocked = Cell::new(world.rects()[0].x, world.rects()[0].y);
    assert!(m.scenario_in(world, start, blocked).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dagger_rounds_relabel_visited_states_and_grow_the_aggregate() {
    let dir = tmp("dagger");
    let run = RunDir::open(&dir, OpenMode::Fresh).unwrap();
    let cfg = PolicyRunConfig {
        dagger: true,
        ..tiny()
    };
    let s = train(&cfg, &run, false, true, &mut Silent).unwrap();
    assert!(bc_path(&dir).is_file(), "the BC network is kept");
    let rounds: Vec<DaggerRound> =
        serde_json::from_str(&std::fs::read_to_string(run.file(DAGGER_FILE)).unwrap()).unwrap();
    assert_eq!(rounds.len(), cfg.dagger_rounds);
    let spe = cfg.demos.div_ceil(cfg.batch) as u64;
    let mut size = cfg.demos;
    for (k, r) in rounds.iter().enumerate() {
        assert_eq!(r.round, k + 1);
        assert_eq!(
            r.step,
            spe * cfg.epochs as u64 + (k * cfg.dagger_steps) as u64,
            "a round starts at its first step"
        );
        assert_eq!(r.episodes, cfg.dagger_episodes);
        // Every episode contributes at least its start state.
        assert!(r.states_added >= r.episodes && r.states_added == r.visits.len());
        assert!(r.disagreements <= r.states_added);
        size += r.states_added;
        assert_eq!(r.aggregate, size);
        // The visited states are free cells of their episodes, and the
        // expert labels them as it would label them in a fresh episode.
        let relabelled = relabel(&cfg.sim(), &r.visits).unwrap();
        assert_eq!(relabelled.len(), r.visits.len());
    }
    assert_eq!(s.eval.aggregate, Some(size));
    assert_eq!(s.eval.dagger_rounds.len(), cfg.dagger_rounds);
    let names: Vec<&str> = s
        .eval
        .closed_loop
        .iter()
        .map(|c| c.controller.as_str())
        .collect();
    assert_eq!(names, ["expert", "BC", "DAgger"]);
    let p = s.eval.paired.as_ref().unwrap();
    let (bc_k, dagger_k) = (
        s.eval.closed_loop[1].successes,
        s.eval.closed_loop[2].successes,
    );
    assert_eq!(
        dagger_k as i64 - bc_k as i64,
        p.only_second as i64 - p.only_first as i64
    );
    // The BC snapshot scores as the eval's BC line.
    let bc = evaluate_checkpoint(&bc_path(&dir), None, None, None).unwrap();
    assert_eq!(Some(bc.test_accuracy), s.eval.bc_test_accuracy);
    assert_eq!(bc.closed_loop[1].successes, s.eval.closed_loop[1].successes);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let (a, b) = (tmp("whole"), tmp("resumed"));
    // A constant rate: the cosine's length is the run's, which the resume
    // changes (the DAgger test below resumes with the schedule running).
    let cfg = PolicyRunConfig {
        demos: 300,
        eval_episodes: 5,
        min_lr: tiny().lr,
        ..tiny()
    };
    let run = RunDir::open(&a, OpenMode::Fresh).unwrap();
    train(&cfg, &run, false, true, &mut Silent).unwrap();
    let whole = weights(&PolicyModel::load(run.last()).unwrap().net);
    let half = PolicyRunConfig {
        epochs: cfg.epochs / 2,
        ..cfg.clone()
    };
    let run = RunDir::open(&b, OpenMode::Fresh).unwrap();
    train(&half, &run, false, true, &mut Silent).unwrap();
    let mid = weights(&PolicyModel::load(run.last()).unwrap().net);
    let run = RunDir::open(&b, OpenMode::Resume).unwrap();
    let s = train(&cfg, &run, true, true, &mut Silent).unwrap();
    assert!(s.fit.steps_this_run > 0);
    let resumed = weights(&PolicyModel::load(run.last()).unwrap().net);
    assert_ne!(resumed, mid);
    assert_eq!(resumed, whole, "resuming changed the run");
    for p in [a, b] {
        std::fs::remove_dir_all(p).unwrap();
    }
}

#[test]
fn a_resumed_dagger_run_rebuilds_its_aggregate() {
    let (a, b) = (tmp("dagger-whole"), tmp("dagger-resumed"));
    let cfg = PolicyRunConfig {
        demos: 300,
        eval_episodes: 5,
        dagger: true,
        dagger_episodes: 10,
        ..tiny()
    };
    let run = RunDir::open(&a, OpenMode::Fresh).unwrap();
    let whole_eval = train(&cfg, &run, false, true, &mut Silent).unwrap().eval;
    let whole = weights(&PolicyModel::load(run.last()).unwrap().net);
    // One round, then resumed for the second: the first round's states
    // come back from dagger.json, the second is driven after the resume.
    let first = PolicyRunConfig {
        dagger_rounds: 1,
        ..cfg.clone()
    };
    let run = RunDir::open(&b, OpenMode::Fresh).unwrap();
    train(&first, &run, false, true, &mut Silent).unwrap();
    let run = RunDir::open(&b, OpenMode::Resume).unwrap();
    let s = train(&cfg, &run, true, true, &mut Silent).unwrap();
    assert_eq!(s.fit.steps_this_run, cfg.dagger_steps as u64);
    assert_eq!(weights(&PolicyModel::load(run.last()).unwrap().net), whole);
    assert_eq!(s.eval.aggregate, whole_eval.aggregate);
    assert_eq!(s.eval.dagger_rounds, whole_eval.dagger_rounds);
    for p in [a, b] {
        std::fs::remove_dir_all(p).unwrap();
    }
}
