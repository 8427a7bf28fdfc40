//! The target column: the task (inferred or forced), the classes, and the rows training may
//! use.

use super::{MAX_CLASSES, MAX_INTEGER_CLASSES};
use crate::data::table::{list_columns, Cell, Table};
use crate::error::{Error, Location, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

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

    let mut census = TargetCensus::new(usize::MAX);
    for (&r, cell) in rows.iter().zip(&cells) {
        census.add(cell, || table.location(r, t));
    }
    let (task, classes) = census.decide(task, rows.len() as u64, at_column)?;
    let y: Vec<f64> = match task {
        Task::Regression => cells.iter().filter_map(|c| c.number()).collect(),
        Task::Binary | Task::Multiclass => {
            let class_of = census.classes_by_value();
            cells
                .iter()
                .map(|c| class_of.index(c).map_or(f64::NAN, |k| k as f64))
                .collect()
        }
    };
    Ok(Labelled {
        target: target.to_string(),
        task,
        classes,
        rows,
        y,
        dropped,
        weight_column: None,
        weights: None,
    })
}

/// What the target's present cells hold, one cell at a time, to decide the task and the
/// classes: whether every one is a number (an integer), its first non-number (and where), and
/// its distinct values (each number with the text it first had), at most `cap` of them kept
/// (past [`MAX_CLASSES`] a target is no label, so a streamed pass keeps no more than that).
#[derive(Clone, Debug)]
pub struct TargetCensus {
    /// Distinct numbers by their order (`f64::total_cmp`'s key), with their first text.
    numbers: std::collections::BTreeMap<i64, (f64, String)>,
    texts: BTreeSet<String>,
    /// Whether every cell is a number, an integer.
    numeric: bool,
    integers: bool,
    first_text: Option<(Location, String)>,
    cap: usize,
    /// Whether more distinct numbers, texts came than `cap`.
    numbers_overflow: bool,
    texts_overflow: bool,
}

/// A key ordering f64s as `f64::total_cmp` does, −0 and 0 as one.
fn order_key(v: f64) -> i64 {
    let v = if v == 0.0 { 0.0 } else { v };
    let bits = v.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

/// Each class's index by its value: the target cells' classes.
pub struct ClassIndex {
    numbers: Option<HashMap<i64, usize>>,
    texts: HashMap<String, usize>,
}

impl ClassIndex {
    /// The class index of a target cell (`None` for a value that is no class).
    pub fn index(&self, cell: &Cell) -> Option<usize> {
        match &self.numbers {
            Some(numbers) => numbers.get(&order_key(cell.number()?)).copied(),
            None => self.texts.get(cell.text().as_ref()).copied(),
        }
    }
}

impl TargetCensus {
    /// Nothing seen; at most `cap` distinct values kept.
    pub fn new(cap: usize) -> TargetCensus {
        TargetCensus {
            numbers: Default::default(),
            texts: BTreeSet::new(),
            numeric: true,
            integers: true,
            first_text: None,
            cap: cap.max(MAX_CLASSES + 1),
            numbers_overflow: false,
            texts_overflow: false,
        }
    }

    /// One present target cell, `at` where it is (asked only for the first non-number).
    pub fn add(&mut self, cell: &Cell, at: impl FnOnce() -> Location) {
        let text = cell.text();
        match cell.number() {
            Some(v) => {
                self.integers &= v.fract() == 0.0;
                if self.numeric && !self.numbers.contains_key(&order_key(v)) {
                    match self.numbers.len() < self.cap {
                        true => {
                            self.numbers.insert(order_key(v), (v, text.to_string()));
                        }
                        false => self.numbers_overflow = true,
                    }
                }
            }
            None => {
                if self.numeric {
                    self.numeric = false;
                    self.first_text = Some((at(), text.to_string()));
                }
            }
        }
        if !self.texts.contains(text.as_ref()) {
            match self.texts.len() < self.cap {
                true => {
                    self.texts.insert(text.into_owned());
                }
                false => self.texts_overflow = true,
            }
        }
    }

    /// Whether more distinct values came than the census keeps.
    fn overflow(&self) -> bool {
        match self.numeric {
            true => self.numbers_overflow,
            false => self.texts_overflow,
        }
    }

    /// How many classes the values make: distinct numbers when all are numbers, else texts.
    fn count(&self) -> usize {
        match self.numeric {
            true => self.numbers.len(),
            false => self.texts.len(),
        }
    }

    /// The task (`task`, or inferred) and the classes in index order, for `rows` kept rows:
    /// exactly two distinct values → Binary; any text value, or integers with at most 20
    /// distinct values → Multiclass; otherwise Regression. Classes are ordered numerically
    /// when every value is a number, else as text, so for a 0/1 target class 1 is the
    /// positive class. `at` names the column in errors.
    pub fn decide(
        &self,
        task: Option<Task>,
        rows: u64,
        at: impl Fn() -> Location,
    ) -> Result<(Task, Vec<String>)> {
        let count = self.count();
        let task = match task {
            Some(task) => task,
            None if count <= 2 && !self.overflow() => Task::Binary,
            None if !self.numeric || (self.integers && count <= MAX_INTEGER_CLASSES) => {
                Task::Multiclass
            }
            None => Task::Regression,
        };
        if task == Task::Regression {
            if let Some((at, text)) = &self.first_text {
                return Err(Error::Input {
                    at: at.clone(),
                    message: format!(
                        "{text:?} is not a number; a regression target must be numeric"
                    ),
                });
            }
            return Ok((task, Vec::new()));
        }
        let classes: Vec<String> = match self.numeric {
            true => self.numbers.values().map(|(_, t)| t.clone()).collect(),
            false => self.texts.iter().cloned().collect(),
        };
        let many = match self.overflow() {
            true => format!("more than {}", self.cap),
            false => classes.len().to_string(),
        };
        if classes.len() < 2 {
            let only = classes.first().map(String::as_str).unwrap_or_default();
            return Err(Error::Input {
                at: at(),
                message: format!(
                    "the target has only one class ({only:?}); a classifier needs at least two"
                ),
            });
        }
        if task == Task::Binary && (classes.len() > 2 || self.overflow()) {
            return Err(Error::Input {
                at: at(),
                message: format!(
                    "the target has {many} classes ({}) but a binary task needs exactly two; \
                     use multiclass",
                    list_columns(&classes)
                ),
            });
        }
        if self.overflow()
            || classes.len() > MAX_INTEGER_CLASSES
                && (classes.len() > MAX_CLASSES || classes.len() as u64 == rows)
        {
            return Err(Error::Input {
                at: at(),
                message: format!(
                    "the target has {many} distinct values in {rows} rows; it looks like an \
                     identifier, not a label{}",
                    if self.numeric {
                        " (for a numeric target use regression)"
                    } else {
                        ""
                    }
                ),
            });
        }
        Ok((task, classes))
    }

    /// Each class's index by its value, in [`TargetCensus::decide`]'s class order.
    pub fn classes_by_value(&self) -> ClassIndex {
        ClassIndex {
            numbers: self.numeric.then(|| {
                self.numbers
                    .keys()
                    .enumerate()
                    .map(|(i, &k)| (k, i))
                    .collect()
            }),
            texts: match self.numeric {
                true => HashMap::new(),
                false => self
                    .texts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.clone(), i))
                    .collect(),
            },
        }
    }
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
