//! 2-D convolution ([`Conv2d`]) and its adjoint ([`ConvTranspose2d`]) with
//! PyTorch's layouts, built from differentiable primitives: zero padding,
//! a gather of patches (im2col, `index_select`) and one matrix product. The
//! transposed convolution is the exact adjoint: a matrix product and a
//! scatter-add of patches (col2im, `index_add`). Gradients of any order
//! follow from those primitives. Groups and dilation are not supported.
//!
//! The column matrix holds the whole batch side by side,
//! `[C·kh·kw, B·oh·ow]`, so that the weight meets it in one matrix product
//! and its gradient is one product too (a per-image product would
//! materialise a `[B, O, C·kh·kw]` gradient only to sum it over the batch).

use crate::init;
use crate::module::{Collector, Forward, Module};
use crate::param::{Param, ParamSource};
use crate::{Error, Result};
use ferrograd_autograd::Var;
use ferrograd_tensor::Indices;
use std::sync::Mutex;

/// Patch indices into a flattened `[B, C, hp, wp]` batch, in the order
/// `(channel, ki, kj, image, oy, ox)`: row `(c, ki, kj)` of the
/// `[C·kh·kw, B·oh·ow]` column matrix reads pixel `(oy·sh + ki, ox·sw + kj)`
/// of channel `c` of each image.
struct Patches {
    batch: usize,
    channels: usize,
    padded: (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    out: (usize, usize),
}

impl Patches {
    fn indices(&self) -> Result<Indices> {
        let (b, c, (hp, wp), (kh, kw), (sh, sw), (oh, ow)) = (
            self.batch,
            self.channels,
            self.padded,
            self.kernel,
            self.stride,
            self.out,
        );
        let mut idx = Vec::with_capacity(c * kh * kw * b * oh * ow);
        for ch in 0..c {
            for ki in 0..kh {
                for kj in 0..kw {
                    for img in 0..b {
                        for oy in 0..oh {
                            let row = ((img * c + ch) * hp + oy * sh + ki) * wp + kj;
                            idx.extend((0..ow).map(|ox| row + ox * sw));
                        }
                    }
                }
            }
        }
        Ok(Indices::new(idx, &[c * kh * kw * b * oh * ow])?)
    }

    fn key(&self) -> [usize; 6] {
        [
            self.batch,
            self.channels,
            self.padded.0,
            self.padded.1,
            self.out.0,
            self.out.1,
        ]
    }
}

/// Patch index sets a layer keeps (training, a last short batch,
/// validation and one more batch size).
const CACHED_GEOMETRIES: usize = 4;

/// Stride, padding and a cache of the latest patch indices, one entry per
/// input geometry (batch size and image size).
struct Geometry {
    stride: (usize, usize),
    padding: (usize, usize),
    cache: Mutex<Vec<([usize; 6], Indices)>>,
}

impl Geometry {
    fn new() -> Geometry {
        Geometry {
            stride: (1, 1),
            padding: (0, 0),
            cache: Mutex::new(Vec::new()),
        }
    }

    fn indices(&self, patches: &Patches) -> Result<Indices> {
        let mut cache = self.cache.lock().expect("conv index cache lock");
        let key = patches.key();
        if let Some(at) = cache.iter().position(|(k, _)| *k == key) {
            let hit = cache.remove(at);
            let idx = hit.1.clone();
            cache.push(hit);
            return Ok(idx);
        }
        let idx = patches.indices()?;
        if cache.len() == CACHED_GEOMETRIES {
            cache.remove(0);
        }
        cache.push((key, idx.clone()));
        Ok(idx)
    }

    /// `x [B, C, H, W]` checked: `(B, H, W)`.
    fn input(&self, what: &str, x: &Var, channels: usize) -> Result<(usize, usize, usize)> {
        if self.stride.0 == 0 || self.stride.1 == 0 {
            return Err(Error::Config(format!("{what}: stride must be positive")));
        }
        match *x.dims() {
            [b, c, h, w] if c == channels && h > 0 && w > 0 => Ok((b, h, w)),
            _ => Err(Error::Config(format!(
                "{what}: input must be [batch, {channels}, height > 0, width > 0], got {:?}",
                x.dims()
            ))),
        }
    }
}

/// `y + bias` with `bias [C]` broadcast over `[B, C, H, W]`.
fn add_bias(p: &dyn ParamSource, y: Var, bias: &Option<Param>) -> Result<Var> {
    Ok(match bias {
        Some(b) => {
            let b = p.var(b);
            let n = b.numel();
            y.add(&b.reshape(&[n, 1, 1])?)?
        }
        None => y,
    })
}

/// PyTorch's initialisation: weight `dims` and bias `[bias_len]` ~
/// U(−1/√fan_in, 1/√fan_in).
fn init_params(
    what: &str,
    dims: [usize; 4],
    bias_len: usize,
    fan_in: usize,
    seed: u64,
) -> Result<(Param, Param)> {
    if dims.contains(&0) {
        return Err(Error::Config(format!(
            "{what}: sizes must be positive, got weight {dims:?}"
        )));
    }
    let mut rng = init::rng(seed);
    let w = Param::new(init::lecun_uniform(&dims, fan_in, &mut rng));
    let b = Param::new(init::lecun_uniform(&[bias_len], fan_in, &mut rng));
    Ok((w, b))
}

/// 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d`): weight
/// `[out, in, kh, kw]`, bias `[out]`, input `[B, in, H, W]`, output
/// `[B, out, (H + 2p − kh)/s + 1, (W + 2p − kw)/s + 1]` (rounded down).
/// Initialised as PyTorch does: weight and bias ~ U(−1/√fan_in, 1/√fan_in),
/// `fan_in = in·kh·kw`.
///
/// ```
/// use ferrograd_nn::layers::conv::Conv2d;
/// use ferrograd_nn::{Forward, Module};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let conv = Conv2d::new(3, 8, (3, 3), 0).unwrap().with_stride((2, 2)).with_padding((1, 1));
/// let y = conv.forward(&Var::constant(Tensor::ones(&[2, 3, 16, 16]).unwrap())).unwrap();
/// assert_eq!(y.dims(), &[2, 8, 8, 8]);
/// assert_eq!(conv.state_dict()["weight"].dims(), &[8, 3, 3, 3]);
/// ```
pub struct Conv2d {
    /// `[out, in, kh, kw]`.
    pub weight: Param,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Param>,
    geometry: Geometry,
}

impl Conv2d {
    /// A layer from `in_channels` to `out_channels` with a `(kh, kw)`
    /// kernel, stride 1, no padding and a bias, seeded.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        seed: u64,
    ) -> Result<Conv2d> {
        let dims = [out_channels, in_channels, kernel.0, kernel.1];
        let fan_in = in_channels * kernel.0 * kernel.1;
        let (w, b) = init_params("conv2d", dims, out_channels, fan_in, seed)?;
        Conv2d::from_params(w, Some(b))
    }

    /// A layer with the given weight `[out, in, kh, kw]` and optional bias `[out]`.
    pub fn from_params(weight: Param, bias: Option<Param>) -> Result<Conv2d> {
        let d = weight.dims();
        if d.len() != 4 || bias.as_ref().is_some_and(|b| b.dims() != [d[0]]) {
            return Err(Error::Config(format!(
                "conv2d: weight must be [out, in, kh, kw] and bias [out], got {d:?} and {:?}",
                bias.as_ref().map(Param::dims)
            )));
        }
        Ok(Conv2d {
            weight,
            bias,
            geometry: Geometry::new(),
        })
    }

    /// The same layer with stride `(sh, sw)`.
    pub fn with_stride(mut self, stride: (usize, usize)) -> Conv2d {
        self.geometry.stride = stride;
        self
    }

    /// The same layer with zero padding `(ph, pw)` on each side.
    pub fn with_padding(mut self, padding: (usize, usize)) -> Conv2d {
        self.geometry.padding = padding;
        self
    }

    /// The same layer without its bias.
    pub fn without_bias(mut self) -> Conv2d {
        self.bias = None;
        self
    }
}

impl Module for Conv2d {
    fn visit(&self, c: &mut Collector) {
        c.param("weight", &self.weight);
        if let Some(b) = &self.bias {
            c.param("bias", b);
        }
    }
}

impl Forward for Conv2d {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        let wd = self.weight.dims();
        let (out_ch, ch, kh, kw) = (wd[0], wd[1], wd[2], wd[3]);
        let g = &self.geometry;
        let (b, h, w) = g.input("conv2d", x, ch)?;
        let (ph, pw) = g.padding;
        let (hp, wp) = (h + 2 * ph, w + 2 * pw);
        if hp < kh || wp < kw {
            return Err(Error::Config(format!(
                "conv2d: padded input {hp}×{wp} is smaller than the kernel {kh}×{kw}"
            )));
        }
        let (oh, ow) = ((hp - kh) / g.stride.0 + 1, (wp - kw) / g.stride.1 + 1);
        let mut xp = x.clone();
        if ph > 0 {
            xp = xp.pad_axis(2, ph, hp)?;
        }
        if pw > 0 {
            xp = xp.pad_axis(3, pw, wp)?;
        }
        let patches = Patches {
            batch: b,
            channels: ch,
            padded: (hp, wp),
            kernel: (kh, kw),
            stride: g.stride,
            out: (oh, ow),
        };
        let cols = xp
            .reshape(&[1, b * ch * hp * wp])?
            .index_select(1, &g.indices(&patches)?)?
            .reshape(&[ch * kh * kw, b * oh * ow])?;
        let y = p
            .var(&self.weight)
            .reshape(&[out_ch, ch * kh * kw])?
            .matmul(&cols)?
            .reshape(&[out_ch, b, oh * ow])?
            .permute(&[1, 0, 2])?;
        add_bias(p, y.reshape(&[b, out_ch, oh, ow])?, &self.bias)
    }
}

/// Transposed 2-D convolution (PyTorch's `nn.ConvTranspose2d`), the adjoint
/// of [`Conv2d`] with the same weight: weight `[in, out, kh, kw]`, bias
/// `[out]`, input `[B, in, H, W]`, output `[B, out, (H − 1)·s − 2p + kh + op,
/// …]` with output padding `op < s`. Initialised as PyTorch does:
/// U(−1/√fan_in, 1/√fan_in) with PyTorch's `fan_in = out·kh·kw` for this
/// layout.
///
/// ```
/// use ferrograd_nn::layers::conv::ConvTranspose2d;
/// use ferrograd_nn::Forward;
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let up = ConvTranspose2d::new(8, 3, (3, 3), 0).unwrap()
///     .with_stride((2, 2)).with_padding((1, 1)).with_output_padding((1, 1));
/// let y = up.forward(&Var::constant(Tensor::ones(&[2, 8, 8, 8]).unwrap())).unwrap();
/// assert_eq!(y.dims(), &[2, 3, 16, 16]);
/// ```
pub struct ConvTranspose2d {
    /// `[in, out, kh, kw]`.
    pub weight: Param,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Param>,
    geometry: Geometry,
    output_padding: (usize, usize),
}

impl ConvTranspose2d {
    /// A layer from `in_channels` to `out_channels` with a `(kh, kw)`
    /// kernel, stride 1, no padding and a bias, seeded.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        seed: u64,
    ) -> Result<ConvTranspose2d> {
        let dims = [in_channels, out_channels, kernel.0, kernel.1];
        let fan_in = out_channels * kernel.0 * kernel.1;
        let (w, b) = init_params("conv_transpose2d", dims, out_channels, fan_in, seed)?;
        ConvTranspose2d::from_params(w, Some(b))
    }

    /// A layer with the given weight `[in, out, kh, kw]` and optional bias `[out]`.
    pub fn from_params(weight: Param, bias: Option<Param>) -> Result<ConvTranspose2d> {
        let d = weight.dims();
        if d.len() != 4 || bias.as_ref().is_some_and(|b| b.dims() != [d[1]]) {
            return Err(Error::Config(format!(
                "conv_transpose2d: weight must be [in, out, kh, kw] and bias [out], got {d:?} and {:?}",
                bias.as_ref().map(Param::dims)
            )));
        }
        Ok(ConvTranspose2d {
            weight,
            bias,
            geometry: Geometry::new(),
            output_padding: (0, 0),
        })
    }

    /// The same layer with stride `(sh, sw)`.
    pub fn with_stride(mut self, stride: (usize, usize)) -> ConvTranspose2d {
        self.geometry.stride = stride;
        self
    }

    /// The same layer with padding `(ph, pw)` (removed from each side of
    /// the output).
    pub fn with_padding(mut self, padding: (usize, usize)) -> ConvTranspose2d {
        self.geometry.padding = padding;
        self
    }

    /// The same layer with output padding `(oph, opw)`, each below the
    /// stride: extra rows and columns at the bottom and right.
    pub fn with_output_padding(mut self, output_padding: (usize, usize)) -> ConvTranspose2d {
        self.output_padding = output_padding;
        self
    }

    /// The same layer without its bias.
    pub fn without_bias(mut self) -> ConvTranspose2d {
        self.bias = None;
        self
    }
}

impl Module for ConvTranspose2d {
    fn visit(&self, c: &mut Collector) {
        c.param("weight", &self.weight);
        if let Some(b) = &self.bias {
            c.param("bias", b);
        }
    }
}

impl Forward for ConvTranspose2d {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        let wd = self.weight.dims();
        let (ch, out_ch, kh, kw) = (wd[0], wd[1], wd[2], wd[3]);
        let g = &self.geometry;
        let (b, h, w) = g.input("conv_transpose2d", x, ch)?;
        let ((sh, sw), (ph, pw), (oph, opw)) = (g.stride, g.padding, self.output_padding);
        if oph >= sh || opw >= sw {
            return Err(Error::Config(format!(
                "conv_transpose2d: output padding {:?} must be below the stride {:?}",
                self.output_padding, g.stride
            )));
        }
        // The padded output the patches are added into, then cropped by the padding.
        let (hp, wp) = ((h - 1) * sh + kh + oph, (w - 1) * sw + kw + opw);
        if hp <= 2 * ph || wp <= 2 * pw {
            return Err(Error::Config(format!(
                "conv_transpose2d: padding {:?} leaves no output for a {h}×{w} input",
                g.padding
            )));
        }
        let images = x
            .reshape(&[b, ch, h * w])?
            .permute(&[1, 0, 2])?
            .reshape(&[ch, b * h * w])?;
        let cols = p
            .var(&self.weight)
            .reshape(&[ch, out_ch * kh * kw])?
            .matmul_t(&images, true, false)?;
        let patches = Patches {
            batch: b,
            channels: out_ch,
            padded: (hp, wp),
            kernel: (kh, kw),
            stride: g.stride,
            out: (h, w),
        };
        let full = cols
            .reshape(&[1, out_ch * kh * kw * b * h * w])?
            .index_add(1, &g.indices(&patches)?, b * out_ch * hp * wp)?
            .reshape(&[b, out_ch, hp, wp])?;
        let mut y = full;
        if ph > 0 {
            y = y.narrow(2, ph, hp - 2 * ph)?;
        }
        if pw > 0 {
            y = y.narrow(3, pw, wp - 2 * pw)?;
        }
        add_bias(p, y, &self.bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FastWeights;
    use ferrograd_autograd::{gradcheck, gradgradcheck, GradcheckOptions};
    use ferrograd_tensor::Tensor;

    fn randn(dims: &[usize], seed: u64) -> Tensor {
        init::normal(dims, 0.0, 1.0, &mut init::rng(seed))
    }

    fn at(t: &Tensor, i: [usize; 4]) -> f32 {
        let d = t.dims();
        t.data()[((i[0] * d[1] + i[1]) * d[2] + i[2]) * d[3] + i[3]]
    }

    /// Direct convolution: out[b, o, y, x] = bias[o] + Σ w[o, c, i, j]·x[b, c, y·s + i − p, x·s + j − p].
    fn naive_conv(
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        s: (usize, usize),
        p: (usize, usize),
    ) -> Tensor {
        let ([b, c, h, wd], [o, _, kh, kw]) = (
            <[usize; 4]>::try_from(x.dims()).unwrap(),
            <[usize; 4]>::try_from(w.dims()).unwrap(),
        );
        let (oh, ow) = ((h + 2 * p.0 - kh) / s.0 + 1, (wd + 2 * p.1 - kw) / s.1 + 1);
        let mut out = vec![0.0; b * o * oh * ow];
        for (n, v) in out.iter_mut().enumerate() {
            let (bi, oi, y, xx) = (n / (o * oh * ow), n / (oh * ow) % o, n / ow % oh, n % ow);
            *v = bias.data()[oi];
            for ci in 0..c {
                for i in 0..kh {
                    for j in 0..kw {
                        let (r, q) = (
                            (y * s.0 + i) as isize - p.0 as isize,
                            (xx * s.1 + j) as isize - p.1 as isize,
                        );
                        if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < wd {
                            *v += at(w, [oi, ci, i, j]) * at(x, [bi, ci, r as usize, q as usize]);
                        }
                    }
                }
            }
        }
        Tensor::from_vec(out, &[b, o, oh, ow]).unwrap()
    }

    /// Direct transposed convolution: each input pixel scatters w[c, o]·x into the output.
    fn naive_conv_t(
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        s: (usize, usize),
        p: (usize, usize),
        op: (usize, usize),
    ) -> Tensor {
        let ([b, c, h, wd], [_, o, kh, kw]) = (
            <[usize; 4]>::try_from(x.dims()).unwrap(),
            <[usize; 4]>::try_from(w.dims()).unwrap(),
        );
        let (oh, ow) = (
            (h - 1) * s.0 + kh + op.0 - 2 * p.0,
            (wd - 1) * s.1 + kw + op.1 - 2 * p.1,
        );
        let mut out = vec![0.0; b * o * oh * ow];
        for bi in 0..b {
            for oi in 0..o {
                for v in &mut out[(bi * o + oi) * oh * ow..][..oh * ow] {
                    *v = bias.data()[oi];
                }
                for ci in 0..c {
                    for y in 0..h {
                        for xx in 0..wd {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let (r, q) = (
                                        (y * s.0 + i) as isize - p.0 as isize,
                                        (xx * s.1 + j) as isize - p.1 as isize,
                                    );
                                    if r >= 0 && q >= 0 && (r as usize) < oh && (q as usize) < ow {
                                        out[((bi * o + oi) * oh + r as usize) * ow + q as usize] +=
                                            at(w, [ci, oi, i, j]) * at(x, [bi, ci, y, xx]);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Tensor::from_vec(out, &[b, o, oh, ow]).unwrap()
    }

    #[test]
    fn tiny_convolution_by_hand() {
        let w = Param::new(Tensor::from_vec(vec![1.0, 0.0, 0.0, -1.0], &[1, 1, 2, 2]).unwrap());
        let conv = Conv2d::from_params(
            w,
            Some(Param::new(Tensor::from_vec(vec![0.5], &[1]).unwrap())),
        )
        .unwrap();
        let x = Var::constant(
            Tensor::from_vec((1..=9).map(|v| v as f32).collect(), &[1, 1, 3, 3]).unwrap(),
        );
        // x[i][j] − x[i+1][j+1] = −4 everywhere, plus the bias.
        assert_eq!(conv.forward(&x).unwrap().value().data(), &[-3.5; 4]);
        let padded = conv.with_padding((1, 1)).with_stride((2, 2));
        // Windows start at rows and columns −1 and 1; outside the image is 0:
        // 0 − x[0][0], 0 − x[0][2], 0 − x[2][0], x[1][1] − x[2][2].
        assert_eq!(
            padded.forward(&x).unwrap().value().data(),
            &[-0.5, -2.5, -6.5, -3.5]
        );
    }

    #[test]
    fn conv_matches_direct_loops() {
        let conv = Conv2d::new(2, 3, (2, 3), 1)
            .unwrap()
            .with_stride((2, 1))
            .with_padding((1, 2));
        let x = randn(&[2, 2, 5, 6], 2);
        let y = conv.forward(&Var::constant(x.clone())).unwrap();
        let want = naive_conv(
            &x,
            &conv.weight.value(),
            &conv.bias.as_ref().unwrap().value(),
            (2, 1),
            (1, 2),
        );
        assert_eq!(y.dims(), want.dims());
        assert!(y.value().max_abs_diff(&want) < 1e-5);
        // The index cache follows the batch and input size, and returns to
        // an earlier one.
        for (dims, seed) in [([1, 2, 4, 4], 3), ([3, 2, 4, 4], 4), ([2, 2, 5, 6], 2)] {
            let x = randn(&dims, seed);
            let y = conv.forward(&Var::constant(x.clone())).unwrap();
            let want = naive_conv(
                &x,
                &conv.weight.value(),
                &conv.bias.as_ref().unwrap().value(),
                (2, 1),
                (1, 2),
            );
            assert!(y.value().max_abs_diff(&want) < 1e-5);
        }
    }

    #[test]
    fn transposed_conv_matches_direct_loops() {
        for (s, p, op) in [((1, 1), (0, 0), (0, 0)), ((2, 3), (1, 0), (1, 2))] {
            let up = ConvTranspose2d::new(2, 3, (3, 2), 4)
                .unwrap()
                .with_stride(s)
                .with_padding(p)
                .with_output_padding(op);
            let x = randn(&[2, 2, 3, 4], 5);
            let y = up.forward(&Var::constant(x.clone())).unwrap();
            let want = naive_conv_t(
                &x,
                &up.weight.value(),
                &up.bias.as_ref().unwrap().value(),
                s,
                p,
                op,
            );
            assert_eq!(y.dims(), want.dims());
            assert!(y.value().max_abs_diff(&want) < 1e-5);
        }
    }

    #[test]
    fn transposed_conv_is_the_adjoint() {
        // ⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩ with one weight and no bias; the output
        // padding makes convᵀ(y) the size of x.
        let conv = Conv2d::new(2, 3, (3, 3), 6)
            .unwrap()
            .without_bias()
            .with_stride((2, 2))
            .with_padding((1, 1));
        let t = ConvTranspose2d::from_params(conv.weight.clone(), None)
            .unwrap()
            .with_stride((2, 2))
            .with_padding((1, 1))
            .with_output_padding((1, 1));
        let x = Var::constant(randn(&[2, 2, 6, 6], 7));
        let cx = conv.forward(&x).unwrap();
        let y = Var::constant(randn(cx.dims(), 8));
        let ty = t.forward(&y).unwrap();
        assert_eq!(ty.dims(), x.dims());
        let lhs = cx.mul(&y).unwrap().sum_all().item().unwrap();
        let rhs = x.mul(&ty).unwrap().sum_all().item().unwrap();
        assert!(
            (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }

    fn check_layer<L: Forward>(layer: &L, x: Tensor, second_order: bool) {
        let params = layer.params();
        let mut inputs: Vec<Tensor> = params.iter().map(|p| p.value()).collect();
        inputs.push(x);
        let f = |v: &[Var]| {
            let mut fast = FastWeights::new();
            for (p, x) in params.iter().zip(v) {
                fast.insert(p, x.clone());
            }
            // tanh makes the second derivative in the weights nonzero.
            Ok(layer
                .forward_with(&fast, &v[params.len()])
                .map_err(|e| ferrograd_autograd::Error::Invalid(e.to_string()))?
                .tanh())
        };
        gradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
        if second_order {
            gradgradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let conv = Conv2d::new(2, 2, (2, 2), 9)
            .unwrap()
            .with_stride((2, 1))
            .with_padding((1, 0));
        check_layer(&conv, randn(&[1, 2, 3, 3], 10), true);
        let up = ConvTranspose2d::new(2, 2, (2, 2), 11)
            .unwrap()
            .with_stride((2, 2))
            .with_padding((1, 0))
            .with_output_padding((1, 0));
        check_layer(&up, randn(&[1, 2, 2, 2], 12), false);
    }

    #[test]
    fn names_init_and_errors() {
        let conv = Conv2d::new(4, 6, (3, 3), 0).unwrap();
        let names: Vec<String> = conv.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["weight", "bias"]);
        assert!(conv.params().iter().all(|p| p
            .value()
            .data()
            .iter()
            .all(|v| v.abs() <= 1.0 / 6.0)));
        let up = ConvTranspose2d::new(4, 6, (3, 3), 0).unwrap();
        assert_eq!(up.state_dict()["weight"].dims(), &[4, 6, 3, 3]);
        assert_eq!(up.state_dict()["bias"].dims(), &[6]);
        let bound = 1.0 / (54f32).sqrt();
        assert!(up
            .params()
            .iter()
            .all(|p| p.value().data().iter().all(|v| v.abs() <= bound)));
        assert!(matches!(
            Conv2d::new(0, 6, (3, 3), 0),
            Err(Error::Config(_))
        ));
        let x = Var::constant(Tensor::ones(&[1, 3, 5, 5]).unwrap());
        assert!(matches!(conv.forward(&x), Err(Error::Config(_))));
        let x = Var::constant(Tensor::ones(&[1, 4, 2, 5]).unwrap());
        assert!(matches!(conv.forward(&x), Err(Error::Config(_))));
        let zero_stride = Conv2d::new(4, 6, (1, 1), 0).unwrap().with_stride((0, 1));
        assert!(matches!(zero_stride.forward(&x), Err(Error::Config(_))));
        let x = Var::constant(Tensor::ones(&[1, 4, 2, 2]).unwrap());
        assert!(matches!(
            up.with_output_padding((1, 0)).forward(&x),
            Err(Error::Config(_))
        ));
        let w = Param::new(Tensor::ones(&[2, 3]).unwrap());
        assert!(matches!(
            Conv2d::from_params(w, None),
            Err(Error::Config(_))
        ));
    }
}
