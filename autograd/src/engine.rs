//! Reverse-mode differentiation: [`grad`] and [`Var::backward`].
//!
//! The engine collects the nodes between the outputs and the inputs, visits
//! them in reverse creation order (node ids grow with creation, so that is a
//! reverse topological order), and sums each node's contributions to its
//! inputs. Backward rules run with recording on only under `create_graph`.

use crate::op::Op;
use crate::var::set_grad_enabled;
use crate::{Error, Result, Var};
use ferrograd_tensor::Tensor;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for node ids (already unique integers): one multiply.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;
type IdSet = HashSet<u64, BuildHasherDefault<IdHasher>>;

/// Options of [`grad`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GradOptions {
    /// Record the backward pass, so the gradients can be differentiated again.
    pub create_graph: bool,
    /// Return zeros for inputs that do not influence the outputs, instead of
    /// [`Error::UnusedInput`].
    pub allow_unused: bool,
}

impl GradOptions {
    /// `create_graph` on (for gradients of gradients).
    pub fn create_graph() -> GradOptions {
        GradOptions {
            create_graph: true,
            allow_unused: false,
        }
    }

    /// The same options with `allow_unused` on.
    pub fn allow_unused(mut self) -> GradOptions {
        self.allow_unused = true;
        self
    }
}

/// Gradients of `Σ_k ⟨seed_k, outputs_k⟩` with respect to each of `inputs`,
/// without touching the leaves' accumulated gradients (PyTorch's
/// `torch.autograd.grad`). Without `seeds`, every output must have one
/// element and gets the seed 1.
///
/// With [`GradOptions::create_graph`] the returned gradients are recorded
/// and can be differentiated again, to any order.
///
/// ```
/// use ferrograd_autograd::{grad, GradOptions, Var};
/// use ferrograd_tensor::Tensor;
/// let x = Var::param(Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap());
/// let y = x.square().sum_all();
/// let g = grad(&[&y], &[&x], None, GradOptions::default()).unwrap();
/// assert_eq!(g[0].value().data(), &[2.0, 4.0]);
/// ```
pub fn grad(
    outputs: &[&Var],
    inputs: &[&Var],
    seeds: Option<&[&Var]>,
    opts: GradOptions,
) -> Result<Vec<Var>> {
    crate::anomaly::check()?;
    let _mode = set_grad_enabled(opts.create_graph);
    if let Some(s) = seeds {
        if s.len() != outputs.len() {
            return Err(Error::Invalid(format!(
                "grad: {} seeds for {} outputs",
                s.len(),
                outputs.len()
            )));
        }
    }
    let mut grads = Grads::new(opts.create_graph);
    let mut roots = Vec::with_capacity(outputs.len());
    for (i, out) in outputs.iter().enumerate() {
        if !out.requires_grad() {
            if opts.allow_unused {
                continue;
            }
            return Err(Error::NoGraph { index: i });
        }
        let seed = match seeds {
            Some(s) => {
                if s[i].shape() != out.shape() {
                    return Err(Error::SeedShape {
                        output: *out.shape(),
                        seed: *s[i].shape(),
                    });
                }
                s[i].clone()
            }
            None if out.numel() == 1 => Var::constant(Tensor::full_shape(*out.shape(), 1.0)),
            None => {
                return Err(Error::NonScalarOutput {
                    shape: *out.shape(),
                })
            }
        };
        grads.add(out, seed)?;
        roots.push((*out).clone());
    }
    let targets: IdSet = inputs.iter().map(|v| v.id()).collect();
    let order = reverse_topological(&roots, &targets);
    let on_path: IdSet = order.iter().map(Var::id).collect();
    let mut needs = Vec::new();
    // Read once per call, not per node: the mode is not meant to flip in
    // the middle of a backward pass.
    let anomaly = crate::anomaly::is_enabled();
    for node in &order {
        let Some(op) = node.0.op.as_ref() else {
            continue;
        };
        let Some(g) = grads.take(node.id(), targets.contains(&node.id())) else {
            continue;
        };
        if let (Grads::Values(m), Op::Narrow { axis, start, .. }) = (&mut grads, op) {
            // Sum the slice's gradient straight into its input's, instead of
            // padding it to the input's full size first (a sequence model
            // that narrows one time step at a time would otherwise pay
            // O(T²)).
            let x = &node.0.inputs[0];
            if on_path.contains(&x.id()) {
                let acc = m.entry(x.id()).or_insert_with(|| x.value().zeros_like());
                acc.narrow_add_assign(*axis, *start, g.value())?;
            }
            continue;
        }
        needs.clear();
        needs.extend(node.0.inputs.iter().map(|x| on_path.contains(&x.id())));
        let dx = if anomaly {
            let _rule = crate::anomaly::enter_rule(node);
            let dx = op.backward(&node.0.inputs, node, &g, &needs)?;
            crate::anomaly::after_rule(node, &g, &dx)?;
            dx
        } else {
            op.backward(&node.0.inputs, node, &g, &needs)?
        };
        for ((x, &need), d) in node.0.inputs.iter().zip(&needs).zip(dx) {
            if let (true, Some(d)) = (need, d) {
                grads.add(x, d)?;
            }
        }
    }
    inputs
        .iter()
        .enumerate()
        .map(|(i, x)| match grads.take(x.id(), false) {
            Some(g) => Ok(g),
            None if opts.allow_unused => Ok(Var::constant(x.value().zeros_like())),
            None => Err(Error::UnusedInput { index: i }),
        })
        .collect()
}

/// Gradients summed so far, per node. Without `create_graph` they are plain
/// tensors, summed in place; with it, recorded `Var`s.
enum Grads {
    Values(IdMap<Tensor>),
    Recorded(IdMap<Var>),
}

impl Grads {
    fn new(create_graph: bool) -> Grads {
        if create_graph {
            Grads::Recorded(IdMap::default())
        } else {
            Grads::Values(IdMap::default())
        }
    }

    /// Adds `g` to the gradient of `x`.
    fn add(&mut self, x: &Var, g: Var) -> Result<()> {
        match self {
            Grads::Values(m) => match m.get_mut(&x.id()) {
                Some(t) => t.add_assign(g.value())?,
                None => {
                    m.insert(x.id(), g.value().clone());
                }
            },
            Grads::Recorded(m) => {
                let sum = match m.remove(&x.id()) {
                    Some(old) => old.add(&g)?,
                    None => g,
                };
                m.insert(x.id(), sum);
            }
        }
        Ok(())
    }

    /// The gradient of node `id` (kept in the map if `keep`).
    fn take(&mut self, id: u64, keep: bool) -> Option<Var> {
        match self {
            Grads::Values(m) => {
                let t = if keep {
                    m.get(&id).cloned()
                } else {
                    m.remove(&id)
                };
                t.map(Var::constant)
            }
            Grads::Recorded(m) => {
                if keep {
                    m.get(&id).cloned()
                } else {
                    m.remove(&id)
                }
            }
        }
    }
}

/// The nodes that lie on a path from a root down to a target, newest first.
/// A node whose inputs cannot reach a target is left out, so no gradient is
/// computed for branches that do not lead to the inputs asked for.
fn reverse_topological(roots: &[Var], targets: &IdSet) -> Vec<Var> {
    let mut seen: IdSet = IdSet::default();
    let mut nodes: Vec<Var> = Vec::new();
    let mut stack: Vec<Var> = roots.to_vec();
    while let Some(v) = stack.pop() {
        if !v.requires_grad() || !seen.insert(v.id()) {
            continue;
        }
        stack.extend(v.0.inputs.iter().cloned());
        nodes.push(v);
    }
    nodes.sort_unstable_by_key(|v| v.id());
    // Oldest first: a node reaches a target if it is one or an input does.
    let mut reaches: IdSet = IdSet::default();
    for v in &nodes {
        if targets.contains(&v.id()) || v.0.inputs.iter().any(|x| reaches.contains(&x.id())) {
            reaches.insert(v.id());
        }
    }
    nodes.retain(|v| reaches.contains(&v.id()));
    nodes.reverse();
    nodes
}

impl Var {
    /// Accumulates the gradient of this one-element value into every leaf
    /// that requires a gradient (read it with [`Var::grad`]); PyTorch's
    /// `loss.backward()`. Records nothing.
    pub fn backward(&self) -> Result<()> {
        if self.numel() != 1 {
            return Err(Error::NonScalarOutput {
                shape: *self.shape(),
            });
        }
        self.backward_with(&Tensor::full_shape(*self.shape(), 1.0))
    }

    /// Like [`Var::backward`] with an explicit seed gradient of this value's shape.
    pub fn backward_with(&self, seed: &Tensor) -> Result<()> {
        if !self.requires_grad() {
            return Err(Error::NoGraph { index: 0 });
        }
        let leaves = self.leaves();
        let refs: Vec<&Var> = leaves.iter().collect();
        let seed = Var::constant(seed.clone());
        let gs = grad(
            &[self],
            &refs,
            Some(&[&seed]),
            GradOptions::default().allow_unused(),
        )?;
        for (leaf, g) in leaves.iter().zip(gs) {
            leaf.accumulate_grad(g.value())?;
        }
        Ok(())
    }

    /// The leaves that require a gradient on this value's graph.
    pub fn leaves(&self) -> Vec<Var> {
        let mut seen: IdSet = IdSet::default();
        let mut out = Vec::new();
        let mut stack = vec![self.clone()];
        while let Some(v) = stack.pop() {
            if !v.requires_grad() || !seen.insert(v.id()) {
                continue;
            }
            if v.is_leaf() {
                out.push(v);
            } else {
                stack.extend(v.0.inputs.iter().cloned());
            }
        }
        out.sort_unstable_by_key(|v| v.id());
        out
    }
}
