//! Long training loops must not grow memory: after each step, once the step's
//! values are dropped, the number of live graph nodes is back where it was.
//! (This file holds one test, so no other test's nodes are counted.)

use ferrograd_autograd::{grad, live_nodes, GradOptions, Var};
use ferrograd_tensor::Tensor;

#[test]
fn thousands_of_steps_leave_no_nodes_behind() {
    let mut w = Tensor::from_vec(
        (0..32).map(|i| (i as f32 * 0.3).sin() * 0.3).collect(),
        &[8, 4],
    )
    .unwrap();
    let x = Var::constant(
        Tensor::from_vec((0..20).map(|i| (i as f32 * 0.7).cos()).collect(), &[5, 4]).unwrap(),
    );
    let baseline = live_nodes();
    let mut first_loss = None;
    let mut last_loss = 0.0;
    for step in 0..3000 {
        {
            let wv = Var::param(w.clone());
            let h = x.matmul_t(&wv, false, true).unwrap().tanh();
            let loss = h.sub(&Var::scalar(0.5)).unwrap().square().mean_all();
            // Every 10th step also takes a gradient of a gradient.
            let create_graph = step % 10 == 0;
            let opts = GradOptions {
                create_graph,
                allow_unused: false,
            };
            let g = grad(&[&loss], &[&wv], None, opts).unwrap().remove(0);
            if create_graph {
                let pen = g.square().sum_all();
                let gg = grad(&[&pen], &[&wv], None, GradOptions::default()).unwrap();
                assert_eq!(gg[0].dims(), &[8, 4]);
            }
            w = w.sub(&g.value().mul_scalar(0.1)).unwrap();
            last_loss = loss.item().unwrap();
            first_loss.get_or_insert(last_loss);
        }
        assert_eq!(live_nodes(), baseline, "step {step} left nodes alive");
    }
    assert!(last_loss < first_loss.unwrap(), "training made progress");
}
