//! Evaluation metrics with scikit-learn's definitions, so numbers from `gpumlp eval` can be
//! checked against a Python notebook without surprises.
//!
//! Nothing here panics: empty input, one class, NaN probabilities and zero denominators all give
//! a number (NaN where the metric is undefined, 0 where scikit-learn's `zero_division=0` says so).
//! When `y` and the predictions differ in length, the rows past the shorter one are ignored.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// scikit-learn's clip for probabilities inside the log loss: keeps one confident mistake from
/// making the loss infinite.
const PROBABILITY_CLIP: f64 = 1e-15;

/// Binary classification metrics, the positive class being 1; kept together so one evaluation
/// serialises as one JSON object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    /// Share of rows predicted right at `threshold`; NaN without rows.
    pub accuracy: f64,
    /// TP / (TP + FP) at `threshold`; 0 when nothing is predicted positive.
    pub precision: f64,
    /// TP / (TP + FN) at `threshold`; 0 when there are no positives.
    pub recall: f64,
    /// 2TP / (2TP + FP + FN) at `threshold`; 0 when that denominator is 0.
    pub f1: f64,
    /// Area under the ROC curve (Mann-Whitney, ties count half); NaN unless both classes occur.
    pub roc_auc: f64,
    /// Mean cross-entropy with p clipped to [1e-15, 1 - 1e-15]; NaN without rows.
    pub log_loss: f64,
    /// The cut the thresholded metrics used: a row is predicted positive iff p >= threshold.
    pub threshold: f64,
    /// Row counts, `confusion[true][predicted]`.
    pub confusion: [[u64; 2]; 2],
    /// The probability in the data that, used as the threshold, gives the best F1; among equal
    /// F1 the largest such threshold (fewest positive predictions). NaN when no p is a number.
    pub best_f1_threshold: f64,
    /// The F1 at `best_f1_threshold` (0 when there is none).
    pub best_f1: f64,
}

/// Metrics of a multiclass classifier, macro-averaged so that rare classes count as much as
/// common ones.
///
/// Like scikit-learn's default, the macro averages run over the classes that occur in `y` or in
/// the predictions; a class that occurs but is never predicted gets precision 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MulticlassMetrics {
    /// Share of rows whose argmax is the true class; NaN without rows.
    pub accuracy: f64,
    /// Mean per-class precision; NaN when no class occurs.
    pub macro_precision: f64,
    /// Mean per-class recall; NaN when no class occurs.
    pub macro_recall: f64,
    /// Mean per-class F1; NaN when no class occurs.
    pub macro_f1: f64,
    /// Mean of -ln(p[true class]) with p clipped to [1e-15, 1 - 1e-15]; NaN without rows.
    pub log_loss: f64,
    /// Row counts, `confusion[true][predicted]`, `classes` × `classes`.
    pub confusion: Vec<Vec<u64>>,
}

/// Metrics of a regressor, in the target's own units where that applies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// Mean squared error; NaN without rows.
    pub mse: f64,
    /// Square root of `mse`, in the target's units.
    pub rmse: f64,
    /// Mean absolute error; NaN without rows.
    pub mae: f64,
    /// 1 - SS_res / SS_tot; for a constant target 1 if every prediction is exact, else 0.
    pub r2: f64,
}

/// Any of the three kinds, so eval, train and cross-validation can report one type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Metrics {
    /// Two classes.
    Binary(BinaryMetrics),
    /// More than two classes.
    Multiclass(MulticlassMetrics),
    /// A real-valued target.
    Regression(RegressionMetrics),
}

/// One scalar metric's mean and spread across cross-validation folds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The metric's name, as in [`Metrics::scalars`].
    pub name: String,
    /// Mean over the folds (NaN if any fold's value is NaN).
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for a single fold.
    pub std: f64,
}

// ---------------------------------------------------------------------------------------------
// Binary

/// Scores a binary classifier; `y` holds 0 or 1 (anything but 0 counts as positive) and `p` the
/// probability of class 1.
pub fn binary(y: &[usize], p: &[f32], threshold: f64) -> BinaryMetrics {
    let rows = y.len().min(p.len());
    let (y, p) = (&y[..rows], &p[..rows]);
    let confusion = binary_confusion(y, p, threshold);
    let counts = Counts::from_confusion(&confusion);
    let (best_f1_threshold, best_f1) = best_f1_threshold(y, p);
    BinaryMetrics {
        accuracy: ratio((counts.tp + counts.tn) as f64, rows as f64),
        precision: zero_if_undefined(counts.tp as f64, (counts.tp + counts.fp) as f64),
        recall: zero_if_undefined(counts.tp as f64, (counts.tp + counts.fn_) as f64),
        f1: counts.f1(),
        roc_auc: roc_auc(y, p),
        log_loss: binary_log_loss(y, p),
        threshold,
        confusion,
        best_f1_threshold,
        best_f1,
    }
}

/// The four cells of a binary confusion matrix, named.
struct Counts {
    tp: u64,
    fp: u64,
    tn: u64,
    fn_: u64,
}

impl Counts {
    fn from_confusion(confusion: &[[u64; 2]; 2]) -> Counts {
        Counts {
            tn: confusion[0][0],
            fp: confusion[0][1],
            fn_: confusion[1][0],
            tp: confusion[1][1],
        }
    }

    fn f1(&self) -> f64 {
        f1_from_counts(self.tp, self.fp, self.fn_)
    }
}

/// F1 as 2TP / (2TP + FP + FN), which is scikit-learn's form and needs no precision or recall.
fn f1_from_counts(tp: u64, fp: u64, fn_: u64) -> f64 {
    zero_if_undefined(2.0 * tp as f64, (2 * tp + fp + fn_) as f64)
}

fn is_positive(label: usize) -> bool {
    label != 0
}

/// A NaN probability is never >= the threshold, so it is predicted negative.
fn predicted_positive(p: f32, threshold: f64) -> bool {
    f64::from(p) >= threshold
}

fn binary_confusion(y: &[usize], p: &[f32], threshold: f64) -> [[u64; 2]; 2] {
    let mut confusion = [[0u64; 2]; 2];
    for (&label, &prob) in y.iter().zip(p) {
        let truth = usize::from(is_positive(label));
        let predicted = usize::from(predicted_positive(prob, threshold));
        confusion[truth][predicted] += 1;
    }
    confusion
}

/// Mann-Whitney U over average ranks, so tied scores count half, as in `roc_auc_score`.
fn roc_auc(y: &[usize], p: &[f32]) -> f64 {
    let positives = y.iter().filter(|&&label| is_positive(label)).count();
    let negatives = y.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    let ranks = average_ranks(p);
    let positive_rank_sum: f64 = y
        .iter()
        .zip(&ranks)
        .filter(|(&label, _)| is_positive(label))
        .map(|(_, &rank)| rank)
        .sum();
    let (positives, negatives) = (positives as f64, negatives as f64);
    let u = positive_rank_sum - positives * (positives + 1.0) / 2.0;
    u / (positives * negatives)
}

/// 1-based ranks in ascending order, tied values sharing the mean of their ranks.
fn average_ranks(values: &[f32]) -> Vec<f64> {
    let order = ascending_order(values);
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let key = sort_key(values[order[start]]);
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| sort_key(values[i]).total_cmp(&key).is_eq())
                .count();
        // Ranks start+1 ..= end share their mean.
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = mean_rank;
        }
        start = end;
    }
    ranks
}

/// Indices of `values` in ascending order; NaN sorts past the infinities and never panics.
fn ascending_order(values: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| sort_key(values[a]).total_cmp(&sort_key(values[b])));
    order
}

/// The value to sort by: adding 0.0 turns -0.0 into 0.0 so `total_cmp` sees them as a tie.
fn sort_key(value: f32) -> f64 {
    f64::from(value) + 0.0
}

fn clip_probability(p: f64) -> f64 {
    p.clamp(PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
}

fn binary_log_loss(y: &[usize], p: &[f32]) -> f64 {
    let total: f64 = y
        .iter()
        .zip(p)
        .map(|(&label, &prob)| {
            let prob = clip_probability(f64::from(prob));
            if is_positive(label) {
                -prob.ln()
            } else {
                -(1.0 - prob).ln()
            }
        })
        .sum();
    ratio(total, y.len() as f64)
}

/// Sweeps every distinct probability as the threshold, from the largest down, and keeps the
/// first one with the best F1 (so ties go to the largest threshold). NaN probabilities are
/// never predicted positive, so they are no candidate and only count as missed positives.
/// Returns (threshold, F1).
fn best_f1_threshold(y: &[usize], p: &[f32]) -> (f64, f64) {
    let positives = y.iter().filter(|&&label| is_positive(label)).count() as u64;
    let mut order = ascending_order(p);
    order.retain(|&i| !p[i].is_nan());
    order.reverse();

    let mut best = (f64::NAN, 0.0);
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut i = 0;
    while i < order.len() {
        let threshold = sort_key(p[order[i]]);
        // Every row with p equal to this threshold becomes positive at once.
        while i < order.len() && sort_key(p[order[i]]) == threshold {
            if is_positive(y[order[i]]) {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let f1 = f1_from_counts(tp, fp, positives - tp);
        if best.0.is_nan() || f1 > best.1 {
            best = (threshold, f1);
        }
    }
    best
}

// ---------------------------------------------------------------------------------------------
// Multiclass

/// Scores a multiclass classifier from its probabilities, `probs: (rows, classes)` row-major;
/// the prediction is the argmax (first maximum wins, NaN never wins).
///
/// A label >= `classes` cannot be predicted right: it counts as a mistake in the accuracy and
/// log loss (probability 0) and against the precision of the class predicted, but has no row
/// in the confusion matrix. `classes == 0` gives the metrics of no rows.
pub fn multiclass(y: &[usize], probs: &[f32], classes: usize) -> MulticlassMetrics {
    let rows = probs
        .len()
        .checked_div(classes)
        .map_or(0, |full_rows| y.len().min(full_rows));
    let y = &y[..rows];
    // probs: (rows, classes)
    let probs = &probs[..rows * classes];
    let predictions: Vec<usize> = probs.chunks_exact(classes.max(1)).map(argmax).collect();

    let mut confusion = vec![vec![0u64; classes]; classes];
    let mut predicted_totals = vec![0u64; classes];
    for (&truth, &predicted) in y.iter().zip(&predictions) {
        predicted_totals[predicted] += 1;
        if truth < classes {
            confusion[truth][predicted] += 1;
        }
    }
    let correct = y.iter().zip(&predictions).filter(|(t, p)| t == p).count();
    let (macro_precision, macro_recall, macro_f1) = macro_averages(&confusion, &predicted_totals);
    MulticlassMetrics {
        accuracy: ratio(correct as f64, rows as f64),
        macro_precision,
        macro_recall,
        macro_f1,
        log_loss: multiclass_log_loss(y, probs, classes),
        confusion,
    }
}

/// Index of the largest value; the first of equal maxima; NaN only if every value is NaN (then 0).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (k, &value) in row.iter().enumerate().skip(1) {
        if value > row[best] || (row[best].is_nan() && !value.is_nan()) {
            best = k;
        }
    }
    best
}

/// Per-class precision, recall and F1 averaged over the classes that occur in the truth or the
/// predictions. `predicted_totals[k]` also counts rows whose label is out of range.
fn macro_averages(confusion: &[Vec<u64>], predicted_totals: &[u64]) -> (f64, f64, f64) {
    let (mut precision, mut recall, mut f1, mut present) = (0.0, 0.0, 0.0, 0usize);
    for (k, row) in confusion.iter().enumerate() {
        let true_total: u64 = row.iter().sum();
        let predicted_total = predicted_totals[k];
        if true_total == 0 && predicted_total == 0 {
            continue;
        }
        let tp = row[k];
        precision += zero_if_undefined(tp as f64, predicted_total as f64);
        recall += zero_if_undefined(tp as f64, true_total as f64);
        f1 += zero_if_undefined(2.0 * tp as f64, (predicted_total + true_total) as f64);
        present += 1;
    }
    let present = present as f64;
    (
        ratio(precision, present),
        ratio(recall, present),
        ratio(f1, present),
    )
}

/// probs: (rows, classes)
fn multiclass_log_loss(y: &[usize], probs: &[f32], classes: usize) -> f64 {
    let total: f64 = y
        .iter()
        .enumerate()
        .map(|(row, &truth)| {
            let p_true = if truth < classes {
                f64::from(probs[row * classes + truth])
            } else {
                0.0
            };
            -clip_probability(p_true).ln()
        })
        .sum();
    ratio(total, y.len() as f64)
}

// ---------------------------------------------------------------------------------------------
// Regression

/// Scores a regressor's predictions against the true targets.
pub fn regression(y: &[f64], pred: &[f64]) -> RegressionMetrics {
    let rows = y.len().min(pred.len());
    let (y, pred) = (&y[..rows], &pred[..rows]);
    let n = rows as f64;
    let residuals = || y.iter().zip(pred).map(|(t, p)| t - p);
    let ss_res: f64 = residuals().map(|r| r * r).sum();
    let mse = ratio(ss_res, n);
    RegressionMetrics {
        mse,
        rmse: mse.sqrt(),
        mae: ratio(residuals().map(f64::abs).sum(), n),
        r2: r_squared(y, ss_res),
    }
}

fn r_squared(y: &[f64], ss_res: f64) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let ss_tot: f64 = y.iter().map(|t| (t - mean) * (t - mean)).sum();
    if ss_tot == 0.0 {
        // scikit-learn's convention for a constant target.
        return if ss_res == 0.0 { 1.0 } else { 0.0 };
    }
    1.0 - ss_res / ss_tot
}

// ---------------------------------------------------------------------------------------------
// Shared arithmetic

/// numerator / denominator, NaN when the denominator is 0 (the metric is undefined).
fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        f64::NAN
    } else {
        numerator / denominator
    }
}

/// numerator / denominator, 0 when the denominator is 0 (scikit-learn's `zero_division=0`).
fn zero_if_undefined(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting

impl Metrics {
    /// The scalar metrics in a fixed order, for tables, CSV columns and fold summaries:
    /// binary: accuracy, precision, recall, f1, roc_auc, log_loss; multiclass: accuracy,
    /// macro_precision, macro_recall, macro_f1, log_loss; regression: mse, rmse, mae, r2.
    pub fn scalars(&self) -> Vec<(&'static str, f64)> {
        match self {
            Metrics::Binary(m) => vec![
                ("accuracy", m.accuracy),
                ("precision", m.precision),
                ("recall", m.recall),
                ("f1", m.f1),
                ("roc_auc", m.roc_auc),
                ("log_loss", m.log_loss),
            ],
            Metrics::Multiclass(m) => vec![
                ("accuracy", m.accuracy),
                ("macro_precision", m.macro_precision),
                ("macro_recall", m.macro_recall),
                ("macro_f1", m.macro_f1),
                ("log_loss", m.log_loss),
            ],
            Metrics::Regression(m) => vec![
                ("mse", m.mse),
                ("rmse", m.rmse),
                ("mae", m.mae),
                ("r2", m.r2),
            ],
        }
    }

    /// The one number a progress bar has room for: accuracy for classifiers, r2 for regressors.
    pub fn headline(&self) -> (&'static str, f64) {
        match self {
            Metrics::Binary(m) => ("accuracy", m.accuracy),
            Metrics::Multiclass(m) => ("accuracy", m.accuracy),
            Metrics::Regression(m) => ("r2", m.r2),
        }
    }

    /// A report for the terminal: the scalars aligned, then for classifiers the confusion matrix
    /// headed by `labels` (class k's name; a missing one shows as k) and for binary the
    /// thresholds. Regressors ignore `labels`.
    pub fn report(&self, labels: &[String]) -> String {
        let mut out = scalar_lines(&self.scalars());
        match self {
            Metrics::Binary(m) => {
                out.push_str(&report_line("threshold", &format_value(m.threshold)));
                let best = format!(
                    "{} (F1 {})",
                    format_value(m.best_f1_threshold),
                    format_value(m.best_f1)
                );
                out.push_str(&report_line("best_f1_threshold", &best));
                let rows: Vec<Vec<u64>> = m.confusion.iter().map(|r| r.to_vec()).collect();
                out.push_str(&confusion_table(&rows, labels));
            }
            Metrics::Multiclass(m) => out.push_str(&confusion_table(&m.confusion, labels)),
            Metrics::Regression(_) => {}
        }
        out
    }
}

/// Wide enough for every name a report shows, the longest being "best_f1_threshold".
const REPORT_NAME_WIDTH: usize = 17;

/// One "name  value" line per scalar, names padded to a common width.
fn scalar_lines(scalars: &[(&'static str, f64)]) -> String {
    scalars
        .iter()
        .map(|(name, value)| report_line(name, &format_value(*value)))
        .collect()
}

fn report_line(name: &str, value: &str) -> String {
    format!("{name:<REPORT_NAME_WIDTH$} {value}\n")
}

/// Four decimals for everyday magnitudes, scientific notation for very large or small ones.
fn format_value(value: f64) -> String {
    let magnitude = value.abs();
    if value.is_finite() && magnitude != 0.0 && !(1e-3..1e6).contains(&magnitude) {
        format!("{value:.4e}")
    } else {
        format!("{value:.4}")
    }
}

fn class_label(labels: &[String], class: usize) -> String {
    labels
        .get(class)
        .cloned()
        .unwrap_or_else(|| class.to_string())
}

/// The confusion matrix as right-aligned columns, true classes down, predictions across.
fn confusion_table(confusion: &[Vec<u64>], labels: &[String]) -> String {
    let names: Vec<String> = (0..confusion.len())
        .map(|k| class_label(labels, k))
        .collect();
    let row_header = "true \\ predicted";
    let name_width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(row_header.len());
    let cell_width = names
        .iter()
        .map(|n| n.chars().count())
        .chain(confusion.iter().flatten().map(|c| c.to_string().len()))
        .max()
        .unwrap_or(1);

    let mut out = String::from("\nconfusion matrix (rows: true class, columns: predicted)\n");
    let _ = write!(out, "{row_header:<name_width$}");
    for name in &names {
        let _ = write!(out, "  {name:>cell_width$}");
    }
    out.push('\n');
    for (name, row) in names.iter().zip(confusion) {
        let _ = write!(out, "{name:<name_width$}");
        for count in row {
            let _ = write!(out, "  {count:>cell_width$}");
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Cross-validation

/// Mean and sample standard deviation of every scalar across cross-validation folds, in the
/// order of [`Metrics::scalars`]. The folds must all be of one kind and there must be at least
/// one.
pub fn summarize(folds: &[Metrics]) -> Result<Vec<Summary>> {
    let first = folds
        .first()
        .ok_or_else(|| Error::InvalidData("no folds to summarize".into()))?;
    if let Some(odd) = folds
        .iter()
        .position(|fold| std::mem::discriminant(fold) != std::mem::discriminant(first))
    {
        return Err(Error::InvalidData(format!(
            "fold {} holds {} metrics but fold 1 holds {} metrics",
            odd + 1,
            kind_name(&folds[odd]),
            kind_name(first)
        )));
    }
    let per_fold: Vec<Vec<(&'static str, f64)>> = folds.iter().map(Metrics::scalars).collect();
    let summaries = first
        .scalars()
        .iter()
        .enumerate()
        .map(|(index, (name, _))| {
            let values: Vec<f64> = per_fold.iter().map(|fold| fold[index].1).collect();
            let (mean, std) = mean_and_sample_std(&values);
            Summary {
                name: (*name).to_string(),
                mean,
                std,
            }
        })
        .collect();
    Ok(summaries)
}

fn kind_name(metrics: &Metrics) -> &'static str {
    match metrics {
        Metrics::Binary(_) => "binary",
        Metrics::Multiclass(_) => "multiclass",
        Metrics::Regression(_) => "regression",
    }
}

/// values: at least one.
fn mean_and_sample_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (mean, (squares / (n - 1.0)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn roc_auc_matches_sklearn() {
        let m = binary(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8], 0.5);
        assert!(close(m.roc_auc, 0.75), "{}", m.roc_auc);
    }

    #[test]
    fn roc_auc_counts_ties_half() {
        let m = binary(&[0, 1, 0, 1], &[0.5, 0.5, 0.2, 0.9], 0.5);
        assert!(close(m.roc_auc, 0.875), "{}", m.roc_auc);
    }

    #[test]
    fn roc_auc_treats_negative_zero_as_zero() {
        let m = binary(&[0, 1], &[0.0, -0.0], 0.5);
        assert!(close(m.roc_auc, 0.5), "{}", m.roc_auc);
    }

    #[test]
    fn log_loss_matches_hand_computation() {
        let m = binary(&[1, 0], &[0.9, 0.2], 0.5);
        let expected = (-(0.9f32 as f64).ln() - (1.0 - 0.2f32 as f64).ln()) / 2.0;
        assert!(close(m.log_loss, expected));
        assert!((m.log_loss - (-(0.9f64).ln() - (0.8f64).ln()) / 2.0).abs() < 1e-7);
    }

    #[test]
    fn log_loss_clips_certain_mistakes() {
        let m = binary(&[1, 0], &[0.0, 1.0], 0.5);
        // 1 - (1 - 1e-15) is 1.11e-15 in f64, as in scikit-learn.
        let expected = (-(1e-15f64).ln() - (1.0 - (1.0 - 1e-15f64)).ln()) / 2.0;
        assert!(close(m.log_loss, expected), "{}", m.log_loss);
        assert!(m.log_loss.is_finite());
    }

    #[test]
    fn thresholded_metrics_match_sklearn() {
        // y_true=[1,1,1,0,0,0,1,0], y_pred at 0.5 = [1,0,1,1,0,0,1,0]
        let y = [1, 1, 1, 0, 0, 0, 1, 0];
        let p = [0.9, 0.4, 0.7, 0.6, 0.1, 0.3, 0.5, 0.2];
        let m = binary(&y, &p, 0.5);
        assert_eq!(m.confusion, [[3, 1], [1, 3]]);
        assert!(close(m.accuracy, 0.75));
        assert!(close(m.precision, 0.75));
        assert!(close(m.recall, 0.75));
        assert!(close(m.f1, 0.75));
    }

    #[test]
    fn no_predicted_positives_gives_precision_zero() {
        let m = binary(&[1, 0, 1], &[0.1, 0.2, 0.3], 0.5);
        assert_eq!(m.confusion, [[1, 0], [2, 0]]);
        assert_eq!((m.precision, m.recall, m.f1), (0.0, 0.0, 0.0));
    }

    #[test]
    fn best_f1_threshold_sweeps_the_data() {
        // 0.8: TP1 FP0 FN1 -> 2/3; 0.6: TP1 FP1 FN1 -> 1/2; 0.4: TP2 FP1 FN0 -> 4/5;
        // 0.2: TP2 FP2 -> 2/3; 0.1: TP2 FP3 -> 4/7.
        let y = [1, 0, 1, 0, 0];
        let p = [0.8, 0.6, 0.4, 0.2, 0.1];
        let m = binary(&y, &p, 0.5);
        assert!(close(m.best_f1, 0.8), "{}", m.best_f1);
        assert_eq!(m.best_f1_threshold, 0.4f32 as f64);
        let again = binary(&y, &p, m.best_f1_threshold);
        assert!(close(again.f1, m.best_f1));
    }

    #[test]
    fn best_f1_threshold_ties_go_to_the_largest() {
        // 0.9: TP1 FP0 FN1 -> 2/3; 0.8: TP1 FP1 FN1 -> 1/2; 0.7: TP1 FP2 FN1 -> 2/5;
        // 0.6: TP2 FP2 FN0 -> 2/3, which ties with 0.9: the larger threshold is kept.
        let y = [1, 0, 0, 1];
        let p = [0.9, 0.8, 0.7, 0.6];
        let m = binary(&y, &p, 0.5);
        assert!(close(m.best_f1, 2.0 / 3.0));
        assert_eq!(m.best_f1_threshold, 0.9f32 as f64);

        let m = binary(&[1, 1], &[0.7, 0.7], 0.5);
        assert_eq!((m.best_f1_threshold, m.best_f1), (0.7f32 as f64, 1.0));
        // All negatives: F1 is 0 everywhere, so the largest p is kept.
        let m = binary(&[0, 0], &[0.2, 0.6], 0.5);
        assert_eq!((m.best_f1_threshold, m.best_f1), (0.6f32 as f64, 0.0));
    }

    #[test]
    fn degenerate_binary_inputs_do_not_panic() {
        let empty = binary(&[], &[], 0.5);
        assert!(empty.accuracy.is_nan() && empty.roc_auc.is_nan() && empty.log_loss.is_nan());
        assert!(empty.best_f1_threshold.is_nan());
        assert_eq!((empty.precision, empty.recall, empty.f1), (0.0, 0.0, 0.0));

        let single = binary(&[1], &[0.7], 0.5);
        assert_eq!(single.accuracy, 1.0);
        assert!(single.roc_auc.is_nan());

        let one_class = binary(&[0, 0, 0], &[0.1, 0.9, 0.2], 0.5);
        assert!(one_class.roc_auc.is_nan());
        assert!(close(one_class.accuracy, 2.0 / 3.0));

        let with_nan = binary(&[1, 0, 1, 0], &[f32::NAN, 0.2, 0.8, f32::NAN], 0.5);
        assert_eq!(with_nan.confusion, [[2, 0], [1, 1]]);
        assert!(with_nan.log_loss.is_nan());
        assert!(!with_nan.roc_auc.is_nan());
        assert_eq!(with_nan.best_f1_threshold, 0.8f32 as f64);

        let mismatched = binary(&[1, 0, 1], &[0.9], 0.5);
        assert_eq!(mismatched.confusion, [[0, 0], [0, 1]]);
    }

    #[test]
    fn multiclass_macro_averages_by_hand() {
        // y    = [0, 0, 1, 1, 2, 2]
        // pred = [0, 1, 1, 1, 0, 2]
        // class 0: TP1 predicted2 true2 -> P 1/2 R 1/2 F1 1/2
        // class 1: TP2 predicted3 true2 -> P 2/3 R 1   F1 4/5
        // class 2: TP1 predicted1 true2 -> P 1   R 1/2 F1 2/3
        let y = [0, 0, 1, 1, 2, 2];
        let probs = [
            0.7, 0.2, 0.1, //
            0.3, 0.6, 0.1, //
            0.1, 0.8, 0.1, //
            0.2, 0.5, 0.3, //
            0.5, 0.1, 0.4, //
            0.1, 0.1, 0.8, //
        ];
        let m = multiclass(&y, &probs, 3);
        assert_eq!(
            m.confusion,
            vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]
        );
        assert!(close(m.accuracy, 4.0 / 6.0));
        assert!(close(m.macro_precision, (0.5 + 2.0 / 3.0 + 1.0) / 3.0));
        assert!(close(m.macro_recall, (0.5 + 1.0 + 0.5) / 3.0));
        assert!(close(m.macro_f1, (0.5 + 0.8 + 2.0 / 3.0) / 3.0));
        let expected_loss = [0.7f32, 0.3, 0.8, 0.5, 0.4, 0.8]
            .iter()
            .map(|&p| -f64::from(p).ln())
            .sum::<f64>()
            / 6.0;
        assert!(close(m.log_loss, expected_loss));
    }

    #[test]
    fn multiclass_never_predicted_class_and_absent_class() {
        // Class 1 occurs but is never predicted (precision 0); class 2 occurs nowhere and is
        // left out of the averages, as scikit-learn does without `labels`.
        let y = [0, 1];
        let probs = [0.9, 0.05, 0.05, 0.6, 0.3, 0.1];
        let m = multiclass(&y, &probs, 3);
        assert!(close(m.macro_precision, (0.5 + 0.0) / 2.0));
        assert!(close(m.macro_recall, (1.0 + 0.0) / 2.0));
        assert!(close(m.macro_f1, (2.0 / 3.0 + 0.0) / 2.0));
    }

    #[test]
    fn argmax_takes_the_first_maximum_and_skips_nan() {
        assert_eq!(argmax(&[0.4, 0.4, 0.2]), 0);
        assert_eq!(argmax(&[f32::NAN, 0.1, 0.3]), 2);
        assert_eq!(argmax(&[0.2, f32::NAN, 0.1]), 0);
        assert_eq!(argmax(&[f32::NAN, f32::NAN]), 0);
    }

    #[test]
    fn degenerate_multiclass_inputs_do_not_panic() {
        let empty = multiclass(&[], &[], 3);
        assert!(empty.accuracy.is_nan() && empty.macro_f1.is_nan() && empty.log_loss.is_nan());
        let no_classes = multiclass(&[0], &[0.5], 0);
        assert!(no_classes.accuracy.is_nan());
        let out_of_range = multiclass(&[5], &[0.5, 0.5], 2);
        assert_eq!(out_of_range.accuracy, 0.0);
        assert!(close(out_of_range.log_loss, -(1e-15f64).ln()));
        assert_eq!(out_of_range.macro_precision, 0.0);
    }

    #[test]
    fn regression_matches_sklearn() {
        // sklearn: r2_score([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]) == 0.9486081370449679
        let m = regression(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0]);
        assert!(close(m.r2, 0.9486081370449679), "{}", m.r2);
        assert!(close(m.mse, 0.375));
        assert!(close(m.rmse, 0.375f64.sqrt()));
        assert!(close(m.mae, 0.5));
    }

    #[test]
    fn regression_constant_target_follows_sklearn() {
        assert_eq!(regression(&[2.0, 2.0], &[2.0, 2.0]).r2, 1.0);
        assert_eq!(regression(&[2.0, 2.0], &[2.0, 3.0]).r2, 0.0);
        assert_eq!(regression(&[4.0], &[1.0]).r2, 0.0);
        let empty = regression(&[], &[]);
        assert!(empty.mse.is_nan() && empty.r2.is_nan());
    }

    #[test]
    fn summarize_gives_mean_and_sample_std() {
        let folds = [
            Metrics::Regression(regression(&[1.0, 2.0], &[1.0, 2.0])),
            Metrics::Regression(regression(&[1.0, 2.0], &[2.0, 3.0])),
        ];
        let summary = summarize(&folds).unwrap();
        let names: Vec<&str> = summary.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["mse", "rmse", "mae", "r2"]);
        // mse per fold: 0 and 1 -> mean 0.5, sample std sqrt(0.5).
        assert!(close(summary[0].mean, 0.5));
        assert!(close(summary[0].std, 0.5f64.sqrt()));

        let one = summarize(&folds[..1]).unwrap();
        assert_eq!(one[0].std, 0.0);
    }

    #[test]
    fn summarize_rejects_empty_and_mixed_folds() {
        assert!(matches!(summarize(&[]), Err(Error::InvalidData(_))));
        let mixed = [
            Metrics::Regression(regression(&[1.0], &[1.0])),
            Metrics::Binary(binary(&[1], &[0.9], 0.5)),
        ];
        assert!(matches!(summarize(&mixed), Err(Error::InvalidData(_))));
    }

    #[test]
    fn untagged_json_shows_only_the_fields() {
        let metrics = Metrics::Regression(regression(&[1.0, 2.0], &[1.0, 2.0]));
        let json = serde_json::to_string(&metrics).unwrap();
        assert!(json.starts_with("{\"mse\":"), "{json}");
        let back: Metrics = serde_json::from_str(&json).unwrap();
        assert_eq!(back, metrics);
    }

    #[test]
    fn headline_and_report() {
        let binary_metrics = Metrics::Binary(binary(&[0, 1, 1], &[0.2, 0.7, 0.4], 0.5));
        assert_eq!(binary_metrics.headline().0, "accuracy");
        let labels = vec!["cat".to_string(), "dog".to_string()];
        let report = binary_metrics.report(&labels);
        assert!(report.contains("roc_auc"), "{report}");
        assert!(report.contains("best_f1_threshold"), "{report}");
        assert!(report.contains("cat") && report.contains("dog"), "{report}");

        let multi = Metrics::Multiclass(multiclass(&[0, 2], &[0.9, 0.1, 0.0, 0.1, 0.1, 0.8], 3));
        let report = multi.report(&[]);
        assert!(report.contains("macro_f1"), "{report}");
        assert!(report.contains("true \\ predicted"), "{report}");

        let regression_metrics = Metrics::Regression(regression(&[1.0, 2.0], &[1.0, 2.5]));
        assert_eq!(regression_metrics.headline(), ("r2", 0.5));
        assert!(!regression_metrics.report(&[]).contains("confusion"));
    }
}
