//! A chain of dense layers (the MLP, and the MDN's body and head).

use crate::format::{add, mul, Floats, Words};
use crate::{Activation, Error};
use ferrograd_tensor::kernels::matmul::{matmul_portable, Operand};

/// `y = x · Wᵀ` for one input row, with `w_t` the transposed weight
/// `[x.len(), y.len()]` row-major: the portable kernel's thin path, no
/// allocation.
pub(crate) fn row_product(x: &[f32], w_t: &[f32], y: &mut [f32]) {
    let (k, n) = (x.len(), y.len());
    matmul_portable(
        1,
        1,
        n,
        k,
        Operand::row_major(x, 1, k, false),
        Operand::row_major(w_t, k, n, false),
        y,
    );
}

/// `y += b`.
pub(crate) fn add_bias(y: &mut [f32], bias: &[f32]) {
    for (v, b) in y.iter_mut().zip(bias) {
        *v += b;
    }
}

/// Dense layers `n₀ → n₁ → … → n_L` with an activation after every layer
/// but the last; weights borrowed from the blob.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DenseStack<'a> {
    widths: &'a [u32],
    params: &'a [f32],
    activation: Activation,
    widest: usize,
}

impl<'a> DenseStack<'a> {
    /// Reads `layers + 1` widths from `words` and the layers' parameters
    /// from `floats`.
    pub(crate) fn parse(
        words: &mut Words<'a>,
        layers: usize,
        activation: Activation,
        floats: &mut Floats<'a>,
    ) -> Result<DenseStack<'a>, Error> {
        if layers == 0 {
            return Err(Error::Inconsistent(
                "a dense stack needs at least one layer",
            ));
        }
        let widths = words.take(add(layers, 1)?)?;
        let mut widest = 0;
        let mut count = 0;
        for pair in widths.windows(2) {
            let (i, o) = (pair[0] as usize, pair[1] as usize);
            if i == 0 || o == 0 {
                return Err(Error::Inconsistent("a layer width is zero"));
            }
            widest = widest.max(i).max(o);
            count = add(count, add(mul(i, o)?, o)?)?;
        }
        let params = floats.take(count)?;
        Ok(DenseStack {
            widths,
            params,
            activation,
            widest,
        })
    }

    /// Width of the input.
    pub(crate) fn inputs(&self) -> usize {
        self.widths[0] as usize
    }

    /// Width of the output.
    pub(crate) fn outputs(&self) -> usize {
        self.widths[self.widths.len() - 1] as usize
    }

    /// f32s of scratch [`DenseStack::run`] needs.
    pub(crate) fn scratch_len(&self) -> usize {
        2 * self.widest
    }

    /// The hidden nonlinearity.
    pub(crate) fn activation(&self) -> Activation {
        self.activation
    }

    /// Runs the stack on `x` (`inputs()` values) and returns the output,
    /// which lives in `scratch` (at least `scratch_len()`; both checked by
    /// the callers).
    pub(crate) fn run<'s>(&self, x: &[f32], scratch: &'s mut [f32]) -> &'s [f32] {
        let (mut cur, mut next) = scratch[..2 * self.widest].split_at_mut(self.widest);
        cur[..x.len()].copy_from_slice(x);
        let mut at = 0;
        let last = self.widths.len() - 2;
        for (l, pair) in self.widths.windows(2).enumerate() {
            let (i, o) = (pair[0] as usize, pair[1] as usize);
            let w_t = &self.params[at..at + i * o];
            let bias = &self.params[at + i * o..at + i * o + o];
            at += i * o + o;
            row_product(&cur[..i], w_t, &mut next[..o]);
            add_bias(&mut next[..o], bias);
            if l < last {
                self.activation.apply_in_place(&mut next[..o]);
            }
            core::mem::swap(&mut cur, &mut next);
        }
        let out: &'s [f32] = cur;
        &out[..self.outputs()]
    }
}
