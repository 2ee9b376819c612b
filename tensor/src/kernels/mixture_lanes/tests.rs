//! The lane kernel against the row kernel ([`crate::kernels::mixture`]) with
//! `D = 1` on permuted inputs, on every instruction set and thread count.

use super::*;
use crate::kernels::mixture::{self, Mixture};
use crate::kernels::simd;

fn data(n: usize, seed: u32, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(7);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Logits, means, log-σ `[rows, K, L]` and target `[rows, L]`.
fn values(m: Lanes, seed: u32) -> [Vec<f32>; 4] {
    let kl = m.rows * m.k * m.lanes;
    [
        data(kl, seed, 2.0),
        data(kl, seed + 1, 1.5),
        data(kl, seed + 2, 0.5),
        data(m.rows * m.lanes, seed + 3, 1.5),
    ]
}

fn inputs(v: &[Vec<f32>; 4]) -> Inputs<'_> {
    Inputs {
        logits: &v[0],
        means: &v[1],
        log_sigmas: &v[2],
        target: &v[3],
    }
}

/// `[rows, K, L]` → `[rows, L, K]`.
fn to_rows(m: Lanes, v: &[f32]) -> Vec<f32> {
    let (k, l) = (m.k, m.lanes);
    let mut out = vec![0.0; v.len()];
    for r in 0..m.rows {
        for c in 0..k {
            for j in 0..l {
                out[(r * l + j) * k + c] = v[(r * k + c) * l + j];
            }
        }
    }
    out
}

/// The row kernel's forward and backward on the permuted inputs, with the
/// gradients permuted back.
fn by_rows(isa: Isa, m: Lanes, v: &[Vec<f32>; 4], g: &[f32]) -> (Vec<f32>, [Vec<f32>; 4]) {
    let p = [
        to_rows(m, &v[0]),
        to_rows(m, &v[1]),
        to_rows(m, &v[2]),
        v[3].clone(),
    ];
    let rm = Mixture {
        rows: m.rows * m.lanes,
        k: m.k,
        d: 1,
    };
    let mut nll = vec![0.0; rm.rows];
    mixture::nll_forward(isa, rm, inputs(&p), &mut nll);
    let mut gr = p.each_ref().map(|x| vec![0.0; x.len()]);
    {
        let [a, b, c, d] = &mut gr;
        let out = Grads {
            logits: a,
            means: b,
            log_sigmas: c,
            target: d,
        };
        mixture::nll_backward(isa, rm, inputs(&p), g, out);
    }
    // Back from [rows, L, K] to [rows, K, L].
    let back = |x: &[f32]| {
        let mut out = vec![0.0; x.len()];
        for r in 0..m.rows {
            for c in 0..m.k {
                for j in 0..m.lanes {
                    out[(r * m.k + c) * m.lanes + j] = x[(r * m.lanes + j) * m.k + c];
                }
            }
        }
        out
    };
    let [a, b, c, d] = gr;
    (nll, [back(&a), back(&b), back(&c), d])
}

fn by_lanes(isa: Isa, m: Lanes, v: &[Vec<f32>; 4], g: &[f32]) -> (Vec<f32>, [Vec<f32>; 4]) {
    let mut nll = vec![0.0; m.rows * m.lanes];
    nll_forward(isa, m, inputs(v), &mut nll);
    let mut gr = v.each_ref().map(|x| vec![f32::NAN; x.len()]);
    {
        let [a, b, c, d] = &mut gr;
        let out = Grads {
            logits: a,
            means: b,
            log_sigmas: c,
            target: d,
        };
        nll_backward(isa, m, inputs(v), g, out);
    }
    (nll, gr)
}

fn isas() -> Vec<Isa> {
    let mut v = vec![Isa::Scalar];
    if simd::active() != Isa::Scalar {
        v.push(simd::active());
    }
    v
}

#[test]
fn lanes_match_the_row_kernel_on_permuted_inputs() {
    let sizes = [(1, 1, 1), (3, 5, 32), (7, 2, 3), (2, 4, 17), (130, 5, 1)];
    for (rows, k, lanes) in sizes {
        let m = Lanes { rows, k, lanes };
        let v = values(m, rows as u32 * 31 + lanes as u32);
        let g = data(rows * lanes, 99, 1.0);
        for isa in isas() {
            let (n1, g1) = by_lanes(isa, m, &v, &g);
            let (n2, g2) = by_rows(isa, m, &v, &g);
            // The same operations in the same order per lane: the same bits.
            assert_eq!(n1, n2, "nll {m:?} {isa:?}");
            for (i, (a, b)) in g1.iter().zip(&g2).enumerate() {
                assert_eq!(a, b, "gradient {i} {m:?} {isa:?}");
            }
        }
    }
}

#[cfg(feature = "std")]
#[test]
fn split_over_threads_matches_one_thread_bit_for_bit() {
    // The MDN-RNN's per-dimension sizes: large enough to split.
    let m = Lanes {
        rows: 1600,
        k: 5,
        lanes: 32,
    };
    let v = values(m, 5);
    let g = data(m.rows * m.lanes, 6, 1.0);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| (m.split().is_some(), by_lanes(simd::active(), m, &v, &g)))
    };
    let ((split1, a), (split2, b)) = (run(1), run(2));
    assert!(!split1 && split2, "splits on two threads only");
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
}

#[test]
fn no_mass_gives_infinity_and_nan_propagates() {
    let m = Lanes {
        rows: 1,
        k: 2,
        lanes: 2,
    };
    // Lane 0: both components infinitely far (σ → 0); lane 1: a NaN logit.
    let logits = [0.0, f32::NAN, 0.0, 0.0];
    let means = [0.0, 0.0, 0.0, 0.0];
    let log_sigmas = [-200.0, 0.0, -200.0, 0.0];
    let target = [1.0, 0.0];
    let x = Inputs {
        logits: &logits,
        means: &means,
        log_sigmas: &log_sigmas,
        target: &target,
    };
    let mut out = [0.0; 2];
    nll_forward(Isa::Scalar, m, x, &mut out);
    assert_eq!(out[0], f32::INFINITY);
    assert!(out[1].is_nan());
}
