//! Host side of shaders/sgd.wgsl: one dispatch updates every parameter of the model.

pub mod reference;

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Module, StepSlots, Tensor};
use crate::optim::OptimizerConfig;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SgdParams {
    n: u32,
    momentum: f32,
    weight_decay: f32,
    _pad: u32,
}

/// sgd.wgsl after the prelude.
static MODULE: Module = super::module!("sgd", "sgd.wgsl");

static SGD: Kernel = Kernel {
    module: &MODULE,
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
        SGD,
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

/// Three steps of SGD with momentum and weight decay against the CPU reference.
pub fn verify(gpu: &Gpu) -> Result<crate::tolerance::Comparison> {
    use crate::tolerance::{MOMENT, OPTIMIZER};
    let config = OptimizerConfig {
        kind: crate::optim::OptimizerKind::Sgd,
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 0.01,
        ..OptimizerConfig::default()
    };
    let slots = StepSlots::new(gpu, 1);
    let mut all = Vec::new();
    for (i, &n) in [1usize, 257, 1000].iter().enumerate() {
        let seed = 800 + 10 * i as u64;
        let mut p = super::seeded(seed, n, -1.0, 1.0);
        let mut u = super::seeded(seed + 1, n, -0.1, 0.1);
        let (tp, tu) = (gpu.upload("p", &p)?, gpu.upload("u", &u)?);
        let tg = gpu.zeros("g", n)?;
        let d = sgd(gpu, &tg, &tp, &tu, &slots, n, &config)?;
        for t in 1..=3u64 {
            let grad = super::seeded(seed + 2 + t, n, -1.0, 1.0);
            let values = config.step_values(t, config.lr / t as f32);
            reference::sgd(&grad, &mut p, &mut u, &values, &config);
            gpu.queue()
                .write_buffer(&tg.buffer, 0, bytemuck::cast_slice(&grad));
            slots.write(gpu, &[values.uniform(0, 0)]);
            super::run(gpu, &[&d])?;
        }
        all.push(OPTIMIZER.compare(&gpu.read::<f32>(&tp)?, &p));
        all.push(MOMENT.compare(&gpu.read::<f32>(&tu)?, &u));
    }
    Ok(crate::tolerance::Comparison::worst_of(all).expect("cases"))
}
