//! The elementwise part of one LSTM step, fused: the gates' nonlinearities
//! and the state update in one pass over `[B, 4H]` ([`cell_forward`]), and
//! its vector-Jacobian product in one pass ([`cell_backward`]).
//!
//! Gates are stacked i, f, g, o along each row (PyTorch's layout):
//! `c' = σ(f)·c + σ(i)·tanh(g)`, `h' = σ(o)·tanh(c')`. The sigmoid and tanh
//! run on the vectorised polynomials of [`super::vmath`] when `isa` allows it, and
//! on [`super::unary::apply`] (libm) for [`Isa::Scalar`].

use super::simd::Isa;
use super::unary::UnaryOp;
use super::vmath::eval_or_libm as eval;

/// One step forward for a batch of `b` rows of `h` units: from the gate
/// pre-activations `z [b, 4h]` and the previous cell `c_prev [b, h]`, writes
/// the activations `act [b, 4h]` (σ(i), σ(f), tanh(g), σ(o)), the new cell
/// `c [b, h]`, `tc = tanh(c) [b, h]` and the new hidden state `h_out [b, h]`.
///
/// # Panics
/// If a slice has the wrong length.
#[allow(clippy::too_many_arguments)]
pub fn cell_forward(
    isa: Isa,
    b: usize,
    h: usize,
    z: &[f32],
    c_prev: &[f32],
    act: &mut [f32],
    c: &mut [f32],
    tc: &mut [f32],
    h_out: &mut [f32],
) {
    let g4 = 4 * h;
    assert!(
        z.len() == b * g4 && act.len() == b * g4,
        "lstm cell: gates length"
    );
    assert!(
        c_prev.len() == b * h && c.len() == b * h && tc.len() == b * h && h_out.len() == b * h,
        "lstm cell: state length"
    );
    #[cfg(feature = "std")]
    if let Some(rows) = split_rows(b, h) {
        use rayon::prelude::*;
        let g = rows * g4;
        let s = rows * h;
        act.par_chunks_mut(g)
            .zip(z.par_chunks(g))
            .zip(c.par_chunks_mut(s))
            .zip(tc.par_chunks_mut(s))
            .zip(h_out.par_chunks_mut(s).zip(c_prev.par_chunks(s)))
            .for_each(|((((a, zc), cc), t), (ho, cp))| {
                forward_rows(isa, zc.len() / g4, h, zc, cp, a, cc, t, ho)
            });
        return;
    }
    forward_rows(isa, b, h, z, c_prev, act, c, tc, h_out)
}

/// [`cell_forward`] over its rows on the calling thread.
#[allow(clippy::too_many_arguments)]
fn forward_rows(
    isa: Isa,
    b: usize,
    h: usize,
    z: &[f32],
    c_prev: &[f32],
    act: &mut [f32],
    c: &mut [f32],
    tc: &mut [f32],
    h_out: &mut [f32],
) {
    let g4 = 4 * h;
    for r in 0..b {
        let (zr, ar) = (&z[r * g4..(r + 1) * g4], &mut act[r * g4..(r + 1) * g4]);
        eval(UnaryOp::Sigmoid, isa, &zr[..2 * h], &mut ar[..2 * h]);
        eval(UnaryOp::Tanh, isa, &zr[2 * h..3 * h], &mut ar[2 * h..3 * h]);
        eval(UnaryOp::Sigmoid, isa, &zr[3 * h..], &mut ar[3 * h..]);
        let rows = r * h..(r + 1) * h;
        let (cr, cp) = (&mut c[rows.clone()], &c_prev[rows.clone()]);
        let (i, rest) = ar.split_at(h);
        let (f, rest) = rest.split_at(h);
        let (g, _) = rest.split_at(h);
        for j in 0..h {
            cr[j] = f[j] * cp[j] + i[j] * g[j];
        }
        let tr = &mut tc[rows.clone()];
        eval(UnaryOp::Tanh, isa, cr, tr);
        let o = &ar[3 * h..];
        for ((ho, &oj), &t) in h_out[rows].iter_mut().zip(o).zip(tr.iter()) {
            *ho = oj * t;
        }
    }
}

/// The vector-Jacobian product of [`cell_forward`]: from the activations
/// `act`, `tc = tanh(c)`, `c_prev` and the gradients `gh`, `gc` of the new
/// `h` and `c`, writes the gradient of the pre-activations `dz [b, 4h]` and
/// of the previous cell `dc_prev [b, h]`.
///
/// # Panics
/// If a slice has the wrong length.
#[allow(clippy::too_many_arguments)]
pub fn cell_backward(
    b: usize,
    h: usize,
    act: &[f32],
    tc: &[f32],
    c_prev: &[f32],
    gh: &[f32],
    gc: &[f32],
    dz: &mut [f32],
    dc_prev: &mut [f32],
) {
    let g4 = 4 * h;
    assert!(
        act.len() == b * g4 && dz.len() == b * g4,
        "lstm cell: gates length"
    );
    assert!(
        [tc.len(), c_prev.len(), gh.len(), gc.len(), dc_prev.len()]
            .iter()
            .all(|&l| l == b * h),
        "lstm cell: state length"
    );
    #[cfg(feature = "std")]
    if let Some(rows) = split_rows(b, h) {
        use rayon::prelude::*;
        let g = rows * g4;
        let s = rows * h;
        dz.par_chunks_mut(g)
            .zip(act.par_chunks(g))
            .zip(dc_prev.par_chunks_mut(s))
            .zip(tc.par_chunks(s).zip(c_prev.par_chunks(s)))
            .zip(gh.par_chunks(s).zip(gc.par_chunks(s)))
            .for_each(|((((d, a), dcp), (t, cp)), (ghc, gcc))| {
                backward_rows(a.len() / g4, h, a, t, cp, ghc, gcc, d, dcp)
            });
        return;
    }
    backward_rows(b, h, act, tc, c_prev, gh, gc, dz, dc_prev)
}

/// [`cell_backward`] over its rows on the calling thread.
#[allow(clippy::too_many_arguments)]
fn backward_rows(
    b: usize,
    h: usize,
    act: &[f32],
    tc: &[f32],
    c_prev: &[f32],
    gh: &[f32],
    gc: &[f32],
    dz: &mut [f32],
    dc_prev: &mut [f32],
) {
    let g4 = 4 * h;
    for r in 0..b {
        let (ar, dr) = (&act[r * g4..(r + 1) * g4], &mut dz[r * g4..(r + 1) * g4]);
        let s = r * h;
        let (i, f, g, o) = (&ar[..h], &ar[h..2 * h], &ar[2 * h..3 * h], &ar[3 * h..]);
        let (di, rest) = dr.split_at_mut(h);
        let (df, rest) = rest.split_at_mut(h);
        let (dg, do_) = rest.split_at_mut(h);
        for j in 0..h {
            let (t, ghj) = (tc[s + j], gh[s + j]);
            let dc = gc[s + j] + ghj * o[j] * (1.0 - t * t);
            di[j] = dc * g[j] * i[j] * (1.0 - i[j]);
            df[j] = dc * c_prev[s + j] * f[j] * (1.0 - f[j]);
            dg[j] = dc * i[j] * (1.0 - g[j] * g[j]);
            do_[j] = ghj * t * o[j] * (1.0 - o[j]);
            dc_prev[s + j] = dc * f[j];
        }
    }
}

/// Rows per task when a step of `b` rows of `h` units is worth splitting over
/// threads, else `None`. Rows are independent, so the split changes nothing
/// but which thread computes a row. The cell's sigmoids and tanhs cost
/// about as much as 64 simple elementwise operations per unit (forward and
/// backward each: eight reads and writes and four transcendentals).
#[cfg(feature = "std")]
fn split_rows(b: usize, h: usize) -> Option<usize> {
    let threads = rayon::current_num_threads();
    if b < 2 || !super::simd::worth_parallel(b * h * 64) {
        return None;
    }
    Some(b.div_ceil(threads.min(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::simd;
    use alloc::vec;
    use alloc::vec::Vec;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        crate::kernels::test_util::hashed(n, seed, 2000, 250.0, 4.0)
    }

    #[test]
    fn forward_matches_the_scalar_formula_on_every_isa() {
        let (b, h) = (3, 37);
        let (z, cp) = (data(b * 4 * h, 1), data(b * h, 2));
        for isa in [Isa::Scalar, simd::supported()] {
            let (mut act, mut c, mut tc, mut ho) = (
                vec![0.0; b * 4 * h],
                vec![0.0; b * h],
                vec![0.0; b * h],
                vec![0.0; b * h],
            );
            cell_forward(isa, b, h, &z, &cp, &mut act, &mut c, &mut tc, &mut ho);
            for r in 0..b {
                for j in 0..h {
                    let zg = |k: usize| z[r * 4 * h + k * h + j] as f64;
                    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
                    let cw = sig(zg(1)) * cp[r * h + j] as f64 + sig(zg(0)) * zg(2).tanh();
                    let hw = sig(zg(3)) * cw.tanh();
                    assert!((c[r * h + j] as f64 - cw).abs() < 1e-5, "{isa:?}");
                    assert!((ho[r * h + j] as f64 - hw).abs() < 1e-5, "{isa:?}");
                }
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (b, h) = (2, 5);
        let (z, cp) = (data(b * 4 * h, 3), data(b * h, 4));
        let (gh, gc) = (data(b * h, 5), data(b * h, 6));
        let loss = |z: &[f32], cp: &[f32]| -> f64 {
            let (mut act, mut c, mut tc, mut ho) = (
                vec![0.0; b * 4 * h],
                vec![0.0; b * h],
                vec![0.0; b * h],
                vec![0.0; b * h],
            );
            cell_forward(Isa::Scalar, b, h, z, cp, &mut act, &mut c, &mut tc, &mut ho);
            (0..b * h)
                .map(|k| gh[k] as f64 * ho[k] as f64 + gc[k] as f64 * c[k] as f64)
                .sum()
        };
        let (mut act, mut c, mut tc, mut ho) = (
            vec![0.0; b * 4 * h],
            vec![0.0; b * h],
            vec![0.0; b * h],
            vec![0.0; b * h],
        );
        cell_forward(
            Isa::Scalar,
            b,
            h,
            &z,
            &cp,
            &mut act,
            &mut c,
            &mut tc,
            &mut ho,
        );
        let (mut dz, mut dcp) = (vec![0.0; b * 4 * h], vec![0.0; b * h]);
        cell_backward(b, h, &act, &tc, &cp, &gh, &gc, &mut dz, &mut dcp);
        let e = 1e-2f32;
        for k in 0..z.len() {
            let (mut zp, mut zm) = (z.clone(), z.clone());
            zp[k] += e;
            zm[k] -= e;
            let num = (loss(&zp, &cp) - loss(&zm, &cp)) / (2.0 * e as f64);
            assert!(
                (num - dz[k] as f64).abs() < 2e-3,
                "dz[{k}] {} vs {num}",
                dz[k]
            );
        }
        for k in 0..cp.len() {
            let (mut p, mut m) = (cp.clone(), cp.clone());
            p[k] += e;
            m[k] -= e;
            let num = (loss(&z, &p) - loss(&z, &m)) / (2.0 * e as f64);
            assert!((num - dcp[k] as f64).abs() < 2e-3, "dc[{k}]");
        }
    }

    /// A step split over threads by rows gives the one-thread bits.
    #[cfg(feature = "std")]
    #[test]
    fn rows_split_over_threads_match_one_thread() {
        let (b, h) = (33, 256);
        let isa = simd::supported();
        let (z, cp) = (data(b * 4 * h, 3), data(b * h, 4));
        let (gh, gc) = (data(b * h, 5), data(b * h, 6));
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                assert_eq!(split_rows(b, h).is_some(), threads > 1);
                let mut act = vec![0.0; b * 4 * h];
                let (mut c, mut tc, mut ho) =
                    (vec![0.0; b * h], vec![0.0; b * h], vec![0.0; b * h]);
                cell_forward(isa, b, h, &z, &cp, &mut act, &mut c, &mut tc, &mut ho);
                let (mut dz, mut dc) = (vec![0.0; b * 4 * h], vec![0.0; b * h]);
                cell_backward(b, h, &act, &tc, &cp, &gh, &gc, &mut dz, &mut dc);
                [act, c, tc, ho, dz, dc]
            })
        };
        let (one, two) = (run(1), run(2));
        for (a, b) in one.iter().zip(&two) {
            assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
}
