//! Regression: MSE, RMSE, MAE, R².

use super::{ratio, RegressionMetrics};
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
