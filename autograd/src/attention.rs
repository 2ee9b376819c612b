//! Fused multi-head scaled dot-product attention as one primitive
//! ([`Attention`]): `softmax(scale · Q Kᵀ + mask) V` per head, reading the
//! heads through strides of `[B, L, H·dh]` inputs (or the packed
//! `[B, L, 3·H·dh]` of a self-attention projection) and writing them merged,
//! so no permute copies, no separate scale, mask or softmax tensors.
//!
//! The forward pass keeps the weights `[B, H, T, S]`; the backward pass
//! without `create_graph` is one fused kernel
//! ([`ferrograd_tensor::kernels::attention::backward`]). Under
//! `create_graph` the rule is the gradient of the same attention written
//! with differentiable ops ([`Attention::composite`]), so it can be
//! differentiated again, to any order.

use crate::custom::CustomOp;
use crate::{Error, Result, Var};
use ferrograd_tensor::buffer::{for_overwrite, recycle};
use ferrograd_tensor::kernels::attention::{backward, forward, Heads, Scores, Shape};
use ferrograd_tensor::Tensor;
use std::sync::{Arc, Mutex};

/// The settings of a fused attention.
///
/// ```
/// use ferrograd_autograd::{Attention, Var};
/// use ferrograd_tensor::Tensor;
/// // Self-attention of 2 sequences of 3 positions, 2 heads of 4.
/// let qkv = Var::param(Tensor::full(&[2, 3, 24], 0.1).unwrap());
/// let y = Attention::new(2, 0.5).packed(&qkv).unwrap();
/// assert_eq!(y.dims(), &[2, 3, 8]);
/// ```
#[derive(Clone, Debug)]
pub struct Attention {
    /// Number of heads `H`.
    pub heads: usize,
    /// The factor on `Q Kᵀ` (usually `1/√dh`).
    pub scale: f32,
    /// `[B, 1, T, S]` (or `[B, T, S]`), nonzero where a (query, key) pair
    /// is masked, for every head.
    pub mask: Option<Tensor>,
    /// The score a masked pair gets before the softmax (finite, so a query
    /// whose keys are all masked gets uniform weights).
    pub masked_score: f32,
}

impl Attention {
    /// `heads` heads, scores scaled by `scale`, nothing masked.
    pub fn new(heads: usize, scale: f32) -> Attention {
        Attention {
            heads,
            scale,
            mask: None,
            masked_score: -1e9,
        }
    }

    /// The same attention with `mask` (see [`Attention::mask`]) and the
    /// score masked pairs get.
    pub fn with_mask(mut self, mask: Tensor, masked_score: f32) -> Attention {
        self.mask = Some(mask);
        self.masked_score = masked_score;
        self
    }

    /// Self-attention of a packed projection `qkv [B, L, 3·D]` (Q, K, V
    /// side by side, each `H` heads of `D/H`): `[B, L, D]`.
    pub fn packed(&self, qkv: &Var) -> Result<Var> {
        let shape = self.shape(&[qkv.dims()])?;
        self.apply(shape, true, &[qkv])
    }

    /// Attention of queries `q [B, T, D]` over keys `k` and values `v`
    /// `[B, S, D]` (each `H` heads of `D/H`): `[B, T, D]`.
    pub fn separate(&self, q: &Var, k: &Var, v: &Var) -> Result<Var> {
        let shape = self.shape(&[q.dims(), k.dims(), v.dims()])?;
        self.apply(shape, false, &[q, k, v])
    }

    fn apply(&self, shape: Shape, packed: bool, inputs: &[&Var]) -> Result<Var> {
        let op = AttentionOp {
            settings: self.clone(),
            shape,
            packed,
            weights: Mutex::new(None),
        };
        Var::custom(Arc::new(op), inputs)
    }

    /// The sizes from the input dimensions (one packed input or three),
    /// checked with the mask's.
    fn shape(&self, dims: &[&[usize]]) -> Result<Shape> {
        let bad = |what: String| Error::Invalid(format!("attention: {what}"));
        let h = self.heads;
        let three = |d: &[usize]| -> Result<[usize; 3]> {
            d.try_into()
                .map_err(|_| bad(format!("inputs must be [batch, length, width], got {d:?}")))
        };
        let shape = match dims {
            [d] => {
                let [b, l, w3] = three(d)?;
                if w3 % 3 != 0 {
                    return Err(bad(format!("packed width {w3} is not 3·D")));
                }
                (b, l, l, w3 / 3)
            }
            [q, k, v] => {
                let ([b, t, w], kd, vd) = (three(q)?, three(k)?, three(v)?);
                if kd != vd || kd[0] != b || kd[2] != w {
                    return Err(bad(format!(
                        "keys {k:?} and values {v:?} must match, with the queries' {q:?} batch and width"
                    )));
                }
                (b, t, kd[1], w)
            }
            _ => return Err(bad("one packed input or three".into())),
        };
        let (batch, t, s, w) = shape;
        if h == 0 || w % h != 0 {
            return Err(bad(format!("width {w} is not a multiple of {h} heads")));
        }
        if let Some(m) = &self.mask {
            if m.numel() != batch * t * s || m.dims().last() != Some(&s) {
                return Err(bad(format!(
                    "mask {:?} is not [{batch}, 1, {t}, {s}]",
                    m.dims()
                )));
            }
        }
        Ok(Shape {
            batch,
            t,
            s,
            heads: h,
            dh: w / h,
        })
    }

    /// The same attention written with ordinary differentiable ops (the
    /// reference the primitive is tested against, and its rule under
    /// `create_graph`): one packed input or `[q, k, v]`.
    pub fn composite(&self, inputs: &[&Var]) -> Result<Var> {
        let dims: Vec<&[usize]> = inputs.iter().map(|v| v.dims()).collect();
        let sh = self.shape(&dims)?;
        let (b, h, dh) = (sh.batch, sh.heads, sh.dh);
        let split = |x: &Var, len: usize| -> Result<Var> {
            x.reshape(&[b, len, h, dh])?.permute(&[0, 2, 1, 3])
        };
        let (q, k, v) = match inputs {
            [qkv] => {
                let y = qkv
                    .reshape(&[b, sh.t, 3, h, dh])?
                    .permute(&[2, 0, 3, 1, 4])?;
                let part = |i| y.narrow(0, i, 1)?.reshape(&[b, h, sh.t, dh]);
                (part(0)?, part(1)?, part(2)?)
            }
            [q, k, v] => (split(q, sh.t)?, split(k, sh.s)?, split(v, sh.s)?),
            _ => {
                return Err(Error::Invalid(
                    "attention: one packed input or three".into(),
                ))
            }
        };
        let mut scores = q.matmul_t(&k, false, true)?.mul_scalar(self.scale);
        if let Some(m) = &self.mask {
            let m = m.reshape(&[b, 1, sh.t, sh.s])?;
            scores = Var::select(&m, &Var::scalar(self.masked_score), &scores)?;
        }
        let heads = scores.softmax(-1)?.matmul(&v)?;
        heads.permute(&[0, 2, 1, 3])?.reshape(&[b, sh.t, h * dh])
    }
}

/// The primitive; one instance per application (it holds that
/// application's weights).
struct AttentionOp {
    settings: Attention,
    shape: Shape,
    packed: bool,
    weights: Mutex<Option<Vec<f32>>>,
}

impl AttentionOp {
    /// Q, K and V views of the input values.
    fn heads<'a>(&self, x: &[&'a Tensor]) -> [Heads<'a>; 3] {
        let sh = &self.shape;
        let w = sh.heads * sh.dh;
        if self.packed {
            [0, 1, 2].map(|i| Heads::packed(x[0].data(), sh.t, w, i))
        } else {
            [
                Heads::merged(x[0].data(), sh.t, w),
                Heads::merged(x[1].data(), sh.s, w),
                Heads::merged(x[2].data(), sh.s, w),
            ]
        }
    }

    fn scores(&self) -> Scores<'_> {
        Scores {
            scale: self.settings.scale,
            mask: self.settings.mask.as_ref().map(|m| m.data()),
            masked_score: self.settings.masked_score,
        }
    }
}

impl Drop for AttentionOp {
    /// The weights go back to the tensor buffer cache for the next step.
    fn drop(&mut self) {
        if let Some(p) = self.weights.get_mut().ok().and_then(|w| w.take()) {
            recycle(p);
        }
    }
}

impl CustomOp for AttentionOp {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
        let sh = self.shape;
        let [q, k, v] = self.heads(x);
        let mut out = for_overwrite(sh.batch * sh.t * sh.heads * sh.dh);
        let mut p = for_overwrite(sh.batch * sh.heads * sh.t * sh.s);
        forward(&sh, q, k, v, &self.scores(), &mut out, &mut p);
        if let Some(old) = self.weights.lock().expect("attention lock").replace(p) {
            recycle(old);
        }
        Ok(Tensor::from_vec(out, &[sh.batch, sh.t, sh.heads * sh.dh])?)
    }

    fn backward(&self, x: &[Var], _y: &Var, g: &Var) -> Result<Vec<Option<Var>>> {
        let weights = self.weights.lock().expect("attention lock");
        match weights.as_ref() {
            Some(p) if !crate::is_grad_enabled() => self.fused_backward(x, p, g),
            _ => {
                drop(weights);
                self.composite_backward(x, g)
            }
        }
    }
}

impl AttentionOp {
    fn fused_backward(&self, x: &[Var], p: &[f32], g: &Var) -> Result<Vec<Option<Var>>> {
        let sh = self.shape;
        let w = sh.heads * sh.dh;
        let values: Vec<&Tensor> = x.iter().map(|v| v.value()).collect();
        let [q, k, v] = self.heads(&values);
        let mut dq = for_overwrite(sh.batch * sh.t * w);
        let mut dk = for_overwrite(sh.batch * sh.s * w);
        let mut dv = for_overwrite(sh.batch * sh.s * w);
        let gv = g.value();
        let g = gv.data();
        backward(
            &sh,
            q,
            k,
            v,
            &self.scores(),
            p,
            g,
            &mut dq,
            &mut dk,
            &mut dv,
        );
        let tensor = |v: Vec<f32>, len: usize| Tensor::from_vec(v, &[sh.batch, len, w]);
        if self.packed {
            // Interleave into the packed layout [B, L, 3·D].
            let mut d = for_overwrite(3 * dq.len());
            for (row, ((a, b), c)) in d
                .chunks_mut(3 * w)
                .zip(dq.chunks(w).zip(dk.chunks(w)).zip(dv.chunks(w)))
            {
                row[..w].copy_from_slice(a);
                row[w..2 * w].copy_from_slice(b);
                row[2 * w..].copy_from_slice(c);
            }
            for v in [dq, dk, dv] {
                recycle(v);
            }
            let d = Tensor::from_vec(d, &[sh.batch, sh.t, 3 * w])?;
            return Ok(vec![Some(Var::constant(d))]);
        }
        let out = [(dq, sh.t), (dk, sh.s), (dv, sh.s)];
        out.into_iter()
            .zip(x)
            .map(|((d, len), xi)| {
                if xi.requires_grad() {
                    Ok(Some(Var::constant(tensor(d, len)?)))
                } else {
                    recycle(d);
                    Ok(None)
                }
            })
            .collect()
    }

    /// The gradient of [`Attention::composite`] at the same inputs,
    /// recorded when grad mode is on (so it can be differentiated again).
    fn composite_backward(&self, x: &[Var], g: &Var) -> Result<Vec<Option<Var>>> {
        crate::custom::composite_rule(x, g, |x| {
            self.settings.composite(&x.iter().collect::<Vec<_>>())
        })
    }
}
