//! Optimiser settings and the per-step scalars computed from them on the host.

use crate::error::{Error, Result};

/// Adam, or AdamW when `weight_decay > 0` (decoupled decay, applied before the Adam update).
/// Defaults are PyTorch's: lr 1e-3, β1 0.9, β2 0.999, ε 1e-8, no weight decay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first-moment average.
    pub beta1: f32,
    /// Decay of the second-moment average.
    pub beta2: f32,
    /// Added to the denominator so it never divides by zero.
    pub eps: f32,
    /// AdamW's decoupled weight decay; 0 gives plain Adam.
    pub weight_decay: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// The scalars one optimiser step needs, computed once on the host so that the GPU kernel and
/// the CPU reference use bit-identical values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepValues {
    /// Learning rate of this step.
    pub lr: f32,
    /// 1 − β1^t.
    pub bias_correction1: f32,
    /// 1 − β2^t.
    pub bias_correction2: f32,
}

impl AdamConfig {
    /// Rejects settings that cannot train: non-finite or out-of-range values.
    pub fn validate(&self) -> Result<()> {
        let ok = self.lr.is_finite()
            && self.lr > 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps.is_finite()
            && self.eps > 0.0
            && self.weight_decay.is_finite()
            && self.weight_decay >= 0.0;
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidConfig(format!(
                "Adam needs lr > 0, 0 ≤ β1, β2 < 1, ε > 0 and weight decay ≥ 0; got {self:?}"
            )))
        }
    }

    /// The values of step `t`, counted from 1.
    pub fn step_values(&self, t: u64) -> StepValues {
        let t = t.min(i32::MAX as u64) as i32;
        StepValues {
            lr: self.lr,
            bias_correction1: (1.0 - f64::from(self.beta1).powi(t)) as f32,
            bias_correction2: (1.0 - f64::from(self.beta2).powi(t)) as f32,
        }
    }
}
