//! The polling tasks of `kernels::warm`: started by splitting kernels, never
//! on a one-thread pool, gone soon after the last parallel kernel, and with
//! results unchanged. (Its own test binary: the count is process-wide.)

use ferrograd_tensor::kernels::{unary, warm};
use std::time::{Duration, Instant};

fn wait_until_none() -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while warm::polling() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    warm::polling() == 0
}

#[test]
fn polling_starts_with_split_kernels_and_ends_after_the_linger() {
    let x: Vec<f32> = (0..1 << 20).map(|i| (i % 1000) as f32 * 1e-3).collect();
    let serial: Vec<f32> = x.iter().map(|v| v * 2.0 + 1.0).collect();

    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    one.install(|| {
        let mut out = vec![0.0; x.len()];
        unary::map(&x, &mut out, |v| v * 2.0 + 1.0);
        assert_eq!(out, serial);
        assert_eq!(warm::polling(), 0, "a one-thread pool started polling");
    });

    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    three.install(|| {
        for _ in 0..50 {
            let mut out = vec![0.0; x.len()];
            unary::map(&x, &mut out, |v| v * 2.0 + 1.0);
            assert_eq!(out, serial);
            assert!(
                warm::polling() <= 2,
                "more polling tasks than other workers"
            );
        }
        assert!(warm::polling() >= 1, "no polling task after split kernels");
    });
    assert!(wait_until_none(), "polling tasks outlived their linger");

    // Arming again after they ended starts them again.
    three.install(|| {
        warm::arm();
        assert!(warm::polling() >= 1);
    });
    assert!(wait_until_none());
}
