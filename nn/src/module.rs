//! The [`Module`] trait (named parameters and buffers, train/eval mode, state
//! dicts) and the [`Forward`] trait of single-input layers.

use crate::param::{Buffer, OwnParams, Param, ParamSource};
use crate::{Error, Result};
use ferrograd_autograd::Var;
use ferrograd_tensor::Tensor;
use std::collections::BTreeMap;

/// Gathers a module tree's parameters and buffers under dotted names.
#[derive(Default)]
pub struct Collector {
    prefix: String,
    params: Vec<(String, Param)>,
    buffers: Vec<(String, Buffer)>,
}

impl Collector {
    fn name(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// Adds a parameter named `name` (relative to the current module).
    pub fn param(&mut self, name: &str, p: &Param) {
        let full = self.name(name);
        self.params.push((full, p.clone()));
    }

    /// Adds a buffer named `name`.
    pub fn buffer(&mut self, name: &str, b: &Buffer) {
        let full = self.name(name);
        self.buffers.push((full, b.clone()));
    }

    /// Visits a child module under `name` (`encoder`, `layers.0`, …).
    pub fn child(&mut self, name: &str, m: &dyn Module) {
        let saved = std::mem::take(&mut self.prefix);
        self.prefix = if saved.is_empty() {
            name.to_string()
        } else {
            format!("{saved}.{name}")
        };
        m.visit(self);
        self.prefix = saved;
    }
}

/// A layer or model: it owns named parameters and buffers and has a
/// train/eval mode. Implement [`Module::visit`]; the rest is provided.
pub trait Module {
    /// Reports this module's parameters, buffers and children to `c`.
    fn visit(&self, c: &mut Collector);

    /// Switches train (`true`) or eval mode; containers pass it on to their
    /// children. The default does nothing (layers without a mode).
    fn set_training(&mut self, _training: bool) {}

    /// Parameters with their dotted names, in definition order.
    fn named_params(&self) -> Vec<(String, Param)> {
        let mut c = Collector::default();
        self.visit(&mut c);
        c.params
    }

    /// Buffers with their dotted names.
    fn named_buffers(&self) -> Vec<(String, Buffer)> {
        let mut c = Collector::default();
        self.visit(&mut c);
        c.buffers
    }

    /// The parameters, in definition order.
    fn params(&self) -> Vec<Param> {
        self.named_params().into_iter().map(|(_, p)| p).collect()
    }

    /// Number of trainable scalars.
    fn num_params(&self) -> usize {
        self.params().iter().map(|p| p.value().numel()).sum()
    }

    /// Parameters and buffers by name (what a checkpoint stores).
    fn state_dict(&self) -> BTreeMap<String, Tensor> {
        let mut c = Collector::default();
        self.visit(&mut c);
        let mut out: BTreeMap<String, Tensor> =
            c.params.into_iter().map(|(n, p)| (n, p.value())).collect();
        out.extend(c.buffers.into_iter().map(|(n, b)| (n, b.value())));
        out
    }

    /// Sets every parameter and buffer from `state`. All problems are
    /// collected and reported together: missing names, unexpected names and
    /// shape mismatches; nothing is changed unless all fit.
    fn load_state_dict(&self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        let mut c = Collector::default();
        self.visit(&mut c);
        let mut problems = Vec::new();
        let mut known = std::collections::BTreeSet::new();
        let mut check = |name: &String, dims: Vec<usize>| {
            known.insert(name.clone());
            match state.get(name) {
                None => problems.push(format!("missing tensor '{name}'")),
                Some(t) if t.dims() != dims.as_slice() => problems.push(format!(
                    "tensor '{name}' has shape {:?}, the module needs {dims:?}",
                    t.dims()
                )),
                Some(_) => {}
            }
        };
        for (n, p) in &c.params {
            check(n, p.dims());
        }
        for (n, b) in &c.buffers {
            check(n, b.value().dims().to_vec());
        }
        for n in state.keys().filter(|n| !known.contains(*n)) {
            problems.push(format!("unexpected tensor '{n}'"));
        }
        if !problems.is_empty() {
            return Err(Error::StateDict(problems));
        }
        for (n, p) in &c.params {
            p.set(state[n].clone());
        }
        for (n, b) in &c.buffers {
            b.set(state[n].clone());
        }
        Ok(())
    }

    /// Clears every parameter's accumulated gradient.
    fn zero_grad(&self) {
        for p in self.params() {
            p.zero_grad();
        }
    }
}

/// A layer with one input and one output. [`Forward::forward_with`] reads
/// parameters from a [`ParamSource`], so the same layer runs on its own
/// parameters or on replacements (MAML's fast weights).
pub trait Forward: Module {
    /// The output for `x`, with parameters from `params`.
    fn forward_with(&self, params: &dyn ParamSource, x: &Var) -> Result<Var>;

    /// The output for `x` with the layer's own parameters.
    fn forward(&self, x: &Var) -> Result<Var> {
        self.forward_with(&OwnParams, x)
    }
}
