//! Reference for shaders/sgd.wgsl.

use crate::optim::{OptimizerConfig, StepValues};

/// One SGD-with-momentum step over every parameter: g += wd·p; u = μ·u + g; p −= lr·u.
// g: (n), p: (n), u: (n)
pub fn sgd(g: &[f32], p: &mut [f32], u: &mut [f32], step: &StepValues, config: &OptimizerConfig) {
    for i in 0..p.len() {
        let w = p[i];
        let gi = g[i] + config.weight_decay * w;
        let ui = config.momentum * u[i] + gi;
        u[i] = ui;
        p[i] = w - step.lr * ui;
    }
}
