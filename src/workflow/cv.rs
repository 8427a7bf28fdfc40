//! Cross-validation of one configuration or of many (a search's candidates): on the GPU every
//! fold of every configuration whose networks share a shape and an optimiser trains side by
//! side in one group of the wide fused kernel, each fit in a thread of its own; the rest, and
//! everything on the CPU reference, one after another.

use super::prepared::{Encoded, Prepared, TrainRows};
use super::{class_of, finish, label, score, table_rows, train_prepared, Device};
use crate::data::prep::{Labelled, Task};
use crate::data::split::{k_fold, train_val_split};
use crate::data::table::Table;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::metrics::{self, Metrics, Summary};
use crate::model::Mlp;
use crate::options::TrainOptions;
use crate::train::fit::{fit_controlled, Backend, FitControl, FitReport};
use crate::train::group::{Candidate, Group, Rows};
use crate::workflow::Trained;

/// The cross-validation of one configuration: every fold's metrics and their summary.
#[derive(Clone, Debug)]
pub struct CrossValidation {
    /// The task that was inferred or forced.
    pub task: Task,
    /// Metrics on each fold's held-out rows.
    pub folds: Vec<Metrics>,
    /// Mean and standard deviation of every metric over the folds.
    pub summary: Vec<Summary>,
    /// Seconds spent training: the folds' sum when they train one after another, the longest
    /// fold's when they train side by side (from each fold's first epoch).
    pub train_seconds: f64,
}

/// Most models one group trains side by side; more share the work out over several groups.
const MAX_GROUP: usize = 64;

/// Stratified (for classifiers) k-fold cross-validation: each fold trains a fresh model on the
/// other folds' rows (holding out `opts.val_fraction` of them for early stopping) and scores it
/// on its own rows. `on_fold` sees each fold's number and metrics.
pub fn cross_validate(
    table: &Table,
    opts: &TrainOptions,
    folds: usize,
    device: Device<'_>,
    on_fold: &mut dyn FnMut(usize, &Metrics),
) -> Result<CrossValidation> {
    let mut all = cross_validate_many(
        table,
        std::slice::from_ref(opts),
        folds,
        device,
        &mut |_, _| {},
    )?;
    let cv = all
        .pop()
        .ok_or_else(|| Error::InvalidConfig("no configuration".into()))?;
    for (f, m) in cv.folds.iter().enumerate() {
        on_fold(f + 1, m);
    }
    Ok(cv)
}

/// One fold of one configuration.
struct Run<'a> {
    /// The configuration's index, and the fold's.
    config: usize,
    fold: usize,
    opts: &'a TrainOptions,
    labelled: &'a Labelled,
    /// Training rows, validation rows (split off the training rows) and the fold's own rows.
    train: Vec<usize>,
    val: Vec<usize>,
    test: Vec<usize>,
}

/// [`cross_validate`] of every configuration in `options` on the same table, each with the
/// folds its own seed draws: on the GPU all of their folds that can share a group train side
/// by side. `on_config` sees each configuration's result, in order.
pub fn cross_validate_many(
    table: &Table,
    options: &[TrainOptions],
    folds: usize,
    device: Device<'_>,
    on_config: &mut dyn FnMut(usize, &CrossValidation),
) -> Result<Vec<CrossValidation>> {
    let mut labelled = Vec::with_capacity(options.len());
    for opts in options {
        labelled.push(
            label(table, &opts.target, opts.task, opts.missing)?
                .with_sample_weights(table, opts.sample_weight.as_deref())?,
        );
    }
    // Rows encoded once for every configuration that labels the table the same way: all of
    // their folds read that copy.
    let mut encodings: Vec<(usize, Encoded)> = Vec::new();
    let mut encoding_of = Vec::with_capacity(options.len());
    for (i, (opts, lab)) in options.iter().zip(&labelled).enumerate() {
        match encodings
            .iter()
            .position(|&(j, _)| same_labels(&options[j], opts))
        {
            Some(e) => encoding_of.push(e),
            None => {
                encoding_of.push(encodings.len());
                encodings.push((i, Encoded::new(table, lab)?));
            }
        }
    }
    let mut runs = Vec::with_capacity(options.len() * folds);
    for (config, (opts, lab)) in options.iter().zip(&labelled).enumerate() {
        let classes = class_of(lab);
        let splits = k_fold(lab.rows.len(), classes.as_deref(), folds, opts.config.seed)?;
        for (fold, (train_pos, test)) in splits.into_iter().enumerate() {
            let (train, val) = if opts.val_fraction > 0.0 {
                let sub: Option<Vec<usize>> = classes
                    .as_ref()
                    .map(|c| train_pos.iter().map(|&p| c[p]).collect());
                let (a, b) = train_val_split(
                    train_pos.len(),
                    sub.as_deref(),
                    opts.val_fraction,
                    opts.config.seed,
                )?;
                (
                    a.iter().map(|&i| train_pos[i]).collect(),
                    b.iter().map(|&i| train_pos[i]).collect(),
                )
            } else {
                (train_pos, Vec::new())
            };
            runs.push(Run {
                config,
                fold,
                opts,
                labelled: lab,
                train,
                val,
                test,
            });
        }
    }
    // Every run's statistics, map and validation rows (its training rows stay shared).
    let mut prepared: Vec<Option<Prepared>> = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        let encoded = &encodings[encoding_of[run.config]].1;
        let mut p = encoded.prepare(table, run.labelled, (&run.train, &run.val), run.opts)?;
        // The same fold of a configuration that prepares its rows the same way: one copy of
        // its validation rows.
        if let Some(twin) = (0..i).find(|&j| same_rows(&runs[j], run)) {
            let twin = prepared[twin].as_ref().expect("prepared above");
            debug_assert!(twin.val_set == p.val_set);
            p.val_set.clone_from(&twin.val_set);
        }
        prepared.push(Some(p));
    }
    let mut trained: Vec<Option<(Trained, bool)>> = (0..runs.len()).map(|_| None).collect();
    if let Device::Gpu(gpu) = device {
        train_side_by_side(gpu, &runs, &mut prepared, &mut trained)?;
    }
    for ((run, slot), p) in runs.iter().zip(trained.iter_mut()).zip(&mut prepared) {
        if let Some(p) = p.take() {
            let t = train_prepared(
                p,
                run.labelled,
                (&run.train, &run.val),
                run.opts,
                device,
                &mut |_, _| {},
                FitControl::none(),
                false,
            )?;
            *slot = Some((t, false));
        }
    }
    let mut results = Vec::with_capacity(options.len());
    for config in 0..options.len() {
        let mut scores = Vec::with_capacity(folds);
        // Folds side by side ran at the same time: the longest is the time they took (each
        // counted from its first epoch); folds one after another add up.
        let (mut together, mut alone) = (0.0f64, 0.0);
        let mut task = Task::Binary;
        for (run, slot) in runs
            .iter()
            .zip(&trained)
            .filter(|(r, _)| r.config == config)
        {
            let (t, side_by_side) = slot.as_ref().expect("every run trained above");
            let seconds = t.report.train_seconds;
            match side_by_side {
                true => together = together.max(seconds),
                false => alone += seconds,
            }
            let meta = &t.model.meta;
            let x = meta
                .preprocessor
                .transform(table, &table_rows(run.labelled, &run.test))?;
            let outputs = device.predict(&t.model.mlp, &x)?;
            let truth: Vec<f64> = run.test.iter().map(|&p| run.labelled.y[p]).collect();
            task = run.labelled.task;
            scores.push(score(
                task,
                run.labelled.classes.len(),
                &outputs,
                &truth,
                meta.target_scale,
                meta.threshold,
            ));
        }
        let cv = CrossValidation {
            task,
            summary: metrics::summarize(&scores)?,
            folds: scores,
            train_seconds: together + alone,
        };
        on_config(config, &cv);
        results.push(cv);
    }
    Ok(results)
}

/// Trains, side by side on `gpu`, every prepared run that can share a group with others:
/// runs whose networks share a shape and optimiser, in groups of at most [`MAX_GROUP`]
/// (taking them out of `prepared`). Where a group cannot take them (the device cannot bind
/// their rows at once), they are left for one after another.
fn train_side_by_side(
    gpu: &Gpu,
    runs: &[Run<'_>],
    prepared: &mut [Option<Prepared>],
    trained: &mut [Option<(Trained, bool)>],
) -> Result<()> {
    if runs.len() < 2 {
        return Ok(());
    }
    // Runs that may share a group: the same network and optimiser.
    let mut kinds: Vec<Vec<usize>> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let spec = &prepared[i].as_ref().expect("prepared").spec;
        let same = |j: &usize| {
            prepared[*j].as_ref().expect("prepared").spec == *spec
                && runs[*j].opts.config.optimizer.kind == run.opts.config.optimizer.kind
        };
        match kinds.iter_mut().find(|k| k.first().is_some_and(same)) {
            Some(k) => k.push(i),
            None => kinds.push(vec![i]),
        }
    }
    for kind in kinds.into_iter().filter(|k| k.len() > 1) {
        for members in kind.chunks(MAX_GROUP) {
            let batch: Vec<(usize, Prepared)> = members
                .iter()
                .map(|&i| (i, prepared[i].take().expect("each run in one group")))
                .collect();
            match train_together(gpu, batch, runs)? {
                Ok(done) => {
                    for (i, t) in done {
                        trained[i] = Some((t, true));
                    }
                }
                Err(back) => {
                    for (i, p) in back {
                        prepared[i] = Some(p);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether options `x` and `y` label the table's rows the same way: the same target, task,
/// missing-value policy and sample weights.
fn same_labels(x: &TrainOptions, y: &TrainOptions) -> bool {
    x.target == y.target
        && x.task == y.task
        && x.missing == y.missing
        && x.sample_weight == y.sample_weight
}

/// Whether runs `a` and `b` prepare the same rows the same way: the same fold of the same
/// split, labels, weights and validation rows (their networks and optimisers may differ).
fn same_rows(a: &Run<'_>, b: &Run<'_>) -> bool {
    let (x, y) = (a.opts, b.opts);
    a.fold == b.fold
        && same_labels(x, y)
        && x.balanced == y.balanced
        && x.config.seed == y.config.seed
        && x.val_fraction == y.val_fraction
}

/// The validation rows a fold's fit looks at after each epoch: none unless training needs
/// them (a fold's metrics come from its own rows; its validation rows are scored once, at
/// the end).
fn watched<'p>(p: &'p Prepared, opts: &TrainOptions) -> Option<&'p Dataset> {
    p.val_set
        .as_deref()
        .filter(|_| opts.config.watches_validation())
}

/// A run trained: its network, its report and its validation rows' logits, if any.
type Fitted = (Mlp, FitReport, Option<Vec<f32>>);

/// Trains the prepared `runs` (index into `all`, prepared run) side by side in one group (the
/// wide fused kernel's, or the per-op dispatches'), each fit in a thread of its own; the
/// prepared runs back where the group cannot take them.
#[allow(clippy::type_complexity)]
fn train_together(
    gpu: &Gpu,
    runs: Vec<(usize, Prepared)>,
    all: &[Run<'_>],
) -> Result<std::result::Result<Vec<(usize, Trained)>, Vec<(usize, Prepared)>>> {
    let members: Vec<Candidate<'_>> = runs
        .iter()
        .map(|(i, p)| Candidate {
            start: &p.start,
            data: match &p.train_set {
                TrainRows::Own(data) => Rows::Own(data),
                TrainRows::Mapped { rows, map, pick } => Rows::Shared {
                    rows,
                    map,
                    train: pick,
                    val: match watched(p, all[*i].opts) {
                        Some(_) => &all[*i].val,
                        None => &[],
                    },
                },
            },
            val: watched(p, all[*i].opts),
            config: &all[*i].opts.config,
        })
        .collect();
    let Some(group) = Group::new(gpu, &members)? else {
        return Ok(Err(runs));
    };
    let fitted: Vec<Result<Fitted>> = std::thread::scope(|scope| {
        // Every member first: one that never gets a thread (a failed spawn) is dropped and
        // leaves, so the others do not wait for it.
        let members: Vec<_> = runs
            .iter()
            .enumerate()
            .map(|(k, (i, p))| (group.member(k, &p.start), p, all[*i].opts))
            .collect();
        let handles: Vec<_> = members
            .into_iter()
            .map(|(mut member, p, opts)| {
                scope.spawn(move || -> Result<Fitted> {
                    let report = fit_controlled(
                        &mut member,
                        &opts.config,
                        p.train_set.len(),
                        watched(p, opts),
                        &mut |_| {},
                        FitControl::none(),
                    )?;
                    // Out of the rounds before reading back, so the others go on.
                    member.finish();
                    let seen = match &p.val_set {
                        Some(v) => Some(member.logits(v.x())?),
                        None => None,
                    };
                    Ok((Backend::model(&member)?, report, seen))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Err(Error::Gpu {
                        during: "training models side by side",
                        message: format!("a model's thread panicked: {what}"),
                    })
                })
            })
            .collect()
    });
    let mut trained = Vec::with_capacity(runs.len());
    for ((i, p), fit) in runs.into_iter().zip(fitted) {
        let (mlp, report, seen) = fit?;
        let run = &all[i];
        let t = finish(
            p,
            run.labelled,
            (&run.train, &run.val),
            run.opts,
            Device::Gpu(gpu),
            (mlp, seen),
            report,
        )?;
        trained.push((i, t));
    }
    Ok(Ok(trained))
}
