//! ferrograd's versions of the reference workloads (`../shared/anchors`,
//! implemented in `ferrograd_benches::anchors`) reproduce PyTorch's first
//! three losses from the committed dumps (`tests/data/anchors/`): the initial
//! loss and the losses after one and two optimizer updates.
//!
//! Tolerance: 1e-4 relative. The dumps' losses are PyTorch's float32 values;
//! ferrograd does the same float32 arithmetic but sums in other orders
//! (blocked matmul, batched MAML tasks, its own reductions), so the losses
//! may differ by float32 rounding, which grows slightly through the Adam
//! updates (observed: at most 2e-7 relative, one or two ulps). A mapping
//! mistake (a wrong name, layout, gate order or loss term) moves the losses
//! by far more than 1e-4.

use ferrograd_benches::anchors::{
    ConvvaeStep, Dump, FlowmatchStep, GradpenStep, MafStep, MamlFoStep, MamlStep, MdnRnnPerdimStep,
    MdnRnnStep, MdnStep, TransformerStep, Workload,
};

const REL_TOL: f64 = 1e-4;

/// Runs three steps of `W` from its committed dump and compares the losses.
fn reproduces<W: Workload>() {
    let path = ferrograd_benches::anchors::dump_path(W::NAME);
    let reference = Dump::load(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", W::NAME))
        .losses;
    assert_eq!(
        reference.len(),
        3,
        "{}: expected 3 reference losses",
        W::NAME
    );
    let mut w = W::from_dump(&path).unwrap_or_else(|e| panic!("{}: {e}", W::NAME));
    let ours: Vec<f64> = (0..reference.len())
        .map(|_| w.step().unwrap_or_else(|e| panic!("{}: {e}", W::NAME)) as f64)
        .collect();
    let rel: Vec<f64> = ours
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs() / b.abs().max(f64::MIN_POSITIVE))
        .collect();
    eprintln!(
        "{}: ferrograd {ours:?}, reference {reference:?}, relative differences {rel:?}",
        W::NAME
    );
    for (i, r) in rel.iter().enumerate() {
        assert!(
            *r <= REL_TOL,
            "{}: loss {i} is {} but the reference is {} (relative difference {r:.2e} > {REL_TOL:e}); \
             all: ferrograd {ours:?}, reference {reference:?}",
            W::NAME,
            ours[i],
            reference[i]
        );
    }
}

#[test]
fn maml_step_reproduces_the_reference_losses() {
    reproduces::<MamlStep>();
}

#[test]
fn maml_fo_step_reproduces_the_reference_losses() {
    reproduces::<MamlFoStep>();
}

#[test]
fn gradpen_step_reproduces_the_reference_losses() {
    reproduces::<GradpenStep>();
}

#[test]
fn transformer_step_reproduces_the_reference_losses() {
    reproduces::<TransformerStep>();
}

#[test]
fn mdnrnn_step_reproduces_the_reference_losses() {
    reproduces::<MdnRnnStep>();
}

#[test]
fn maf_step_reproduces_the_reference_losses() {
    reproduces::<MafStep>();
}

#[test]
fn mdn_step_reproduces_the_reference_losses() {
    reproduces::<MdnStep>();
}

#[test]
fn flowmatch_step_reproduces_the_reference_losses() {
    reproduces::<FlowmatchStep>();
}

#[test]
fn convvae_step_reproduces_the_reference_losses() {
    reproduces::<ConvvaeStep>();
}

#[test]
fn mdnrnn_perdim_step_reproduces_the_reference_losses() {
    reproduces::<MdnRnnPerdimStep>();
}
