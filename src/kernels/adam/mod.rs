//! Host side of shaders/adam.wgsl: one dispatch updates every parameter of the model.

pub mod reference;

use super::{expect_len, models_grid, span, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Module, StepSlots, Tensor};
use crate::optim::{OptimizerConfig, OptimizerKind};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AdamParams {
    n: u32,
    stride: u32,
    decoupled: u32,
    _pad: u32,
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

/// One Adam or AdamW step (by `config.kind`) of each model of the step slots, `stride` floats
/// apart: the learning rate, bias corrections and constants come from each model's step, and a
/// model whose step has no rows is left as it is.
// per model: g: (n), p: (n), m: (n), v: (n)
#[allow(clippy::too_many_arguments)]
pub fn adam(
    gpu: &Gpu,
    g: &Tensor,
    p: &Tensor,
    m: &Tensor,
    v: &Tensor,
    steps: &StepSlots,
    n: usize,
    stride: usize,
    config: &OptimizerConfig,
) -> Result<Dispatch> {
    let models = steps.models();
    for (name, t) in [("g", g), ("p", p), ("m", m), ("v", v)] {
        expect_len("adam", name, t, span(models, stride, n))?;
    }
    let params = AdamParams {
        n: n as u32,
        stride: stride as u32,
        decoupled: u32::from(config.kind == OptimizerKind::AdamW),
        _pad: 0,
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
        models_grid(gpu, n, models),
    )
}

/// Three steps of Adam (`weight_decay` as L2) or AdamW from nonzero moments against the CPU
/// reference: parameters and both moments, for three models side by side whose constants
/// differ, the middle one waiting (its steps have no rows: it must stay as it was).
pub fn verify(gpu: &Gpu, kind: OptimizerKind) -> Result<crate::tolerance::Comparison> {
    use crate::tolerance::{MOMENT, OPTIMIZER, SECOND_MOMENT};
    const MODELS: usize = 3;
    let configs: Vec<OptimizerConfig> = (0..MODELS)
        .map(|z| OptimizerConfig {
            kind,
            lr: 0.01,
            weight_decay: 0.05 * (z + 1) as f32,
            beta1: 0.9 - 0.05 * z as f32,
            ..OptimizerConfig::default()
        })
        .collect();
    let slots = StepSlots::for_models(gpu, 1, MODELS);
    let mut all = Vec::new();
    for (i, &n) in [1usize, 257, 1000].iter().enumerate() {
        // Each model's n parameters, then padding up to the stride (which no step may touch).
        let stride = n.div_ceil(64) * 64;
        let seed = 700 + 10 * i as u64;
        let mut p = super::seeded(seed, MODELS * stride, -1.0, 1.0);
        let mut m = super::seeded(seed + 1, MODELS * stride, -0.1, 0.1);
        let mut v = super::seeded(seed + 2, MODELS * stride, 0.0, 0.01);
        let (tp, tm, tv) = (
            gpu.upload("p", &p)?,
            gpu.upload("m", &m)?,
            gpu.upload("v", &v)?,
        );
        let tg = gpu.zeros("g", MODELS * stride)?;
        let d = adam(gpu, &tg, &tp, &tm, &tv, &slots, n, stride, &configs[0])?;
        for t in 1..=3u64 {
            let grad = super::seeded(seed + 2 + t, MODELS * stride, -1.0, 1.0);
            let mut steps = Vec::new();
            for (z, config) in configs.iter().enumerate() {
                let values = config.step_values(t, config.lr * t as f32);
                let rows = u32::from(z != 1);
                steps.push(values.uniform(0, 0).with_rows(rows));
                if z != 1 {
                    let at = z * stride..z * stride + n;
                    let (g, p, m, v) = (
                        &grad[at.clone()],
                        &mut p[at.clone()],
                        &mut m[at.clone()],
                        &mut v[at],
                    );
                    reference::adam(g, p, m, v, &values, config);
                }
            }
            gpu.queue()
                .write_buffer(&tg.buffer, 0, bytemuck::cast_slice(&grad));
            slots.write(gpu, &steps);
            super::run(gpu, &[&d])?;
        }
        all.push(OPTIMIZER.compare(&gpu.read::<f32>(&tp)?, &p));
        all.push(MOMENT.compare(&gpu.read::<f32>(&tm)?, &m));
        all.push(SECOND_MOMENT.compare(&gpu.read::<f32>(&tv)?, &v));
    }
    Ok(crate::tolerance::Comparison::worst_of(all).expect("cases"))
}
