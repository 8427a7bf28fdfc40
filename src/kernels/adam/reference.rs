//! Reference for shaders/adam.wgsl.

use crate::optim::{OptimizerConfig, OptimizerKind, StepValues};

/// One Adam (L2 in the gradient) or AdamW (decoupled decay) step over every parameter.
// g: (n), p: (n), m: (n), v: (n)
pub fn adam(
    g: &[f32],
    p: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    step: &StepValues,
    config: &OptimizerConfig,
) {
    let lr = step.lr;
    let decoupled = config.kind == OptimizerKind::AdamW;
    for i in 0..p.len() {
        let mut w = p[i];
        let mut gi = g[i];
        if decoupled {
            w -= lr * config.weight_decay * w;
        } else {
            gi += config.weight_decay * w;
        }
        let mi = config.beta1 * m[i] + (1.0 - config.beta1) * gi;
        let vi = config.beta2 * v[i] + (1.0 - config.beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = w - lr * (mi / step.bias_correction1)
            / ((vi / step.bias_correction2).sqrt() + config.eps);
    }
}
