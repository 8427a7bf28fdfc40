//! Host side of shaders/fused.wgsl: many whole training steps of a small network in one
//! dispatch of one workgroup.

use super::{Bind, Dispatch};
use crate::error::{Error, Result};
use crate::gpu::{Binding, Gpu, Kernel, Shader, Tensor};
use crate::model::{Activation, Loss, Mlp};
use crate::optim::{OptimizerConfig, OptimizerKind};

/// Most dense layers (the output layer included) the fused kernel runs.
pub const MAX_LAYERS: usize = 4;
/// Widest layer, inputs included.
pub const MAX_WIDTH: usize = 16;
/// Most parameters in the flat layout (padding included).
pub const MAX_PARAMS: usize = 1024;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FusedParams {
    layers: u32,
    inputs: u32,
    outputs: u32,
    n_params: u32,
    steps: u32,
    loss: u32,
    optimizer: u32,
    n_real: u32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    momentum: f32,
    _pad1: [u32; 3],
    widths: [u32; 8],
    acts: [u32; 4],
    w_off: [u32; 4],
    b_off: [u32; 4],
    seg_start: [u32; 8],
    seg_len: [u32; 8],
}

static FUSED: Kernel = Kernel {
    shader: Shader::Fused,
    entry: "fused_steps",
    bindings: &[
        (0, Binding::Uniform),
        (1, Binding::Read),
        (2, Binding::Read),
        (3, Binding::Read),
        (4, Binding::Read),
        (5, Binding::ReadWrite),
        (6, Binding::ReadWrite),
        (7, Binding::ReadWrite),
        (8, Binding::ReadWrite),
    ],
};

/// Whether the fused kernel can train `model`: few, narrow layers and few parameters.
pub fn supports(model: &Mlp) -> bool {
    let spec = model.spec();
    model.layers().len() <= MAX_LAYERS
        && spec.inputs <= MAX_WIDTH
        && model.layers().iter().all(|l| l.outputs <= MAX_WIDTH)
        && model.params().len() <= MAX_PARAMS
}

/// Workgroup memory shaders/fused.wgsl declares: w, g and xfer (1024 floats each), red (64).
const WORKGROUP_BYTES: u32 = 4 * (3 * 1024 + 64);

/// Whether the device can run the fused kernel: it binds 8 storage buffers and keeps the
/// weights in 12.3 KiB of workgroup memory, more than some GL and mobile drivers allow.
pub fn fits(gpu: &Gpu) -> bool {
    let l = gpu.limits();
    FUSED.storage_buffers() <= l.max_storage_buffers_per_shader_stage
        && WORKGROUP_BYTES <= l.max_compute_workgroup_storage_size
        && 64 <= l.max_compute_invocations_per_workgroup
}

/// The fused step dispatch and its parameter buffer, whose step count changes per chunk.
pub struct FusedSteps {
    dispatch: Dispatch,
    params: wgpu::Buffer,
    values: FusedParams,
}

impl FusedSteps {
    /// The dispatch, ready to record.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }

    /// Sets how many steps (from the start of `steps`) the next recording runs.
    pub fn set_steps(&mut self, gpu: &Gpu, steps: usize) {
        self.values.steps = steps as u32;
        gpu.queue()
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&self.values));
    }
}

/// Builds the fused training dispatch of `model`.
// steps: (≥ steps run) Step structs; order: row order; x_all: (n, inputs);
// t_all: (n, outputs + 1); p, m, v: (params); losses: (slots)
#[allow(clippy::too_many_arguments)]
pub fn fused_steps(
    gpu: &Gpu,
    model: &Mlp,
    optimizer: &OptimizerConfig,
    steps: &Tensor,
    order: &Tensor,
    x_all: &Tensor,
    t_all: &Tensor,
    p: &Tensor,
    m: &Tensor,
    v: &Tensor,
    losses: &Tensor,
) -> Result<FusedSteps> {
    if !supports(model) {
        return Err(Error::Shape {
            op: "fused_steps",
            detail: format!(
                "the fused kernel runs at most {MAX_LAYERS} layers of width {MAX_WIDTH} and \
                 {MAX_PARAMS} parameters"
            ),
        });
    }
    let spec = model.spec();
    let layers = model.layers();
    let mut values = FusedParams {
        layers: layers.len() as u32,
        inputs: spec.inputs as u32,
        outputs: spec.outputs as u32,
        n_params: model.params().len() as u32,
        steps: 0,
        loss: match spec.loss {
            Loss::Bce => 0,
            Loss::SoftmaxCe => 1,
            Loss::Mse => 2,
        },
        optimizer: match optimizer.kind {
            OptimizerKind::Adam => 0,
            OptimizerKind::AdamW => 1,
            OptimizerKind::Sgd => 2,
        },
        n_real: model.num_params() as u32,
        beta1: optimizer.beta1,
        beta2: optimizer.beta2,
        eps: optimizer.eps,
        weight_decay: optimizer.weight_decay,
        momentum: optimizer.momentum,
        _pad1: [0; 3],
        widths: [0; 8],
        acts: [0; 4],
        w_off: [0; 4],
        b_off: [0; 4],
        seg_start: [0; 8],
        seg_len: [0; 8],
    };
    values.widths[0] = spec.inputs as u32;
    for (l, layer) in layers.iter().enumerate() {
        values.widths[l + 1] = layer.outputs as u32;
        values.w_off[l] = layer.weights.start as u32;
        values.b_off[l] = layer.bias.start as u32;
        values.seg_start[2 * l] = layer.weights.start as u32;
        values.seg_len[2 * l] = layer.weights.len() as u32;
        values.seg_start[2 * l + 1] = layer.bias.start as u32;
        values.seg_len[2 * l + 1] = layer.bias.len() as u32;
        values.acts[l] = match layer.activation {
            Some(Activation::Sigmoid) | None => 0,
            Some(Activation::Relu) => 1,
            Some(Activation::Tanh) => 2,
        };
    }
    let params = gpu.uniform("fused", &values);
    let dispatch = Dispatch::new(
        gpu,
        &FUSED,
        &[
            Bind::Params(&params),
            Bind::Tensor(steps),
            Bind::Tensor(order),
            Bind::Tensor(x_all),
            Bind::Tensor(t_all),
            Bind::Tensor(p),
            Bind::Tensor(m),
            Bind::Tensor(v),
            Bind::Tensor(losses),
        ],
        [1, 1, 1],
    )?;
    Ok(FusedSteps {
        dispatch,
        params,
        values,
    })
}
