//! Training on a file larger than the memory a run may hold (`--max-memory`): the file is read
//! a chunk at a time, never whole. Two passes fit the labels and the preprocessing in bounded
//! memory; each epoch then reads the chunks in a seeded order, encodes them and passes their
//! training rows through a seeded shuffle buffer into the GPU trainer's window. A seeded
//! sample of the held-out rows stays in memory to validate each epoch.
//!
//! How the bound is shared out, of `M` bytes: a chunk parses to `M`/32 (1 to 64 MiB), the
//! shuffle buffer and the validation sample hold `M`/4 each, the trainer's window `M`/16
//! (it sits in host memory as well where the adapter is a CPU), and each column's
//! statistics `M`/8 over the columns.

use super::prepared::network;
use super::{output_of, score, training_record, with_headline, Device, OnEpoch, Trained};
use crate::data::chunks::Chunks;
use crate::data::prep::census::Budget;
use crate::data::prep::streamed::Source;
use crate::data::prep::Task;
use crate::data::stream::{FileRows, RowStream, Split, Streaming};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model_file::{ModelMeta, SavedModel};
use crate::options::TrainOptions;
use crate::train::fit::{fit_controlled, FitControl};
use crate::train::Trainer;
use std::path::Path;

/// Host bytes a file would take to train on in memory: its table of cells and the encoded
/// rows (measured: a 243 MB CSV of 30 columns peaked at 1.9 GiB, 7.9 times its size).
pub fn in_memory_bytes(path: &Path) -> Result<u64> {
    Chunks::in_memory_bytes(path)
}

/// Whether a run of `opts` on `path` streams it: when training in memory would take more
/// than `--max-memory`.
pub fn streams(path: &Path, opts: &TrainOptions) -> Result<bool> {
    Ok(in_memory_bytes(path)? > opts.max_memory.bytes())
}

/// An error where `command` (cv, search: they hold every row, once, for all their folds)
/// would need more memory for the file at `path` than `--max-memory` allows.
pub fn check_fits(path: &Path, opts: &TrainOptions, command: &str) -> Result<()> {
    let (needed, bound) = (in_memory_bytes(path)?, opts.max_memory.bytes());
    if needed <= bound {
        return Ok(());
    }
    let size = |b: u64| crate::files::size_words(b);
    Err(Error::Input {
        at: crate::error::Location::file(path.display().to_string()),
        message: format!(
            "{command} holds every row in memory, and this file would take about {}, more than \
             --max-memory ({}); raise --max-memory, or run {command} on a sample of the rows \
             (train streams a file this large)",
            size(needed),
            size(bound)
        ),
    })
}

/// What a streamed run read, for reports.
#[derive(Clone, Debug)]
pub struct StreamedData {
    /// Rows in the file, and its columns.
    pub rows: u64,
    /// See `rows`.
    pub columns: usize,
    /// Chunks each epoch reads.
    pub chunks: usize,
    /// Rows the validation sample holds (of the held-out rows), or the training sample
    /// scored without validation.
    pub sample_rows: usize,
}

/// How `M` bytes are shared out (see the module).
struct Shares {
    chunk_bytes: u64,
    sample_bytes: u64,
    window_bytes: u64,
    stats_bytes: u64,
}

impl Shares {
    fn of(memory: u64) -> Shares {
        Shares {
            chunk_bytes: (memory / 32).clamp(1 << 20, 64 << 20),
            sample_bytes: memory / 4,
            window_bytes: memory / 16,
            stats_bytes: memory / 8,
        }
    }
}

/// Trains on the file at `path` streamed from disk, with `opts` on `gpu`: see the module.
/// Stops, checkpoints and resumes as [`super::train_controlled`] does; the epoch a stop
/// left unfinished is read again from its start up to where it stopped.
pub fn train_file(
    path: &Path,
    opts: &TrainOptions,
    device: Device<'_>,
    on_epoch: &mut OnEpoch<'_>,
    control: FitControl<'_>,
) -> Result<(Trained, StreamedData)> {
    let Device::Gpu(gpu) = device else {
        return Err(Error::InvalidConfig(format!(
            "{} would take more than --max-memory {} in memory, and streaming it from disk \
             trains on a GPU only; raise --max-memory to train it in memory on the CPU",
            path.display(),
            crate::options::value::SettingValue::show(&opts.max_memory)
        )));
    };
    let memory = opts.max_memory.bytes();
    let shares = Shares::of(memory);
    let columns = Chunks::open(path, shares.chunk_bytes)?.columns().len();
    // Each column's statistics: its distinct texts or sampled values, ~64 bytes each.
    let per_column = (shares.stats_bytes / columns.max(1) as u64 / 64).clamp(256, 1 << 20);
    let source = Source {
        path,
        target: &opts.target,
        weight: opts.sample_weight.as_deref(),
        task: opts.task,
        budget: Budget {
            distinct: per_column as usize,
            sample: per_column as usize,
        },
        chunk_bytes: shares.chunk_bytes,
        seed: opts.config.seed,
        missing: opts.missing,
    };
    let split = Split {
        seed: opts.config.seed,
        fraction: opts.val_fraction,
    };
    // Rows are sized once the width is known; the buffer is set below.
    let streaming = Streaming {
        chunk_bytes: shares.chunk_bytes,
        buffer_rows: 1,
        seed: opts.config.seed,
    };
    let mut rows = FileRows::open(&source, split, opts.balanced, streaming)?;
    let (width, outputs) = (rows.features(), rows.outputs());
    let row_bytes = 4 * (width + outputs + 1) as u64 + 8;
    let sample_rows = (shares.sample_bytes / row_bytes).max(1) as usize;
    rows.set_buffer_rows(sample_rows);
    let plan = rows.plan();
    let (task, classes) = (plan.task, plan.classes.clone());
    let facts = StreamedData {
        rows: plan.rows,
        columns,
        chunks: rows.chunks(),
        sample_rows: 0,
    };
    let (val, train_sample) = rows.samples(sample_rows, opts.val_fraction == 0.0)?;
    let scored = val
        .as_ref()
        .or(train_sample.as_ref())
        .ok_or_else(|| Error::InvalidData("the file has no rows to score".into()))?;
    let (spec, start) = network(width, (task, classes.len()), opts, control.resume.as_ref())?;
    let config = &super::resumed_config(&opts.config, control.resume.as_ref(), &start);
    let prep = rows.preprocessor().clone();
    let scale = rows.scale();
    let class_weights = rows.class_weights().map(<[f32]>::to_vec);
    let train_rows = rows.rows();
    let window_rows = (shares.window_bytes / (4 * (width + outputs + 1) as u64)).max(1) as usize;
    let mut trainer = Trainer::streamed(gpu, &start, Box::new(rows), window_rows, config)?;
    super::warn_if_path_changed(control.resume.as_ref(), trainer.path());
    let mut on_epoch = with_headline(task, spec.loss, on_epoch);
    let report = fit_controlled(
        &mut trainer,
        config,
        train_rows,
        val.as_ref(),
        &mut on_epoch,
        control,
    )?;
    let mlp = trainer.model()?;
    let outputs_seen = device.predict(&mlp, scored.x())?;
    let metrics = score(
        task,
        classes.len(),
        &outputs_seen,
        &truth(task, scored, scale),
        scale,
        0.5,
    );
    let val_rows = val.as_ref().map_or(0, Dataset::rows);
    let training = training_record(opts, &report, class_weights, (train_rows, val_rows), device);
    let target = opts.target.clone();
    debug_assert_eq!(output_of(task, classes.len()).0, outputs);
    let meta = ModelMeta::new(
        spec,
        task,
        target,
        classes,
        scale,
        prep,
        training,
        Some(metrics.clone()),
    );
    let trained = Trained {
        model: SavedModel { mlp, meta },
        report,
        metrics,
        validated: val.is_some(),
    };
    Ok((
        trained,
        StreamedData {
            sample_rows: scored.rows(),
            ..facts
        },
    ))
}

/// Each scored row's class, or its value in the target's units.
fn truth(task: Task, rows: &Dataset, scale: Option<crate::data::prep::TargetScale>) -> Vec<f64> {
    let outputs = rows.outputs();
    (0..rows.rows())
        .map(|r| match task {
            Task::Binary => f64::from(rows.target(r, 0)),
            Task::Multiclass => (0..outputs)
                .position(|c| rows.target(r, c) == 1.0)
                .unwrap_or(0) as f64,
            Task::Regression => {
                let z = rows.target(r, 0);
                scale.map_or(f64::from(z), |s| s.decode(z))
            }
        })
        .collect()
}
