//! From a [`Table`] of text to numbers a network can take: the target read and encoded
//! ([`label`], [`targets`]), and the features standardised and one-hot encoded by a
//! [`Preprocessor`] that is fitted on training rows and saved with the model.

use crate::data::table::{list_columns, Cell, Table};
use crate::error::{Error, Location, Result};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;

/// More distinct integer values than this and an integer target counts as a quantity
/// (regression) rather than a set of classes.
const MAX_INTEGER_CLASSES: usize = 20;
/// More classes than this and a target is surely not a label.
const MAX_CLASSES: usize = 1000;
/// A categorical column keeps at most this many categories, the most frequent.
const MAX_CATEGORIES: usize = 64;
/// A text column with a distinct value in every row and more rows than this is an identifier.
const IDENTIFIER_ROWS: usize = 20;
/// A column with at least this share of numeric cells is taken to be numeric with typos.
const NUMERIC_SHARE: f64 = 0.9;

pub mod census;
mod label;
mod scale;
pub mod shared;
pub mod streamed;

use census::{Budget, Counts, Moments, Sample, Survey};
pub use label::{label, Labelled, MissingPolicy, Task};
pub use scale::{targets, TargetScale};
pub use shared::{RowMap, SharedRows, MISSING};

/// The message for a cell of a numeric column that is not a finite number. Such a cell
/// (`inf`, `-infinity`, `1e999`) is refused, never standardised into an infinite or NaN input
/// (`nan` itself is one of the spellings of a missing cell).
fn not_a_number(cell: &Cell) -> String {
    let text = cell.text();
    match cell.non_finite() {
        true => format!(
            "{text:?} is not a finite number; infinite values cannot be standardised (leave \
             the cell empty if the value is missing)"
        ),
        false => format!("{text:?} is not a number"),
    }
}

/// Everything needed to turn raw CSV rows into the network's input, saved inside the model
/// file so that predict files are encoded exactly as the training rows were.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// The target column's name, so a predict file that still has it can be recognised.
    pub target: String,
    /// The feature columns in input order.
    pub columns: Vec<FeatureColumn>,
    /// Columns left out (empty in every row, or an identifier), so the CLI can warn.
    pub skipped: Vec<String>,
}

/// One feature column and how it becomes network inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureColumn {
    /// The column's header name; predict files are matched by it.
    pub name: String,
    /// How the column is encoded.
    pub kind: ColumnKind,
}

/// How a column becomes inputs: numbers are standardised, text is one-hot encoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ColumnKind {
    /// One input, `(value − mean) / std`.
    Numeric {
        /// Stands in for a missing cell: the median of the training rows.
        fill: f64,
        /// Mean of the training rows.
        mean: f64,
        /// Standard deviation of the training rows (population); 1 for a constant column.
        std: f64,
    },
    /// One input per category, 1 for the cell's category; a value not in `categories`
    /// encodes as all zeros.
    Categorical {
        /// The categories in input order: most frequent in the training rows first.
        categories: Vec<String>,
        /// Stands in for a missing cell: the most frequent training category.
        fill: String,
    },
}

/// What one pass over column `c`'s cells in `rows` found, to decide its kind.
fn survey(table: &Table, rows: &[usize], c: usize) -> Survey {
    let mut survey = Survey::new(Budget::EXACT);
    for &r in rows {
        if let Some(cell) = cell(table, r, c) {
            survey.add(cell, || table.location(r, c));
        }
    }
    survey
}

/// How a surveyed column is encoded, before its statistics are fitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Left out: empty in every kept row, or an identifier.
    Skipped,
    /// Standardised.
    Numeric,
    /// One-hot encoded.
    Categorical,
}

/// A column's kind from its survey over every kept row: numeric if every present cell is a
/// finite number; if at least 90% are, the first cell that is not is an error (a typo in a
/// numeric column); otherwise categorical. Empty columns, and text columns with a distinct
/// value in every row (more than 20), are skipped.
pub(crate) fn kind_of(survey: &Survey) -> Result<Kind> {
    if survey.present == 0 {
        return Ok(Kind::Skipped);
    }
    let numeric = survey.numeric as f64 >= NUMERIC_SHARE * survey.present as f64;
    if let (true, Some((at, text))) = (numeric, &survey.first_non_finite) {
        return Err(Error::Input {
            at: at.clone(),
            message: not_a_number(text),
        });
    }
    let Some((at, first)) = &survey.first_text else {
        return Ok(Kind::Numeric);
    };
    if numeric {
        let share = survey.numeric * 100 / survey.present;
        return Err(Error::Input {
            at: at.clone(),
            message: format!(
                "{:?} is not a number (the column is numeric in {share}% of rows)",
                first.text()
            ),
        });
    }
    match survey.all_distinct() && survey.present > IDENTIFIER_ROWS as u64 {
        true => Ok(Kind::Skipped),
        false => Ok(Kind::Categorical),
    }
}

/// A categorical column's encoding from its training rows' texts, most frequent first: the
/// first [`MAX_CATEGORIES`], the most frequent standing in for a missing cell.
pub(crate) fn categorical(ranked: Vec<(String, u64)>) -> ColumnKind {
    let categories: Vec<String> = ranked
        .into_iter()
        .take(MAX_CATEGORIES)
        .map(|(text, _)| text)
        .collect();
    let fill = categories.first().cloned().unwrap_or_default();
    ColumnKind::Categorical { categories, fill }
}

/// A numeric column's standardisation from its training values' moments and median sample:
/// median fill, mean, population std (1 for a constant column).
pub(crate) fn numeric(
    moments: &Moments,
    sample: Sample,
    at: impl Fn() -> Location,
) -> Result<ColumnKind> {
    let (mean, std) = moments.mean_std();
    let fill = sample.median();
    if !(mean.is_finite() && std.is_finite()) {
        return Err(Error::Input {
            at: at(),
            message: "the values are too large to standardise; rescale the column".into(),
        });
    }
    let std = if std > 0.0 { std } else { 1.0 };
    Ok(ColumnKind::Numeric { fill, mean, std })
}

/// A cell, None where missing or out of range.
fn cell(table: &Table, row: usize, column: usize) -> Option<&Cell> {
    table.cell(row, column)
}

/// The table rows at the `train` positions of `labelled`; an error where there are none or
/// a position is out of range.
fn training_rows(labelled: &Labelled, train: &[usize]) -> Result<Vec<usize>> {
    let rows: Vec<usize> = train
        .iter()
        .map(|&p| {
            labelled.rows.get(p).copied().ok_or_else(|| {
                Error::InvalidData(format!(
                    "training position {p} is out of range ({} rows)",
                    labelled.rows.len()
                ))
            })
        })
        .collect::<Result<_>>()?;
    if rows.is_empty() {
        return Err(Error::InvalidData("there are no training rows".into()));
    }
    Ok(rows)
}

/// Column `c`'s distinct texts in `rows` with their counts, most frequent first (ties in
/// text order).
fn ranked(table: &Table, rows: &[usize], c: usize) -> Vec<(String, u64)> {
    let mut counts = Counts::new(usize::MAX);
    for &r in rows {
        if let Some(cell) = cell(table, r, c) {
            counts.add(&cell.text());
        }
    }
    counts.ranked()
}

/// The standardisation of numeric column `c` fitted on `train_rows` (on every kept row of
/// `labelled` when the training rows hold no value, rather than encode predict-time values
/// against a made-up scale): median fill, mean, population std (1 for a constant column).
fn standardised(
    table: &Table,
    labelled: &Labelled,
    train_rows: &[usize],
    c: usize,
) -> Result<ColumnKind> {
    let fit = |rows: &[usize]| -> (Moments, Sample) {
        let (mut moments, mut sample) = (Moments::default(), Sample::new(Budget::EXACT.sample, 0));
        for v in rows
            .iter()
            .filter_map(|&r| cell(table, r, c).and_then(Cell::number))
        {
            moments.add(v);
            sample.add(v);
        }
        (moments, sample)
    };
    let (mut moments, mut sample) = fit(train_rows);
    if moments.count() == 0 {
        (moments, sample) = fit(&labelled.rows);
    }
    numeric(&moments, sample, || {
        Location::file(table.name.clone()).column(table.columns[c].clone())
    })
}

impl Preprocessor {
    /// Decides each feature column's kind from all kept rows (the schema), and fits fill
    /// values, means, stds and categories on the `train` positions only (indices into
    /// `labelled.rows`), so validation rows never leak into the encoding.
    ///
    /// Every column except the target (and the sample weights) is a feature, of the kind
    /// `kind_of` decides; skipped columns are listed in `skipped`.
    pub fn fit(table: &Table, labelled: &Labelled, train: &[usize]) -> Result<Preprocessor> {
        let target = table.column(&labelled.target)?;
        let weight = match &labelled.weight_column {
            Some(name) => Some(table.column(name)?),
            None => None,
        };
        let train_rows = training_rows(labelled, train)?;

        let mut columns = Vec::new();
        let mut skipped = Vec::new();
        for (c, name) in table.columns.iter().enumerate() {
            if c == target || Some(c) == weight {
                continue;
            }
            let kind = match kind_of(&survey(table, &labelled.rows, c))? {
                Kind::Skipped => {
                    skipped.push(name.clone());
                    continue;
                }
                Kind::Categorical => categorical(ranked(table, &train_rows, c)),
                Kind::Numeric => standardised(table, labelled, &train_rows, c)?,
            };
            columns.push(FeatureColumn {
                name: name.clone(),
                kind,
            });
        }
        Preprocessor::assemble(&table.name, &labelled.target, columns, skipped)
    }

    /// The preprocessing of `columns` for `target`, `skipped` left out; an error naming
    /// `file` where no feature column remains.
    pub(crate) fn assemble(
        file: &str,
        target: &str,
        columns: Vec<FeatureColumn>,
        skipped: Vec<String>,
    ) -> Result<Preprocessor> {
        let preprocessor = Preprocessor {
            target: target.to_string(),
            columns,
            skipped,
        };
        if preprocessor.width() == 0 {
            return Err(Error::Input {
                at: Location::file(file),
                message: if preprocessor.skipped.is_empty() {
                    format!("no feature columns: the file has only the target column {target:?}")
                } else {
                    format!(
                        "no feature columns remain besides the target {target:?}; skipped as \
                         empty or identifiers: {}",
                        list_columns(&preprocessor.skipped)
                    )
                },
            });
        }
        Ok(preprocessor)
    }

    /// Checks a preprocessing read from a file: finite statistics, standard deviations
    /// above 0, at least one category per text column, no column named twice, and at most
    /// [`crate::model::MAX_WIDTH`] inputs in all. Returns the input width, or the field and
    /// what is wrong with it.
    pub fn validate(&self) -> std::result::Result<usize, (String, String)> {
        let mut width = 0usize;
        let mut seen = std::collections::HashSet::new();
        for (i, column) in self.columns.iter().enumerate() {
            let field =
                |what: &str| format!("preprocessor.columns[{i}] ({:?}).{what}", column.name);
            if !seen.insert(column.name.as_str()) || column.name == self.target {
                return Err((field("name"), "names a column twice".into()));
            }
            match &column.kind {
                ColumnKind::Numeric { fill, mean, std } => {
                    for (what, v) in [("fill", fill), ("mean", mean), ("std", std)] {
                        if !v.is_finite() {
                            return Err((field(what), format!("{v}; it must be finite")));
                        }
                    }
                    if *std <= 0.0 {
                        let std = crate::error::num(*std);
                        return Err((field("std"), format!("{std}; it must be above 0")));
                    }
                    width += 1;
                }
                ColumnKind::Categorical { categories, .. } => {
                    if categories.is_empty() {
                        return Err((field("categories"), "empty".into()));
                    }
                    width = width.saturating_add(categories.len());
                }
            }
            if width > crate::model::MAX_WIDTH {
                return Err((
                    "preprocessor.columns".into(),
                    format!("more than {} inputs", crate::model::MAX_WIDTH),
                ));
            }
        }
        Ok(width)
    }

    /// Number of network inputs (numeric columns + total categories), to size the first layer.
    pub fn width(&self) -> usize {
        self.columns
            .iter()
            .map(|column| match &column.kind {
                ColumnKind::Numeric { .. } => 1,
                ColumnKind::Categorical { categories, .. } => categories.len(),
            })
            .sum()
    }

    /// The column that network input `input` encodes.
    pub fn input_column(&self, input: usize) -> Option<String> {
        let mut start = 0;
        for column in &self.columns {
            start += match &column.kind {
                ColumnKind::Numeric { .. } => 1,
                ColumnKind::Categorical { categories, .. } => categories.len(),
            };
            if input < start {
                return Some(column.name.clone());
            }
        }
        None
    }

    /// Names of the network inputs, e.g. "age", "color=red", so reports can speak of inputs
    /// the way the user knows them.
    pub fn input_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.width());
        for column in &self.columns {
            match &column.kind {
                ColumnKind::Numeric { .. } => names.push(column.name.clone()),
                ColumnKind::Categorical { categories, .. } => names.extend(
                    categories
                        .iter()
                        .map(|category| format!("{}={category}", column.name)),
                ),
            }
        }
        names
    }

    /// Encodes the given table rows as x: (rows.len(), width) row-major f32.
    ///
    /// Columns are found by name, so a predict file may order its columns differently, have
    /// extra ones, and lack the target. Missing cells take the fill value; a category not
    /// seen in training encodes as zeros.
    pub fn transform(&self, table: &Table, rows: &[usize]) -> Result<Vec<f32>> {
        self.encode(table, rows, false)
    }

    /// [`Preprocessor::transform`] with each missing cell's inputs left [`MISSING`] rather
    /// than filled: rows encoded once for fits that each fill them their own way
    /// ([`RowMap`]).
    pub fn transform_marked(&self, table: &Table, rows: &[usize]) -> Result<Vec<f32>> {
        self.encode(table, rows, true)
    }

    /// The same columns and categories (the schema, decided once on every kept row) with
    /// their statistics fitted again on the `train` positions of `labelled`: each number
    /// column's mean, std and median, each text column's fill (its most frequent category
    /// in those rows).
    pub fn refit(
        &self,
        table: &Table,
        labelled: &Labelled,
        train: &[usize],
    ) -> Result<Preprocessor> {
        let train_rows = training_rows(labelled, train)?;
        let mut columns = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            let c = table.column(&column.name)?;
            let kind = match &column.kind {
                ColumnKind::Numeric { .. } => standardised(table, labelled, &train_rows, c)?,
                ColumnKind::Categorical { categories, fill } => ColumnKind::Categorical {
                    fill: ranked(table, &train_rows, c)
                        .into_iter()
                        .find(|(text, _)| categories.iter().any(|k| k == text))
                        .map_or_else(|| fill.clone(), |(text, _)| text),
                    categories: categories.clone(),
                },
            };
            columns.push(FeatureColumn {
                name: column.name.clone(),
                kind,
            });
        }
        Ok(Preprocessor {
            target: self.target.clone(),
            columns,
            skipped: self.skipped.clone(),
        })
    }

    fn encode(&self, table: &Table, rows: &[usize], marked: bool) -> Result<Vec<f32>> {
        let mut found = Vec::with_capacity(self.columns.len());
        let mut absent = Vec::new();
        for column in &self.columns {
            match table.columns.iter().position(|c| *c == column.name) {
                Some(index) => found.push(index),
                None => absent.push(format!("{:?}", column.name)),
            }
        }
        if !absent.is_empty() {
            return Err(Error::Input {
                at: Location::file(table.name.clone()),
                message: format!(
                    "the model expects column{} {}, which {} not in this file",
                    if absent.len() == 1 { "" } else { "s" },
                    list_columns(&absent),
                    if absent.len() == 1 { "is" } else { "are" }
                ),
            });
        }
        let lookups: Vec<Option<HashMap<&str, usize>>> = self
            .columns
            .iter()
            .map(|column| match &column.kind {
                ColumnKind::Categorical { categories, .. } => Some(
                    categories
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.as_str(), i))
                        .collect(),
                ),
                ColumnKind::Numeric { .. } => None,
            })
            .collect();

        let width = self.width();
        let mut x = Vec::with_capacity(rows.len() * width);
        for &r in rows {
            if r >= table.rows.len() {
                return Err(Error::InvalidData(format!(
                    "row {r} is out of range ({} rows in {})",
                    table.rows.len(),
                    table.name
                )));
            }
            for ((column, &c), lookup) in self.columns.iter().zip(&found).zip(&lookups) {
                let present = cell(table, r, c);
                match (&column.kind, lookup) {
                    (ColumnKind::Numeric { fill, mean, std }, _) => {
                        let value = match present {
                            None if marked => {
                                x.push(MISSING);
                                continue;
                            }
                            None => *fill,
                            Some(text) => text.number().ok_or_else(|| Error::Input {
                                at: table.location(r, c),
                                message: format!(
                                    "{}; the model was trained with numbers in this column",
                                    not_a_number(text)
                                ),
                            })?,
                        };
                        let z = ((value - mean) / std) as f32;
                        if !z.is_finite() {
                            return Err(Error::Input {
                                at: table.location(r, c),
                                message: format!(
                                    "{} is too far from the training values (mean {}, std {}) \
                                     to encode",
                                    crate::error::num(value),
                                    crate::error::num(*mean),
                                    crate::error::num(*std)
                                ),
                            });
                        }
                        x.push(z);
                    }
                    (ColumnKind::Categorical { categories, fill }, lookup) => {
                        let start = x.len();
                        if marked && present.is_none() {
                            x.resize(start + categories.len(), MISSING);
                            continue;
                        }
                        x.resize(start + categories.len(), 0.0);
                        let text = present.map_or(Cow::Borrowed(fill.as_str()), Cell::text);
                        if let Some(slot) = lookup
                            .as_ref()
                            .and_then(|l| l.get(text.as_ref()))
                            .and_then(|&i| x.get_mut(start + i))
                        {
                            *slot = 1.0;
                        }
                    }
                }
            }
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        Table::from_reader("data.csv", text.as_bytes()).unwrap()
    }

    fn label_err(text: &str, target: &str, task: Option<Task>) -> String {
        match label(&table(text), target, task, MissingPolicy::Impute) {
            Ok(l) => panic!("expected an error, got {l:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn all(labelled: &Labelled) -> Vec<usize> {
        (0..labelled.rows.len()).collect()
    }

    #[test]
    fn infers_binary_from_0_1_and_yes_no() {
        let l = label(
            &table("x,y\n1,1\n2,0\n3,1\n"),
            "y",
            None,
            MissingPolicy::Impute,
        )
        .unwrap();
        assert_eq!(l.task, Task::Binary);
        assert_eq!(l.classes, ["0", "1"]);
        assert_eq!(l.y, [1.0, 0.0, 1.0]);

        let l = label(
            &table("x,y\n1,yes\n2,no\n3,yes\n"),
            "y",
            None,
            MissingPolicy::Impute,
        )
        .unwrap();
        assert_eq!(l.task, Task::Binary);
        assert_eq!(l.classes, ["no", "yes"]);
        assert_eq!(l.y, [1.0, 0.0, 1.0]);
    }

    #[test]
    fn infers_multiclass_and_regression() {
        let l = label(
            &table("x,y\n1,2\n2,10\n3,1\n4,2\n"),
            "y",
            None,
            MissingPolicy::Impute,
        )
        .unwrap();
        assert_eq!(l.task, Task::Multiclass);
        assert_eq!(l.classes, ["1", "2", "10"], "numeric order, not text order");
        assert_eq!(l.y, [1.0, 2.0, 0.0, 1.0]);

        let l = label(
            &table("x,y\n1,a\n2,c\n3,b\n"),
            "y",
            None,
            MissingPolicy::Impute,
        )
        .unwrap();
        assert_eq!(l.task, Task::Multiclass);
        assert_eq!(l.classes, ["a", "b", "c"]);

        let l = label(
            &table("x,y\n1,0.5\n2,1.25\n3,2\n"),
            "y",
            None,
            MissingPolicy::Impute,
        )
        .unwrap();
        assert_eq!(l.task, Task::Regression);
        assert!(l.classes.is_empty());
        assert_eq!(l.y, [0.5, 1.25, 2.0]);

        let many: String = (0..30).map(|i| format!("{i},{i}\n")).collect();
        let l = label(
            &table(&format!("x,y\n{many}")),
            "y",
            None,
            MissingPolicy::Impute,
        )
        .unwrap();
        assert_eq!(l.task, Task::Regression, "many integers are a quantity");
    }

    #[test]
    fn missing_targets_are_dropped() {
        let l = label(
            &table("x,y\n1,a\n2,\n3,b\n4,NA\n"),
            "y",
            None,
            MissingPolicy::Impute,
        )
        .unwrap();
        assert_eq!(l.rows, [0, 2]);
        assert_eq!(l.dropped, 2);
        let l = label(
            &table("x,z,y\n1,,a\n,,b\n3,,b\n4,,a\n"),
            "y",
            None,
            MissingPolicy::Drop,
        )
        .unwrap();
        assert_eq!(
            l.rows,
            [0, 2, 3],
            "the all-empty column z does not drop rows"
        );
        assert_eq!(l.dropped, 1);
    }

    #[test]
    fn label_errors() {
        let e = label_err("x,y\n1,a\n2,a\n", "y", None);
        assert!(
            e.contains(
                "data.csv, column \"y\": the target has only one class (\"a\"); a classifier \
                 needs at least two"
            ),
            "{e}"
        );
        let e = label_err("x,y\n1,2.5\n2,abc\n", "y", Some(Task::Regression));
        assert!(
            e.contains("data.csv, line 3, column \"y\": \"abc\" is not a number"),
            "{e}"
        );
        let e = label_err("x,y\n1,a\n2,b\n3,c\n", "y", Some(Task::Binary));
        assert!(e.contains("3 classes (a, b, c)"), "{e}");
        let ids: String = (0..25).map(|i| format!("1,id{i}\n")).collect();
        let e = label_err(&format!("x,y\n{ids}"), "y", None);
        assert!(e.contains("looks like an identifier, not a label"), "{e}");
        let e = label_err("x,y\n1,a\n", "z", None);
        assert!(
            e.contains("data.csv: no column \"z\"; the columns are x, y"),
            "{e}"
        );
        let e = label_err("x,y\n1,\n", "y", None);
        assert!(e.contains("the target is missing in every row"), "{e}");
    }

    #[test]
    fn task_parses_and_prints() {
        for task in [Task::Binary, Task::Multiclass, Task::Regression] {
            assert_eq!(task.to_string().parse::<Task>().unwrap(), task);
        }
        assert!("clustering".parse::<Task>().is_err());
        assert_eq!(
            "drop".parse::<MissingPolicy>().unwrap(),
            MissingPolicy::Drop
        );
    }

    const MIXED: &str = "age,color,y\n\
                         20,red,0\n\
                         30,blue,1\n\
                         ,red,0\n\
                         40,,1\n\
                         1000,green,1\n";

    #[test]
    fn numeric_and_categorical_columns_fit_on_training_rows_only() {
        let t = table(MIXED);
        let l = label(&t, "y", None, MissingPolicy::Impute).unwrap();
        // Row 4 (age 1000, green) is validation only.
        let train = [0, 1, 2, 3];
        let p = Preprocessor::fit(&t, &l, &train).unwrap();
        assert!(p.skipped.is_empty());
        assert_eq!(p.columns.len(), 2);
        let ColumnKind::Numeric { fill, mean, std } = p.columns[0].kind else {
            panic!("age should be numeric: {:?}", p.columns[0]);
        };
        assert_eq!(fill, 30.0);
        assert_eq!(mean, 30.0, "1000 is only in validation");
        assert!((std - (200.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(
            p.columns[1].kind,
            ColumnKind::Categorical {
                categories: vec!["red".into(), "blue".into()],
                fill: "red".into()
            }
        );
        assert_eq!(p.width(), 3);
        assert_eq!(p.input_names(), ["age", "color=red", "color=blue"]);

        let x = p.transform(&t, &[0, 2, 3, 4]).unwrap();
        let z = |v: f64| ((v - mean) / std) as f32;
        assert_eq!(
            x,
            vec![
                z(20.0),
                1.0,
                0.0, // red
                0.0,
                1.0,
                0.0, // missing age → median 30 → 0
                z(40.0),
                1.0,
                0.0, // missing color → red
                z(1000.0),
                0.0,
                0.0, // green unseen → zeros
            ]
        );
    }

    #[test]
    fn predict_tables_match_columns_by_name() {
        let t = table(MIXED);
        let l = label(&t, "y", None, MissingPolicy::Impute).unwrap();
        let p = Preprocessor::fit(&t, &l, &all(&l)).unwrap();
        let predict = table("extra,color,age\nx,blue,20\ny,red,30\n");
        let by_name = p.transform(&predict, &[0, 1]).unwrap();
        let same = table("age,color,y\n20,blue,0\n30,red,0\n");
        assert_eq!(by_name, p.transform(&same, &[0, 1]).unwrap());

        let e = p
            .transform(&table("color\nred\n"), &[0])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data.csv: the model expects column \"age\", which is not in this file"),
            "{e}"
        );
        let e = p
            .transform(&table("age,color\n20,red\nabc,blue\n"), &[0, 1])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "data.csv, line 3, column \"age\": \"abc\" is not a number; the model was \
                 trained with numbers in this column"
            ),
            "{e}"
        );
    }

    #[test]
    fn numeric_column_with_a_typo_is_an_error() {
        let mut text = String::from("a,y\n");
        for i in 0..30 {
            text.push_str(&format!("{i},{}\n", i % 2));
        }
        text.push_str("abc,1\n");
        let t = table(&text);
        let l = label(&t, "y", None, MissingPolicy::Impute).unwrap();
        let e = Preprocessor::fit(&t, &l, &all(&l)).unwrap_err().to_string();
        assert!(
            e.contains(
                "data.csv, line 32, column \"a\": \"abc\" is not a number (the column is \
                 numeric in 96% of rows)"
            ),
            "{e}"
        );
    }

    #[test]
    fn empty_and_identifier_columns_are_skipped() {
        let mut text = String::from("id,empty,v,y\n");
        for i in 0..25 {
            text.push_str(&format!("user{i},,{},{}\n", i % 3, i % 2));
        }
        let t = table(&text);
        let l = label(&t, "y", None, MissingPolicy::Impute).unwrap();
        let p = Preprocessor::fit(&t, &l, &all(&l)).unwrap();
        assert_eq!(p.skipped, ["id", "empty"]);
        assert_eq!(p.input_names(), ["v"]);

        let t = table("id,y\na,0\nb,1\n,0\n");
        let l = label(&t, "y", None, MissingPolicy::Impute).unwrap();
        let t2 = table("e,y\n,0\n,1\n");
        let l2 = label(&t2, "y", None, MissingPolicy::Impute).unwrap();
        let e = Preprocessor::fit(&t2, &l2, &all(&l2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.csv: no feature columns remain"), "{e}");
        assert!(e.contains("e"), "{e}");
        // A small text column is a category, not an identifier.
        assert!(Preprocessor::fit(&t, &l, &all(&l)).is_ok());
    }

    #[test]
    fn constant_column_uses_std_1() {
        let t = table("a,y\n5,0\n5,1\n");
        let l = label(&t, "y", None, MissingPolicy::Impute).unwrap();
        let p = Preprocessor::fit(&t, &l, &all(&l)).unwrap();
        assert_eq!(
            p.columns[0].kind,
            ColumnKind::Numeric {
                fill: 5.0,
                mean: 5.0,
                std: 1.0
            }
        );
        assert_eq!(p.transform(&table("a\n7\n"), &[0]).unwrap(), [2.0]);
    }

    #[test]
    fn categories_are_ordered_by_frequency_then_text() {
        let t = table("c,y\nb,0\na,1\nc,0\nc,1\nb,0\n");
        let l = label(&t, "y", None, MissingPolicy::Impute).unwrap();
        let p = Preprocessor::fit(&t, &l, &all(&l)).unwrap();
        assert_eq!(p.input_names(), ["c=b", "c=c", "c=a"]);
    }

    #[test]
    fn preprocessor_round_trips_through_json() {
        let t = table(MIXED);
        let l = label(&t, "y", None, MissingPolicy::Impute).unwrap();
        let p = Preprocessor::fit(&t, &l, &all(&l)).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"type\":\"numeric\""), "{json}");
        let back: Preprocessor = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        assert_eq!(
            serde_json::to_string(&Task::Multiclass).unwrap(),
            "\"multiclass\""
        );
    }

    #[test]
    fn drop_policy_keeps_complete_rows() {
        let t = table(MIXED);
        let l = label(&t, "y", None, MissingPolicy::Drop).unwrap();
        assert_eq!(l.rows, [0, 1, 4]);
        assert_eq!(l.dropped, 2);
        let p = Preprocessor::fit(&t, &l, &all(&l)).unwrap();
        // Fill values are still there for predict files.
        let ColumnKind::Numeric { fill, .. } = p.columns[0].kind else {
            panic!();
        };
        assert_eq!(fill, 30.0);
        let e = label(
            &table("a,b,y\n1,,0\n,2,1\n"),
            "y",
            None,
            MissingPolicy::Drop,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("leaves no rows"), "{e}");
    }

    #[test]
    fn targets_by_task() {
        let l = label(
            &table("x,y\n1,b\n2,a\n3,c\n"),
            "y",
            None,
            MissingPolicy::Impute,
        )
        .unwrap();
        assert_eq!(targets(&l, &[0, 2], None), [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        let l = label(&table("x,y\n1,1\n2,0\n"), "y", None, MissingPolicy::Impute).unwrap();
        assert_eq!(targets(&l, &[1, 0], None), [0.0, 1.0]);
        let l = label(
            &table("x,y\n1,1.5\n2,2.5\n3,3.5\n"),
            "y",
            None,
            MissingPolicy::Impute,
        )
        .unwrap();
        let scale = TargetScale::fit(&l.y[..2]);
        assert_eq!(
            scale,
            TargetScale {
                mean: 2.0,
                std: 0.5
            }
        );
        assert_eq!(targets(&l, &[0, 2], Some(scale)), [-1.0, 3.0]);
        assert_eq!(scale.decode(3.0), 3.5);
        assert_eq!(TargetScale::fit(&[4.0, 4.0]).std, 1.0);
        assert!(targets(&l, &[9], None)[0].is_nan());
    }
}
