//! Matrix multiplication over strided operands.
//!
//! `C[b] = A[b] · B[b]` for a batch of `m × k` by `k × n` products. Each
//! operand is described by an [`Operand`]: its slice and three strides (batch,
//! row, column), so a transposed operand is just swapped strides and a
//! broadcast one a batch stride of 0; nothing is copied to transpose.
//! `C` is contiguous, `batch × m × n`.
//!
//! # Design
//! A BLIS-style GEMM over one register-blocked micro-kernel per instruction
//! set (picked at run time through [`super::simd::active`]):
//!
//! | kernel | `MR × NR` | `MC`, `KC`, `NC` |
//! |---|---|---|
//! | AVX-512F | 12 × 32 (24 zmm accumulators) | 144, 256, 4096 |
//! | AVX2+FMA | 6 × 16 (12 ymm accumulators) | 144, 256, 4080 |
//! | scalar | 4 × 4 | 64, 256, 1024 |
//!
//! * **Blocked path**: for each `NC`-column panel and `KC`-deep slab, `B` is
//!   packed into `NR`-column slivers (one `KC × NR` sliver stays in L1), then
//!   for each `MC`-row block `A` is packed into `MR`-row slivers (the block
//!   stays in L2) and the micro-kernel sweeps the block. Packing reads through
//!   the strides, so transposed operands cost nothing extra.
//! * **Direct path** ([`direct_product`]) for small or skinny products
//!   (`m ≤ 2·MR`, `n ≤ NR`, or `k·n ≤ 40 000` so that `B` stays in L2),
//!   where packing would not be repaid: the same loop nest and micro-kernel,
//!   reading `A` through its strides and `B`'s rows in place (when its columns
//!   are contiguous; otherwise `B` is packed one `KC × NR` sliver at a time). A 64³ product runs
//!   here at ~90 GFLOP/s on one Zen 3 core.
//! * **Thin path** ([`thin::thin`]) for `m < 4` with contiguous `B` rows
//!   (matrix-vector like): `B` is streamed row by row into an L1-resident
//!   chunk of `C` instead of being walked down in page-strided slivers.
//! * Edges: ragged rows use a kernel instantiated for fewer rows; ragged
//!   columns a variant with masked `B` loads and `C` loads/stores (AVX2
//!   `vmaskmov`, AVX-512 `k` masks), so nothing is read or written past
//!   the matrices. `k = 0` gives zeros.
//! * With `std`, products of at least [`PAR_WORK`] multiply-adds (a 64³
//!   product is 8× below it) run on rayon: over the batch when it is long
//!   enough, otherwise within each product: the blocked path in one piece
//!   of rows (or columns) per thread, each packing its own panels; the
//!   direct path over column slivers or rows.

mod pack;
mod prepacked;
mod scalar;
mod thin;

pub use prepacked::{matmul_prepacked, PackedB};

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx2;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx512;

#[cfg(test)]
mod tests;

use super::simd;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::simd::Isa;

/// A strided view of a batch of matrices.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    /// The values.
    pub data: &'a [f32],
    /// Distance between consecutive matrices of the batch (0: one shared matrix).
    pub batch_stride: usize,
    /// Distance between consecutive rows.
    pub row_stride: usize,
    /// Distance between consecutive columns.
    pub col_stride: usize,
}

impl<'a> Operand<'a> {
    /// A contiguous row-major `rows × cols` batch, optionally read transposed
    /// (then the view is `cols × rows`).
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize, transposed: bool) -> Operand<'a> {
        let (row_stride, col_stride) = if transposed { (1, cols) } else { (cols, 1) };
        Operand {
            data,
            batch_stride: rows * cols,
            row_stride,
            col_stride,
        }
    }

    /// The same view with a batch stride of 0 (one matrix shared by the batch).
    pub fn shared(mut self) -> Operand<'a> {
        self.batch_stride = 0;
        self
    }

    /// Panics unless every element of the `batch × rows × cols` view is in
    /// the slice (all three counts non-zero).
    fn check(&self, what: &str, batch: usize, rows: usize, cols: usize) {
        let last = (batch - 1)
            .checked_mul(self.batch_stride)
            .and_then(|x| x.checked_add((rows - 1).checked_mul(self.row_stride)?))
            .and_then(|x| x.checked_add((cols - 1).checked_mul(self.col_stride)?));
        assert!(
            last.is_some_and(|l| l < self.data.len()),
            "matmul: operand {what} reaches past its slice"
        );
    }

    /// The raw view of matrix `bi` (the caller has run [`Operand::check`]).
    fn view(&self, bi: usize) -> View {
        View {
            // `wrapping_add` keeps this safe; the bound was checked before.
            ptr: self.data.as_ptr().wrapping_add(bi * self.batch_stride),
            rs: self.row_stride,
            cs: self.col_stride,
        }
    }
}

/// `c[b] = a[b] · b[b]` for `b < batch`, with `a[b]` viewed `m × k` and
/// `b[b]` viewed `k × n`; `c` is contiguous `batch × m × n` and overwritten.
///
/// # Panics
/// If `c` has the wrong length or a view reaches past its slice.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a: Operand<'_>,
    b: Operand<'_>,
    c: &mut [f32],
) {
    let Some(p) = Problem::new(batch, m, n, k, a, b, c) else {
        return;
    };
    // One output column, unless the product is tiny (a batch of 2 × 2
    // factors times residuals), which `run` does one output at a time.
    let tiny = m <= TINY && k <= TINY_K;
    if n == 1 && !tiny && simd::active() != simd::Isa::Scalar {
        matrix_vector(&p, c);
        return;
    }
    match simd::active() {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        Isa::Avx512 => run::<avx512::Avx512>(&p, c, Plan::Auto),
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        Isa::Avx2Fma => run::<avx2::Avx2>(&p, c, Plan::Auto),
        _ => run::<scalar::Scalar>(&p, c, Plan::Auto),
    }
}

/// [`matmul`] on the portable scalar micro-kernel, on the calling thread,
/// whatever the features and the CPU: the code every target runs without
/// `std`, so the results are the same bits on every target (no FMA, one
/// fixed order of additions per output element). The embedded runtime
/// (`ferrograd-esp`) computes with it.
///
/// Allocates nothing when `b`'s columns are contiguous (`col_stride == 1`)
/// and the product is small (`m < 4`, `m ≤ 8`, `n ≤ 4` or `k·n ≤ 40 000`:
/// the thin and direct paths); larger ones pack into a heap buffer.
///
/// # Panics
/// As [`matmul`].
///
/// ```
/// use ferrograd_tensor::kernels::matmul::{matmul_portable, Operand};
/// let a = [1.0, 2.0]; // 1 × 2
/// let b = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 × 3
/// let mut c = [0.0; 3];
/// matmul_portable(1, 1, 3, 2, Operand::row_major(&a, 1, 2, false),
///                 Operand::row_major(&b, 2, 3, false), &mut c);
/// assert_eq!(c, [9.0, 12.0, 15.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn matmul_portable(
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a: Operand<'_>,
    b: Operand<'_>,
    c: &mut [f32],
) {
    let Some(p) = Problem::new(batch, m, n, k, a, b, c) else {
        return;
    };
    run::<scalar::Scalar>(&p, c, Plan::Serial);
}

/// A validated call of [`matmul`] (non-empty, `k > 0`, views in bounds).
struct Problem<'a> {
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a: Operand<'a>,
    b: Operand<'a>,
}

impl<'a> Problem<'a> {
    /// Checks the lengths and views (panicking as [`matmul`] documents);
    /// `None` when nothing is left to compute (`c` empty, or `k = 0` and `c`
    /// zeroed).
    #[allow(clippy::too_many_arguments)]
    fn new(
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
        a: Operand<'a>,
        b: Operand<'a>,
        c: &mut [f32],
    ) -> Option<Problem<'a>> {
        assert_eq!(c.len(), batch * m * n, "matmul: output length");
        if c.is_empty() {
            return None;
        }
        if k == 0 {
            c.fill(0.0);
            return None;
        }
        a.check("a", batch, m, k);
        b.check("b", batch, k, n);
        Some(Problem {
            batch,
            m,
            n,
            k,
            a,
            b,
        })
    }
}

/// How to run a problem: chosen by size, or pinned (for tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    Auto,
    /// The automatic path on one thread.
    Serial,
    #[cfg_attr(not(test), allow(dead_code))]
    Pinned {
        path: Path,
        threads: usize,
    },
}

/// The three ways to run one product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// Row streaming for very few rows ([`thin::thin`]); needs `B`'s columns contiguous.
    Thin,
    /// Micro-kernel on unpacked operands ([`direct_product`]).
    Direct,
    /// Packed BLIS-style ([`blocked_product`]).
    Blocked,
}

/// Below this many multiply-adds a product (or a whole batch) stays on one
/// thread. 2²¹ ≈ 128³: a 64×64×64 product is 8× below it.
#[cfg_attr(not(feature = "std"), allow(dead_code))]
const PAR_WORK: usize = 1 << 21;

/// Products with `k × n` up to this take the direct path: `B` stays in L2.
const DIRECT_KN: usize = 40_000;

/// Products with fewer rows take the thin path (when `B` allows it).
const THIN_ROWS: usize = 4;

/// One raw matrix view: element `(r, c)` at `ptr + r*rs + c*cs`.
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    rs: usize,
    cs: usize,
}

// SAFETY: a `View` only reads `f32`s borrowed immutably by the `matmul` call
// for its whole duration, so sharing it between the call's threads is sound.
unsafe impl Send for View {}
// SAFETY: as above.
unsafe impl Sync for View {}

impl View {
    /// The view starting at element `(r, c)`.
    #[inline(always)]
    fn at(self, r: usize, c: usize) -> View {
        View {
            ptr: self.ptr.wrapping_add(r * self.rs + c * self.cs),
            ..self
        }
    }
}

/// The output pointer, shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);

// SAFETY: tasks given an `OutPtr` write pairwise disjoint elements of the
// exclusively borrowed output, and the call joins them before it returns.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer (a method, so closures capture the `Sync` wrapper).
    #[inline(always)]
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Arguments of one micro-kernel call: `C[0..rows, 0..nr] (+)= A · B` where
/// `A(i, p)` is at `a + i*rsa + p*csa` and `B(p, j)` at `b + p*rsb + j`.
#[derive(Clone, Copy)]
struct Tile {
    k: usize,
    a: *const f32,
    rsa: usize,
    csa: usize,
    b: *const f32,
    rsb: usize,
    c: *mut f32,
    ldc: usize,
    /// Columns that exist (`1..=NR`); past them `B` is not read and `C` not
    /// written (masked loads and stores).
    nr: usize,
    /// Add to `C` instead of overwriting it.
    acc: bool,
}

/// An instruction-set specific micro-kernel with its packing and blocking.
trait Kernel {
    /// Rows of a micro-tile (and of a packed `A` sliver).
    const MR: usize;
    /// Columns of a micro-tile (and of a packed `B` sliver).
    const NR: usize;
    /// Rows of a packed `A` block (a multiple of `MR`).
    const MC: usize;
    /// Depth of a packed slab.
    const KC: usize;
    /// Columns of a packed `B` panel (a multiple of `NR`).
    const NC: usize;

    /// Packs rows `0..mc`, columns `0..kc` of `a` as `MR`-row slivers:
    /// element `(s*MR + i, p)` goes to `dst[s*MR*kc + p*MR + i]`.
    ///
    /// # Safety
    /// Every element read is inside `a`'s slice, `dst` holds
    /// `mc.div_ceil(MR) * MR * kc` floats and the CPU supports the kernel.
    unsafe fn pack_a(mc: usize, kc: usize, a: View, dst: *mut f32);

    /// Packs rows `0..kc`, columns `0..nc` of `b` as `NR`-column slivers:
    /// element `(p, s*NR + j)` goes to `dst[s*NR*kc + p*NR + j]`; columns
    /// past `nc` in the last sliver are zero.
    ///
    /// # Safety
    /// As [`Kernel::pack_a`], with `dst` holding `nc.div_ceil(NR) * NR * kc`.
    unsafe fn pack_b(kc: usize, nc: usize, b: View, dst: *mut f32);

    /// Runs the micro-kernel on `rows` (1..=MR) rows and `t.nr` (1..=NR)
    /// columns; `packed` says `A` is a packed sliver (`rsa = 1`, `csa = MR`).
    ///
    /// # Safety
    /// The `rows × k` elements of `A`, `k × nr` of `B` and `rows × nr` of `C`
    /// are valid (`C` writable) and the CPU supports the kernel.
    unsafe fn tile(rows: usize, packed: bool, t: &Tile);

    /// The thin path ([`thin::thin`]) compiled for this kernel's CPU.
    ///
    /// # Safety
    /// As [`thin::thin`], and the CPU supports the kernel.
    unsafe fn thin(m: usize, n: usize, k: usize, a: View, b: View, c: *mut f32, ldc: usize);
}

/// Calls `$f::<R, PACKED, EDGE>($t)` for the run-time `$rows`, `$packed`
/// and `$edge`.
macro_rules! dispatch_rows {
    ($f:ident, $rows:expr, $packed:expr, $edge:expr, $t:expr; $($r:literal)*) => {
        match ($rows, $packed, $edge) {
            $(
                ($r, true, false) => $f::<$r, true, false>($t),
                ($r, true, true) => $f::<$r, true, true>($t),
                ($r, false, false) => $f::<$r, false, false>($t),
                ($r, false, true) => $f::<$r, false, true>($t),
            )*
            _ => unreachable!("micro-kernel rows out of range"),
        }
    };
}
use dispatch_rows;

/// Splits `total` into equal blocks of at most `max`, rounded up to `align`.
fn balanced(total: usize, max: usize, align: usize) -> usize {
    let blocks = total.div_ceil(max);
    total.div_ceil(blocks).next_multiple_of(align)
}

/// The threads worth using for `work` multiply-adds (1 without `std`).
fn threads_for(work: usize) -> usize {
    #[cfg(feature = "std")]
    if work >= PAR_WORK {
        super::warm::arm();
        return rayon::current_num_threads();
    }
    let _ = work;
    1
}

/// The path for an `m × k` by `k × n` product.
fn choose<K: Kernel>(m: usize, n: usize, k: usize, b_rows_contiguous: bool) -> Path {
    if m < THIN_ROWS && b_rows_contiguous {
        Path::Thin
    } else if m <= 2 * K::MR || n <= K::NR || k.saturating_mul(n) <= DIRECT_KN {
        Path::Direct
    } else {
        Path::Blocked
    }
}

/// Runs `f(i)` for `i < count`, on rayon when `threads > 1` (and `std`).
fn for_each_task<F: Fn(usize) + Sync + Send>(count: usize, threads: usize, f: F) {
    #[cfg(feature = "std")]
    if threads > 1 && count > 1 {
        use rayon::prelude::*;
        (0..count).into_par_iter().for_each(f);
        return;
    }
    let _ = threads;
    (0..count).for_each(f)
}

fn run<K: Kernel>(p: &Problem<'_>, c: &mut [f32], plan: Plan) {
    let (m, n, k) = (p.m, p.n, p.k);
    let per = m * n;
    // Pinned paths (tests) run as asked; the others take tiny products aside.
    if matches!(plan, Plan::Auto | Plan::Serial) && m <= TINY && n <= TINY && k <= TINY_K {
        tiny_products(p, c);
        return;
    }
    let product = |bi: usize, cb: &mut [f32], threads: usize| {
        let path = match plan {
            Plan::Auto | Plan::Serial => choose::<K>(m, n, k, p.b.col_stride == 1),
            Plan::Pinned {
                path: Path::Thin, ..
            } if p.b.col_stride != 1 => Path::Direct,
            Plan::Pinned { path, .. } => path,
        };
        let (a, b, out) = (p.a.view(bi), p.b.view(bi), OutPtr(cb.as_mut_ptr()));
        // SAFETY: `matmul` checked that both views are in bounds for every
        // batch index, and `cb` is this product's `m × n` output.
        unsafe {
            match path {
                Path::Thin => thin_product::<K>(m, n, k, a, b, out, threads),
                Path::Direct => direct_product::<K>(m, n, k, a, b, out, threads),
                Path::Blocked => blocked_product::<K>(m, n, k, a, b, out, threads),
            }
        }
    };
    let threads = match plan {
        Plan::Auto => threads_for(
            p.batch
                .saturating_mul(m)
                .saturating_mul(n)
                .saturating_mul(k),
        ),
        Plan::Serial => 1,
        Plan::Pinned { threads, .. } => threads,
    };
    #[cfg(feature = "std")]
    if threads > 1
        && p.batch > 1
        && (p.batch.is_multiple_of(threads)
            || p.batch >= 4 * threads
            || per.saturating_mul(k) < PAR_WORK)
    {
        use rayon::prelude::*;
        // Whole products per task, grouped so that a task has some weight.
        let group = (PAR_WORK / 8 / per.saturating_mul(k)).clamp(1, p.batch.div_ceil(threads));
        c.par_chunks_mut(per * group)
            .enumerate()
            .for_each(|(g, cg)| {
                for (i, cb) in cg.chunks_mut(per).enumerate() {
                    product(g * group + i, cb, 1);
                }
            });
        return;
    }
    let inner = match plan {
        Plan::Auto if threads > 1 => threads_for(per.saturating_mul(k)),
        Plan::Auto | Plan::Serial => 1,
        Plan::Pinned { threads, .. } => threads,
    };
    for (bi, cb) in c.chunks_mut(per).enumerate() {
        product(bi, cb, inner);
    }
}

/// Products with at most this many rows and columns, and at most
/// [`TINY_K`] depth, skip the micro-kernels ([`tiny_products`]).
const TINY: usize = 4;
/// See [`TINY`].
const TINY_K: usize = 16;

/// A batch of tiny products (a mixture's 2 × 2 Cholesky factors times its
/// residuals) one output at a time: dispatching a micro-kernel per
/// product costs more than the product. Each output is the sum over `p` in
/// order of `a(i, p)·b(p, j)`, starting from 0 and without FMA: the bits
/// the scalar micro-kernel gives (its single slab, `k ≤ KC`).
fn tiny_products(p: &Problem<'_>, c: &mut [f32]) {
    let (m, n, k) = (p.m, p.n, p.k);
    for (bi, cb) in c.chunks_exact_mut(m * n).enumerate() {
        let (a0, b0) = (bi * p.a.batch_stride, bi * p.b.batch_stride);
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f32;
                for q in 0..k {
                    let x = p.a.data[a0 + i * p.a.row_stride + q * p.a.col_stride];
                    let y = p.b.data[b0 + q * p.b.row_stride + j * p.b.col_stride];
                    acc += x * y;
                }
                cb[i * n + j] = acc;
            }
        }
    }
}

/// Products with one output column (`n = 1`, a one-output layer) as
/// matrix-vector products: each output is a dot product, over eight
/// partial sums when `A`'s rows and `B`'s column are contiguous (the
/// compiler vectorises it), instead of a micro-kernel sweeping a sliver
/// padded from one column to `NR`. Used on the SIMD instruction sets only:
/// the scalar kernel's order of additions (the embedded runtime's bits) is
/// kept where it runs. Rows split over rayon for products of at least
/// [`PAR_WORK`] multiply-adds.
fn matrix_vector(p: &Problem<'_>, c: &mut [f32]) {
    let (m, k) = (p.m, p.k);
    let row = |bi: usize, i: usize| -> f32 {
        let a0 = bi * p.a.batch_stride + i * p.a.row_stride;
        let b0 = bi * p.b.batch_stride;
        if p.a.col_stride == 1 && p.b.row_stride == 1 {
            let (x, y) = (&p.a.data[a0..a0 + k], &p.b.data[b0..b0 + k]);
            let mut acc = [0.0f32; 8];
            let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
            let tail: f32 = xc
                .remainder()
                .iter()
                .zip(yc.remainder())
                .map(|(u, v)| u * v)
                .sum();
            for (u, v) in xc.zip(yc) {
                for l in 0..8 {
                    acc[l] += u[l] * v[l];
                }
            }
            ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
        } else {
            (0..k)
                .map(|q| p.a.data[a0 + q * p.a.col_stride] * p.b.data[b0 + q * p.b.row_stride])
                .sum()
        }
    };
    // `A` read transposed (a weight gradient `gᵀ · x`): its columns are
    // contiguous, so accumulate whole columns (`c += A[:, q] · b[q]`, in
    // order of `q`: the same sums as the dot product) instead of gathering
    // each row through a stride of `m`.
    let by_columns = p.a.row_stride == 1 && p.a.col_stride != 1;
    let rows = |start: usize, out: &mut [f32]| {
        if by_columns {
            let mut at = 0;
            while at < out.len() {
                let (bi, i0) = ((start + at) / m, (start + at) % m);
                let len = (m - i0).min(out.len() - at);
                let o = &mut out[at..at + len];
                o.fill(0.0);
                let (a0, b0) = (bi * p.a.batch_stride + i0, bi * p.b.batch_stride);
                for q in 0..k {
                    let bv = p.b.data[b0 + q * p.b.row_stride];
                    let col = &p.a.data[a0 + q * p.a.col_stride..][..len];
                    for (oi, &x) in o.iter_mut().zip(col) {
                        *oi += x * bv;
                    }
                }
                at += len;
            }
            return;
        }
        for (r, o) in out.iter_mut().enumerate() {
            let at = start + r;
            *o = row(at / m, at % m);
        }
    };
    let total = p.batch * m;
    let threads = threads_for(total.saturating_mul(k));
    if threads > 1 {
        #[cfg(feature = "std")]
        {
            use rayon::prelude::*;
            let chunk = total.div_ceil(threads * 4).max(1);
            c.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(t, out)| rows(t * chunk, out));
            return;
        }
    }
    rows(0, c);
}

/// The thin path, split over column chunks when `threads > 1`.
///
/// # Safety
/// As [`direct_product`], and `b.cs == 1`.
unsafe fn thin_product<K: Kernel>(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    c: OutPtr,
    threads: usize,
) {
    let tasks = threads.min(n.div_ceil(64));
    let per = n.div_ceil(tasks).next_multiple_of(16);
    for_each_task(tasks, threads, |t| {
        let j0 = (t * per).min(n);
        let w = per.min(n - j0);
        // SAFETY: columns `j0..j0+w` of `b` and `c` are in bounds, and this
        // task's alone in `c`.
        unsafe { K::thin(m, w, k, a, b.at(0, j0), c.get().wrapping_add(j0), n) };
    });
}

/// The direct path: no packing of `A`; `B` slivers are read in place when
/// its columns are contiguous and the sliver is whole, else packed one at a
/// time. Splits over column slivers (then rows) when `threads > 1`.
///
/// # Safety
/// `a` (`m × k`) and `b` (`k × n`) are in bounds, `c` is `m × n` contiguous
/// and exclusively ours, and the CPU supports `K`.
unsafe fn direct_product<K: Kernel>(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    c: OutPtr,
    threads: usize,
) {
    let slivers = n.div_ceil(K::NR);
    let row_tiles = m.div_ceil(K::MR);
    // Tall products split by rows: each task then reads only its share of
    // `a` (the larger operand here) instead of all of it.
    let col_tasks = if row_tiles >= 8 * threads {
        1
    } else {
        slivers.min(threads)
    };
    let row_tasks = if col_tasks >= threads {
        1
    } else {
        row_tiles.min(threads.div_ceil(col_tasks))
    };
    let rows_per = row_tiles.div_ceil(row_tasks) * K::MR;
    let kc_max = balanced(k, K::KC, 1);
    for_each_task(col_tasks * row_tasks, threads, |t| {
        let (cs, rt) = (t / row_tasks, t % row_tasks);
        let (s0, s1) = (cs * slivers / col_tasks, (cs + 1) * slivers / col_tasks);
        let (r0, r1) = (rt * rows_per, ((rt + 1) * rows_per).min(m));
        if r0 >= r1 {
            // More row tasks than row tiles: nothing to pack or compute.
            return;
        }
        // A `B` without contiguous rows is packed, this task's slivers once
        // per `KC` slab (not once per row block: `k × n` is small here).
        let pack_all = b.cs != 1;
        let need = if pack_all {
            kc_max * K::NR * (s1 - s0)
        } else {
            0
        };
        scratch::with(scratch::BLOCK, need, |buf| {
            let mut pc = 0;
            while pc < k {
                let kc = kc_max.min(k - pc);
                if pack_all {
                    let (j0, j1) = (s0 * K::NR, (s1 * K::NR).min(n));
                    // SAFETY: columns `j0..j1` of slab `pc` are in `b`; `buf`
                    // holds `s1 - s0` slivers of `kc × NR` floats.
                    unsafe { K::pack_b(kc, j1 - j0, b.at(pc, j0), buf) };
                }
                let mut ic = r0;
                while ic < r1 {
                    let mc = K::MC.min(r1 - ic);
                    for s in s0..s1 {
                        let jr = s * K::NR;
                        let nr = K::NR.min(n - jr);
                        let (bp, rsb) = if !pack_all {
                            (b.at(pc, jr).ptr, b.rs)
                        } else {
                            (buf.wrapping_add((s - s0) * kc * K::NR) as *const f32, K::NR)
                        };
                        let mut ir = ic;
                        while ir < ic + mc {
                            let rows = K::MR.min(ic + mc - ir);
                            let t = Tile {
                                k: kc,
                                a: a.at(ir, pc).ptr,
                                rsa: a.rs,
                                csa: a.cs,
                                b: bp,
                                rsb,
                                c: c.get().wrapping_add(ir * n + jr),
                                ldc: n,
                                nr,
                                acc: pc > 0,
                            };
                            // SAFETY: rows `ir..ir+rows` of `a`, the sliver and
                            // the `rows × nr` tile of `c` (this task's only) are valid.
                            unsafe { K::tile(rows, false, &t) };
                            ir += rows;
                        }
                    }
                    ic += mc;
                }
                pc += kc;
            }
        });
    });
}

/// The blocked (packed) path. With `threads > 1` the product is cut into
/// one piece per thread, by rows when `m ≥ n` and by columns otherwise, and
/// each piece runs [`blocked_serial`] with its own packing buffers: a
/// thread then reads only panels it packed itself (from its own caches),
/// at the price of packing the smaller operand once per thread. Sharing one
/// packed `B` panel made both threads pull half of it from the other core
/// at every `A` block, which on two cores cost more than the packing saves.
/// The bits do not depend on the split: each output is summed over the same
/// `KC` slabs in the same order.
///
/// # Safety
/// As [`direct_product`].
unsafe fn blocked_product<K: Kernel>(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    c: OutPtr,
    threads: usize,
) {
    let by_rows = m >= n;
    let (len, align) = if by_rows { (m, K::MR) } else { (n, K::NR) };
    let pieces = threads.min(len.div_ceil(align)).max(1);
    let per = len.div_ceil(pieces).next_multiple_of(align);
    let pieces = len.div_ceil(per);
    for_each_task(pieces, threads, |t| {
        let (s0, s1) = (t * per, ((t + 1) * per).min(len));
        // SAFETY: the piece's rows (or columns) of `a`, `b` and `c` are in
        // bounds, and its part of `c` is this task's alone.
        unsafe {
            if by_rows {
                let out = c.get().wrapping_add(s0 * n);
                blocked_serial::<K>(s1 - s0, n, k, a.at(s0, 0), b, out, n);
            } else {
                let out = c.get().wrapping_add(s0);
                blocked_serial::<K>(m, s1 - s0, k, a, b.at(0, s0), out, n);
            }
        }
    });
}

/// The packed BLIS loop nest on the calling thread: `C` is `m × n` with row
/// stride `ldc`.
///
/// # Safety
/// As [`direct_product`], with `c` holding `m` rows of `ldc ≥ n` floats.
unsafe fn blocked_serial<K: Kernel>(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    c: *mut f32,
    ldc: usize,
) {
    let kc_max = balanced(k, K::KC, 1);
    let nc_max = balanced(n, K::NC, K::NR);
    let mc_max = balanced(m, K::MC, K::MR);
    scratch::with(scratch::PANEL, nc_max * kc_max, |bp| {
        scratch::with(scratch::BLOCK, mc_max * kc_max, |ap| {
            let mut jc = 0;
            while jc < n {
                let nc = nc_max.min(n - jc);
                let mut pc = 0;
                while pc < k {
                    let kc = kc_max.min(k - pc);
                    // SAFETY: the block is inside `b`; `bp` holds `nc_max × kc_max`.
                    unsafe { K::pack_b(kc, nc, b.at(pc, jc), bp) };
                    let mut ic = 0;
                    while ic < m {
                        let mcb = mc_max.min(m - ic);
                        // SAFETY: the block is inside `a`; `ap` holds `mc_max × kc_max`.
                        unsafe { K::pack_a(mcb, kc, a.at(ic, pc), ap) };
                        let sweep = Sweep {
                            rows: mcb,
                            kc,
                            a: ap,
                            b: bp,
                            cols: nc,
                            slivers: 0..nc.div_ceil(K::NR),
                            c: c.wrapping_add(ic * ldc + jc),
                            ldc,
                            acc: pc > 0,
                        };
                        // SAFETY: both blocks were just packed; the block of
                        // `c` is inside it.
                        unsafe { sweep.run::<K>() };
                        ic += mcb;
                    }
                    pc += kc;
                }
                jc += nc;
            }
        });
    });
}

/// One packed `A` block (`rows × kc`, `MR`-row slivers) against packed `B`
/// slivers `slivers` of a panel `cols` wide (`NR`-column slivers of depth
/// `kc`): `C[0..rows, slivers] (+)= A · B`, with `c` at the block's row 0,
/// column 0 of the panel. The inner two loops of the blocked and prepacked
/// paths.
struct Sweep {
    rows: usize,
    kc: usize,
    a: *const f32,
    b: *const f32,
    cols: usize,
    slivers: core::ops::Range<usize>,
    c: *mut f32,
    ldc: usize,
    /// Add to `C` instead of overwriting it.
    acc: bool,
}

impl Sweep {
    /// # Safety
    /// The packed blocks hold what the fields say, the `rows × cols` block
    /// of `c` is valid and writable, and the CPU supports `K`.
    unsafe fn run<K: Kernel>(&self) {
        for s in self.slivers.clone() {
            let jr = s * K::NR;
            let mut ir = 0;
            while ir < self.rows {
                let rows = K::MR.min(self.rows - ir);
                let t = Tile {
                    k: self.kc,
                    a: self.a.wrapping_add(ir * self.kc),
                    rsa: 1,
                    csa: K::MR,
                    b: self.b.wrapping_add(jr * self.kc),
                    rsb: K::NR,
                    c: self.c.wrapping_add(ir * self.ldc + jr),
                    ldc: self.ldc,
                    nr: K::NR.min(self.cols - jr),
                    acc: self.acc,
                };
                // SAFETY: packed slivers hold `kc` steps of `MR` / `NR`
                // floats; the `rows × nr` tile is inside the block of `c`.
                unsafe { K::tile(rows, true, &t) };
                ir += rows;
            }
        }
    }
}

/// Reusable, 64-byte aligned packing buffers.
mod scratch {
    use alloc::vec::Vec;

    /// Which buffer: the shared `B` panel or a per-task `A` block.
    #[derive(Clone, Copy)]
    pub(super) struct Slot(#[cfg_attr(not(feature = "std"), allow(dead_code))] usize);
    pub(super) const PANEL: Slot = Slot(0);
    pub(super) const BLOCK: Slot = Slot(1);

    #[cfg(feature = "std")]
    std::thread_local! {
        static BUFFERS: [core::cell::Cell<Vec<f32>>; 2] = const { [const { core::cell::Cell::new(Vec::new()) }; 2] };
    }

    /// Calls `f` with a pointer to `len` writable floats, 64-byte aligned.
    /// With `std` the buffer is kept per thread and reused; a nested use of
    /// the same slot just gets a fresh one. `len = 0` allocates nothing
    /// (`f` gets a dangling pointer it must not use).
    pub(super) fn with<R>(slot: Slot, len: usize, f: impl FnOnce(*mut f32) -> R) -> R {
        if len == 0 {
            return f(core::ptr::NonNull::<f32>::dangling().as_ptr());
        }
        #[cfg(feature = "std")]
        let mut v = BUFFERS.with(|b| b[slot.0].take());
        #[cfg(not(feature = "std"))]
        let mut v: Vec<f32> = {
            let _ = slot;
            Vec::new()
        };
        if v.len() < len + 16 {
            v.resize(len + 16, 0.0);
        }
        let off = v.as_ptr().align_offset(64).min(16);
        let r = f(v[off..].as_mut_ptr());
        #[cfg(feature = "std")]
        BUFFERS.with(|b| b[slot.0].set(v));
        r
    }
}
