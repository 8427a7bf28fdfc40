//! From a CSV table to a trained, evaluated model and back: the library side of the CLI's
//! `train`, `eval`, `predict` and `cv`. Each function takes the compute device as an argument
//! so the same pipeline runs on the GPU or on the CPU reference.
//!
//! ```
//! use gpumlp::data::table::Table;
//! use gpumlp::workflow::{self, Device, TrainOptions};
//!
//! # fn main() -> gpumlp::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let csv = dir.path().join("t.csv");
//! let mut text = String::from("a,colour,y\n");
//! for i in 0..60 {
//!     text += &format!("{},{},{}\n", i % 7, ["red", "blue"][i % 2], i % 2);
//! }
//! std::fs::write(&csv, text).unwrap();
//! let table = Table::read(&csv)?;
//! let mut options = TrainOptions { target: "y".into(), hidden: vec![8], ..TrainOptions::default() };
//! options.config.epochs = 5;
//! let trained = workflow::train(&table, &options, Device::Cpu, &mut |_, _| {})?;
//! let predictions = workflow::predict(&trained.model, &table, Device::Cpu)?;
//! assert_eq!(predictions.rows.len(), 60);
//! let metrics = workflow::evaluate(&trained.model, &table, Device::Cpu)?;
//! let cv = workflow::cross_validate(&table, &options, 3, Device::Cpu, &mut |_, _| {})?;
//! assert_eq!(cv.folds.len(), 3);
//! # let _ = metrics;
//! # Ok(())
//! # }
//! ```

use crate::data::prep::{label, Labelled, TargetScale, Task};
use crate::data::split::train_val_split;
use crate::data::table::Table;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels;
use crate::metrics::{self, Metrics};
use crate::model::{Loss, Mlp};
use crate::model_file::{ModelMeta, SavedModel, TrainingRecord};
use crate::train::cpu::{self, CpuTrainer};
use crate::train::fit::{fit_controlled, Checkpoint, EpochReport, FitControl, FitReport};
use crate::train::monitor::metric_names;
use crate::train::{self, Trainer};

/// Where the arithmetic runs.
#[derive(Clone, Copy)]
pub enum Device<'g> {
    /// Every step in WGSL on this adapter.
    Gpu(&'g Gpu),
    /// The CPU reference implementation.
    Cpu,
}

impl Device<'_> {
    /// The adapter's description, or "cpu (reference)".
    pub fn describe(&self) -> String {
        match self {
            Device::Gpu(gpu) => gpu.describe(),
            Device::Cpu => "cpu (reference implementation)".into(),
        }
    }

    /// The network's outputs (probabilities or standardised values) for rows of `x`.
    // x: (rows, inputs) → (rows, outputs)
    pub fn predict(&self, model: &Mlp, x: &[f32]) -> Result<Vec<f32>> {
        match self {
            Device::Gpu(gpu) => train::predict(gpu, model, x),
            Device::Cpu => cpu::predict(model, x),
        }
    }
}

pub use crate::options::TrainOptions;
pub use cv::{cross_validate, cross_validate_many, CrossValidation};

mod cv;
mod prepared;
pub mod streamed;
use prepared::{prepare, Prepared};

/// A trained model and what training measured.
#[derive(Clone, Debug)]
pub struct Trained {
    /// The model with its metadata, ready to save.
    pub model: SavedModel,
    /// Losses, rates, early stopping and timing.
    pub report: FitReport,
    /// Metrics on the validation rows, or on the training rows without validation.
    pub metrics: Metrics,
    /// Whether `metrics` come from validation rows.
    pub validated: bool,
}

/// A model's metrics on labelled rows and what it predicted for each of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluated {
    /// The metrics.
    pub metrics: Metrics,
    /// The network's outputs per row: P(class 1) (binary), class probabilities (rows,
    /// classes), or the standardised value (regression).
    pub outputs: Vec<f32>,
    /// Each row's class index, or its value in the target's units.
    pub truth: Vec<f64>,
}

/// A trained run's facts, for reports (`train --json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainReport {
    /// The data file.
    pub data: String,
    /// Its rows and columns.
    pub rows: usize,
    /// Columns of the data file.
    pub columns: usize,
    /// The model file written.
    pub model: String,
    /// The adapter (or "cpu") that trained it.
    pub adapter: String,
    /// What the network predicts.
    pub task: crate::data::prep::Task,
    /// The target column.
    pub target: String,
    /// Class labels (empty for regression).
    pub classes: Vec<String>,
    /// Network inputs after preprocessing.
    pub inputs: usize,
    /// The network's widths, e.g. "30-64-32-1".
    pub network: String,
    /// Trainable parameters.
    pub parameters: usize,
    /// Training and validation rows.
    pub train_rows: usize,
    /// Validation rows (0 without validation).
    pub val_rows: usize,
    /// Epochs run.
    pub epochs: usize,
    /// The epoch whose weights were kept, when early stopping chose one.
    pub best_epoch: Option<usize>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Seconds of the training loop.
    pub train_seconds: f64,
    /// Training rows per second.
    pub samples_per_sec: f64,
    /// Mean training loss of the last epoch.
    pub final_train_loss: f32,
    /// Every epoch's training loss.
    pub epoch_losses: Vec<f32>,
    /// Every epoch's validation loss (empty without validation).
    pub val_losses: Vec<f32>,
    /// "validation" or "training": which rows the metrics are on.
    pub metrics_on: &'static str,
    /// The metrics.
    pub metrics: crate::metrics::Metrics,
    /// Columns left out (empty, or identifiers).
    pub skipped_columns: Vec<String>,
    /// Whether the data was streamed from disk, a chunk at a time (it would not fit
    /// `--max-memory`), rather than read whole.
    pub streamed: bool,
}

/// The data file a run read, for its report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataShape {
    /// The file's name.
    pub name: String,
    /// Its rows and columns.
    pub rows: usize,
    /// See `rows`.
    pub columns: usize,
    /// Whether the run streamed it.
    pub streamed: bool,
}

impl DataShape {
    /// A table read whole.
    pub fn of(table: &Table) -> DataShape {
        DataShape {
            name: table.name.clone(),
            rows: table.rows.len(),
            columns: table.columns.len(),
            streamed: false,
        }
    }
}

impl Trained {
    /// The run's facts for a report: the data, the network, the history and the metrics.
    pub fn report(
        &self,
        data: &DataShape,
        model_path: &std::path::Path,
        adapter: &str,
    ) -> TrainReport {
        let meta = &self.model.meta;
        let report = &self.report;
        TrainReport {
            data: data.name.clone(),
            rows: data.rows,
            columns: data.columns,
            model: model_path.display().to_string(),
            adapter: adapter.to_string(),
            task: meta.task,
            target: meta.target.clone(),
            classes: meta.classes.clone(),
            inputs: meta.spec.inputs,
            network: meta.spec.describe(),
            parameters: self.model.mlp.num_params(),
            train_rows: meta.training.train_rows,
            val_rows: meta.training.val_rows,
            epochs: report.epoch_losses.len(),
            best_epoch: report.best_epoch,
            stopped_early: report.stopped_early,
            train_seconds: report.train_seconds,
            samples_per_sec: report.samples_per_sec,
            final_train_loss: meta.training.final_train_loss,
            epoch_losses: report.epoch_losses.clone(),
            val_losses: report.val_losses.clone(),
            metrics_on: if self.validated {
                "validation"
            } else {
                "training"
            },
            metrics: self.metrics.clone(),
            skipped_columns: meta.preprocessor.skipped.clone(),
            streamed: data.streamed,
        }
    }
}

/// The answers for rows of a table: outputs per row and what they mean.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    /// Table rows, in order.
    pub rows: Vec<usize>,
    /// Class probabilities (rows, classes) for classifiers; values (rows, 1) for regression.
    pub values: Vec<f32>,
    /// Class labels (empty for regression).
    pub classes: Vec<String>,
    /// The predicted class index of each row (empty for regression).
    pub labels: Vec<usize>,
}

impl Predictions {
    /// The predictions as CSV: a header `row,prediction[,p_<class>...]`, then per row its
    /// 1-based table row, the predicted class (or value) and each class's probability.
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let to_err = |e: csv::Error| Error::InvalidData(format!("cannot write CSV: {e}"));
        let mut header = vec!["row".to_string(), "prediction".to_string()];
        header.extend(self.classes.iter().map(|c| format!("p_{c}")));
        w.write_record(&header).map_err(to_err)?;
        let k = self.classes.len().max(1);
        for (i, &row) in self.rows.iter().enumerate() {
            let mut record = vec![(row + 1).to_string()];
            if self.classes.is_empty() {
                record.push(self.values.get(i).map(f32::to_string).unwrap_or_default());
            } else {
                let label = self.labels.get(i).and_then(|&l| self.classes.get(l));
                record.push(label.cloned().unwrap_or_default());
                let probs = self.values.get(i * k..(i + 1) * k).unwrap_or_default();
                record.extend(probs.iter().map(|v| v.to_string()));
            }
            w.write_record(&record).map_err(to_err)?;
        }
        w.into_inner()
            .map_err(|e| Error::InvalidData(format!("cannot write CSV: {e}")))
    }

    /// The predictions as JSON: per row its 1-based table row and the predicted class with
    /// each class's probability (in [`Predictions::classes`] order), or the value.
    pub fn to_json(&self) -> serde_json::Value {
        let k = self.classes.len().max(1);
        let rows = self.rows.iter().enumerate().map(|(i, &row)| {
            if self.classes.is_empty() {
                serde_json::json!({"row": row + 1, "value": self.values.get(i)})
            } else {
                let label = self.labels.get(i).and_then(|&l| self.classes.get(l));
                let probs = self.values.get(i * k..(i + 1) * k).unwrap_or_default();
                serde_json::json!({"row": row + 1, "prediction": label, "probabilities": probs})
            }
        });
        serde_json::Value::Array(rows.collect())
    }

    /// Writes [`Predictions::to_csv`] to `path` atomically.
    pub fn save_csv(&self, path: &std::path::Path) -> Result<()> {
        crate::files::write_atomically(path, &self.to_csv()?)
    }

    /// The predictions as a Parquet file (the `parquet` feature): the columns of
    /// [`Predictions::to_csv`], `row` as integers, `prediction` as the class's name (or the
    /// value) and each probability as a 32-bit float, exactly as computed.
    #[cfg(feature = "parquet")]
    pub fn to_parquet(&self) -> Result<Vec<u8>> {
        use arrow_array::{ArrayRef, Float32Array, Int64Array, StringArray};
        use std::sync::Arc;
        let k = self.classes.len().max(1);
        let rows: Vec<i64> = self.rows.iter().map(|&r| r as i64 + 1).collect();
        let mut columns: Vec<(String, ArrayRef)> =
            vec![("row".into(), Arc::new(Int64Array::from(rows)))];
        if self.classes.is_empty() {
            let values = self.values.clone();
            columns.push(("prediction".into(), Arc::new(Float32Array::from(values))));
        } else {
            let labels: Vec<Option<&str>> = (0..self.rows.len())
                .map(|i| {
                    let label = self.labels.get(i).and_then(|&l| self.classes.get(l));
                    label.map(String::as_str)
                })
                .collect();
            columns.push(("prediction".into(), Arc::new(StringArray::from(labels))));
            for (c, class) in self.classes.iter().enumerate() {
                let probs: Vec<f32> = (0..self.rows.len())
                    .map(|i| self.values.get(i * k + c).copied().unwrap_or(f32::NAN))
                    .collect();
                columns.push((format!("p_{class}"), Arc::new(Float32Array::from(probs))));
            }
        }
        crate::data::parquet::write(columns)
    }

    /// Writes the predictions to `path`, atomically: Parquet where its name ends in
    /// `.parquet`, else CSV.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let parquet = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        if !parquet {
            return self.save_csv(path);
        }
        #[cfg(feature = "parquet")]
        return crate::files::write_atomically(path, &self.to_parquet()?);
        #[cfg(not(feature = "parquet"))]
        Err(Error::InvalidConfig(format!(
            "{} names a Parquet file, which this build of gpumlp (without its parquet \
             feature) cannot write; name a .csv file",
            path.display()
        )))
    }
}

fn table_rows(labelled: &Labelled, pos: &[usize]) -> Vec<usize> {
    pos.iter().map(|&p| labelled.rows[p]).collect()
}

fn class_of(labelled: &Labelled) -> Option<Vec<usize>> {
    (labelled.task != Task::Regression).then(|| labelled.y.iter().map(|&v| v as usize).collect())
}

/// The output layer for a task with `classes` classes.
fn output_of(task: Task, classes: usize) -> (usize, Loss) {
    match task {
        Task::Binary => (1, Loss::Bce),
        Task::Multiclass => (classes, Loss::SoftmaxCe),
        Task::Regression => (1, Loss::Mse),
    }
}

/// Balanced class weights from the training positions: n / (k · n_c).
fn balanced_weights(labelled: &Labelled, train: &[usize]) -> Vec<f32> {
    let k = labelled.classes.len();
    let mut counts = vec![0usize; k];
    for &p in train {
        counts[labelled.y[p] as usize] += 1;
    }
    counts
        .iter()
        .map(|&c| train.len() as f32 / (k as f32 * c.max(1) as f32))
        .collect()
}

/// Class probabilities (rows, classes) from network outputs: binary nets have one output,
/// P(class 1).
fn class_probs(task: Task, outputs: &[f32]) -> Vec<f32> {
    match task {
        Task::Binary => outputs.iter().flat_map(|&p| [1.0 - p, p]).collect(),
        _ => outputs.to_vec(),
    }
}

/// Metrics of network outputs against true classes or values.
fn score(
    task: Task,
    classes: usize,
    outputs: &[f32],
    truth: &[f64],
    scale: Option<TargetScale>,
    threshold: f64,
) -> Metrics {
    match task {
        Task::Binary => {
            let y: Vec<usize> = truth.iter().map(|&v| v as usize).collect();
            Metrics::Binary(metrics::binary(&y, outputs, threshold))
        }
        Task::Multiclass => {
            let y: Vec<usize> = truth.iter().map(|&v| v as usize).collect();
            Metrics::Multiclass(metrics::multiclass(&y, outputs, classes))
        }
        Task::Regression => {
            let scale = scale.unwrap_or(TargetScale {
                mean: 0.0,
                std: 1.0,
            });
            let pred: Vec<f64> = outputs.iter().map(|&z| scale.decode(z)).collect();
            Metrics::Regression(metrics::regression(truth, &pred))
        }
    }
}

/// Sees each epoch's report and the validation metric that matters most (accuracy, or R²
/// for regression), when there are validation rows.
pub type OnEpoch<'a> = dyn FnMut(&EpochReport<'_>, Option<(&'static str, f64)>) + 'a;

/// `on_epoch` with the validation metric that matters most for `task` (accuracy, or R²),
/// as [`Metrics::headline`] picks it.
fn with_headline<'a, 'b>(
    task: Task,
    loss: Loss,
    on_epoch: &'a mut OnEpoch<'b>,
) -> impl FnMut(&EpochReport<'_>) + use<'a, 'b>
where
    'b: 'a,
{
    let headline = match task {
        Task::Regression => 3,
        _ => 0,
    };
    move |e: &EpochReport<'_>| {
        let metric = e
            .val_metrics
            .and_then(|m| Some((metric_names(loss)[headline], *m.get(headline)?)));
        on_epoch(e, metric)
    }
}

/// Trains on the `train` positions of `labelled` (validating on `val`, if not empty).
#[allow(clippy::too_many_arguments)]
fn train_on(
    table: &Table,
    labelled: &Labelled,
    train: &[usize],
    val: &[usize],
    opts: &TrainOptions,
    device: Device<'_>,
    on_epoch: &mut OnEpoch<'_>,
    control: FitControl<'_>,
) -> Result<Trained> {
    let prepared = prepare(table, labelled, train, val, opts, control.resume.as_ref())?;
    train_prepared(
        prepared,
        labelled,
        (train, val),
        opts,
        device,
        on_epoch,
        control,
        true,
    )
}

/// Trains a prepared run on the `train` positions of `labelled` (validating on `val`, if
/// not empty: after every epoch where `each_epoch` or the settings need it, else once at the
/// end).
#[allow(clippy::too_many_arguments)]
fn train_prepared(
    prepared: Prepared,
    labelled: &Labelled,
    (train, val): (&[usize], &[usize]),
    opts: &TrainOptions,
    device: Device<'_>,
    on_epoch: &mut OnEpoch<'_>,
    control: FitControl<'_>,
    each_epoch: bool,
) -> Result<Trained> {
    let train_set = &prepared.train_set.dataset()?;
    let (val_set, start) = (&prepared.val_set, &prepared.start);
    // The rows validated after each epoch.
    let watched = val_set
        .as_deref()
        .filter(|_| each_epoch || opts.config.watches_validation());
    let config = &opts.config;
    let mut on_epoch = with_headline(labelled.task, prepared.spec.loss, on_epoch);
    let on_epoch = &mut on_epoch;
    let (mlp, report, seen) = match device {
        Device::Gpu(gpu) => {
            let config = &resumed_config(config, control.resume.as_ref(), start);
            let mut trainer = Trainer::with_validation(gpu, start, train_set, watched, config)?;
            warn_if_path_changed(control.resume.as_ref(), trainer.path());
            let r = fit_controlled(
                &mut trainer,
                config,
                train_set.rows(),
                watched,
                on_epoch,
                control,
            )?;
            // The validation rows' logits from the trainer: the wide fused kernel has them
            // without a pass of its own.
            let seen = match val_set {
                Some(v) => Some(trainer.logits(v.x())?),
                None => None,
            };
            (trainer.model()?, r, seen)
        }
        Device::Cpu => {
            let mut trainer = CpuTrainer::new(start, train_set, config)?;
            let r = fit_controlled(
                &mut trainer,
                config,
                train_set.rows(),
                watched,
                on_epoch,
                control,
            )?;
            (trainer.model().clone(), r, None)
        }
    };
    finish(
        prepared,
        labelled,
        (train, val),
        opts,
        device,
        (mlp, seen),
        report,
    )
}

/// Scores a trained network on its validation rows (or its training rows without them; the
/// validation rows' logits `seen`, where the trainer has them) and gathers what its model
/// file records.
fn finish(
    prepared: Prepared,
    labelled: &Labelled,
    (train, val): (&[usize], &[usize]),
    opts: &TrainOptions,
    device: Device<'_>,
    (mlp, seen): (Mlp, Option<Vec<f32>>),
    report: FitReport,
) -> Result<Trained> {
    let Prepared {
        prep,
        scale,
        class_weights,
        train_set,
        val_set,
        spec,
        ..
    } = prepared;
    let (task, k) = (labelled.task, labelled.classes.len());
    let (scored, scored_pos) = match &val_set {
        Some(v) => (v.clone(), val),
        None => (train_set.dataset()?, train),
    };
    let outputs_seen = match seen.filter(|_| val_set.is_some()) {
        Some(mut logits) => {
            let spec = mlp.spec();
            kernels::loss::reference::output_transform(spec.loss, &mut logits, spec.outputs);
            logits
        }
        None => device.predict(&mlp, scored.x())?,
    };
    let truth: Vec<f64> = scored_pos.iter().map(|&p| labelled.y[p]).collect();
    let metrics = score(task, k, &outputs_seen, &truth, scale, 0.5);
    let training = training_record(
        opts,
        &report,
        class_weights,
        (train.len(), val.len()),
        device,
    );
    let meta = ModelMeta::new(
        spec,
        task,
        labelled.target.clone(),
        labelled.classes.clone(),
        scale,
        prep,
        training,
        Some(metrics.clone()),
    );
    Ok(Trained {
        model: SavedModel { mlp, meta },
        report,
        metrics,
        validated: val_set.is_some(),
    })
}

/// What a model file records of how it was trained (the run's id, checksum and search are
/// filled in by the job that ran it).
fn training_record(
    opts: &TrainOptions,
    report: &FitReport,
    class_weights: Option<Vec<f32>>,
    (train_rows, val_rows): (usize, usize),
    device: Device<'_>,
) -> TrainingRecord {
    let config = &opts.config;
    TrainingRecord {
        optimizer: config.optimizer,
        schedule: config.schedule,
        epochs: config.epochs,
        epochs_run: report.epoch_losses.len(),
        best_epoch: report.best_epoch,
        batch_size: config.batch_size,
        seed: config.seed,
        val_fraction: opts.val_fraction,
        class_weights,
        train_rows,
        val_rows,
        adapter: device.describe(),
        train_seconds: report.train_seconds,
        final_train_loss: report.epoch_losses.last().copied().unwrap_or(f32::NAN),
        run_id: None,
        data_checksum: None,
        search: None,
        options: Some(opts.clone()),
    }
}

/// Reads the target, splits off the validation rows and trains.
pub fn train(
    table: &Table,
    opts: &TrainOptions,
    device: Device<'_>,
    on_epoch: &mut OnEpoch<'_>,
) -> Result<Trained> {
    train_controlled(table, opts, device, on_epoch, FitControl::none())
}

/// [`train()`] that can be stopped, checkpointed and resumed (see [`FitControl`]). The split,
/// the preprocessing and the initial weights follow from the table and `opts` alone, so a
/// checkpoint taken with the same table and options continues the same run.
pub fn train_controlled(
    table: &Table,
    opts: &TrainOptions,
    device: Device<'_>,
    on_epoch: &mut OnEpoch<'_>,
    control: FitControl<'_>,
) -> Result<Trained> {
    let labelled = label(table, &opts.target, opts.task, opts.missing)?
        .with_sample_weights(table, opts.sample_weight.as_deref())?;
    let classes = class_of(&labelled);
    let (tr, val) = train_val_split(
        labelled.rows.len(),
        classes.as_deref(),
        opts.val_fraction,
        opts.config.seed,
    )?;
    train_on(table, &labelled, &tr, &val, opts, device, on_epoch, control)
}

/// Warns where a resumed run continues on another path than its checkpoint's.
fn warn_if_path_changed(resume: Option<&Checkpoint>, path: &str) {
    if let Some(recorded) = resume.map(|c| c.state.path.as_str()) {
        if !recorded.is_empty() && recorded != "cpu" && recorded != path {
            log::warn!(
                "the run trained {recorded} and continues {path} here; its weights will not be \
                 bit-identical to a run that never stopped"
            );
        }
    }
}

/// The settings a resumed run trains with: the path its checkpoint recorded, so that it stays
/// bit for bit the run that never stopped. A checkpoint from one dispatch per op continues
/// that way; one from before the path was recorded, the way gpumlp then trained (fused only
/// for the small kernel's networks).
fn resumed_config(
    config: &train::TrainConfig,
    resume: Option<&Checkpoint>,
    start: &Mlp,
) -> train::TrainConfig {
    let recorded = resume.map_or("", |c| c.state.path.as_str());
    let allow_fused = match recorded {
        "per-op" => false,
        "" if resume.is_some() => {
            config.allow_fused && crate::kernels::fused::supports_small(start)
        }
        _ => config.allow_fused,
    };
    train::TrainConfig {
        allow_fused,
        ..config.clone()
    }
}

/// The network's answers for every row of `table` (its columns matched by name).
pub fn predict(model: &SavedModel, table: &Table, device: Device<'_>) -> Result<Predictions> {
    let meta = &model.meta;
    let rows: Vec<usize> = (0..table.rows.len()).collect();
    let x = meta.preprocessor.transform(table, &rows)?;
    let outputs = finite_outputs(model, table, &rows, &x, device.predict(&model.mlp, &x)?)?;
    let values = match meta.task {
        Task::Regression => {
            let scale = meta.target_scale.unwrap_or(TargetScale {
                mean: 0.0,
                std: 1.0,
            });
            let values = outputs.iter().map(|&z| scale.decode(z) as f32).collect();
            finite_outputs(model, table, &rows, &x, values)?
        }
        task => class_probs(task, &outputs),
    };
    let labels = match meta.task {
        Task::Regression => Vec::new(),
        Task::Binary => outputs
            .iter()
            .map(|&p| usize::from(f64::from(p) >= meta.threshold))
            .collect(),
        Task::Multiclass => values
            .chunks(model.mlp.spec().outputs.max(1))
            .map(|row| (0..row.len()).fold(0, |best, c| if row[c] > row[best] { c } else { best }))
            .collect(),
    };
    Ok(Predictions {
        rows,
        values,
        classes: meta.classes.clone(),
        labels,
    })
}

/// The network's outputs, refused where they are not finite: a model never answers NaN. The
/// message blames what is to blame: the row's values when they lie far outside what the
/// model was trained on, else the model's weights.
fn finite_outputs(
    model: &SavedModel,
    table: &Table,
    rows: &[usize],
    x: &[f32],
    outputs: Vec<f32>,
) -> Result<Vec<f32>> {
    let per_row = model.mlp.spec().outputs.max(1);
    let Some(i) = outputs.iter().position(|v| !v.is_finite()) else {
        return Ok(outputs);
    };
    let row = i / per_row;
    let r = rows.get(row).copied().unwrap_or(0);
    let width = model.mlp.spec().inputs.max(1);
    let inputs = x.get(row * width..(row + 1) * width).unwrap_or(&[]);
    let (worst, z) =
        inputs
            .iter()
            .enumerate()
            .fold((0, 0f32), |(b, m), (j, v)| match v.abs() > m {
                true => (j, v.abs()),
                false => (b, m),
            });
    let at = table.location(r, usize::MAX);
    // A row this many standard deviations out is beyond what any trained network can be
    // expected to carry through f32.
    if z > FAR_OUTSIDE {
        let column = model
            .meta
            .preprocessor
            .input_column(worst)
            .unwrap_or_default();
        return Err(Error::Input {
            at: at.column(column),
            message: format!(
                "the model's output for this row is {}: the value lies {} standard deviations \
                 from the training values, beyond what f32 arithmetic carries",
                outputs[i],
                crate::error::num(f64::from(z))
            ),
        });
    }
    Err(Error::InvalidModel(format!(
        "its output for {at} is {}, though the row's values lie within {} standard deviations \
         of the training values: its weights are too large for f32",
        outputs[i],
        crate::error::num(f64::from(z))
    )))
}

/// How many standard deviations from the training values an encoded input may lie before a
/// non-finite output is blamed on it rather than on the model.
const FAR_OUTSIDE: f32 = 1e6;

/// The true class index or value of each labelled row of `table`, by the model's classes.
fn truth_for(model: &SavedModel, table: &Table) -> Result<(Vec<usize>, Vec<f64>)> {
    let meta = &model.meta;
    let col = table.column(&meta.target)?;
    let mut rows = Vec::new();
    let mut truth = Vec::new();
    for (r, cells) in table.rows.iter().enumerate() {
        let Some(cell) = cells.get(col).and_then(Option::as_ref) else {
            continue; // unlabelled rows are not scored
        };
        let value = match meta.task {
            Task::Regression => cell.number(),
            _ => class_index(&meta.classes, &cell.text()).map(|i| i as f64),
        };
        let cell = cell.text();
        let Some(value) = value else {
            let message = match meta.task {
                Task::Regression => format!("{cell:?} is not a number"),
                _ => format!(
                    "label {cell:?} was not seen in training; the model knows {}",
                    meta.classes.join(", ")
                ),
            };
            return Err(Error::Input {
                at: table.location(r, col),
                message,
            });
        };
        rows.push(r);
        truth.push(value);
    }
    if rows.is_empty() {
        return Err(Error::Input {
            at: crate::error::Location::file(&table.name).column(&meta.target),
            message: "no row has a label to evaluate against".into(),
        });
    }
    Ok((rows, truth))
}

/// A label's class index: the same text, or the same number ("1" and "1.0").
fn class_index(classes: &[String], cell: &str) -> Option<usize> {
    classes.iter().position(|c| c == cell).or_else(|| {
        let v = cell.parse::<f64>().ok()?;
        classes
            .iter()
            .position(|c| c.parse::<f64>().ok() == Some(v))
    })
}

/// Metrics of `model` on the labelled rows of `table`.
pub fn evaluate(model: &SavedModel, table: &Table, device: Device<'_>) -> Result<Metrics> {
    evaluate_rows(model, table, device).map(|e| e.metrics)
}

/// [`evaluate`], keeping what the model predicted for each labelled row (for figures).
pub fn evaluate_rows(model: &SavedModel, table: &Table, device: Device<'_>) -> Result<Evaluated> {
    let meta = &model.meta;
    let (rows, truth) = truth_for(model, table)?;
    let x = meta.preprocessor.transform(table, &rows)?;
    let outputs = finite_outputs(model, table, &rows, &x, device.predict(&model.mlp, &x)?)?;
    let metrics = score(
        meta.task,
        meta.classes.len(),
        &outputs,
        &truth,
        meta.target_scale,
        meta.threshold,
    );
    Ok(Evaluated {
        metrics,
        outputs,
        truth,
    })
}
