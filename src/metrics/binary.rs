//! Binary classification: accuracy, precision, recall, F1, ROC AUC, log loss, confusion and
//! the threshold that maximises F1.

use super::{clip_probability, ratio, zero_if_undefined, BinaryMetrics};
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
