//! Host side of shaders/activation.wgsl.

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Shader, Tensor};
use crate::model::Activation;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ActParams {
    n: u32,
    _pad: [u32; 3],
}

const FORWARD: &[(u32, Binding)] = &[(0, Binding::Uniform), (2, Binding::ReadWrite)];
const BACKWARD: &[(u32, Binding)] = &[
    (0, Binding::Uniform),
    (1, Binding::Read),
    (2, Binding::ReadWrite),
];

macro_rules! kernel {
    ($name:ident, $entry:literal, $bindings:expr) => {
        static $name: Kernel = Kernel {
            shader: Shader::Activation,
            entry: $entry,
            bindings: $bindings,
        };
    };
}
kernel!(SIGMOID_FORWARD, "sigmoid_forward", FORWARD);
kernel!(RELU_FORWARD, "relu_forward", FORWARD);
kernel!(TANH_FORWARD, "tanh_forward", FORWARD);
kernel!(SIGMOID_BACKWARD, "sigmoid_backward", BACKWARD);
kernel!(RELU_BACKWARD, "relu_backward", BACKWARD);
kernel!(TANH_BACKWARD, "tanh_backward", BACKWARD);

fn params(gpu: &Gpu, n: usize) -> wgpu::Buffer {
    gpu.uniform(
        "activation",
        &ActParams {
            n: n as u32,
            _pad: [0; 3],
        },
    )
}

/// x ← act(x), in place.
// x: (n)
pub fn activation_forward(gpu: &Gpu, act: Activation, x: &Tensor, n: usize) -> Result<Dispatch> {
    let kernel = match act {
        Activation::Sigmoid => &SIGMOID_FORWARD,
        Activation::Relu => &RELU_FORWARD,
        Activation::Tanh => &TANH_FORWARD,
    };
    expect_len(kernel.entry, "x", x, n)?;
    let p = params(gpu, n);
    Dispatch::new(
        gpu,
        kernel,
        &[Bind::Params(&p), Bind::Tensor(x)],
        elementwise_grid(gpu, n),
    )
}

/// d ← d ⊙ act'(z), with the derivative taken from the activation's output a = act(z).
// a: (n), d: (n)
pub fn activation_backward(
    gpu: &Gpu,
    act: Activation,
    a: &Tensor,
    d: &Tensor,
    n: usize,
) -> Result<Dispatch> {
    let kernel = match act {
        Activation::Sigmoid => &SIGMOID_BACKWARD,
        Activation::Relu => &RELU_BACKWARD,
        Activation::Tanh => &TANH_BACKWARD,
    };
    expect_len(kernel.entry, "a", a, n)?;
    expect_len(kernel.entry, "d", d, n)?;
    let p = params(gpu, n);
    Dispatch::new(
        gpu,
        kernel,
        &[Bind::Params(&p), Bind::Tensor(a), Bind::Tensor(d)],
        elementwise_grid(gpu, n),
    )
}
