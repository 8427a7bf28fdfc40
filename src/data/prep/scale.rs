//! Statistics of numbers: medians, means and standard deviations, and the regression target's
//! scale.

use super::census::Moments;
use super::label::{Labelled, Task};
use serde::{Deserialize, Serialize};

/// Median of values (sorts them).
pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match (values.get(n.wrapping_sub(1) / 2), values.get(n / 2)) {
        (Some(a), Some(b)) if n.is_multiple_of(2) => {
            let mid = (a + b) / 2.0;
            if mid.is_finite() {
                mid
            } else {
                a / 2.0 + b / 2.0
            }
        }
        (_, Some(b)) => *b,
        _ => 0.0,
    }
}

/// Regression targets are standardised with training statistics, so the network learns on a
/// unit scale; the model keeps this to turn outputs back into values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetScale {
    /// Mean of the training targets.
    pub mean: f64,
    /// Population standard deviation of the training targets; 1 when they are constant.
    pub std: f64,
}

impl TargetScale {
    /// Fits the scale on training targets; no values or a constant target give std 1 so
    /// encoding never divides by zero.
    pub fn fit(values: &[f64]) -> TargetScale {
        let mut moments = Moments::default();
        for &v in values {
            moments.add(v);
        }
        TargetScale::of_moments(&moments)
    }

    /// The scale of the values whose moments are `moments` (see [`TargetScale::fit`]).
    pub fn of_moments(moments: &Moments) -> TargetScale {
        let (mean, std) = moments.mean_std();
        let mean = if mean.is_finite() { mean } else { 0.0 };
        let std = if std.is_finite() && std > 0.0 {
            std
        } else {
            1.0
        };
        TargetScale { mean, std }
    }

    /// A target value on the network's scale.
    pub fn encode(&self, v: f64) -> f32 {
        ((v - self.mean) / self.std) as f32
    }

    /// A network output back on the target's scale.
    pub fn decode(&self, z: f32) -> f64 {
        z as f64 * self.std + self.mean
    }
}

/// Network targets for the positions `pos` of `labelled` (indices into `labelled.rows`/`y`),
/// laid out the way the loss expects: Binary → (n, 1) 0/1; Multiclass → (n, classes) one-hot;
/// Regression → (n, 1), standardised with `scale` when given.
///
/// A position out of range gives NaN targets (never a panic), which the dataset's finiteness
/// check then reports.
pub fn targets(labelled: &Labelled, pos: &[usize], scale: Option<TargetScale>) -> Vec<f32> {
    let value = |p: usize| labelled.y.get(p).copied().unwrap_or(f64::NAN);
    match labelled.task {
        Task::Binary => pos.iter().map(|&p| value(p) as f32).collect(),
        Task::Regression => pos
            .iter()
            .map(|&p| match scale {
                Some(scale) => scale.encode(value(p)),
                None => value(p) as f32,
            })
            .collect(),
        Task::Multiclass => {
            let k = labelled.classes.len();
            let mut out = vec![0.0; pos.len() * k];
            for (row, &p) in out.chunks_mut(k.max(1)).zip(pos) {
                let class = value(p);
                match row.get_mut(class as usize) {
                    Some(slot) if class >= 0.0 => *slot = 1.0,
                    _ => row.fill(f32::NAN),
                }
            }
            out
        }
    }
}
