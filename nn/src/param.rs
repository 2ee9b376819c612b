//! Trainable parameters, non-trainable buffers, and where a forward pass
//! reads its parameters from ([`ParamSource`]).

use ferrograd_autograd::Var;
use ferrograd_tensor::Tensor;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

static NEXT_PARAM: AtomicU64 = AtomicU64::new(1);

/// A trainable tensor shared by a module and its optimizer. It holds the
/// current leaf [`Var`]; gradients accumulate into that leaf, and
/// [`Param::set`] replaces it with a new leaf (so a step never changes a
/// value that a recorded graph still refers to).
#[derive(Clone)]
pub struct Param {
    id: u64,
    var: Arc<Mutex<Var>>,
}

impl Param {
    /// A parameter with initial value `value`.
    pub fn new(value: Tensor) -> Param {
        Param {
            id: NEXT_PARAM.fetch_add(1, Ordering::Relaxed),
            var: Arc::new(Mutex::new(Var::param(value))),
        }
    }

    /// A number identifying this parameter (shared by its clones).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The current leaf, to use in a forward pass.
    pub fn var(&self) -> Var {
        self.var.lock().expect("parameter lock").clone()
    }

    /// The current value.
    pub fn value(&self) -> Tensor {
        self.var().value().clone()
    }

    /// Replaces the value (and the leaf, whose gradient starts empty).
    pub fn set(&self, value: Tensor) {
        *self.var.lock().expect("parameter lock") = Var::param(value);
    }

    /// The gradient accumulated by `backward` since the last step or
    /// [`Param::zero_grad`].
    pub fn grad(&self) -> Option<Tensor> {
        self.var().grad()
    }

    /// Replaces the accumulated gradient (for clipping or accumulation).
    pub fn set_grad(&self, grad: Option<Tensor>) {
        self.var().set_grad(grad)
    }

    /// Clears the accumulated gradient.
    pub fn zero_grad(&self) {
        self.var().zero_grad()
    }

    /// Dimensions of the value.
    pub fn dims(&self) -> Vec<usize> {
        self.var().dims().to_vec()
    }
}

impl std::fmt::Debug for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Param(#{} {:?})", self.id, self.value())
    }
}

/// A non-trainable tensor saved with a module (for example running
/// statistics or a fixed mask).
#[derive(Clone)]
pub struct Buffer(Arc<Mutex<Tensor>>);

impl Buffer {
    /// A buffer holding `value`.
    pub fn new(value: Tensor) -> Buffer {
        Buffer(Arc::new(Mutex::new(value)))
    }

    /// The current value.
    pub fn value(&self) -> Tensor {
        self.0.lock().expect("buffer lock").clone()
    }

    /// Replaces the value.
    pub fn set(&self, value: Tensor) {
        *self.0.lock().expect("buffer lock") = value;
    }
}

/// Where a forward pass reads each parameter: the parameter itself
/// ([`OwnParams`]) or a replacement such as MAML's fast weights
/// ([`FastWeights`]).
pub trait ParamSource {
    /// The value to use for `p`.
    fn var(&self, p: &Param) -> Var;
}

/// Reads every parameter's own current leaf.
#[derive(Clone, Copy, Debug, Default)]
pub struct OwnParams;

impl ParamSource for OwnParams {
    fn var(&self, p: &Param) -> Var {
        p.var()
    }
}

/// Replacement values for some parameters (for example θ' = θ − α∇L in
/// MAML); the others read their own leaf.
///
/// ```
/// use ferrograd_nn::{FastWeights, Forward, Linear, Module, ParamSource};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let layer = Linear::new(2, 1, 0);
/// let mut fast = FastWeights::new();
/// for p in layer.params() {
///     fast.insert(&p, Var::constant(p.value().zeros_like()));
/// }
/// let x = Var::constant(Tensor::ones(&[1, 2]).unwrap());
/// let y = layer.forward_with(&fast, &x).unwrap();
/// assert_eq!(y.value().data(), &[0.0]);
/// ```
#[derive(Clone, Default)]
pub struct FastWeights(HashMap<u64, Var>);

impl FastWeights {
    /// No replacements.
    pub fn new() -> FastWeights {
        FastWeights::default()
    }

    /// Uses `value` in place of `p`.
    pub fn insert(&mut self, p: &Param, value: Var) {
        self.0.insert(p.id(), value);
    }

    /// The replacement for `p`, if any.
    pub fn get(&self, p: &Param) -> Option<&Var> {
        self.0.get(&p.id())
    }
}

impl ParamSource for FastWeights {
    fn var(&self, p: &Param) -> Var {
        self.0.get(&p.id()).cloned().unwrap_or_else(|| p.var())
    }
}
