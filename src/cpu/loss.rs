//! Reference for shaders/loss.wgsl: binary cross-entropy from logits.

use super::activation::sigmoid;

/// bce(z, y) = max(z,0) − z·y + ln(1 + e^(−|z|)): the loss of logit z against label y.
pub fn bce(z: f32, y: f32) -> f32 {
    z.max(0.0) - z * y + (1.0 + (-z.abs()).exp()).ln()
}

/// Mean loss of the batch: Σ_i bce(z_i, y_i) / batch (summed in f64, so it is the exact
/// yardstick for the shader's f32 tree reduction).
// z: (n), y: (n); n = batch × outputs
pub fn bce_loss(z: &[f32], y: &[f32], batch: usize) -> f32 {
    let sum: f64 = z
        .iter()
        .zip(y)
        .map(|(&zi, &yi)| f64::from(bce(zi, yi)))
        .sum();
    (sum / batch as f64) as f32
}

/// dz = (σ(z) − y) / batch.
// z: (n), y: (n), dz: (n); n = batch × outputs
pub fn bce_grad(z: &[f32], y: &[f32], dz: &mut [f32], batch: usize) {
    let inv_batch = 1.0 / batch as f32;
    for ((d, &zi), &yi) in dz.iter_mut().zip(z).zip(y) {
        *d = (sigmoid(zi) - yi) * inv_batch;
    }
}
