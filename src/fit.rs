//! The epoch loop shared by the GPU trainer and the CPU reference: learning-rate schedule,
//! validation, early stopping with the best weights kept, and per-epoch reports.

use crate::cpu::batch_loss;
use crate::data::Dataset;
use crate::error::Result;
use crate::model::{Mlp, MlpSpec};
use crate::schedule::Scheduler;
use crate::train::TrainConfig;
use std::time::Instant;

/// What the epoch loop needs of a trainer; [`crate::Trainer`] (GPU) and
/// [`crate::cpu::CpuTrainer`] (reference) implement it.
pub trait Backend {
    /// Runs one epoch per learning rate; returns each epoch's mean per-row training loss.
    fn run_epochs(&mut self, lrs: &[f32]) -> Result<Vec<f32>>;
    /// The current weights' logits for the rows of `x`: (rows, outputs).
    fn logits(&mut self, x: &[f32]) -> Result<Vec<f32>>;
    /// Remembers the current weights as the best so far.
    fn keep_best(&mut self) -> Result<()>;
    /// Puts back the weights last kept.
    fn restore_best(&mut self) -> Result<()>;
    /// The model with the current weights.
    fn model(&self) -> Result<Mlp>;
    /// The network being trained.
    fn spec(&self) -> &MlpSpec;
}

/// One epoch as the loop saw it, handed to the caller's callback (progress, curves).
#[derive(Clone, Debug)]
pub struct EpochReport<'a> {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Epochs the run may take in all.
    pub epochs: usize,
    /// Mean training loss over the epoch's rows.
    pub train_loss: f32,
    /// Loss on the validation rows after the epoch, if there are any.
    pub val_loss: Option<f32>,
    /// The validation rows' logits after the epoch, (rows, outputs), for metrics.
    pub val_logits: Option<&'a [f32]>,
    /// Learning rate of the epoch.
    pub lr: f32,
    /// Training rows per second so far (training loop only).
    pub samples_per_sec: f64,
}

/// What a fit measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FitReport {
    /// Mean training loss over the rows of each epoch, as the weights were during that epoch.
    pub epoch_losses: Vec<f32>,
    /// Validation loss after each epoch (empty without validation).
    pub val_losses: Vec<f32>,
    /// Learning rate of each epoch.
    pub lrs: Vec<f32>,
    /// The epoch (from 1) whose weights the model holds when early stopping kept the best.
    pub best_epoch: Option<usize>,
    /// Whether early stopping ended the run before the last epoch.
    pub stopped_early: bool,
    /// Seconds spent in the epoch loop, validation included.
    pub train_seconds: f64,
    /// Training rows processed per second of `train_seconds`.
    pub samples_per_sec: f64,
}

/// Most epochs run between two reports when nothing needs looking at after each epoch.
const MAX_EPOCHS_PER_CALL: usize = 64;

/// Runs `config.epochs` epochs of `backend` (or fewer, when early stopping ends the run).
/// `train_rows` is the training set's size, for throughput; `val` the validation rows, if
/// any. `on_epoch` sees every epoch.
pub fn fit_with(
    backend: &mut dyn Backend,
    config: &TrainConfig,
    train_rows: usize,
    val: Option<&Dataset>,
    on_epoch: &mut dyn FnMut(&EpochReport<'_>),
) -> Result<FitReport> {
    let start = Instant::now();
    let mut scheduler = Scheduler::new(config.schedule, config.optimizer.lr, config.epochs);
    let per_epoch = val.is_some() || config.patience.is_some() || scheduler.needs_loss();
    let mut report = FitReport::default();
    let mut best = f64::INFINITY;
    let mut since_best = 0;
    while report.epoch_losses.len() < config.epochs && !report.stopped_early {
        let done = report.epoch_losses.len();
        let n = if per_epoch {
            1
        } else {
            (config.epochs - done).min(MAX_EPOCHS_PER_CALL.max(config.epochs / 20))
        };
        let lrs: Vec<f32> = (done..done + n).map(|e| scheduler.lr(e)).collect();
        let losses = backend.run_epochs(&lrs)?;
        for (i, (&loss, &lr)) in losses.iter().zip(&lrs).enumerate() {
            let epoch = done + i + 1;
            let (val_loss, val_logits) = match val {
                Some(v) => {
                    let logits = backend.logits(v.x())?;
                    let l = batch_loss(
                        backend.spec().loss,
                        &logits,
                        v.targets(),
                        v.rows(),
                        v.outputs(),
                        v.rows(),
                    );
                    (Some(l), Some(logits))
                }
                None => (None, None),
            };
            report.epoch_losses.push(loss);
            report.lrs.push(lr);
            if let Some(l) = val_loss {
                report.val_losses.push(l);
            }
            let monitored = f64::from(val_loss.unwrap_or(loss));
            scheduler.observe(monitored);
            if let Some(patience) = config.patience {
                if monitored < best - f64::from(config.min_delta) {
                    best = monitored;
                    since_best = 0;
                    report.best_epoch = Some(epoch);
                    backend.keep_best()?;
                } else {
                    since_best += 1;
                    report.stopped_early = since_best >= patience && epoch < config.epochs;
                }
            }
            let seconds = start.elapsed().as_secs_f64();
            report.train_seconds = seconds;
            report.samples_per_sec = (epoch * train_rows) as f64 / seconds.max(1e-9);
            on_epoch(&EpochReport {
                epoch,
                epochs: config.epochs,
                train_loss: loss,
                val_loss,
                val_logits: val_logits.as_deref(),
                lr,
                samples_per_sec: report.samples_per_sec,
            });
        }
    }
    if report.best_epoch.is_some() {
        backend.restore_best()?;
    }
    report.train_seconds = start.elapsed().as_secs_f64();
    report.samples_per_sec =
        (report.epoch_losses.len() * train_rows) as f64 / report.train_seconds.max(1e-9);
    Ok(report)
}
