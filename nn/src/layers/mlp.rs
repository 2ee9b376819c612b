//! Layer containers and multilayer perceptrons: [`Sequential`] (PyTorch's
//! `nn.Sequential`), [`Mlp`] (Linear/activation stacks built on it) and
//! [`ResidualMlp`] (residual blocks with learned skip projections).

use crate::init;
use crate::layers::activation::Activation;
use crate::layers::linear::Linear;
use crate::module::{Collector, Forward, Module};
use crate::param::{Param, ParamSource};
use crate::{Error, Result};
use ferrograd_autograd::Var;
use rand::rngs::StdRng;

/// A single-input layer that can sit in a [`Sequential`]; every
/// [`Forward`] type is one.
pub trait Layer: Forward {}

impl<T: Forward + ?Sized> Layer for T {}

/// Layers applied one after the other, like PyTorch's `nn.Sequential`: the
/// children are named `"0"`, `"1"`, …, so parameters are `"0.weight"`,
/// `"2.bias"`, … (parameter-free layers such as activations still take a
/// position). Train/eval mode is passed on to every layer.
///
/// ```
/// use ferrograd_nn::layers::{activation::Activation, mlp::Sequential};
/// use ferrograd_nn::{Forward, Linear, Module};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let net = Sequential::new()
///     .with(Linear::new(3, 8, 0))
///     .with(Activation::Tanh)
///     .with(Linear::new(8, 1, 1));
/// let names: Vec<String> = net.named_params().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
/// let y = net.forward(&Var::constant(Tensor::ones(&[4, 3]).unwrap())).unwrap();
/// assert_eq!(y.dims(), &[4, 1]);
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Layer>>,
}

impl Sequential {
    /// No layers (the identity).
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// The same container with `layer` appended.
    pub fn with(mut self, layer: impl Layer + 'static) -> Sequential {
        self.push(layer);
        self
    }

    /// Appends `layer`.
    pub fn push(&mut self, layer: impl Layer + 'static) {
        self.layers.push(Box::new(layer));
    }

    /// Appends an already boxed layer.
    pub fn push_boxed(&mut self, layer: Box<dyn Layer>) {
        self.layers.push(layer);
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layer at position `i`.
    pub fn get(&self, i: usize) -> Option<&dyn Layer> {
        self.layers.get(i).map(|l| &**l)
    }

    /// The layers in order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Layer> {
        self.layers.iter().map(|l| &**l)
    }
}

impl Module for Sequential {
    fn visit(&self, c: &mut Collector) {
        for (i, layer) in self.layers.iter().enumerate() {
            let module: &dyn Module = &**layer;
            c.child(&i.to_string(), module);
        }
    }

    fn set_training(&mut self, training: bool) {
        for layer in &mut self.layers {
            layer.set_training(training);
        }
    }
}

impl Forward for Sequential {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward_with(p, &h)?;
        }
        Ok(h)
    }
}

/// How [`Mlp`] and [`ResidualMlp`] initialise their linear layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinearInit {
    /// PyTorch's `nn.Linear` default: W and b ~ U(−1/√in, 1/√in).
    #[default]
    PyTorch,
    /// Xavier/Glorot-uniform weights (gain 1) and zero biases.
    XavierUniformZeroBias,
}

/// A linear layer `inputs → outputs` initialised by `how` from `rng`.
fn linear(inputs: usize, outputs: usize, bias: bool, how: LinearInit, rng: &mut StdRng) -> Linear {
    let (w, b) = match how {
        LinearInit::PyTorch => (
            init::lecun_uniform(&[outputs, inputs], inputs, rng),
            init::lecun_uniform(&[outputs], inputs, rng),
        ),
        LinearInit::XavierUniformZeroBias => (
            init::xavier_uniform(&[outputs, inputs], 1.0, rng),
            init::zeros(&[outputs]),
        ),
    };
    Linear::from_params(Param::new(w), bias.then(|| Param::new(b)))
}

fn check_widths(who: &str, widths: &[usize]) -> Result<()> {
    if widths.contains(&0) {
        return Err(Error::Config(format!(
            "{who}: every width must be positive, got {widths:?}"
        )));
    }
    Ok(())
}

/// A multilayer perceptron: `Linear, act, Linear, act, …, Linear` with no
/// activation after the last layer, built on [`Sequential`].
///
/// Parameter names are those of the Sequential itself: `"0.weight"`,
/// `"0.bias"`, `"2.weight"`, … (the activations take the odd positions). A
/// model that holds the MLP as its child `net` therefore reports
/// `"net.0.weight"`, exactly as a PyTorch model with `self.net =
/// nn.Sequential(...)` (the MAML anchors' `net.0`, `net.2`, `net.4`).
///
/// ```
/// use ferrograd_nn::layers::{activation::Activation, mlp::Mlp};
/// use ferrograd_nn::{Forward, Module};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let mlp = Mlp::new(&[1, 40, 40, 1], Activation::Relu, 0).unwrap();
/// assert_eq!(mlp.state_dict().len(), 6); // 0., 2., 4. × weight, bias
/// assert_eq!(mlp.num_params(), 40 + 40 + 40 * 40 + 40 + 40 + 1);
/// let y = mlp.forward(&Var::constant(Tensor::ones(&[10, 1]).unwrap())).unwrap();
/// assert_eq!(y.dims(), &[10, 1]);
/// ```
pub struct Mlp {
    net: Sequential,
    sizes: Vec<usize>,
    activation: Activation,
}

impl Mlp {
    /// An MLP through `sizes = [in, h1, …, out]` (at least two, all
    /// positive) with PyTorch's default initialisation, seeded.
    pub fn new(sizes: &[usize], activation: Activation, seed: u64) -> Result<Mlp> {
        Mlp::with_init(sizes, activation, LinearInit::PyTorch, seed)
    }

    /// As [`Mlp::new`] with the given initialisation.
    pub fn with_init(
        sizes: &[usize],
        activation: Activation,
        how: LinearInit,
        seed: u64,
    ) -> Result<Mlp> {
        if sizes.len() < 2 {
            return Err(Error::Config(format!(
                "mlp: sizes must list at least the input and output widths, got {sizes:?}"
            )));
        }
        check_widths("mlp", sizes)?;
        let mut rng = init::rng(seed);
        let mut net = Sequential::new();
        for (i, pair) in sizes.windows(2).enumerate() {
            if i > 0 {
                net.push(activation);
            }
            net.push(linear(pair[0], pair[1], true, how, &mut rng));
        }
        Ok(Mlp {
            net,
            sizes: sizes.to_vec(),
            activation,
        })
    }

    /// The widths `[in, h1, …, out]`.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The activation between layers.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The underlying layers.
    pub fn net(&self) -> &Sequential {
        &self.net
    }
}

impl Module for Mlp {
    fn visit(&self, c: &mut Collector) {
        self.net.visit(c);
    }

    fn set_training(&mut self, training: bool) {
        self.net.set_training(training);
    }
}

impl Forward for Mlp {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        self.net.forward_with(p, x)
    }
}

/// An MLP of residual blocks `h ← act(W h + b) + P h`, then a linear output
/// layer. `P` is a learned bias-free projection where a block changes the
/// width and the identity where it keeps it. Parameters (PyTorch's
/// registration order): `lin.{i}.weight/bias`, `proj.{i}.weight` (only for
/// blocks that change width), `out.weight/bias`, the names of the anchors'
/// `gradpen_step` model.
///
/// ```
/// use ferrograd_nn::layers::{activation::Activation, mlp::{LinearInit, ResidualMlp}};
/// use ferrograd_nn::{Forward, Module};
/// use ferrograd_autograd::Var;
/// use ferrograd_tensor::Tensor;
/// let how = LinearInit::XavierUniformZeroBias;
/// let net = ResidualMlp::with_init(16, &[64, 32], 8, Activation::Gelu, how, 0).unwrap();
/// let names: Vec<String> = net.named_params().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["lin.0.weight", "lin.0.bias", "lin.1.weight", "lin.1.bias",
///                    "proj.0.weight", "proj.1.weight", "out.weight", "out.bias"]);
/// let y = net.forward(&Var::constant(Tensor::ones(&[5, 16]).unwrap())).unwrap();
/// assert_eq!(y.dims(), &[5, 8]);
/// ```
pub struct ResidualMlp {
    /// The block layers `W, b`, one per width.
    pub lin: Vec<Linear>,
    /// The skip projections `P` (`None` = identity), one per block.
    pub proj: Vec<Option<Linear>>,
    /// The output layer.
    pub out: Linear,
    /// The activation inside each block.
    pub activation: Activation,
}

impl ResidualMlp {
    /// Blocks of the given `widths` from `inputs`, then a linear layer to
    /// `outputs`, with PyTorch's default initialisation, seeded.
    pub fn new(
        inputs: usize,
        widths: &[usize],
        outputs: usize,
        activation: Activation,
        seed: u64,
    ) -> Result<ResidualMlp> {
        ResidualMlp::with_init(
            inputs,
            widths,
            outputs,
            activation,
            LinearInit::PyTorch,
            seed,
        )
    }

    /// As [`ResidualMlp::new`] with the given initialisation
    /// ([`LinearInit::XavierUniformZeroBias`] for the anchors' workload).
    pub fn with_init(
        inputs: usize,
        widths: &[usize],
        outputs: usize,
        activation: Activation,
        how: LinearInit,
        seed: u64,
    ) -> Result<ResidualMlp> {
        let all: Vec<usize> = std::iter::once(inputs)
            .chain(widths.iter().copied())
            .chain(std::iter::once(outputs))
            .collect();
        check_widths("residual mlp", &all)?;
        let mut rng = init::rng(seed);
        let (mut lin, mut proj) = (Vec::new(), Vec::new());
        let mut width = inputs;
        for &w in widths {
            lin.push(linear(width, w, true, how, &mut rng));
            proj.push((w != width).then(|| linear(width, w, false, how, &mut rng)));
            width = w;
        }
        let out = linear(width, outputs, true, how, &mut rng);
        Ok(ResidualMlp {
            lin,
            proj,
            out,
            activation,
        })
    }
}

impl Module for ResidualMlp {
    fn visit(&self, c: &mut Collector) {
        for (i, l) in self.lin.iter().enumerate() {
            c.child(&format!("lin.{i}"), l);
        }
        for (i, p) in self.proj.iter().enumerate() {
            if let Some(p) = p {
                c.child(&format!("proj.{i}"), p);
            }
        }
        c.child("out", &self.out);
    }
}

impl Forward for ResidualMlp {
    fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
        let mut h = x.clone();
        for (lin, proj) in self.lin.iter().zip(&self.proj) {
            let body = self.activation.apply(&lin.forward_with(p, &h)?);
            let skip = match proj {
                Some(proj) => proj.forward_with(p, &h)?,
                None => h,
            };
            h = body.add(&skip)?;
        }
        self.out.forward_with(p, &h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::activation::to_autograd;
    use crate::layers::dropout::Dropout;
    use crate::FastWeights;
    use ferrograd_autograd::{gradcheck, gradgradcheck, GradcheckOptions};
    use ferrograd_tensor::Tensor;

    fn t(d: &[f32], dims: &[usize]) -> Tensor {
        Tensor::from_vec(d.to_vec(), dims).unwrap()
    }

    fn names(m: &dyn Module) -> Vec<String> {
        m.named_params().into_iter().map(|(n, _)| n).collect()
    }

    /// First- (and optionally second-) order checks of `m` in its input and
    /// every parameter, the parameters fed through [`FastWeights`].
    fn check(m: &dyn Forward, x: Tensor, second_order: bool) {
        let params = m.params();
        let f = |v: &[Var]| {
            let mut fast = FastWeights::new();
            for (p, v) in params.iter().zip(&v[1..]) {
                fast.insert(p, v.clone());
            }
            to_autograd(m.forward_with(&fast, &v[0]))
        };
        let inputs: Vec<Tensor> = std::iter::once(x)
            .chain(params.iter().map(|p| p.value()))
            .collect();
        gradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
        if second_order {
            gradgradcheck(f, &inputs, GradcheckOptions::default()).unwrap();
        }
    }

    #[test]
    fn sequential_names_forward_and_mode() {
        let lin = |w: &[f32], b: &[f32], o: usize, i: usize| {
            Linear::from_params(Param::new(t(w, &[o, i])), Some(Param::new(t(b, &[o]))))
        };
        let mut net = Sequential::new()
            .with(lin(&[1.0, -1.0, 2.0, 0.5], &[0.0, -4.0], 2, 2))
            .with(Activation::Relu)
            .with(Dropout::new(0.5, 0).unwrap())
            .with(lin(&[3.0, 1.0], &[1.0], 1, 2));
        assert_eq!(names(&net), ["0.weight", "0.bias", "3.weight", "3.bias"]);
        assert_eq!((net.len(), net.is_empty()), (4, false));
        net.set_training(false); // reaches the dropout
                                 // x = [2, 1]: [2 − 1, 4 + 0.5 − 4] = [1, 0.5] → relu → 3 + 0.5 + 1.
        let y = net
            .forward(&Var::constant(t(&[2.0, 1.0], &[1, 2])))
            .unwrap();
        assert_eq!(y.value().data(), &[4.5]);
        let empty = Sequential::new();
        let x = Var::constant(t(&[1.0], &[1]));
        assert_eq!(empty.forward(&x).unwrap().value(), x.value());
    }

    #[test]
    fn mlp_names_by_hand_and_errors() {
        let mlp = Mlp::new(&[1, 2, 1], Activation::Tanh, 3).unwrap();
        assert_eq!(names(&mlp), ["0.weight", "0.bias", "2.weight", "2.bias"]);
        let p = mlp.params();
        p[0].set(t(&[1.0, -2.0], &[2, 1]));
        p[1].set(t(&[0.5, 0.0], &[2]));
        p[2].set(t(&[2.0, 1.0], &[1, 2]));
        p[3].set(t(&[-1.0], &[1]));
        let y = mlp.forward(&Var::constant(t(&[0.25], &[1, 1]))).unwrap();
        let expected = 2.0 * 0.75f32.tanh() + (-0.5f32).tanh() - 1.0;
        assert!((y.value().data()[0] - expected).abs() < 1e-6);
        // Held as `net`, as in the MAML anchors.
        struct Model(Mlp);
        impl Module for Model {
            fn visit(&self, c: &mut Collector) {
                c.child("net", &self.0);
            }
        }
        let model = Model(Mlp::new(&[1, 40, 40, 1], Activation::Relu, 0).unwrap());
        let sd = model.state_dict();
        let keys: Vec<&str> = sd.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "net.0.bias",
                "net.0.weight",
                "net.2.bias",
                "net.2.weight",
                "net.4.bias",
                "net.4.weight"
            ]
        );
        assert_eq!(sd["net.2.weight"].dims(), &[40, 40]);
        assert!(matches!(
            Mlp::new(&[3], Activation::Relu, 0),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Mlp::new(&[3, 0, 1], Activation::Relu, 0),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn residual_mlp_names_init_and_forward() {
        let how = LinearInit::XavierUniformZeroBias;
        let net = ResidualMlp::with_init(16, &[64, 32], 8, Activation::Gelu, how, 5).unwrap();
        let sd = net.state_dict();
        assert_eq!(sd["lin.0.weight"].dims(), &[64, 16]);
        assert_eq!(sd["proj.1.weight"].dims(), &[32, 64]);
        assert_eq!(sd["out.weight"].dims(), &[8, 32]);
        assert!(sd["lin.1.bias"].data().iter().all(|&b| b == 0.0));
        let bound = (6.0f32 / 80.0).sqrt();
        assert!(sd["lin.0.weight"].data().iter().all(|w| w.abs() <= bound));
        // Equal widths: identity skip, no `proj.1`.
        let same = ResidualMlp::new(2, &[3, 3], 1, Activation::Relu, 0).unwrap();
        assert_eq!(
            names(&same),
            [
                "lin.0.weight",
                "lin.0.bias",
                "lin.1.weight",
                "lin.1.bias",
                "proj.0.weight",
                "out.weight",
                "out.bias"
            ]
        );
        // By hand: 1 → [1] → 1, identity skip. h = relu(2x − 1) + x; y = 3h + 0.5.
        let tiny = ResidualMlp::new(1, &[1], 1, Activation::Relu, 0).unwrap();
        for (p, v) in tiny.params().iter().zip([2.0, -1.0, 3.0, 0.5]) {
            p.set(t(&[v], &p.dims()));
        }
        let y = tiny
            .forward(&Var::constant(t(&[2.0, 0.25], &[2, 1])))
            .unwrap();
        assert_eq!(
            y.value().data(),
            &[3.0 * (3.0 + 2.0) + 0.5, 3.0 * 0.25 + 0.5]
        );
        assert!(ResidualMlp::new(0, &[3], 1, Activation::Relu, 0).is_err());
    }

    #[test]
    fn linear_first_and_second_order() {
        let l = Linear::new(3, 2, 1);
        check(&l, t(&[0.3, -1.0, 2.0, 1.5, 0.2, -0.7], &[2, 3]), true);
    }

    #[test]
    fn mlp_second_order_with_every_activation() {
        // Inputs chosen so that no pre-activation sits near ReLU's kink.
        let x = t(&[0.9, -1.2, 0.4, 1.7], &[2, 2]);
        for act in Activation::ALL {
            let mlp = Mlp::new(&[2, 3, 2], act, 11).unwrap();
            check(&mlp, x.clone(), true);
        }
    }

    #[test]
    fn residual_mlp_first_and_second_order() {
        let how = LinearInit::XavierUniformZeroBias;
        let net = ResidualMlp::with_init(2, &[3, 3], 1, Activation::Gelu, how, 2).unwrap();
        check(&net, t(&[0.9, -1.2, 0.4, 1.7], &[2, 2]), true);
    }
}
