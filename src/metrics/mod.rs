//! Evaluation metrics with scikit-learn's definitions, so numbers from `gpumlp eval` can be
//! checked against a Python notebook without surprises.
//!
//! Nothing here panics: empty input, one class, NaN probabilities and zero denominators all give
//! a number (NaN where the metric is undefined, 0 where scikit-learn's `zero_division=0` says so).
//! When `y` and the predictions differ in length, the rows past the shorter one are ignored.

use serde::{Deserialize, Serialize};

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

mod binary;
pub mod curves;
mod multiclass;
mod regression;
pub mod report;
pub use report::{BINARY, MULTICLASS, REGRESSION};
mod summary;

pub use binary::binary;
pub use multiclass::multiclass;
pub use regression::regression;
pub use summary::summarize;

pub(crate) fn clip_probability(p: f64) -> f64 {
    p.clamp(PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
}

/// numerator / denominator, NaN when the denominator is 0 (the metric is undefined).
pub(crate) fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        f64::NAN
    } else {
        numerator / denominator
    }
}

/// numerator / denominator, 0 when the denominator is 0 (scikit-learn's `zero_division=0`).
pub(crate) fn zero_if_undefined(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}

#[cfg(test)]
mod tests {
    use super::multiclass::argmax;
    use super::*;
    use crate::error::Error;

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
