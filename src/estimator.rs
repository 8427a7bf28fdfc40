//! Estimators for data in memory, in the manner of scikit-learn and linfa: configure one,
//! `fit` it to rows of features and their labels (or values), and get back a fitted model
//! that predicts, saves and loads. They run the very workflow `gpumlp train` runs: the same
//! standardisation (statistics of the training rows only), validation split, early stopping,
//! class weights and model file, on the GPU or on the CPU reference.
//!
//! ```
//! use gpumlp::{Device, MlpClassifier};
//!
//! # fn main() -> gpumlp::Result<()> {
//! // Two features; the class is which side of a line a point lies on.
//! let x: Vec<[f32; 2]> = (0..200).map(|i| [(i % 20) as f32, (i / 20) as f32]).collect();
//! let y: Vec<&str> = x.iter().map(|p| if p[0] > p[1] { "above" } else { "below" }).collect();
//! let model = MlpClassifier::new().hidden([16]).epochs(60).seed(1).fit(Device::Cpu, &x, &y)?;
//! let predicted = model.predict(Device::Cpu, &[[15.0, 2.0], [1.0, 9.0]])?;
//! assert_eq!(predicted, ["above", "below"]);
//! let p = model.predict_proba(Device::Cpu, &[[15.0, 2.0]])?; // one row per input row
//! assert_eq!(p[0].len(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! Choosing the settings: cross-validation, and a search over alternatives (as `gpumlp
//! search` takes them) that returns the leaderboard and the best candidate refitted.
//!
//! ```
//! use gpumlp::estimator::SearchOptions;
//! use gpumlp::{Device, MlpClassifier};
//!
//! # fn main() -> gpumlp::Result<()> {
//! let x: Vec<[f32; 2]> = (0..120).map(|i| [(i % 12) as f32, (i / 12) as f32]).collect();
//! let y: Vec<u8> = x.iter().map(|p| u8::from(p[0] > p[1])).collect();
//! let clf = MlpClassifier::new().hidden([8]).epochs(15).early_stopping(None);
//! let cv = clf.cross_validate(Device::Cpu, &x, &y, 3)?;
//! assert_eq!(cv.folds.len(), 3);
//! let how = SearchOptions { folds: 3, ..SearchOptions::default() };
//! let (board, best) = clf.search(Device::Cpu, &x, &y, &[("lr", "0.003|0.01")], &how)?;
//! assert_eq!((board.metric, board.entries.len()), ("roc_auc", 2));
//! assert_eq!(best.predict(Device::Cpu, &[[11.0, 1.0]])?, ["1"]);
//! # Ok(())
//! # }
//! ```

use crate::data::prep::Task;
use crate::data::table::{Cell, Table};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::model::Activation;
use crate::model_file::SavedModel;
use crate::optim::OptimizerKind;
use crate::options::Settings as SettingsByName;
use crate::search::{self, Leaderboard, Space};
use crate::train::{FitReport, Schedule};
use crate::workflow::{self, CrossValidation, Device, TrainOptions};
use std::path::Path;

/// How [`MlpClassifier::search`] and [`MlpRegressor::search`] choose: the folds each
/// candidate is scored on, the metric ranked by (`None`: ROC AUC for binary, accuracy for
/// multiclass, R² for regression) and, to sample instead of the whole grid, how many
/// candidates (drawn with the estimator's seed).
#[derive(Clone, Debug)]
pub struct SearchOptions {
    /// Folds (default 5).
    pub folds: usize,
    /// The metric's name, as `gpumlp cv` reports it.
    pub metric: Option<String>,
    /// Candidates drawn at random instead of the whole grid.
    pub random: Option<usize>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            folds: 5,
            metric: None,
            random: None,
        }
    }
}

/// Cross-validates every candidate `space` (setting name, alternatives) makes of `options`
/// on `table`, and refits the best on all of it.
fn search_table(
    options: &TrainOptions,
    table: &Table,
    device: Device<'_>,
    space: &[(&str, &str)],
    how: &SearchOptions,
) -> Result<(Leaderboard, workflow::Trained)> {
    let mut s = Space::new(SettingsByName::of(options));
    for (name, alternatives) in space {
        s.add(name, alternatives)?;
    }
    let candidates = match how.random {
        Some(n) => s.sample(n, options.config.seed)?,
        None => s.grid()?,
    };
    let board = search::search(
        table,
        &candidates,
        how.folds,
        how.metric.as_deref(),
        device,
        &mut |_| {},
        &|| false,
    )?;
    let best = board
        .best()
        .ok_or_else(|| Error::InvalidConfig("the search scored no candidate".into()))?;
    let chosen = best.candidate.settings.resolve()?;
    let mut trained = workflow::train(table, &chosen, device, &mut |_, _| {})?;
    trained.model.meta.training.search = board.record();
    Ok((board, trained))
}

/// The settings both estimators share, with the command line's defaults.
#[derive(Clone, Debug)]
struct Settings {
    options: TrainOptions,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            options: TrainOptions {
                target: TARGET.into(),
                ..TrainOptions::default()
            },
        }
    }
}

/// The target column's name in the table an estimator builds.
const TARGET: &str = "target";

/// The feature columns' names in the table an estimator builds: x0, x1, ...
fn feature_names(width: usize) -> Vec<String> {
    (0..width).map(|c| format!("x{c}")).collect()
}

/// A table of `x` (and `y`, when given) for the workflow: the features as numbers (exactly
/// the f32 values given, never through text), NaN as a missing cell, an infinite value
/// refused.
fn table<R: AsRef<[f32]>>(x: &[R], y: Option<Vec<Cell>>) -> Result<Table> {
    let width = x.first().map_or(0, |r| r.as_ref().len());
    if width == 0 {
        return Err(Error::InvalidData(
            "no rows of features, or rows with no features".into(),
        ));
    }
    let mut columns = feature_names(width);
    if y.is_some() {
        columns.push(TARGET.into());
    }
    let mut rows = Vec::with_capacity(x.len());
    for (r, row) in x.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != width {
            return Err(Error::InvalidData(format!(
                "row {r} has {} features; the first row has {width}",
                row.len()
            )));
        }
        let mut cells = Vec::with_capacity(width + 1);
        for (c, &v) in row.iter().enumerate() {
            if v.is_infinite() {
                return Err(Error::InvalidData(format!(
                    "feature {c} of row {r} is {v}; use NaN for a missing value"
                )));
            }
            cells.push((!v.is_nan()).then_some(Cell::Number(f64::from(v))));
        }
        if let Some(y) = &y {
            cells.push(y.get(r).cloned());
        }
        rows.push(cells);
    }
    Ok(Table {
        name: "the rows given".into(),
        columns,
        lines: (2..2 + rows.len() as u64).collect(),
        rows,
        row_groups: Vec::new(),
        row_base: 0,
    })
}

macro_rules! settings {
    () => {
        /// Widths of the hidden layers (default 64, 32).
        pub fn hidden(mut self, widths: impl IntoIterator<Item = usize>) -> Self {
            self.s.options.hidden = widths.into_iter().collect();
            self
        }

        /// The hidden layers' activation (default ReLU).
        pub fn activation(mut self, activation: Activation) -> Self {
            self.s.options.activation = activation;
            self
        }

        /// Passes over the training rows, at most (default 200).
        pub fn epochs(mut self, epochs: usize) -> Self {
            self.s.options.config.epochs = epochs;
            self
        }

        /// Rows per optimiser step (default 64).
        pub fn batch_size(mut self, rows: usize) -> Self {
            self.s.options.config.batch_size = rows;
            self
        }

        /// The optimiser (default Adam).
        pub fn optimizer(mut self, kind: OptimizerKind) -> Self {
            self.s.options.config.optimizer.kind = kind;
            self
        }

        /// The learning rate (default 1e-3).
        pub fn learning_rate(mut self, lr: f32) -> Self {
            self.s.options.config.optimizer.lr = lr;
            self
        }

        /// L2 penalty (Adam, SGD) or decoupled weight decay (AdamW) (default 0).
        pub fn weight_decay(mut self, weight_decay: f32) -> Self {
            self.s.options.config.optimizer.weight_decay = weight_decay;
            self
        }

        /// How the learning rate changes over the epochs (default constant).
        pub fn schedule(mut self, schedule: Schedule) -> Self {
            self.s.options.config.schedule = schedule;
            self
        }

        /// Seeds the split, the initial weights and the shuffles (default 0).
        pub fn seed(mut self, seed: u64) -> Self {
            self.s.options.config.seed = seed;
            self
        }

        /// Fraction of the rows held out to validate each epoch (default 0.1; 0 disables
        /// validation, and early stopping then watches the training loss).
        pub fn validation_fraction(mut self, fraction: f64) -> Self {
            self.s.options.val_fraction = fraction;
            self
        }

        /// Stop after this many epochs without improvement and keep the best weights
        /// (default 20; `None` trains every epoch).
        pub fn early_stopping(mut self, patience: Option<usize>) -> Self {
            self.s.options.config.patience = patience;
            self
        }

        /// All the settings at once, as the command line's `train` takes them (the target
        /// column is the estimator's own).
        pub fn options(mut self, options: TrainOptions) -> Self {
            self.s.options = TrainOptions {
                target: TARGET.into(),
                ..options
            };
            self
        }
    };
}

/// A classifier: binary for two classes (one sigmoid output), multiclass otherwise (softmax).
#[derive(Clone, Debug, Default)]
pub struct MlpClassifier {
    s: Settings,
}

impl MlpClassifier {
    /// A classifier with the command line's defaults.
    pub fn new() -> MlpClassifier {
        MlpClassifier::default()
    }

    settings!();

    /// Weight each class by rows / (classes × rows of the class), as scikit-learn's
    /// `class_weight="balanced"` (default off).
    pub fn balanced_class_weights(mut self, balanced: bool) -> Self {
        self.s.options.balanced = balanced;
        self
    }

    /// Trains on rows `x` (every row the same number of features; NaN for a missing value)
    /// labelled `y`, on `device`.
    pub fn fit<R: AsRef<[f32]>, L: ToString>(
        &self,
        device: Device<'_>,
        x: &[R],
        y: &[L],
    ) -> Result<FittedClassifier> {
        let (options, table) = self.labelled(x, y)?;
        let trained = workflow::train(&table, &options, device, &mut |_, _| {})?;
        Ok(FittedClassifier {
            fitted: Fitted::of(trained),
        })
    }

    /// Stratified `folds`-fold cross-validation of these settings on `x` labelled `y`: each
    /// fold's metrics and their mean and standard deviation (on the GPU the folds train side
    /// by side).
    pub fn cross_validate<R: AsRef<[f32]>, L: ToString>(
        &self,
        device: Device<'_>,
        x: &[R],
        y: &[L],
        folds: usize,
    ) -> Result<CrossValidation> {
        let (options, table) = self.labelled(x, y)?;
        workflow::cross_validate(&table, &options, folds, device, &mut |_, _| {})
    }

    /// Cross-validates these settings with each candidate `space` makes over them (setting
    /// name as `gpumlp search` spells it, alternatives `a|b` or, with `how.random`, a range
    /// `lo..hi`), ranks them and refits the best on all rows.
    pub fn search<R: AsRef<[f32]>, L: ToString>(
        &self,
        device: Device<'_>,
        x: &[R],
        y: &[L],
        space: &[(&str, &str)],
        how: &SearchOptions,
    ) -> Result<(Leaderboard, FittedClassifier)> {
        let (options, table) = self.labelled(x, y)?;
        let (board, trained) = search_table(&options, &table, device, space, how)?;
        Ok((
            board,
            FittedClassifier {
                fitted: Fitted::of(trained),
            },
        ))
    }

    /// The settings with the task the labels say, and the table of `x` and `y`.
    fn labelled<R: AsRef<[f32]>, L: ToString>(
        &self,
        x: &[R],
        y: &[L],
    ) -> Result<(TrainOptions, Table)> {
        check_lengths(x.len(), y.len())?;
        let labels: Vec<String> = y.iter().map(ToString::to_string).collect();
        let distinct: std::collections::HashSet<&str> = labels.iter().map(String::as_str).collect();
        let mut options = self.s.options.clone();
        options.task = Some(match distinct.len() {
            2 => Task::Binary,
            _ => Task::Multiclass,
        });
        // Class labels are names (numbers among them order numerically, as in a file).
        let labels = labels.into_iter().map(Cell::Text).collect();
        Ok((options, table(x, Some(labels))?))
    }
}

/// A regressor: one linear output on the standardised target, turned back into its units.
#[derive(Clone, Debug, Default)]
pub struct MlpRegressor {
    s: Settings,
}

impl MlpRegressor {
    /// A regressor with the command line's defaults.
    pub fn new() -> MlpRegressor {
        MlpRegressor::default()
    }

    settings!();

    /// Trains on rows `x` (NaN for a missing feature) with target values `y`, on `device`.
    pub fn fit<R: AsRef<[f32]>>(
        &self,
        device: Device<'_>,
        x: &[R],
        y: &[f32],
    ) -> Result<FittedRegressor> {
        let (options, table) = self.valued(x, y)?;
        let trained = workflow::train(&table, &options, device, &mut |_, _| {})?;
        Ok(FittedRegressor {
            fitted: Fitted::of(trained),
        })
    }

    /// `folds`-fold cross-validation of these settings on `x` with values `y`.
    pub fn cross_validate<R: AsRef<[f32]>>(
        &self,
        device: Device<'_>,
        x: &[R],
        y: &[f32],
        folds: usize,
    ) -> Result<CrossValidation> {
        let (options, table) = self.valued(x, y)?;
        workflow::cross_validate(&table, &options, folds, device, &mut |_, _| {})
    }

    /// [`MlpClassifier::search`] for a regressor (ranked by R² unless `how.metric` says).
    pub fn search<R: AsRef<[f32]>>(
        &self,
        device: Device<'_>,
        x: &[R],
        y: &[f32],
        space: &[(&str, &str)],
        how: &SearchOptions,
    ) -> Result<(Leaderboard, FittedRegressor)> {
        let (options, table) = self.valued(x, y)?;
        let (board, trained) = search_table(&options, &table, device, space, how)?;
        Ok((
            board,
            FittedRegressor {
                fitted: Fitted::of(trained),
            },
        ))
    }

    /// The settings for a regression, and the table of `x` and `y`.
    fn valued<R: AsRef<[f32]>>(&self, x: &[R], y: &[f32]) -> Result<(TrainOptions, Table)> {
        check_lengths(x.len(), y.len())?;
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidData(format!(
                "target {i} is {} (not finite)",
                y[i]
            )));
        }
        let values = y.iter().map(|&v| Cell::Number(f64::from(v))).collect();
        let mut options = self.s.options.clone();
        options.task = Some(Task::Regression);
        Ok((options, table(x, Some(values))?))
    }
}

fn check_lengths(rows: usize, targets: usize) -> Result<()> {
    if rows != targets {
        return Err(Error::InvalidData(format!(
            "{rows} rows of features but {targets} targets"
        )));
    }
    Ok(())
}

/// What both fitted estimators hold (they dereference to it): the model file's contents and
/// what training measured.
#[derive(Clone, Debug)]
pub struct Fitted {
    model: SavedModel,
    history: Option<FitReport>,
    metrics: Option<Metrics>,
}

impl Fitted {
    fn of(trained: workflow::Trained) -> Fitted {
        Fitted {
            model: trained.model,
            history: Some(trained.report),
            metrics: Some(trained.metrics),
        }
    }

    /// The model and its metadata, as `gpumlp predict` reads it.
    pub fn model(&self) -> &SavedModel {
        &self.model
    }

    /// Losses and rates of each epoch (`None` for a loaded model).
    pub fn history(&self) -> Option<&FitReport> {
        self.history.as_ref()
    }

    /// Metrics on the validation rows, or the training rows without validation (`None` for
    /// a loaded model; its file keeps them in its metadata).
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// Saves the model file (`gpumlp predict` and `eval` read it too).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.model.save(path)
    }

    fn predictions<R: AsRef<[f32]>>(
        &self,
        device: Device<'_>,
        x: &[R],
    ) -> Result<workflow::Predictions> {
        let inputs = self.model.meta.preprocessor.columns.len();
        if x.first().is_some_and(|r| r.as_ref().len() != inputs) {
            return Err(Error::InvalidData(format!(
                "rows of {} features; the model was trained on {inputs}",
                x[0].as_ref().len()
            )));
        }
        if x.is_empty() {
            return Ok(workflow::Predictions {
                rows: Vec::new(),
                values: Vec::new(),
                classes: self.model.meta.classes.clone(),
                labels: Vec::new(),
            });
        }
        workflow::predict(&self.model, &table(x, None)?, device)
    }

    fn load(path: &Path, task: &[Task]) -> Result<Fitted> {
        let model = SavedModel::load(path)?;
        if !task.contains(&model.meta.task) {
            return Err(Error::ModelFile {
                path: path.display().to_string(),
                message: format!("a {} model, not one this estimator fits", model.meta.task),
            });
        }
        Ok(Fitted {
            model,
            history: None,
            metrics: None,
        })
    }
}

/// A classifier [`MlpClassifier::fit`] trained.
#[derive(Clone, Debug)]
pub struct FittedClassifier {
    fitted: Fitted,
}

impl std::ops::Deref for FittedClassifier {
    type Target = Fitted;
    fn deref(&self) -> &Fitted {
        &self.fitted
    }
}

impl FittedClassifier {
    /// The predicted class of each row of `x`.
    pub fn predict<R: AsRef<[f32]>>(&self, device: Device<'_>, x: &[R]) -> Result<Vec<String>> {
        let p = self.fitted.predictions(device, x)?;
        Ok(p.labels.iter().map(|&l| p.classes[l].clone()).collect())
    }

    /// Each row's probability of each class, in the order of [`FittedClassifier::classes`].
    pub fn predict_proba<R: AsRef<[f32]>>(
        &self,
        device: Device<'_>,
        x: &[R],
    ) -> Result<Vec<Vec<f32>>> {
        let p = self.fitted.predictions(device, x)?;
        let k = p.classes.len().max(1);
        Ok(p.values.chunks(k).map(<[f32]>::to_vec).collect())
    }

    /// The classes, in the order of the probabilities.
    pub fn classes(&self) -> &[String] {
        &self.fitted.model.meta.classes
    }

    /// Loads a classifier's model file.
    pub fn load(path: &Path) -> Result<FittedClassifier> {
        Ok(FittedClassifier {
            fitted: Fitted::load(path, &[Task::Binary, Task::Multiclass])?,
        })
    }
}

/// A regressor [`MlpRegressor::fit`] trained.
#[derive(Clone, Debug)]
pub struct FittedRegressor {
    fitted: Fitted,
}

impl std::ops::Deref for FittedRegressor {
    type Target = Fitted;
    fn deref(&self) -> &Fitted {
        &self.fitted
    }
}

impl FittedRegressor {
    /// The predicted value of each row of `x`, in the target's units.
    pub fn predict<R: AsRef<[f32]>>(&self, device: Device<'_>, x: &[R]) -> Result<Vec<f32>> {
        Ok(self.fitted.predictions(device, x)?.values)
    }

    /// Loads a regressor's model file.
    pub fn load(path: &Path) -> Result<FittedRegressor> {
        Ok(FittedRegressor {
            fitted: Fitted::load(path, &[Task::Regression])?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_reach_the_pipeline_as_the_numbers_given() {
        // 0.1f32 is not the decimal 0.1: the table holds the f32 value itself, not a text
        // that would parse back to another number; NaN is a missing cell.
        let t = table(&[[0.1f32, f32::NAN], [-3.5, 1e-30]], None).unwrap();
        assert_eq!(t.cell(0, 0), Some(&Cell::Number(f64::from(0.1f32))));
        assert_ne!(t.cell(0, 0), Some(&Cell::Number(0.1)));
        assert_eq!(t.cell(0, 1), None);
        assert_eq!(t.cell(1, 1), Some(&Cell::Number(f64::from(1e-30f32))));
        let e = table(&[[f32::INFINITY]], None).unwrap_err().to_string();
        assert!(e.contains("use NaN for a missing value"), "{e}");
    }
}
