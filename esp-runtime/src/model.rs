//! Any exported model, by the kind its blob declares.

use crate::format::{self, Kind};
use crate::{Error, Maf, Mdn, Mlp, ResMlp};

/// A model of any kind, read from a blob ([`Model::from_bytes`] dispatches
/// on the kind in the header).
#[derive(Clone, Copy, Debug)]
pub enum Model<'a> {
    /// A plain MLP.
    Mlp(Mlp<'a>),
    /// A masked autoregressive flow.
    Maf(Maf<'a>),
    /// A mixture density network.
    Mdn(Mdn<'a>),
    /// A residual MLP.
    ResMlp(ResMlp<'a>),
}

impl<'a> Model<'a> {
    /// Reads a blob of any kind, checking everything.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Model<'a>, Error> {
        let blob = format::parse(bytes)?;
        Ok(match blob.kind {
            Kind::Mlp => Model::Mlp(Mlp::from_blob(blob)?),
            Kind::Maf => Model::Maf(Maf::from_blob(blob)?),
            Kind::Mdn => Model::Mdn(Mdn::from_blob(blob)?),
            Kind::ResMlp => Model::ResMlp(ResMlp::from_blob(blob)?),
        })
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        match self {
            Model::Mlp(_) => Kind::Mlp,
            Model::Maf(_) => Kind::Maf,
            Model::Mdn(_) => Kind::Mdn,
            Model::ResMlp(_) => Kind::ResMlp,
        }
    }

    /// f32s of scratch the model's calls need.
    pub fn scratch_len(&self) -> usize {
        match self {
            Model::Mlp(m) => m.scratch_len(),
            Model::Maf(m) => m.scratch_len(),
            Model::Mdn(m) => m.scratch_len(),
            Model::ResMlp(m) => m.scratch_len(),
        }
    }

    /// Width of x for a density (MAF, MDN), of the input for an MLP.
    pub fn dim(&self) -> usize {
        match self {
            Model::Mlp(m) => m.inputs(),
            Model::Maf(m) => m.dim(),
            Model::Mdn(m) => m.dim(),
            Model::ResMlp(m) => m.inputs(),
        }
    }

    /// Width of the features for a density, of the output for an MLP.
    pub fn features(&self) -> usize {
        match self {
            Model::Mlp(m) => m.outputs(),
            Model::Maf(m) => m.features(),
            Model::Mdn(m) => m.features(),
            Model::ResMlp(m) => m.outputs(),
        }
    }

    /// The output of an MLP or residual MLP for the input row `x`;
    /// [`Error::WrongKind`] for a density.
    /// A NaN or an infinity in `x`, or a non-finite output, is
    /// [`Error::NonFinite`].
    pub fn forward(&self, x: &[f32], out: &mut [f32], scratch: &mut [f32]) -> Result<(), Error> {
        finite("x", x)?;
        match self {
            Model::Mlp(m) => m.forward(x, out, scratch),
            Model::ResMlp(m) => m.forward(x, out, scratch),
            other => Err(Error::WrongKind {
                expected: Kind::Mlp,
                found: other.kind(),
            }),
        }?;
        finite("result", out)
    }

    /// log p(x | features) of a density; [`Error::WrongKind`] for an MLP.
    /// A NaN or an infinity in an input, or a non-finite log-density
    /// (x or the features too far from the training data), is
    /// [`Error::NonFinite`].
    pub fn log_prob(&self, x: &[f32], features: &[f32], scratch: &mut [f32]) -> Result<f32, Error> {
        finite("x", x)?;
        finite("features", features)?;
        let lp = match self {
            Model::Maf(m) => m.log_prob(x, features, scratch),
            Model::Mdn(m) => m.log_prob(x, features, scratch),
            Model::Mlp(_) | Model::ResMlp(_) => Err(Error::WrongKind {
                expected: Kind::Maf,
                found: self.kind(),
            }),
        }?;
        finite("result", &[lp])?;
        Ok(lp)
    }

    /// Seeded samples of a density; [`Error::WrongKind`] for an MLP. A NaN
    /// or an infinity in the features, or a non-finite sample, is
    /// [`Error::NonFinite`].
    pub fn sample(
        &self,
        features: &[f32],
        n: usize,
        out: &mut [f32],
        seed: u64,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        finite("features", features)?;
        match self {
            Model::Maf(m) => m.sample(features, n, out, seed, scratch),
            Model::Mdn(m) => m.sample(features, n, out, seed, scratch),
            Model::Mlp(_) | Model::ResMlp(_) => Err(Error::WrongKind {
                expected: Kind::Maf,
                found: self.kind(),
            }),
        }?;
        let len = n.saturating_mul(self.dim()).min(out.len());
        finite("result", &out[..len])
    }
}

/// Conveniences that allocate their own scratch and outputs (feature
/// `alloc`), for host tools and tests; firmware passes its own buffers.
#[cfg(feature = "alloc")]
impl Model<'_> {
    /// A zeroed scratch buffer of [`Model::scratch_len`] f32s.
    pub fn new_scratch(&self) -> alloc::vec::Vec<f32> {
        alloc::vec![0.0; self.scratch_len()]
    }

    /// [`Model::sample`] into a new vector of `n · dim` values.
    pub fn sample_vec(
        &self,
        features: &[f32],
        n: usize,
        seed: u64,
    ) -> Result<alloc::vec::Vec<f32>, Error> {
        let len = n
            .checked_mul(self.dim())
            .ok_or(Error::Inconsistent("n · dim overflows"))?;
        let mut out = alloc::vec![0.0; len];
        self.sample(features, n, &mut out, seed, &mut self.new_scratch())?;
        Ok(out)
    }

    /// [`Model::log_prob`] of each row of `x` (`dim` values per row) under
    /// the matching row of `features`.
    pub fn log_prob_rows(
        &self,
        x: &[f32],
        features: &[f32],
    ) -> Result<alloc::vec::Vec<f32>, Error> {
        let (d, c) = (self.dim(), self.features());
        let rows = x.len() / d;
        crate::check_len("x", x.len(), rows * d)?;
        crate::check_len("features", features.len(), rows * c)?;
        let mut scratch = self.new_scratch();
        (0..rows)
            .map(|i| {
                self.log_prob(
                    &x[i * d..(i + 1) * d],
                    &features[i * c..(i + 1) * c],
                    &mut scratch,
                )
            })
            .collect()
    }
}

/// [`Error::NonFinite`] naming `what` if `values` holds a NaN or an infinity.
fn finite(what: &'static str, values: &[f32]) -> Result<(), Error> {
    match values.iter().all(|v| v.is_finite()) {
        true => Ok(()),
        false => Err(Error::NonFinite { what }),
    }
}
