//! A fused LSTM recurrence: one primitive for a whole sequence
//! ([`Var::lstm_sequence`]).
//!
//! Forward: the recurrent weight is packed once for the sequence
//! ([`PackedB`]); each step adds `h W_hhᵀ` to the precomputed input gates in
//! one product, then one fused pass computes the gates' nonlinearities and
//! the state update ([`lstm::cell_forward`]). The gate activations and
//! `tanh(c)` are kept for the backward pass.
//!
//! Backward (without `create_graph`): backpropagation through time with
//! `W_hh` packed once, one fused pass per step ([`lstm::cell_backward`]),
//! and the weight's gradient as one product over all steps,
//! `dW_hh = Σ_t dz_tᵀ h_{t−1}`. Under `create_graph` the rule is instead the
//! gradient of the same recurrence written with differentiable ops
//! ([`lstm_sequence_composite`]), so it can be differentiated again, to any
//! order.

use crate::custom::CustomOp;
use crate::{Error, Result, Var};
use ferrograd_tensor::buffer::{for_overwrite, recycle, zeros};
use ferrograd_tensor::kernels::lstm;
use ferrograd_tensor::kernels::matmul::{matmul, matmul_prepacked, Operand, PackedB};
use ferrograd_tensor::kernels::simd;
use ferrograd_tensor::Tensor;
use std::sync::{Arc, Mutex};

/// What the forward pass keeps for the backward pass.
struct Saved {
    /// Gate activations σ(i), σ(f), tanh(g), σ(o), `[T, B, 4H]`.
    act: Vec<f32>,
    /// tanh(c_t), `[T, B, H]`.
    tc: Vec<f32>,
}

impl Drop for Saved {
    /// The buffers go back to the tensor buffer cache for the next step.
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.act));
        recycle(std::mem::take(&mut self.tc));
    }
}

/// The primitive; one instance per application (it holds that
/// application's saved activations).
struct LstmSequence {
    saved: Mutex<Option<Arc<Saved>>>,
}

/// Sizes `(T, B, H)` from the inputs, checked.
fn sizes(xg: &[usize], w: &[usize], h0: &[usize], c0: &[usize]) -> Result<(usize, usize, usize)> {
    let bad = || {
        Error::Invalid(format!(
            "lstm_sequence: want input gates [T, B, 4H], weight [4H, H], h0 and c0 [B, H]; \
             got {xg:?}, {w:?}, {h0:?}, {c0:?}"
        ))
    };
    let (&[t, b, g4], &[wg, h]) = (xg, w) else {
        return Err(bad());
    };
    if g4 != 4 * h || wg != g4 || h0 != [b, h] || c0 != [b, h] || t == 0 || h == 0 {
        return Err(bad());
    }
    Ok((t, b, h))
}

impl CustomOp for LstmSequence {
    fn name(&self) -> &'static str {
        "lstm_sequence"
    }

    fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
        let (t, b, h) = sizes(x[0].dims(), x[1].dims(), x[2].dims(), x[3].dims())?;
        let (xg, w, h0, c0) = (x[0].data(), x[1].data(), x[2].data(), x[3].data());
        let (bh, g) = (b * h, b * 4 * h);
        let isa = simd::active();
        let wt = PackedB::new(h, 4 * h, Operand::row_major(w, 4 * h, h, true));
        // Every value of these is written below before it is read.
        let mut y = for_overwrite(2 * t * bh);
        let (ys, cs) = y.split_at_mut(t * bh);
        let mut act = for_overwrite(t * g);
        let mut tc = for_overwrite(t * bh);
        let mut z = for_overwrite(g);
        for s in 0..t {
            z.copy_from_slice(&xg[s * g..(s + 1) * g]);
            let (done, rest) = ys.split_at_mut(s * bh);
            let h_prev = if s == 0 { h0 } else { &done[(s - 1) * bh..] };
            matmul_prepacked(
                b,
                Operand::row_major(h_prev, b, h, false),
                &wt,
                &mut z,
                true,
            );
            let (cdone, crest) = cs.split_at_mut(s * bh);
            let c_prev = if s == 0 { c0 } else { &cdone[(s - 1) * bh..] };
            lstm::cell_forward(
                isa,
                b,
                h,
                &z,
                c_prev,
                &mut act[s * g..(s + 1) * g],
                &mut crest[..bh],
                &mut tc[s * bh..(s + 1) * bh],
                &mut rest[..bh],
            );
        }
        recycle(z);
        *self.saved.lock().expect("lstm saved lock") = Some(Arc::new(Saved { act, tc }));
        Ok(Tensor::from_vec(y, &[2, t, b, h])?)
    }

    fn backward(&self, x: &[Var], y: &Var, g: &Var) -> Result<Vec<Option<Var>>> {
        let saved = self.saved.lock().expect("lstm saved lock").clone();
        match saved {
            Some(saved) if !crate::is_grad_enabled() => fused_backward(x, y, g, &saved),
            _ => composite_backward(x, g),
        }
    }
}

/// Backpropagation through time on the saved activations (values only).
fn fused_backward(x: &[Var], y: &Var, g: &Var, saved: &Saved) -> Result<Vec<Option<Var>>> {
    let (t, b, h) = sizes(x[0].dims(), x[1].dims(), x[2].dims(), x[3].dims())?;
    let (bh, g4) = (b * h, b * 4 * h);
    let (w, h0, c0) = (
        x[1].value().data(),
        x[2].value().data(),
        x[3].value().data(),
    );
    let (ys, cs) = y.value().data().split_at(t * bh);
    let (gys, gcs) = g.value().data().split_at(t * bh);
    let wp = PackedB::new(4 * h, h, Operand::row_major(w, 4 * h, h, false));
    // `cell_backward` writes every value of `dz`; `dh` and `dc` start at 0.
    let mut dz = for_overwrite(t * g4);
    let (mut dh, mut dc) = (zeros(bh), zeros(bh));
    let (mut gh, mut gc) = (for_overwrite(bh), for_overwrite(bh));
    for s in (0..t).rev() {
        let r = s * bh..(s + 1) * bh;
        for k in 0..bh {
            gh[k] = gys[r.start + k] + dh[k];
            gc[k] = gcs[r.start + k] + dc[k];
        }
        let c_prev = if s == 0 {
            c0
        } else {
            &cs[r.start - bh..r.start]
        };
        let dzs = &mut dz[s * g4..(s + 1) * g4];
        lstm::cell_backward(
            b,
            h,
            &saved.act[s * g4..(s + 1) * g4],
            &saved.tc[r],
            c_prev,
            &gh,
            &gc,
            dzs,
            &mut dc,
        );
        if s > 0 || x[2].requires_grad() {
            matmul_prepacked(
                b,
                Operand::row_major(dzs, b, 4 * h, false),
                &wp,
                &mut dh,
                false,
            );
        }
    }
    let dw = if x[1].requires_grad() {
        // dW_hh = DZᵀ · H_prev over all T·B rows, H_prev = [h0; h_0 … h_{T−2}].
        let mut hp = for_overwrite(t * bh);
        hp[..bh].copy_from_slice(h0);
        hp[bh..].copy_from_slice(&ys[..(t - 1) * bh]);
        let mut dw = for_overwrite(4 * h * h);
        let rows = t * b;
        matmul(
            1,
            4 * h,
            h,
            rows,
            Operand::row_major(&dz, rows, 4 * h, true),
            Operand::row_major(&hp, rows, h, false),
            &mut dw,
        );
        recycle(hp);
        Some(Var::constant(Tensor::from_vec(dw, &[4 * h, h])?))
    } else {
        None
    };
    let some = |need: bool, v: Vec<f32>, dims: &[usize]| -> Result<Option<Var>> {
        Ok(if need {
            Some(Var::constant(Tensor::from_vec(v, dims)?))
        } else {
            recycle(v);
            None
        })
    };
    recycle(gh);
    recycle(gc);
    Ok(vec![
        some(x[0].requires_grad(), dz, &[t, b, 4 * h])?,
        dw,
        some(x[2].requires_grad(), dh, &[b, h])?,
        some(x[3].requires_grad(), dc, &[b, h])?,
    ])
}

/// The gradient of [`lstm_sequence_composite`] at the same inputs, recorded
/// when grad mode is on (so it can be differentiated again).
fn composite_backward(x: &[Var], g: &Var) -> Result<Vec<Option<Var>>> {
    crate::custom::composite_rule(x, g, |x| {
        lstm_sequence_composite(&x[0], &x[1], &x[2], &x[3])
    })
}

/// The LSTM recurrence of [`Var::lstm_sequence`] written with ordinary
/// differentiable ops, one step at a time (the reference the fused
/// primitive is tested against, and its rule under `create_graph`).
pub fn lstm_sequence_composite(xg: &Var, w_hh: &Var, h0: &Var, c0: &Var) -> Result<Var> {
    let (t, b, h) = sizes(xg.dims(), w_hh.dims(), h0.dims(), c0.dims())?;
    let (mut hs, mut cs) = (Vec::with_capacity(t), Vec::with_capacity(t));
    let (mut hp, mut cp) = (h0.clone(), c0.clone());
    for s in 0..t {
        let z = xg
            .narrow(0, s, 1)?
            .reshape(&[b, 4 * h])?
            .add(&hp.matmul_t(w_hh, false, true)?)?;
        let sig = z.sigmoid();
        let i = sig.narrow(1, 0, h)?;
        let f = sig.narrow(1, h, h)?;
        let gg = z.narrow(1, 2 * h, h)?.tanh();
        let o = sig.narrow(1, 3 * h, h)?;
        cp = f.mul(&cp)?.add(&i.mul(&gg)?)?;
        hp = o.mul(&cp.tanh())?;
        hs.push(hp.unsqueeze(0)?);
        cs.push(cp.unsqueeze(0)?);
    }
    let hs = Var::concat(&hs.iter().collect::<Vec<_>>(), 0)?;
    let cs = Var::concat(&cs.iter().collect::<Vec<_>>(), 0)?;
    Var::concat(&[&hs.unsqueeze(0)?, &cs.unsqueeze(0)?], 0)
}

impl Var {
    /// A one-layer LSTM recurrence as one fused primitive. From the input
    /// part of the gates `self = x W_ihᵀ + b` laid out time-major
    /// `[T, B, 4H]` (gates i, f, g, o), the recurrent weight `w_hh [4H, H]`
    /// and the initial state `h0`, `c0` `[B, H]`, returns every state
    /// `[2, T, B, H]`: `[0, t]` is `h_t`, `[1, t]` is `c_t`, with
    /// `z_t = xg_t + h_{t−1} W_hhᵀ`, `c_t = σ(f)·c_{t−1} + σ(i)·tanh(g)`,
    /// `h_t = σ(o)·tanh(c_t)`. Differentiable to any order; `T ≥ 1`.
    ///
    /// ```
    /// use ferrograd_autograd::Var;
    /// use ferrograd_tensor::Tensor;
    /// let xg = Var::param(Tensor::full(&[3, 2, 8], 0.5).unwrap());
    /// let w = Var::param(Tensor::full(&[8, 2], 0.1).unwrap());
    /// let z = Var::constant(Tensor::zeros(&[2, 2]).unwrap());
    /// let y = xg.lstm_sequence(&w, &z, &z).unwrap();
    /// assert_eq!(y.dims(), &[2, 3, 2, 2]);
    /// ```
    pub fn lstm_sequence(&self, w_hh: &Var, h0: &Var, c0: &Var) -> Result<Var> {
        let op = LstmSequence {
            saved: Mutex::new(None),
        };
        Var::custom(Arc::new(op), &[self, w_hh, h0, c0])
    }
}
