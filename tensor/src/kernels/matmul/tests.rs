//! Every kernel and path against a naive f64 reference.

use super::*;
use crate::kernels::simd::Isa;
use alloc::vec::Vec;

/// How an operand's matrices are laid out in their slice.
#[derive(Clone, Copy, Debug)]
enum Layout {
    RowMajor,
    Transposed,
    /// Gaps between rows and between columns.
    Odd,
    /// Gaps, stored column-major.
    OddTransposed,
}

const LAYOUTS: [Layout; 4] = [
    Layout::RowMajor,
    Layout::Transposed,
    Layout::Odd,
    Layout::OddTransposed,
];

/// Deterministic values in about [-1, 1].
fn fill(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// The data and strides of a `batch × rows × cols` operand (`shared`: one matrix).
fn operand(
    batch: usize,
    rows: usize,
    cols: usize,
    layout: Layout,
    shared: bool,
    seed: u32,
) -> (Vec<f32>, [usize; 3]) {
    let (rs, cs, per) = match layout {
        Layout::RowMajor => (cols, 1, rows * cols),
        Layout::Transposed => (1, rows, rows * cols),
        Layout::Odd => (2 * cols + 3, 2, rows * (2 * cols + 3) + 1),
        Layout::OddTransposed => (3, 3 * rows + 2, cols * (3 * rows + 2) + 5),
    };
    let count = if shared { 1 } else { batch };
    (
        fill(per * count, seed),
        [if shared { 0 } else { per }, rs, cs],
    )
}

fn op(data: &[f32], st: [usize; 3]) -> Operand<'_> {
    Operand {
        data,
        batch_stride: st[0],
        row_stride: st[1],
        col_stride: st[2],
    }
}

/// Checks `c` against an f64 reference, with a bound scaled by `Σ|a||b|`.
#[allow(clippy::too_many_arguments)]
fn check(
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a: Operand<'_>,
    b: Operand<'_>,
    c: &[f32],
    what: &str,
) {
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let (mut want, mut mag) = (0.0f64, 0.0f64);
                for p in 0..k {
                    let x =
                        a.data[bi * a.batch_stride + i * a.row_stride + p * a.col_stride] as f64;
                    let y =
                        b.data[bi * b.batch_stride + p * b.row_stride + j * b.col_stride] as f64;
                    want += x * y;
                    mag += (x * y).abs();
                }
                let got = c[(bi * m + i) * n + j] as f64;
                let tol = 4.0 * f32::EPSILON as f64 * (k as f64 + 2.0) * mag + 1e-30;
                assert!(
                    (got - want).abs() <= tol,
                    "{what}: batch {bi} ({i}, {j}) got {got} want {want} (b{batch} m{m} n{n} k{k})"
                );
            }
        }
    }
}

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 17, 5),
    (7, 1, 3),
    (2, 3, 4),
    (6, 16, 8),
    (7, 17, 9),
    (12, 32, 16),
    (13, 33, 31),
    (25, 40, 40),
    (11, 65, 257),
    (37, 70, 300),
    (150, 20, 10),
    (10, 4100, 3),
];

/// Runs kernel `K` on every shape, layout pair, batch mode and plan.
fn all_paths<K: Kernel>(name: &str) {
    let mut plans = alloc::vec![Plan::Auto];
    for path in [Path::Thin, Path::Direct, Path::Blocked] {
        for threads in [1, 3] {
            plans.push(Plan::Pinned { path, threads });
        }
    }
    let mut seed = 1;
    for &(m, n, k) in SHAPES {
        for la in LAYOUTS {
            for lb in LAYOUTS {
                // (batch, a shared, b shared)
                for (batch, sa, sb) in [
                    (1, false, false),
                    (3, true, false),
                    (2, false, true),
                    (4, false, false),
                ] {
                    if batch > 1 && m * n * k > 50_000 {
                        continue;
                    }
                    seed += 1;
                    let (ad, ast) = operand(batch, m, k, la, sa, seed);
                    let (bd, bst) = operand(batch, k, n, lb, sb, seed + 1000);
                    let (a, b) = (op(&ad, ast), op(&bd, bst));
                    let p = Problem {
                        batch,
                        m,
                        n,
                        k,
                        a,
                        b,
                    };
                    for &plan in &plans {
                        let mut c = alloc::vec![f32::NAN; batch * m * n];
                        run::<K>(&p, &mut c, plan);
                        let what = alloc::format!("{name} {la:?}·{lb:?} {plan:?}");
                        check(batch, m, n, k, a, b, &c, &what);
                    }
                }
            }
        }
    }
}

#[test]
fn scalar_kernel_matches_reference() {
    all_paths::<scalar::Scalar>("scalar");
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[test]
fn avx2_kernel_matches_reference() {
    if simd::supported() >= Isa::Avx2Fma {
        all_paths::<avx2::Avx2>("avx2");
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[test]
fn avx512_kernel_matches_reference() {
    if simd::supported() >= Isa::Avx512 {
        all_paths::<avx512::Avx512>("avx512");
    }
}

/// The public entry under every forced level (the only test that forces:
/// `force` is process-wide), on sizes that take the automatic blocked and
/// parallel paths.
#[test]
fn public_entry_under_every_isa() {
    let shapes = [
        (1, 64, 64, 64),
        (25, 10, 40, 40),
        (1, 160, 150, 170),
        (2, 100, 257, 300),
    ];
    for isa in [Isa::Scalar, Isa::Avx2Fma, Isa::Avx512] {
        if isa > simd::supported() {
            continue;
        }
        simd::force(Some(isa));
        for (batch, m, n, k) in shapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let ad = fill(batch * m * k, 7);
                let bd = fill(batch * k * n, 8);
                let (ar, ac) = if ta { (k, m) } else { (m, k) };
                let (br, bc) = if tb { (n, k) } else { (k, n) };
                let a = Operand::row_major(&ad, ar, ac, ta);
                let b = Operand::row_major(&bd, br, bc, tb);
                let mut c = alloc::vec![f32::NAN; batch * m * n];
                matmul(batch, m, n, k, a, b, &mut c);
                check(
                    batch,
                    m,
                    n,
                    k,
                    a,
                    b,
                    &c,
                    &alloc::format!("{isa:?} t{ta} t{tb}"),
                );
            }
        }
    }
    simd::force(None);
}

#[test]
fn degenerate_sizes() {
    let a = [1.0f32; 12];
    let b = [2.0f32; 12];
    // k = 0: zeros.
    let mut c = [f32::NAN; 6];
    let e: [f32; 0] = [];
    matmul(
        1,
        2,
        3,
        0,
        Operand::row_major(&e, 2, 0, false),
        Operand::row_major(&e, 0, 3, false),
        &mut c,
    );
    assert_eq!(c, [0.0; 6]);
    // m, n or batch = 0: nothing to write.
    let mut none: [f32; 0] = [];
    matmul(
        1,
        0,
        3,
        4,
        Operand::row_major(&a, 0, 4, false),
        Operand::row_major(&b, 4, 3, false),
        &mut none,
    );
    matmul(
        1,
        3,
        0,
        4,
        Operand::row_major(&a, 3, 4, false),
        Operand::row_major(&b, 4, 0, false),
        &mut none,
    );
    matmul(
        0,
        3,
        3,
        4,
        Operand::row_major(&e, 3, 4, false),
        Operand::row_major(&e, 4, 3, false),
        &mut none,
    );
    // 2×3 · 3×2 of ones and twos.
    let mut c = [0.0f32; 4];
    matmul(
        1,
        2,
        2,
        3,
        Operand::row_major(&a, 2, 3, false),
        Operand::row_major(&b, 3, 2, false),
        &mut c,
    );
    assert_eq!(c, [6.0; 4]);
}

#[test]
#[should_panic(expected = "reaches past its slice")]
fn view_past_slice_panics() {
    let a = [1.0f32; 11];
    let b = [1.0f32; 12];
    let mut c = [0.0f32; 9];
    matmul(
        1,
        3,
        3,
        4,
        Operand::row_major(&a, 3, 4, false),
        Operand::row_major(&b, 4, 3, false),
        &mut c,
    );
}

/// The portable entry point equals the dispatched one with the scalar kernel
/// forced, bit for bit, and is right against the f64 reference.
#[test]
fn portable_matches_forced_scalar() {
    for (batch, m, n, k) in [(1, 1, 37, 33), (1, 1, 4, 0), (3, 5, 2, 9), (1, 10, 70, 80)] {
        for (ta, tb) in [(false, false), (true, false), (false, true)] {
            let ad = fill(batch * m * k, 3);
            let bd = fill(batch * k * n, 4);
            let (ar, ac) = if ta { (k, m) } else { (m, k) };
            let (br, bc) = if tb { (n, k) } else { (k, n) };
            let a = Operand::row_major(&ad, ar, ac, ta);
            let b = Operand::row_major(&bd, br, bc, tb);
            let mut portable = alloc::vec![f32::NAN; batch * m * n];
            matmul_portable(batch, m, n, k, a, b, &mut portable);
            simd::force(Some(Isa::Scalar));
            let mut scalar = alloc::vec![f32::NAN; batch * m * n];
            matmul(batch, m, n, k, a, b, &mut scalar);
            simd::force(None);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&portable), bits(&scalar), "{batch}×{m}×{n}×{k}");
            if k > 0 {
                check(batch, m, n, k, a, b, &portable, "portable");
            }
        }
    }
}

/// Tiny products skip the micro-kernels but give the scalar kernel's bits
/// (so the embedded runtime and the host still agree), on every layout.
#[test]
fn tiny_products_give_the_scalar_kernels_bits() {
    let mut seed = 11;
    for (m, n, k) in [
        (1, 1, 1),
        (2, 2, 1),
        (2, 1, 2),
        (4, 4, 16),
        (3, 2, 7),
        (1, 4, 5),
    ] {
        for la in LAYOUTS {
            for lb in LAYOUTS {
                let (ad, sa) = operand(5, m, k, la, false, seed);
                let (bd, sb) = operand(5, k, n, lb, seed % 2 == 0, seed + 1);
                seed += 2;
                let (a, b) = (op(&ad, sa), op(&bd, sb));
                let p = Problem::new(5, m, n, k, a, b, &mut alloc::vec![0.0; 5 * m * n]).unwrap();
                let mut tiny = alloc::vec![f32::NAN; 5 * m * n];
                run::<scalar::Scalar>(&p, &mut tiny, Plan::Auto);
                let mut kernel = alloc::vec![f32::NAN; 5 * m * n];
                let pinned = Plan::Pinned {
                    path: Path::Direct,
                    threads: 1,
                };
                run::<scalar::Scalar>(&p, &mut kernel, pinned);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&tiny), bits(&kernel), "{m}×{n}×{k} {la:?} {lb:?}");
                check(5, m, n, k, a, b, &tiny, "tiny");
            }
        }
    }
}

/// One-column products (matrix-vector) through the dispatching entry point,
/// on every layout, batched and shared, serial and split over threads.
#[test]
fn one_column_products_are_right() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let mut seed = 40;
    for (batch, m, k) in [
        (1, 1, 1),
        (3, 10, 40),
        (2, 7, 9),
        (1, 33, 17),
        (1, 2100, 1030),
    ] {
        for la in LAYOUTS {
            for lb in LAYOUTS {
                let (ad, sa) = operand(batch, m, k, la, false, seed);
                let (bd, sb) = operand(batch, k, 1, lb, seed % 3 == 0, seed + 1);
                seed += 2;
                let (a, b) = (op(&ad, sa), op(&bd, sb));
                let mut c = alloc::vec![f32::NAN; batch * m];
                pool.install(|| matmul(batch, m, 1, k, a, b, &mut c));
                check(batch, m, 1, k, a, b, &c, "one column");
            }
        }
    }
}
