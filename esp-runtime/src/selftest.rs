//! A deterministic report of a model's outputs on fixed inputs, printed as
//! f32 bits: the firmware prints it under QEMU and the host prints it with
//! the same code, and `scripts/esp32-check.sh` requires the two to be equal.

use crate::{Error, Model, Rng};
use core::fmt::{self, Write};

/// Points whose log-density (or MLP output) the report prints.
pub const POINTS: usize = 16;
/// Samples the report draws (for a density).
pub const SAMPLES: usize = 8;
/// Seed of the report's inputs.
pub const INPUT_SEED: u64 = 0x5eed;
/// Seed of the report's samples.
pub const SAMPLE_SEED: u64 = 42;

/// Why a report could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportError {
    /// The model rejected a call.
    Model(Error),
    /// The writer failed.
    Write,
    /// The work buffer is smaller than [`work_len`].
    WorkTooSmall,
}

impl From<Error> for ReportError {
    fn from(e: Error) -> Self {
        ReportError::Model(e)
    }
}

impl From<fmt::Error> for ReportError {
    fn from(_: fmt::Error) -> Self {
        ReportError::Write
    }
}

/// f32s of work space [`report`] needs for `model`.
pub fn work_len(model: &Model<'_>) -> usize {
    let (a, b) = (model.dim(), model.features());
    model.scratch_len() + a + b + SAMPLES * a
}

/// The `i`-th fixed input: x (or the MLP input) from N(0, 1.5²), features
/// from U(0, 1), drawn from [`INPUT_SEED`].
pub fn inputs(i: usize, x: &mut [f32], features: &mut [f32]) {
    let mut rng = Rng::new(INPUT_SEED.wrapping_add(i as u64));
    for v in x.iter_mut() {
        *v = 1.5 * rng.normal();
    }
    for v in features.iter_mut() {
        *v = rng.uniform();
    }
}

fn bits(w: &mut impl Write, values: &[f32]) -> fmt::Result {
    for v in values {
        write!(w, " {:08x}", v.to_bits())?;
    }
    writeln!(w)
}

/// Writes the report of `model` under `name`: a header line, then for a
/// density one `lp` line per point and one `sample` line per sample (the
/// features of point 0, seed [`SAMPLE_SEED`]), for an MLP one `out` line per
/// point. `work` holds at least [`work_len`] f32s.
pub fn report<W: Write>(
    name: &str,
    model: &Model<'_>,
    work: &mut [f32],
    w: &mut W,
) -> Result<(), ReportError> {
    if work.len() < work_len(model) {
        return Err(ReportError::WorkTooSmall);
    }
    let (a, b) = (model.dim(), model.features());
    let (scratch, rest) = work.split_at_mut(model.scratch_len());
    let (x, rest) = rest.split_at_mut(a);
    let (f, rest) = rest.split_at_mut(b);
    let samples = &mut rest[..SAMPLES * a];
    writeln!(
        w,
        "model {name} {} dim {a} features {b} scratch {}",
        model.kind(),
        model.scratch_len()
    )?;
    for i in 0..POINTS {
        match model {
            Model::Mlp(_) | Model::ResMlp(_) => {
                inputs(i, x, &mut []);
                model.forward(x, f, scratch)?;
                write!(w, "out {i}")?;
                bits(w, f)?;
            }
            _ => {
                inputs(i, x, f);
                let lp = model.log_prob(x, f, scratch)?;
                write!(w, "lp {i}")?;
                bits(w, &[lp])?;
            }
        }
    }
    if !matches!(model, Model::Mlp(_) | Model::ResMlp(_)) {
        inputs(0, x, f);
        model.sample(f, SAMPLES, samples, SAMPLE_SEED, scratch)?;
        for (i, s) in samples.chunks_exact(a).enumerate() {
            write!(w, "sample {i}")?;
            bits(w, s)?;
        }
    }
    Ok(())
}
