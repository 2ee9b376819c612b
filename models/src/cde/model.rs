//! The model of a `cde` run: a [`Maf`] or an [`Mdn`] on normalised data,
//! x̃ = (x − μx)/σx and f̃ = (f − μf)/σf, reporting densities in the data's
//! own units: log p(x | f) = log p̃(x̃ | f̃) − Σⱼ log σxⱼ.
//!
//! Its state dict holds the inner model under `model.` and the statistics
//! as buffers `x_norm.mean`, `x_norm.std`, `f_norm.mean`, `f_norm.std`
//! (identity for the built-in data sets, fitted on the training split of a
//! user's CSV). Its checkpoints record every hyper-parameter of the inner
//! model under the metadata key [`META_MODEL`], so loading never fills one
//! from a library default.

use super::config::CdeConfig;
use super::maf::{Made, Maf, MafConfig};
use super::mdn::{Mdn, MdnConfig};
use super::ConditionalDensity;
use crate::run::{check_claimed_size, family_config};
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::checkpoint::Checkpoint;
use ferrograd_nn::train::derive_seed;
use ferrograd_nn::{Buffer, Collector, Error, Module, Normalizer, ParamSource, Result};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The family name in `cde` checkpoints.
pub const FAMILY: &str = "cde";
/// Checkpoint metadata key of the inner model's full [`ModelSpec`].
pub const META_MODEL: &str = "model";

/// Every hyper-parameter of the inner model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelSpec {
    /// A masked autoregressive flow.
    Maf(MafConfig),
    /// A mixture density network.
    Mdn(MdnConfig),
}

impl ModelSpec {
    /// The number of weight and bias values a model of this description
    /// holds (at least one per MADE block), `None` if it overflows `usize`.
    /// Computed without building anything, so a loader can refuse a
    /// description that claims more values than its file holds before any
    /// allocation.
    pub fn value_count(&self) -> Option<usize> {
        // Dense layers through `widths`, each `in` inputs plus `extra`
        // feature columns: weights and biases.
        fn dense(widths: &[usize], extra: usize) -> Option<usize> {
            widths.windows(2).try_fold(0usize, |acc, w| {
                let inputs = w[0].checked_add(extra)?;
                acc.checked_add(inputs.checked_mul(w[1])?.checked_add(w[1])?)
            })
        }
        match self {
            ModelSpec::Maf(c) => {
                let out = c.dim.checked_mul(2)?;
                let per_block = if c.hidden.is_empty() {
                    dense(&[c.dim.checked_add(c.features)?, out], 0)?
                } else {
                    let mut widths = vec![c.dim];
                    widths.extend(&c.hidden);
                    let last = *c.hidden.last()?;
                    dense(&widths, c.features)?.checked_add(dense(&[last, out], 0)?)?
                };
                c.flows.checked_mul(per_block.max(1))
            }
            ModelSpec::Mdn(c) => {
                let d = c.dim;
                let lower = d.checked_mul(d.saturating_sub(1))? / 2;
                let head = 1usize
                    .checked_add(d.checked_mul(2)?)?
                    .checked_add(lower)?
                    .checked_mul(c.components)?;
                let mut widths = vec![c.features];
                widths.extend(&c.hidden);
                widths.push(head);
                dense(&widths, 0)
            }
        }
    }
}

/// The inner density model.
pub enum Inner {
    /// A masked autoregressive flow.
    Maf(Maf),
    /// A mixture density network.
    Mdn(Mdn),
}

/// A density model with its normalisation (see the module docs).
pub struct CdeModel {
    /// The model of the normalised data.
    pub inner: Inner,
    x_mean: Buffer,
    x_std: Buffer,
    f_mean: Buffer,
    f_std: Buffer,
}

fn vector(values: &[f32]) -> Result<Tensor> {
    Ok(Tensor::from_slice(values, &[values.len()])?)
}

impl CdeModel {
    /// A freshly initialised model of `spec` (seeded) with normalisations
    /// `x_norm` (of the d targets) and `f_norm` (of the c features).
    pub fn new(
        spec: &ModelSpec,
        seed: u64,
        x_norm: &Normalizer,
        f_norm: &Normalizer,
    ) -> Result<CdeModel> {
        let inner = match spec {
            ModelSpec::Maf(c) => Inner::Maf(Maf::new(c.clone(), seed)?),
            ModelSpec::Mdn(c) => Inner::Mdn(Mdn::new(c.clone(), seed)?),
        };
        let m = CdeModel {
            inner,
            x_mean: Buffer::new(vector(x_norm.mean())?),
            x_std: Buffer::new(vector(x_norm.std())?),
            f_mean: Buffer::new(vector(f_norm.mean())?),
            f_std: Buffer::new(vector(f_norm.std())?),
        };
        let (d, c) = (m.density_inner().dim(), m.density_inner().features());
        if x_norm.features() != d || f_norm.features() != c {
            return Err(Error::Config(format!(
                "cde: normalisation of {} targets and {} features for a model of {d} and {c}",
                x_norm.features(),
                f_norm.features()
            )));
        }
        Ok(m)
    }

    /// The model of a run's configuration on data of `d` targets and `c`
    /// features, with identity normalisation.
    pub fn from_config(cfg: &CdeConfig, d: usize, c: usize) -> Result<CdeModel> {
        cfg.validate()?;
        CdeModel::new(
            &spec_of(cfg, d, c),
            derive_seed(cfg.seed, "init"),
            &Normalizer::identity(d),
            &Normalizer::identity(c),
        )
    }

    /// The inner model as a density of the normalised data.
    pub fn density_inner(&self) -> &dyn ConditionalDensity {
        match &self.inner {
            Inner::Maf(m) => m,
            Inner::Mdn(m) => m,
        }
    }

    /// The full hyper-parameters of the inner model.
    pub fn spec(&self) -> ModelSpec {
        match &self.inner {
            Inner::Maf(m) => ModelSpec::Maf(m.config().clone()),
            Inner::Mdn(m) => ModelSpec::Mdn(m.config().clone()),
        }
    }

    /// The target normalisation.
    pub fn x_norm(&self) -> Result<Normalizer> {
        Normalizer::new(
            self.x_mean.value().data().to_vec(),
            self.x_std.value().data().to_vec(),
        )
    }

    /// The feature normalisation.
    pub fn f_norm(&self) -> Result<Normalizer> {
        Normalizer::new(
            self.f_mean.value().data().to_vec(),
            self.f_std.value().data().to_vec(),
        )
    }

    /// Σⱼ log σxⱼ, the normalisation's log-Jacobian.
    pub fn log_jacobian(&self) -> f32 {
        self.x_std.value().data().iter().map(|s| s.ln()).sum()
    }

    /// `log p(x | f)` of every row, in chunks, without recording a graph.
    /// A NaN or an infinity in `x` or `f`, or a density that is not finite
    /// (a row far outside the training data), is an error.
    pub fn log_prob_values(&self, x: &Tensor, f: &Tensor) -> Result<Vec<f32>> {
        crate::guard::finite_tensor("cde log_prob", "x", x)?;
        crate::guard::finite_tensor("cde log_prob", "features", f)?;
        let lp = super::train::log_prob_values(self, x, f)?;
        crate::guard::finite_output("cde log_prob", &lp)?;
        Ok(lp)
    }

    /// `n` samples of x `[n, d]` at one feature vector, seeded; a
    /// non-finite feature or sample is an error.
    pub fn sample_at_features(&self, features: &[f32], n: usize, seed: u64) -> Result<Tensor> {
        let c = self.features();
        if features.len() != c {
            return Err(Error::Config(format!(
                "cde sample: the model has {c} feature column(s), {} value(s) given",
                features.len()
            )));
        }
        crate::guard::finite_input("cde sample", "features", features, c)?;
        let f = Tensor::from_vec(features.repeat(n), &[n, c])?;
        let mut rng = StdRng::seed_from_u64(seed);
        let x = no_grad(|| self.sample(&f, &mut rng))?;
        crate::guard::finite_output("cde sample", x.data())?;
        Ok(x)
    }

    /// `n` samples of x at the single feature value `feature`, seeded.
    pub fn sample_at(&self, feature: f32, n: usize, seed: u64) -> Result<Tensor> {
        self.sample_at_features(&[feature], n, seed)
    }

    /// Checks the buffers that carry structure: every MADE mask must be 0/1
    /// and exactly the mask of the recorded degree rule; the normalisation
    /// must have finite means and positive finite deviations. Errors name
    /// the tensor.
    pub fn check_structure(&self) -> std::result::Result<(), String> {
        for (name, b) in [("x_norm.std", &self.x_std), ("f_norm.std", &self.f_std)] {
            if let Some(v) = b
                .value()
                .data()
                .iter()
                .find(|v| !(v.is_finite() && **v > 0.0))
            {
                return Err(format!(
                    "tensor '{name}' holds {v}: a deviation must be positive and finite"
                ));
            }
        }
        for (name, b) in [("x_norm.mean", &self.x_mean), ("f_norm.mean", &self.f_mean)] {
            if let Some(v) = b.value().data().iter().find(|v| !v.is_finite()) {
                return Err(format!("tensor '{name}' holds {v}: a mean must be finite"));
            }
        }
        let Inner::Maf(maf) = &self.inner else {
            return Ok(());
        };
        let c = maf.config();
        let expected = Made::masks(c.dim, c.features, &c.hidden, c.degrees);
        for (i, block) in maf.blocks.iter().enumerate() {
            for (l, layer) in block.net.iter().enumerate() {
                let name = format!("model.blocks.{i}.net.{l}.mask");
                let got = layer.mask.value();
                let want = &expected[l];
                let cols = want.dims()[1];
                for (k, (&g, &w)) in got.data().iter().zip(want.data()).enumerate() {
                    let (r, col) = (k / cols, k % cols);
                    if g != 0.0 && g != 1.0 {
                        return Err(format!(
                            "tensor '{name}' holds {g} at [{r}, {col}]: a MADE mask must be 0 or 1"
                        ));
                    }
                    if g != w {
                        let what = if g == 1.0 {
                            "opens a connection that the autoregressive degree rule forbids"
                        } else {
                            "closes a connection that the recorded degree rule opens"
                        };
                        return Err(format!(
                            "tensor '{name}' {what} at [{r}, {col}] (rule {:?})",
                            c.degrees
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The inner model's hyper-parameters for `cfg` on `d` targets and `c`
/// features.
pub fn spec_of(cfg: &CdeConfig, d: usize, c: usize) -> ModelSpec {
    match cfg.model {
        super::config::ModelKind::Maf => ModelSpec::Maf(cfg.maf_config(d, c)),
        super::config::ModelKind::Mdn => ModelSpec::Mdn(cfg.mdn_config(d, c)),
    }
}

impl Module for CdeModel {
    fn visit(&self, c: &mut Collector) {
        match &self.inner {
            Inner::Maf(m) => c.child("model", m),
            Inner::Mdn(m) => c.child("model", m),
        }
        c.buffer("x_norm.mean", &self.x_mean);
        c.buffer("x_norm.std", &self.x_std);
        c.buffer("f_norm.mean", &self.f_mean);
        c.buffer("f_norm.std", &self.f_std);
    }
}

fn standardise(v: &Var, mean: &Buffer, std: &Buffer) -> Result<Var> {
    Ok(v.sub(&Var::constant(mean.value()))?
        .div(&Var::constant(std.value()))?)
}

impl ConditionalDensity for CdeModel {
    fn dim(&self) -> usize {
        self.density_inner().dim()
    }

    fn features(&self) -> usize {
        self.density_inner().features()
    }

    fn log_prob_with(&self, params: &dyn ParamSource, x: &Var, f: &Var) -> Result<Var> {
        let xt = standardise(x, &self.x_mean, &self.x_std)?;
        let ft = standardise(f, &self.f_mean, &self.f_std)?;
        let lp = self.density_inner().log_prob_with(params, &xt, &ft)?;
        Ok(lp.add_scalar(-self.log_jacobian()))
    }

    fn sample(&self, f: &Tensor, rng: &mut StdRng) -> Result<Tensor> {
        let ft = self.f_norm()?.normalize(f)?;
        let xt = self.density_inner().sample(&ft, rng)?;
        self.x_norm()?.denormalize(&xt)
    }
}

/// A `cde` checkpoint: its run's configuration, the model, the file.
pub struct Loaded {
    /// The run's configuration.
    pub config: CdeConfig,
    /// The model, its parameters loaded and its structure checked.
    pub model: CdeModel,
    /// The checkpoint (metadata and tensors).
    pub checkpoint: Checkpoint,
}

/// Loads a checkpoint written by `cde train`: the model is rebuilt from
/// the hyper-parameters recorded in the file, and its masks and
/// normalisation are checked. A checkpoint of another family or a damaged
/// one is an [`Error::Format`] naming the file and the problem.
pub fn load(path: impl AsRef<Path>) -> Result<Loaded> {
    let path = path.as_ref();
    from_checkpoint(Checkpoint::load(path)?, path)
}

/// [`load`] for a checkpoint already read; `path` is the file named in
/// errors.
pub fn from_checkpoint(checkpoint: Checkpoint, path: &Path) -> Result<Loaded> {
    let bad = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let (checkpoint, config): (Checkpoint, CdeConfig) = family_config(checkpoint, path, FAMILY)?;
    let spec: ModelSpec = checkpoint
        .json(META_MODEL)
        .map_err(|e| bad(format!("the model description does not parse: {e}")))?
        .ok_or_else(|| {
            bad(format!(
                "metadata '{META_MODEL}' (the model's hyper-parameters) is missing"
            ))
        })?;
    // A description claiming more values than the file holds cannot fit
    // it: refuse it before building (and allocating) the model.
    check_claimed_size(spec.value_count(), &checkpoint, path)?;
    let (d, c) = match &spec {
        ModelSpec::Maf(m) => (m.dim, m.features),
        ModelSpec::Mdn(m) => (m.dim, m.features),
    };
    let model = CdeModel::new(&spec, 0, &Normalizer::identity(d), &Normalizer::identity(c))
        .map_err(|e| bad(format!("bad model description: {e}")))?;
    checkpoint
        .load_into(&model)
        .map_err(|e| bad(format!("the tensors do not fit the recorded model: {e}")))?;
    model.check_structure().map_err(bad)?;
    Ok(Loaded {
        config,
        model,
        checkpoint,
    })
}

/// The metadata of a `cde` checkpoint of `model` trained with `cfg`.
pub fn metadata(cfg: &CdeConfig, model: &CdeModel) -> Result<BTreeMap<String, String>> {
    let mut ckpt = crate::run::family_metadata(FAMILY, cfg)?;
    ckpt.set_json(META_MODEL, &model.spec())?;
    Ok(ckpt.metadata)
}
