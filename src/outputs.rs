//! What a run and an evaluation leave for people to look at: the training curves, one CSV row
//! per epoch, and the evaluation figure. Each is written atomically, as `.svg` or `.png` for
//! pictures.

use crate::data::prep::{TargetScale, Task};
use crate::data::table::Table;
use crate::error::{Error, Result};
use crate::model_file::SavedModel;
use crate::plot::{self, Evaluation, Series};
use crate::train::monitor::metric_names;
use crate::workflow::{Evaluated, Trained};
use std::path::Path;

/// `data.csv: target (task)`, the heading of a run's pictures.
fn heading(data: &str, model: &SavedModel) -> String {
    let file = Path::new(data).file_name().unwrap_or_default();
    let meta = &model.meta;
    format!(
        "{}: {} ({})",
        file.to_string_lossy(),
        meta.target,
        meta.task
    )
}

impl Trained {
    /// Draws the training (and validation) losses to `plot` (`.svg` or `.png`), marking the
    /// epoch whose weights were kept, the file tagged as run `run_id`'s; `data` names the
    /// data file in the heading.
    pub fn draw_curves(&self, data: &str, plot: &Path, run_id: &str) -> Result<()> {
        let report = &self.report;
        let mut series = vec![Series {
            name: "training loss",
            values: &report.epoch_losses,
        }];
        if !report.val_losses.is_empty() {
            series.push(Series {
                name: "validation loss",
                values: &report.val_losses,
            });
        }
        let marker = report.best_epoch.map(|e| (e, "best epoch"));
        let title = heading(data, &self.model);
        plot::write_chart(plot, &title, "loss", &series, marker, Some(run_id))
    }

    /// One CSV row per epoch: `epoch, train_loss, val_loss, lr, seconds` and the validation
    /// metrics as `val_<name>` (regression errors in the target's units); without validation
    /// rows, the columns that need them are left out. Undefined metrics read `NaN`.
    pub fn epochs_csv(&self) -> Result<Vec<u8>> {
        let report = &self.report;
        let meta = &self.model.meta;
        let names = metric_names(meta.spec.loss);
        let validated = !report.val_losses.is_empty();
        let mut header = vec!["epoch".to_string(), "train_loss".into()];
        if validated {
            header.push("val_loss".into());
        }
        header.extend(["lr".into(), "seconds".into()]);
        if validated {
            header.extend(names.iter().map(|n| format!("val_{n}")));
        }
        let std = meta.target_scale.map_or(1.0, |s: TargetScale| s.std);
        // Regression metrics are recorded in the standardised units the network learns in.
        let unit = |name: &str| match (meta.task, name) {
            (Task::Regression, "mse") => std * std,
            (Task::Regression, "rmse" | "mae") => std,
            _ => 1.0,
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        let to_err = |e: csv::Error| Error::InvalidData(format!("cannot write CSV: {e}"));
        w.write_record(&header).map_err(to_err)?;
        for (i, loss) in report.epoch_losses.iter().enumerate() {
            let mut row = vec![(i + 1).to_string(), loss.to_string()];
            if validated {
                row.push(
                    report
                        .val_losses
                        .get(i)
                        .map(f32::to_string)
                        .unwrap_or_default(),
                );
            }
            row.push(report.lrs.get(i).map(f32::to_string).unwrap_or_default());
            row.push(
                report
                    .epoch_seconds
                    .get(i)
                    .map(|s| format!("{s:.4}"))
                    .unwrap_or_default(),
            );
            if validated {
                let values = report.val_metrics.get(i).map(Vec::as_slice).unwrap_or(&[]);
                for (n, name) in names.iter().enumerate() {
                    let v = values.get(n).map_or(f64::NAN, |v| v * unit(name));
                    row.push(v.to_string());
                }
            }
            w.write_record(&row).map_err(to_err)?;
        }
        w.into_inner()
            .map_err(|e| Error::InvalidData(format!("cannot write CSV: {e}")))
    }

    /// Writes [`Trained::epochs_csv`] to `path` atomically.
    pub fn save_epochs_csv(&self, path: &Path) -> Result<()> {
        crate::files::write_atomically(path, &self.epochs_csv()?)
    }
}

impl Evaluated {
    /// The evaluation figure of `model` on `table`'s rows as SVG (see
    /// [`plot::evaluation_svg`]).
    pub fn figure(&self, model: &SavedModel, table: &Table) -> String {
        let meta = &model.meta;
        let title = format!(
            "{} ({}) on {} ({} rows)",
            meta.target,
            meta.task,
            Path::new(&table.name)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy(),
            self.truth.len()
        );
        let classes: Vec<usize> = self.truth.iter().map(|&v| v as usize).collect();
        let evaluation = match meta.task {
            Task::Binary => Evaluation::Binary {
                y: &classes,
                p: &self.outputs,
                classes: &meta.classes,
                threshold: meta.threshold,
            },
            Task::Multiclass => {
                let k = meta.classes.len().max(1);
                let predicted: Vec<usize> = self
                    .outputs
                    .chunks(k)
                    .map(|row| (0..row.len()).fold(0, |b, c| if row[c] > row[b] { c } else { b }))
                    .collect();
                let svg = plot::evaluation_svg(
                    &title,
                    &Evaluation::Multiclass {
                        y: &classes,
                        predicted: &predicted,
                        classes: &meta.classes,
                    },
                );
                return svg;
            }
            Task::Regression => {
                let scale = meta.target_scale.unwrap_or(TargetScale {
                    mean: 0.0,
                    std: 1.0,
                });
                let predicted: Vec<f64> = self.outputs.iter().map(|&z| scale.decode(z)).collect();
                return plot::evaluation_svg(
                    &title,
                    &Evaluation::Regression {
                        y: &self.truth,
                        predicted: &predicted,
                    },
                );
            }
        };
        plot::evaluation_svg(&title, &evaluation)
    }

    /// Draws [`Evaluated::figure`] to `path` (`.svg` or `.png`).
    pub fn draw(&self, model: &SavedModel, table: &Table, path: &Path) -> Result<()> {
        plot::save(path, &self.figure(model, table), None)
    }
}
