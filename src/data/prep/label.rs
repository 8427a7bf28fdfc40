//! The target column: the task (inferred or forced), the classes, and the rows training may
//! use.

use super::{MAX_CLASSES, MAX_INTEGER_CLASSES};
use crate::data::table::{list_columns, Cell, Table};
use crate::error::{Error, Location, Result};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeSet;

/// What the network learns to predict; it fixes the output width, the loss and the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Two classes: one sigmoid output, the probability of class index 1.
    Binary,
    /// Three or more classes (or two, when asked): one softmax output per class.
    Multiclass,
    /// A number: one linear output on the standardised target.
    Regression,
}

impl std::str::FromStr for Task {
    type Err = Error;

    fn from_str(s: &str) -> Result<Task> {
        match s.trim().to_ascii_lowercase().as_str() {
            "binary" => Ok(Task::Binary),
            "multiclass" => Ok(Task::Multiclass),
            "regression" => Ok(Task::Regression),
            _ => Err(Error::InvalidConfig(format!(
                "unknown task {s:?}: expected binary, multiclass or regression"
            ))),
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Task::Binary => "binary",
            Task::Multiclass => "multiclass",
            Task::Regression => "regression",
        })
    }
}

/// What to do with missing feature cells: the user chooses between keeping every row and
/// training only on complete ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Fill missing cells from the training rows (median for numbers, most frequent category).
    #[default]
    Impute,
    /// Drop every row with a missing cell.
    Drop,
}

impl std::str::FromStr for MissingPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<MissingPolicy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "impute" => Ok(MissingPolicy::Impute),
            "drop" => Ok(MissingPolicy::Drop),
            _ => Err(Error::InvalidConfig(format!(
                "unknown missing-value policy {s:?}: expected impute or drop"
            ))),
        }
    }
}

impl std::fmt::Display for MissingPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MissingPolicy::Impute => "impute",
            MissingPolicy::Drop => "drop",
        })
    }
}

/// The target column read and encoded, so splitting, training and metrics all work from the
/// same rows and the same class order.
#[derive(Clone, Debug, PartialEq)]
pub struct Labelled {
    /// The target column's name.
    pub target: String,
    /// The task, as given or inferred.
    pub task: Task,
    /// Class labels in index order (empty for regression).
    pub classes: Vec<String>,
    /// The table rows kept: target present and, with [`MissingPolicy::Drop`], every other
    /// cell present too.
    pub rows: Vec<usize>,
    /// Per kept row: the class index (as f64) or the numeric value.
    pub y: Vec<f64>,
    /// How many rows were dropped (missing target, or the Drop policy).
    pub dropped: usize,
    /// The column of per-row weights, which is then no feature.
    pub weight_column: Option<String>,
    /// Per kept row: its weight, from `weight_column` (`None`: every row weighs 1).
    pub weights: Option<Vec<f64>>,
}

impl Labelled {
    /// Reads each kept row's weight from `column` (`None` leaves every row at 1). A weight
    /// must be a finite number ≥ 0; a missing, negative or non-numeric one is an error that
    /// names its row and column.
    pub fn with_sample_weights(mut self, table: &Table, column: Option<&str>) -> Result<Self> {
        let Some(name) = column else {
            return Ok(self);
        };
        if name == self.target {
            return Err(Error::Input {
                at: Location::file(table.name.clone()).column(name),
                message: "the target column cannot also be the sample weight".into(),
            });
        }
        let c = table.column(name)?;
        let mut weights = Vec::with_capacity(self.rows.len());
        for &r in &self.rows {
            let cell = table.cell(r, c);
            // Weights reach the loss as f32: one beyond f32's range would become infinite.
            let weight = cell
                .and_then(Cell::number)
                .filter(|w| *w >= 0.0 && (*w as f32).is_finite());
            let Some(weight) = weight else {
                return Err(Error::Input {
                    at: table.location(r, c),
                    message: match cell {
                        None => "the sample weight is missing; every row needs one".into(),
                        Some(cell) => {
                            format!(
                                "{:?} is not a sample weight (a number from 0 to {:e})",
                                cell.text(),
                                f32::MAX
                            )
                        }
                    },
                });
            };
            weights.push(weight);
        }
        self.weight_column = Some(name.to_string());
        self.weights = Some(weights);
        Ok(self)
    }
}

/// Reads the target column, so that the rest of the pipeline sees classes as indices and
/// knows which rows it may use.
///
/// `task: None` infers the task: exactly two distinct values → Binary; any text value, or
/// integers with at most 20 distinct values → Multiclass; otherwise Regression. Classes are
/// ordered numerically when every value is a number, else as text, so for a 0/1 target class
/// 1 is the positive class. Rows with a missing target are dropped; with
/// [`MissingPolicy::Drop`] so are rows with any missing cell (columns that are empty in every
/// row do not count, as they are skipped as features anyway).
pub fn label(
    table: &Table,
    target: &str,
    task: Option<Task>,
    missing: MissingPolicy,
) -> Result<Labelled> {
    let t = table.column(target)?;
    let at_column = || Location::file(table.name.clone()).column(target);

    // Columns that count for the Drop policy: those with a value somewhere.
    let present: Vec<bool> = (0..table.columns.len())
        .map(|c| {
            table
                .rows
                .iter()
                .any(|row| row.get(c).is_some_and(|cell| cell.is_some()))
        })
        .collect();

    let mut rows = Vec::new();
    let mut cells: Vec<&Cell> = Vec::new();
    let mut dropped = 0;
    let mut with_target = 0;
    for (r, row) in table.rows.iter().enumerate() {
        let Some(cell) = row.get(t).and_then(Option::as_ref) else {
            dropped += 1;
            continue;
        };
        with_target += 1;
        if missing == MissingPolicy::Drop
            && row
                .iter()
                .zip(&present)
                .any(|(cell, &present)| present && cell.is_none())
        {
            dropped += 1;
            continue;
        }
        rows.push(r);
        cells.push(cell);
    }
    if with_target == 0 {
        return Err(Error::Input {
            at: at_column(),
            message: "the target is missing in every row".into(),
        });
    }
    if rows.is_empty() {
        return Err(Error::Input {
            at: Location::file(table.name.clone()),
            message: format!(
                "every row with a target also has a missing cell{}, so the drop policy \
                 leaves no rows; impute missing values instead",
                most_missing(table, &present)
                    .map(|c| format!(" (most often in column {c:?})"))
                    .unwrap_or_default()
            ),
        });
    }

    let numbers: Option<Vec<f64>> = cells.iter().map(|c| c.number()).collect();
    let texts: Vec<Cow<'_, str>> = cells.iter().map(|c| c.text()).collect();

    // Distinct values, in class order, and each kept row's class index.
    let (classes, class_of): (Vec<String>, Vec<usize>) = match &numbers {
        Some(values) => {
            let mut distinct = values.clone();
            distinct.sort_by(f64::total_cmp);
            distinct.dedup_by(|a, b| a == b);
            let mut labels: Vec<Option<String>> = vec![None; distinct.len()];
            let mut class_of = Vec::with_capacity(values.len());
            for (value, text) in values.iter().zip(&texts) {
                let index = distinct.partition_point(|d| d < value);
                if let Some(label @ None) = labels.get_mut(index) {
                    *label = Some(text.to_string());
                }
                class_of.push(index);
            }
            (
                labels.into_iter().map(Option::unwrap_or_default).collect(),
                class_of,
            )
        }
        None => {
            let distinct: Vec<&str> = texts
                .iter()
                .map(AsRef::as_ref)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let class_of = texts
                .iter()
                .map(|text| distinct.partition_point(|d| *d < text.as_ref()))
                .collect();
            (distinct.into_iter().map(str::to_string).collect(), class_of)
        }
    };

    let integers = numbers
        .as_ref()
        .is_some_and(|values| values.iter().all(|v| v.fract() == 0.0));
    let task = match task {
        Some(task) => task,
        None if classes.len() <= 2 => Task::Binary,
        None if numbers.is_none() || (integers && classes.len() <= MAX_INTEGER_CLASSES) => {
            Task::Multiclass
        }
        None => Task::Regression,
    };

    if task == Task::Regression {
        let Some(y) = numbers else {
            let (row, text) = rows
                .iter()
                .zip(&cells)
                .find(|(_, cell)| cell.number().is_none())
                .map(|(&r, cell)| (r, cell.text()))
                .unwrap_or((0, Cow::Borrowed("")));
            return Err(Error::Input {
                at: table.location(row, t),
                message: format!("{text:?} is not a number; a regression target must be numeric"),
            });
        };
        return Ok(Labelled {
            target: target.to_string(),
            task,
            classes: Vec::new(),
            rows,
            y,
            dropped,
            weight_column: None,
            weights: None,
        });
    }

    if classes.len() < 2 {
        let only = classes.first().map(String::as_str).unwrap_or_default();
        return Err(Error::Input {
            at: at_column(),
            message: format!(
                "the target has only one class ({only:?}); a classifier needs at least two"
            ),
        });
    }
    if task == Task::Binary && classes.len() > 2 {
        return Err(Error::Input {
            at: at_column(),
            message: format!(
                "the target has {} classes ({}) but a binary task needs exactly two; \
                 use multiclass",
                classes.len(),
                list_columns(&classes)
            ),
        });
    }
    if classes.len() > MAX_INTEGER_CLASSES
        && (classes.len() > MAX_CLASSES || classes.len() == rows.len())
    {
        return Err(Error::Input {
            at: at_column(),
            message: format!(
                "the target has {} distinct values in {} rows; it looks like an identifier, \
                 not a label{}",
                classes.len(),
                rows.len(),
                if numbers.is_some() {
                    " (for a numeric target use regression)"
                } else {
                    ""
                }
            ),
        });
    }
    Ok(Labelled {
        target: target.to_string(),
        task,
        classes,
        rows,
        y: class_of.into_iter().map(|c| c as f64).collect(),
        dropped,
        weight_column: None,
        weights: None,
    })
}

/// The counted column with the most missing cells, for the message when Drop leaves nothing.
fn most_missing<'a>(table: &'a Table, present: &[bool]) -> Option<&'a String> {
    table
        .columns
        .iter()
        .enumerate()
        .filter(|(c, _)| present.get(*c).copied().unwrap_or(false))
        .map(|(c, name)| {
            let count = table
                .rows
                .iter()
                .filter(|row| row.get(c).is_some_and(Option::is_none))
                .count();
            (count, name)
        })
        .filter(|(count, _)| *count > 0)
        .max_by_key(|(count, _)| *count)
        .map(|(_, name)| name)
}
