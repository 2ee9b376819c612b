//! Fused scaled dot-product attention over heads laid side by side in the
//! rows of a matrix (`[B, L, H·dh]`, or the packed `[B, L, 3·H·dh]` of a
//! self-attention in-projection): `softmax(scale · Q Kᵀ + mask) V` per
//! batch element and head, read through strides (no permute copies) and
//! written merged (`[B, T, H·dh]`), and its backward pass.
//!
//! Per (batch element, head) the scores go into the kept weights `P`
//! (`[B, H, T, S]`, the only thing the backward pass needs besides the
//! inputs); the work is split over batch elements across rayon threads
//! when it is large enough.

use super::matmul::{matmul, Operand};
use super::reduce::softmax_axis;
use crate::buffer::{for_overwrite, recycle};

/// Where the heads of one of Q, K or V are: element `(b, i, h, j)` (batch
/// element, position, head, component) is at
/// `offset + b·batch_stride + i·row_stride + h·dh + j`.
#[derive(Clone, Copy, Debug)]
pub struct Heads<'a> {
    /// The values.
    pub data: &'a [f32],
    /// Offset of element `(0, 0, 0, 0)`.
    pub offset: usize,
    /// Distance between positions.
    pub row_stride: usize,
    /// Distance between batch elements.
    pub batch_stride: usize,
}

impl<'a> Heads<'a> {
    /// Contiguous `[B, L, H·dh]` heads.
    pub fn merged(data: &'a [f32], len: usize, width: usize) -> Heads<'a> {
        Heads {
            data,
            offset: 0,
            row_stride: width,
            batch_stride: len * width,
        }
    }

    /// Block `which` (0: Q, 1: K, 2: V) of a packed `[B, L, 3·width]`.
    pub fn packed(data: &'a [f32], len: usize, width: usize, which: usize) -> Heads<'a> {
        Heads {
            data,
            offset: which * width,
            row_stride: 3 * width,
            batch_stride: len * 3 * width,
        }
    }

    /// Head `h` of batch element `b`, as a `rows × dh` matrix (transposed:
    /// `dh × rows`).
    fn matrix(&self, b: usize, h: usize, dh: usize, transposed: bool) -> Operand<'a> {
        let start = self.offset + b * self.batch_stride + h * dh;
        let (row_stride, col_stride) = if transposed {
            (1, self.row_stride)
        } else {
            (self.row_stride, 1)
        };
        Operand {
            data: &self.data[start..],
            batch_stride: 0,
            row_stride,
            col_stride,
        }
    }
}

/// The sizes of an attention: `batch` elements, `t` queries, `s` keys,
/// `heads` heads of `dh` components each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Batch elements.
    pub batch: usize,
    /// Queries per element.
    pub t: usize,
    /// Keys (and values) per element.
    pub s: usize,
    /// Heads.
    pub heads: usize,
    /// Components per head.
    pub dh: usize,
}

impl Shape {
    fn width(&self) -> usize {
        self.heads * self.dh
    }

    /// Multiply-adds of the forward pass.
    fn work(&self) -> usize {
        2 * self.batch * self.heads * self.t * self.s * self.dh
    }
}

/// What is masked and how the scores are scaled.
#[derive(Clone, Copy, Debug)]
pub struct Scores<'a> {
    /// The factor on `Q Kᵀ`.
    pub scale: f32,
    /// `[B, T, S]`, nonzero where a (query, key) pair is masked; the same
    /// for every head.
    pub mask: Option<&'a [f32]>,
    /// The score a masked pair gets before the softmax.
    pub masked_score: f32,
}

/// Runs `f(b, chunks of b)` for every batch element, across rayon threads
/// when `work` pays for it; each output is split into `batch` equal chunks.
fn per_element<const N: usize>(
    batch: usize,
    work: usize,
    outs: [&mut [f32]; N],
    f: impl Fn(usize, [&mut [f32]; N]) + Sync + Send,
) {
    let sizes = outs.each_ref().map(|o| o.len() / batch.max(1));
    #[cfg(feature = "std")]
    if super::simd::worth_parallel(work) && batch > 1 {
        use rayon::prelude::*;
        let mut rows: alloc::vec::Vec<[&mut [f32]; N]> = (0..batch)
            .map(|_| core::array::from_fn(|_| &mut [][..]))
            .collect();
        for (k, o) in outs.into_iter().enumerate() {
            for (r, c) in rows.iter_mut().zip(o.chunks_mut(sizes[k])) {
                r[k] = c;
            }
        }
        rows.into_par_iter()
            .enumerate()
            .for_each(|(b, chunks)| f(b, chunks));
        return;
    }
    let _ = work;
    let mut outs = outs;
    for b in 0..batch {
        let chunks: [&mut [f32]; N] = {
            let mut it = outs.iter_mut().zip(sizes);
            core::array::from_fn(|_| {
                let (o, n) = it.next().expect("one chunk per output");
                let whole = core::mem::take(o);
                let (head, rest) = whole.split_at_mut(n);
                *o = rest;
                head
            })
        };
        f(b, chunks);
    }
}

/// `scale · Q Kᵀ` of head `h` of element `b`, masked, as softmax weights
/// into `p` (`t × s`); `sc` is `t × s` scratch.
#[allow(clippy::too_many_arguments)]
fn weights(
    sh: &Shape,
    q: &Heads,
    k: &Heads,
    sco: &Scores,
    b: usize,
    h: usize,
    sc: &mut [f32],
    p: &mut [f32],
) {
    let (t, s, dh) = (sh.t, sh.s, sh.dh);
    matmul(
        1,
        t,
        s,
        dh,
        q.matrix(b, h, dh, false),
        k.matrix(b, h, dh, true),
        sc,
    );
    match sco.mask {
        Some(m) => {
            let m = &m[b * t * s..(b + 1) * t * s];
            for (x, &mk) in sc.iter_mut().zip(m) {
                *x = if mk != 0.0 {
                    sco.masked_score
                } else {
                    *x * sco.scale
                };
            }
        }
        None => sc.iter_mut().for_each(|x| *x *= sco.scale),
    }
    softmax_axis(sc, t, s, 1, p);
}

/// Copies the `rows × dh` matrix `m` into columns `h·dh..` of the rows of
/// `out` (row length `width`).
fn scatter(m: &[f32], dh: usize, h: usize, width: usize, out: &mut [f32]) {
    for (row, src) in out.chunks_mut(width).zip(m.chunks(dh)) {
        row[h * dh..(h + 1) * dh].copy_from_slice(src);
    }
}

/// Forward pass: `out` (`[B, T, H·dh]`) gets the attention's output and `p`
/// (`[B, H, T, S]`) its weights.
///
/// # Panics
/// If an output has the wrong length or a view reaches past its slice.
///
/// ```
/// use ferrograd_tensor::kernels::attention::{forward, Heads, Scores, Shape};
/// // One element, one head of 1 component, two keys: equal scores.
/// let (q, k, v) = ([1.0], [2.0, 2.0], [1.0, 3.0]);
/// let sh = Shape { batch: 1, t: 1, s: 2, heads: 1, dh: 1 };
/// let sco = Scores { scale: 1.0, mask: None, masked_score: -1e9 };
/// let (mut out, mut p) = ([0.0], [0.0; 2]);
/// forward(&sh, Heads::merged(&q, 1, 1), Heads::merged(&k, 2, 1), Heads::merged(&v, 2, 1),
///         &sco, &mut out, &mut p);
/// assert_eq!(p, [0.5, 0.5]);
/// assert_eq!(out, [2.0]);
/// ```
pub fn forward(
    sh: &Shape,
    q: Heads,
    k: Heads,
    v: Heads,
    sco: &Scores,
    out: &mut [f32],
    p: &mut [f32],
) {
    let (t, s, dh, w) = (sh.t, sh.s, sh.dh, sh.width());
    assert_eq!(out.len(), sh.batch * t * w, "attention: output length");
    assert_eq!(
        p.len(),
        sh.batch * sh.heads * t * s,
        "attention: weights length"
    );
    if out.is_empty() || p.is_empty() {
        return;
    }
    per_element(sh.batch, sh.work(), [out, p], |b, [out, p]| {
        let mut sc = for_overwrite(t * s);
        let mut oh = for_overwrite(t * dh);
        for h in 0..sh.heads {
            let ph = &mut p[h * t * s..(h + 1) * t * s];
            weights(sh, &q, &k, sco, b, h, &mut sc, ph);
            let pm = Operand::row_major(ph, t, s, false);
            matmul(1, t, dh, s, pm, v.matrix(b, h, dh, false), &mut oh);
            scatter(&oh, dh, h, w, out);
        }
        recycle(sc);
        recycle(oh);
    });
}

/// Backward pass: from the inputs, the weights `p` of [`forward`] and the
/// output's gradient `g` (`[B, T, H·dh]`), the gradients `dq` (`[B, T,
/// H·dh]`), `dk` and `dv` (`[B, S, H·dh]`). Masked pairs pass no gradient.
///
/// # Panics
/// As [`forward`].
#[allow(clippy::too_many_arguments)]
pub fn backward(
    sh: &Shape,
    q: Heads,
    k: Heads,
    v: Heads,
    sco: &Scores,
    p: &[f32],
    g: &[f32],
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) {
    let (t, s, dh, w) = (sh.t, sh.s, sh.dh, sh.width());
    assert_eq!(g.len(), sh.batch * t * w, "attention: gradient length");
    assert_eq!(
        p.len(),
        sh.batch * sh.heads * t * s,
        "attention: weights length"
    );
    assert_eq!(dq.len(), g.len(), "attention: dq length");
    assert_eq!(dk.len(), sh.batch * s * w, "attention: dk length");
    assert_eq!(dv.len(), dk.len(), "attention: dv length");
    if dq.is_empty() || dk.is_empty() {
        return;
    }
    let go = Heads::merged(g, t, w);
    per_element(sh.batch, 2 * sh.work(), [dq, dk, dv], |b, [dq, dk, dv]| {
        let mut ds = for_overwrite(t * s);
        let mut tq = for_overwrite(t * dh);
        let mut tk = for_overwrite(s * dh);
        for h in 0..sh.heads {
            let ph = &p[(b * sh.heads + h) * t * s..][..t * s];
            let gh = go.matrix(b, h, dh, false);
            // dV = Pᵀ dO.
            matmul(1, s, dh, t, Operand::row_major(ph, t, s, true), gh, &mut tk);
            scatter(&tk, dh, h, w, dv);
            // dP = dO Vᵀ, then dS = P ⊙ (dP − Σ_j P dP) · scale.
            matmul(1, t, s, dh, gh, v.matrix(b, h, dh, true), &mut ds);
            for (i, (dr, pr)) in ds.chunks_mut(s).zip(ph.chunks(s)).enumerate() {
                let dot: f32 = dr.iter().zip(pr).map(|(d, p)| d * p).sum();
                for (d, &pv) in dr.iter_mut().zip(pr) {
                    *d = pv * (*d - dot) * sco.scale;
                }
                if let Some(m) = sco.mask {
                    let m = &m[(b * t + i) * s..][..s];
                    for (d, &mk) in dr.iter_mut().zip(m) {
                        if mk != 0.0 {
                            *d = 0.0;
                        }
                    }
                }
            }
            let dsm = Operand::row_major(&ds, t, s, false);
            // dQ = dS K, dK = dSᵀ Q.
            matmul(1, t, dh, s, dsm, k.matrix(b, h, dh, false), &mut tq);
            scatter(&tq, dh, h, w, dq);
            let dst = Operand::row_major(&ds, t, s, true);
            matmul(1, s, dh, t, dst, q.matrix(b, h, dh, false), &mut tk);
            scatter(&tk, dh, h, w, dk);
        }
        recycle(ds);
        recycle(tq);
        recycle(tk);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32
                    / 500.0
                    - 1.0
            })
            .collect()
    }

    /// Plain loops over the packed layout.
    fn naive(sh: &Shape, qkv: &[f32], sco: &Scores) -> Vec<f32> {
        let (t, w, dh) = (sh.t, sh.width(), sh.dh);
        let at = |b: usize, i: usize, which: usize, h: usize, j: usize| {
            qkv[(b * t + i) * 3 * w + which * w + h * dh + j]
        };
        let mut out = alloc::vec![0.0; sh.batch * t * w];
        for b in 0..sh.batch {
            for h in 0..sh.heads {
                for i in 0..t {
                    let sc: Vec<f32> = (0..t)
                        .map(|j| {
                            let m = sco.mask.is_some_and(|m| m[(b * t + i) * t + j] != 0.0);
                            if m {
                                return sco.masked_score;
                            }
                            (0..dh)
                                .map(|c| at(b, i, 0, h, c) * at(b, j, 1, h, c))
                                .sum::<f32>()
                                * sco.scale
                        })
                        .collect();
                    let mx = sc.iter().cloned().fold(f32::MIN, f32::max);
                    let e: Vec<f32> = sc.iter().map(|x| libm::expf(x - mx)).collect();
                    let z: f32 = e.iter().sum();
                    for c in 0..dh {
                        out[(b * t + i) * w + h * dh + c] =
                            (0..t).map(|j| e[j] / z * at(b, j, 2, h, c)).sum();
                    }
                }
            }
        }
        out
    }

    #[test]
    fn packed_forward_matches_plain_loops_with_and_without_a_mask() {
        let sh = Shape {
            batch: 3,
            t: 5,
            s: 5,
            heads: 2,
            dh: 3,
        };
        let w = sh.width();
        let qkv = values(sh.batch * sh.t * 3 * w, 7);
        let mask: Vec<f32> = (0..sh.batch * 25)
            .map(|i| ((i % 5) > (i / 5) % 5) as u8 as f32)
            .collect();
        for m in [None, Some(&mask[..])] {
            let sco = Scores {
                scale: 0.6,
                mask: m,
                masked_score: -1e9,
            };
            let mut out = alloc::vec![0.0; sh.batch * sh.t * w];
            let mut p = alloc::vec![0.0; sh.batch * sh.heads * 25];
            let hs = |i| Heads::packed(&qkv, sh.t, w, i);
            forward(&sh, hs(0), hs(1), hs(2), &sco, &mut out, &mut p);
            let want = naive(&sh, &qkv, &sco);
            for (a, b) in out.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
            for row in p.chunks(5) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
    }
}
