//! Gradient accumulation: one optimizer step every `k` micro-batches.

use super::scale_grads;
use crate::param::Param;
use crate::{Error, Result};

/// Counts micro-batches and says when to step.
///
/// `backward` already sums gradients into the parameters, so accumulating
/// over micro-batches needs no copies: run `backward` on each micro-batch's
/// loss (a mean over that micro-batch), then call
/// [`GradAccumulator::micro_step`]. Every `k`-th call divides the summed
/// gradients by `k` (giving the mean over the `k` micro-batches, the gradient
/// of one `k` times larger batch when micro-batches have equal size) and
/// returns `true`: then clip if wanted and step. [`GradAccumulator::flush`]
/// does the same for a last, partial window (dividing by its own count).
///
/// ```
/// use ferrograd_nn::optim::{GradAccumulator, Optimizer, Sgd, SgdConfig};
/// use ferrograd_nn::Param;
/// use ferrograd_tensor::Tensor;
/// let w = Param::new(Tensor::from_vec(vec![0.0], &[1]).unwrap());
/// let mut opt = Sgd::new(vec![w.clone()], SgdConfig { lr: 1.0, ..SgdConfig::default() }).unwrap();
/// let mut acc = GradAccumulator::new(2).unwrap();
/// let mut steps = 0;
/// for slope in [1.0, 3.0, 5.0] {
///     // loss = slope · w, gradient `slope`
///     w.var().mul_scalar(slope).sum_all().backward().unwrap();
///     if acc.micro_step(opt.params()).unwrap() {
///         opt.step().unwrap();
///         opt.zero_grad();
///         steps += 1;
///     }
/// }
/// if acc.flush(opt.params()).unwrap() {
///     opt.step().unwrap();
///     steps += 1;
/// }
/// assert_eq!(steps, 2);
/// assert_eq!(w.value().data(), &[-2.0 - 5.0]); // mean(1, 3), then 5 alone
/// ```
#[derive(Clone, Debug)]
pub struct GradAccumulator {
    window: usize,
    pending: usize,
}

impl GradAccumulator {
    /// Steps every `window` micro-batches; an error if `window` is 0.
    pub fn new(window: usize) -> Result<GradAccumulator> {
        if window == 0 {
            return Err(Error::Config(
                "GradAccumulator: the window must be at least one micro-batch".into(),
            ));
        }
        Ok(GradAccumulator { window, pending: 0 })
    }

    /// Micro-batches per optimizer step.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Micro-batches accumulated since the last step.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Records one micro-batch whose `backward` has run. When the window is
    /// full, divides the gradients of `params` by the window, starts a new
    /// window and returns `true`: the caller then steps the optimizer.
    pub fn micro_step(&mut self, params: &[Param]) -> Result<bool> {
        self.pending += 1;
        if self.pending < self.window {
            return Ok(false);
        }
        self.flush(params)
    }

    /// Ends a partial window: if micro-batches are pending, divides the
    /// gradients by their count, starts a new window and returns `true`
    /// (step then); otherwise returns `false`.
    pub fn flush(&mut self, params: &[Param]) -> Result<bool> {
        if self.pending == 0 {
            return Ok(false);
        }
        if self.pending > 1 {
            scale_grads(params, 1.0 / self.pending as f32)?;
        }
        self.pending = 0;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrograd_autograd::Var;
    use ferrograd_tensor::Tensor;

    #[test]
    fn accumulated_mean_equals_the_full_batch_gradient() {
        // loss_i = (w·xᵢ)² for four samples; two micro-batches of two samples
        // with mean losses give the same gradient as one batch of four.
        let xs = [1.0f32, -2.0, 0.5, 3.0];
        let full = Param::new(Tensor::from_vec(vec![0.7], &[1]).unwrap());
        let split = Param::new(Tensor::from_vec(vec![0.7], &[1]).unwrap());
        let batch = |p: &Param, x: &[f32]| {
            let x = Var::constant(Tensor::from_slice(x, &[x.len()]).unwrap());
            let y = p.var().mul(&x).unwrap().square().mean_all();
            y.backward().unwrap();
        };
        batch(&full, &xs);
        let mut acc = GradAccumulator::new(2).unwrap();
        batch(&split, &xs[..2]);
        assert!(!acc.micro_step(std::slice::from_ref(&split)).unwrap());
        assert_eq!(acc.pending(), 1);
        batch(&split, &xs[2..]);
        assert!(acc.micro_step(std::slice::from_ref(&split)).unwrap());
        assert_eq!(acc.pending(), 0);
        let (g_full, g_split) = (full.grad().unwrap(), split.grad().unwrap());
        assert!((g_full.data()[0] - g_split.data()[0]).abs() < 1e-6);
        assert!(!acc.flush(std::slice::from_ref(&split)).unwrap());
    }

    #[test]
    fn zero_window_is_an_error() {
        assert!(matches!(GradAccumulator::new(0), Err(Error::Config(_))));
        assert_eq!(GradAccumulator::new(1).unwrap().window(), 1);
    }
}
