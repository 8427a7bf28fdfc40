//! Host side of shaders/sgd.wgsl: one dispatch updates every parameter of the model.

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Shader, StepSlots, Tensor};
use crate::optim::OptimizerConfig;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SgdParams {
    n: u32,
    momentum: f32,
    weight_decay: f32,
    _pad: u32,
}

static SGD: Kernel = Kernel {
    shader: Shader::Sgd,
    entry: "sgd",
    bindings: &[
        (0, Binding::Uniform),
        (1, Binding::Step),
        (2, Binding::Read),
        (3, Binding::ReadWrite),
        (4, Binding::ReadWrite),
    ],
};

/// One SGD-with-momentum step; the learning rate comes from the step slot.
// g: (n), p: (n), u: (n)
pub fn sgd(
    gpu: &Gpu,
    g: &Tensor,
    p: &Tensor,
    u: &Tensor,
    steps: &StepSlots,
    n: usize,
    config: &OptimizerConfig,
) -> Result<Dispatch> {
    for (name, t) in [("g", g), ("p", p), ("u", u)] {
        expect_len("sgd", name, t, n)?;
    }
    let params = SgdParams {
        n: n as u32,
        momentum: config.momentum,
        weight_decay: config.weight_decay,
        _pad: 0,
    };
    let params = gpu.uniform("sgd", &params);
    Dispatch::new(
        gpu,
        &SGD,
        &[
            Bind::Params(&params),
            Bind::Steps(steps),
            Bind::Tensor(g),
            Bind::Tensor(p),
            Bind::Tensor(u),
        ],
        elementwise_grid(gpu, n),
    )
}
