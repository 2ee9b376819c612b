//! Run-time choice of the instruction set used by the SIMD kernels.
//!
//! With the `std` feature on x86_64 the best of AVX-512F and AVX2+FMA that the
//! CPU supports is detected once and cached. Everywhere else (other
//! architectures, `no_std`) the portable scalar code runs. [`force`] pins a
//! level, so tests and benches can exercise every path on one machine.

/// An instruction-set level a kernel can be specialised for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Portable scalar code (every target, and the only one under `no_std`).
    Scalar,
    /// x86_64 AVX2 with FMA (for example AMD Zen 3).
    Avx2Fma,
    /// x86_64 AVX-512F (for example AMD Zen 5, Intel Xeon).
    Avx512,
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod detect {
    use super::Isa;
    use core::sync::atomic::{AtomicU8, Ordering};

    const UNSET: u8 = 0;
    static DETECTED: AtomicU8 = AtomicU8::new(UNSET);
    static FORCED: AtomicU8 = AtomicU8::new(UNSET);

    fn encode(isa: Isa) -> u8 {
        match isa {
            Isa::Scalar => 1,
            Isa::Avx2Fma => 2,
            Isa::Avx512 => 3,
        }
    }

    fn decode(v: u8) -> Isa {
        match v {
            3 => Isa::Avx512,
            2 => Isa::Avx2Fma,
            _ => Isa::Scalar,
        }
    }

    pub fn supported() -> Isa {
        let v = DETECTED.load(Ordering::Relaxed);
        if v != UNSET {
            return decode(v);
        }
        let isa = if std::is_x86_feature_detected!("avx512f") {
            Isa::Avx512
        } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            Isa::Avx2Fma
        } else {
            Isa::Scalar
        };
        DETECTED.store(encode(isa), Ordering::Relaxed);
        isa
    }

    pub fn active() -> Isa {
        let best = supported();
        match FORCED.load(Ordering::Relaxed) {
            UNSET => best,
            f => decode(f).min(best),
        }
    }

    pub fn force(isa: Option<Isa>) {
        FORCED.store(isa.map_or(UNSET, encode), Ordering::Relaxed);
    }
}

#[cfg(not(all(feature = "std", target_arch = "x86_64")))]
mod detect {
    use super::Isa;
    pub fn supported() -> Isa {
        Isa::Scalar
    }
    pub fn active() -> Isa {
        Isa::Scalar
    }
    pub fn force(_isa: Option<Isa>) {}
}

/// The best level this CPU supports (always [`Isa::Scalar`] without `std` or off x86_64).
pub fn supported() -> Isa {
    detect::supported()
}

/// The level kernels use now: [`supported`], lowered by [`force`] if set.
#[inline]
pub fn active() -> Isa {
    detect::active()
}

/// Pins kernels to at most `isa` (`None` restores automatic choice). A level
/// above what the CPU supports is clamped to the supported one. Process-wide;
/// meant for tests and benchmarks that compare code paths.
pub fn force(isa: Option<Isa>) {
    detect::force(isa)
}

/// Whether `work` (roughly, multiply-adds or element operations) is large
/// enough to pay for splitting it across rayon threads. When it is, the
/// pool's other workers are kept polling for work ([`super::warm`]).
#[inline]
pub fn worth_parallel(work: usize) -> bool {
    #[cfg(feature = "std")]
    {
        let worth = work >= (1 << 18) && rayon::current_num_threads() > 1;
        if worth {
            super::warm::arm();
        }
        worth
    }
    #[cfg(not(feature = "std"))]
    {
        let _ = work;
        false
    }
}
