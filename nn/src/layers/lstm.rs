//! Long short-term memory: one cell ([`LstmCell`], as PyTorch's
//! `nn.LSTMCell`) and a one-layer recurrence over a sequence ([`Lstm`], as
//! `nn.LSTM` with `batch_first=True`).

use crate::init;
use crate::module::{Collector, Forward, Module};
use crate::param::{Param, ParamSource};
use crate::{Error, Result};
use ferrograd_autograd::Var;
use ferrograd_tensor::Tensor;

/// The recurrent state `(h, c)`, each `[B, H]`.
pub type LstmState = (Var, Var);

/// The four weights of an LSTM (PyTorch's layout, gates i, f, g, o stacked
/// in that order), initialised U(−1/√H, 1/√H).
struct Weights {
    ih: Param,
    hh: Param,
    bias: Option<(Param, Param)>,
}

impl Weights {
    fn new(input: usize, hidden: usize, bias: bool, seed: u64) -> Result<Weights> {
        if input == 0 || hidden == 0 {
            return Err(Error::Config(format!(
                "lstm: input ({input}) and hidden ({hidden}) sizes must be positive"
            )));
        }
        let mut rng = init::rng(seed);
        let mut u = |dims: &[usize]| Param::new(init::lecun_uniform(dims, hidden, &mut rng));
        let ih = u(&[4 * hidden, input]);
        let hh = u(&[4 * hidden, hidden]);
        let bias = bias.then(|| (u(&[4 * hidden]), u(&[4 * hidden])));
        Ok(Weights { ih, hh, bias })
    }

    fn hidden(&self) -> usize {
        self.hh.dims()[1]
    }

    fn input(&self) -> usize {
        self.ih.dims()[1]
    }

    fn visit(&self, c: &mut Collector, suffix: &str) {
        c.param(&format!("weight_ih{suffix}"), &self.ih);
        c.param(&format!("weight_hh{suffix}"), &self.hh);
        if let Some((bi, bh)) = &self.bias {
            c.param(&format!("bias_ih{suffix}"), bi);
            c.param(&format!("bias_hh{suffix}"), bh);
        }
    }

    /// `x W_ihᵀ + b_ih + b_hh` for `x [..., I]`: the input part of the gates.
    fn input_gates(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        let d = x.dims();
        if d.last() != Some(&self.input()) {
            return Err(Error::Config(format!(
                "lstm: inputs must have {} features in the last axis, got shape {d:?}",
                self.input()
            )));
        }
        let g = x.matmul_t(&p.var(&self.ih), false, true)?;
        Ok(match &self.bias {
            Some((bi, bh)) => g.add(&p.var(bi).add(&p.var(bh))?)?,
            None => g,
        })
    }

    /// One step from the input part of the gates `xg [B, 4H]` (the fused
    /// recurrence over one time step).
    fn step(&self, p: &dyn ParamSource, xg: &Var, state: &LstmState) -> Result<LstmState> {
        let d = xg.dims().to_vec();
        let y = self.run(p, &xg.reshape(&[1, d[0], d[1]])?, state)?;
        Ok((last(&y, 0)?, last(&y, 1)?))
    }

    /// The fused recurrence over time-major gates `xg [T, B, 4H]` from
    /// `(h, c)`: every state, `[2, T, B, H]` (`h_t` at `[0, t]`, `c_t` at
    /// `[1, t]`).
    fn run(&self, p: &dyn ParamSource, xg: &Var, (h, c): &LstmState) -> Result<Var> {
        Ok(xg.lstm_sequence(&p.var(&self.hh), h, c)?)
    }

    /// Zero state for a batch of `b`, or `state` after checking its shape.
    fn state(&self, b: usize, state: Option<&LstmState>) -> Result<LstmState> {
        let want = [b, self.hidden()];
        match state {
            None => {
                let z = Var::constant(Tensor::zeros(&want)?);
                Ok((z.clone(), z))
            }
            Some((h, c)) if h.dims() == want && c.dims() == want => Ok((h.clone(), c.clone())),
            Some((h, c)) => Err(Error::Config(format!(
                "lstm: state (h {:?}, c {:?}) must be {want:?}",
                h.dims(),
                c.dims()
            ))),
        }
    }
}

/// The last time step of part `k` (0: `h`, 1: `c`) of the fused
/// recurrence's states `[2, T, B, H]`, as `[B, H]`.
fn last(y: &Var, k: usize) -> Result<Var> {
    let d = y.dims();
    let (t, b, h) = (d[1], d[2], d[3]);
    Ok(y.narrow(0, k, 1)?.narrow(1, t - 1, 1)?.reshape(&[b, h])?)
}

/// One LSTM step, as PyTorch's `nn.LSTMCell`: parameters `weight_ih`
/// `[4H, I]`, `weight_hh` `[4H, H]`, `bias_ih` and `bias_hh` `[4H]`, gates
/// i, f, g, o in that order; `c' = σ(f)·c + σ(i)·tanh(g)`,
/// `h' = σ(o)·tanh(c')`. Initialised U(−1/√H, 1/√H).
///
/// ```
/// use ferrograd_nn::layers::lstm::LstmCell;
/// use ferrograd_nn::OwnParams;
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let cell = LstmCell::new(3, 5, 0).unwrap();
/// let x = Var::constant(Tensor::ones(&[2, 3]).unwrap());
/// let state = cell.zero_state(2).unwrap();
/// let (h, c) = cell.step_with(&OwnParams, &x, &state).unwrap();
/// assert_eq!((h.dims(), c.dims()), (&[2, 5][..], &[2, 5][..]));
/// ```
pub struct LstmCell {
    w: Weights,
}

impl LstmCell {
    /// A cell from `input` features to `hidden` units, with biases, seeded.
    pub fn new(input: usize, hidden: usize, seed: u64) -> Result<LstmCell> {
        Self::with_bias(input, hidden, true, seed)
    }

    /// A cell with or without the two bias vectors.
    pub fn with_bias(input: usize, hidden: usize, bias: bool, seed: u64) -> Result<LstmCell> {
        Ok(LstmCell {
            w: Weights::new(input, hidden, bias, seed)?,
        })
    }

    /// Number of hidden units `H`.
    pub fn hidden(&self) -> usize {
        self.w.hidden()
    }

    /// Zeros `(h, c)` for a batch of `batch`.
    pub fn zero_state(&self, batch: usize) -> Result<LstmState> {
        self.w.state(batch, None)
    }

    /// The next state from input `x [B, I]` and state `(h, c)`, with
    /// parameters from `p`.
    pub fn step_with(&self, p: &dyn ParamSource, x: &Var, state: &LstmState) -> Result<LstmState> {
        if x.dims().len() != 2 {
            return Err(Error::Config(format!(
                "lstm cell: input must be [batch, features], got {:?}",
                x.dims()
            )));
        }
        let state = self.w.state(x.dims()[0], Some(state))?;
        self.w.step(p, &self.w.input_gates(p, x)?, &state)
    }

    /// [`LstmCell::step_with`] with the cell's own parameters.
    pub fn step(&self, x: &Var, state: &LstmState) -> Result<LstmState> {
        self.step_with(&crate::OwnParams, x, state)
    }
}

impl Module for LstmCell {
    fn visit(&self, c: &mut Collector) {
        self.w.visit(c, "");
    }
}

/// A one-layer LSTM over batch-first sequences `[B, T, I]`, as PyTorch's
/// `nn.LSTM(input, hidden, batch_first=True)`: parameters `weight_ih_l0`,
/// `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0` (the [`LstmCell`] layout).
/// The input part of every gate is computed for all time steps in one
/// matrix product before the recurrence, which then runs as one fused
/// primitive ([`Var::lstm_sequence`]: the recurrent weight packed once, one
/// pass per step for the gates and the state update).
///
/// ```
/// use ferrograd_nn::layers::lstm::Lstm;
/// use ferrograd_nn::{Forward, OwnParams};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let lstm = Lstm::new(3, 4, 0).unwrap();
/// let x = Var::constant(Tensor::ones(&[2, 6, 3]).unwrap());
/// let (out, (h, c)) = lstm.forward_seq_with(&OwnParams, &x, None).unwrap();
/// assert_eq!(out.dims(), &[2, 6, 4]);
/// assert_eq!(h.dims(), &[2, 4]);
/// assert_eq!(lstm.forward(&x).unwrap().dims(), &[2, 6, 4]);
/// ```
pub struct Lstm {
    w: Weights,
}

impl Lstm {
    /// A layer from `input` features to `hidden` units, with biases, seeded.
    pub fn new(input: usize, hidden: usize, seed: u64) -> Result<Lstm> {
        Self::with_bias(input, hidden, true, seed)
    }

    /// A layer with or without the two bias vectors.
    pub fn with_bias(input: usize, hidden: usize, bias: bool, seed: u64) -> Result<Lstm> {
        Ok(Lstm {
            w: Weights::new(input, hidden, bias, seed)?,
        })
    }

    /// Number of hidden units `H`.
    pub fn hidden(&self) -> usize {
        self.w.hidden()
    }

    /// Runs over `x [B, T, I]` from `state` (zeros if `None`; `(h, c)` each
    /// `[B, H]`, not PyTorch's `[1, B, H]`), with parameters from `p`.
    /// Returns every hidden state `[B, T, H]` and the final `(h, c)`.
    pub fn forward_seq_with(
        &self,
        p: &dyn ParamSource,
        x: &Var,
        state: Option<&LstmState>,
    ) -> Result<(Var, LstmState)> {
        let d = x.dims();
        if d.len() != 3 {
            return Err(Error::Config(format!(
                "lstm: input must be [batch, time, features], got {d:?}"
            )));
        }
        let (b, t) = (d[0], d[1]);
        let state = self.w.state(b, state)?;
        // Time-major input gates [T, B, 4H], so each step reads a contiguous block.
        let xg = self.w.input_gates(p, &x.transpose(0, 1)?)?;
        if t == 0 {
            let out = Var::constant(Tensor::zeros(&[b, 0, self.hidden()])?);
            return Ok((out, state));
        }
        let y = self.w.run(p, &xg, &state)?;
        let h = self.hidden();
        let out = y.narrow(0, 0, 1)?.reshape(&[t, b, h])?.transpose(0, 1)?;
        let state = (last(&y, 0)?, last(&y, 1)?);
        Ok((out, state))
    }

    /// [`Lstm::forward_seq_with`] with the layer's own parameters.
    pub fn forward_seq(&self, x: &Var, state: Option<&LstmState>) -> Result<(Var, LstmState)> {
        self.forward_seq_with(&crate::OwnParams, x, state)
    }
}

impl Module for Lstm {
    fn visit(&self, c: &mut Collector) {
        self.w.visit(c, "_l0");
    }
}

/// Every hidden state `[B, T, H]`, from a zero state.
impl Forward for Lstm {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        Ok(self.forward_seq_with(p, x, None)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FastWeights;
    use ferrograd_autograd::{gradcheck, GradcheckOptions};

    fn randn(dims: &[usize], seed: u64) -> Tensor {
        init::normal(dims, 0.0, 1.0, &mut init::rng(seed))
    }

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn one_step_matches_hand_computation() {
        let cell = LstmCell::new(1, 1, 0).unwrap();
        let set = |name: &str, v: [f32; 4]| {
            let dims = cell.state_dict()[name].dims().to_vec();
            let p = cell
                .named_params()
                .into_iter()
                .find(|(n, _)| n == name)
                .unwrap()
                .1;
            p.set(Tensor::from_vec(v.to_vec(), &dims).unwrap());
        };
        set("weight_ih", [0.5, -0.3, 0.8, 0.1]);
        set("weight_hh", [0.2, 0.4, -0.6, 0.7]);
        set("bias_ih", [0.1, 0.0, -0.2, 0.3]);
        set("bias_hh", [0.0, 0.5, 0.1, -0.1]);
        let (x, h0, c0) = (2.0f64, -0.5f64, 0.25f64);
        let pre = |k: usize, wi: [f64; 4], wh: [f64; 4], b: [f64; 4]| wi[k] * x + wh[k] * h0 + b[k];
        let (wi, wh) = ([0.5, -0.3, 0.8, 0.1], [0.2, 0.4, -0.6, 0.7]);
        let b = [0.1, 0.5, -0.1, 0.2];
        let i = sigmoid(pre(0, wi, wh, b));
        let f = sigmoid(pre(1, wi, wh, b));
        let g = pre(2, wi, wh, b).tanh();
        let o = sigmoid(pre(3, wi, wh, b));
        let c = f * c0 + i * g;
        let h = o * c.tanh();
        let v = |a: f64| Var::constant(Tensor::from_vec(vec![a as f32], &[1, 1]).unwrap());
        let (hn, cn) = cell.step(&v(x), &(v(h0), v(c0))).unwrap();
        assert!((hn.item().unwrap() as f64 - h).abs() < 1e-6);
        assert!((cn.item().unwrap() as f64 - c).abs() < 1e-6);
    }

    #[test]
    fn layer_equals_unrolled_cells() {
        let lstm = Lstm::new(3, 4, 1).unwrap();
        let cell = LstmCell::new(3, 4, 2).unwrap();
        let state: std::collections::BTreeMap<_, _> = lstm
            .state_dict()
            .into_iter()
            .map(|(n, t)| (n.trim_end_matches("_l0").to_string(), t))
            .collect();
        cell.load_state_dict(&state).unwrap();
        let x = randn(&[2, 5, 3], 3);
        let s0 = (
            Var::constant(randn(&[2, 4], 4)),
            Var::constant(randn(&[2, 4], 5)),
        );
        let (out, (h, c)) = lstm
            .forward_seq(&Var::constant(x.clone()), Some(&s0))
            .unwrap();
        let mut s = s0.clone();
        for t in 0..5 {
            let xt = Var::constant(x.narrow(1, t, 1).unwrap().reshape(&[2, 3]).unwrap());
            s = cell.step(&xt, &s).unwrap();
            let got = out
                .value()
                .narrow(1, t, 1)
                .unwrap()
                .reshape(&[2, 4])
                .unwrap();
            assert!(got.max_abs_diff(s.0.value()) < 1e-6);
        }
        assert!(h.value().max_abs_diff(s.0.value()) < 1e-6);
        assert!(c.value().max_abs_diff(s.1.value()) < 1e-6);
        // Zero default state.
        let zero = cell.zero_state(2).unwrap();
        let (_, (h, _)) = lstm.forward_seq(&Var::constant(x.clone()), None).unwrap();
        let (_, (h2, _)) = lstm.forward_seq(&Var::constant(x), Some(&zero)).unwrap();
        assert_eq!(h.value(), h2.value());
    }

    #[test]
    fn gradients_match_finite_differences() {
        let lstm = Lstm::new(2, 3, 6).unwrap();
        let params = lstm.params();
        let mut inputs: Vec<Tensor> = params.iter().map(|p| p.value()).collect();
        inputs.extend([randn(&[2, 3, 2], 7), randn(&[2, 3], 8), randn(&[2, 3], 9)]);
        let n = params.len();
        let f = |v: &[Var]| {
            let mut fast = FastWeights::new();
            for (p, x) in params.iter().zip(v) {
                fast.insert(p, x.clone());
            }
            let state = (v[n + 1].clone(), v[n + 2].clone());
            let (out, (_, c)) = lstm
                .forward_seq_with(&fast, &v[n], Some(&state))
                .map_err(|e| ferrograd_autograd::Error::Invalid(e.to_string()))?;
            Var::concat(&[&out.reshape(&[2, 9])?, &c], 1)
        };
        gradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
    }

    #[test]
    fn names_init_and_errors() {
        let lstm = Lstm::new(5, 16, 0).unwrap();
        let names: Vec<String> = lstm.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
        );
        assert_eq!(lstm.state_dict()["weight_ih_l0"].dims(), &[64, 5]);
        assert!(lstm
            .params()
            .iter()
            .all(|p| p.value().data().iter().all(|v| v.abs() <= 0.25)));
        let cell = LstmCell::with_bias(5, 16, false, 0).unwrap();
        let names: Vec<String> = cell.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["weight_ih", "weight_hh"]);
        assert!(matches!(Lstm::new(0, 3, 0), Err(Error::Config(_))));
        let x = Var::constant(Tensor::ones(&[2, 3, 4]).unwrap());
        assert!(matches!(lstm.forward(&x), Err(Error::Config(_))));
        let x = Var::constant(Tensor::ones(&[2, 3, 5]).unwrap());
        let bad = (
            Var::constant(Tensor::ones(&[1, 16]).unwrap()),
            Var::constant(Tensor::ones(&[1, 16]).unwrap()),
        );
        assert!(matches!(
            lstm.forward_seq(&x, Some(&bad)),
            Err(Error::Config(_))
        ));
        let (out, _) = lstm
            .forward_seq(&Var::constant(Tensor::ones(&[2, 0, 5]).unwrap()), None)
            .unwrap();
        assert_eq!(out.dims(), &[2, 0, 16]);
    }
}
