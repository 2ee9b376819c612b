//! User-defined primitives (like PyTorch's `autograd.Function`).

use crate::op::Op;
use crate::{Result, Var};
use ferrograd_tensor::Tensor;
use std::sync::Arc;

/// A primitive defined outside the crate: a forward on tensors and a
/// backward rule written with [`Var`] operations (so that, like the built-in
/// rules, it can be differentiated again).
///
/// ```
/// use ferrograd_autograd::{CustomOp, Var, grad, GradOptions};
/// use ferrograd_tensor::Tensor;
/// struct Cube;
/// impl CustomOp for Cube {
///     fn name(&self) -> &'static str { "cube" }
///     fn forward(&self, x: &[&Tensor]) -> ferrograd_autograd::Result<Tensor> {
///         Ok(x[0].powf(3.0))
///     }
///     fn backward(&self, x: &[Var], _y: &Var, g: &Var) -> ferrograd_autograd::Result<Vec<Option<Var>>> {
///         Ok(vec![Some(g.mul(&x[0].square())?.mul_scalar(3.0))])
///     }
/// }
/// let x = Var::param(Tensor::scalar(2.0));
/// let y = Var::custom(std::sync::Arc::new(Cube), &[&x]).unwrap();
/// let g = grad(&[&y], &[&x], None, GradOptions::default()).unwrap();
/// assert_eq!(g[0].item().unwrap(), 12.0);
/// ```
pub trait CustomOp: Send + Sync {
    /// A short name for messages.
    fn name(&self) -> &'static str;
    /// The output value for the input values.
    fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor>;
    /// The gradient of each input, given the inputs, the output and the
    /// output's gradient (`None` for an input that gets no gradient).
    fn backward(&self, inputs: &[Var], output: &Var, grad_output: &Var)
        -> Result<Vec<Option<Var>>>;
}

impl Var {
    /// Applies a user-defined primitive to `inputs`.
    #[track_caller]
    pub fn custom(op: Arc<dyn CustomOp>, inputs: &[&Var]) -> Result<Var> {
        Var::apply(Op::Custom(op), inputs)
    }
}

/// The backward rule of a fused primitive written as the gradient of an
/// equivalent composite of differentiable ops: `composite(x)` is recorded
/// with grad mode on and differentiated with respect to the inputs that
/// require a gradient (`create_graph` when grad mode was on, so the rule
/// can be differentiated again). `None` for the other inputs.
pub(crate) fn composite_rule(
    x: &[Var],
    g: &Var,
    composite: impl FnOnce(&[Var]) -> Result<Var>,
) -> Result<Vec<Option<Var>>> {
    let create_graph = crate::is_grad_enabled();
    let _on = crate::set_grad_enabled(true);
    let y = composite(x)?;
    let wanted: Vec<&Var> = x.iter().filter(|v| v.requires_grad()).collect();
    let opts = crate::GradOptions {
        create_graph,
        allow_unused: true,
    };
    let mut grads = crate::grad(&[&y], &wanted, Some(&[g]), opts)?.into_iter();
    Ok(x.iter()
        .map(|v| {
            if v.requires_grad() {
                grads.next()
            } else {
                None
            }
        })
        .collect())
}
