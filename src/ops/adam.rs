//! Host side of shaders/adam.wgsl: one dispatch updates every parameter of the model.

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Shader, StepSlots, Tensor};
use crate::optim::{OptimizerConfig, OptimizerKind};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AdamParams {
    n: u32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decoupled: u32,
    _pad: [u32; 2],
}

static ADAM: Kernel = Kernel {
    shader: Shader::Adam,
    entry: "adam",
    bindings: &[
        (0, Binding::Uniform),
        (1, Binding::Step),
        (2, Binding::Read),
        (3, Binding::ReadWrite),
        (4, Binding::ReadWrite),
        (5, Binding::ReadWrite),
    ],
};

/// One Adam or AdamW step (by `config.kind`); lr and bias corrections come from the step slot.
// g: (n), p: (n), m: (n), v: (n)
#[allow(clippy::too_many_arguments)]
pub fn adam(
    gpu: &Gpu,
    g: &Tensor,
    p: &Tensor,
    m: &Tensor,
    v: &Tensor,
    steps: &StepSlots,
    n: usize,
    config: &OptimizerConfig,
) -> Result<Dispatch> {
    for (name, t) in [("g", g), ("p", p), ("m", m), ("v", v)] {
        expect_len("adam", name, t, n)?;
    }
    let params = AdamParams {
        n: n as u32,
        beta1: config.beta1,
        beta2: config.beta2,
        eps: config.eps,
        weight_decay: config.weight_decay,
        decoupled: u32::from(config.kind == OptimizerKind::AdamW),
        _pad: [0; 2],
    };
    let params = gpu.uniform("adam", &params);
    Dispatch::new(
        gpu,
        &ADAM,
        &[
            Bind::Params(&params),
            Bind::Steps(steps),
            Bind::Tensor(g),
            Bind::Tensor(p),
            Bind::Tensor(m),
            Bind::Tensor(v),
        ],
        elementwise_grid(gpu, n),
    )
}
