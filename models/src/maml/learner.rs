//! The MAML meta-learner (Finn et al., 2017), optionally Meta-SGD (Li et al.,
//! 2017): an inner loop of SGD steps from shared initial parameters θ on each
//! task's support set, and a meta-loss on the query sets after adaptation,
//! differentiated through the inner steps.
//!
//! All tasks of a meta-batch run together: every parameter is broadcast to a
//! leading task axis (`[out, in]` → `[T, out, in]`, a bias `[n]` →
//! `[T, 1, n]`), so each layer runs one batched matmul for all tasks, and the
//! gradient of the summed per-task losses with respect to the broadcast
//! parameters is every task's own gradient. This needs a model whose forward
//! uses rank-2 parameters as `x·Wᵀ` weights and rank-1 parameters as biases
//! added to the last axis (every model built from `Linear` layers and
//! elementwise activations). [`Maml::meta_loss_per_task`] is the plain loop
//! over tasks for any model, and the test of the two giving the same
//! meta-gradient.

use super::tasks::Examples;
use ferrograd_autograd::{grad, GradOptions, Var};
use ferrograd_nn::{Error, FastWeights, Forward, Param, Result};
use ferrograd_tensor::{Indices, Tensor};

/// The loss adapted on and meta-trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskLoss {
    /// Mean squared error (regression; targets `[n, out]`).
    Mse,
    /// Cross-entropy from logits (classification; targets are class indices as f32 `[n]`).
    CrossEntropy,
}

impl TaskLoss {
    /// Per-task losses `[T]` of predictions `[T, n, out]` against targets
    /// stacked as `[T, n, out]` (MSE) or `[T, n]` (cross-entropy).
    pub fn per_task(&self, pred: &Var, target: &Tensor) -> Result<Var> {
        match self {
            TaskLoss::Mse => Ok(pred
                .sub(&Var::constant(target.clone()))?
                .square()
                .mean(&[1, 2], false)?),
            TaskLoss::CrossEntropy => {
                let logp = pred.log_softmax(-1)?;
                let mut dims = target.dims().to_vec();
                dims.push(1);
                let idx = Indices::new(target.data().iter().map(|&c| c as usize).collect(), &dims)?;
                Ok(logp.gather(-1, &idx)?.mean(&[1, 2], false)?.neg())
            }
        }
    }
}

/// Settings of the inner loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MamlConfig {
    /// SGD steps on the support set.
    pub inner_steps: usize,
    /// Inner learning rate α (the initial value of every learned rate under Meta-SGD).
    pub inner_lr: f32,
    /// Treat inner gradients as constants (first-order MAML).
    pub first_order: bool,
    /// The loss.
    pub loss: TaskLoss,
}

/// A meta-learner around a model with a functional forward.
pub struct Maml<M: Forward> {
    /// The model; its parameters are the meta-learned initialisation θ.
    pub model: M,
    /// Inner-loop settings.
    pub config: MamlConfig,
    /// Meta-SGD's learned per-parameter learning rates (same shapes as the
    /// parameters), or `None` for a fixed α.
    pub inner_lrs: Option<Vec<Param>>,
}

/// One task's support and query examples.
#[derive(Clone, Debug)]
pub struct TaskBatch {
    /// Examples adapted on.
    pub support: Examples,
    /// Examples the adapted model is scored on.
    pub query: Examples,
}

impl<M: Forward> Maml<M> {
    /// A meta-learner; `meta_sgd` adds learned per-parameter inner rates.
    pub fn new(model: M, config: MamlConfig, meta_sgd: bool) -> Maml<M> {
        let inner_lrs = meta_sgd.then(|| {
            model
                .params()
                .iter()
                .map(|p| Param::new(p.value().map(|_| config.inner_lr)))
                .collect()
        });
        Maml {
            model,
            config,
            inner_lrs,
        }
    }

    /// Everything meta-trained: θ, then the Meta-SGD rates if any.
    pub fn meta_params(&self) -> Vec<Param> {
        let mut p = self.model.params();
        if let Some(l) = &self.inner_lrs {
            p.extend(l.iter().cloned());
        }
        p
    }

    /// θ broadcast to `tasks` copies (see the module docs).
    fn broadcast_params(&self, tasks: usize) -> Result<Vec<Var>> {
        self.model
            .params()
            .into_iter()
            .map(|p| {
                let v = p.var();
                let mut dims = vec![tasks];
                if v.dims().len() == 1 {
                    dims.push(1);
                }
                dims.extend_from_slice(v.dims());
                let mut lead = vec![1; dims.len() - v.dims().len()];
                lead.extend_from_slice(v.dims());
                Ok(v.reshape(&lead)?
                    .broadcast_to(&ferrograd_tensor::Shape::new(&dims)?)?)
            })
            .collect()
    }

    /// Runs `steps` inner SGD steps from the parameter values `start` (one
    /// per model parameter), where `predict` maps fast weights to predictions
    /// `[T, n, out]` scored against `y`; `after_step(k, fast)` sees the fast
    /// weights after every step (and before the first, k = 0).
    fn inner_loop(
        &self,
        start: Vec<Var>,
        predict: &dyn Fn(&FastWeights) -> Result<Var>,
        y: &Tensor,
        steps: usize,
        create_graph: bool,
        after_step: &mut dyn FnMut(usize, &FastWeights) -> Result<()>,
    ) -> Result<FastWeights> {
        let params = self.model.params();
        let mut current = start;
        after_step(0, &fast_weights(&params, &current))?;
        for k in 1..=steps {
            let loss = self
                .config
                .loss
                .per_task(&predict(&fast_weights(&params, &current))?, y)?
                .sum_all();
            let refs: Vec<&Var> = current.iter().collect();
            let opts = GradOptions {
                create_graph,
                allow_unused: true,
            };
            let g = grad(&[&loss], &refs, None, opts)?;
            current = current
                .iter()
                .zip(&g)
                .enumerate()
                .map(|(i, (w, g))| {
                    let step = match &self.inner_lrs {
                        Some(rates) => g.mul(&rates[i].var())?,
                        None => g.mul_scalar(self.config.inner_lr),
                    };
                    Ok(w.sub(&step)?)
                })
                .collect::<Result<_>>()?;
            after_step(k, &fast_weights(&params, &current))?;
        }
        Ok(fast_weights(&params, &current))
    }

    /// `steps` inner SGD steps for all tasks at once from θ on inputs
    /// `[T, n, in]` and targets `[T, n, …]`; returns the fast weights. With
    /// `create_graph` the steps are recorded (second-order MAML); without it,
    /// inner gradients are constants (first-order MAML, and evaluation).
    pub fn adapt_batched(
        &self,
        x: &Tensor,
        y: &Tensor,
        steps: usize,
        create_graph: bool,
    ) -> Result<FastWeights> {
        let start = self.broadcast_params(x.dims()[0])?;
        let xv = Var::constant(x.clone());
        let predict = |f: &FastWeights| self.model.forward_with(f, &xv);
        self.inner_loop(start, &predict, y, steps, create_graph, &mut |_, _| Ok(()))
    }

    /// The meta-loss: the mean over tasks of the query loss after
    /// adaptation, all tasks batched. Differentiate it with respect to
    /// [`Maml::meta_params`].
    pub fn meta_loss(&self, tasks: &[TaskBatch]) -> Result<Var> {
        let b = Batched::new(tasks)?;
        let fast = self.adapt_batched(
            &b.xs,
            &b.ys,
            self.config.inner_steps,
            !self.config.first_order,
        )?;
        let pred = self.model.forward_with(&fast, &Var::constant(b.xq))?;
        Ok(self.config.loss.per_task(&pred, &b.yq)?.mean_all())
    }

    /// The same meta-loss computed one task at a time with unbatched
    /// parameters; works for any model with a functional forward.
    pub fn meta_loss_per_task(&self, tasks: &[TaskBatch]) -> Result<Var> {
        let mut total = Var::scalar(0.0);
        for t in tasks {
            let start: Vec<Var> = self.model.params().iter().map(Param::var).collect();
            let xs = Var::constant(t.support.x.clone());
            let predict = |f: &FastWeights| Ok(self.model.forward_with(f, &xs)?.unsqueeze(0)?);
            let ys = t.support.y.unsqueeze(0)?;
            let steps = self.config.inner_steps;
            let fast = self.inner_loop(
                start,
                &predict,
                &ys,
                steps,
                !self.config.first_order,
                &mut |_, _| Ok(()),
            )?;
            let pred = self
                .model
                .forward_with(&fast, &Var::constant(t.query.x.clone()))?
                .unsqueeze(0)?;
            let loss = self.config.loss.per_task(&pred, &t.query.y.unsqueeze(0)?)?;
            total = total.add(&loss.sum_all())?;
        }
        Ok(total.mul_scalar(1.0 / tasks.len().max(1) as f32))
    }

    /// Query losses per task after 0..=`max_steps` inner steps (outer index =
    /// steps), for evaluation; no meta-gradient is recorded.
    pub fn evaluate(&self, tasks: &[TaskBatch], max_steps: usize) -> Result<Vec<Vec<f32>>> {
        if tasks.is_empty() {
            return Err(Error::Config("maml evaluate: no tasks given".into()));
        }
        for (i, t) in tasks.iter().enumerate() {
            for (what, v) in [
                ("support inputs", &t.support.x),
                ("support targets", &t.support.y),
                ("query inputs", &t.query.x),
                ("query targets", &t.query.y),
            ] {
                crate::guard::finite_tensor(&format!("maml evaluate (task {i})"), what, v)?;
            }
        }
        let b = Batched::new(tasks)?;
        let xs = Var::constant(b.xs.clone());
        let xq = Var::constant(b.xq.clone());
        let predict = |f: &FastWeights| self.model.forward_with(f, &xs);
        let mut out = Vec::with_capacity(max_steps + 1);
        let mut record = |_: usize, f: &FastWeights| -> Result<()> {
            let pred = ferrograd_autograd::no_grad(|| self.model.forward_with(f, &xq))?;
            out.push(
                self.config
                    .loss
                    .per_task(&pred, &b.yq)?
                    .value()
                    .data()
                    .to_vec(),
            );
            Ok(())
        };
        let start = self.broadcast_params(tasks.len())?;
        self.inner_loop(start, &predict, &b.ys, max_steps, false, &mut record)?;
        for row in &out {
            crate::guard::finite_output("maml evaluate", row)?;
        }
        Ok(out)
    }
}

/// θ under the model's own names, and Meta-SGD's rates (if any) under
/// `meta_sgd_lr.<parameter name>`: what a checkpoint stores.
impl<M: Forward> ferrograd_nn::Module for Maml<M> {
    fn visit(&self, c: &mut ferrograd_nn::Collector) {
        self.model.visit(c);
        if let Some(rates) = &self.inner_lrs {
            for ((name, _), r) in self.model.named_params().iter().zip(rates) {
                c.param(&format!("meta_sgd_lr.{name}"), r);
            }
        }
    }
}

/// A meta-batch's fields stacked along a leading task axis.
struct Batched {
    xs: Tensor,
    ys: Tensor,
    xq: Tensor,
    yq: Tensor,
}

impl Batched {
    fn new(tasks: &[TaskBatch]) -> Result<Batched> {
        let field = |f: &dyn Fn(&TaskBatch) -> &Tensor| -> Result<Tensor> {
            let parts: Vec<&Tensor> = tasks.iter().map(f).collect();
            Ok(Tensor::stack(&parts, 0)?)
        };
        Ok(Batched {
            xs: field(&|t| &t.support.x)?,
            ys: field(&|t| &t.support.y)?,
            xq: field(&|t| &t.query.x)?,
            yq: field(&|t| &t.query.y)?,
        })
    }
}

fn fast_weights(params: &[Param], values: &[Var]) -> FastWeights {
    let mut f = FastWeights::new();
    for (p, v) in params.iter().zip(values) {
        f.insert(p, v.clone());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maml::tasks::{Sinusoid, TaskDistribution};
    use ferrograd_autograd::{gradcheck, GradcheckOptions};
    use ferrograd_nn::{Collector, Linear, Module, ParamSource};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// A 1-8-8-1 tanh network built from Linear layers.
    struct Net(Vec<Linear>);

    impl Module for Net {
        fn visit(&self, c: &mut Collector) {
            for (i, l) in self.0.iter().enumerate() {
                c.child(&i.to_string(), l);
            }
        }
    }

    impl Forward for Net {
        fn forward_with(&self, p: &dyn ParamSource, x: &Var) -> Result<Var> {
            let mut h = x.clone();
            for (i, l) in self.0.iter().enumerate() {
                h = l.forward_with(p, &h)?;
                if i + 1 < self.0.len() {
                    h = h.tanh();
                }
            }
            Ok(h)
        }
    }

    fn learner(first_order: bool, meta_sgd: bool) -> Maml<Net> {
        let net = Net(vec![
            Linear::new(1, 8, 1),
            Linear::new(8, 8, 2),
            Linear::new(8, 1, 3),
        ]);
        let config = MamlConfig {
            inner_steps: 2,
            inner_lr: 0.05,
            first_order,
            loss: TaskLoss::Mse,
        };
        Maml::new(net, config, meta_sgd)
    }

    fn tasks(n: usize) -> Vec<TaskBatch> {
        let mut rng = StdRng::seed_from_u64(9);
        (0..n)
            .map(|_| {
                let t = Sinusoid.sample_task(&mut rng);
                TaskBatch {
                    support: Sinusoid.sample(&t, 5, &mut rng),
                    query: Sinusoid.sample(&t, 6, &mut rng),
                }
            })
            .collect()
    }
    fn meta_grad(m: &Maml<Net>, batched: bool, tasks: &[TaskBatch]) -> Vec<Tensor> {
        let loss = if batched {
            m.meta_loss(tasks)
        } else {
            m.meta_loss_per_task(tasks)
        }
        .unwrap();
        let vars: Vec<Var> = m.meta_params().iter().map(Param::var).collect();
        let refs: Vec<&Var> = vars.iter().collect();
        grad(&[&loss], &refs, None, GradOptions::default())
            .unwrap()
            .into_iter()
            .map(|g| g.value().clone())
            .collect()
    }

    #[test]
    fn batched_and_per_task_meta_gradients_agree() {
        let t = tasks(4);
        for (fo, sgd) in [(false, false), (true, false), (false, true)] {
            let m = learner(fo, sgd);
            let a = meta_grad(&m, true, &t);
            let b = meta_grad(&m, false, &t);
            for (x, y) in a.iter().zip(&b) {
                assert!(x.max_abs_diff(y) < 1e-5, "first_order={fo} meta_sgd={sgd}");
            }
        }
    }

    #[test]
    fn second_order_meta_gradient_matches_finite_differences_and_differs_from_first_order() {
        let t = tasks(3);
        let m = learner(false, false);
        let theta: Vec<Tensor> = m.model.params().iter().map(Param::value).collect();
        let params = m.model.params();
        // The meta-loss as a function of θ, for the checker.
        let f = |vals: &[Var]| -> ferrograd_autograd::Result<Var> {
            // Route the checker's leaves in as the starting values of θ.
            let mut start = FastWeights::new();
            for (p, v) in params.iter().zip(vals) {
                start.insert(p, v.clone());
            }
            meta_loss_from(&m, &start, &t)
                .map_err(|e| ferrograd_autograd::Error::Invalid(e.to_string()))
        };
        let r = gradcheck(f, &theta, GradcheckOptions::default());
        assert!(r.is_ok(), "{r:?}");
        let second = meta_grad(&m, true, &t);
        let first = meta_grad(&learner(true, false), true, &t);
        let gap = second
            .iter()
            .zip(&first)
            .map(|(a, b)| a.max_abs_diff(b))
            .fold(0.0, f32::max);
        assert!(
            gap > 1e-3,
            "second- and first-order meta-gradients agree ({gap})"
        );
    }

    /// The per-task meta-loss starting from the given values of θ (leaves of
    /// the gradient checker) instead of the parameters' own leaves.
    fn meta_loss_from(m: &Maml<Net>, theta: &FastWeights, tasks: &[TaskBatch]) -> Result<Var> {
        let params = m.model.params();
        let mut total = Var::scalar(0.0);
        for t in tasks {
            let start: Vec<Var> = params.iter().map(|p| theta.var(p)).collect();
            let xs = Var::constant(t.support.x.clone());
            let predict = |f: &FastWeights| Ok(m.model.forward_with(f, &xs)?.unsqueeze(0)?);
            let ys = t.support.y.unsqueeze(0)?;
            let fast = m.inner_loop(
                start,
                &predict,
                &ys,
                m.config.inner_steps,
                true,
                &mut |_, _| Ok(()),
            )?;
            let pred = m
                .model
                .forward_with(&fast, &Var::constant(t.query.x.clone()))?
                .unsqueeze(0)?;
            total = total.add(
                &m.config
                    .loss
                    .per_task(&pred, &t.query.y.unsqueeze(0)?)?
                    .sum_all(),
            )?;
        }
        Ok(total.mul_scalar(1.0 / tasks.len() as f32))
    }

    #[test]
    fn evaluation_reports_every_step() {
        let m = learner(false, false);
        let r = m.evaluate(&tasks(5), 3).unwrap();
        assert_eq!(r.len(), 4);
        assert!(r
            .iter()
            .all(|row| row.len() == 5 && row.iter().all(|v| v.is_finite())));
    }
}
