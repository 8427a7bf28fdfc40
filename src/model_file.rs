//! The model file: one `.safetensors` file holding the weights as tensors and, in its
//! metadata, everything `predict` needs to go from raw CSV rows to answers (architecture,
//! preprocessing, labels) plus how the model was trained and how well it did.
//!
//! The file is untrusted input when loaded: its header is bounds-checked by the safetensors
//! crate, every tensor is checked against the architecture, and a checksum over the metadata
//! and the weights catches any flipped byte.
//!
//! ```no_run
//! use gpumlp::model_file::SavedModel;
//!
//! # fn main() -> gpumlp::Result<()> {
//! let model = SavedModel::load("breast_cancer.safetensors".as_ref())?; // checked field by field
//! println!("{} → {:?}", model.meta.spec.describe(), model.meta.classes);
//! model.save("copy.safetensors".as_ref())?; // atomically
//! # Ok(())
//! # }
//! ```

use crate::data::prep::{Preprocessor, TargetScale, Task};
use crate::error::{num, Error, Result};
use crate::files::{fnv1a, open_safetensors, write_atomically};
use crate::metrics::Metrics;
use crate::model::{Loss, Mlp, MlpSpec};
use crate::optim::OptimizerConfig;
use crate::train::schedule::Schedule;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Written into every model file; a file without it is not ours.
const FORMAT: &str = "gpumlp";
/// Bumped whenever the metadata changes incompatibly.
const VERSION: u32 = 1;
/// Metadata keys.
const META_KEY: &str = "gpumlp";
const CHECKSUM_KEY: &str = "gpumlp.checksum";

/// How the model was trained, kept for the record and for `eval` reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Optimiser and its settings.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Epochs asked for and epochs run.
    pub epochs: usize,
    /// Epochs actually run (fewer when early stopping ended the run).
    pub epochs_run: usize,
    /// The epoch whose weights were kept, when early stopping chose one.
    pub best_epoch: Option<usize>,
    /// Rows per step.
    pub batch_size: usize,
    /// Shuffle and initialisation seed.
    pub seed: u64,
    /// Fraction of rows held out for validation.
    pub val_fraction: f64,
    /// Class weights, when `--class-weight balanced` was asked for.
    pub class_weights: Option<Vec<f32>>,
    /// Training rows and validation rows.
    pub train_rows: usize,
    /// Validation rows (0 without validation).
    pub val_rows: usize,
    /// The adapter (or "cpu") that trained it.
    pub adapter: String,
    /// Seconds of the training loop.
    pub train_seconds: f64,
    /// Mean training loss of the last epoch run.
    pub final_train_loss: f32,
    /// The run's name (see `job::Job::run_id`), so a resumed run knows its own model file.
    #[serde(default)]
    pub run_id: Option<String>,
    /// Every setting of the run as it was resolved (flags over a config file over the
    /// defaults), so `gpumlp info` shows how the model was made and it can be made again.
    #[serde(default)]
    pub options: Option<crate::options::TrainOptions>,
    /// The FNV-1a checksum (16 hex digits) of the data file trained on, when it came from
    /// one: `eval` on that file says its metrics include the rows the model learned from.
    #[serde(default)]
    pub data_checksum: Option<String>,
    /// How `gpumlp search` chose these settings, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchRecord>,
}

/// What a search measured of the settings it chose: their cross-validation and the
/// candidates they won over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchRecord {
    /// The metric ranked by.
    pub metric: String,
    /// Its mean over the folds, and their sample standard deviation.
    pub mean: f64,
    /// See `mean`.
    pub std: f64,
    /// Its value on each fold's held-out rows.
    pub folds: Vec<f64>,
    /// Candidates scored.
    pub candidates: usize,
    /// The settings the search varied, as this candidate set them (flag, value).
    pub chosen: Vec<(String, String)>,
}

/// Everything in a model file besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Always "gpumlp".
    pub format: String,
    /// Metadata version.
    pub version: u32,
    /// The network's architecture.
    pub spec: MlpSpec,
    /// What the network predicts.
    pub task: Task,
    /// The target column's name.
    pub target: String,
    /// Class labels in output order (empty for regression).
    pub classes: Vec<String>,
    /// Turns regression outputs back into the target's units.
    pub target_scale: Option<TargetScale>,
    /// Binary classification: predicted positive iff P(positive) ≥ this.
    pub threshold: f64,
    /// The columns and how each becomes network inputs.
    pub preprocessor: Preprocessor,
    /// How it was trained.
    pub training: TrainingRecord,
    /// Metrics on the validation rows (or the training rows without validation).
    pub metrics: Option<Metrics>,
}

impl ModelMeta {
    /// Metadata for a freshly trained model.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spec: MlpSpec,
        task: Task,
        target: String,
        classes: Vec<String>,
        target_scale: Option<TargetScale>,
        preprocessor: Preprocessor,
        training: TrainingRecord,
        metrics: Option<Metrics>,
    ) -> ModelMeta {
        ModelMeta {
            format: FORMAT.into(),
            version: VERSION,
            spec,
            task,
            target,
            classes,
            target_scale,
            threshold: 0.5,
            preprocessor,
            training,
            metrics,
        }
    }
}

/// Most class labels a model file may list.
pub const MAX_CLASSES: usize = 1 << 16;

impl ModelMeta {
    /// Checks that the metadata hangs together before anything is sized from it: the network
    /// within gpumlp's caps, the task against the loss, the outputs and the classes, the
    /// preprocessing against the inputs, finite statistics, non-zero standard deviations, a
    /// finite threshold and target scale. `path` names the file in the error.
    pub fn validate(&self, path: &str) -> Result<()> {
        let bad = |field: &str, message: String| Error::FileField {
            path: path.to_string(),
            kind: "model",
            field: field.to_string(),
            message,
        };
        let spec = &self.spec;
        spec.validate().map_err(|e| bad("spec", e.to_string()))?;
        let (outputs, classes) = (spec.outputs, self.classes.len());
        if classes > MAX_CLASSES {
            return Err(bad(
                "classes",
                format!("{classes} classes; at most {MAX_CLASSES}"),
            ));
        }
        let (want_loss, want_outputs, want_classes) = match self.task {
            Task::Binary => (Loss::Bce, 1, 2),
            Task::Multiclass => (Loss::SoftmaxCe, classes, classes),
            Task::Regression => (Loss::Mse, 1, 0),
        };
        let task = self.task.to_string();
        if spec.loss != want_loss {
            return Err(bad(
                "spec.loss",
                format!(
                    "{} for a {task} task, which needs {}",
                    spec.loss.name(),
                    want_loss.name()
                ),
            ));
        }
        if classes != want_classes || (self.task == Task::Multiclass && classes < 2) {
            return Err(bad(
                "classes",
                format!("{classes} classes for a {task} task over {outputs} outputs"),
            ));
        }
        if outputs != want_outputs {
            return Err(bad(
                "spec.outputs",
                format!("{outputs} outputs for a {task} task with {classes} classes"),
            ));
        }
        match (&self.target_scale, self.task) {
            (None, Task::Regression) => {
                return Err(bad("target_scale", "missing for a regression task".into()))
            }
            (Some(_), Task::Binary | Task::Multiclass) => {
                return Err(bad("target_scale", format!("set for a {task} task")))
            }
            (Some(s), _) if !(s.mean.is_finite() && s.std.is_finite() && s.std > 0.0) => {
                return Err(bad(
                    "target_scale",
                    format!(
                        "mean {} and standard deviation {}: both must be finite, the \
                         deviation above 0",
                        num(s.mean),
                        num(s.std)
                    ),
                ))
            }
            _ => {}
        }
        if !(self.threshold.is_finite() && (0.0..=1.0).contains(&self.threshold)) {
            return Err(bad(
                "threshold",
                format!("{}; it must lie in [0, 1]", num(self.threshold)),
            ));
        }
        let width = self
            .preprocessor
            .validate()
            .map_err(|(field, message)| bad(&field, message))?;
        if width != spec.inputs {
            return Err(bad(
                "preprocessor",
                format!("makes {width} inputs but the network takes {}", spec.inputs),
            ));
        }
        Ok(())
    }
}

/// A trained network with its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedModel {
    /// The network and its weights.
    pub mlp: Mlp,
    /// Everything else.
    pub meta: ModelMeta,
}

fn weight_name(l: usize) -> String {
    format!("layers.{l}.weight")
}

fn bias_name(l: usize) -> String {
    format!("layers.{l}.bias")
}

/// The tensors in file order with their shapes and little-endian bytes.
fn tensors(mlp: &Mlp) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut out = Vec::new();
    for (l, layer) in mlp.layers().iter().enumerate() {
        out.push((
            weight_name(l),
            vec![layer.inputs, layer.outputs],
            bytes(mlp.weights(l)),
        ));
        out.push((bias_name(l), vec![layer.outputs], bytes(mlp.bias(l))));
    }
    out
}

fn checksum(meta_json: &str, tensors: &[(String, Vec<usize>, Vec<u8>)]) -> String {
    let mut parts: Vec<&[u8]> = vec![meta_json.as_bytes()];
    parts.extend(tensors.iter().map(|(_, _, b)| b.as_slice()));
    format!("{:016x}", fnv1a(&parts))
}

impl SavedModel {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta_json = serde_json::to_string(&self.meta)
            .map_err(|e| Error::InvalidModel(format!("cannot encode the metadata: {e}")))?;
        let tensors = tensors(&self.mlp);
        let mut info = HashMap::new();
        info.insert(CHECKSUM_KEY.to_string(), checksum(&meta_json, &tensors));
        info.insert(META_KEY.to_string(), meta_json);
        let views = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes).map(|v| (name.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidModel(format!("cannot lay out the weights: {e}")))?;
        safetensors::serialize(views, Some(info))
            .map_err(|e| Error::InvalidModel(format!("cannot encode the weights: {e}")))
    }

    /// Writes the model to `path` atomically: a temporary file in the same folder, flushed
    /// to disk, then renamed over `path`. A crash leaves either the old file or the new one.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomically(path, &self.to_bytes()?)
    }

    /// Reads and checks a model file.
    pub fn load(path: &Path) -> Result<SavedModel> {
        let name = path.display().to_string();
        let kind = crate::files::Kind {
            name: "model",
            max_bytes: crate::files::MAX_MODEL_BYTES,
        };
        let bytes = crate::files::read_bounded(path, kind)?;
        SavedModel::from_bytes(&name, &bytes)
    }

    /// Parses and checks a model file's bytes; `name` is used in messages.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<SavedModel> {
        let bad = |message: String| Error::ModelFile {
            path: name.to_string(),
            message,
        };
        let (file, info) = open_safetensors(bytes, &bad)?;
        let meta_json = info
            .get(META_KEY)
            .ok_or_else(|| bad("a safetensors file, but without gpumlp's metadata".into()))?;
        let meta: ModelMeta = serde_json::from_str(meta_json)
            .map_err(|e| bad(format!("its metadata does not parse ({e})")))?;
        if meta.format != FORMAT || meta.version != VERSION {
            return Err(bad(format!(
                "format {:?} version {}; this gpumlp reads {FORMAT:?} version {VERSION}",
                meta.format, meta.version
            )));
        }
        meta.validate(name)?;
        // Every tensor the architecture implies must be in the file with its shape before
        // anything is sized from the metadata: a hostile header cannot make us allocate more
        // than the file holds.
        let spec = &meta.spec;
        let layers = spec.hidden.len() + 1;
        if file.len() != 2 * layers {
            return Err(bad(format!(
                "{} tensors for a network of {layers} layers",
                file.len()
            )));
        }
        let widths = std::iter::once(spec.inputs)
            .chain(spec.hidden.iter().map(|&(w, _)| w))
            .chain(std::iter::once(spec.outputs))
            .collect::<Vec<_>>();
        for l in 0..layers {
            for (tensor, shape) in [
                (weight_name(l), vec![widths[l], widths[l + 1]]),
                (bias_name(l), vec![widths[l + 1]]),
            ] {
                let view = file
                    .tensor(&tensor)
                    .map_err(|_| bad(format!("tensor {tensor} is missing")))?;
                if view.dtype() != Dtype::F32 || view.shape() != shape.as_slice() {
                    return Err(bad(format!(
                        "tensor {tensor} is {:?} {:?}; the architecture needs F32 {shape:?}",
                        view.dtype(),
                        view.shape()
                    )));
                }
            }
        }
        let mut mlp = Mlp::new(&meta.spec, 0).map_err(|e| bad(e.to_string()))?;
        let mut params = mlp.params().to_vec();
        for (l, layer) in mlp.layers().iter().enumerate() {
            for (tensor, range) in [
                (weight_name(l), layer.weights.clone()),
                (bias_name(l), layer.bias.clone()),
            ] {
                let view = file
                    .tensor(&tensor)
                    .map_err(|_| bad(format!("tensor {tensor} is missing")))?;
                for (dst, chunk) in params[range].iter_mut().zip(view.data().chunks_exact(4)) {
                    *dst = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                }
            }
        }
        mlp.set_params(params).map_err(|e| bad(e.to_string()))?;
        let stored = info.get(CHECKSUM_KEY);
        let actual = checksum(meta_json, &tensors(&mlp));
        if stored != Some(&actual) {
            return Err(bad(
                "its checksum does not match: the file was changed or damaged".into(),
            ));
        }
        if let Some(i) = mlp.params().iter().position(|v| !v.is_finite()) {
            let (l, what) = mlp
                .layers()
                .iter()
                .enumerate()
                .find_map(|(l, layer)| {
                    (layer.weights.contains(&i).then_some((l, "weight")))
                        .or(layer.bias.contains(&i).then_some((l, "bias")))
                })
                .unwrap_or((0, "weight"));
            return Err(Error::FileField {
                path: name.to_string(),
                kind: "model",
                field: format!("layers.{l}.{what}"),
                message: format!("holds {}; every weight must be finite", mlp.params()[i]),
            });
        }
        Ok(SavedModel { mlp, meta })
    }
}

impl SavedModel {
    /// What `gpumlp info MODEL` prints: the architecture, the task, the preprocessing, how the
    /// model was trained and how well it did.
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let meta = &self.meta;
        let spec = &meta.spec;
        let mut out = String::new();
        let acts: Vec<String> = spec
            .hidden
            .iter()
            .map(|(w, a)| format!("{w} {a}"))
            .collect();
        let _ = writeln!(
            out,
            "network     {} ({} parameters): {} inputs, hidden [{}], {} outputs trained with {}",
            spec.describe(),
            self.mlp.num_params(),
            spec.inputs,
            acts.join(", "),
            spec.outputs,
            spec.loss.name()
        );
        let _ = write!(out, "task        {} on {:?}", meta.task, meta.target);
        if !meta.classes.is_empty() {
            let _ = write!(out, ", classes {}", meta.classes.join(", "));
        }
        if meta.task == Task::Binary {
            let _ = write!(out, ", threshold {}", meta.threshold);
        }
        if let Some(scale) = &meta.target_scale {
            let _ = write!(
                out,
                ", target mean {} and std {}",
                num(scale.mean),
                num(scale.std)
            );
        }
        out.push('\n');
        let _ = writeln!(
            out,
            "columns     {} ({} inputs):",
            meta.preprocessor.columns.len(),
            spec.inputs
        );
        for column in &meta.preprocessor.columns {
            let _ = match &column.kind {
                crate::data::prep::ColumnKind::Numeric { fill, mean, std } => writeln!(
                    out,
                    "  {:<24} numeric: (x − {}) / {}, missing → {}",
                    column.name,
                    num(*mean),
                    num(*std),
                    num(*fill)
                ),
                crate::data::prep::ColumnKind::Categorical { categories, fill } => writeln!(
                    out,
                    "  {:<24} text: one-hot of {} categories ({}), missing → {fill:?}",
                    column.name,
                    categories.len(),
                    categories
                        .iter()
                        .take(6)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                        + if categories.len() > 6 { ", ..." } else { "" }
                ),
            };
        }
        if !meta.preprocessor.skipped.is_empty() {
            let _ = writeln!(out, "skipped     {}", meta.preprocessor.skipped.join(", "));
        }
        let t = &meta.training;
        let _ = writeln!(
            out,
            "training    {} of {} epochs{}, batch {}, {} lr {} ({:?}), seed {}, {} training and {} \
             validation rows, {:.2} s on {}",
            t.epochs_run,
            t.epochs,
            t.best_epoch.map(|b| format!(" (kept epoch {b})")).unwrap_or_default(),
            t.batch_size,
            t.optimizer.kind,
            t.optimizer.lr,
            t.schedule,
            t.seed,
            t.train_rows,
            t.val_rows,
            t.train_seconds,
            t.adapter
        );
        if let Some(r) = &t.search {
            let chosen: Vec<String> = r.chosen.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(
                out,
                "search      best of {} candidates by {}-fold cv: {} {:.4} ± {:.4} ({})",
                r.candidates,
                r.folds.len(),
                r.metric,
                r.mean,
                r.std,
                chosen.join(", ")
            );
        }
        if let Some(options) = &t.options {
            let _ = writeln!(
                out,
                "\nconfiguration (as a --config file; `data` is not recorded):"
            );
            for line in crate::options::Settings::of(options).to_toml().lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        if let Some(metrics) = &meta.metrics {
            let _ = writeln!(
                out,
                "\nmetrics on the validation rows:\n{}",
                metrics.report(&meta.classes)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::prep::{label, MissingPolicy};
    use crate::data::table::Table;
    use crate::model::Activation;

    fn saved() -> SavedModel {
        let csv = "a,colour,y\n1,red,0\n2,blue,1\n3,red,0\n4,blue,1\n";
        let table = Table::from_reader("t.csv", csv.as_bytes()).unwrap();
        let labelled = label(&table, "y", None, MissingPolicy::Impute).unwrap();
        let prep = Preprocessor::fit(&table, &labelled, &[0, 1, 2, 3]).unwrap();
        let spec = MlpSpec::new(prep.width()).hidden(5, Activation::Tanh);
        let mlp = Mlp::new(&spec, 3).unwrap();
        let training = TrainingRecord {
            optimizer: OptimizerConfig::default(),
            schedule: Schedule::Constant,
            epochs: 1,
            epochs_run: 1,
            best_epoch: None,
            batch_size: 4,
            seed: 0,
            val_fraction: 0.0,
            class_weights: None,
            train_rows: 4,
            val_rows: 0,
            adapter: "test".into(),
            train_seconds: 0.0,
            final_train_loss: 0.5,
            run_id: None,
            data_checksum: None,
            search: None,
            options: None,
        };
        let meta = ModelMeta::new(
            spec,
            Task::Binary,
            "y".into(),
            vec!["0".into(), "1".into()],
            None,
            prep,
            training,
            None,
        );
        SavedModel { mlp, meta }
    }

    #[test]
    fn round_trip_is_bit_identical() {
        let model = saved();
        let bytes = model.to_bytes().unwrap();
        let back = SavedModel::from_bytes("m", &bytes).unwrap();
        let bits = |m: &Mlp| m.params().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back.mlp), bits(&model.mlp));
        assert_eq!(back.meta, model.meta);
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_an_error() {
        let bytes = saved().to_bytes().unwrap();
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x04;
            assert!(
                SavedModel::from_bytes("m", &damaged).is_err(),
                "flipping byte {i} of {} went unnoticed",
                bytes.len()
            );
        }
        for len in 0..bytes.len() {
            assert!(SavedModel::from_bytes("m", &bytes[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn an_absurd_header_size_is_refused_without_allocating_it() {
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        let e = SavedModel::from_bytes("huge", &bytes)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("huge") && e.contains("not a safetensors file"),
            "{e}"
        );
    }
}
