//! Multiclass classification: accuracy, macro precision, recall and F1, log loss, confusion.

use super::{clip_probability, ratio, zero_if_undefined, MulticlassMetrics};
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
pub(super) fn argmax(row: &[f32]) -> usize {
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
