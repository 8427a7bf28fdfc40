//! Metrics as the command line prints them: scalars one per line, the confusion matrix as a
//! table.

use std::fmt::Write as _;

use super::Metrics;

/// The names of a binary classifier's [`Metrics::scalars`], in order.
pub const BINARY: [&str; 6] = [
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
];
/// The names of a multiclass classifier's [`Metrics::scalars`], in order.
pub const MULTICLASS: [&str; 5] = [
    "accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "log_loss",
];
/// The names of a regressor's [`Metrics::scalars`], in order.
pub const REGRESSION: [&str; 4] = ["mse", "rmse", "mae", "r2"];

impl Metrics {
    /// The scalar metrics in a fixed order, for tables, CSV columns and fold summaries:
    /// binary: accuracy, precision, recall, f1, roc_auc, log_loss; multiclass: accuracy,
    /// macro_precision, macro_recall, macro_f1, log_loss; regression: mse, rmse, mae, r2.
    pub fn scalars(&self) -> Vec<(&'static str, f64)> {
        let values = match self {
            Metrics::Binary(m) => vec![
                m.accuracy,
                m.precision,
                m.recall,
                m.f1,
                m.roc_auc,
                m.log_loss,
            ],
            Metrics::Multiclass(m) => vec![
                m.accuracy,
                m.macro_precision,
                m.macro_recall,
                m.macro_f1,
                m.log_loss,
            ],
            Metrics::Regression(m) => vec![m.mse, m.rmse, m.mae, m.r2],
        };
        self.names().iter().copied().zip(values).collect()
    }

    /// The names of [`Metrics::scalars`], in order.
    fn names(&self) -> &'static [&'static str] {
        match self {
            Metrics::Binary(_) => &BINARY,
            Metrics::Multiclass(_) => &MULTICLASS,
            Metrics::Regression(_) => &REGRESSION,
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
