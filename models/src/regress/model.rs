//! [`RegressionNet`]: a residual or plain MLP between an input
//! normalisation and an output de-normalisation, both buffers of the
//! state dict (`x_norm.mean`, `x_norm.std`, `y_norm.mean`, `y_norm.std`),
//! so a checkpoint predicts in the user's units on its own.

use crate::run::{check_claimed_size, family_checkpoint};
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::checkpoint::Checkpoint;
use ferrograd_nn::{
    Activation, Buffer, Collector, Error, Forward, LinearInit, Mlp, Module, Normalizer,
    ResidualMlp, Result,
};
use ferrograd_tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use super::config::RegressConfig;

/// The family name in `regress` checkpoints.
pub const FAMILY: &str = "regress";
/// Checkpoint metadata key of the network's [`NetSpec`].
pub const META_MODEL: &str = "model";

/// Every hyper-parameter of the network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Hidden widths.
    pub layers: Vec<usize>,
    /// Residual blocks (else a plain MLP).
    pub residual: bool,
    /// Hidden activation.
    pub activation: Activation,
}

impl NetSpec {
    /// The fewest weights and biases a network of this description holds
    /// (those of the plain MLP `inputs → layers… → outputs`; the residual
    /// one has projections too), `None` if the count overflows.
    pub fn min_value_count(&self) -> Option<usize> {
        let widths: Vec<usize> = std::iter::once(self.inputs)
            .chain(self.layers.iter().copied())
            .chain(std::iter::once(self.outputs))
            .collect();
        crate::run::sizes::dense(&widths)
    }
}

/// The network inside the normalisation.
pub enum Body {
    /// Residual blocks `h ← act(W h + b) + P h` and a linear output.
    Residual(ResidualMlp),
    /// `Linear, act, …, Linear`.
    Plain(Mlp),
}

/// A regression surrogate: ŷ = μy + σy ⊙ f((x − μx) / σx).
pub struct RegressionNet {
    /// The network of normalised values.
    pub body: Body,
    spec: NetSpec,
    x_mean: Buffer,
    x_std: Buffer,
    y_mean: Buffer,
    y_std: Buffer,
}

fn vector(values: &[f32]) -> Result<Tensor> {
    Ok(Tensor::from_slice(values, &[values.len()])?)
}

impl RegressionNet {
    /// A network of `spec` with Xavier-uniform weights and zero biases
    /// (seeded), normalising inputs with `x_norm` and outputs with `y_norm`.
    pub fn new(
        spec: &NetSpec,
        seed: u64,
        x_norm: &Normalizer,
        y_norm: &Normalizer,
    ) -> Result<RegressionNet> {
        if x_norm.features() != spec.inputs || y_norm.features() != spec.outputs {
            return Err(Error::Config(format!(
                "regress: normalisation of {} inputs and {} outputs for a network of {} and {}",
                x_norm.features(),
                y_norm.features(),
                spec.inputs,
                spec.outputs
            )));
        }
        let how = LinearInit::XavierUniformZeroBias;
        let body = if spec.residual {
            Body::Residual(ResidualMlp::with_init(
                spec.inputs,
                &spec.layers,
                spec.outputs,
                spec.activation,
                how,
                seed,
            )?)
        } else {
            let sizes: Vec<usize> = std::iter::once(spec.inputs)
                .chain(spec.layers.iter().copied())
                .chain(std::iter::once(spec.outputs))
                .collect();
            Body::Plain(Mlp::with_init(&sizes, spec.activation, how, seed)?)
        };
        Ok(RegressionNet {
            body,
            spec: spec.clone(),
            x_mean: Buffer::new(vector(x_norm.mean())?),
            x_std: Buffer::new(vector(x_norm.std())?),
            y_mean: Buffer::new(vector(y_norm.mean())?),
            y_std: Buffer::new(vector(y_norm.std())?),
        })
    }

    /// The hyper-parameters.
    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    /// The input normalisation (from the buffers).
    pub fn x_norm(&self) -> Result<Normalizer> {
        Normalizer::new(
            self.x_mean.value().data().to_vec(),
            self.x_std.value().data().to_vec(),
        )
    }

    /// The output normalisation (from the buffers).
    pub fn y_norm(&self) -> Result<Normalizer> {
        Normalizer::new(
            self.y_mean.value().data().to_vec(),
            self.y_std.value().data().to_vec(),
        )
    }

    /// The network on normalised inputs `[N, inputs]`, giving normalised
    /// outputs `[N, outputs]` (what the loss sees).
    pub fn forward_normalised(&self, xn: &Var) -> Result<Var> {
        match &self.body {
            Body::Residual(m) => m.forward(xn),
            Body::Plain(m) => m.forward(xn),
        }
    }

    /// Predictions in the user's units for inputs in the user's units
    /// (`[N, inputs]` → `[N, outputs]`), recorded.
    pub fn forward_units(&self, x: &Var) -> Result<Var> {
        let xn = x
            .sub(&Var::constant(self.x_mean.value()))?
            .div(&Var::constant(self.x_std.value()))?;
        Ok(self
            .forward_normalised(&xn)?
            .mul(&Var::constant(self.y_std.value()))?
            .add(&Var::constant(self.y_mean.value()))?)
    }

    /// [`RegressionNet::forward_units`] of many rows, in chunks, without a
    /// graph. A NaN or an infinity in `x`, or a prediction that is not
    /// finite (an input far outside the training range), is an error.
    pub fn predict(&self, x: &Tensor) -> Result<Tensor> {
        const CHUNK: usize = 8192;
        if x.dims().len() != 2 || x.dims()[1] != self.spec.inputs {
            return Err(Error::Config(format!(
                "regress: predict expects [N, {}] inputs, got {:?}",
                self.spec.inputs,
                x.dims()
            )));
        }
        crate::guard::finite_tensor("regress predict", "x", x)?;
        let n = x.dims()[0];
        let mut out = Vec::with_capacity(n * self.spec.outputs);
        no_grad(|| -> Result<()> {
            let mut start = 0;
            while start < n {
                let len = CHUNK.min(n - start);
                let y = self.forward_units(&Var::constant(x.narrow(0, start, len)?))?;
                out.extend_from_slice(y.value().data());
                start += len;
            }
            Ok(())
        })?;
        crate::guard::finite_output("regress predict", &out)?;
        Ok(Tensor::from_vec(out, &[n, self.spec.outputs])?)
    }
}

impl Module for RegressionNet {
    fn visit(&self, c: &mut Collector) {
        match &self.body {
            Body::Residual(m) => c.child("net", m),
            Body::Plain(m) => c.child("net", m),
        }
        c.buffer("x_norm.mean", &self.x_mean);
        c.buffer("x_norm.std", &self.x_std);
        c.buffer("y_norm.mean", &self.y_mean);
        c.buffer("y_norm.std", &self.y_std);
    }
}

/// A `regress` checkpoint: its run's configuration, the network, the file.
pub struct Loaded {
    /// The run's configuration.
    pub config: RegressConfig,
    /// The network, its parameters and normalisation loaded.
    pub model: RegressionNet,
    /// The checkpoint (metadata and tensors).
    pub checkpoint: Checkpoint,
}

/// Loads a checkpoint written by `regress train`, rebuilding the network
/// from the recorded [`NetSpec`]. A checkpoint of another family, a
/// damaged one, or one whose normalisation is not finite and positive is an
/// [`Error::Format`] naming the file.
pub fn load(path: impl AsRef<Path>) -> Result<Loaded> {
    let path = path.as_ref();
    let bad = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let (checkpoint, config): (Checkpoint, RegressConfig) = family_checkpoint(path, FAMILY)?;
    let spec: NetSpec = checkpoint
        .json(META_MODEL)
        .map_err(|e| bad(format!("the model description does not parse: {e}")))?
        .ok_or_else(|| bad(format!("metadata '{META_MODEL}' is missing")))?;
    // A description claiming more values than the file holds cannot fit
    // it: refuse it before building (and allocating) the model.
    check_claimed_size(spec.min_value_count(), &checkpoint, path)?;
    let model = RegressionNet::new(
        &spec,
        0,
        &Normalizer::identity(spec.inputs),
        &Normalizer::identity(spec.outputs),
    )
    .map_err(|e| bad(format!("bad model description: {e}")))?;
    checkpoint
        .load_into(&model)
        .map_err(|e| bad(format!("the tensors do not fit the recorded model: {e}")))?;
    model
        .x_norm()
        .and(model.y_norm())
        .map_err(|e| bad(format!("bad normalisation: {e}")))?;
    Ok(Loaded {
        config,
        model,
        checkpoint,
    })
}

/// The metadata of a `regress` checkpoint.
pub fn metadata(cfg: &RegressConfig, model: &RegressionNet) -> Result<BTreeMap<String, String>> {
    let mut ckpt = crate::run::family_metadata(FAMILY, cfg)?;
    ckpt.set_json(META_MODEL, model.spec())?;
    Ok(ckpt.metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_round_trips_and_names() {
        let spec = NetSpec {
            inputs: 2,
            outputs: 1,
            layers: vec![8, 4],
            residual: true,
            activation: Activation::Gelu,
        };
        let xn = Normalizer::new(vec![1.0, -2.0], vec![2.0, 0.5]).unwrap();
        let yn = Normalizer::new(vec![3.0], vec![4.0]).unwrap();
        let net = RegressionNet::new(&spec, 1, &xn, &yn).unwrap();
        let names: Vec<String> = net.state_dict().into_keys().collect();
        for n in [
            "x_norm.mean",
            "y_norm.std",
            "net.lin.0.weight",
            "net.proj.1.weight",
        ] {
            assert!(names.iter().any(|k| k == n), "{n} in {names:?}");
        }
        // ŷ = μy + σy f((x − μx)/σx)
        let x = Tensor::from_vec(vec![3.0, -1.0], &[1, 2]).unwrap();
        let f = net
            .forward_normalised(&Var::constant(
                Tensor::from_vec(vec![1.0, 2.0], &[1, 2]).unwrap(),
            ))
            .unwrap()
            .value()
            .data()[0];
        let y = net.predict(&x).unwrap().data()[0];
        assert!((y - (3.0 + 4.0 * f)).abs() < 1e-5);
        let plain = RegressionNet::new(
            &NetSpec {
                residual: false,
                ..spec
            },
            1,
            &xn,
            &yn,
        )
        .unwrap();
        assert!(plain.state_dict().contains_key("net.2.weight"));
        assert!(RegressionNet::new(&plain.spec, 1, &yn, &yn).is_err());
    }

    /// A checkpoint whose model description claims 10¹² weights (or widths
    /// whose product overflows) is refused before the model is built.
    #[test]
    fn huge_model_descriptions_are_refused_before_allocation() {
        let spec = NetSpec {
            inputs: 2,
            outputs: 1,
            layers: vec![4],
            residual: false,
            activation: Activation::Gelu,
        };
        let id = |n| Normalizer::identity(n);
        let net = RegressionNet::new(&spec, 1, &id(2), &id(1)).unwrap();
        let cfg = RegressConfig::default();
        let dir =
            std::env::temp_dir().join(format!("ferrograd-regress-huge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let start = std::time::Instant::now();
        for layers in [vec![1_000_000, 1_000_000], vec![usize::MAX, 2]] {
            let mut ckpt = Checkpoint::from_module(&net);
            ckpt.metadata = metadata(&cfg, &net).unwrap();
            ckpt.set_json(
                META_MODEL,
                &NetSpec {
                    layers: layers.clone(),
                    ..spec.clone()
                },
            )
            .unwrap();
            let path = dir.join("huge.safetensors");
            ckpt.save(&path).unwrap();
            let e = load(&path).err().expect("refused").to_string();
            assert!(
                e.contains("huge.safetensors") && e.contains("the model description claims"),
                "{layers:?}: {e}"
            );
        }
        assert!(start.elapsed() < std::time::Duration::from_millis(500));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
