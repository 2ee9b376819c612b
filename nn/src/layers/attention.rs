//! Multi-head scaled dot-product attention with PyTorch's
//! `nn.MultiheadAttention` parameter layout (batch-first inputs).

use crate::init;
use crate::layers::linear::Linear;
use crate::module::{Collector, Forward, Module};
use crate::param::{Param, ParamSource};
use crate::{Error, Result};
use ferrograd_autograd::{Attention, Var};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;

/// The score given to a masked (query, key) pair before the softmax. It is
/// finite, so a row whose keys are all masked gets equal scores and hence
/// uniform weights instead of NaN; any unmasked score exceeds it by so much
/// that `exp` of the difference is exactly 0.
const MASKED_SCORE: f32 = f32::MIN;

/// Which (query, key) pairs attention must ignore. Masked pairs get exactly
/// zero weight. A query whose every key is masked (PyTorch returns NaN there)
/// attends uniformly to all keys, so its output is the mean of the values.
///
/// ```
/// use ferrograd_nn::layers::attention::AttentionMask;
/// use ferrograd_tensor::Tensor;
/// let pad = Tensor::from_vec(vec![0.0, 0.0, 1.0], &[1, 3]).unwrap(); // last key is padding
/// let mask = AttentionMask::none().with_causal().with_key_padding(pad);
/// assert!(mask.causal);
/// ```
#[derive(Clone, Debug, Default)]
pub struct AttentionMask {
    /// `[B, S]`: nonzero (true) marks a padding key, ignored by every query
    /// of that batch element (PyTorch's `key_padding_mask`).
    pub key_padding: Option<Tensor>,
    /// Query `i` ignores keys `j > i` (PyTorch's `is_causal`).
    pub causal: bool,
    /// `[T, S]`: nonzero marks a pair to ignore (PyTorch's boolean `attn_mask`).
    pub attn_mask: Option<Tensor>,
}

impl AttentionMask {
    /// No masking.
    pub fn none() -> AttentionMask {
        AttentionMask::default()
    }

    /// Adds the causal mask.
    pub fn with_causal(mut self) -> AttentionMask {
        self.causal = true;
        self
    }

    /// Adds a key padding mask `[B, S]` (nonzero = padding).
    pub fn with_key_padding(mut self, mask: Tensor) -> AttentionMask {
        self.key_padding = Some(mask);
        self
    }

    /// Adds a pair mask `[T, S]` (nonzero = ignore).
    pub fn with_attn_mask(mut self, mask: Tensor) -> AttentionMask {
        self.attn_mask = Some(mask);
        self
    }

    /// The combined mask as a `[B, 1, T, S]` tensor of 1 (ignore) and 0, or
    /// `None` when nothing is masked.
    pub fn combined(&self, batch: usize, t: usize, s: usize) -> Result<Option<Tensor>> {
        if self.key_padding.is_none() && self.attn_mask.is_none() && !self.causal {
            return Ok(None);
        }
        let check = |name: &str, m: &Tensor, want: [usize; 2]| {
            if m.dims() != want {
                return Err(Error::Config(format!(
                    "attention: {name} has shape {:?}, expected {want:?}",
                    m.dims()
                )));
            }
            Ok(())
        };
        if let Some(m) = &self.key_padding {
            check("key padding mask", m, [batch, s])?;
        }
        if let Some(m) = &self.attn_mask {
            check("attn_mask", m, [t, s])?;
        }
        let mut out = vec![0.0f32; batch * t * s];
        for b in 0..batch {
            for i in 0..t {
                for j in 0..s {
                    let pad = self
                        .key_padding
                        .as_ref()
                        .is_some_and(|m| m.data()[b * s + j] != 0.0);
                    let pair = self
                        .attn_mask
                        .as_ref()
                        .is_some_and(|m| m.data()[i * s + j] != 0.0);
                    if pad || pair || (self.causal && j > i) {
                        out[(b * t + i) * s + j] = 1.0;
                    }
                }
            }
        }
        Ok(Some(Tensor::from_vec(out, &[batch, 1, t, s])?))
    }
}

/// Inverted dropout with its own seeded generator: in training, each element
/// is zeroed with probability `p` and the rest scaled by `1/(1 − p)`.
pub(crate) struct InvertedDropout {
    p: f32,
    rng: Mutex<StdRng>,
}

impl InvertedDropout {
    /// Dropout with probability `p` ∈ [0, 1].
    pub(crate) fn new(p: f32, seed: u64, what: &str) -> Result<InvertedDropout> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::Config(format!(
                "{what}: dropout probability must be in [0, 1], got {p}"
            )));
        }
        Ok(InvertedDropout {
            p,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        })
    }

    /// The probability.
    pub(crate) fn p(&self) -> f32 {
        self.p
    }

    /// `x` itself in eval mode or with `p = 0`, else `x` times a fresh mask.
    pub(crate) fn apply(&self, x: &Var, training: bool) -> Result<Var> {
        if !training || self.p == 0.0 {
            return Ok(x.clone());
        }
        if self.p >= 1.0 {
            return Ok(x.mul_scalar(0.0));
        }
        let scale = 1.0 / (1.0 - self.p);
        let mut rng = self.rng.lock().expect("dropout generator lock");
        let keep: Vec<f32> = (0..x.numel())
            .map(|_| {
                if rng.random::<f32>() >= self.p {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        Ok(x.mul(&Var::constant(Tensor::from_vec(keep, x.dims())?))?)
    }
}

/// Multi-head attention `softmax(Q Kᵀ/√dh + mask) V` with PyTorch's
/// `nn.MultiheadAttention` layout: one in-projection `in_proj_weight`
/// `[3D, D]` (rows for q, then k, then v; head `h` uses features
/// `h·dh..(h+1)·dh`), `in_proj_bias` `[3D]` and `out_proj`. Inputs are
/// batch-first, `[B, T, D]`. Initialised as PyTorch does: Xavier-uniform
/// in-projection, zero biases, `out_proj.weight` ~ U(−1/√D, 1/√D).
/// Attention-weight dropout (default 0) acts in training mode only.
///
/// ```
/// use ferrograd_nn::layers::attention::{AttentionMask, MultiHeadAttention};
/// use ferrograd_nn::Module;
/// use ferrograd_autograd::{Attention, Var};
/// use ferrograd_tensor::Tensor;
/// let mha = MultiHeadAttention::new(8, 2, true, 0).unwrap();
/// let x = Var::constant(Tensor::ones(&[3, 5, 8]).unwrap());
/// let y = mha.self_attention(&x, &AttentionMask::none().with_causal()).unwrap();
/// assert_eq!(y.dims(), &[3, 5, 8]);
/// assert_eq!(mha.named_params()[0].0, "in_proj_weight");
/// ```
pub struct MultiHeadAttention {
    /// `[3D, D]`: the q, k and v projections stacked.
    pub in_proj_weight: Param,
    /// `[3D]`, if the layer has biases.
    pub in_proj_bias: Option<Param>,
    /// The output projection `[D, D]`.
    pub out_proj: Linear,
    heads: usize,
    dropout: InvertedDropout,
    training: bool,
}

impl MultiHeadAttention {
    /// `heads` heads over `d_model` features (`heads` must divide it), with
    /// or without biases, seeded.
    pub fn new(d_model: usize, heads: usize, bias: bool, seed: u64) -> Result<MultiHeadAttention> {
        if d_model == 0 || heads == 0 || !d_model.is_multiple_of(heads) {
            return Err(Error::Config(format!(
                "attention: d_model {d_model} must be a positive multiple of heads {heads}"
            )));
        }
        let mut rng = init::rng(seed);
        let w = init::xavier_uniform(&[3 * d_model, d_model], 1.0, &mut rng);
        let out_w = init::lecun_uniform(&[d_model, d_model], d_model, &mut rng);
        let zeros = |n| Param::new(init::zeros(&[n]));
        Ok(MultiHeadAttention {
            in_proj_weight: Param::new(w),
            in_proj_bias: bias.then(|| zeros(3 * d_model)),
            out_proj: Linear::from_params(Param::new(out_w), bias.then(|| zeros(d_model))),
            heads,
            dropout: InvertedDropout::new(0.0, rng.random(), "attention")?,
            training: true,
        })
    }

    /// The same layer with dropout probability `p` on the attention weights.
    pub fn with_dropout(mut self, p: f32) -> Result<MultiHeadAttention> {
        let seed = self
            .dropout
            .rng
            .lock()
            .expect("dropout generator lock")
            .random();
        self.dropout = InvertedDropout::new(p, seed, "attention")?;
        Ok(self)
    }

    /// Model width `D`.
    pub fn d_model(&self) -> usize {
        self.in_proj_weight.dims()[1]
    }

    /// Number of heads.
    pub fn heads(&self) -> usize {
        self.heads
    }

    /// Dropout probability on the attention weights.
    pub fn dropout(&self) -> f32 {
        self.dropout.p()
    }

    /// `x [B, L, D]` projected by rows `which·D..(which+1)·D` of the
    /// in-projection (`count` blocks at once): `[B, L, count·D]`.
    fn projected(&self, p: &dyn ParamSource, x: &Var, which: usize, count: usize) -> Result<Var> {
        let d = self.d_model();
        let dims = x.dims();
        if dims.len() != 3 || dims[2] != d {
            return Err(Error::Config(format!(
                "attention: inputs must be [batch, length, {d}], got {dims:?}"
            )));
        }
        let full = count == 3;
        let mut w = p.var(&self.in_proj_weight);
        if !full {
            w = w.narrow(0, which * d, count * d)?;
        }
        let mut y = x.matmul_t(&w, false, true)?;
        if let Some(bias) = &self.in_proj_bias {
            let mut bias = p.var(bias);
            if !full {
                bias = bias.narrow(0, which * d, count * d)?;
            }
            y = y.add(&bias)?;
        }
        Ok(y)
    }

    /// [`Self::projected`] split into heads: `[count, B, H, L, dh]`.
    fn project(&self, p: &dyn ParamSource, x: &Var, which: usize, count: usize) -> Result<Var> {
        let y = self.projected(p, x, which, count)?;
        let (b, l, h, d) = (x.dims()[0], x.dims()[1], self.heads, self.d_model());
        Ok(y.reshape(&[b, l, count, h, d / h])?
            .permute(&[2, 0, 3, 1, 4])?)
    }

    /// Block `i` of a `[count, B, H, L, dh]` projection, as `[B, H, L, dh]`.
    fn block(y: &Var, i: usize) -> Result<Var> {
        let d = y.dims();
        let dims = [d[1], d[2], d[3], d[4]];
        if d[0] == 1 {
            return Ok(y.reshape(&dims)?);
        }
        Ok(y.narrow(0, i, 1)?.reshape(&dims)?)
    }

    /// Output `[B, T, D]` and per-head attention weights `[B, H, T, S]` for
    /// queries `q [B, T, D]`, keys `k [B, S, D]` and values `v [B, S, D]`.
    /// The weights are those after dropout (PyTorch returns them likewise).
    pub fn forward_qkv_with_weights(
        &self,
        p: &dyn ParamSource,
        q: &Var,
        k: &Var,
        v: &Var,
        mask: &AttentionMask,
    ) -> Result<(Var, Var)> {
        let (qh, kh, vh) = if q.id() == k.id() && k.id() == v.id() {
            let qkv = self.project(p, q, 0, 3)?;
            (
                Self::block(&qkv, 0)?,
                Self::block(&qkv, 1)?,
                Self::block(&qkv, 2)?,
            )
        } else {
            if k.dims() != v.dims() || k.dims().first() != q.dims().first() {
                return Err(Error::Config(format!(
                    "attention: keys {:?} and values {:?} must match, with the queries' batch {:?}",
                    k.dims(),
                    v.dims(),
                    q.dims()
                )));
            }
            let one = |x: &Var, i: usize| Self::block(&self.project(p, x, i, 1)?, 0);
            (one(q, 0)?, one(k, 1)?, one(v, 2)?)
        };
        let [b, h, t, dh] = [qh.dims()[0], qh.dims()[1], qh.dims()[2], qh.dims()[3]];
        let s = kh.dims()[2];
        let scores = qh
            .mul_scalar(1.0 / (dh as f32).sqrt())
            .matmul_t(&kh, false, true)?;
        let scores = match mask.combined(b, t, s)? {
            Some(m) => Var::select(&m, &Var::scalar(MASKED_SCORE), &scores)?,
            None => scores,
        };
        let weights = self.dropout.apply(&scores.softmax(-1)?, self.training)?;
        let heads = weights.matmul(&vh)?;
        let merged = heads.permute(&[0, 2, 1, 3])?.reshape(&[b, t, h * dh])?;
        Ok((self.out_proj.forward_with(p, &merged)?, weights))
    }

    /// Attention of queries `q [B, T, D]` over keys `k [B, S, D]` and values
    /// `v [B, S, D]`, with parameters from `p`: `[B, T, D]`. Without
    /// dropout on the weights (`p = 0` or eval mode) it runs the fused
    /// primitive ([`ferrograd_autograd::Attention`]: heads read through
    /// strides, no scores or mask tensors), otherwise the composed ops of
    /// [`Self::forward_qkv_with_weights`].
    pub fn forward_qkv_with(
        &self,
        p: &dyn ParamSource,
        q: &Var,
        k: &Var,
        v: &Var,
        mask: &AttentionMask,
    ) -> Result<Var> {
        if self.training && self.dropout.p() > 0.0 {
            return Ok(self.forward_qkv_with_weights(p, q, k, v, mask)?.0);
        }
        let (d, h) = (self.d_model(), self.heads);
        let att = Attention::new(h, 1.0 / ((d / h) as f32).sqrt());
        let same = q.id() == k.id() && k.id() == v.id();
        if !same && (k.dims() != v.dims() || k.dims().first() != q.dims().first()) {
            return Err(Error::Config(format!(
                "attention: keys {:?} and values {:?} must match, with the queries' batch {:?}",
                k.dims(),
                v.dims(),
                q.dims()
            )));
        }
        let masked = |att: Attention, b: usize, t: usize, s: usize| -> Result<Attention> {
            Ok(match mask.combined(b, t, s)? {
                Some(m) => att.with_mask(m, MASKED_SCORE),
                None => att,
            })
        };
        let merged = if same {
            let qkv = self.projected(p, q, 0, 3)?;
            let (b, l) = (qkv.dims()[0], qkv.dims()[1]);
            masked(att, b, l, l)?.packed(&qkv)?
        } else {
            let (qp, kp, vp) = (
                self.projected(p, q, 0, 1)?,
                self.projected(p, k, 1, 1)?,
                self.projected(p, v, 2, 1)?,
            );
            let (b, t, s) = (qp.dims()[0], qp.dims()[1], kp.dims()[1]);
            masked(att, b, t, s)?.separate(&qp, &kp, &vp)?
        };
        self.out_proj.forward_with(p, &merged)
    }

    /// Per-head attention weights `[B, H, T, S]` (rows sum to 1; masked
    /// pairs are exactly 0).
    pub fn attention_weights_with(
        &self,
        p: &dyn ParamSource,
        q: &Var,
        k: &Var,
        v: &Var,
        mask: &AttentionMask,
    ) -> Result<Var> {
        Ok(self.forward_qkv_with_weights(p, q, k, v, mask)?.1)
    }

    /// Self-attention of `x [B, T, D]` with parameters from `p`.
    pub fn self_attention_with(
        &self,
        p: &dyn ParamSource,
        x: &Var,
        mask: &AttentionMask,
    ) -> Result<Var> {
        self.forward_qkv_with(p, x, x, x, mask)
    }

    /// Self-attention of `x [B, T, D]` with the layer's own parameters.
    pub fn self_attention(&self, x: &Var, mask: &AttentionMask) -> Result<Var> {
        self.self_attention_with(&crate::OwnParams, x, mask)
    }
}

impl Module for MultiHeadAttention {
    fn visit(&self, c: &mut Collector) {
        c.param("in_proj_weight", &self.in_proj_weight);
        if let Some(b) = &self.in_proj_bias {
            c.param("in_proj_bias", b);
        }
        c.child("out_proj", &self.out_proj);
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}

/// Unmasked self-attention.
impl Forward for MultiHeadAttention {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        self.self_attention_with(p, x, &AttentionMask::none())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{FastWeights, OwnParams};
    use ferrograd_autograd::{gradcheck, GradcheckOptions};

    fn randn(dims: &[usize], seed: u64) -> Tensor {
        init::normal(dims, 0.0, 1.0, &mut init::rng(seed))
    }

    /// A layer with random (nonzero) biases.
    fn layer(d: usize, heads: usize) -> MultiHeadAttention {
        let mha = MultiHeadAttention::new(d, heads, true, 3).unwrap();
        for (i, p) in mha.params().iter().enumerate() {
            if p.dims().len() == 1 {
                p.set(init::normal(
                    &p.dims(),
                    0.0,
                    0.5,
                    &mut init::rng(10 + i as u64),
                ));
            }
        }
        mha
    }

    /// Attention computed with plain loops from the parameter values.
    pub(crate) fn naive(
        mha: &MultiHeadAttention,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        masked: impl Fn(usize, usize, usize) -> bool,
    ) -> Vec<f32> {
        let (d, h) = (mha.d_model(), mha.heads());
        let dh = d / h;
        let (b, t, s) = (q.dims()[0], q.dims()[1], k.dims()[1]);
        let w = mha.in_proj_weight.value();
        let bias = mha.in_proj_bias.as_ref().unwrap().value();
        let proj = |x: &Tensor, block: usize, n: usize| -> Vec<f32> {
            let mut out = vec![0.0; b * n * d];
            for r in 0..b * n {
                for f in 0..d {
                    let row = block * d + f;
                    let mut acc = bias.data()[row];
                    for e in 0..d {
                        acc += x.data()[r * d + e] * w.data()[row * d + e];
                    }
                    out[r * d + f] = acc;
                }
            }
            out
        };
        let (qp, kp, vp) = (proj(q, 0, t), proj(k, 1, s), proj(v, 2, s));
        let mut merged = vec![0.0; b * t * d];
        for bi in 0..b {
            for hi in 0..h {
                for i in 0..t {
                    let scores: Vec<f32> = (0..s)
                        .map(|j| {
                            let dot: f32 = (0..dh)
                                .map(|e| {
                                    qp[(bi * t + i) * d + hi * dh + e]
                                        * kp[(bi * s + j) * d + hi * dh + e]
                                })
                                .sum();
                            dot / (dh as f32).sqrt()
                        })
                        .collect();
                    let keep: Vec<usize> = (0..s).filter(|&j| !masked(bi, i, j)).collect();
                    let mx = keep.iter().map(|&j| scores[j]).fold(f32::MIN, f32::max);
                    let z: f32 = keep.iter().map(|&j| (scores[j] - mx).exp()).sum();
                    for &j in &keep {
                        let a = (scores[j] - mx).exp() / z;
                        for e in 0..dh {
                            merged[(bi * t + i) * d + hi * dh + e] +=
                                a * vp[(bi * s + j) * d + hi * dh + e];
                        }
                    }
                }
            }
        }
        let (ow, ob) = (
            mha.out_proj.weight.value(),
            mha.out_proj.bias.as_ref().unwrap().value(),
        );
        let mut out = vec![0.0; b * t * d];
        for r in 0..b * t {
            for f in 0..d {
                let dot: f32 = (0..d)
                    .map(|e| merged[r * d + e] * ow.data()[f * d + e])
                    .sum();
                out[r * d + f] = dot + ob.data()[f];
            }
        }
        out
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn matches_naive_reference() {
        let mha = layer(4, 2);
        let (q, k, v) = (
            randn(&[2, 3, 4], 1),
            randn(&[2, 4, 4], 2),
            randn(&[2, 4, 4], 3),
        );
        let pad = Tensor::from_vec(vec![0., 0., 0., 1., 0., 1., 0., 0.], &[2, 4]).unwrap();
        let mask = AttentionMask::none()
            .with_causal()
            .with_key_padding(pad.clone());
        let (qv, kv, vv) = (
            Var::constant(q.clone()),
            Var::constant(k.clone()),
            Var::constant(v.clone()),
        );
        let y = mha
            .forward_qkv_with(&OwnParams, &qv, &kv, &vv, &mask)
            .unwrap();
        let masked = |b: usize, i: usize, j: usize| j > i || pad.data()[b * 4 + j] != 0.0;
        close(y.value().data(), &naive(&mha, &q, &k, &v, masked), 1e-5);
        // The fused self-attention path (one in-projection matmul).
        let x = Var::constant(k.clone());
        let y = mha.self_attention(&x, &AttentionMask::none()).unwrap();
        close(
            y.value().data(),
            &naive(&mha, &k, &k, &k, |_, _, _| false),
            1e-5,
        );
        let y = mha.forward(&x).unwrap();
        close(
            y.value().data(),
            &naive(&mha, &k, &k, &k, |_, _, _| false),
            1e-5,
        );
    }

    #[test]
    fn masked_pairs_get_exactly_zero_weight() {
        let mha = layer(4, 2);
        let x = Var::constant(randn(&[2, 4, 4], 4).mul_scalar(30.0));
        let pad = Tensor::from_vec(vec![0., 1., 0., 0., 0., 0., 1., 1.], &[2, 4]).unwrap();
        for mask in [
            AttentionMask::none().with_causal(),
            AttentionMask::none().with_key_padding(pad.clone()),
        ] {
            let w = mha
                .attention_weights_with(&OwnParams, &x, &x, &x, &mask)
                .unwrap();
            assert_eq!(w.dims(), &[2, 2, 4, 4]);
            let m = mask.combined(2, 4, 4).unwrap().unwrap();
            for (n, row) in w.value().data().chunks(4).enumerate() {
                let (b, i) = (n / 8, n % 4);
                let sum: f32 = row.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5);
                for (j, &a) in row.iter().enumerate() {
                    if m.data()[(b * 4 + i) * 4 + j] != 0.0 {
                        assert_eq!(a, 0.0, "batch {b} query {i} key {j}");
                    }
                }
            }
        }
    }

    #[test]
    fn fully_masked_query_attends_uniformly() {
        let mha = layer(4, 1);
        let x = Var::constant(randn(&[1, 3, 4], 5));
        let mask = AttentionMask::none().with_attn_mask(
            Tensor::from_vec(vec![1., 1., 1., 0., 1., 0., 0., 0., 0.], &[3, 3]).unwrap(),
        );
        let w = mha
            .attention_weights_with(&OwnParams, &x, &x, &x, &mask)
            .unwrap();
        let third = 1.0 / 3.0;
        close(&w.value().data()[..3], &[third; 3], 1e-6);
        assert_eq!(w.value().data()[4], 0.0);
        let y = mha.self_attention(&x, &mask).unwrap();
        assert!(y.value().data().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn permuting_keys_and_values_leaves_output_unchanged() {
        let mha = layer(4, 2);
        let (q, kv) = (randn(&[2, 3, 4], 6), randn(&[2, 5, 4], 7));
        let pad = Tensor::from_vec(vec![0., 0., 1., 0., 0., 1., 0., 0., 0., 1.], &[2, 5]).unwrap();
        let perm = ferrograd_tensor::Indices::new(vec![3, 0, 4, 2, 1], &[5]).unwrap();
        let run = |kv: Tensor, pad: Tensor| {
            let kv = Var::constant(kv);
            let mask = AttentionMask::none().with_key_padding(pad);
            let q = Var::constant(q.clone());
            mha.forward_qkv_with(&OwnParams, &q, &kv, &kv.mul_scalar(0.5), &mask)
                .unwrap()
                .value()
                .clone()
        };
        let a = run(kv.clone(), pad.clone());
        let b = run(
            kv.index_select(1, &perm).unwrap(),
            pad.index_select(1, &perm).unwrap(),
        );
        assert!(a.max_abs_diff(&b) < 1e-5);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mha = layer(4, 2);
        let params = mha.params();
        let mut inputs: Vec<Tensor> = params.iter().map(|p| p.value()).collect();
        inputs.extend([randn(&[2, 2, 4], 8), randn(&[2, 3, 4], 9)]);
        let pad = Tensor::from_vec(vec![0., 0., 1., 1., 0., 0.], &[2, 3]).unwrap();
        let mask = AttentionMask::none().with_key_padding(pad);
        let n = params.len();
        let f = |v: &[Var]| {
            let mut fast = FastWeights::new();
            for (p, x) in params.iter().zip(v) {
                fast.insert(p, x.clone());
            }
            let kv = &v[n + 1];
            mha.forward_qkv_with(&fast, &v[n], kv, &kv.tanh(), &mask)
                .map_err(|e| ferrograd_autograd::Error::Invalid(e.to_string()))
        };
        gradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
    }

    #[test]
    fn dropout_only_in_training() {
        let mut mha = layer(4, 1).with_dropout(0.5).unwrap();
        let x = Var::constant(randn(&[1, 6, 4], 10));
        let w = |m: &MultiHeadAttention| {
            m.attention_weights_with(&OwnParams, &x, &x, &x, &AttentionMask::none())
                .unwrap()
                .value()
                .clone()
        };
        let train = w(&mha);
        assert!(train.data().contains(&0.0));
        mha.set_training(false);
        let eval = w(&mha);
        for (t, e) in train.data().iter().zip(eval.data()) {
            assert!(*t == 0.0 || (t - 2.0 * e).abs() < 1e-6);
        }
    }

    #[test]
    fn names_and_errors() {
        let mha = MultiHeadAttention::new(6, 3, true, 0).unwrap();
        let names: Vec<String> = mha.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "in_proj_weight",
                "in_proj_bias",
                "out_proj.weight",
                "out_proj.bias"
            ]
        );
        assert_eq!(mha.state_dict()["in_proj_weight"].dims(), &[18, 6]);
        assert_eq!(
            MultiHeadAttention::new(6, 3, false, 0)
                .unwrap()
                .params()
                .len(),
            2
        );
        assert!(matches!(
            MultiHeadAttention::new(6, 4, true, 0),
            Err(Error::Config(_))
        ));
        let again = MultiHeadAttention::new(6, 3, true, 0).unwrap();
        assert!(matches!(again.with_dropout(1.5), Err(Error::Config(_))));
        let x = Var::constant(Tensor::ones(&[2, 3, 5]).unwrap());
        assert!(mha.forward(&x).is_err());
        let x = Var::constant(Tensor::ones(&[2, 3, 6]).unwrap());
        let bad = AttentionMask::none().with_key_padding(Tensor::ones(&[2, 4]).unwrap());
        assert!(matches!(
            mha.self_attention(&x, &bad),
            Err(Error::Config(_))
        ));
    }
}
