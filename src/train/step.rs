//! The dispatches of a GPU training step, built once per trainer: the forward layers, the loss
//! and its gradient, the backward products and the optimiser, in the order they run. Every
//! dispatch trains [`Side::count`] models of one shape side by side, one layer of its grid
//! each: a lone trainer's one, or a group's folds and candidates (src/train/group/).

use crate::error::Result;
use crate::gpu::{Gpu, StepSlots, Tensor};
use crate::kernels::matmul::Models;
use crate::kernels::{self, Dispatch};
use crate::model::Mlp;
use crate::optim::{OptimizerConfig, OptimizerKind};

/// Models side by side: how many, and how far apart their parameters (and gradients and
/// optimiser state) lie. Each one's activations, deltas and batch lie one after another.
#[derive(Clone, Copy, Debug)]
pub(super) struct Side {
    pub(super) count: usize,
    /// Floats from one model's parameters to the next's.
    pub(super) stride: usize,
}

impl Side {
    /// One model.
    pub(super) fn one(model: &Mlp) -> Side {
        Side {
            count: 1,
            stride: model.params().len(),
        }
    }

    /// A layer's product for each model, its A, B and C `a`, `b` and `c` floats apart (the
    /// bias, a parameter, `stride`).
    fn models(&self, a: usize, b: usize, c: usize) -> Models {
        Models {
            count: self.count,
            a,
            b,
            c,
            bias: self.stride,
        }
    }
}

/// What a step's dispatches bind: a lone trainer's buffers or a group's.
pub(super) struct StepBuffers<'a> {
    /// Every model's parameters, gradients and optimiser state, a stride apart.
    pub(super) params: &'a Tensor,
    pub(super) grads: &'a Tensor,
    pub(super) m: &'a Tensor,
    pub(super) v: &'a Tensor,
    /// The rows (and row maps), their targets and weights, and the epochs' row orders.
    pub(super) x_all: &'a Tensor,
    pub(super) t_all: &'a Tensor,
    pub(super) order: &'a Tensor,
    /// Each model's batch of targets, its activations and its deltas.
    pub(super) t_batch: &'a Tensor,
    pub(super) acts: &'a [Tensor],
    pub(super) deltas: &'a [Tensor],
    /// The step losses.
    pub(super) losses: &'a Tensor,
}

/// The flat parameter tensor's views of one layer's W and b, for every model side by side
/// (model 0's, and the others' `side.stride` floats after each).
pub(super) fn layer_views(
    params: &Tensor,
    layer: &crate::model::Layer,
    side: Side,
) -> (Tensor, Tensor) {
    let span = |len: usize| kernels::span(side.count, side.stride, len) as u64;
    let w = params.slice(layer.weights.start as u64, span(layer.weights.len()));
    let b = params.slice(layer.bias.start as u64, span(layer.bias.len()));
    (w, b)
}

/// Buffers of one forward pass of `models` models: `acts[0]` the input rows, `acts[l + 1]`
/// layer `l`'s output, each (models, rows, width).
pub(super) fn activation_buffers(
    gpu: &Gpu,
    model: &Mlp,
    rows: usize,
    models: usize,
) -> Result<Vec<Tensor>> {
    let mut widths = vec![model.spec().inputs];
    widths.extend(model.layers().iter().map(|l| l.outputs));
    widths
        .iter()
        .map(|w| gpu.zeros("activations", models * rows * w))
        .collect()
}

/// Forward dispatches for `rows` rows of each model: one per layer (matmul with bias and
/// activation fused).
pub(super) fn forward_plan(
    gpu: &Gpu,
    model: &Mlp,
    params: &Tensor,
    acts: &[Tensor],
    rows: usize,
    side: Side,
    plan: &mut Vec<Dispatch>,
) -> Result<()> {
    for (l, layer) in model.layers().iter().enumerate() {
        let (w, b) = layer_views(params, layer, side);
        let (inputs, outputs) = (layer.inputs, layer.outputs);
        plan.push(kernels::matmul::linear(
            gpu,
            &acts[l],
            &w,
            &b,
            layer.activation,
            &acts[l + 1],
            rows,
            outputs,
            inputs,
            side.models(rows * inputs, side.stride, rows * outputs),
        )?);
    }
    Ok(())
}

/// The dispatches of one training step over batches of at most `rows` rows: each model's
/// step (in `slots`, one per model) says how many of them it trains on, and where.
pub(super) fn step_plan(
    gpu: &Gpu,
    model: &Mlp,
    bufs: &StepBuffers<'_>,
    slots: &StepSlots,
    optimizer: &OptimizerConfig,
    rows: usize,
    side: Side,
) -> Result<Vec<Dispatch>> {
    debug_assert_eq!(slots.models(), side.count);
    let layers = model.layers();
    let spec = model.spec();
    let mut plan = Vec::new();
    plan.push(kernels::gather::gather(
        gpu,
        bufs.order,
        bufs.x_all,
        bufs.t_all,
        &bufs.acts[0],
        bufs.t_batch,
        slots,
        rows,
        spec.inputs,
        spec.outputs + 1,
        spec.loss,
    )?);
    forward_plan(gpu, model, bufs.params, bufs.acts, rows, side, &mut plan)?;

    let logits = &bufs.acts[layers.len()];
    let top = &bufs.deltas[layers.len() - 1];
    let targets = bufs.t_batch;
    plan.push(kernels::loss::loss_and_grad(
        gpu,
        spec.loss,
        logits,
        targets,
        bufs.losses,
        top,
        slots,
        rows,
        spec.outputs,
    )?);

    for (l, layer) in layers.iter().enumerate().rev() {
        let delta = &bufs.deltas[l];
        let (inputs, outputs) = (layer.inputs, layer.outputs);
        let (w, _) = layer_views(bufs.params, layer, side);
        let (dw, db) = layer_views(bufs.grads, layer, side);
        plan.push(kernels::matmul::matmul_tn(
            gpu,
            &bufs.acts[l],
            delta,
            &dw,
            inputs,
            outputs,
            rows,
            side.models(rows * inputs, rows * outputs, side.stride),
        )?);
        plan.push(kernels::bias::bias_grad(
            gpu,
            delta,
            &db,
            rows,
            outputs,
            side.count,
            side.stride,
        )?);
        if l > 0 {
            let below = &bufs.deltas[l - 1];
            plan.push(kernels::matmul::matmul_nt(
                gpu,
                delta,
                &w,
                below,
                rows,
                inputs,
                outputs,
                side.models(rows * outputs, side.stride, rows * inputs),
            )?);
            let act = layers[l - 1]
                .activation
                .expect("hidden layers have an activation");
            plan.push(kernels::activation::activation_backward(
                gpu,
                act,
                &bufs.acts[l],
                below,
                side.count * rows * inputs,
            )?);
        }
    }
    let n = model.params().len();
    plan.push(match optimizer.kind {
        OptimizerKind::Adam | OptimizerKind::AdamW => kernels::adam::adam(
            gpu,
            bufs.grads,
            bufs.params,
            bufs.m,
            bufs.v,
            slots,
            n,
            side.stride,
            optimizer,
        )?,
        OptimizerKind::Sgd => kernels::sgd::sgd(
            gpu,
            bufs.grads,
            bufs.params,
            bufs.m,
            slots,
            n,
            side.stride,
            optimizer,
        )?,
    });
    Ok(plan)
}
