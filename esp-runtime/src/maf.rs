//! Masked autoregressive flow: exact log-density and sampling.

use crate::dense::{add_bias, row_product};
use crate::format::{self, add, mul, Floats, Kind, Words};
use crate::norm::{split_features, Norm};
use crate::{check_len, check_scratch, Activation, Error, Normalisation, Rng, HALF_LN_2PI};
use ferrograd_tensor::kernels::reduce::sum_slice;

/// Largest dimension d a MAF blob may have (permutations are checked with a
/// fixed-size bit set).
pub const MAX_DIM: usize = 1024;

/// A conditional masked autoregressive flow borrowed from an exported blob:
/// the same transform as the training framework's `Maf` (blocks
/// u = (x − μ)·e^{−α}, α = s·tanh(a/s), a permutation before every block
/// but the first, base N(0, I)), with the MADE weights the masks zero left
/// out (see [`crate::format`]). A version 2 blob adds a normalisation: then
/// every call takes and returns x and features in the user's units.
#[derive(Clone, Copy, Debug)]
pub struct Maf<'a> {
    dim: usize,
    features: usize,
    flows: usize,
    activation: Activation,
    bound: f32,
    layers: &'a [u32],
    n_layers: usize,
    perms: &'a [u32],
    params: &'a [f32],
    per_flow: usize,
    widest: usize,
    norm: Option<Norm<'a>>,
}

/// One MADE layer from the layer table.
struct Layer<'a> {
    width: usize,
    reads_features: bool,
    /// (rows, prefix) pairs.
    groups: &'a [u32],
}

impl<'a> Maf<'a> {
    /// Reads a MAF blob (see [`crate::format`]), checking everything.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Maf<'a>, Error> {
        Maf::from_blob(format::parse(bytes)?)
    }

    /// Reads a blob whose framing [`format::parse`] has checked.
    pub(crate) fn from_blob(blob: format::Blob<'a>) -> Result<Maf<'a>, Error> {
        blob.expect_kind(Kind::Maf)?;
        let mut w = Words::new(blob.words);
        let dim = w.size()?;
        let features = w.size()?;
        let flows = w.size()?;
        let activation = Activation::from_code(w.next()?)?;
        let bound = f32::from_bits(w.next()?);
        let n_layers = w.size()?;
        if dim == 0 || dim > MAX_DIM {
            return Err(Error::Inconsistent("MAF dim must be 1..=1024"));
        }
        if flows == 0 {
            return Err(Error::Inconsistent("MAF needs at least one flow"));
        }
        if n_layers == 0 {
            return Err(Error::Inconsistent("a MADE needs an output layer"));
        }
        if !(bound.is_finite() && bound > 0.0) {
            return Err(Error::Inconsistent(
                "log-scale bound must be positive and finite",
            ));
        }
        let start = w.pos();
        let (mut prev, mut widest, mut per_flow) = (dim, dim, 0usize);
        for l in 0..n_layers {
            let width = w.size()?;
            let reads_features = w.flag()?;
            let groups = w.size()?;
            let inputs = add(if reads_features { features } else { 0 }, prev)?;
            let (mut rows_total, mut weights) = (0usize, 0usize);
            for pair in w.take(mul(groups, 2)?)?.chunks_exact(2) {
                let (rows, prefix) = (pair[0] as usize, pair[1] as usize);
                if rows == 0 {
                    return Err(Error::Inconsistent("a MADE group has no rows"));
                }
                if prefix > inputs {
                    return Err(Error::Inconsistent(
                        "a MADE group reads more inputs than its layer has",
                    ));
                }
                rows_total = add(rows_total, rows)?;
                weights = add(weights, mul(rows, prefix)?)?;
            }
            if width == 0 || rows_total != width {
                return Err(Error::Inconsistent(
                    "MADE group rows do not add up to the layer width",
                ));
            }
            if l + 1 == n_layers && width != mul(2, dim)? {
                return Err(Error::Inconsistent(
                    "MADE output layer must have 2·dim units",
                ));
            }
            per_flow = add(per_flow, add(weights, width)?)?;
            widest = widest.max(width);
            prev = width;
        }
        let layers = &blob.words[start..w.pos()];
        let perms = w.take(mul(flows - 1, dim)?)?;
        for p in perms.chunks_exact(dim) {
            let mut seen = [0u32; MAX_DIM / 32];
            for &v in p {
                let v = v as usize;
                if v >= dim || seen[v / 32] & (1 << (v % 32)) != 0 {
                    return Err(Error::Inconsistent(
                        "a flow permutation is not a permutation of 0..dim",
                    ));
                }
                seen[v / 32] |= 1 << (v % 32);
            }
        }
        w.finish()?;
        let mut floats = Floats::new(blob.payload);
        let params = floats.take(mul(flows, per_flow)?)?;
        let norm = if blob.normalised() {
            Some(Norm::parse(&mut floats, dim, features)?)
        } else {
            None
        };
        floats.finish()?;
        // The scratch size must be computable without overflow.
        add(
            add(mul(2, add(features, widest)?)?, mul(2, dim)?)?,
            features,
        )?;
        Ok(Maf {
            dim,
            features,
            flows,
            activation,
            bound,
            layers,
            n_layers,
            perms,
            params,
            per_flow,
            widest,
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
        self.features
    }

    /// Number of MADE blocks.
    pub fn flows(&self) -> usize {
        self.flows
    }

    /// The MADEs' hidden nonlinearity.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// f32s of scratch [`Maf::log_prob`], [`Maf::inverse`] and
    /// [`Maf::sample`] need: `2(c + w) + 2d`, w the widest layer (or d),
    /// plus c with a normalisation.
    pub fn scratch_len(&self) -> usize {
        let norm = if self.norm.is_some() {
            self.features
        } else {
            0
        };
        2 * (self.features + self.widest) + 2 * self.dim + norm
    }

    /// log p(x | features).
    pub fn log_prob(&self, x: &[f32], features: &[f32], scratch: &mut [f32]) -> Result<f32, Error> {
        self.check(features, scratch)?;
        check_len("x", x.len(), self.dim)?;
        let d = self.dim;
        let (features, scratch) = split_features(self.norm.as_ref(), features, scratch);
        let (bufs, rest) = scratch.split_at_mut(2 * (self.features + self.widest));
        let (u, rest) = rest.split_at_mut(d);
        let alpha = &mut rest[..d];
        match &self.norm {
            Some(n) => {
                for (j, (u, &x)) in u.iter_mut().zip(x).enumerate() {
                    *u = n.x_tilde(j, x);
                }
            }
            None => u.copy_from_slice(x),
        }
        let mut logdet = 0.0;
        for i in 0..self.flows {
            if i > 0 {
                self.permute(i, u, alpha);
            }
            let o = self.made(i, u, features, bufs);
            for j in 0..d {
                alpha[j] = self.alpha(o[2 * j + 1]);
                u[j] = (u[j] - o[2 * j]) * libm::expf(-alpha[j]);
            }
            let a = sum_slice(alpha);
            logdet = if i == 0 { -a } else { logdet - a };
        }
        for v in u.iter_mut() {
            *v *= *v;
        }
        let lp = sum_slice(u) * -0.5 + -(d as f32) * HALF_LN_2PI + logdet;
        Ok(match &self.norm {
            Some(n) => lp - n.log_std_sum,
            None => lp,
        })
    }

    /// The inverse transform: the x whose density transform is the base
    /// point `z` (d values), written to `out` (x = μx + σx ⊙ x̃ with a
    /// normalisation).
    pub fn inverse(
        &self,
        z: &[f32],
        features: &[f32],
        out: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        self.check(features, scratch)?;
        check_len("z", z.len(), self.dim)?;
        check_len("out", out.len(), self.dim)?;
        out.copy_from_slice(z);
        let (features, scratch) = split_features(self.norm.as_ref(), features, scratch);
        self.invert(out, features, scratch);
        if let Some(n) = &self.norm {
            n.denormalise(out);
        }
        Ok(())
    }

    /// `n` samples from p(x | features), written row by row to `out` (n·d
    /// values): base points from [`Rng::new`]`(seed)`, d normals per sample,
    /// pushed through [`Maf::inverse`]. The same seed gives the same bits on
    /// every target.
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
        let (features, scratch) = split_features(self.norm.as_ref(), features, scratch);
        let mut rng = Rng::new(seed);
        for row in out.chunks_exact_mut(self.dim) {
            for v in row.iter_mut() {
                *v = rng.normal();
            }
            self.invert(row, features, scratch);
            if let Some(n) = &self.norm {
                n.denormalise(row);
            }
        }
        Ok(())
    }

    fn check(&self, features: &[f32], scratch: &[f32]) -> Result<(), Error> {
        check_len("features", features.len(), self.features)?;
        check_scratch(scratch.len(), self.scratch_len())
    }

    /// α = s·tanh(a·(1/s)), as the training framework computes it.
    fn alpha(&self, a: f32) -> f32 {
        libm::tanhf(a * (1.0 / self.bound)) * self.bound
    }

    /// `v ← v[perm]` with the permutation before block `flow` (≥ 1).
    fn permute(&self, flow: usize, v: &mut [f32], tmp: &mut [f32]) {
        let p = &self.perms[(flow - 1) * self.dim..flow * self.dim];
        for (t, &k) in tmp.iter_mut().zip(p) {
            *t = v[k as usize];
        }
        v.copy_from_slice(tmp);
    }

    /// Inverts every block in place: `v` holds u on entry, x on return.
    fn invert(&self, v: &mut [f32], features: &[f32], scratch: &mut [f32]) {
        let d = self.dim;
        let (bufs, rest) = scratch.split_at_mut(2 * (self.features + self.widest));
        let y = &mut rest[..d];
        for i in (0..self.flows).rev() {
            // Pass p fixes dimension p: μ_p and α_p read only the
            // dimensions before it, exact after the earlier passes.
            y.fill(0.0);
            for _ in 0..d {
                let o = self.made(i, y, features, bufs);
                for j in 0..d {
                    y[j] = v[j] * libm::expf(self.alpha(o[2 * j + 1])) + o[2 * j];
                }
            }
            if i > 0 {
                let p = &self.perms[(i - 1) * d..i * d];
                for (k, &pk) in p.iter().enumerate() {
                    v[pk as usize] = y[k];
                }
            } else {
                v.copy_from_slice(y);
            }
        }
    }

    /// The layer table, layer by layer.
    fn layers(&self) -> impl Iterator<Item = Layer<'a>> + 'a {
        let table = self.layers;
        let mut at = 0;
        core::iter::from_fn(move || {
            let head = table.get(at..at + 3)?;
            let groups = head[2] as usize;
            let layer = Layer {
                width: head[0] as usize,
                reads_features: head[1] == 1,
                groups: &table[at + 3..at + 3 + 2 * groups],
            };
            at += 3 + 2 * groups;
            Some(layer)
        })
    }

    /// Block `flow`'s output `[μ₁, a₁, μ₂, a₂, …]` for input `x` (block
    /// order), computed in `bufs` (two `c + w` halves) and returned from it.
    fn made<'s>(&self, flow: usize, x: &[f32], f: &[f32], bufs: &'s mut [f32]) -> &'s [f32] {
        let c = self.features;
        let (mut cur, mut next) = bufs.split_at_mut(c + self.widest);
        cur[..c].copy_from_slice(f);
        next[..c].copy_from_slice(f);
        cur[c..c + x.len()].copy_from_slice(x);
        let params = &self.params[flow * self.per_flow..(flow + 1) * self.per_flow];
        let (mut at, mut prev) = (0, self.dim);
        for (l, layer) in self.layers().enumerate() {
            let input = if layer.reads_features {
                &cur[..c + prev]
            } else {
                &cur[c..c + prev]
            };
            let mut row = c;
            for g in layer.groups.chunks_exact(2) {
                let (rows, prefix) = (g[0] as usize, g[1] as usize);
                row_product(
                    &input[..prefix],
                    &params[at..at + prefix * rows],
                    &mut next[row..row + rows],
                );
                at += prefix * rows;
                row += rows;
            }
            let out = &mut next[c..c + layer.width];
            add_bias(out, &params[at..at + layer.width]);
            at += layer.width;
            if l + 1 < self.n_layers {
                self.activation.apply_in_place(out);
            }
            core::mem::swap(&mut cur, &mut next);
            prev = layer.width;
        }
        let out: &'s [f32] = cur;
        &out[c..c + 2 * self.dim]
    }
}
