//! The dispatches of a GPU training step, built once per trainer: the forward layers, the loss
//! and its gradient, the backward products and the optimiser, in the order they run.

use super::gpu::Buffers;
use crate::error::Result;
use crate::gpu::{Gpu, StepSlots, Tensor};
use crate::kernels::{self, Dispatch};
use crate::model::Mlp;
use crate::optim::{OptimizerConfig, OptimizerKind};

/// The flat parameter tensor's views of one layer's W and b.
pub(super) fn layer_views(params: &Tensor, layer: &crate::model::Layer) -> (Tensor, Tensor) {
    let w = params.slice(layer.weights.start as u64, layer.weights.len() as u64);
    let b = params.slice(layer.bias.start as u64, layer.bias.len() as u64);
    (w, b)
}

/// Buffers of one forward pass: `acts[0]` the input rows, `acts[l + 1]` layer `l`'s output.
pub(super) fn activation_buffers(gpu: &Gpu, model: &Mlp, rows: usize) -> Result<Vec<Tensor>> {
    let mut widths = vec![model.spec().inputs];
    widths.extend(model.layers().iter().map(|l| l.outputs));
    widths
        .iter()
        .map(|w| gpu.zeros("activations", rows * w))
        .collect()
}

/// Forward dispatches for `rows` rows: one per layer (matmul with bias and activation fused).
pub(super) fn forward_plan(
    gpu: &Gpu,
    model: &Mlp,
    params: &Tensor,
    acts: &[Tensor],
    rows: usize,
    plan: &mut Vec<Dispatch>,
) -> Result<()> {
    for (l, layer) in model.layers().iter().enumerate() {
        let (w, b) = layer_views(params, layer);
        plan.push(kernels::matmul::linear(
            gpu,
            &acts[l],
            &w,
            &b,
            layer.activation,
            &acts[l + 1],
            rows,
            layer.outputs,
            layer.inputs,
        )?);
    }
    Ok(())
}

/// The dispatches of one training step over `rows` rows.
pub(super) fn step_plan(
    gpu: &Gpu,
    model: &Mlp,
    bufs: &Buffers,
    slots: &StepSlots,
    optimizer: &OptimizerConfig,
    rows: usize,
) -> Result<Vec<Dispatch>> {
    let layers = model.layers();
    let spec = model.spec();
    let mut plan = Vec::new();
    plan.push(kernels::gather::gather(
        gpu,
        &bufs.order,
        &bufs.x_all,
        &bufs.t_all,
        &bufs.acts[0],
        &bufs.t_batch,
        slots,
        rows,
        spec.inputs,
        spec.outputs + 1,
    )?);
    forward_plan(gpu, model, &bufs.params, &bufs.acts, rows, &mut plan)?;

    let logits = &bufs.acts[layers.len()];
    let top = &bufs.deltas[layers.len() - 1];
    let targets = &bufs.t_batch;
    plan.push(kernels::loss::loss_and_grad(
        gpu,
        spec.loss,
        logits,
        targets,
        &bufs.losses,
        top,
        slots,
        rows,
        spec.outputs,
        rows,
    )?);

    for (l, layer) in layers.iter().enumerate().rev() {
        let delta = &bufs.deltas[l];
        let (w, _) = layer_views(&bufs.params, layer);
        let (dw, db) = layer_views(&bufs.grads, layer);
        plan.push(kernels::matmul::matmul_tn(
            gpu,
            &bufs.acts[l],
            delta,
            &dw,
            layer.inputs,
            layer.outputs,
            rows,
        )?);
        plan.push(kernels::bias::bias_grad(
            gpu,
            delta,
            &db,
            rows,
            layer.outputs,
        )?);
        if l > 0 {
            let below = &bufs.deltas[l - 1];
            plan.push(kernels::matmul::matmul_nt(
                gpu,
                delta,
                &w,
                below,
                rows,
                layer.inputs,
                layer.outputs,
            )?);
            let act = layers[l - 1]
                .activation
                .expect("hidden layers have an activation");
            plan.push(kernels::activation::activation_backward(
                gpu,
                act,
                &bufs.acts[l],
                below,
                rows * layer.inputs,
            )?);
        }
    }
    let n = model.params().len();
    plan.push(match optimizer.kind {
        OptimizerKind::Adam | OptimizerKind::AdamW => kernels::adam::adam(
            gpu,
            &bufs.grads,
            &bufs.params,
            &bufs.m,
            &bufs.v,
            slots,
            n,
            optimizer,
        )?,
        OptimizerKind::Sgd => {
            kernels::sgd::sgd(gpu, &bufs.grads, &bufs.params, &bufs.m, slots, n, optimizer)?
        }
    });
    Ok(plan)
}
