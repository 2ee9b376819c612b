//! Conditional density estimation: p(x | f) for a 2-D (in general d-D)
//! target x given features f, with mixture density networks of full
//! covariance ([`mdn`]) and masked autoregressive flows ([`maf`]), on seeded
//! synthetic data sets with known densities ([`data`]).

pub mod config;
pub mod data;
pub mod maf;
pub mod mdn;
pub mod model;
pub mod plots;
pub mod source;
pub mod train;

pub use config::{CdeConfig, ModelKind};
pub use model::{load, CdeModel, Loaded, ModelSpec};
pub use train::{evaluate_checkpoint, train, EvalReport, TrainSummary};

use ferrograd_autograd::Var;
use ferrograd_nn::{Module, OwnParams, ParamSource, Result};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;

/// A conditional density model: exact log-densities and sampling.
pub trait ConditionalDensity: Module {
    /// Dimension d of x.
    fn dim(&self) -> usize;

    /// Dimension of the features f.
    fn features(&self) -> usize;

    /// `log p(x_i | f_i)` for each row: `x` is `[N, d]`, `f` is `[N, c]`,
    /// the result `[N]`; parameters read from `params`.
    fn log_prob_with(&self, params: &dyn ParamSource, x: &Var, f: &Var) -> Result<Var>;

    /// [`ConditionalDensity::log_prob_with`] with the model's own parameters.
    fn log_prob(&self, x: &Var, f: &Var) -> Result<Var> {
        self.log_prob_with(&OwnParams, x, f)
    }

    /// One sample of x for each feature row of `f` (`[N, c]` → `[N, d]`),
    /// drawn with `rng` (so a seed reproduces the samples).
    fn sample(&self, f: &Tensor, rng: &mut StdRng) -> Result<Tensor>;
}
