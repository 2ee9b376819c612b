//! Hand-worked sequences, each also checked against torch 2.15.0's
//! `ReduceLROnPlateau` (same settings, same metrics, same rates).

use super::*;

fn rates(lr: f64, config: PlateauConfig, metrics: &[f64]) -> Vec<f64> {
    let mut s = ReduceLrOnPlateau::new(lr, config).unwrap();
    metrics.iter().map(|&m| s.step_metric(m)).collect()
}

#[test]
fn relative_threshold_and_patience() {
    // better means < best·0.9. best 10; 9.5, 9.2, 9.1 are not better:
    // bad 1, 2, 3 > patience 2 → 0.5. 8.9 < 9 is better (best 8.9);
    // 8.5, 8.2, 8.1 are not (< 8.01 needed) → 0.25; 7.0 is better.
    let cfg = PlateauConfig {
        factor: 0.5,
        patience: 2,
        threshold: 0.1,
        ..PlateauConfig::default()
    };
    let metrics = [10.0, 9.5, 9.2, 9.1, 8.9, 8.5, 8.2, 8.1, 7.0];
    let want = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25];
    assert_eq!(rates(1.0, cfg, &metrics), want);
}

#[test]
fn absolute_threshold_cooldown_and_min_lr() {
    // better means < best − 0.5 (strictly). Step by step (best, bad, cooldown):
    //  1 5.0  best 5                    lr 1
    //  2 4.75 bad 1                     lr 1
    //  3 4.75 bad 2 > 1 → lr 0.1, cooldown 2
    //  4 4.25 best 4.25, cooldown 1
    //  5 4.0  bad → reset by cooldown 0
    //  6 4.0  bad 1
    //  7 4.0  bad 2 → lr 0.01, cooldown 2
    //  8 3.75 a tie with 4.25 − 0.5 is not better; cooldown 1
    //  9 3.5  best 3.5, cooldown 0
    // 10 3.25 bad 1
    // 11 3.25 bad 2 → max(0.001, min_lr 0.005) = 0.005, cooldown 2
    // 12, 13  cooldown; 14 bad 1; 15 bad 2 → max(0.0005, 0.005) = 0.005:
    //         no change (a reduction of 0 is not > eps)
    let cfg = PlateauConfig {
        factor: 0.1,
        patience: 1,
        threshold: 0.5,
        threshold_mode: ThresholdMode::Abs,
        cooldown: 2,
        min_lr: 0.005,
        ..PlateauConfig::default()
    };
    let metrics = [
        5.0, 4.75, 4.75, 4.25, 4.0, 4.0, 4.0, 3.75, 3.5, 3.25, 3.25, 3.0, 3.0, 3.0, 3.0,
    ];
    let lr2 = 0.1 * 0.1; // 0.010000000000000002, as in torch
    let want = [
        1.0, 1.0, 0.1, 0.1, 0.1, 0.1, lr2, lr2, lr2, lr2, 0.005, 0.005, 0.005, 0.005, 0.005,
    ];
    assert_eq!(rates(1.0, cfg, &metrics), want);
}

#[test]
fn mode_max_with_cooldown() {
    // better means > best·1.01; patience 0: every bad step outside cooldown
    // halves the rate.
    //  0.5 best; 0.6 best; 0.605 < 0.606 bad → 0.5 (cooldown 1); 0.7 best;
    //  0.7 bad → 0.25; 0.69 bad but cooling down; 0.8 best; 0.8 bad → 0.125;
    //  0.8 cooling down; 0.8 bad → 0.0625.
    let cfg = PlateauConfig {
        mode: PlateauMode::Max,
        factor: 0.5,
        patience: 0,
        threshold: 0.01,
        cooldown: 1,
        ..PlateauConfig::default()
    };
    let metrics = [0.5, 0.6, 0.605, 0.7, 0.7, 0.69, 0.8, 0.8, 0.8, 0.8];
    let want = [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.0625];
    assert_eq!(rates(1.0, cfg, &metrics), want);
}

#[test]
fn reductions_smaller_than_eps_are_skipped() {
    // 1 → 0.5 lowers by 0.5 > eps 0.3; 0.5 → 0.25 would lower by 0.25: skipped.
    let cfg = PlateauConfig {
        factor: 0.5,
        patience: 0,
        eps: 0.3,
        ..PlateauConfig::default()
    };
    assert_eq!(rates(1.0, cfg, &[1.0, 2.0, 2.0, 2.0]), [1.0, 0.5, 0.5, 0.5]);
}

#[test]
fn nan_metric_counts_as_bad_and_trait_step_needs_a_metric() {
    let cfg = PlateauConfig {
        patience: 0,
        ..PlateauConfig::default()
    };
    let mut s = ReduceLrOnPlateau::new(1.0, cfg).unwrap();
    assert_eq!(s.step_metric(f64::NAN), 0.1);
    assert_eq!(s.best(), None);
    assert!(s.needs_metric());
    assert!(matches!(s.step(None), Err(Error::Config(_))));
    assert_eq!(LrScheduler::step(&mut s, Some(0.5)).unwrap(), 0.1);
    assert_eq!(s.best(), Some(0.5));
}

#[test]
fn state_round_trip_keeps_infinite_best() {
    let cfg = PlateauConfig {
        mode: PlateauMode::Max,
        patience: 3,
        cooldown: 2,
        ..PlateauConfig::default()
    };
    let mut s = ReduceLrOnPlateau::new(0.1, cfg).unwrap();
    s.step_metric(f64::INFINITY);
    s.step_metric(1.0);
    assert_eq!(s.best(), Some(f64::INFINITY));
    let text = serde_json::to_string(&s.state_dict()).unwrap();
    let mut t = ReduceLrOnPlateau::new(1.0, PlateauConfig::default()).unwrap();
    t.load_state_dict(&serde_json::from_str(&text).unwrap())
        .unwrap();
    assert_eq!(t, s);
    assert_eq!(t.num_bad_epochs(), 1);

    let fresh = ReduceLrOnPlateau::new(1.0, PlateauConfig::default()).unwrap();
    let text = serde_json::to_string(&fresh.state_dict()).unwrap();
    t.load_state_dict(&serde_json::from_str(&text).unwrap())
        .unwrap();
    assert_eq!(t, fresh);
}

#[test]
fn bad_settings_are_errors() {
    for cfg in [
        PlateauConfig {
            factor: 1.0,
            ..PlateauConfig::default()
        },
        PlateauConfig {
            factor: -0.5,
            ..PlateauConfig::default()
        },
        PlateauConfig {
            min_lr: -1.0,
            ..PlateauConfig::default()
        },
        PlateauConfig {
            threshold: f64::NAN,
            ..PlateauConfig::default()
        },
    ] {
        assert!(matches!(
            ReduceLrOnPlateau::new(1.0, cfg),
            Err(Error::Config(_))
        ));
    }
}
