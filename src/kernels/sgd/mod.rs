//! Host side of shaders/sgd.wgsl: one dispatch updates every parameter of the model.

pub mod reference;

use super::{expect_len, models_grid, span, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Module, StepSlots, Tensor};
use crate::optim::OptimizerConfig;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SgdParams {
    n: u32,
    stride: u32,
    _pad: [u32; 2],
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

/// One SGD-with-momentum step of each model of the step slots, `stride` floats apart: the
/// learning rate and constants come from each model's step, and a model whose step has no rows
/// is left as it is. (`_config`: SGD has no setting that is not a step's.)
// per model: g: (n), p: (n), u: (n)
#[allow(clippy::too_many_arguments)]
pub fn sgd(
    gpu: &Gpu,
    g: &Tensor,
    p: &Tensor,
    u: &Tensor,
    steps: &StepSlots,
    n: usize,
    stride: usize,
    _config: &OptimizerConfig,
) -> Result<Dispatch> {
    let models = steps.models();
    for (name, t) in [("g", g), ("p", p), ("u", u)] {
        expect_len("sgd", name, t, span(models, stride, n))?;
    }
    let params = SgdParams {
        n: n as u32,
        stride: stride as u32,
        _pad: [0; 2],
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
        models_grid(gpu, n, models),
    )
}

/// Three steps of SGD with momentum and weight decay against the CPU reference, for three
/// models side by side whose constants differ, the middle one waiting (its steps have no rows:
/// it must stay as it was).
pub fn verify(gpu: &Gpu) -> Result<crate::tolerance::Comparison> {
    use crate::tolerance::{MOMENT, OPTIMIZER};
    const MODELS: usize = 3;
    let configs: Vec<OptimizerConfig> = (0..MODELS)
        .map(|z| OptimizerConfig {
            kind: crate::optim::OptimizerKind::Sgd,
            lr: 0.05,
            momentum: 0.9 - 0.1 * z as f32,
            weight_decay: 0.01 * (z + 1) as f32,
            ..OptimizerConfig::default()
        })
        .collect();
    let slots = StepSlots::for_models(gpu, 1, MODELS);
    let mut all = Vec::new();
    for (i, &n) in [1usize, 257, 1000].iter().enumerate() {
        // Each model's n parameters, then padding up to the stride (which no step may touch).
        let stride = n.div_ceil(64) * 64;
        let seed = 800 + 10 * i as u64;
        let mut p = super::seeded(seed, MODELS * stride, -1.0, 1.0);
        let mut u = super::seeded(seed + 1, MODELS * stride, -0.1, 0.1);
        let (tp, tu) = (gpu.upload("p", &p)?, gpu.upload("u", &u)?);
        let tg = gpu.zeros("g", MODELS * stride)?;
        let d = sgd(gpu, &tg, &tp, &tu, &slots, n, stride, &configs[0])?;
        for t in 1..=3u64 {
            let grad = super::seeded(seed + 2 + t, MODELS * stride, -1.0, 1.0);
            let mut steps = Vec::new();
            for (z, config) in configs.iter().enumerate() {
                let values = config.step_values(t, config.lr / t as f32);
                steps.push(values.uniform(0, 0).with_rows(u32::from(z != 1)));
                if z != 1 {
                    let at = z * stride..z * stride + n;
                    let (g, p, u) = (&grad[at.clone()], &mut p[at.clone()], &mut u[at]);
                    reference::sgd(g, p, u, &values, config);
                }
            }
            gpu.queue()
                .write_buffer(&tg.buffer, 0, bytemuck::cast_slice(&grad));
            slots.write(gpu, &steps);
            super::run(gpu, &[&d])?;
        }
        all.push(OPTIMIZER.compare(&gpu.read::<f32>(&tp)?, &p));
        all.push(MOMENT.compare(&gpu.read::<f32>(&tu)?, &u));
    }
    Ok(crate::tolerance::Comparison::worst_of(all).expect("cases"))
}
