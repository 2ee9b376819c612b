//! Small dense linear algebra: batched Cholesky and triangular solves, for
//! the covariance and precision factors of density models (2×2 to ~64×64).

/// Lower Cholesky factors of a batch of `n × n` symmetric positive-definite
/// matrices (only the lower triangle of `a` is read). `out` gets `L` with
/// `L Lᵀ = A` and zeros above the diagonal.
///
/// Returns `Err((batch_index, pivot))` where a pivot is not positive (or NaN).
pub fn cholesky(a: &[f32], n: usize, out: &mut [f32]) -> Result<(), (usize, usize)> {
    let per = n * n;
    assert_eq!(a.len(), out.len(), "cholesky: lengths differ");
    if per == 0 {
        return Ok(());
    }
    assert_eq!(a.len() % per, 0, "cholesky: length is not a whole batch");
    for (b, (src, l)) in a
        .chunks_exact(per)
        .zip(out.chunks_exact_mut(per))
        .enumerate()
    {
        l.fill(0.0);
        for j in 0..n {
            let mut d = src[j * n + j];
            for k in 0..j {
                d -= l[j * n + k] * l[j * n + k];
            }
            // Not positive, or NaN.
            if d.partial_cmp(&0.0) != Some(core::cmp::Ordering::Greater) {
                return Err((b, j));
            }
            let djj = libm::sqrtf(d);
            l[j * n + j] = djj;
            for i in j + 1..n {
                let mut s = src[i * n + j];
                for k in 0..j {
                    s -= l[i * n + k] * l[j * n + k];
                }
                l[i * n + j] = s / djj;
            }
        }
    }
    Ok(())
}

/// Solves `op(A) X = B` for each batch entry, with `A` an `n × n` triangular
/// matrix (`lower` or upper; entries on the other side are ignored), `op(A)`
/// = `Aᵀ` when `transpose`, and an implicit unit diagonal when `unit`.
/// `B` and `X` (`out`) are `n × m`. Batch entry `i` of `A` starts at
/// `i * a_stride` (0 shares one `A` across the batch).
#[allow(clippy::too_many_arguments)]
pub fn triangular_solve(
    a: &[f32],
    a_stride: usize,
    b: &[f32],
    n: usize,
    m: usize,
    lower: bool,
    transpose: bool,
    unit: bool,
    out: &mut [f32],
) {
    let per = n * m;
    assert_eq!(b.len(), out.len(), "triangular_solve: lengths differ");
    // An empty batch (`b` empty) has nothing to solve.
    if per == 0 || b.is_empty() {
        return;
    }
    let batch = b.len() / per;
    assert_eq!(
        b.len(),
        batch * per,
        "triangular_solve: B is not a whole batch"
    );
    assert!(
        a.len() >= (batch - 1) * a_stride + n * n,
        "triangular_solve: A too short"
    );
    // op(A) is lower triangular (solve forwards) when A is lower and not
    // transposed, or upper and transposed.
    let forward = lower != transpose;
    for bi in 0..batch {
        let am = &a[bi * a_stride..bi * a_stride + n * n];
        let at = |i: usize, j: usize| {
            if transpose {
                am[j * n + i]
            } else {
                am[i * n + j]
            }
        };
        let x = &mut out[bi * per..(bi + 1) * per];
        x.copy_from_slice(&b[bi * per..(bi + 1) * per]);
        for step in 0..n {
            let i = if forward { step } else { n - 1 - step };
            let others = if forward { 0..i } else { i + 1..n };
            for j in others {
                let c = at(i, j);
                if c != 0.0 {
                    for col in 0..m {
                        x[i * m + col] -= c * x[j * m + col];
                    }
                }
            }
            if !unit {
                let d = at(i, i);
                for col in 0..m {
                    x[i * m + col] /= d;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_of_known_matrix() {
        // A = L Lᵀ with L = [[2, 0], [1, 3]]
        let a = [4.0, 2.0, 2.0, 10.0];
        let mut l = [0.0; 4];
        cholesky(&a, 2, &mut l).unwrap();
        assert_eq!(l, [2.0, 0.0, 1.0, 3.0]);
        assert_eq!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2, &mut l), Err((0, 1)));
    }

    #[test]
    fn solves_every_variant() {
        let l = [2.0, 0.0, 1.0, 3.0]; // lower
        let b = [2.0, 7.0];
        let mut x = [0.0; 2];
        triangular_solve(&l, 0, &b, 2, 1, true, false, false, &mut x);
        assert_eq!(x, [1.0, 2.0]); // [2,0;1,3]·[1,2] = [2,7]
        triangular_solve(&l, 0, &[4.0, 6.0], 2, 1, true, true, false, &mut x);
        assert_eq!(x, [1.0, 2.0]); // Lᵀ = [2,1;0,3]·[1,2] = [4,6]
        let u = [2.0, 1.0, 0.0, 3.0]; // upper
        triangular_solve(&u, 0, &[4.0, 6.0], 2, 1, false, false, false, &mut x);
        assert_eq!(x, [1.0, 2.0]);
        triangular_solve(&u, 0, &[2.0, 7.0], 2, 1, false, true, false, &mut x);
        assert_eq!(x, [1.0, 2.0]);
        triangular_solve(&l, 0, &[1.0, 3.0], 2, 1, true, false, true, &mut x);
        assert_eq!(x, [1.0, 2.0]); // unit diagonal: [1,0;1,1]·[1,2] = [1,3]
    }
}
