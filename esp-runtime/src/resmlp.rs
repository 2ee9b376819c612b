//! A residual MLP: blocks `h ← act(W h + b) + S(h)` with `S` the identity
//! or an affine skip `P h + c`, then a linear output layer (the training
//! framework's `ResidualMlp`, with any input normalisation folded into the
//! first block and any output scaling into the output layer).

use crate::dense::{add_bias, row_product};
use crate::format::{add, mul, Floats, Kind, Words};
use crate::{check_len, check_scratch, Activation, Error};

/// A residual MLP borrowed from an exported blob (kind 4). It keeps the
/// blob's slices only (no per-block table), so it stays small enough to sit
/// on a microcontroller's stack.
#[derive(Clone, Copy, Debug)]
pub struct ResMlp<'a> {
    activation: Activation,
    /// Per block: width, affine-skip flag.
    blocks: &'a [u32],
    /// Every block's `Wᵀ, b[, Pᵀ, c]`, then the output layer's `Wᵀ, b`.
    params: &'a [f32],
    inputs: usize,
    outputs: usize,
    widest: usize,
}

impl<'a> ResMlp<'a> {
    /// Reads a residual MLP blob (see [`crate::format`]), checking
    /// everything.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<ResMlp<'a>, Error> {
        ResMlp::from_blob(crate::format::parse(bytes)?)
    }

    /// Reads a blob whose framing [`crate::format::parse`] has checked.
    pub(crate) fn from_blob(blob: crate::format::Blob<'a>) -> Result<ResMlp<'a>, Error> {
        blob.expect_kind(Kind::ResMlp)?;
        let mut words = Words::new(blob.words);
        let activation = Activation::from_code(words.next()?)?;
        let count = words.size()?;
        let inputs = words.size()?;
        if inputs == 0 {
            return Err(Error::Inconsistent("a layer width is zero"));
        }
        let blocks = words.take(mul(count, 2)?)?;
        let (mut width_in, mut widest, mut floats) = (inputs, inputs, 0usize);
        for b in blocks.chunks_exact(2) {
            let (width, affine) = (b[0] as usize, b[1]);
            if width == 0 {
                return Err(Error::Inconsistent("a layer width is zero"));
            }
            if affine > 1 {
                return Err(Error::Inconsistent("a skip flag is neither 0 nor 1"));
            }
            if affine == 0 && width != width_in {
                return Err(Error::Inconsistent(
                    "an identity skip joins layers of different widths",
                ));
            }
            let layer = add(mul(width_in, width)?, width)?;
            floats = add(floats, mul(layer, 1 + affine as usize)?)?;
            widest = widest.max(width);
            width_in = width;
        }
        let outputs = words.size()?;
        if outputs == 0 {
            return Err(Error::Inconsistent("a layer width is zero"));
        }
        floats = add(floats, add(mul(width_in, outputs)?, outputs)?)?;
        words.finish()?;
        let mut payload = Floats::new(blob.payload);
        let params = payload.take(floats)?;
        payload.finish()?;
        let widest = widest.max(outputs);
        mul(3, widest)?;
        Ok(ResMlp {
            activation,
            blocks,
            params,
            inputs,
            outputs,
            widest,
        })
    }

    /// Width of the input.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Width of the output.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The blocks' nonlinearity.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// f32s of scratch [`ResMlp::forward`] needs.
    pub fn scratch_len(&self) -> usize {
        3 * self.widest
    }

    /// Writes the network's output for the input row `x` into `out`.
    pub fn forward(&self, x: &[f32], out: &mut [f32], scratch: &mut [f32]) -> Result<(), Error> {
        check_len("x", x.len(), self.inputs)?;
        check_len("out", out.len(), self.outputs)?;
        check_scratch(scratch.len(), self.scratch_len())?;
        let w = self.widest;
        let (cur, rest) = scratch[..3 * w].split_at_mut(w);
        let (body, skip) = rest.split_at_mut(w);
        cur[..x.len()].copy_from_slice(x);
        let (mut i, mut at) = (self.inputs, 0);
        let mut take = |n: usize| {
            let s = &self.params[at..at + n];
            at += n;
            s
        };
        for b in self.blocks.chunks_exact(2) {
            let o = b[0] as usize;
            let (w_t, bias) = (take(i * o), take(o));
            row_product(&cur[..i], w_t, &mut body[..o]);
            add_bias(&mut body[..o], bias);
            self.activation.apply_in_place(&mut body[..o]);
            if b[1] == 1 {
                let (p_t, c) = (take(i * o), take(o));
                row_product(&cur[..i], p_t, &mut skip[..o]);
                add_bias(&mut skip[..o], c);
            } else {
                skip[..o].copy_from_slice(&cur[..o]);
            }
            for ((h, &u), &s) in cur[..o].iter_mut().zip(&body[..o]).zip(&skip[..o]) {
                *h = u + s;
            }
            i = o;
        }
        let (w_t, bias) = (take(i * self.outputs), take(self.outputs));
        row_product(&cur[..i], w_t, out);
        add_bias(out, bias);
        Ok(())
    }
}
