//! Host parity of exported regression networks: the runtime's forward on
//! the exported blob (normalisation folded in) against the framework's.

use super::model::{NetSpec, RegressionNet};
use crate::export::regress_blob;
use ferrograd_esp::{AlignedBlob, Model};
use ferrograd_nn::{Activation, Normalizer};
use ferrograd_tensor::Tensor;

fn net(inputs: usize, layers: &[usize], residual: bool, act: Activation) -> RegressionNet {
    let xn = Normalizer::new(
        (0..inputs).map(|i| 1.5 - i as f32).collect(),
        (0..inputs).map(|i| 0.3 + 0.4 * i as f32).collect(),
    )
    .unwrap();
    let yn = Normalizer::new(vec![3.0, -1.0], vec![0.7, 2.5]).unwrap();
    RegressionNet::new(
        &NetSpec {
            inputs,
            outputs: 2,
            layers: layers.to_vec(),
            residual,
            activation: act,
        },
        11,
        &xn,
        &yn,
    )
    .unwrap()
}

#[test]
fn exported_networks_match_the_framework_in_user_units() {
    let cases = [
        (3, vec![3, 8, 8], true, Activation::Gelu), // identity skip on the inputs
        (2, vec![16, 8], true, Activation::Silu),   // projections
        (2, vec![], true, Activation::Tanh),        // no blocks
        (3, vec![8, 4], false, Activation::Relu),
        (2, vec![], false, Activation::Gelu),
    ];
    for (inputs, layers, residual, act) in cases {
        let net = net(inputs, &layers, residual, act);
        // Give the biases values too (they start at zero).
        for p in ferrograd_nn::Module::params(&net) {
            let v = p.value();
            let d: Vec<f32> = v
                .data()
                .iter()
                .enumerate()
                .map(|(k, x)| x + 0.05 * ((k as f32) * 0.7).sin())
                .collect();
            p.set(Tensor::from_vec(d, v.dims()).unwrap());
        }
        let (kind, blob) = regress_blob(&net).unwrap();
        assert_eq!(kind, if residual { "resmlp" } else { "mlp" });
        let aligned = AlignedBlob::new(&blob);
        let model = Model::from_bytes(aligned.bytes()).unwrap();
        assert_eq!((model.dim(), model.features()), (inputs, 2));
        let rows = 7;
        let x: Vec<f32> = (0..rows * inputs)
            .map(|k| 1.0 + 2.0 * ((k as f32) * 1.3).cos())
            .collect();
        let want = net
            .predict(&Tensor::from_vec(x.clone(), &[rows, inputs]).unwrap())
            .unwrap();
        let mut scratch = model.new_scratch();
        let mut out = [0f32; 2];
        for r in 0..rows {
            model
                .forward(&x[r * inputs..(r + 1) * inputs], &mut out, &mut scratch)
                .unwrap();
            for (j, (&got, &w)) in out.iter().zip(&want.data()[r * 2..r * 2 + 2]).enumerate() {
                assert!(
                    (got - w).abs() <= 1e-4 * (1.0 + w.abs()),
                    "{layers:?} residual {residual}: row {r} output {j}: runtime {got} vs framework {w}"
                );
            }
        }
    }
}
