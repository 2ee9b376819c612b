//! Anomaly mode: the first op that produces a NaN or an infinity, forward or
//! backward, is reported with its name, input shapes and location. The mode
//! is process-wide, so the tests take a lock and set it explicitly.

use ferrograd_autograd::anomaly::{self, Phase};
use ferrograd_autograd::{grad, Error, GradOptions, Var};
use ferrograd_tensor::Tensor;
use std::sync::Mutex;

static LOCK: Mutex<()> = Mutex::new(());

fn vector(v: &[f32]) -> Var {
    Var::param(Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap())
}

fn anomaly_of(r: ferrograd_autograd::Result<impl std::fmt::Debug>) -> anomaly::Anomaly {
    match r {
        Err(Error::Anomaly(a)) => *a,
        other => panic!("expected an anomaly, got {other:?}"),
    }
}

fn with_mode<T>(on: bool, f: impl FnOnce() -> T) -> T {
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if on {
        anomaly::enable();
    } else {
        anomaly::disable();
    }
    anomaly::take();
    let out = f();
    anomaly::disable();
    anomaly::take();
    out
}

#[test]
fn forward_log_of_a_negative_is_reported_at_its_line() {
    with_mode(true, || {
        let x = vector(&[1.0, -2.0, 3.0]);
        let line = line!() + 1;
        let y = x.log();
        let loss = y.mul_scalar(2.0).sum_all();
        let a = anomaly_of(loss.backward());
        assert_eq!(a.op, "log");
        assert_eq!(a.phase, Phase::Forward);
        assert_eq!((a.nan, a.inf), (1, 0));
        assert_eq!(a.input_shapes.len(), 1);
        assert_eq!(a.input_shapes[0].as_slice(), &[3]);
        assert!(a.inputs_finite);
        let l = a.location.unwrap();
        assert!(l.file().ends_with("anomaly.rs"), "{}", l.file());
        assert_eq!(l.line(), line);
        let msg = Error::Anomaly(Box::new(a)).to_string();
        assert!(msg.contains("`log`") && msg.contains("1 NaN"), "{msg}");
        // Reported once: the next backward is clean.
        assert!(x.log().sum_all().backward().is_err()); // a new NaN
        assert!(x.square().sum_all().backward().is_ok());
    });
}

#[test]
fn forward_zero_over_zero_names_div_and_both_shapes() {
    with_mode(true, || {
        let a = Var::param(Tensor::zeros(&[2, 3]).unwrap());
        let b = Var::constant(Tensor::zeros(&[3]).unwrap());
        let y = a.div(&b).unwrap();
        let rep = anomaly_of(anomaly::check());
        assert_eq!(rep.op, "div");
        assert_eq!(rep.nan, 6);
        let dims: Vec<&[usize]> = rep.input_shapes.iter().map(|s| s.as_slice()).collect();
        assert_eq!(dims, vec![&[2usize, 3][..], &[3][..]]);
        assert_eq!(rep.shape.as_slice(), &[2, 3]);
        drop(y);
        // Later NaNs from the first one are not reported as new: only the first.
        let z = a.div(&b).unwrap().exp().sum_all();
        let first = anomaly_of(grad(&[&z], &[&a], None, GradOptions::default()));
        assert_eq!(first.op, "div");
    });
}

#[test]
fn a_nan_input_is_flagged_as_coming_from_further_up() {
    with_mode(true, || {
        let x = vector(&[f32::NAN, 1.0]);
        let rep = anomaly_of(x.mul_scalar(3.0).sum_all().backward());
        assert_eq!(rep.op, "mul_scalar");
        assert!(!rep.inputs_finite);
        assert!(Error::Anomaly(Box::new(rep))
            .to_string()
            .contains("already not finite"));
    });
}

#[test]
fn backward_sqrt_at_zero_names_the_sqrt_rule() {
    with_mode(true, || {
        let x = vector(&[0.0, 4.0]);
        let line = line!() + 1;
        let y = x.sqrt().sum_all(); // forward finite: √0 = 0
        assert!(anomaly::check().is_ok());
        let rep = anomaly_of(grad(&[&y], &[&x], None, GradOptions::default()));
        // d√x/dx = 1/(2√x) = ∞ at 0: the division inside sqrt's rule.
        assert_eq!(rep.inf, 1);
        let (of, at) = rep.backward_of.clone().expect("inside a backward rule");
        assert_eq!(of, "sqrt");
        assert_eq!(at.unwrap().line(), line);
        let msg = Error::Anomaly(Box::new(rep)).to_string();
        assert!(msg.contains("backward rule of `sqrt`"), "{msg}");
    });
}

#[test]
fn backward_of_a_custom_rule_is_caught_by_the_engine() {
    // A custom rule that builds its gradient as a raw constant (no recorded
    // op) is still checked: the engine scans every rule's gradients.
    struct Bad;
    impl ferrograd_autograd::CustomOp for Bad {
        fn name(&self) -> &'static str {
            "bad"
        }
        fn forward(&self, x: &[&Tensor]) -> ferrograd_autograd::Result<Tensor> {
            Ok(x[0].clone())
        }
        fn backward(
            &self,
            x: &[Var],
            _y: &Var,
            _g: &Var,
        ) -> ferrograd_autograd::Result<Vec<Option<Var>>> {
            Ok(vec![Some(Var::constant(Tensor::full_shape(
                *x[0].shape(),
                f32::INFINITY,
            )))])
        }
    }
    with_mode(true, || {
        let x = vector(&[1.0, 2.0]);
        let y = Var::custom(std::sync::Arc::new(Bad), &[&x])
            .unwrap()
            .sum_all();
        let rep = anomaly_of(y.backward());
        assert_eq!(rep.op, "bad");
        assert_eq!(rep.phase, Phase::Backward { input: 0 });
        assert_eq!(rep.inf, 2);
        assert!(rep.location.is_some());
    });
}

#[test]
fn a_clean_second_order_gradient_reports_nothing() {
    with_mode(true, || {
        // x² at 1: dy = 2, d²y = 2.
        let z = vector(&[1.0]);
        let y = z.square().sum_all();
        let dz = grad(&[&y], &[&z], None, GradOptions::create_graph()).unwrap();
        let d2 = grad(&[&dz[0].sum_all()], &[&z], None, GradOptions::default()).unwrap();
        assert_eq!(d2[0].value().data(), &[2.0]);
        assert!(anomaly::take().is_none());
    });
}

#[test]
fn second_order_only_nan_names_the_rule_of_the_first_backward() {
    with_mode(true, || {
        // g = dy/dx = 2x·… finite; the second backward differentiates the
        // recorded rule of sqrt at a point where it is infinite.
        let x = vector(&[0.0]);
        let y = x.square().add_scalar(0.0).sum_all();
        let dy = grad(&[&y], &[&x], None, GradOptions::create_graph()).unwrap();
        // h = √(dy) = √(2x) at 0: forward 0, its gradient ∞.
        let h = dy[0].sqrt().sum_all();
        let rep = anomaly_of(grad(&[&h], &[&x], None, GradOptions::default()));
        assert_eq!(rep.backward_of.map(|b| b.0).as_deref(), Some("sqrt"));
    });
}

#[test]
fn off_mode_does_nothing() {
    with_mode(false, || {
        assert!(!anomaly::is_enabled());
        let x = vector(&[-1.0, 0.0]);
        let y = x.log().add(&x.sqrt()).unwrap().sum_all();
        assert!(y.item().unwrap().is_nan());
        let g = grad(&[&y], &[&x], None, GradOptions::default()).unwrap();
        assert!(g[0].value().data().iter().any(|v| !v.is_finite()));
        assert!(anomaly::check().is_ok());
        assert!(anomaly::take().is_none());
    });
}

#[test]
fn the_guard_restores_the_previous_mode() {
    with_mode(false, || {
        {
            let _on = anomaly::detect_anomaly();
            assert!(anomaly::is_enabled());
        }
        assert!(!anomaly::is_enabled());
    });
}
