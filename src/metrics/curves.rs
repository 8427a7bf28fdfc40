//! The curves behind the binary metrics, as scikit-learn's `roc_curve` and
//! `precision_recall_curve` draw them: one point per distinct score, ties taken together.

/// Counts of positives and negatives scored at or above each distinct score, highest first:
/// `(true positives, false positives)` after each threshold. NaN scores are left out.
fn sweep(y: &[usize], p: &[f32]) -> (Vec<(f64, f64)>, f64, f64) {
    let mut scored: Vec<(f32, bool)> = y
        .iter()
        .zip(p)
        .filter(|(_, p)| !p.is_nan())
        .map(|(&y, &p)| (p, y == 1))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = scored.iter().filter(|s| s.1).count() as f64;
    let negatives = scored.len() as f64 - positives;
    let mut counts = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &(score, positive)) in scored.iter().enumerate() {
        if positive {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        if scored.get(i + 1).is_none_or(|next| next.0 != score) {
            counts.push((tp, fp));
        }
    }
    (counts, positives, negatives)
}

/// The ROC curve as (false positive rate, true positive rate) points from (0, 0) to (1, 1);
/// empty unless both classes occur. Its trapezoid area is the ROC AUC.
pub fn roc_curve(y: &[usize], p: &[f32]) -> Vec<(f64, f64)> {
    let (counts, positives, negatives) = sweep(y, p);
    if positives == 0.0 || negatives == 0.0 {
        return Vec::new();
    }
    std::iter::once((0.0, 0.0))
        .chain(
            counts
                .iter()
                .map(|&(tp, fp)| (fp / negatives, tp / positives)),
        )
        .collect()
}

/// The precision-recall curve as (recall, precision) points, from the highest threshold
/// down; empty without positives.
pub fn pr_curve(y: &[usize], p: &[f32]) -> Vec<(f64, f64)> {
    let (counts, positives, _) = sweep(y, p);
    if positives == 0.0 {
        return Vec::new();
    }
    counts
        .iter()
        .map(|&(tp, fp)| (tp / positives, tp / (tp + fp)))
        .collect()
}

/// Average precision, Σ (Rₙ − Rₙ₋₁) Pₙ over the thresholds (`average_precision_score`);
/// NaN without positives.
pub fn average_precision(y: &[usize], p: &[f32]) -> f64 {
    let curve = pr_curve(y, p);
    if curve.is_empty() {
        return f64::NAN;
    }
    let mut previous = 0.0;
    curve
        .iter()
        .map(|&(recall, precision)| {
            let area = (recall - previous) * precision;
            previous = recall;
            area
        })
        .sum()
}

/// The area under straight lines through `points` (sorted by x).
pub fn trapezoid(points: &[(f64, f64)]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_match_scikit_learn() {
        // sklearn: roc_curve([0,0,1,1], [0.1,0.4,0.35,0.8]) → fpr [0,0,.5,.5,1], tpr
        // [0,.5,.5,1,1] (without its extra (0,0) point for thresholds above the maximum).
        let (y, p) = ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]);
        assert_eq!(
            roc_curve(&y, &p),
            [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
        assert_eq!(trapezoid(&roc_curve(&y, &p)), 0.75);
        assert_eq!(super::super::binary(&y, &p, 0.5).roc_auc, 0.75);
        // average_precision_score → 0.8333...
        assert!((average_precision(&y, &p) - 5.0 / 6.0).abs() < 1e-12);
        // Ties move together: one point for the two 0.5 scores.
        assert_eq!(roc_curve(&[0, 1], &[0.5, 0.5]), [(0.0, 0.0), (1.0, 1.0)]);
        assert!(roc_curve(&[1, 1], &[0.2, 0.3]).is_empty());
        assert!(average_precision(&[0, 0], &[0.2, 0.3]).is_nan());
        assert_eq!(pr_curve(&[1, 0, 0], &[0.9, 0.1, f32::NAN]).len(), 2);
    }
}
