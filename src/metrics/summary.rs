//! Cross-validation: the mean and standard deviation of every metric over the folds.

use crate::error::{Error, Result};

use super::{Metrics, Summary};
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
