//! Reference for shaders/loss.wgsl: each [`Loss`] from logits, with per-row weights.
//! Target rows hold the outputs' targets and then the row's weight: t: (rows, outputs + 1).

use crate::kernels::activation::reference::sigmoid;
use crate::model::Loss;

/// bce(z, y) = max(z,0) − z·y + ln(1 + e^(−|z|)): the loss of logit z against label y.
pub fn bce(z: f32, y: f32) -> f32 {
    z.max(0.0) - z * y + (1.0 + (-z.abs()).exp()).ln()
}

/// m = max_c z_c and Σ_c e^(z_c − m) of one row.
// z: (outputs)
fn max_and_exp_sum(z: &[f32]) -> (f32, f32) {
    let m = z[1..].iter().fold(z[0], |m, &v| m.max(v));
    (m, z.iter().map(|&v| (v - m).exp()).sum())
}

/// One row's loss, unweighted.
// z: (outputs), y: (outputs)
pub fn row_loss(loss: Loss, z: &[f32], y: &[f32]) -> f32 {
    match loss {
        Loss::Bce => z.iter().zip(y).map(|(&zi, &yi)| bce(zi, yi)).sum(),
        Loss::SoftmaxCe => {
            let (m, s) = max_and_exp_sum(z);
            let lse = m + s.ln();
            z.iter().zip(y).map(|(&zi, &yi)| yi * (lse - zi)).sum()
        }
        Loss::Mse => {
            let sum: f32 = z
                .iter()
                .zip(y)
                .map(|(&zi, &yi)| (zi - yi) * (zi - yi))
                .sum();
            sum / z.len() as f32
        }
    }
}

/// Σ_r w_r · loss_r / batch, summed in f64 (the exact yardstick for the shader's f32 tree).
// z: (rows, outputs), t: (rows, outputs + 1)
pub fn batch_loss(
    loss: Loss,
    z: &[f32],
    t: &[f32],
    rows: usize,
    outputs: usize,
    batch: usize,
) -> f32 {
    let sum: f64 = (0..rows)
        .map(|r| {
            let y = &t[r * (outputs + 1)..(r + 1) * (outputs + 1)];
            let zr = &z[r * outputs..(r + 1) * outputs];
            f64::from(y[outputs]) * f64::from(row_loss(loss, zr, &y[..outputs]))
        })
        .sum();
    (sum / batch as f64) as f32
}

/// dz = d(Σ_r w_r · loss_r / batch)/dz, with the shader's formula for each loss.
// z: (rows, outputs), t: (rows, outputs + 1), dz: (rows, outputs)
#[allow(clippy::too_many_arguments)]
pub fn loss_grad(
    loss: Loss,
    z: &[f32],
    t: &[f32],
    dz: &mut [f32],
    rows: usize,
    outputs: usize,
    batch: usize,
) {
    let inv_batch = 1.0 / batch as f32;
    for r in 0..rows {
        let y = &t[r * (outputs + 1)..(r + 1) * (outputs + 1)];
        let w = y[outputs];
        let zr = &z[r * outputs..(r + 1) * outputs];
        let dr = &mut dz[r * outputs..(r + 1) * outputs];
        match loss {
            Loss::Bce => {
                for c in 0..outputs {
                    dr[c] = w * (sigmoid(zr[c]) - y[c]) * inv_batch;
                }
            }
            Loss::SoftmaxCe => {
                let (m, s) = max_and_exp_sum(zr);
                let target_sum: f32 = y[..outputs].iter().sum();
                for c in 0..outputs {
                    let p = (zr[c] - m).exp() / s;
                    dr[c] = w * (target_sum * p - y[c]) * inv_batch;
                }
            }
            Loss::Mse => {
                let scale = 2.0 / outputs as f32 * inv_batch;
                for c in 0..outputs {
                    dr[c] = w * (zr[c] - y[c]) * scale;
                }
            }
        }
    }
}

/// What the network's logits mean to a user: probabilities (sigmoid for [`Loss::Bce`],
/// softmax for [`Loss::SoftmaxCe`]) or values ([`Loss::Mse`]), in place.
// z: (rows, outputs)
pub fn output_transform(loss: Loss, z: &mut [f32], outputs: usize) {
    match loss {
        Loss::Bce => z.iter_mut().for_each(|v| *v = sigmoid(*v)),
        Loss::SoftmaxCe => {
            for row in z.chunks_mut(outputs) {
                let (m, s) = max_and_exp_sum(row);
                row.iter_mut().for_each(|v| *v = (*v - m).exp() / s);
            }
        }
        Loss::Mse => {}
    }
}

/// Reference for `ops::loss::loss_and_grad`: [`batch_loss`] and [`loss_grad`] of one batch.
// z: (rows, outputs), t: (rows, outputs + 1), dz: (rows, outputs)
pub fn loss_and_grad(
    loss: Loss,
    z: &[f32],
    t: &[f32],
    dz: &mut [f32],
    rows: usize,
    outputs: usize,
    batch: usize,
) -> f32 {
    loss_grad(loss, z, t, dz, rows, outputs, batch);
    batch_loss(loss, z, t, rows, outputs, batch)
}
