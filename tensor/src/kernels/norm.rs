//! Normalisation over the last axis (the core of layer normalisation):
//! `y = (x − mean) / √(var + eps)` per row, and its vector-Jacobian product,
//! each one pass over the rows instead of a chain of elementwise ops and
//! reductions. A row (the model width) stays in L1 between its passes.
//!
//! The statistics are two-pass (the mean, then the mean squared deviation),
//! summed in eight interleaved partial sums; `√` is `libm`'s, so every build
//! gives the same bits.

/// Per-row statistics: (mean, 1/√(var + eps)) of a non-empty row.
#[inline]
fn stats(row: &[f32], eps: f32) -> (f32, f32) {
    let inv_n = 1.0 / row.len() as f32;
    let mean = sum8([row], |[v]| v) * inv_n;
    let var = sum8([row], |[v]| (v - mean) * (v - mean)) * inv_n;
    (mean, 1.0 / libm::sqrtf(var + eps))
}

/// Σ over `i` of `f(slices[..][i])` (the slices of one length) in eight
/// interleaved partial sums, which the compiler keeps in one vector
/// register, then added pairwise.
#[inline(always)]
fn sum8<const K: usize>(slices: [&[f32]; K], f: impl Fn([f32; K]) -> f32) -> f32 {
    let len = slices[0].len();
    let full = len / 8 * 8;
    let mut acc = [0.0f32; 8];
    for i in (0..full).step_by(8) {
        let chunks = slices.map(|s| <&[f32; 8]>::try_from(&s[i..i + 8]).expect("8 values"));
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(chunks.map(|c| c[l]));
        }
    }
    for (i, a) in (full..len).zip(acc.iter_mut()) {
        *a += f(slices.map(|s| s[i]));
    }
    let q = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (q[0] + q[2]) + (q[1] + q[3])
}

/// `out = (x − mean) / √(var + eps)` for every `n`-value row of `x` (the
/// population variance, as PyTorch's `layer_norm`).
///
/// # Panics
/// If `n` is 0 while `x` is not empty, or the lengths do not match.
///
/// ```
/// use ferrograd_tensor::kernels::norm::normalize_rows;
/// let mut y = [0.0; 4];
/// normalize_rows(&[1.0, 3.0, 10.0, 14.0], 2, 0.0, &mut y);
/// assert_eq!(y, [-1.0, 1.0, -1.0, 1.0]);
/// ```
pub fn normalize_rows(x: &[f32], n: usize, eps: f32, out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "normalize_rows: lengths differ");
    if x.is_empty() {
        return;
    }
    assert!(
        n > 0 && x.len().is_multiple_of(n),
        "normalize_rows: bad row length"
    );
    by_rows(n, out, [x], |[row], o| {
        let (mean, rstd) = stats(row, eps);
        for (y, &v) in o.iter_mut().zip(row) {
            *y = (v - mean) * rstd;
        }
    });
}

/// The gradient of [`normalize_rows`] at `x` for the output gradient `g`:
/// `dx = rstd · (g − mean(g) − ŷ · mean(g · ŷ))` per row, with ŷ the
/// normalised row (recomputed, the same bits as the forward).
///
/// # Panics
/// As [`normalize_rows`], and if `g` differs in length from `x`.
pub fn normalize_rows_backward(x: &[f32], g: &[f32], n: usize, eps: f32, out: &mut [f32]) {
    assert!(
        x.len() == out.len() && g.len() == x.len(),
        "normalize_rows_backward: lengths differ"
    );
    if x.is_empty() {
        return;
    }
    assert!(
        n > 0 && x.len().is_multiple_of(n),
        "normalize_rows_backward: bad row length"
    );
    let inv_n = 1.0 / n as f32;
    by_rows(n, out, [x, g], |[row, gr], o| {
        let (mean, rstd) = stats(row, eps);
        let mean_g = sum8([gr], |[d]| d) * inv_n;
        let mean_gy = sum8([row, gr], |[v, d]| d * ((v - mean) * rstd)) * inv_n;
        for ((dx, &v), &d) in o.iter_mut().zip(row).zip(gr) {
            let y = (v - mean) * rstd;
            *dx = rstd * (d - mean_g - y * mean_gy);
        }
    });
}

/// `f(rows of each input, row of out)` for every `n`-value row; split over
/// rayon by whole rows when the work pays for it (rows are independent, so
/// the bits do not depend on the split).
fn by_rows<const K: usize>(
    n: usize,
    out: &mut [f32],
    inputs: [&[f32]; K],
    f: impl Fn([&[f32]; K], &mut [f32]) + Sync + Send,
) {
    let row = |r: usize, o: &mut [f32]| f(inputs.map(|x| &x[r * n..(r + 1) * n]), o);
    #[cfg(feature = "std")]
    if super::simd::worth_parallel(out.len() * 8 * K) {
        use rayon::prelude::*;
        let rows = out.len() / n;
        let group = rows.div_ceil(4 * rayon::current_num_threads()).max(1);
        out.par_chunks_mut(group * n)
            .enumerate()
            .for_each(|(c, os)| {
                for (i, o) in os.chunks_exact_mut(n).enumerate() {
                    row(c * group + i, o);
                }
            });
        return;
    }
    for (r, o) in out.chunks_exact_mut(n).enumerate() {
        row(r, o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        super::super::test_util::hashed(len, seed, 1000, 137.0, 3.0)
    }

    /// The statistics in f64: the normalised rows to compare against.
    fn reference(x: &[f32], n: usize, eps: f32) -> Vec<f64> {
        x.chunks(n)
            .flat_map(|row| {
                let m = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
                let var = row.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n as f64;
                let r = 1.0 / (var + eps as f64).sqrt();
                row.iter().map(move |&v| (v as f64 - m) * r)
            })
            .collect()
    }

    #[test]
    fn rows_match_the_f64_statistics() {
        for &(rows, n) in &[(1, 1), (3, 7), (5, 128), (2, 1000)] {
            let x = values(rows * n, 7);
            let mut y = vec![0.0; x.len()];
            normalize_rows(&x, n, 1e-5, &mut y);
            for (a, b) in y.iter().zip(reference(&x, n, 1e-5)) {
                assert!(
                    (*a as f64 - b).abs() <= 2e-6 * b.abs().max(1.0),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences_of_the_forward() {
        let (rows, n, eps) = (3, 9, 1e-3);
        let x: Vec<f32> = values(rows * n, 3);
        let g: Vec<f32> = values(rows * n, 11);
        let mut dx = vec![0.0; x.len()];
        normalize_rows_backward(&x, &g, n, eps, &mut dx);
        let loss = |x: &[f64]| {
            let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            reference(&xs, n, eps)
                .iter()
                .zip(&g)
                .map(|(y, &g)| y * g as f64)
                .sum::<f64>()
        };
        let base: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        for i in 0..x.len() {
            let h = 1e-2;
            let (mut up, mut down) = (base.clone(), base.clone());
            up[i] += h;
            down[i] -= h;
            let fd = (loss(&up) - loss(&down)) / (2.0 * h);
            assert!(
                (dx[i] as f64 - fd).abs() <= 2e-3 * fd.abs().max(1.0),
                "{i}: {} vs {fd}",
                dx[i]
            );
        }
    }

    #[test]
    fn parallel_rows_give_the_same_bits() {
        let (rows, n) = (4096, 64);
        let x = values(rows * n, 5);
        let g = values(rows * n, 9);
        let run = |threads: usize| {
            super::super::test_util::on_threads(threads, || {
                let (mut y, mut dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
                normalize_rows(&x, n, 1e-5, &mut y);
                normalize_rows_backward(&x, &g, n, 1e-5, &mut dx);
                (y, dx)
            })
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn a_constant_row_is_zero_and_empty_input_is_fine() {
        let mut y = [1.0; 3];
        normalize_rows(&[2.0; 3], 3, 1e-5, &mut y);
        assert_eq!(y, [0.0; 3]);
        normalize_rows(&[], 0, 1e-5, &mut []);
        normalize_rows_backward(&[], &[], 4, 1e-5, &mut []);
    }
}
