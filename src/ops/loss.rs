//! Host side of shaders/loss.wgsl: binary cross-entropy from logits.

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Shader, StepSlots, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LossParams {
    n: u32,
    inv_batch: f32,
    _pad: [u32; 2],
}

static BCE_LOSS: Kernel = Kernel {
    shader: Shader::Loss,
    entry: "bce_loss",
    bindings: &[
        (0, Binding::Uniform),
        (1, Binding::Step),
        (2, Binding::Read),
        (3, Binding::Read),
        (4, Binding::ReadWrite),
    ],
};
static BCE_GRAD: Kernel = Kernel {
    shader: Shader::Loss,
    entry: "bce_grad",
    bindings: &[
        (0, Binding::Uniform),
        (2, Binding::Read),
        (3, Binding::Read),
        (4, Binding::ReadWrite),
    ],
};

fn params(gpu: &Gpu, n: usize, batch: usize) -> wgpu::Buffer {
    let p = LossParams {
        n: n as u32,
        inv_batch: 1.0 / batch as f32,
        _pad: [0; 2],
    };
    gpu.uniform("bce", &p)
}

/// `losses[step.loss_slot] = Σ_i bce(z_i, y_i) / batch`, in one workgroup (fixed order).
// z: (n), y: (n), losses: (slots); n = batch × outputs
pub fn bce_loss(
    gpu: &Gpu,
    z: &Tensor,
    y: &Tensor,
    losses: &Tensor,
    steps: &StepSlots,
    n: usize,
    batch: usize,
) -> Result<Dispatch> {
    expect_len("bce_loss", "z", z, n)?;
    expect_len("bce_loss", "y", y, n)?;
    let p = params(gpu, n, batch);
    Dispatch::new(
        gpu,
        &BCE_LOSS,
        &[
            Bind::Params(&p),
            Bind::Steps(steps),
            Bind::Tensor(z),
            Bind::Tensor(y),
            Bind::Tensor(losses),
        ],
        [1, 1, 1],
    )
}

/// dz = (σ(z) − y) / batch.
// z: (n), y: (n), dz: (n); n = batch × outputs
pub fn bce_grad(
    gpu: &Gpu,
    z: &Tensor,
    y: &Tensor,
    dz: &Tensor,
    n: usize,
    batch: usize,
) -> Result<Dispatch> {
    expect_len("bce_grad", "z", z, n)?;
    expect_len("bce_grad", "y", y, n)?;
    expect_len("bce_grad", "dz", dz, n)?;
    let p = params(gpu, n, batch);
    Dispatch::new(
        gpu,
        &BCE_GRAD,
        &[
            Bind::Params(&p),
            Bind::Tensor(z),
            Bind::Tensor(y),
            Bind::Tensor(dz),
        ],
        elementwise_grid(gpu, n),
    )
}
