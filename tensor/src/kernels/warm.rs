//! Idle rayon workers kept polling for work while kernels split over them.
//!
//! A rayon worker that finds nothing to do sleeps after a few microseconds,
//! and waking it again costs tens of microseconds on a virtual machine: as
//! much as a 1 MB elementwise kernel saves by running on two threads. A
//! training step runs many such kernels with short serial stretches between
//! them, so without this the second thread pays for its wake-ups and the step
//! is no faster (or slower) than on one thread.
//!
//! [`arm`], called by every kernel about to split its work, starts a polling
//! task on each other worker of the current pool unless one is already
//! running there. A polling task runs pending rayon jobs as they appear
//! ([`rayon::yield_now`]) and ends once it has found nothing for [`LINGER`],
//! so workers sleep again soon after the last parallel kernel. The results
//! are unchanged: which thread runs a chunk never changes how work is split.
//! (Optimised OpenMP runtimes behave the same way: Intel's spins for 200 ms
//! before sleeping.)

use core::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a polling task goes on without finding work before it ends.
pub const LINGER: Duration = Duration::from_millis(1);

/// Polling tasks alive (in any pool).
static POLLING: AtomicUsize = AtomicUsize::new(0);

/// Makes sure the other workers of the current rayon pool are polling for
/// work, starting a polling task for each missing one. Cheap (one atomic
/// load) when they already are; does nothing on a pool of one thread.
pub fn arm() {
    let others = rayon::current_num_threads().saturating_sub(1);
    let mut alive = POLLING.load(Ordering::Relaxed);
    while alive < others {
        match POLLING.compare_exchange_weak(alive, alive + 1, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => {
                let armed_by = rayon::current_thread_index();
                rayon::spawn(move || poll(armed_by));
                alive += 1;
            }
            Err(now) => alive = now,
        }
    }
}

/// Polling tasks alive now (for tests).
pub fn polling() -> usize {
    POLLING.load(Ordering::Relaxed)
}

/// Runs pending jobs until none has appeared for [`LINGER`].
fn poll(armed_by: Option<usize>) {
    // On the worker that armed it (it popped its own queue while waiting),
    // a polling task would hold that worker's stack: end at once instead.
    if armed_by.is_none() || rayon::current_thread_index() != armed_by {
        let mut idle_since = Instant::now();
        let mut rounds = 0u32;
        loop {
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => {
                    idle_since = Instant::now();
                    rounds = 0;
                }
                Some(rayon::Yield::Idle) => {
                    core::hint::spin_loop();
                    rounds += 1;
                    // Reading the clock every 64 idle rounds keeps the poll
                    // tight and the check cheap.
                    if rounds.is_multiple_of(64) && idle_since.elapsed() >= LINGER {
                        break;
                    }
                }
                None => break,
            }
        }
    }
    POLLING.fetch_sub(1, Ordering::AcqRel);
}
