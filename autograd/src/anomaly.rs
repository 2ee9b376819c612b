//! Anomaly mode (PyTorch's `detect_anomaly`): find the first operation that
//! produces a NaN or an infinity, in the forward pass or in a backward rule.
//!
//! Off by default. Turn it on for the whole process with [`enable`], for a
//! scope with [`detect_anomaly`], or by starting the process with
//! `FERROGRAD_DETECT_ANOMALY=1` (read once, at the first operation). When
//! off, recording an operation costs one relaxed atomic load more and a
//! backward pass one load per call; graph nodes carry nothing for the mode
//! (where an op was recorded lives in a side table filled only when it is
//! on, keyed by node id).
//!
//! When on, every recorded operation remembers where it was called
//! ([`std::panic::Location`], through `#[track_caller]` on the public
//! operations) and its output is scanned. The first non-finite output on a
//! thread is kept as that thread's pending [`Anomaly`] (later ones are
//! ignored until it is taken). Operations never fail because of it, so
//! library code keeps its error conventions; the anomaly surfaces as
//! [`Error::Anomaly`](crate::Error::Anomaly) from the next [`grad`](crate::grad) or
//! [`Var::backward`](crate::Var::backward) on that thread, or from [`check`]
//! (for code that never differentiates). In a backward pass the engine also
//! scans each rule's gradients and names the operation whose rule produced
//! the non-finite value.
//!
//! ```
//! use ferrograd_autograd::{anomaly, Error, Var};
//! use ferrograd_tensor::Tensor;
//! let _on = anomaly::detect_anomaly();
//! let x = Var::param(Tensor::from_vec(vec![1.0, -1.0], &[2]).unwrap());
//! let loss = x.log().sum_all(); // ln(−1) = NaN
//! match loss.backward() {
//!     Err(Error::Anomaly(a)) => {
//!         assert_eq!(a.op, "log");
//!         assert_eq!(a.nan, 1);
//!         assert!(a.location.unwrap().file().ends_with(".rs"));
//!     }
//!     other => panic!("expected an anomaly, got {other:?}"),
//! }
//! ```
//!
//! Legitimate infinities (a `−∞` mask, `log 0` on purpose) are reported
//! too: anomaly mode is a debugging switch, not a training setting.

use crate::op::Op;
use crate::var::Node;
use crate::Var;
use ferrograd_tensor::{Shape, Tensor};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The environment variable that turns anomaly mode on at start-up (`1`,
/// `true`, `yes` or `on`).
pub const ENV_VAR: &str = "FERROGRAD_DETECT_ANOMALY";

const UNKNOWN: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

thread_local! {
    static PENDING: RefCell<Option<Anomaly>> = const { RefCell::new(None) };
    /// The node whose backward rule is running (anomaly mode only).
    static BACKWARD_OF: RefCell<Option<(String, Option<&'static Location<'static>>)>> =
        const { RefCell::new(None) };
}

/// Where each node recorded in anomaly mode was recorded, by node id. The
/// weak reference tells a live node from a freed one whose id is kept; freed
/// entries are dropped whenever the table has doubled since the last sweep,
/// so the table stays proportional to the live graph and a node's drop
/// costs nothing.
struct Locations {
    by_id: HashMap<u64, (Weak<Node>, &'static Location<'static>)>,
    sweep_at: usize,
}

static LOCATIONS: Mutex<Option<Locations>> = Mutex::new(None);

/// Notes where `v` was recorded (anomaly mode only).
#[cold]
#[inline(never)]
pub(crate) fn remember(v: &Var, location: &'static Location<'static>) {
    let mut table = LOCATIONS.lock().unwrap_or_else(|e| e.into_inner());
    let t = table.get_or_insert_with(|| Locations {
        by_id: HashMap::new(),
        sweep_at: 1024,
    });
    if t.by_id.len() >= t.sweep_at {
        t.by_id.retain(|_, (w, _)| w.strong_count() > 0);
        t.sweep_at = (2 * t.by_id.len()).max(1024);
    }
    t.by_id.insert(v.id(), (Arc::downgrade(&v.0), location));
}

/// Where `node` was recorded, if it was recorded in anomaly mode.
fn location_of(node: &Var) -> Option<&'static Location<'static>> {
    let table = LOCATIONS.lock().unwrap_or_else(|e| e.into_inner());
    table
        .as_ref()?
        .by_id
        .get(&node.id())
        .filter(|(w, _)| w.strong_count() > 0)
        .map(|&(_, l)| l)
}

/// Whether anomaly mode is on: one relaxed atomic load (the environment is
/// read at the first call only).
#[inline(always)]
pub fn is_enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => init_from_env(),
    }
}

#[cold]
fn init_from_env() -> bool {
    let on = std::env::var(ENV_VAR).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    });
    let want = if on { ON } else { OFF };
    // A concurrent enable()/disable() wins over the environment.
    match STATE.compare_exchange(UNKNOWN, want, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => on,
        Err(now) => now == ON,
    }
}

/// Turns anomaly mode on for the whole process.
pub fn enable() {
    STATE.store(ON, Ordering::Relaxed);
}

/// Turns anomaly mode off for the whole process (also overriding
/// [`ENV_VAR`]).
pub fn disable() {
    STATE.store(OFF, Ordering::Relaxed);
}

/// Restores the previous anomaly mode when dropped; see [`detect_anomaly`].
#[must_use = "anomaly mode is turned back off when the guard is dropped"]
pub struct AnomalyGuard {
    previous: bool,
}

impl Drop for AnomalyGuard {
    fn drop(&mut self) {
        if !self.previous {
            disable();
        }
    }
}

/// Turns anomaly mode on (process-wide) until the guard is dropped.
pub fn detect_anomaly() -> AnomalyGuard {
    let previous = is_enabled();
    enable();
    AnomalyGuard { previous }
}

/// Takes this thread's pending anomaly, if any (and forgets it).
pub fn take() -> Option<Anomaly> {
    PENDING.with(|p| p.borrow_mut().take())
}

/// `Err(Error::Anomaly)` if an operation on this thread produced a NaN or
/// an infinity since the last `check`, `take` or failed `grad`; `Ok` when
/// anomaly mode is off.
pub fn check() -> crate::Result<()> {
    if !is_enabled() {
        return Ok(());
    }
    match take() {
        Some(a) => Err(crate::Error::Anomaly(Box::new(a))),
        None => Ok(()),
    }
}

/// Where in the computation the non-finite value appeared.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// The output of a forward operation (also one run by a backward rule:
    /// see [`Anomaly::backward_of`]).
    Forward,
    /// The gradient a backward rule returned for input `input` of the op.
    Backward {
        /// Position of the input whose gradient is not finite.
        input: usize,
    },
}

/// The first operation that produced a NaN or an infinity.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// The operation (`"log"`, `"div"`, `"matmul"`, a custom op's name).
    pub op: String,
    /// Forward output or backward gradient.
    pub phase: Phase,
    /// The shapes of the operation's inputs.
    pub input_shapes: Vec<Shape>,
    /// The shape of the non-finite value.
    pub shape: Shape,
    /// NaN elements in it.
    pub nan: usize,
    /// Infinite elements in it.
    pub inf: usize,
    /// Whether the inputs (for a backward rule: the inputs and the incoming
    /// gradient) were all finite: if not, the value came from further up.
    pub inputs_finite: bool,
    /// Where the operation was recorded (the caller of the public `Var`
    /// method, or of the layer that called it).
    pub location: Option<&'static Location<'static>>,
    /// For an operation run inside a backward rule: the op whose rule ran it
    /// and where that op was recorded.
    pub backward_of: Option<(String, Option<&'static Location<'static>>)>,
}

fn at(l: &Option<&'static Location<'static>>) -> String {
    l.map_or_else(
        || "an unknown place".to_string(),
        |l| format!("{}:{}:{}", l.file(), l.line(), l.column()),
    )
}

fn shapes(s: &[Shape]) -> String {
    let v: Vec<String> = s.iter().map(|s| s.to_string()).collect();
    v.join(", ")
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.nan, self.inf) {
            (n, 0) => format!("{n} NaN"),
            (0, i) => format!("{i} infinite"),
            (n, i) => format!("{n} NaN and {i} infinite"),
        };
        match &self.phase {
            Phase::Forward => write!(
                f,
                "anomaly: `{}` (recorded at {}, inputs [{}]) produced {what} of {} values (shape {})",
                self.op,
                at(&self.location),
                shapes(&self.input_shapes),
                self.shape.numel(),
                self.shape
            )?,
            Phase::Backward { input } => write!(
                f,
                "anomaly in backward: the backward rule of `{}` (recorded at {}, inputs [{}]) \
                 produced {what} of {} values in the gradient of input {input} (shape {})",
                self.op,
                at(&self.location),
                shapes(&self.input_shapes),
                self.shape.numel(),
                self.shape
            )?,
        }
        if let Some((op, loc)) = &self.backward_of {
            write!(
                f,
                ", inside the backward rule of `{op}` (recorded at {})",
                at(loc)
            )?;
        }
        if !self.inputs_finite {
            write!(
                f,
                "; its inputs were already not finite (look further up: a leaf or data)"
            )?;
        }
        Ok(())
    }
}

fn count(t: &Tensor) -> (usize, usize) {
    t.data().iter().fold((0, 0), |(n, i), x| {
        (n + x.is_nan() as usize, i + x.is_infinite() as usize)
    })
}

fn all_finite(t: &Tensor) -> bool {
    t.data().iter().all(|x| x.is_finite())
}

fn describe(op: &Op) -> String {
    match op {
        Op::Unary(u) => format!("{u:?}").to_lowercase(),
        Op::Binary(b) => format!("{b:?}").to_lowercase(),
        other => other.name().to_string(),
    }
}

fn keep(a: Anomaly) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if p.is_none() {
            *p = Some(a);
        }
    });
}

/// Anomaly mode's part of recording an op (called only when it is on): the
/// caller's location, and a pending anomaly if `value` is not finite.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn on_forward(value: &Tensor, op: &Op, inputs: &[Var]) -> &'static Location<'static> {
    let location = Location::caller();
    let (nan, inf) = count(value);
    if nan + inf > 0 {
        keep(Anomaly {
            op: describe(op),
            phase: Phase::Forward,
            input_shapes: inputs.iter().map(|v| *v.shape()).collect(),
            shape: *value.shape(),
            nan,
            inf,
            inputs_finite: inputs.iter().all(|v| all_finite(v.value())),
            location: Some(location),
            backward_of: BACKWARD_OF.with(|b| b.borrow().clone()),
        });
    }
    location
}

/// Marks the backward rule of `node` as running until the guard drops.
pub(crate) struct RuleScope {
    previous: Option<(String, Option<&'static Location<'static>>)>,
}

impl Drop for RuleScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        BACKWARD_OF.with(|b| *b.borrow_mut() = previous);
    }
}

/// Enters the backward rule of `node` (anomaly mode only).
pub(crate) fn enter_rule(node: &Var) -> RuleScope {
    let name = node.0.op.as_ref().map_or_else(|| "leaf".into(), describe);
    let previous = BACKWARD_OF.with(|b| b.replace(Some((name, location_of(node)))));
    RuleScope { previous }
}

/// Checks the gradients a rule returned for `node`'s inputs, then returns
/// the pending anomaly (forward or backward) as an error.
pub(crate) fn after_rule(node: &Var, g: &Var, dx: &[Option<Var>]) -> crate::Result<()> {
    for (input, d) in dx.iter().enumerate() {
        let Some(d) = d else { continue };
        let (nan, inf) = count(d.value());
        if nan + inf > 0 {
            let op = node.0.op.as_ref().map_or_else(|| "leaf".into(), describe);
            keep(Anomaly {
                op,
                phase: Phase::Backward { input },
                input_shapes: node.0.inputs.iter().map(|v| *v.shape()).collect(),
                shape: *d.shape(),
                nan,
                inf,
                inputs_finite: all_finite(g.value())
                    && node.0.inputs.iter().all(|v| all_finite(v.value())),
                location: location_of(node),
                backward_of: None,
            });
            break;
        }
    }
    check()
}
