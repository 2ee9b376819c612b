//! `flowmatch_step`: the training step of `ferrograd flow train`, defined in
//! `benches/reference/flowmatch_step.py` (this project's PyTorch reference,
//! written in the anchors' conventions; not part of `../shared/anchors`).

use super::{adam, AnchorError, Dump, Result, Workload};
use ferrograd_models::flow::matching::flow_loss_at;
use ferrograd_models::flow::model::{FlowConfig, FlowModel};
use ferrograd_nn::optim::{clip_grad_norm, Adam, Optimizer};
use ferrograd_nn::Module;
use ferrograd_tensor::Tensor;
use std::path::Path;

const BATCH: usize = 32;
const POINTS: usize = 500;
const CLIP: f32 = 1.0;

/// `flowmatch_step`: [`FlowModel`] with the default [`FlowConfig`] (PointNet
/// 2 → 64 → 128 → 64, three AdaLN blocks of width 128, velocity target) on
/// 32 MNIST fours of 500 points at the dump's times and noise; MSE loss,
/// global gradient norm clipped to 1.0, Adam 1e-3.
pub struct FlowmatchStep {
    model: FlowModel,
    opt: Adam,
    x0: Tensor,
    t: Vec<f32>,
    eps: Tensor,
}

impl FlowmatchStep {
    /// The workload from a `flowmatch_step` dump.
    pub fn from_dump(path: impl AsRef<Path>) -> Result<FlowmatchStep> {
        let dump = Dump::load(path)?;
        dump.expect_workload("flowmatch_step")?;
        let model = FlowModel::new(FlowConfig::default(), 0).map_err(AnchorError::from)?;
        dump.load_into(&model)?;
        let opt = adam(model.params(), 1e-3)?;
        Ok(FlowmatchStep {
            x0: dump.batch_tensor("x0", &[BATCH, POINTS, 2])?,
            t: dump.batch_tensor("t", &[BATCH])?.data().to_vec(),
            eps: dump.batch_tensor("eps", &[BATCH, POINTS, 2])?,
            model,
            opt,
        })
    }

    /// One clipped Adam step; returns the loss before it.
    pub fn step(&mut self) -> Result<f32> {
        self.opt.zero_grad();
        let loss = flow_loss_at(&self.model, &self.x0, &self.t, &self.eps, 0)?.total;
        loss.backward()?;
        clip_grad_norm(self.opt.params(), CLIP)?;
        self.opt.step()?;
        Ok(loss.item()?)
    }

    /// The model.
    pub fn model(&self) -> &FlowModel {
        &self.model
    }
}

impl Workload for FlowmatchStep {
    const NAME: &'static str = "flowmatch_step";

    fn from_dump(path: &Path) -> Result<Self> {
        FlowmatchStep::from_dump(path)
    }

    fn step(&mut self) -> Result<f32> {
        FlowmatchStep::step(self)
    }
}
