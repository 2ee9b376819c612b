//! [`Var`]: a tensor together with the operation that produced it, and the
//! grad-mode switch ([`no_grad`]).

use crate::op::Op;
use ferrograd_tensor::{Shape, Tensor};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static LIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// A node of the recorded graph. Ids grow with creation, so every node's
/// inputs have smaller ids than the node: sorting by id is a topological order.
pub(crate) struct Node {
    pub(crate) id: u64,
    pub(crate) value: Tensor,
    pub(crate) requires_grad: bool,
    pub(crate) op: Option<Op>,
    pub(crate) inputs: Vec<Var>,
    /// Gradient accumulated by [`Var::backward`] (leaves only).
    pub(crate) grad: Mutex<Option<Tensor>>,
    /// An activation's recorded derivative f′(x), kept by the first
    /// `create_graph` backward through this node so that a later backward
    /// (the double backward of a gradient penalty) reuses it instead of
    /// running the kernel again ([`Var::cached_derivative`]).
    pub(crate) derivative: Mutex<Option<Var>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        // Free long chains iteratively: a recursive drop of a graph of
        // thousands of nodes would overflow the stack.
        let mut stack = std::mem::take(&mut self.inputs);
        while let Some(v) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(v.0) {
                stack.append(&mut node.inputs);
            }
        }
    }
}

/// A differentiable value: a [`Tensor`], whether it requires a gradient, and
/// (for computed values) the operation and inputs that produced it.
///
/// Clones are cheap and refer to the same node. A graph lives as long as a
/// `Var` refers to it; dropping the outputs frees it.
///
/// ```
/// use ferrograd_autograd::{grad, GradOptions, Var};
/// use ferrograd_tensor::Tensor;
/// let x = Var::param(Tensor::scalar(3.0));
/// let y = x.mul(&x).unwrap().mul(&x).unwrap(); // x³
/// let dy = grad(&[&y], &[&x], None, GradOptions::create_graph()).unwrap();
/// assert_eq!(dy[0].item().unwrap(), 27.0); // 3x²
/// let d2y = grad(&[&dy[0]], &[&x], None, GradOptions::default()).unwrap();
/// assert_eq!(d2y[0].item().unwrap(), 18.0); // 6x
/// ```
#[derive(Clone)]
pub struct Var(pub(crate) Arc<Node>);

impl Var {
    #[inline]
    fn make(value: Tensor, requires_grad: bool, op: Option<Op>, inputs: Vec<Var>) -> Var {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Var(Arc::new(Node {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            value,
            requires_grad,
            op,
            inputs,
            grad: Mutex::new(None),
            derivative: Mutex::new(None),
        }))
    }

    /// A leaf holding `value`; `requires_grad` asks for its gradient.
    pub fn new(value: Tensor, requires_grad: bool) -> Var {
        Var::make(value, requires_grad, None, Vec::new())
    }

    /// A trainable leaf (requires a gradient).
    pub fn param(value: Tensor) -> Var {
        Var::new(value, true)
    }

    /// A constant leaf (no gradient).
    pub fn constant(value: Tensor) -> Var {
        Var::new(value, false)
    }

    /// A constant scalar.
    pub fn scalar(value: f32) -> Var {
        Var::constant(Tensor::scalar(value))
    }

    /// Records `op` applied to `inputs` with result `value`: a graph node if
    /// grad mode is on and an input requires a gradient, a constant otherwise.
    /// In anomaly mode it also checks the value and notes the caller's
    /// location in anomaly mode's side table ([`crate::anomaly`]): the node
    /// itself carries nothing for it, so the mode costs one flag read here
    /// when it is off.
    #[inline]
    #[track_caller]
    pub(crate) fn record(value: Tensor, op: Op, inputs: Vec<Var>) -> Var {
        let location = if crate::anomaly::is_enabled() {
            Some(crate::anomaly::on_forward(&value, &op, &inputs))
        } else {
            None
        };
        if is_grad_enabled() && inputs.iter().any(Var::requires_grad) {
            let v = Var::make(value, true, Some(op), inputs);
            if let Some(location) = location {
                crate::anomaly::remember(&v, location);
            }
            v
        } else {
            Var::constant(value)
        }
    }

    /// The derivative `compute()` of this node's elementwise op with respect
    /// to its input, reused when an earlier backward recorded it (it is a
    /// function of the input alone). Only recorded derivatives are kept: a
    /// plain backward frees the ones it computes as soon as they are used.
    /// (The exact GELU fills the slot in its forward: [`Var::gelu`].)
    pub(crate) fn cached_derivative(&self, compute: impl FnOnce() -> Var) -> Var {
        let mut slot = self.0.derivative.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = slot.as_ref() {
            return d.clone();
        }
        let d = compute();
        if d.requires_grad() {
            *slot = Some(d.clone());
        }
        d
    }

    /// Keeps `d` (a recorded derivative of this node's op with respect to
    /// its input) for [`Var::cached_derivative`].
    pub(crate) fn prefill_derivative(&self, d: Var) {
        if d.requires_grad() {
            *self.0.derivative.lock().unwrap_or_else(|e| e.into_inner()) = Some(d);
        }
    }

    /// The value.
    pub fn value(&self) -> &Tensor {
        &self.0.value
    }

    /// The shape of the value.
    pub fn shape(&self) -> &Shape {
        self.0.value.shape()
    }

    /// The dimensions of the value.
    pub fn dims(&self) -> &[usize] {
        self.0.value.dims()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.value.numel()
    }

    /// The single value of a one-element `Var`.
    pub fn item(&self) -> crate::Result<f32> {
        Ok(self.0.value.item()?)
    }

    /// Whether gradients flow to this value.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    /// Whether this is a leaf (created directly, not computed by an op).
    pub fn is_leaf(&self) -> bool {
        self.0.op.is_none()
    }

    /// A new leaf with the same value, cut off from the graph (no gradient).
    pub fn detach(&self) -> Var {
        Var::constant(self.0.value.clone())
    }

    /// The gradient accumulated into this leaf by [`Var::backward`], if any.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.lock().expect("gradient lock").clone()
    }

    /// Replaces the accumulated gradient (what gradient clipping and
    /// accumulation do between `backward` and the optimizer step).
    pub fn set_grad(&self, grad: Option<Tensor>) {
        *self.0.grad.lock().expect("gradient lock") = grad;
    }

    /// Clears the accumulated gradient.
    pub fn zero_grad(&self) {
        *self.0.grad.lock().expect("gradient lock") = None;
    }

    /// Adds `g` to the accumulated gradient.
    pub(crate) fn accumulate_grad(&self, g: &Tensor) -> crate::Result<()> {
        let mut slot = self.0.grad.lock().expect("gradient lock");
        *slot = Some(match slot.take() {
            Some(old) => old.add(g)?,
            None => g.clone(),
        });
        Ok(())
    }

    /// A number identifying this node (stable while it lives).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The name of the operation that produced this value (`"leaf"` for leaves).
    pub fn op_name(&self) -> &'static str {
        self.0.op.as_ref().map_or("leaf", Op::name)
    }
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Var(#{} {} requires_grad={} {:?})",
            self.0.id,
            self.op_name(),
            self.0.requires_grad,
            self.0.value
        )
    }
}

/// Number of graph nodes alive in this process (for memory-leak tests).
pub fn live_nodes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Whether operations on this thread are being recorded.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(Cell::get)
}

/// Restores the previous grad mode when dropped; see [`no_grad_guard`].
pub struct GradModeGuard {
    previous: bool,
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Sets the grad mode of this thread until the guard is dropped.
pub fn set_grad_enabled(enabled: bool) -> GradModeGuard {
    let previous = GRAD_ENABLED.with(|g| g.replace(enabled));
    GradModeGuard { previous }
}

/// Turns recording off on this thread until the guard is dropped.
pub fn no_grad_guard() -> GradModeGuard {
    set_grad_enabled(false)
}

/// Runs `f` without recording operations (like `torch.no_grad()`).
///
/// ```
/// use ferrograd_autograd::{no_grad, Var};
/// use ferrograd_tensor::Tensor;
/// let w = Var::param(Tensor::scalar(2.0));
/// let y = no_grad(|| w.mul(&w).unwrap());
/// assert!(!y.requires_grad());
/// ```
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    let _guard = no_grad_guard();
    f()
}
