//! End to end through the nn layer: an MLP learns a noisy sine with Adam and
//! a data loader, is saved as a checkpoint with its optimizer state, and the
//! reloaded model gives bit-identical predictions; a resumed run continues
//! exactly like an uninterrupted one.

use ferrograd_autograd::Var;
use ferrograd_nn::checkpoint::{Checkpoint, META_OPTIMIZER};
use ferrograd_nn::optim::OptimizerState;
use ferrograd_nn::{
    init, Activation, Adam, AdamConfig, DataLoader, Forward, Mlp, Module, Optimizer, TensorDataset,
};
use ferrograd_tensor::Tensor;
use rand::Rng;

fn noisy_sine(n: usize, seed: u64) -> TensorDataset {
    let mut rng = init::rng(seed);
    let x: Vec<f32> = (0..n).map(|_| rng.random_range(-3.0..3.0)).collect();
    let y: Vec<f32> = x
        .iter()
        .map(|x| x.sin() + rng.random_range(-0.05..0.05))
        .collect();
    TensorDataset::new(vec![
        Tensor::from_vec(x, &[n, 1]).unwrap(),
        Tensor::from_vec(y, &[n, 1]).unwrap(),
    ])
    .unwrap()
}

fn epoch(model: &Mlp, opt: &mut Adam, loader: &DataLoader<TensorDataset>, e: u64) -> f32 {
    let mut last = 0.0;
    for batch in loader.epoch(e) {
        let batch = batch.unwrap();
        let pred = model.forward(&Var::constant(batch[0].clone())).unwrap();
        let loss = pred.mse(&Var::constant(batch[1].clone())).unwrap();
        opt.zero_grad();
        loss.backward().unwrap();
        opt.step().unwrap();
        last = loss.item().unwrap();
    }
    last
}

fn predict(model: &Mlp, x: &Tensor) -> Tensor {
    ferrograd_autograd::no_grad(|| model.forward(&Var::constant(x.clone())))
        .unwrap()
        .value()
        .clone()
}

#[test]
fn mlp_learns_a_noisy_sine_and_survives_a_checkpoint() {
    let data = noisy_sine(512, 1);
    let loader = DataLoader::new(data, 64).unwrap().shuffle(7);
    let model = Mlp::new(&[1, 32, 32, 1], Activation::Tanh, 3).unwrap();
    let mut opt = Adam::new(
        model.params(),
        AdamConfig {
            lr: 1e-2,
            ..AdamConfig::default()
        },
    )
    .unwrap();
    for e in 0..60 {
        epoch(&model, &mut opt, &loader, e);
    }
    let grid =
        Tensor::from_vec((0..61).map(|i| -3.0 + 0.1 * i as f32).collect(), &[61, 1]).unwrap();
    let pred = predict(&model, &grid);
    let truth = grid.sin();
    let mse = pred.sub(&truth).unwrap().square().mean_all().data()[0];
    assert!(mse < 0.01, "test MSE against sin x is {mse}");

    // Save model and optimizer state, reload into fresh objects.
    let dir = std::env::temp_dir().join(format!("ferrograd-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let state = opt.state_dict();
    let mut ckpt = Checkpoint::from_module(&model);
    ckpt.insert_optimizer_state(&state.tensors);
    ckpt.set_json(META_OPTIMIZER, &state.meta).unwrap();
    ckpt.save(&path).unwrap();

    let loaded = Checkpoint::load(&path).unwrap();
    let restored = Mlp::new(&[1, 32, 32, 1], Activation::Tanh, 99).unwrap();
    loaded.load_into(&restored).unwrap();
    assert_eq!(
        predict(&restored, &grid),
        pred,
        "reloaded predictions differ"
    );

    let mut opt2 = Adam::new(restored.params(), AdamConfig::default()).unwrap();
    let meta = loaded.json(META_OPTIMIZER).unwrap().unwrap();
    opt2.load_state_dict(&OptimizerState {
        tensors: loaded.optimizer_state(),
        meta,
    })
    .unwrap();
    // One more epoch each: the resumed run matches the uninterrupted one bit for bit.
    epoch(&model, &mut opt, &loader, 60);
    epoch(&restored, &mut opt2, &loader, 60);
    assert_eq!(predict(&restored, &grid), predict(&model, &grid));
    std::fs::remove_dir_all(&dir).unwrap();
}
