//! Host side of shaders/adam.wgsl: one dispatch updates every parameter of the model.

pub mod reference;

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Module, StepSlots, Tensor};
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

/// adam.wgsl after the prelude.
static MODULE: Module = super::module!("adam", "adam.wgsl");

static ADAM: Kernel = Kernel {
    module: &MODULE,
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
        ADAM,
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

/// Three steps of Adam (`weight_decay` as L2) or AdamW from nonzero moments against the CPU
/// reference: parameters and both moments.
pub fn verify(gpu: &Gpu, kind: OptimizerKind) -> Result<crate::tolerance::Comparison> {
    use crate::tolerance::{MOMENT, OPTIMIZER, SECOND_MOMENT};
    let config = OptimizerConfig {
        kind,
        lr: 0.01,
        weight_decay: 0.05,
        ..OptimizerConfig::default()
    };
    let slots = StepSlots::new(gpu, 1);
    let mut all = Vec::new();
    for (i, &n) in [1usize, 257, 1000].iter().enumerate() {
        let seed = 700 + 10 * i as u64;
        let mut p = super::seeded(seed, n, -1.0, 1.0);
        let mut m = super::seeded(seed + 1, n, -0.1, 0.1);
        let mut v = super::seeded(seed + 2, n, 0.0, 0.01);
        let (tp, tm, tv) = (
            gpu.upload("p", &p)?,
            gpu.upload("m", &m)?,
            gpu.upload("v", &v)?,
        );
        let tg = gpu.zeros("g", n)?;
        let d = adam(gpu, &tg, &tp, &tm, &tv, &slots, n, &config)?;
        for t in 1..=3u64 {
            let grad = super::seeded(seed + 2 + t, n, -1.0, 1.0);
            let values = config.step_values(t, config.lr * t as f32);
            reference::adam(&grad, &mut p, &mut m, &mut v, &values, &config);
            gpu.queue()
                .write_buffer(&tg.buffer, 0, bytemuck::cast_slice(&grad));
            slots.write(gpu, &[values.uniform(0, 0)]);
            super::run(gpu, &[&d])?;
        }
        all.push(OPTIMIZER.compare(&gpu.read::<f32>(&tp)?, &p));
        all.push(MOMENT.compare(&gpu.read::<f32>(&tm)?, &m));
        all.push(SECOND_MOMENT.compare(&gpu.read::<f32>(&tv)?, &v));
    }
    Ok(crate::tolerance::Comparison::worst_of(all).expect("cases"))
}
