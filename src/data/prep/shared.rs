//! Rows encoded once for several fits of one table (the folds of a cross-validation, and a
//! search's candidates on them), each fit reading them through a [`RowMap`] of its own
//! statistics: on the host ([`RowMap::dataset`]) or inside the wide fused kernel
//! (src/kernels/fused/wide.wgsl: `input_at`, `target_at`, `weight_at`). Both run the same f32
//! operations in the same order, each correctly rounded on every driver (Vulkan and GL
//! require it of subtraction and multiplication), so a fit's rows have the same bits either
//! way: folds trained side by side on one copy match each trained alone.
//!
//! Inputs are standardised on every kept row. A fit's own standardisation is then
//! `(z − shift) · scale`, with shift = (mean_fit − mean_all) / std_all and
//! scale = std_all / std_fit, and a missing cell ([`MISSING`]) takes the fit's fill. One-hot
//! inputs and class targets pass through (shift 0, scale 1: exact); a regression target is
//! mapped as an input is; a row's weight is multiplied by its class's weight in the fit.

use super::{targets, ColumnKind, Labelled, Preprocessor, TargetScale, Task};
use crate::data::table::Table;
use crate::data::Dataset;
use crate::error::{Error, Result};

/// The bits of [`MISSING`]: a quiet NaN with a payload of its own. Kernels recognise it by
/// its bits (a NaN compares unequal to itself, which a compiler need not keep).
pub const MISSING_BITS: u32 = 0x7fc0_4d53;
/// A missing cell in rows encoded once, filled by each fit's [`RowMap`].
pub const MISSING: f32 = f32::from_bits(MISSING_BITS);

/// A table's kept rows encoded once: inputs standardised on all of them (missing cells
/// [`MISSING`]), targets (regression standardised on all of them) and each row's own weight.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedRows {
    /// (rows, features).
    x: Vec<f32>,
    /// (rows, outputs + 1): the targets, then the row's weight (1 without sample weights).
    targets: Vec<f32>,
    features: usize,
    outputs: usize,
    task: Task,
}

impl SharedRows {
    /// Every kept row of `labelled` through `prep` (fitted on all of them), regression
    /// targets through `scale`.
    pub fn encode(
        table: &Table,
        labelled: &Labelled,
        prep: &Preprocessor,
        scale: Option<TargetScale>,
    ) -> Result<SharedRows> {
        let x = prep.transform_marked(table, &labelled.rows)?;
        let rows = labelled.rows.len();
        let all: Vec<usize> = (0..rows).collect();
        let y = targets(labelled, &all, scale);
        let outputs = match labelled.task {
            Task::Multiclass => labelled.classes.len(),
            Task::Binary | Task::Regression => 1,
        };
        if rows == 0 || y.len() != rows * outputs {
            return Err(Error::InvalidData("there are no rows to encode".into()));
        }
        let mut t = Vec::with_capacity(rows * (outputs + 1));
        for (r, row) in y.chunks(outputs).enumerate() {
            if let Some(c) = row.iter().position(|v| !v.is_finite()) {
                return Err(Error::InvalidData(format!(
                    "target {c} of row {r} is {} (not finite)",
                    row[c]
                )));
            }
            t.extend_from_slice(row);
            t.push(labelled.weights.as_ref().map_or(1.0, |w| w[r] as f32));
        }
        Ok(SharedRows {
            x,
            targets: t,
            features: prep.width(),
            outputs,
            task: labelled.task,
        })
    }

    /// Rows already encoded: `x` (rows, features), `targets` (rows, outputs + 1) for `task`
    /// (the kernels' checks).
    pub(crate) fn from_parts(
        x: Vec<f32>,
        targets: Vec<f32>,
        features: usize,
        outputs: usize,
        task: Task,
    ) -> SharedRows {
        SharedRows {
            x,
            targets,
            features,
            outputs,
            task,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.targets.len() / (self.outputs + 1)
    }

    /// Inputs per row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Targets per row.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Inputs, (rows, features), [`MISSING`] where a cell was missing.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// Targets and each row's own weight, (rows, outputs + 1).
    pub fn targets(&self) -> &[f32] {
        &self.targets
    }

    /// Row `r`'s class, as the kernel finds it from the targets: binary 1 where the target
    /// is above ½, multiclass the one-hot target's class, regression 0.
    fn class(&self, r: usize) -> usize {
        let t = &self.targets[r * (self.outputs + 1)..][..self.outputs];
        match self.task {
            Task::Binary => usize::from(t[0] > 0.5),
            Task::Multiclass => t.iter().rposition(|&y| y > 0.5).unwrap_or(0),
            Task::Regression => 0,
        }
    }
}

/// How one fit reads [`SharedRows`]: its shift, scale and fill for each input, the same for
/// its regression target, and its class weights.
#[derive(Clone, Debug, PartialEq)]
pub struct RowMap {
    shift: Vec<f32>,
    scale: Vec<f32>,
    fill: Vec<f32>,
    /// The regression target's shift and scale (0 and 1 for classes).
    target: (f32, f32),
    /// Each class's weight (one, 1, for regression).
    class_weights: Vec<f32>,
}

impl RowMap {
    /// The map from rows encoded by `all` (fitted on every kept row) to rows encoded by
    /// `fit` (the same columns, see [`Preprocessor::refit`]); regression targets from
    /// `all_scale` to `fit_scale`; `class_weights` (one for each class) multiplying each
    /// row's weight.
    pub fn new(
        all: &Preprocessor,
        fit: &Preprocessor,
        (all_scale, fit_scale): (Option<TargetScale>, Option<TargetScale>),
        class_weights: Option<&[f32]>,
        classes: usize,
    ) -> Result<RowMap> {
        let width = all.width();
        let (mut shift, mut scale, mut fill) = (
            Vec::with_capacity(width),
            Vec::with_capacity(width),
            Vec::with_capacity(width),
        );
        if all.columns.len() != fit.columns.len() {
            return Err(Error::InvalidData(
                "a fit's preprocessing has other columns than the shared rows".into(),
            ));
        }
        for (a, f) in all.columns.iter().zip(&fit.columns) {
            match (&a.kind, &f.kind) {
                (
                    ColumnKind::Numeric {
                        mean: mean_all,
                        std: std_all,
                        ..
                    },
                    ColumnKind::Numeric {
                        fill: value,
                        mean,
                        std,
                    },
                ) => {
                    shift.push(((mean - mean_all) / std_all) as f32);
                    scale.push((std_all / std) as f32);
                    fill.push(((value - mean) / std) as f32);
                }
                (
                    ColumnKind::Categorical { categories, .. },
                    ColumnKind::Categorical {
                        categories: same,
                        fill: value,
                    },
                ) if categories == same => {
                    for category in categories {
                        shift.push(0.0);
                        scale.push(1.0);
                        fill.push(if category == value { 1.0 } else { 0.0 });
                    }
                }
                _ => {
                    return Err(Error::InvalidData(format!(
                        "column {:?} is encoded differently in a fit than in the shared rows",
                        a.name
                    )))
                }
            }
        }
        let target = match (all_scale, fit_scale) {
            (Some(a), Some(f)) => (((f.mean - a.mean) / a.std) as f32, (a.std / f.std) as f32),
            _ => (0.0, 1.0),
        };
        let class_weights = match class_weights {
            Some(w) => w.to_vec(),
            None => vec![1.0; classes.max(1)],
        };
        Ok(RowMap {
            shift,
            scale,
            fill,
            target,
            class_weights,
        })
    }

    /// A map of the given shifts, scales and fills (one per input), target shift and scale,
    /// and class weights (the kernels' checks).
    pub(crate) fn from_parts(
        shift: Vec<f32>,
        scale: Vec<f32>,
        fill: Vec<f32>,
        target: (f32, f32),
        class_weights: Vec<f32>,
    ) -> RowMap {
        RowMap {
            shift,
            scale,
            fill,
            target,
            class_weights,
        }
    }

    /// Input `i` of a row as the fit reads it, from its shared value `z`.
    fn input(&self, i: usize, z: f32) -> f32 {
        match z.to_bits() == MISSING_BITS {
            true => self.fill[i],
            false => (z - self.shift[i]) * self.scale[i],
        }
    }

    /// The rows at positions `pick` of `rows` as the fit reads them.
    pub fn dataset(&self, rows: &SharedRows, pick: &[usize]) -> Result<Dataset> {
        self.check(rows)?;
        let (features, outputs) = (rows.features, rows.outputs);
        let mut x = Vec::with_capacity(pick.len() * features);
        let mut y = Vec::with_capacity(pick.len() * outputs);
        let mut w = Vec::with_capacity(pick.len());
        for &p in pick {
            if p >= rows.rows() {
                return Err(Error::InvalidData(format!(
                    "row {p} is out of range ({} shared rows)",
                    rows.rows()
                )));
            }
            let row = &rows.x[p * features..][..features];
            x.extend(row.iter().enumerate().map(|(i, &z)| self.input(i, z)));
            let t = &rows.targets[p * (outputs + 1)..][..outputs + 1];
            let (shift, scale) = self.target;
            match rows.task {
                Task::Regression => y.extend(t[..outputs].iter().map(|&v| (v - shift) * scale)),
                Task::Binary | Task::Multiclass => y.extend_from_slice(&t[..outputs]),
            }
            w.push(self.class_weights[rows.class(p)] * t[outputs]);
        }
        Dataset::with_targets(x, y, features, outputs, Some(w))
    }

    /// The map as the wide fused kernel reads it: shifts, scales and fills (one per input),
    /// the target's shift and scale, then the class weights.
    pub fn packed(&self) -> Vec<f32> {
        let mut packed = Vec::with_capacity(3 * self.shift.len() + 2 + self.class_weights.len());
        packed.extend_from_slice(&self.shift);
        packed.extend_from_slice(&self.scale);
        packed.extend_from_slice(&self.fill);
        packed.extend([self.target.0, self.target.1]);
        packed.extend_from_slice(&self.class_weights);
        packed
    }

    /// An error unless the map is for rows shaped as `rows`.
    pub fn check(&self, rows: &SharedRows) -> Result<()> {
        let classes = match rows.task {
            Task::Regression => 1,
            Task::Binary => 2,
            Task::Multiclass => rows.outputs,
        };
        if self.shift.len() != rows.features || self.class_weights.len() != classes {
            return Err(Error::InvalidData(format!(
                "a map of {} inputs and {} classes for rows of {} inputs and {classes}",
                self.shift.len(),
                self.class_weights.len(),
                rows.features
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::prep::{label, MissingPolicy};

    fn table(text: &str) -> Table {
        Table::from_reader("data.csv", text.as_bytes()).unwrap()
    }

    #[test]
    fn a_fold_reads_the_shared_rows_as_its_own_preprocessing_encodes_them() {
        // Numbers far from 0 with missing cells, a text column with a missing cell and a
        // category the fold never sees, a regression target: the fold's map over rows
        // encoded on all rows gives what the fold's own preprocessing gives, within f32
        // rounding: |got − want| ≤ 1e-5 + 1e-5·|want|.
        let mut text = String::from("a,b,c,y\n");
        for i in 0..40 {
            let a = match i % 6 {
                2 => String::new(),
                _ => format!("{}", 5000.0 + (i * 17 % 23) as f64 * 0.37),
            };
            let c = match i {
                7 => "",
                39 => "rare",
                _ => ["x", "y", "z", "x"][i % 4],
            };
            text += &format!("{a},{},{c},{}\n", i % 5, 100.0 + i as f64 * 0.5);
        }
        let table = table(&text);
        let lab = label(&table, "y", None, MissingPolicy::Impute).unwrap();
        let all: Vec<usize> = (0..lab.rows.len()).collect();
        let prep = Preprocessor::fit(&table, &lab, &all).unwrap();
        let scale_all = TargetScale::fit(&lab.y);
        let rows = SharedRows::encode(&table, &lab, &prep, Some(scale_all)).unwrap();
        let train: Vec<usize> = (0..30).collect();
        let fold = prep.refit(&table, &lab, &train).unwrap();
        let train_y: Vec<f64> = train.iter().map(|&p| lab.y[p]).collect();
        let scale = TargetScale::fit(&train_y);
        let map = RowMap::new(&prep, &fold, (Some(scale_all), Some(scale)), None, 0).unwrap();
        let pick: Vec<usize> = (0..40).rev().collect();
        let got = map.dataset(&rows, &pick).unwrap();
        let table_rows: Vec<usize> = pick.iter().map(|&p| lab.rows[p]).collect();
        let want = fold.transform(&table, &table_rows).unwrap();
        let close = |g: f32, w: f32| (g - w).abs() <= 1e-5 + 1e-5 * w.abs();
        let worst = |g: &[f32], w: &[f32]| {
            (0..w.len()).max_by(|&i, &j| (g[i] - w[i]).abs().total_cmp(&(g[j] - w[j]).abs()))
        };
        assert_eq!(got.x().len(), want.len());
        if let Some(i) = worst(got.x(), &want).filter(|&i| !close(got.x()[i], want[i])) {
            panic!("input {i}: got {}, want {}", got.x()[i], want[i]);
        }
        for (r, &p) in pick.iter().enumerate() {
            let (g, w) = (got.target(r, 0), scale.encode(lab.y[p]));
            assert!(close(g, w), "target of row {r}: got {g}, want {w}");
        }
        // The missing cells took the fold's fills: the median for the number, and the
        // fold's most frequent category; the category only the held-out rows have is kept,
        // as a column of its own.
        assert_eq!(
            rows.x()
                .iter()
                .filter(|v| v.to_bits() == MISSING_BITS)
                .count(),
            7 + 4
        );
        assert_eq!(fold.width(), prep.width());
        assert!(fold.input_names().contains(&"c=rare".to_string()));
    }

    #[test]
    fn each_row_s_weight_is_its_class_weight_times_its_own() {
        let table = table("f,w,y\n1,2,a\n2,0.5,b\n3,1,a\n4,3,b\n5,1,c\n");
        let lab = label(&table, "y", None, MissingPolicy::Impute)
            .unwrap()
            .with_sample_weights(&table, Some("w"))
            .unwrap();
        let all: Vec<usize> = (0..5).collect();
        let prep = Preprocessor::fit(&table, &lab, &all).unwrap();
        let rows = SharedRows::encode(&table, &lab, &prep, None).unwrap();
        let weights = [0.5f32, 2.0, 4.0];
        let map = RowMap::new(&prep, &prep, (None, None), Some(&weights), 3).unwrap();
        let data = map.dataset(&rows, &all).unwrap();
        let got: Vec<f32> = (0..5).map(|r| data.targets()[r * 4 + 3]).collect();
        assert_eq!(got, [1.0, 1.0, 0.5, 6.0, 4.0]);
        // A map for another number of classes is refused, not read past its end.
        let short = RowMap::new(&prep, &prep, (None, None), Some(&weights[..2]), 2).unwrap();
        assert!(short.dataset(&rows, &all).is_err());
    }
}
