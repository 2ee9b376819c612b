//! Products against a `B` operand packed once ([`PackedB`]): a recurrent
//! weight used at every time step of a sequence is packed into the
//! micro-kernel's sliver layout one time, not once per step.

use alloc::vec::Vec;

#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::{avx2, avx512, simd::Isa};
use super::{balanced, for_each_task, scratch, simd, threads_for, Kernel, Operand, OutPtr, Sweep};

/// A `k × n` matrix packed for the kernel that [`simd::active`] picked when
/// it was packed: for each `NC`-column panel and `KC`-deep slab, `NR`-column
/// slivers, as the blocked path packs them.
///
/// ```
/// use ferrograd_tensor::kernels::matmul::{matmul_prepacked, Operand, PackedB};
/// let b = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 × 3
/// let packed = PackedB::new(2, 3, Operand::row_major(&b, 2, 3, false));
/// let a = [1.0, 2.0]; // 1 × 2
/// let mut c = [1.0; 3];
/// matmul_prepacked(1, Operand::row_major(&a, 1, 2, false), &packed, &mut c, true);
/// assert_eq!(c, [10.0, 13.0, 16.0]); // 1 + a·b
/// ```
pub struct PackedB {
    kind: KernelKind,
    k: usize,
    n: usize,
    data: Vec<f32>,
}

/// Which kernel's layout a [`PackedB`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KernelKind {
    Scalar,
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    Avx2,
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    Avx512,
}

impl PackedB {
    /// Packs the `k × n` view `b` (its batch stride is ignored) for the
    /// active kernel.
    ///
    /// # Panics
    /// If `k` or `n` is 0 or the view reaches past its slice.
    pub fn new(k: usize, n: usize, b: Operand<'_>) -> PackedB {
        match simd::active() {
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Isa::Avx512 => pack::<avx512::Avx512>(KernelKind::Avx512, k, n, b),
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Isa::Avx2Fma => pack::<avx2::Avx2>(KernelKind::Avx2, k, n, b),
            _ => pack::<super::scalar::Scalar>(KernelKind::Scalar, k, n, b),
        }
    }

    /// Packs for the portable scalar kernel, whatever the CPU (the
    /// reference that tests compare the SIMD kernels with).
    pub fn new_portable(k: usize, n: usize, b: Operand<'_>) -> PackedB {
        pack::<super::scalar::Scalar>(KernelKind::Scalar, k, n, b)
    }

    /// Rows of the packed matrix.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of the packed matrix.
    pub fn n(&self) -> usize {
        self.n
    }
}

fn pack<K: Kernel>(kind: KernelKind, k: usize, n: usize, b: Operand<'_>) -> PackedB {
    assert!(k > 0 && n > 0, "PackedB: empty matrix");
    b.check("b", 1, k, n);
    let v = b.view(0);
    let (kc_max, nc_max) = (balanced(k, K::KC, 1), balanced(n, K::NC, K::NR));
    let mut data = Vec::new();
    let mut jc = 0;
    while jc < n {
        let nc = nc_max.min(n - jc);
        let mut pc = 0;
        while pc < k {
            let kc = kc_max.min(k - pc);
            let at = data.len();
            data.resize(at + nc.div_ceil(K::NR) * K::NR * kc, 0.0);
            // SAFETY: the block is inside `b` (checked above); the slot just
            // reserved holds `nc.div_ceil(NR) * NR * kc` floats.
            unsafe { K::pack_b(kc, nc, v.at(pc, jc), data[at..].as_mut_ptr()) };
            pc += kc;
        }
        jc += nc;
    }
    PackedB { kind, k, n, data }
}

/// `c = a · B` (or `c += a · B` with `accumulate`) for `a` viewed `m × k`
/// (its batch stride is ignored) and `B` packed; `c` is contiguous `m × n`.
/// Products of at least `PAR_WORK` multiply-adds split over column slivers
/// on rayon, so each thread reads its own part of `B`.
///
/// # Panics
/// If `c` has the wrong length or `a` reaches past its slice.
pub fn matmul_prepacked(m: usize, a: Operand<'_>, b: &PackedB, c: &mut [f32], accumulate: bool) {
    assert_eq!(c.len(), m * b.n, "matmul_prepacked: output length");
    if m == 0 {
        return;
    }
    a.check("a", 1, m, b.k);
    // SAFETY: `a` is in bounds, `c` is `m × n`, and `b` was packed by the
    // kernel named by its kind (so the CPU supports it).
    unsafe {
        match b.kind {
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            KernelKind::Avx512 => product::<avx512::Avx512>(m, a, b, c, accumulate),
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            KernelKind::Avx2 => product::<avx2::Avx2>(m, a, b, c, accumulate),
            KernelKind::Scalar => product::<super::scalar::Scalar>(m, a, b, c, accumulate),
        }
    }
}

/// # Safety
/// As [`matmul_prepacked`] after its checks, and `b` packed for `K`.
unsafe fn product<K: Kernel>(m: usize, a: Operand<'_>, b: &PackedB, c: &mut [f32], acc0: bool) {
    let (k, n) = (b.k, b.n);
    let (kc_max, nc_max) = (balanced(k, K::KC, 1), balanced(n, K::NC, K::NR));
    let mc_max = balanced(m, K::MC, K::MR);
    let a = a.view(0);
    let threads = threads_for(m.saturating_mul(n).saturating_mul(k));
    let panels = n.div_ceil(nc_max);
    // Each panel's slivers split into `split` column groups (≥ 4 slivers
    // each: an LSTM's backward `dh · W_hᵀ` has 256 columns, 8 slivers).
    let max_slivers = nc_max.div_ceil(K::NR);
    let split = threads.min(max_slivers.div_ceil(4)).max(1);
    let out = OutPtr(c.as_mut_ptr());
    let packed = b.data.as_ptr() as usize;
    for_each_task(panels * split, threads, |t| {
        let (panel, part) = (t / split, t % split);
        let jc = panel * nc_max;
        let nc = nc_max.min(n - jc);
        let slivers = nc.div_ceil(K::NR);
        let (s0, s1) = (part * slivers / split, (part + 1) * slivers / split);
        // Offset of this panel's first slab: full panels before it hold
        // `nc_max / NR * NR * k` floats each.
        let mut block = packed as *const f32;
        block = block.wrapping_add(panel * nc_max.div_ceil(K::NR) * K::NR * k);
        scratch::with(scratch::BLOCK, mc_max * kc_max, |ap| {
            let mut pc = 0;
            while pc < k {
                let kc = kc_max.min(k - pc);
                let mut ic = 0;
                while ic < m {
                    let mcb = mc_max.min(m - ic);
                    // SAFETY: the block is inside `a`; `ap` holds `mc_max × kc_max`.
                    unsafe { K::pack_a(mcb, kc, a.at(ic, pc), ap) };
                    let sweep = Sweep {
                        rows: mcb,
                        kc,
                        a: ap,
                        b: block,
                        cols: nc,
                        slivers: s0..s1,
                        c: out.get().wrapping_add(ic * n + jc),
                        ldc: n,
                        acc: acc0 || pc > 0,
                    };
                    // SAFETY: `block` is this slab of the packed panel and
                    // `ap` was just packed; slivers `s0..s1` of `c` are this
                    // task's alone.
                    unsafe { sweep.run::<K>() };
                    ic += mcb;
                }
                block = block.wrapping_add(slivers * K::NR * kc);
                pc += kc;
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn fill(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// Kernel `K`'s packed product against the portable unpacked one, with
    /// `B` plain and transposed, overwriting and accumulating.
    fn against_portable<K: Kernel>(kind: KernelKind) {
        let shapes = [
            (1, 1, 1),
            (5, 17, 3),
            (7, 300, 33),
            (32, 1024, 256),
            (13, 4200, 20),
        ];
        for (m, n, k) in shapes {
            for tb in [false, true] {
                let (ad, bd, c0) = (fill(m * k, 1), fill(k * n, 2), fill(m * n, 3));
                let (br, bc) = if tb { (n, k) } else { (k, n) };
                let b = Operand::row_major(&bd, br, bc, tb);
                let a = Operand::row_major(&ad, m, k, false);
                let packed = pack::<K>(kind, k, n, b);
                let mut want = vec![0.0; m * n];
                super::super::matmul_portable(1, m, n, k, a, b, &mut want);
                for acc in [false, true] {
                    let mut got = c0.clone();
                    // SAFETY: the test runs each kernel only where the CPU has it.
                    unsafe { product::<K>(m, a, &packed, &mut got, acc) };
                    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                        let w = if acc { w + c0[i] } else { w };
                        let tol = 1e-5 * (k as f32 + 2.0);
                        assert!(
                            (g - w).abs() <= tol,
                            "{kind:?} m{m} n{n} k{k} t{tb} acc{acc} [{i}]: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    fn every_kernel() {
        against_portable::<super::super::scalar::Scalar>(KernelKind::Scalar);
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            if simd::supported() >= Isa::Avx2Fma {
                against_portable::<avx2::Avx2>(KernelKind::Avx2);
            }
            if simd::supported() >= Isa::Avx512 {
                against_portable::<avx512::Avx512>(KernelKind::Avx512);
            }
        }
    }

    #[test]
    fn packed_products_match_the_portable_product() {
        every_kernel();
    }

    #[cfg(feature = "std")]
    #[test]
    fn packed_products_match_on_two_threads() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(every_kernel);
    }

    #[test]
    fn public_entry_accumulates() {
        let b = [1.0, 2.0, 3.0, 4.0];
        let p = PackedB::new(2, 2, Operand::row_major(&b, 2, 2, true)); // bᵀ
        let mut c = [1.0, 1.0];
        matmul_prepacked(
            1,
            Operand::row_major(&[1.0, 1.0], 1, 2, false),
            &p,
            &mut c,
            false,
        );
        assert_eq!(c, [3.0, 7.0]);
        assert_eq!((p.k(), p.n()), (2, 2));
    }
}
