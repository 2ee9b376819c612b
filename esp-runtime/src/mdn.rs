//! Mixture density network with full-covariance components.

use crate::dense::DenseStack;
use crate::format::{self, add, mul, Floats, Kind, Words};
use crate::norm::{split_features, Norm};
use crate::{check_len, check_scratch, Activation, Error, Normalisation, Rng};
use ferrograd_tensor::kernels::linalg::triangular_solve;
use ferrograd_tensor::kernels::matmul::{matmul_portable, Operand};
use ferrograd_tensor::kernels::reduce::{logsumexp_slice, sum_slice};
use ferrograd_tensor::kernels::unary::softplus;

/// Largest dimension d an MDN blob may have.
pub const MAX_DIM: usize = 1024;

/// How a raw head output becomes a positive diagonal entry of L.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiagTransform {
    /// diag L = exp(r̃) + min_diag.
    Exp,
    /// diag L = softplus(r̃) + min_diag.
    Softplus,
}

/// A mixture density network borrowed from an exported blob:
/// p(x | f) = Σ_k π_k N(x | μ_k, (L_k L_kᵀ)⁻¹), the head read as the
/// training framework's `Mdn` reads it (K logits, K·d means, K·d raw
/// diagonals r, K·d(d−1)/2 strictly-lower entries; diag L = exp or softplus
/// of r̃ = M − softplus(M − r) when capped, plus min_diag). A version 2
/// blob adds a normalisation: then every call takes and returns x and
/// features in the user's units.
#[derive(Clone, Copy, Debug)]
pub struct Mdn<'a> {
    net: DenseStack<'a>,
    dim: usize,
    components: usize,
    diag: DiagTransform,
    min_diag: f32,
    cap: Option<f32>,
    /// Where L starts in the scratch (after the network's buffers).
    chol_at: usize,
    /// f32s of scratch needed.
    scratch: usize,
    norm: Option<Norm<'a>>,
}

impl<'a> Mdn<'a> {
    /// Reads an MDN blob (see [`crate::format`]), checking everything.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Mdn<'a>, Error> {
        Mdn::from_blob(format::parse(bytes)?)
    }

    /// Reads a blob whose framing [`format::parse`] has checked.
    pub(crate) fn from_blob(blob: format::Blob<'a>) -> Result<Mdn<'a>, Error> {
        blob.expect_kind(Kind::Mdn)?;
        let mut w = Words::new(blob.words);
        let features = w.size()?;
        let dim = w.size()?;
        let components = w.size()?;
        let activation = Activation::from_code(w.next()?)?;
        let diag = match w.next()? {
            0 => DiagTransform::Exp,
            1 => DiagTransform::Softplus,
            _ => return Err(Error::Inconsistent("unknown MDN diagonal transform")),
        };
        let min_diag = f32::from_bits(w.next()?);
        let capped = w.flag()?;
        let cap = f32::from_bits(w.next()?);
        let hidden = w.size()?;
        if features == 0 || dim == 0 || dim > MAX_DIM || components == 0 {
            return Err(Error::Inconsistent(
                "MDN features, components must be positive and dim 1..=1024",
            ));
        }
        if !(min_diag.is_finite() && min_diag >= 0.0) {
            return Err(Error::Inconsistent("MDN min_diag must be finite and >= 0"));
        }
        if diag == DiagTransform::Softplus && min_diag == 0.0 {
            return Err(Error::Inconsistent(
                "the softplus diagonal needs min_diag > 0",
            ));
        }
        if capped && !cap.is_finite() {
            return Err(Error::Inconsistent("MDN cap must be finite"));
        }
        let mut floats = Floats::new(blob.payload);
        let start = w.clone();
        let net = DenseStack::parse(&mut w, add(hidden, 1)?, activation, &mut floats)?;
        let norm = if blob.normalised() {
            Some(Norm::parse(&mut floats, dim, features)?)
        } else {
            None
        };
        w.finish()?;
        floats.finish()?;
        let mut first = start;
        if first.size()? != features {
            return Err(Error::Inconsistent("MDN input width differs from features"));
        }
        let m = dim * (dim - 1) / 2;
        let head = mul(components, add(add(1, mul(2, dim)?)?, m)?)?;
        if net.outputs() != head {
            return Err(Error::Inconsistent(
                "MDN head width is not K(1 + 2d + d(d-1)/2)",
            ));
        }
        // (f̃ with a normalisation, split off first,) the network's two
        // buffers, then L (d·d), three d-vectors and the K component values.
        let chol_at = net.scratch_len();
        let scratch = add(
            add(chol_at, mul(dim, dim)?)?,
            add(mul(3, dim)?, components)?,
        )?;
        let scratch = add(scratch, if norm.is_some() { features } else { 0 })?;
        Ok(Mdn {
            net,
            dim,
            components,
            diag,
            min_diag,
            cap: capped.then_some(cap),
            chol_at,
            scratch,
            norm,
        })
    }

    /// The normalisation of a version 2 blob; `None` (the identity) for
    /// version 1.
    pub fn normalisation(&self) -> Option<Normalisation<'a>> {
        self.norm.map(|n| n.stats())
    }

    /// Dimension d of x.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Dimension c of the features.
    pub fn features(&self) -> usize {
        self.net.inputs()
    }

    /// Number K of mixture components.
    pub fn components(&self) -> usize {
        self.components
    }

    /// f32s of scratch [`Mdn::log_prob`] and [`Mdn::sample`] need.
    pub fn scratch_len(&self) -> usize {
        self.scratch
    }

    /// log p(x | features).
    pub fn log_prob(&self, x: &[f32], features: &[f32], scratch: &mut [f32]) -> Result<f32, Error> {
        self.check(features, scratch)?;
        check_len("x", x.len(), self.dim)?;
        let (d, k) = (self.dim, self.components);
        let (features, scratch) = split_features(self.norm.as_ref(), features, scratch);
        let (net, rest) = scratch.split_at_mut(self.chol_at);
        let (chol, rest) = rest.split_at_mut(d * d);
        let (diff, rest) = rest.split_at_mut(d);
        let (y, rest) = rest.split_at_mut(d);
        let comp = &mut rest[..k];
        let out = self.net.run(features, net);
        let logits = &out[..k];
        let lse = logsumexp_slice(logits);
        let log_norm_const = -0.5 * d as f32 * libm::logf(2.0 * core::f32::consts::PI);
        for (kk, c) in comp.iter_mut().enumerate() {
            let log_det = self.cholesky(out, kk, chol, diff);
            let mean = &out[k + kk * d..k + (kk + 1) * d];
            match &self.norm {
                Some(n) => {
                    for (j, ((v, &xi), &mi)) in diff.iter_mut().zip(x).zip(mean).enumerate() {
                        *v = n.x_tilde(j, xi) - mi;
                    }
                }
                None => {
                    for ((v, &xi), &mi) in diff.iter_mut().zip(x).zip(mean) {
                        *v = xi - mi;
                    }
                }
            }
            // y = Lᵀ(x − μ)
            matmul_portable(
                1,
                d,
                1,
                d,
                Operand::row_major(chol, d, d, true),
                Operand::row_major(diff, d, 1, false),
                y,
            );
            for v in y.iter_mut() {
                *v *= *v;
            }
            let quad = sum_slice(y);
            let log_n = log_det - quad * 0.5 + log_norm_const;
            *c = (logits[kk] - lse) + log_n;
        }
        let lp = logsumexp_slice(comp);
        Ok(match &self.norm {
            Some(n) => lp - n.log_std_sum,
            None => lp,
        })
    }

    /// `n` samples from p(x | features), row by row in `out` (n·d values):
    /// per sample, component k = argmax_k(logit_k + g_k) with Gumbel
    /// variates g_k = −ln(−ln u_k), then x = μ_k + L_k⁻ᵀ ε, ε ~ N(0, I),
    /// all from [`Rng::new`]`(seed)` (then μx + σx ⊙ x with a
    /// normalisation). The same seed gives the same bits on every target.
    pub fn sample(
        &self,
        features: &[f32],
        n: usize,
        out: &mut [f32],
        seed: u64,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        self.check(features, scratch)?;
        check_len("out", out.len(), n.saturating_mul(self.dim))?;
        let (d, k) = (self.dim, self.components);
        let (features, scratch) = split_features(self.norm.as_ref(), features, scratch);
        let (net, rest) = scratch.split_at_mut(self.chol_at);
        let (chol, rest) = rest.split_at_mut(d * d);
        let (eps, rest) = rest.split_at_mut(d);
        let tmp = &mut rest[..d];
        let head = self.net.run(features, net);
        let mut rng = Rng::new(seed);
        for row in out.chunks_exact_mut(d) {
            let mut best = (0, f32::NEG_INFINITY);
            for (j, &logit) in head[..k].iter().enumerate() {
                let score = logit - libm::logf(-libm::logf(rng.uniform()));
                if score > best.1 {
                    best = (j, score);
                }
            }
            for e in eps.iter_mut() {
                *e = rng.normal();
            }
            self.cholesky(head, best.0, chol, tmp);
            triangular_solve(chol, 0, eps, d, 1, true, true, false, row);
            for (v, m) in row
                .iter_mut()
                .zip(&head[k + best.0 * d..k + (best.0 + 1) * d])
            {
                *v += m;
            }
            if let Some(n) = &self.norm {
                n.denormalise(row);
            }
        }
        Ok(())
    }

    fn check(&self, features: &[f32], scratch: &[f32]) -> Result<(), Error> {
        check_len("features", features.len(), self.features())?;
        check_scratch(scratch.len(), self.scratch_len())
    }

    /// Fills `chol` (d×d, row-major) with component `kk`'s L from the head
    /// output and returns Σ log diag L; `log_diag` is d values of work space.
    fn cholesky(&self, head: &[f32], kk: usize, chol: &mut [f32], log_diag: &mut [f32]) -> f32 {
        let (d, k) = (self.dim, self.components);
        let m = d * (d - 1) / 2;
        let raw = &head[k + k * d + kk * d..k + k * d + (kk + 1) * d];
        let lower = &head[k + 2 * k * d + kk * m..k + 2 * k * d + (kk + 1) * m];
        chol.fill(0.0);
        for (i, &r) in raw.iter().enumerate() {
            let capped = match self.cap {
                Some(cap) => cap - softplus(cap - r),
                None => r,
            };
            let base = match self.diag {
                DiagTransform::Exp => libm::expf(capped),
                DiagTransform::Softplus => softplus(capped),
            };
            let (diag, log) = if self.min_diag > 0.0 {
                let diag = base + self.min_diag;
                (diag, libm::logf(diag))
            } else {
                (base, capped)
            };
            chol[i * d + i] = diag;
            log_diag[i] = log;
            for j in 0..i {
                chol[i * d + j] = lower[i * (i - 1) / 2 + j];
            }
        }
        sum_slice(log_diag)
    }
}
