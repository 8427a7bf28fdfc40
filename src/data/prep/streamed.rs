//! The labels and preprocessing of data read a chunk of rows at a time, for a file larger
//! than memory: two passes over its chunks, each keeping no more than a [`Budget`] per
//! column. The first surveys every row with a target (each column's kind, as
//! `kind_of` decides it) and the target's values (the task and the classes); the
//! second fits each column's statistics on the training rows (means and standard deviations
//! exactly, medians from a seeded sample once the values outgrow the budget, the most
//! frequent categories from the Space-Saving sketch once the distinct texts do). With
//! [`Budget::EXACT`], the result is [`super::Preprocessor::fit`]'s over the same rows.
//!
//! Rows are numbered in file order from 0 (the header aside); a row without a target is
//! dropped, as [`super::label`] drops it. With [`MissingPolicy::Drop`], so is a row with a
//! missing cell in a column that has a value somewhere, as `label` drops it; the first pass
//! learns which columns those are, so its kinds and classes are decided on every row with a
//! target, the statistics and the rows trained on without the dropped ones.

use super::census::{Budget, Counts, Moments, Sample, Survey};
use super::label::{ClassIndex, MissingPolicy, TargetCensus, Task};
use super::TargetScale;
use super::{categorical, kind_of, numeric, ColumnKind, FeatureColumn, Kind, Preprocessor};
use crate::data::table::{Cell, Table};
use crate::error::{Error, Location, Result};

/// Where a column sits in the file's header.
#[derive(Clone, Debug)]
struct Columns {
    file: String,
    names: Vec<String>,
    target: usize,
    weight: Option<usize>,
}

impl Columns {
    /// Feature columns: every one but the target and the sample weights.
    fn features(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.names.len()).filter(|&c| c != self.target && Some(c) != self.weight)
    }

    /// An error unless `chunk` has the file's columns.
    fn check(&self, chunk: &Table) -> Result<()> {
        match chunk.columns == self.names {
            true => Ok(()),
            false => Err(Error::Input {
                at: Location::file(self.file.clone()),
                message: "a chunk's columns differ from the header's".into(),
            }),
        }
    }
}

/// The first pass: each feature column's survey and the target's census.
pub struct FirstPass {
    columns: Columns,
    surveys: Vec<Survey>,
    census: TargetCensus,
    /// Whether each column has a value in some row (the columns the drop policy counts).
    present: Vec<bool>,
    rows: u64,
    kept: u64,
}

impl FirstPass {
    /// A pass over the rows of `file`, whose header is `columns`, learning `target` (and
    /// leaving out the sample-weight column `weight`).
    pub fn new(
        file: &str,
        columns: &[String],
        target: &str,
        weight: Option<&str>,
        budget: Budget,
    ) -> Result<FirstPass> {
        let find = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| Error::Input {
                    at: Location::file(file),
                    message: format!("no column {name:?}"),
                })
        };
        let columns = Columns {
            file: file.to_string(),
            names: columns.to_vec(),
            target: find(target)?,
            weight: weight.map(find).transpose()?,
        };
        Ok(FirstPass {
            surveys: vec![Survey::new(budget); columns.names.len()],
            census: TargetCensus::new(super::MAX_CLASSES + 1),
            present: vec![false; columns.names.len()],
            columns,
            rows: 0,
            kept: 0,
        })
    }

    /// The next chunk of rows.
    pub fn add(&mut self, chunk: &Table) -> Result<()> {
        self.columns.check(chunk)?;
        let t = self.columns.target;
        for (r, row) in chunk.rows.iter().enumerate() {
            self.rows += 1;
            for (present, cell) in self.present.iter_mut().zip(row) {
                *present |= cell.is_some();
            }
            let Some(target) = row.get(t).and_then(Option::as_ref) else {
                continue;
            };
            self.kept += 1;
            self.census.add(target, || chunk.location(r, t));
            for c in self.columns.features() {
                if let Some(cell) = row.get(c).and_then(Option::as_ref) {
                    self.surveys[c].add(cell, || chunk.location(r, c));
                }
            }
        }
        Ok(())
    }

    /// Each column's kind and the target's task and classes (`task`, or inferred); the rows
    /// kept follow `missing`.
    pub fn finish(self, task: Option<Task>, missing: MissingPolicy) -> Result<Plan> {
        let at = || Location::file(self.columns.file.clone()).column(self.target_name());
        if self.kept == 0 {
            return Err(Error::Input {
                at: at(),
                message: "the target is missing in every row".into(),
            });
        }
        let (task, classes) = self.census.decide(task, self.kept, at)?;
        let mut kinds = vec![Kind::Skipped; self.columns.names.len()];
        for c in self.columns.features() {
            kinds[c] = kind_of(&self.surveys[c])?;
        }
        let drop_missing = (missing == MissingPolicy::Drop).then_some(self.present);
        Ok(Plan {
            class_index: self.census.classes_by_value(),
            columns: self.columns,
            kinds,
            task,
            classes,
            rows: self.rows,
            kept: self.kept,
            drop_missing,
            train_rows: 0,
            class_counts: Vec::new(),
        })
    }

    fn target_name(&self) -> String {
        self.columns.names[self.columns.target].clone()
    }
}

/// What the first pass decided: the task, the classes and each column's kind.
pub struct Plan {
    columns: Columns,
    kinds: Vec<Kind>,
    /// The task.
    pub task: Task,
    /// The classes in index order (empty for regression).
    pub classes: Vec<String>,
    class_index: ClassIndex,
    /// Rows read, and rows with a target.
    pub rows: u64,
    /// See `rows`.
    pub kept: u64,
    /// With the drop policy, the columns it counts: a row missing one of them is dropped.
    drop_missing: Option<Vec<bool>>,
    /// Training rows, after the second pass (each epoch's rows).
    pub train_rows: u64,
    /// Training rows of each class, after the second pass (empty for regression).
    pub class_counts: Vec<u64>,
}

impl Plan {
    /// The class index of each class label's cell.
    pub fn class_index(&self) -> &ClassIndex {
        &self.class_index
    }

    /// The file's name and its columns.
    pub fn file(&self) -> (&str, &[String]) {
        (&self.columns.file, &self.columns.names)
    }

    /// A row's target, where the row is kept (the target is present and the drop policy, if
    /// any, keeps it).
    fn kept<'r>(&self, row: &'r [Option<Cell>]) -> Option<&'r Cell> {
        let target = row.get(self.columns.target).and_then(Option::as_ref)?;
        let dropped = self.drop_missing.as_ref().is_some_and(|present| {
            row.iter()
                .zip(present)
                .any(|(cell, &present)| present && cell.is_none())
        });
        (!dropped).then_some(target)
    }

    /// Balanced class weights from the training rows' classes, as the in-memory run weighs
    /// them: rows / (classes × rows of the class).
    pub fn balanced_weights(&self) -> Vec<f32> {
        let k = self.class_counts.len();
        self.class_counts
            .iter()
            .map(|&c| self.train_rows as f32 / (k as f32 * c.max(1) as f32))
            .collect()
    }

    /// The second pass, over the same rows in the same order.
    pub fn second_pass(self, budget: Budget, seed: u64) -> SecondPass {
        let fits = self
            .kinds
            .iter()
            .enumerate()
            .map(|(c, kind)| match kind {
                Kind::Skipped => Fit::Skipped,
                Kind::Categorical => Fit::Categorical(Counts::new(budget.distinct)),
                Kind::Numeric => {
                    let seed = seed ^ (c as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    Fit::Numeric(Box::new(NumericFit {
                        train: (Moments::default(), Sample::new(budget.sample, seed)),
                        all: (Moments::default(), Sample::new(budget.sample, seed + 1)),
                    }))
                }
            })
            .collect();
        SecondPass {
            class_counts: vec![0; self.classes.len()],
            plan: self,
            fits,
            target: Moments::default(),
            row: 0,
            train_rows: 0,
        }
    }
}

/// One column's statistics in the second pass.
enum Fit {
    Skipped,
    Categorical(Counts),
    /// On the training rows, and on every kept row (for a column with no training value).
    Numeric(Box<NumericFit>),
}

/// A numeric column's moments and median samples.
struct NumericFit {
    train: (Moments, Sample),
    all: (Moments, Sample),
}

/// The second pass: each column's statistics on the training rows.
pub struct SecondPass {
    plan: Plan,
    fits: Vec<Fit>,
    /// The regression target's moments on the training rows.
    target: Moments,
    /// The next row's number.
    row: u64,
    train_rows: u64,
    class_counts: Vec<u64>,
}

impl SecondPass {
    /// The next chunk of rows; `is_train` says which rows (by number) the fit learns from.
    pub fn add(&mut self, chunk: &Table, is_train: &dyn Fn(u64) -> bool) -> Result<()> {
        self.plan.columns.check(chunk)?;
        for row in &chunk.rows {
            let number = self.row;
            self.row += 1;
            let Some(target) = self.plan.kept(row) else {
                continue;
            };
            let train = is_train(number);
            if train {
                self.train_rows += 1;
                match (self.plan.task, target.number()) {
                    (Task::Regression, Some(v)) => self.target.add(v),
                    (Task::Regression, None) => {}
                    _ => {
                        if let Some(k) = self.plan.class_index.index(target) {
                            self.class_counts[k] += 1;
                        }
                    }
                }
            }
            for (fit, cell) in self.fits.iter_mut().zip(row) {
                let Some(cell) = cell else { continue };
                match fit {
                    Fit::Skipped => {}
                    Fit::Categorical(counts) => {
                        if train {
                            counts.add(&cell.text());
                        }
                    }
                    Fit::Numeric(fit) => {
                        if let Some(v) = cell.number() {
                            if train {
                                fit.train.0.add(v);
                                fit.train.1.add(v);
                            }
                            fit.all.0.add(v);
                            fit.all.1.add(v);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The plan it followed, the preprocessing, and the regression target's scale (for a
    /// regression task).
    pub fn finish(self) -> Result<(Plan, Preprocessor, Option<TargetScale>)> {
        if self.train_rows == 0 {
            return Err(Error::Input {
                at: Location::file(self.plan.columns.file.clone()),
                message: "no row is left to train on (every row is missing its target, \
                          dropped or held out)"
                    .into(),
            });
        }
        let columns = &self.plan.columns;
        let mut features = Vec::new();
        let mut skipped = Vec::new();
        for (c, fit) in self.fits.into_iter().enumerate() {
            if c == columns.target || Some(c) == columns.weight {
                continue;
            }
            let name = columns.names[c].clone();
            let kind: ColumnKind = match fit {
                Fit::Skipped => {
                    skipped.push(name);
                    continue;
                }
                Fit::Categorical(counts) => categorical(counts.ranked()),
                Fit::Numeric(fit) => {
                    let NumericFit { train, all } = *fit;
                    let (moments, sample) = match train.0.count() {
                        0 => all,
                        _ => train,
                    };
                    numeric(&moments, sample, || {
                        Location::file(columns.file.clone()).column(name.clone())
                    })?
                }
            };
            features.push(FeatureColumn { name, kind });
        }
        let target = columns.names[columns.target].clone();
        let scale =
            (self.plan.task == Task::Regression).then(|| TargetScale::of_moments(&self.target));
        let prep = Preprocessor::assemble(&columns.file, &target, features, skipped)?;
        let mut plan = self.plan;
        plan.train_rows = self.train_rows;
        plan.class_counts = self.class_counts;
        Ok((plan, prep, scale))
    }
}

/// Whether row `row` of a file is held out for validation: a `fraction` of the rows, chosen
/// by a hash of the row's number and `seed` (SplitMix64), so a streamed run picks the same
/// rows every epoch and every run, without keeping a list. (Not stratified by class, as the
/// in-memory split is: on the large files this serves, each class's share of the held-out
/// rows is its share of the file within sampling error.)
pub fn held_out(seed: u64, row: u64, fraction: f64) -> bool {
    let z = super::census::mix64(seed ^ row.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    ((z >> 11) as f64 / (1u64 << 53) as f64) < fraction
}

/// Rows of a chunk encoded for the network: inputs, targets (laid out as
/// [`super::targets`] lays them out) and row weights.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Encoded {
    /// (rows, inputs).
    pub x: Vec<f32>,
    /// (rows, outputs).
    pub y: Vec<f32>,
    /// (rows): the sample weight, or 1.
    pub w: Vec<f32>,
    /// Each row's number in the file.
    pub rows: Vec<u64>,
}

impl Plan {
    /// Outputs per row: 1, or one per class for a multiclass task.
    pub fn outputs(&self) -> usize {
        match self.task {
            Task::Multiclass => self.classes.len(),
            Task::Binary | Task::Regression => 1,
        }
    }

    /// The rows of `chunk` with a target (its first row is row `first_row` of the file),
    /// encoded: inputs by `prep`, targets by the task (a regression target on `scale`), row
    /// weights from the sample-weight column; split into (training, held-out) by
    /// `is_train`.
    pub fn encode(
        &self,
        prep: &Preprocessor,
        scale: Option<TargetScale>,
        chunk: &Table,
        first_row: u64,
        is_train: &dyn Fn(u64) -> bool,
    ) -> Result<(Encoded, Encoded)> {
        self.columns.check(chunk)?;
        let t = self.columns.target;
        let kept: Vec<usize> = (0..chunk.rows.len())
            .filter(|&r| self.kept(&chunk.rows[r]).is_some())
            .collect();
        let x = prep.transform(chunk, &kept)?;
        let width = prep.width();
        let outputs = self.outputs();
        let (mut train, mut val) = (Encoded::default(), Encoded::default());
        for (i, &r) in kept.iter().enumerate() {
            let number = first_row + r as u64;
            let out = match is_train(number) {
                true => &mut train,
                false => &mut val,
            };
            let cell = chunk.cell(r, t).expect("kept rows have a target");
            let at = || chunk.location(r, t);
            match self.task {
                Task::Regression => {
                    let v = cell.number().ok_or_else(|| Error::Input {
                        at: at(),
                        message: format!(
                            "{:?} is not a number; a regression target must be numeric",
                            cell.text()
                        ),
                    })?;
                    out.y.push(match scale {
                        Some(scale) => scale.encode(v),
                        None => v as f32,
                    });
                }
                Task::Binary | Task::Multiclass => {
                    let class = self.class_index.index(cell).ok_or_else(|| Error::Input {
                        at: at(),
                        message: format!(
                            "{:?} is not one of the classes the first pass found",
                            cell.text()
                        ),
                    })?;
                    match self.task {
                        Task::Binary => out.y.push(class as f32),
                        _ => out.y.extend((0..outputs).map(|k| f32::from(k == class))),
                    }
                }
            }
            let weight = match self.columns.weight {
                None => 1.0,
                Some(c) => {
                    let w = chunk.cell(r, c).and_then(|cell| cell.number());
                    match w.filter(|w| *w >= 0.0 && (*w as f32).is_finite()) {
                        Some(w) => w as f32,
                        None => {
                            return Err(Error::Input {
                                at: chunk.location(r, c),
                                message: "the sample weight is not a number from 0 up".into(),
                            })
                        }
                    }
                }
            };
            out.w.push(weight);
            out.x.extend_from_slice(&x[i * width..(i + 1) * width]);
            out.rows.push(number);
        }
        Ok((train, val))
    }
}

/// Where a streamed fit reads its rows and how: the file, the target (and the sample-weight
/// column), the task (`None`: inferred), the budget per column, the parsed bytes a chunk
/// holds, the seed of the median samples.
pub struct Source<'a> {
    /// A CSV or Parquet file, of any size.
    pub path: &'a std::path::Path,
    /// The target column.
    pub target: &'a str,
    /// The sample-weight column, if any.
    pub weight: Option<&'a str>,
    /// The task, or `None` to infer it.
    pub task: Option<Task>,
    /// What each column's statistics may keep.
    pub budget: Budget,
    /// Parsed bytes a chunk of rows holds.
    pub chunk_bytes: u64,
    /// Seeds the median samples.
    pub seed: u64,
    /// Missing cells: imputed, or their rows dropped.
    pub missing: MissingPolicy,
}

/// The labels and preprocessing of the file `source.path`, read twice a chunk at a time:
/// the plan (task, classes, rows), the preprocessing fitted on the rows `is_train` takes (by
/// row number), and the regression target's scale.
pub fn fit_file(
    source: &Source<'_>,
    is_train: &dyn Fn(u64) -> bool,
) -> Result<(Plan, Preprocessor, Option<TargetScale>)> {
    let open = || crate::data::chunks::Chunks::open(source.path, source.chunk_bytes);
    let chunks = open()?;
    let name = source.path.display().to_string();
    let columns = chunks.columns().to_vec();
    let mut first = FirstPass::new(&name, &columns, source.target, source.weight, source.budget)?;
    for chunk in chunks {
        first.add(&chunk?)?;
    }
    let plan = first.finish(source.task, source.missing)?;
    let mut second = plan.second_pass(source.budget, source.seed);
    for chunk in open()? {
        second.add(&chunk?, is_train)?;
    }
    second.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::prep::{label, MissingPolicy};
    use crate::data::table::Cell;

    /// A table of numbers, categories (one rare), an identifier, an empty column, a text
    /// target and a numeric one, with missing cells.
    fn table(rows: usize) -> Table {
        Table::from_reader("t.csv", text(rows).as_bytes()).unwrap()
    }

    /// `table`'s CSV text.
    fn text(rows: usize) -> String {
        let mut text = String::from("x,colour,id,empty,y,q\n");
        for r in 0..rows {
            let x = match r % 11 {
                3 => String::new(),
                _ => format!("{}", (r * 37 % 101) as f64 / 7.0),
            };
            let colour = ["red", "green", "blue", "red", "", "violet"][r % 6];
            let y = match r % 13 {
                5 => "",
                _ => ["cat", "dog", "bird"][r * 7 % 3],
            };
            text.push_str(&format!("{x},{colour},u{r},,{y},{}\n", r % 17));
        }
        text
    }

    /// `table`'s rows from `from` to `to`, as a chunk.
    fn chunk(table: &Table, from: usize, to: usize) -> Table {
        Table {
            name: table.name.clone(),
            columns: table.columns.clone(),
            rows: table.rows[from..to].to_vec(),
            lines: table.lines[from..to].to_vec(),
            row_groups: Vec::new(),
            row_base: 0,
        }
    }

    fn streamed(
        table: &Table,
        target: &str,
        budget: Budget,
        is_train: &dyn Fn(u64) -> bool,
    ) -> Result<(Plan, Preprocessor, Option<TargetScale>)> {
        let bounds = [0, 7, 40, table.rows.len()];
        let mut first = FirstPass::new(&table.name, &table.columns, target, None, budget)?;
        for w in bounds.windows(2) {
            first.add(&chunk(table, w[0], w[1]))?;
        }
        let plan = first.finish(None, MissingPolicy::Impute)?;
        let (task, classes, kept) = (plan.task, plan.classes.clone(), plan.kept);
        let mut second = plan.second_pass(budget, 3);
        for w in bounds.windows(2) {
            second.add(&chunk(table, w[0], w[1]), is_train)?;
        }
        let (plan, prep, scale) = second.finish()?;
        let mut whole = FirstPass::new(&table.name, &table.columns, target, None, budget)?;
        whole.add(table)?;
        let whole = whole.finish(None, MissingPolicy::Impute)?;
        assert_eq!(
            (whole.task, whole.classes, whole.kept),
            (task, classes, kept)
        );
        Ok((plan, prep, scale))
    }

    #[test]
    fn an_exact_streamed_fit_is_the_in_memory_fit() {
        let table = table(120);
        for target in ["y", "q"] {
            let lab = label(&table, target, None, MissingPolicy::Impute).unwrap();
            // Every third kept row validates: training positions in row order.
            let train: Vec<usize> = (0..lab.rows.len()).filter(|p| p % 3 != 0).collect();
            let train_rows: Vec<u64> = train.iter().map(|&p| lab.rows[p] as u64).collect();
            let is_train = |r: u64| train_rows.binary_search(&r).is_ok();
            let (plan, prep, scale) = streamed(&table, target, Budget::EXACT, &is_train).unwrap();
            assert_eq!(
                (plan.task, &plan.classes),
                (lab.task, &lab.classes),
                "{target}"
            );
            assert_eq!(plan.kept as usize, lab.rows.len());
            let want = Preprocessor::fit(&table, &lab, &train).unwrap();
            assert_eq!(prep, want, "{target}");
            assert_eq!(prep.skipped, vec!["id".to_string(), "empty".to_string()]);
            let want_scale = (lab.task == Task::Regression).then(|| {
                let y: Vec<f64> = train.iter().map(|&p| lab.y[p]).collect();
                TargetScale::fit(&y)
            });
            assert_eq!(scale, want_scale, "{target}");
            // Each kept row's class, as label reads it.
            if lab.task != Task::Regression {
                let t = table.column(target).unwrap();
                for (&r, &y) in lab.rows.iter().zip(&lab.y) {
                    let cell: &Cell = table.cell(r, t).unwrap();
                    assert_eq!(plan.class_index().index(cell), Some(y as usize));
                }
            }
        }
    }

    #[test]
    fn a_bounded_streamed_fit_keeps_the_kinds_and_the_frequent_categories() {
        let table = table(3000);
        // The identifier's 3,000 texts outgrow the budget; the colours do not.
        let budget = Budget {
            distinct: 1024,
            sample: 50,
        };
        let (_, prep, _) = streamed(&table, "y", budget, &|r| r % 4 != 0).unwrap();
        let exact = streamed(&table, "y", Budget::EXACT, &|r| r % 4 != 0)
            .unwrap()
            .1;
        assert_eq!(
            prep.skipped, exact.skipped,
            "the identifier is told past the budget"
        );
        for (got, want) in prep.columns.iter().zip(&exact.columns) {
            match (&got.kind, &want.kind) {
                (
                    ColumnKind::Numeric { fill, mean, std },
                    ColumnKind::Numeric {
                        fill: f,
                        mean: m,
                        std: s,
                    },
                ) => {
                    assert_eq!((mean, std), (m, s), "means and stds are exact");
                    assert!((fill - f).abs() <= 0.25 * s, "median {fill} against {f}");
                }
                (got, want) => assert_eq!(got, want),
            }
        }
    }

    #[test]
    fn a_bad_cell_is_named_where_it_is_in_the_file() {
        // 40 numbers, then a word: a typo in a numeric column, on line 42.
        let mut rows: String = "x,y\n".into();
        for r in 0..40 {
            rows.push_str(&format!("{r},{}\n", ["a", "b"][r % 2]));
        }
        rows.push_str("oops,a\n");
        let table = Table::from_reader("t.csv", rows.as_bytes()).unwrap();
        let err = streamed(&table, "y", Budget::EXACT, &|_| true)
            .err()
            .unwrap();
        assert!(err.to_string().contains("line 42"), "{err}");
    }

    #[test]
    fn a_file_fitted_in_chunks_is_fitted_as_its_table() {
        let path = std::env::temp_dir().join(format!("gpumlp-streamed-{}.csv", std::process::id()));
        std::fs::write(&path, text(300)).unwrap();
        let table = Table::read(&path).unwrap();
        let lab = label(&table, "y", None, MissingPolicy::Impute).unwrap();
        let train: Vec<usize> = (0..lab.rows.len()).filter(|p| p % 5 != 1).collect();
        let train_rows: Vec<u64> = train.iter().map(|&p| lab.rows[p] as u64).collect();
        let source = Source {
            path: &path,
            target: "y",
            weight: None,
            task: None,
            budget: Budget::EXACT,
            chunk_bytes: 2000,
            seed: 1,
            missing: MissingPolicy::Impute,
        };
        let got = fit_file(&source, &|r| train_rows.binary_search(&r).is_ok());
        std::fs::remove_file(&path).unwrap();
        let (plan, prep, _) = got.unwrap();
        assert_eq!((plan.task, &plan.classes), (lab.task, &lab.classes));
        assert_eq!(prep, Preprocessor::fit(&table, &lab, &train).unwrap());
    }

    #[test]
    fn chunks_encode_as_the_in_memory_rows_and_the_split_is_by_row_number() {
        let table = table(200);
        for target in ["y", "q"] {
            let lab = label(&table, target, None, MissingPolicy::Impute).unwrap();
            let is_train = |r: u64| !held_out(9, r, 0.25);
            let train: Vec<usize> = (0..lab.rows.len())
                .filter(|&p| is_train(lab.rows[p] as u64))
                .collect();
            let (plan, prep, scale) = streamed(&table, target, Budget::EXACT, &is_train).unwrap();
            let (mut got, mut held) = (Encoded::default(), Encoded::default());
            for (from, to) in [(0, 7), (7, 120), (120, 200)] {
                let (t, v) = plan
                    .encode(
                        &prep,
                        scale,
                        &chunk(&table, from, to),
                        from as u64,
                        &is_train,
                    )
                    .unwrap();
                for (all, part) in [(&mut got, t), (&mut held, v)] {
                    all.x.extend(part.x);
                    all.y.extend(part.y);
                    all.w.extend(part.w);
                    all.rows.extend(part.rows);
                }
            }
            let rows: Vec<usize> = train.iter().map(|&p| lab.rows[p]).collect();
            assert_eq!(got.x, prep.transform(&table, &rows).unwrap(), "{target}");
            assert_eq!(
                got.y,
                crate::data::prep::targets(&lab, &train, scale),
                "{target}"
            );
            assert_eq!(got.rows, rows.iter().map(|&r| r as u64).collect::<Vec<_>>());
            assert!(got.w.iter().all(|&w| w == 1.0));
            let share = held.rows.len() as f64 / lab.rows.len() as f64;
            assert!((0.1..0.4).contains(&share), "{share} of the rows held out");
        }
        // The split is the same for the same seed and row, and differs by seed.
        let picks = |seed| {
            (0..1000)
                .filter(|&r| held_out(seed, r, 0.2))
                .collect::<Vec<u64>>()
        };
        assert_eq!(picks(1), picks(1));
        assert_ne!(picks(1), picks(2));
    }
}
