//! Training: the configuration and the vocabulary both trainers share, the epoch loop
//! ([`mod@fit`]), the GPU trainer ([`gpu`]: buffers held on the device, whole steps recorded into
//! few submissions) and the CPU reference trainer ([`cpu`]: the same steps in plain Rust),
//! fitting a run into the device (`limits`), learning-rate schedules and checkpoints.
//!
//! ```
//! use gpumlp::{cpu, Activation, Dataset, Mlp, MlpSpec, TrainConfig};
//!
//! # fn main() -> gpumlp::Result<()> {
//! let x = vec![0., 0., 0., 1., 1., 0., 1., 1.];
//! let data = Dataset::new(x.clone(), vec![0., 1., 1., 0.], 2)?; // XOR
//! let mut model = Mlp::new(&MlpSpec::new(2).hidden(8, Activation::Tanh), 1)?;
//! let config = TrainConfig { epochs: 300, batch_size: 4, ..TrainConfig::default() };
//! let report = cpu::fit(&mut model, &data, &config)?; // gpumlp::fit(&gpu, ...) on a GPU
//! assert_eq!(report.epoch_losses.len(), 300);
//! let p = cpu::predict(&model, &x)?;                  // gpumlp::predict(&gpu, ...)
//! assert_eq!(p.len(), 4);
//! # Ok(())
//! # }
//! ```

pub mod checkpoint;
pub mod cpu;
mod eval;
pub mod fit;
mod forward;
pub mod gpu;
pub mod group;
pub(crate) mod limits;
pub mod monitor;
pub mod schedule;
mod step;

pub use fit::{
    fit_controlled, fit_with, Backend, Checkpoint, EpochReport, FitControl, FitReport, TrainerState,
};
pub use forward::{logits, predict};
pub use gpu::{fit, Trainer};
pub use monitor::StopMetric;
pub use schedule::{Schedule, Scheduler};

use crate::data::{Dataset, Shuffler};
use crate::error::{Error, Result};
use crate::model::{Loss, Mlp};
use crate::optim::OptimizerConfig;

/// The most epochs one run trains: every epoch keeps its losses and rate in the history.
pub const MAX_EPOCHS: usize = 1_000_000;

/// How to train.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Rows per optimiser step; the last batch of an epoch holds the remainder. Clamped to the
    /// number of rows.
    pub batch_size: usize,
    /// Optimiser and its settings.
    pub optimizer: OptimizerConfig,
    /// How the learning rate changes from epoch to epoch.
    pub schedule: Schedule,
    /// Early stopping: stop after this many epochs without an improvement of the monitored
    /// loss (validation loss, or training loss without validation) by more than `min_delta`,
    /// and keep the best epoch's weights. `None` trains every epoch.
    pub patience: Option<usize>,
    /// The least decrease of the monitored loss (or increase of the metric) that counts as an
    /// improvement.
    pub min_delta: f32,
    /// What early stopping watches: the loss, or a validation metric.
    #[serde(default)]
    pub early_stopping_metric: StopMetric,
    /// Seeds the shuffle of each epoch.
    pub seed: u64,
    /// Train networks small enough for the fused kernel (`src/kernels/fused/`) with one dispatch per chunk of
    /// steps; `false` always runs one dispatch per op (the GPU trainer only).
    pub allow_fused: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 200,
            batch_size: 64,
            optimizer: OptimizerConfig::default(),
            schedule: Schedule::Constant,
            patience: None,
            min_delta: 0.0,
            early_stopping_metric: StopMetric::Loss,
            seed: 0,
            allow_fused: true,
        }
    }
}

impl TrainConfig {
    /// Whether training itself looks at the validation rows after each epoch: early
    /// stopping, or a schedule that follows the loss. Otherwise they only report.
    pub fn watches_validation(&self) -> bool {
        self.patience.is_some() || matches!(self.schedule, Schedule::Plateau { .. })
    }

    pub(crate) fn validate(&self, model: &Mlp, data: &Dataset) -> Result<()> {
        self.validate_for(model, data.features(), data.outputs())?;
        let spec = model.spec();
        if spec.loss != Loss::Mse {
            for r in 0..data.rows() {
                for c in 0..data.outputs() {
                    let y = data.target(r, c);
                    if !(0.0..=1.0).contains(&y) {
                        return Err(Error::InvalidData(format!(
                            "target {c} of row {r} is {y}; {} targets must lie in [0, 1]",
                            spec.loss.name()
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// [`TrainConfig::validate`] but for the targets: the settings, and rows of `features`
    /// inputs and `outputs` targets for `model`.
    pub(crate) fn validate_for(&self, model: &Mlp, features: usize, outputs: usize) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::InvalidConfig("batch size must be at least 1".into()));
        }
        if self.epochs > MAX_EPOCHS {
            return Err(Error::InvalidConfig(format!(
                "{} epochs; a run trains at most {MAX_EPOCHS}",
                self.epochs
            )));
        }
        self.optimizer.validate()?;
        self.schedule.validate()?;
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            return Err(Error::InvalidConfig(format!(
                "min delta must be ≥ 0, got {}",
                self.min_delta
            )));
        }
        let spec = model.spec();
        if features != spec.inputs || outputs != spec.outputs {
            return Err(Error::InvalidData(format!(
                "the data has {features} features and {outputs} targets but the network has {} \
                 inputs and {} outputs",
                spec.inputs, spec.outputs
            )));
        }
        Ok(())
    }
}

/// Checks that `x` holds whole, finite rows of `model`'s inputs; returns the row count.
pub(crate) fn check_inputs(model: &Mlp, x: &[f32]) -> Result<usize> {
    let features = model.spec().inputs;
    if !x.len().is_multiple_of(features) {
        return Err(Error::InvalidData(format!(
            "{} values do not make whole rows of {features} features",
            x.len()
        )));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidData(format!(
            "feature {} of row {} is {} (not finite)",
            i % features,
            i / features,
            x[i]
        )));
    }
    Ok(x.len() / features)
}

/// The mean per-row loss of an epoch from its steps' mean losses (the last batch may be
/// shorter), summed in step order in f64.
pub(crate) fn epoch_loss(step_losses: &[f32], rows: usize, batch: usize) -> f32 {
    let sum: f64 = step_losses
        .iter()
        .enumerate()
        .map(|(s, &l)| f64::from(l) * batch.min(rows - s * batch) as f64)
        .sum();
    (sum / rows as f64) as f32
}

/// The most epochs a call runs ahead of the epoch loop (see [`fit::Backend::lookahead`]):
/// at most this many less one are run for nothing when early stopping ends a run inside a
/// call.
pub(crate) const MAX_LOOKAHEAD: usize = 16;

/// An epoch stopped part way: its row order, where the shuffle stream stood before it, and
/// the losses of the steps run.
#[derive(Clone, Debug)]
pub(crate) struct PartialEpoch {
    pub(crate) start_pos: u128,
    pub(crate) order: Vec<u32>,
    pub(crate) losses: Vec<f32>,
}

/// Where a checkpoint says the shuffle stream stands: before the unfinished epoch's order, or
/// where it is when no epoch is unfinished.
pub(crate) fn shuffle_pos(shuffler: &Shuffler, partial: Option<&PartialEpoch>) -> u128 {
    partial.map_or_else(|| shuffler.position(), |p| p.start_pos)
}

/// Moves `shuffler` to where `state` stood; returns the unfinished epoch, if any, with its
/// row order drawn again.
pub(crate) fn resume_shuffle(
    shuffler: &mut Shuffler,
    state: &TrainerState,
    rows: usize,
) -> Option<PartialEpoch> {
    shuffler.seek(state.shuffle_pos);
    (!state.partial_losses.is_empty()).then(|| PartialEpoch {
        start_pos: state.shuffle_pos,
        order: shuffler.next_order(rows),
        losses: state.partial_losses.clone(),
    })
}
