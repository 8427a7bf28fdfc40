//! The epoch loop shared by the GPU trainer and the CPU reference: learning-rate schedule,
//! validation, early stopping with the best weights kept, and per-epoch reports.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::loss::reference::batch_loss;
use crate::model::{Mlp, MlpSpec};
use crate::train::monitor::{metric_names, val_metrics, Monitor};
use crate::train::TrainConfig;
use std::time::Instant;

/// What the epoch loop needs of a trainer; [`crate::Trainer`] (GPU) and
/// [`crate::train::cpu::CpuTrainer`] (reference) implement it.
pub trait Backend {
    /// Runs one epoch per learning rate; returns each finished epoch's mean per-row training
    /// loss. `stop` is asked between groups of steps: once it says yes the steps already under
    /// way finish and the call returns early, the unfinished epoch kept for the next call (or
    /// a checkpoint). A call that runs ahead ([`Backend::lookahead`]) also returns early
    /// when one of its epochs diverged: the epochs before it, so the loop may stop at one
    /// of them; the next call meets the divergence.
    fn run_epochs(&mut self, lrs: &[f32], stop: &dyn Fn() -> bool) -> Result<Vec<f32>>;
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
    /// Everything needed to continue this run bit for bit elsewhere.
    fn state(&self) -> Result<TrainerState>;
    /// Continues from a state taken by [`Backend::state`] on the same network, data and
    /// settings.
    fn set_state(&mut self, state: &TrainerState) -> Result<()>;
    /// How many epochs one [`Backend::run_epochs`] call may run before the epoch loop has
    /// looked at each (validation on `val`, early stopping): the backend keeps every epoch's
    /// validation logits and weights, so the loop can take any of them as the best or stop
    /// at it. 1 (the default): one epoch a call.
    fn lookahead(&self, _val: Option<&Dataset>) -> usize {
        1
    }
    /// The logits of the rows of `x` (the validation rows) as the weights were after epoch
    /// `epoch` (counted from 0) of the last call.
    fn logits_after(&mut self, x: &[f32], _epoch: usize) -> Result<Vec<f32>> {
        self.logits(x)
    }
    /// Remembers the weights after epoch `epoch` of the last call as the best so far.
    fn keep_best_after(&mut self, _epoch: usize) -> Result<()> {
        self.keep_best()
    }
    /// The run stops after epoch `epoch` of the last call: the weights become that epoch's.
    /// Nothing trains after this.
    fn stop_after(&mut self, _epoch: usize) -> Result<()> {
        Ok(())
    }
}

/// A trainer's whole state between two steps: weights, optimiser state, the shuffle stream's
/// position and the unfinished epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerState {
    /// The flat parameters.
    pub params: Vec<f32>,
    /// Adam's first moment, or SGD's velocity.
    pub m: Vec<f32>,
    /// Adam's second moment (empty for SGD).
    pub v: Vec<f32>,
    /// The parameters of the best epoch so far (early stopping).
    pub best: Vec<f32>,
    /// Optimiser steps taken.
    pub t: u64,
    /// Epochs finished.
    pub epochs_done: usize,
    /// The shuffle stream's position before the order of the unfinished epoch (or of the next
    /// epoch, when none is unfinished).
    pub shuffle_pos: u128,
    /// The losses of the unfinished epoch's steps so far; their count is the step to resume at.
    pub partial_losses: Vec<f32>,
    /// How the steps ran ([`PATHS`]); a resumed run takes the same path, so that it stays bit
    /// for bit the run that never stopped. Empty in checkpoints from before it was recorded.
    pub path: String,
}

/// The training paths a run records: one dispatch per op, each fused kernel, the CPU.
pub const PATHS: [&str; 5] = [
    "per-op",
    "fused small",
    "fused unrolled",
    "fused wide",
    "cpu",
];

impl TrainerState {
    /// Checks the state against a network of `params` parameters and an epoch of
    /// `steps_per_epoch` steps.
    pub(crate) fn check(&self, params: usize, adam: bool, steps_per_epoch: usize) -> Result<()> {
        let moments = if adam { params } else { 0 };
        if self.params.len() != params
            || self.m.len() != params
            || self.best.len() != params
            || self.v.len() != moments
        {
            return Err(Error::ResumeState(format!(
                "the saved state holds {} parameters and {} moments; this network and \
                 optimiser need {params} and {}",
                self.params.len(),
                self.v.len(),
                moments
            )));
        }
        if self.partial_losses.len() >= steps_per_epoch {
            return Err(Error::ResumeState(format!(
                "the saved state stopped after step {} of an epoch that has {steps_per_epoch}",
                self.partial_losses.len()
            )));
        }
        // Every epoch has the same steps: the step count follows from where the run stands.
        let steps = (self.epochs_done as u64)
            .checked_mul(steps_per_epoch as u64)
            .and_then(|s| s.checked_add(self.partial_losses.len() as u64));
        if steps != Some(self.t) {
            return Err(Error::ResumeState(format!(
                "the saved state took {} optimiser steps, but {} epochs of {steps_per_epoch} \
                 steps and {} more make {}",
                self.t,
                self.epochs_done,
                self.partial_losses.len(),
                steps.map_or_else(|| "too many".to_string(), |s| s.to_string())
            )));
        }
        Ok(())
    }
}

/// Where a run stands: the trainer's state and the epochs so far. Enough to continue it.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Weights, optimiser, shuffle.
    pub state: TrainerState,
    /// Losses and rates of the finished epochs (from them the schedule and early stopping
    /// are rebuilt exactly), and the seconds trained so far.
    pub history: FitReport,
}

/// Keeps a checkpoint somewhere (a file, say).
pub type SaveCheckpoint<'a> = dyn FnMut(&Checkpoint) -> Result<()> + 'a;

/// How a run is watched and can be stopped, saved and continued.
pub struct FitControl<'a> {
    /// Asked between groups of steps; yes stops the run: a checkpoint is handed to `save`
    /// and the fit returns [`Error::Interrupted`].
    pub stop: &'a dyn Fn() -> bool,
    /// Hand a checkpoint to `save` after every this many epochs.
    pub checkpoint_every: Option<usize>,
    /// Keeps a checkpoint (writes it to a file, say); without it nothing is saved.
    pub save: Option<&'a mut SaveCheckpoint<'a>>,
    /// Continue from here instead of from the start.
    pub resume: Option<Checkpoint>,
}

impl FitControl<'_> {
    /// Runs to the end: never stops, never saves.
    pub fn none() -> FitControl<'static> {
        FitControl {
            stop: &|| false,
            checkpoint_every: None,
            save: None,
            resume: None,
        }
    }
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
    /// The validation rows' metrics after the epoch, named by
    /// [`crate::train::monitor::metric_names`].
    pub val_metrics: Option<&'a [f64]>,
    /// Seconds since the run started (a resumed run counts its earlier seconds).
    pub seconds: f64,
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
    /// Validation metrics after each epoch, named by [`crate::train::monitor::metric_names`]
    /// (empty without validation).
    pub val_metrics: Vec<Vec<f64>>,
    /// Seconds since the run started when each epoch's loss was known (without validation
    /// rows the loop runs epochs in groups, which share their group's time).
    pub epoch_seconds: Vec<f64>,
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
    fit_controlled(
        backend,
        config,
        train_rows,
        val,
        on_epoch,
        FitControl::none(),
    )
}

/// [`fit_with`] that can be stopped, checkpointed and resumed (see [`FitControl`]). A run
/// resumed from a checkpoint ends with the same weights, bit for bit, as one never stopped.
pub fn fit_controlled(
    backend: &mut dyn Backend,
    config: &TrainConfig,
    train_rows: usize,
    val: Option<&Dataset>,
    on_epoch: &mut dyn FnMut(&EpochReport<'_>),
    control: FitControl<'_>,
) -> Result<FitReport> {
    let start = Instant::now();
    let loss_kind = backend.spec().loss;
    let mut monitor = Monitor::new(config, loss_kind, val.is_some())?;
    let mut report = FitReport::default();
    let mut seconds_before = 0.0;
    if let Some(resume) = &control.resume {
        let h = &resume.history;
        let n = h.epoch_losses.len();
        let validated = !h.val_losses.is_empty();
        let metrics_fit = h
            .val_metrics
            .iter()
            .all(|m| m.len() == metric_names(loss_kind).len());
        if n != resume.state.epochs_done
            || h.lrs.len() != n
            || h.epoch_seconds.len() != n
            || !(h.val_losses.is_empty() || h.val_losses.len() == n)
            || h.val_metrics.len() != h.val_losses.len()
            || !metrics_fit
            || (val.is_some() != validated && n > 0)
        {
            return Err(Error::ResumeState(
                "its history does not match its state or this run's validation rows".into(),
            ));
        }
        for (i, &loss) in h.epoch_losses.iter().enumerate() {
            let val_entry = h
                .val_losses
                .get(i)
                .map(|&l| (l, h.val_metrics[i].as_slice()));
            monitor.observe(i + 1, loss, val_entry, &mut report);
        }
        report.epoch_losses.clone_from(&h.epoch_losses);
        report.lrs.clone_from(&h.lrs);
        report.val_losses.clone_from(&h.val_losses);
        report.val_metrics.clone_from(&h.val_metrics);
        report.epoch_seconds.clone_from(&h.epoch_seconds);
        seconds_before = h.train_seconds;
        backend.set_state(&resume.state)?;
    }
    let per_epoch = val.is_some() || config.patience.is_some() || monitor.scheduler.needs_loss();
    // Epochs a call may run before the loop looks at them: a schedule that follows the loss
    // needs each epoch's before the next.
    let ahead = match monitor.scheduler.needs_loss() {
        true => 1,
        false => backend.lookahead(val).max(1),
    };
    let FitControl {
        stop,
        checkpoint_every,
        mut save,
        ..
    } = control;
    let elapsed = |start: &Instant| seconds_before + start.elapsed().as_secs_f64();
    let mut checkpoint = |state: TrainerState, report: &FitReport, seconds: f64| -> Result<()> {
        if let Some(save) = save.as_mut() {
            let mut history = report.clone();
            history.train_seconds = seconds;
            save(&Checkpoint { state, history })?;
        }
        Ok(())
    };
    while report.epoch_losses.len() < config.epochs && !report.stopped_early {
        let done = report.epoch_losses.len();
        let mut n = if per_epoch {
            ahead.min(config.epochs - done)
        } else {
            (config.epochs - done).min(MAX_EPOCHS_PER_CALL.max(config.epochs / 20))
        };
        if let Some(every) = checkpoint_every.filter(|&e| e > 0) {
            n = n.min(every - done % every);
        }
        let lrs: Vec<f32> = (done..done + n).map(|e| monitor.scheduler.lr(e)).collect();
        // Whether `stop` said yes during the call: a call that returns fewer epochs without
        // it ran ahead and met a divergence, which the next call reports.
        let said_stop = std::cell::Cell::new(false);
        let watched_stop = || {
            let yes = stop();
            said_stop.set(said_stop.get() || yes);
            yes
        };
        let losses = backend.run_epochs(&lrs, &watched_stop)?;
        for (i, (&loss, &lr)) in losses.iter().zip(&lrs).enumerate() {
            let epoch = done + i + 1;
            let (val_loss, val_logits, metrics) = match val {
                Some(v) => {
                    let logits = backend.logits_after(v.x(), i)?;
                    let (rows, outputs) = (v.rows(), v.outputs());
                    let l = batch_loss(loss_kind, &logits, v.targets(), rows, outputs, rows);
                    let m = val_metrics(loss_kind, &logits, v.targets(), outputs);
                    let values: Vec<f64> = m.scalars().into_iter().map(|(_, v)| v).collect();
                    (Some(l), Some(logits), Some(values))
                }
                None => (None, None, None),
            };
            let seconds = elapsed(&start);
            report.epoch_losses.push(loss);
            report.lrs.push(lr);
            report.epoch_seconds.push(seconds);
            report.val_losses.extend(val_loss);
            let val_entry = val_loss.zip(metrics.as_deref());
            if monitor.observe(epoch, loss, val_entry, &mut report) {
                backend.keep_best_after(i)?;
            }
            report.train_seconds = seconds;
            report.samples_per_sec = (epoch * train_rows) as f64 / seconds.max(1e-9);
            on_epoch(&EpochReport {
                epoch,
                epochs: config.epochs,
                train_loss: loss,
                val_loss,
                val_logits: val_logits.as_deref(),
                val_metrics: metrics.as_deref(),
                seconds,
                lr,
                samples_per_sec: report.samples_per_sec,
            });
            report.val_metrics.extend(metrics);
            if report.stopped_early {
                if i + 1 < losses.len() {
                    backend.stop_after(i)?;
                }
                break;
            }
        }
        let finished = report.epoch_losses.len();
        let over = finished >= config.epochs || report.stopped_early;
        let cut_short = losses.len() < lrs.len();
        if (cut_short && said_stop.get()) || (!cut_short && stop() && !over) {
            let state = backend.state()?;
            let steps = state.partial_losses.len();
            checkpoint(state, &report, elapsed(&start))?;
            return Err(Error::Interrupted {
                epochs_done: finished,
                steps,
            });
        }
        if checkpoint_every.is_some_and(|e| e > 0 && finished % e == 0) {
            checkpoint(backend.state()?, &report, elapsed(&start))?;
        }
    }
    if report.best_epoch.is_some() {
        backend.restore_best()?;
    }
    report.train_seconds = elapsed(&start);
    report.samples_per_sec =
        (report.epoch_losses.len() * train_rows) as f64 / report.train_seconds.max(1e-9);
    Ok(report)
}
