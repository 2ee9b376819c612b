//! A plain MLP.

use crate::dense::DenseStack;
use crate::format::{self, Floats, Kind, Words};
use crate::{check_len, check_scratch, Activation, Error};

/// A plain multi-layer perceptron `n₀ → … → n_L` with one activation after
/// every layer but the last, borrowed from an exported blob.
#[derive(Clone, Copy, Debug)]
pub struct Mlp<'a> {
    stack: DenseStack<'a>,
}

impl<'a> Mlp<'a> {
    /// Reads an MLP blob (see [`crate::format`]), checking everything.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Mlp<'a>, Error> {
        Mlp::from_blob(format::parse(bytes)?)
    }

    /// Reads a blob whose framing [`format::parse`] has checked.
    pub(crate) fn from_blob(blob: format::Blob<'a>) -> Result<Mlp<'a>, Error> {
        blob.expect_kind(Kind::Mlp)?;
        let mut words = Words::new(blob.words);
        let mut floats = Floats::new(blob.payload);
        let activation = Activation::from_code(words.next()?)?;
        let layers = words.size()?;
        let stack = DenseStack::parse(&mut words, layers, activation, &mut floats)?;
        words.finish()?;
        floats.finish()?;
        Ok(Mlp { stack })
    }

    /// Width of the input.
    pub fn inputs(&self) -> usize {
        self.stack.inputs()
    }

    /// Width of the output.
    pub fn outputs(&self) -> usize {
        self.stack.outputs()
    }

    /// The hidden nonlinearity.
    pub fn activation(&self) -> Activation {
        self.stack.activation()
    }

    /// f32s of scratch [`Mlp::forward`] needs.
    pub fn scratch_len(&self) -> usize {
        self.stack.scratch_len()
    }

    /// Writes the network's output for the input row `x` into `out`.
    pub fn forward(&self, x: &[f32], out: &mut [f32], scratch: &mut [f32]) -> Result<(), Error> {
        check_len("x", x.len(), self.inputs())?;
        check_len("out", out.len(), self.outputs())?;
        check_scratch(scratch.len(), self.scratch_len())?;
        out.copy_from_slice(self.stack.run(x, scratch));
        Ok(())
    }
}
