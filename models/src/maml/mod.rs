//! Model-agnostic meta-learning: the meta-learner, task families, the
//! sinusoid benchmark of Finn et al. (2017) and few-shot classification.

pub mod classification;
pub mod learner;
pub mod meta_train;
pub mod sinusoid;
pub mod stats;
pub mod tasks;
pub mod user_tasks;

pub use learner::{Maml, MamlConfig, TaskBatch, TaskLoss};
pub use tasks::{Examples, GaussianClusters, SineTask, Sinusoid, TaskDistribution};
