//! What the epoch loop watches after each epoch: the validation rows' metrics, the schedule's
//! loss and early stopping, on the loss or on one metric. Rebuilt on resume by replaying the
//! saved history, so none of it is saved itself.

use crate::error::{Error, Result};
use crate::kernels::loss::reference::output_transform;
use crate::metrics::{self, Metrics};
use crate::model::Loss;
use crate::train::fit::FitReport;
use crate::train::schedule::Scheduler;
use crate::train::TrainConfig;
use serde::{Deserialize, Serialize};

/// What early stopping watches on the validation rows: the loss (lower is better; the training
/// loss without validation rows) or a metric (higher is better).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum StopMetric {
    /// The validation loss.
    #[default]
    Loss,
    /// Accuracy (classifiers).
    Accuracy,
    /// F1 of class 1 (binary), macro F1 (multiclass).
    F1,
    /// Area under the ROC curve (binary).
    #[cfg_attr(feature = "cli", value(name = "roc_auc"))]
    RocAuc,
    /// The coefficient of determination (regression).
    R2,
}

impl StopMetric {
    /// The name the command line and config files use.
    pub fn name(self) -> &'static str {
        match self {
            StopMetric::Loss => "loss",
            StopMetric::Accuracy => "accuracy",
            StopMetric::F1 => "f1",
            StopMetric::RocAuc => "roc_auc",
            StopMetric::R2 => "r2",
        }
    }

    /// Where the metric sits among [`metric_names`]`(loss)`; `None` for the loss. A metric the
    /// task does not have is an error.
    pub fn index(self, loss: Loss) -> Result<Option<usize>> {
        let found = match (self, loss) {
            (StopMetric::Loss, _) => return Ok(None),
            (StopMetric::Accuracy, Loss::Bce | Loss::SoftmaxCe) => 0,
            (StopMetric::F1, Loss::Bce | Loss::SoftmaxCe) => 3,
            (StopMetric::RocAuc, Loss::Bce) => 4,
            (StopMetric::R2, Loss::Mse) => 3,
            (metric, loss) => {
                return Err(Error::InvalidConfig(format!(
                    "early stopping on {} needs a {} model; this one is {} (its metrics: {})",
                    metric.name(),
                    match metric {
                        StopMetric::RocAuc => "binary",
                        StopMetric::R2 => "regression",
                        _ => "classification",
                    },
                    task_of(loss),
                    metric_names(loss).join(", ")
                )))
            }
        };
        Ok(Some(found))
    }
}

impl std::fmt::Display for StopMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn task_of(loss: Loss) -> &'static str {
    match loss {
        Loss::Bce => "binary",
        Loss::SoftmaxCe => "multiclass",
        Loss::Mse => "regression",
    }
}

/// The validation metrics each epoch records, in order (as [`Metrics::scalars`] lists them).
pub fn metric_names(loss: Loss) -> &'static [&'static str] {
    match loss {
        Loss::Bce => &crate::metrics::BINARY,
        Loss::SoftmaxCe => &crate::metrics::MULTICLASS,
        Loss::Mse => &crate::metrics::REGRESSION,
    }
}

/// The metrics of the validation rows after an epoch, from the network's logits, as `eval`
/// computes them at the threshold 0.5 (regression: in the standardised units the network is
/// trained in; R² is the same in any units).
// logits: (rows, outputs), targets: (rows, outputs + 1)
pub fn val_metrics(loss: Loss, logits: &[f32], targets: &[f32], outputs: usize) -> Metrics {
    let mut p = logits.to_vec();
    output_transform(loss, &mut p, outputs);
    let rows = targets.chunks(outputs + 1);
    match loss {
        Loss::Bce => {
            let y: Vec<usize> = rows.map(|t| usize::from(t[0] >= 0.5)).collect();
            Metrics::Binary(metrics::binary(&y, &p, 0.5))
        }
        Loss::SoftmaxCe => {
            let y: Vec<usize> = rows
                .map(|t| (0..outputs).fold(0, |b, c| if t[c] > t[b] { c } else { b }))
                .collect();
            Metrics::Multiclass(metrics::multiclass(&y, &p, outputs))
        }
        Loss::Mse => {
            let y: Vec<f64> = rows.map(|t| f64::from(t[0])).collect();
            let pred: Vec<f64> = p.iter().map(|&v| f64::from(v)).collect();
            Metrics::Regression(metrics::regression(&y, &pred))
        }
    }
}

/// What the loop decides from each epoch: the schedule's next rate (from the loss) and early
/// stopping (on the loss or the chosen metric).
pub(crate) struct Monitor {
    pub(crate) scheduler: Scheduler,
    epochs: usize,
    patience: Option<usize>,
    min_delta: f64,
    /// Where the watched metric sits in an epoch's validation metrics; `None`: the loss.
    metric: Option<usize>,
    /// The best watched value so far, as a loss (a metric is negated).
    best: f64,
    since_best: usize,
}

impl Monitor {
    /// The monitor of a run of `config` on a network trained with `loss`; `validated` says
    /// whether there are validation rows (a metric needs them).
    pub(crate) fn new(config: &TrainConfig, loss: Loss, validated: bool) -> Result<Monitor> {
        let metric = config.early_stopping_metric.index(loss)?;
        if metric.is_some() && !validated {
            return Err(Error::InvalidConfig(format!(
                "early stopping on {} needs validation rows (a validation fraction above 0)",
                config.early_stopping_metric
            )));
        }
        if metric.is_some() && config.patience.is_none() {
            return Err(Error::InvalidConfig(format!(
                "early stopping on {} was asked for, but early stopping is off (patience 0)",
                config.early_stopping_metric
            )));
        }
        Ok(Monitor {
            scheduler: Scheduler::new(config.schedule, config.optimizer.lr, config.epochs),
            epochs: config.epochs,
            patience: config.patience,
            min_delta: f64::from(config.min_delta),
            metric,
            best: f64::INFINITY,
            since_best: 0,
        })
    }

    /// Records epoch `epoch` (from 1): its training loss, and its validation loss and metrics
    /// when there are validation rows. Returns whether it is the best so far.
    pub(crate) fn observe(
        &mut self,
        epoch: usize,
        loss: f32,
        val: Option<(f32, &[f64])>,
        report: &mut FitReport,
    ) -> bool {
        let loss = f64::from(val.map_or(loss, |(l, _)| l));
        self.scheduler.observe(loss);
        let Some(patience) = self.patience else {
            return false;
        };
        let watched = match (self.metric, val) {
            (Some(i), Some((_, metrics))) => -metrics.get(i).copied().unwrap_or(f64::NAN),
            _ => loss,
        };
        if watched < self.best - self.min_delta {
            self.best = watched;
            self.since_best = 0;
            report.best_epoch = Some(epoch);
            true
        } else {
            self.since_best += 1;
            report.stopped_early = self.since_best >= patience && epoch < self.epochs;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(metric: StopMetric, patience: usize) -> TrainConfig {
        TrainConfig {
            epochs: 100,
            patience: Some(patience),
            early_stopping_metric: metric,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn a_metric_is_maximised_and_the_loss_minimised() {
        let mut report = FitReport::default();
        let mut m = Monitor::new(&config(StopMetric::Accuracy, 2), Loss::Bce, true).unwrap();
        let acc = |a: f64| [a, 0.0, 0.0, 0.0, 0.0, 0.0];
        // The loss rises while accuracy improves: accuracy decides.
        assert!(m.observe(1, 0.5, Some((0.5, &acc(0.6))), &mut report));
        assert!(m.observe(2, 0.5, Some((0.9, &acc(0.7))), &mut report));
        assert!(!m.observe(3, 0.5, Some((0.1, &acc(0.7))), &mut report));
        assert!(!report.stopped_early);
        assert!(!m.observe(4, 0.5, Some((0.1, &acc(0.65))), &mut report));
        assert!(report.stopped_early);
        assert_eq!(report.best_epoch, Some(2));

        let mut report = FitReport::default();
        let mut m = Monitor::new(&config(StopMetric::Loss, 1), Loss::Bce, true).unwrap();
        assert!(m.observe(1, 0.5, Some((0.5, &acc(0.9))), &mut report));
        assert!(!m.observe(2, 0.5, Some((0.6, &acc(1.0))), &mut report));
        assert!(report.stopped_early);
    }

    #[test]
    fn a_metric_the_task_lacks_is_refused() {
        let e = |metric, loss, validated| {
            Monitor::new(&config(metric, 3), loss, validated)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(e(StopMetric::RocAuc, Loss::SoftmaxCe, true).contains("needs a binary model"));
        assert!(e(StopMetric::R2, Loss::Bce, true).contains("needs a regression model"));
        assert!(e(StopMetric::Accuracy, Loss::Mse, true).contains("classification"));
        assert!(e(StopMetric::F1, Loss::Bce, false).contains("needs validation rows"));
        assert_eq!(e(StopMetric::R2, Loss::Mse, true), "");
        assert_eq!(e(StopMetric::Loss, Loss::Mse, false), "");
        assert_eq!(StopMetric::F1.index(Loss::SoftmaxCe).unwrap(), Some(3));
        assert_eq!(metric_names(Loss::SoftmaxCe)[3], "macro_f1");
        assert_eq!(metric_names(Loss::Bce)[4], "roc_auc");
    }

    #[test]
    fn val_metrics_agree_with_the_metric_functions() {
        // Two rows: logits 2 (p 0.88, class 1) and -1 (p 0.27, class 0); truths 1 and 1.
        let m = val_metrics(Loss::Bce, &[2.0, -1.0], &[1.0, 1.0, 1.0, 1.0], 1);
        let Metrics::Binary(b) = m else {
            panic!("binary metrics expected")
        };
        assert_eq!(b.accuracy, 0.5);
        assert_eq!(b.recall, 0.5);
        let m = val_metrics(
            Loss::SoftmaxCe,
            &[0.0, 3.0, 0.0, 1.0],
            &[0., 1., 1., 1., 0., 1.],
            2,
        );
        let Metrics::Multiclass(c) = m else {
            panic!("multiclass metrics expected")
        };
        assert_eq!(c.accuracy, 0.5);
        let m = val_metrics(Loss::Mse, &[1.0, 2.0], &[1.0, 1.0, 2.0, 1.0], 1);
        assert_eq!(m.scalars()[3], ("r2", 1.0));
    }
}
