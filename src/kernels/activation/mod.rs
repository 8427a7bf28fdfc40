//! Host side of shaders/activation.wgsl.

pub mod reference;

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Module, Tensor};
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

/// The code of an activation in the prelude's `activate` and `activate_back` (and the fused
/// kernel's per-layer codes): `None` is the output layer's identity. The one place they are
/// written on the host side.
pub(crate) fn code(act: Option<Activation>) -> u32 {
    match act {
        None => 0,
        Some(Activation::Sigmoid) => 1,
        Some(Activation::Relu) => 2,
        Some(Activation::Tanh) => 3,
    }
}

/// activation.wgsl after the prelude.
static MODULE: Module = super::module!("activation", "activation.wgsl");

macro_rules! kernel {
    ($name:ident, $entry:literal, $bindings:expr) => {
        static $name: Kernel = Kernel {
            module: &MODULE,
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
        *kernel,
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
        *kernel,
        &[Bind::Params(&p), Bind::Tensor(a), Bind::Tensor(d)],
        elementwise_grid(gpu, n),
    )
}

/// `act` forward and backward on inputs with extreme values against the CPU reference.
pub fn verify(gpu: &Gpu, act: Activation) -> Result<crate::tolerance::Comparison> {
    let mut all = Vec::new();
    for (i, &n) in [1usize, 255, 1000].iter().enumerate() {
        let seed = 500 + 10 * i as u64;
        let mut x = super::seeded(seed, n, -8.0, 8.0);
        x.iter_mut().step_by(7).for_each(|v| *v *= 40.0); // saturation
        let mut want = x.clone();
        reference::activation_forward(act, &mut want);
        let tx = gpu.upload("x", &x)?;
        super::run(gpu, &[&activation_forward(gpu, act, &tx, n)?])?;
        all.push(crate::tolerance::ACTIVATION.compare(&gpu.read::<f32>(&tx)?, &want));

        let a = want;
        let d = super::seeded(seed + 1, n, -1.0, 1.0);
        let mut want = d.clone();
        reference::activation_backward(act, &a, &mut want);
        let (ta, td) = (gpu.upload("a", &a)?, gpu.upload("d", &d)?);
        super::run(gpu, &[&activation_backward(gpu, act, &ta, &td, n)?])?;
        all.push(crate::tolerance::ACTIVATION.compare(&gpu.read::<f32>(&td)?, &want));
    }
    Ok(crate::tolerance::Comparison::worst_of(all).expect("cases"))
}
