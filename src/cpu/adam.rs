//! Reference for shaders/adam.wgsl.

use crate::optim::{AdamConfig, StepValues};

/// One Adam / AdamW step over every parameter.
// g: (n), p: (n), m: (n), v: (n)
pub fn adam(
    g: &[f32],
    p: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    step: &StepValues,
    config: &AdamConfig,
) {
    let lr = step.lr;
    for i in 0..p.len() {
        let gi = g[i];
        let mut w = p[i];
        w -= lr * config.weight_decay * w;
        let mi = config.beta1 * m[i] + (1.0 - config.beta1) * gi;
        let vi = config.beta2 * v[i] + (1.0 - config.beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = w - lr * (mi / step.bias_correction1)
            / ((vi / step.bias_correction2).sqrt() + config.eps);
    }
}
