//! One run's rows turned into numbers and its network, ready to train: a lone run's rows
//! encoded for it ([`prepare`]), or a cross-validation fold's read from rows encoded once for
//! every fold ([`Encoded`], [`Encoded::prepare`]).

use std::sync::Arc;

use super::{balanced_weights, output_of};
use crate::data::prep::{self, Labelled, Preprocessor, RowMap, SharedRows, TargetScale, Task};
use crate::data::table::Table;
use crate::data::Dataset;
use crate::error::{Error, Location, Result};
use crate::model::{Mlp, MlpSpec};
use crate::options::TrainOptions;
use crate::train::fit::Checkpoint;

/// One run's rows turned into numbers and its network, ready to train.
pub(super) struct Prepared {
    pub prep: Preprocessor,
    pub scale: Option<TargetScale>,
    pub class_weights: Option<Vec<f32>>,
    pub train_set: TrainRows,
    /// Shared with the runs of other configurations that prepare the same rows the same way
    /// (a search's candidates on one fold).
    pub val_set: Option<Arc<Dataset>>,
    pub spec: MlpSpec,
    pub start: Mlp,
}

/// A run's training rows: encoded for it, or rows shared with the other folds of a
/// cross-validation that it reads through its map (a group of the wide kernel reads them so
/// on the device; they are encoded on the host only where a run needs them there).
pub(super) enum TrainRows {
    Own(Arc<Dataset>),
    Mapped {
        rows: Arc<SharedRows>,
        map: RowMap,
        pick: Vec<usize>,
    },
}

impl TrainRows {
    /// How many rows.
    pub fn len(&self) -> usize {
        match self {
            TrainRows::Own(data) => data.rows(),
            TrainRows::Mapped { pick, .. } => pick.len(),
        }
    }

    /// The rows as the run reads them.
    pub fn dataset(&self) -> Result<Arc<Dataset>> {
        match self {
            TrainRows::Own(data) => Ok(data.clone()),
            TrainRows::Mapped { rows, map, pick } => Ok(Arc::new(map.dataset(rows, pick)?)),
        }
    }
}

/// The target's scale (regression) and the class weights (`balanced`) fitted on the `train`
/// positions; an error where every training row weighs 0.
fn statistics(
    table: &Table,
    labelled: &Labelled,
    train: &[usize],
    opts: &TrainOptions,
) -> Result<(Option<TargetScale>, Option<Vec<f32>>)> {
    let task = labelled.task;
    let scale = (task == Task::Regression).then(|| {
        let values: Vec<f64> = train.iter().map(|&p| labelled.y[p]).collect();
        TargetScale::fit(&values)
    });
    let class_weights =
        (opts.balanced && task != Task::Regression).then(|| balanced_weights(labelled, train));
    if let Some(w) = &labelled.weights {
        if train.iter().all(|&p| w[p] == 0.0) {
            return Err(Error::Input {
                at: Location::file(table.name.clone())
                    .column(labelled.weight_column.clone().unwrap_or_default()),
                message: "every training row weighs 0; nothing would be learnt".into(),
            });
        }
    }
    Ok((scale, class_weights))
}

/// The network for `width` inputs and a task of `classes` classes as `opts` sets it, and its starting
/// weights; an error where a checkpoint to resume holds another number of parameters.
pub(super) fn network(
    width: usize,
    (task, classes): (Task, usize),
    opts: &TrainOptions,
    resume: Option<&Checkpoint>,
) -> Result<(MlpSpec, Mlp)> {
    let (outputs, loss) = output_of(task, classes);
    let mut spec = MlpSpec::new(width).output(outputs, loss);
    for &w in &opts.hidden {
        spec = spec.hidden(w, opts.activation);
    }
    let layout = spec.validate()?;
    if let Some(resume) = resume {
        // Compared before anything is sized from the settings a checkpoint claims.
        if resume.state.params.len() != layout {
            return Err(Error::ResumeState(format!(
                "it holds {} parameters but a {} network on this data has {layout}",
                resume.state.params.len(),
                spec.describe()
            )));
        }
    }
    let start = Mlp::new(&spec, opts.config.seed)?;
    Ok((spec, start))
}

/// Fits the preprocessing on the `train` positions of `labelled`, turns them (and `val`, if
/// not empty) into datasets and builds the starting network.
pub(super) fn prepare(
    table: &Table,
    labelled: &Labelled,
    train: &[usize],
    val: &[usize],
    opts: &TrainOptions,
    resume: Option<&Checkpoint>,
) -> Result<Prepared> {
    let prep = Preprocessor::fit(table, labelled, train)?;
    let (scale, class_weights) = statistics(table, labelled, train, opts)?;
    let outputs = output_of(labelled.task, labelled.classes.len()).0;
    let dataset = |pos: &[usize]| -> Result<Dataset> {
        let x = prep.transform(table, &super::table_rows(labelled, pos))?;
        let y = prep::targets(labelled, pos, scale);
        let weight = |p: usize| {
            let class = class_weights
                .as_ref()
                .map_or(1.0, |cw| cw[labelled.y[p] as usize]);
            let row = labelled.weights.as_ref().map_or(1.0, |w| w[p] as f32);
            class * row
        };
        let weighted = class_weights.is_some() || labelled.weights.is_some();
        let w = weighted.then(|| pos.iter().map(|&p| weight(p)).collect());
        Dataset::with_targets(x, y, prep.width(), outputs, w)
    };
    let train_set = TrainRows::Own(Arc::new(dataset(train)?));
    let val_set = match val.is_empty() {
        true => None,
        false => Some(Arc::new(dataset(val)?)),
    };
    let (spec, start) = network(
        prep.width(),
        (labelled.task, labelled.classes.len()),
        opts,
        resume,
    )?;
    Ok(Prepared {
        prep,
        scale,
        class_weights,
        train_set,
        val_set,
        spec,
        start,
    })
}

/// Every kept row of a labelled table encoded once for the folds of a cross-validation:
/// the columns, their categories and a standardisation decided on all of the rows; each fold
/// then fits its own statistics and reads these rows through a [`RowMap`].
pub(super) struct Encoded {
    prep: Preprocessor,
    scale: Option<TargetScale>,
    pub rows: Arc<SharedRows>,
}

impl Encoded {
    /// `labelled`'s rows of `table`, encoded once.
    pub fn new(table: &Table, labelled: &Labelled) -> Result<Encoded> {
        let all: Vec<usize> = (0..labelled.rows.len()).collect();
        let prep = Preprocessor::fit(table, labelled, &all)?;
        let scale = (labelled.task == Task::Regression).then(|| TargetScale::fit(&labelled.y));
        let rows = Arc::new(SharedRows::encode(table, labelled, &prep, scale)?);
        Ok(Encoded { prep, scale, rows })
    }

    /// A fold's run: its statistics fitted on the `train` positions, its validation rows
    /// encoded through its map, its training rows left to be read through it.
    pub fn prepare(
        &self,
        table: &Table,
        labelled: &Labelled,
        (train, val): (&[usize], &[usize]),
        opts: &TrainOptions,
    ) -> Result<Prepared> {
        let prep = self.prep.refit(table, labelled, train)?;
        let (scale, class_weights) = statistics(table, labelled, train, opts)?;
        let map = RowMap::new(
            &self.prep,
            &prep,
            (self.scale, scale),
            class_weights.as_deref(),
            labelled.classes.len(),
        )?;
        let val_set = match val.is_empty() {
            true => None,
            false => Some(Arc::new(map.dataset(&self.rows, val)?)),
        };
        let (spec, start) = network(
            prep.width(),
            (labelled.task, labelled.classes.len()),
            opts,
            None,
        )?;
        Ok(Prepared {
            prep,
            scale,
            class_weights,
            train_set: TrainRows::Mapped {
                rows: self.rows.clone(),
                map,
                pick: train.to_vec(),
            },
            val_set,
            spec,
            start,
        })
    }
}
