//! The RISC-V retired-instruction counter (`minstret`/`minstreth`).
//!
//! Under QEMU the counter is an exact instruction count only with
//! `-icount shift=0`; without it QEMU returns host clock ticks.
//! [`calibrate`] tells which one the firmware is seeing.

use core::arch::asm;
use core::hint::black_box;

/// The 64-bit `minstret`, read as high, low, high (retrying if the low half
/// wrapped in between). The asm block is not `nomem`, so the compiler keeps
/// memory accesses on their side of it.
#[inline(always)]
pub fn read() -> u64 {
    loop {
        let (hi, lo, hi2): (u32, u32, u32);
        // SAFETY: reads machine-mode counters (the firmware runs in M-mode).
        // riscv32imc has no `zicsr` target feature, so the assembler is told
        // about it locally.
        unsafe {
            asm!(
                ".option push",
                ".option arch, +zicsr",
                "csrr {hi}, minstreth",
                "csrr {lo}, minstret",
                "csrr {hi2}, minstreth",
                ".option pop",
                hi = out(reg) hi,
                lo = out(reg) lo,
                hi2 = out(reg) hi2,
                options(nostack, preserves_flags),
            );
        }
        if hi == hi2 {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

/// Runs `f` and returns its result with the instructions retired between the
/// two counter reads (the region plus a fixed read overhead, see
/// [`Calibration::overhead`]).
#[inline(always)]
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let start = read();
    let r = black_box(f());
    let end = read();
    (r, end.wrapping_sub(start))
}

/// Exactly `2 * N + 1` instructions (`N >= 1`): `li` of the count, then
/// `N` rounds of `addi` and `bnez`.
#[inline(always)]
fn spin<const N: u32>() {
    // SAFETY: register-only loop.
    unsafe {
        asm!(
            "li {n}, {count}",
            "2:",
            "addi {n}, {n}, -1",
            "bnez {n}, 2b",
            n = out(reg) _,
            count = const N,
            options(nomem, nostack),
        );
    }
}

/// What [`calibrate`] found.
pub struct Calibration {
    /// Count of an empty region (the cost of the reads themselves).
    pub overhead: u64,
    /// Count of `spin::<1000>` (2001 instructions plus the overhead).
    pub spin1000: u64,
    /// Count of `spin::<2000>` (4001 instructions plus the overhead).
    pub spin2000: u64,
}

impl Calibration {
    /// True when both loops counted exactly their `2 * N + 1` instructions
    /// over the empty region: the counter is an exact instruction count,
    /// not a clock.
    pub fn exact(&self) -> bool {
        self.spin1000.wrapping_sub(self.overhead) == 2001
            && self.spin2000.wrapping_sub(self.overhead) == 4001
    }
}

/// Counts an empty region and two loops of known length.
pub fn calibrate() -> Calibration {
    let (_, overhead) = measure(|| ());
    let (_, spin1000) = measure(spin::<1000>);
    let (_, spin2000) = measure(spin::<2000>);
    Calibration {
        overhead,
        spin1000,
        spin2000,
    }
}
