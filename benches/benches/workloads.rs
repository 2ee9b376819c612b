//! One training step of each anchor workload (see `ferrograd_benches::anchors`
//! and `../shared/anchors/README.md`), started from the committed dumps and
//! named after the anchors' rows. Single-threaded (a rayon pool of one
//! thread), to compare with the anchors' `--threads 1` runs made on the same
//! machine in the same sitting. The pool is rayon's global one, set to one
//! thread before anything runs (the workloads' state is not `Send`, so it
//! cannot move into `ThreadPool::install`).
//!
//! Each iteration is a whole step (zero gradients, forward, loss, backward,
//! clipping where the anchor clips, optimizer update) on the same fixed
//! batch, so the parameters keep training across iterations, as in the
//! anchors' timing loop.

use criterion::{criterion_group, criterion_main, Criterion};
use ferrograd_benches::anchors::{
    ConvvaeStep, FlowmatchStep, GradpenStep, MafStep, MamlFoStep, MamlStep, MdnRnnPerdimStep,
    MdnRnnStep, MdnStep, TransformerStep, Workload,
};
use std::hint::black_box;
use std::time::Duration;

fn bench_one<W: Workload>(c: &mut Criterion) {
    let mut w = W::from_committed_dump()
        .unwrap_or_else(|e| panic!("{}: cannot load the dump: {e}", W::NAME));
    c.bench_function(W::NAME, |b| {
        b.iter(|| black_box(w.step().expect("training step")))
    });
}

fn workloads(c: &mut Criterion) {
    // Fails only if the global pool already exists; the check below then
    // says whether it has the one thread wanted.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    assert_eq!(
        rayon::current_num_threads(),
        1,
        "the workloads bench must run single-threaded"
    );
    bench_one::<MamlStep>(c);
    bench_one::<MamlFoStep>(c);
    bench_one::<GradpenStep>(c);
    bench_one::<TransformerStep>(c);
    bench_one::<MdnRnnStep>(c);
    bench_one::<MdnRnnPerdimStep>(c);
    bench_one::<MafStep>(c);
    bench_one::<MdnStep>(c);
    bench_one::<FlowmatchStep>(c);
    bench_one::<ConvvaeStep>(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    targets = workloads
}
criterion_main!(benches);
