//! The checkpoint file: where a training run stands, so that `train --resume` continues it
//! and ends with exactly the weights an uninterrupted run would have.
//!
//! One `.safetensors` file: the weights, Adam's moments, the best weights so far and the
//! epoch history as tensors; the step count, the shuffle stream's position and the caller's
//! description of the job (data, settings) in the metadata, under a checksum. Written
//! atomically, and checked as untrusted input when read, like the model file.

use crate::error::{Error, Result};
pub(crate) use crate::files::Fnv;
use crate::files::{fnv1a, open_safetensors, write_atomically};
use crate::train::fit::{Checkpoint, FitReport, TrainerState};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

const FORMAT: &str = "gpumlp-checkpoint";
const VERSION: u32 = 2;
const META_KEY: &str = "gpumlp.checkpoint";
const CHECKSUM_KEY: &str = "gpumlp.checksum";
/// The most optimiser steps a checkpoint may claim (2^48: a million years of 10 µs steps).
pub const MAX_STEPS: u64 = 1 << 48;
/// The tensors, in file order: vectors of F32, then of F64.
const TENSORS: [&str; 10] = [
    "params",
    "optimizer.m",
    "optimizer.v",
    "best",
    "history.epoch_losses",
    "history.val_losses",
    "history.lrs",
    "partial.losses",
    "history.epoch_seconds",
    "history.val_metrics",
];
/// How many of [`TENSORS`] are F32 (the rest are F64).
const F32_TENSORS: usize = 8;

/// Everything in a checkpoint besides the tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CheckpointMeta {
    format: String,
    version: u32,
    /// Optimiser steps taken.
    t: u64,
    /// Epochs finished.
    epochs_done: usize,
    /// The shuffle stream's word position, in decimal (JSON numbers stop at 2^53).
    shuffle_pos: String,
    /// Seconds trained before the checkpoint.
    train_seconds: f64,
    /// Validation metrics per epoch in `history.val_metrics` (0 without validation).
    val_metric_count: usize,
    /// The caller's description of the run: data, settings, outputs.
    job: serde_json::Value,
    /// How the steps ran (`TrainerState::path`); absent from older checkpoints.
    #[serde(default)]
    path: String,
}

/// FNV-1a (64 bits) of `bytes`: the checksum checkpoints use, for callers that fingerprint
/// their inputs.
pub fn checksum_of(bytes: &[u8]) -> u64 {
    fnv1a(&[bytes])
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes64(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn checksum(meta_json: &str, tensors: &[Vec<u8>]) -> String {
    let mut parts: Vec<&[u8]> = vec![meta_json.as_bytes()];
    parts.extend(tensors.iter().map(Vec::as_slice));
    format!("{:016x}", fnv1a(&parts))
}

/// The dtype and element size of tensor `i` of [`TENSORS`].
fn dtype_of(i: usize) -> (Dtype, usize) {
    match i < F32_TENSORS {
        true => (Dtype::F32, 4),
        false => (Dtype::F64, 8),
    }
}

impl Checkpoint {
    /// The file's bytes, with `job` (any JSON the caller needs to continue) in the metadata.
    pub fn to_bytes(&self, job: &serde_json::Value) -> Result<Vec<u8>> {
        let s = &self.state;
        let h = &self.history;
        let meta = CheckpointMeta {
            format: FORMAT.into(),
            version: VERSION,
            t: s.t,
            epochs_done: s.epochs_done,
            shuffle_pos: s.shuffle_pos.to_string(),
            train_seconds: h.train_seconds,
            val_metric_count: h.val_metrics.first().map_or(0, Vec::len),
            job: job.clone(),
            path: s.path.clone(),
        };
        if h.val_metrics
            .iter()
            .any(|m| m.len() != meta.val_metric_count)
        {
            return Err(Error::InvalidConfig(
                "cannot encode the checkpoint: epochs with different metrics".into(),
            ));
        }
        let meta_json = serde_json::to_string(&meta)
            .map_err(|e| Error::InvalidConfig(format!("cannot encode the checkpoint: {e}")))?;
        let mut data: Vec<Vec<u8>> = [
            &s.params,
            &s.m,
            &s.v,
            &s.best,
            &h.epoch_losses,
            &h.val_losses,
            &h.lrs,
            &s.partial_losses,
        ]
        .iter()
        .map(|v| bytes(v))
        .collect();
        data.push(bytes64(&h.epoch_seconds));
        data.push(bytes64(&h.val_metrics.concat()));
        let mut info = HashMap::new();
        info.insert(CHECKSUM_KEY.to_string(), checksum(&meta_json, &data));
        info.insert(META_KEY.to_string(), meta_json);
        let views = TENSORS
            .iter()
            .zip(&data)
            .enumerate()
            .map(|(i, (name, b))| {
                let (dtype, size) = dtype_of(i);
                TensorView::new(dtype, vec![b.len() / size], b).map(|v| (*name, v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidConfig(format!("cannot lay out the checkpoint: {e}")))?;
        safetensors::serialize(views, Some(info))
            .map_err(|e| Error::InvalidConfig(format!("cannot encode the checkpoint: {e}")))
    }

    /// Writes the checkpoint to `path` atomically (temporary file, fsync, rename): a crash
    /// or a kill leaves the previous checkpoint whole.
    pub fn save(&self, path: &Path, job: &serde_json::Value) -> Result<()> {
        write_atomically(path, &self.to_bytes(job)?)
    }

    /// Reads and checks a checkpoint file; returns it with the job it describes.
    pub fn load(path: &Path) -> Result<(Checkpoint, serde_json::Value)> {
        let name = path.display().to_string();
        let kind = crate::files::Kind {
            name: "checkpoint",
            max_bytes: crate::files::MAX_CHECKPOINT_BYTES,
        };
        let bytes = crate::files::read_bounded(path, kind)?;
        Checkpoint::from_bytes(&name, &bytes)
    }

    /// Parses and checks a checkpoint's bytes; `name` is used in messages.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<(Checkpoint, serde_json::Value)> {
        let bad = |message: String| Error::CheckpointFile {
            path: name.to_string(),
            message,
        };
        let (file, info) = open_safetensors(bytes, &bad)?;
        let meta_json = info
            .get(META_KEY)
            .ok_or_else(|| bad("a safetensors file, but without a checkpoint's metadata".into()))?;
        let meta: CheckpointMeta = serde_json::from_str(meta_json)
            .map_err(|e| bad(format!("its metadata does not parse ({e})")))?;
        if meta.format != FORMAT || meta.version != VERSION {
            return Err(bad(format!(
                "format {:?} version {}; this gpumlp reads {FORMAT:?} version {VERSION}",
                meta.format, meta.version
            )));
        }
        if file.len() != TENSORS.len() {
            return Err(bad(format!(
                "{} tensors, expected {}",
                file.len(),
                TENSORS.len()
            )));
        }
        // The safetensors crate has checked every tensor's bytes lie inside the file, so
        // nothing below allocates more than the file holds.
        let mut data = Vec::with_capacity(TENSORS.len());
        for (i, name) in TENSORS.iter().enumerate() {
            let view = file
                .tensor(name)
                .map_err(|_| bad(format!("tensor {name} is missing")))?;
            let (dtype, _) = dtype_of(i);
            if view.dtype() != dtype || view.shape().len() != 1 {
                return Err(bad(format!(
                    "tensor {name} is {:?} {:?}; expected a {dtype:?} vector",
                    view.dtype(),
                    view.shape()
                )));
            }
            data.push(view.data().to_vec());
        }
        if info.get(CHECKSUM_KEY) != Some(&checksum(meta_json, &data)) {
            return Err(bad(
                "its checksum does not match: the file was changed or damaged".into(),
            ));
        }
        let shuffle_pos = meta.shuffle_pos.parse::<u128>().map_err(|_| {
            bad(format!(
                "shuffle position {:?} is not a number",
                meta.shuffle_pos
            ))
        })?;
        let doubles = |b: &[u8]| -> Vec<f64> {
            b.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect()
        };
        let epoch_seconds = doubles(&data[F32_TENSORS]);
        let val_metrics_flat = doubles(&data[F32_TENSORS + 1]);
        let mut floats = data[..F32_TENSORS].iter().map(|b| {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<f32>>()
        });
        let mut next = || floats.next().unwrap_or_default();
        let (params, m, v, best) = (next(), next(), next(), next());
        let (epoch_losses, val_losses, lrs, partial_losses) = (next(), next(), next(), next());
        let field = |field: &str, message: String| Error::FileField {
            path: name.to_string(),
            kind: "checkpoint",
            field: field.to_string(),
            message,
        };
        if meta.t > MAX_STEPS {
            return Err(field("t", format!("{} steps; at most {MAX_STEPS}", meta.t)));
        }
        if !meta.path.is_empty() && !crate::train::fit::PATHS.contains(&meta.path.as_str()) {
            return Err(field(
                "path",
                format!(
                    "{:?}; a checkpoint's path is one of {:?}",
                    meta.path,
                    crate::train::fit::PATHS
                ),
            ));
        }
        if meta.epochs_done > crate::train::MAX_EPOCHS {
            return Err(field(
                "epochs_done",
                format!("{}; at most {}", meta.epochs_done, crate::train::MAX_EPOCHS),
            ));
        }
        if shuffle_pos >= 1 << 68 {
            return Err(field(
                "shuffle_pos",
                format!("{shuffle_pos} is past the shuffle stream's 2^68 words"),
            ));
        }
        if !(meta.train_seconds.is_finite() && meta.train_seconds >= 0.0) {
            return Err(field(
                "train_seconds",
                format!("{}; it must be finite and ≥ 0", meta.train_seconds),
            ));
        }
        if params.len() > crate::model::MAX_PARAMS {
            return Err(field(
                "params",
                format!(
                    "{} values; at most {}",
                    params.len(),
                    crate::model::MAX_PARAMS
                ),
            ));
        }
        for (tensor, values, at_least_zero) in [
            ("params", &params, false),
            ("optimizer.m", &m, false),
            ("optimizer.v", &v, true),
            ("best", &best, false),
            ("history.epoch_losses", &epoch_losses, false),
            ("history.val_losses", &val_losses, false),
            ("history.lrs", &lrs, true),
            ("partial.losses", &partial_losses, false),
        ] {
            if let Some(i) = values
                .iter()
                .position(|x| !x.is_finite() || (at_least_zero && *x < 0.0))
            {
                return Err(field(
                    tensor,
                    format!(
                        "element {i} is {}; every value must be finite{}",
                        values[i],
                        if at_least_zero { " and ≥ 0" } else { "" }
                    ),
                ));
            }
        }
        if !(val_losses.is_empty() || val_losses.len() == meta.epochs_done) {
            return Err(field(
                "history.val_losses",
                format!(
                    "{} validation losses for {} epochs",
                    val_losses.len(),
                    meta.epochs_done
                ),
            ));
        }
        if epoch_seconds.len() != meta.epochs_done {
            return Err(field(
                "history.epoch_seconds",
                format!(
                    "{} times for {} epochs",
                    epoch_seconds.len(),
                    meta.epochs_done
                ),
            ));
        }
        if let Some(i) = epoch_seconds
            .iter()
            .position(|s| !(s.is_finite() && *s >= 0.0))
        {
            return Err(field(
                "history.epoch_seconds",
                format!(
                    "element {i} is {}; it must be finite and ≥ 0",
                    epoch_seconds[i]
                ),
            ));
        }
        let k = meta.val_metric_count;
        let counts_fit = match val_losses.is_empty() {
            true => k == 0,
            false => (4..=6).contains(&k),
        };
        if !counts_fit || Some(val_metrics_flat.len()) != val_losses.len().checked_mul(k) {
            return Err(field(
                "history.val_metrics",
                format!(
                    "{} values of {k} metrics for {} validated epochs",
                    val_metrics_flat.len(),
                    val_losses.len()
                ),
            ));
        }
        if let Some(i) = val_metrics_flat.iter().position(|v| v.is_infinite()) {
            return Err(field(
                "history.val_metrics",
                format!(
                    "element {i} is {}; a metric is finite or NaN",
                    val_metrics_flat[i]
                ),
            ));
        }
        let val_metrics: Vec<Vec<f64>> = val_metrics_flat
            .chunks(k.max(1))
            .map(<[f64]>::to_vec)
            .collect();
        let n = params.len();
        if m.len() != n || best.len() != n || !(v.is_empty() || v.len() == n) {
            return Err(bad(format!(
                "{n} parameters but moments of {} and {} and best weights of {}",
                m.len(),
                v.len(),
                best.len()
            )));
        }
        if epoch_losses.len() != meta.epochs_done || lrs.len() != meta.epochs_done {
            return Err(bad(format!(
                "{} epochs done but a history of {} losses and {} rates",
                meta.epochs_done,
                epoch_losses.len(),
                lrs.len()
            )));
        }
        let checkpoint = Checkpoint {
            state: TrainerState {
                params,
                m,
                v,
                best,
                t: meta.t,
                epochs_done: meta.epochs_done,
                shuffle_pos,
                partial_losses,
                path: meta.path,
            },
            history: FitReport {
                epoch_losses,
                val_losses,
                lrs,
                val_metrics,
                epoch_seconds,
                train_seconds: meta.train_seconds,
                ..FitReport::default()
            },
        };
        Ok((checkpoint, meta.job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            state: TrainerState {
                params: vec![0.5, -1.25, 3.0],
                m: vec![0.1, 0.2, 0.3],
                v: vec![0.01, 0.02, 0.03],
                best: vec![0.4, -1.0, 2.5],
                t: 17,
                epochs_done: 2,
                shuffle_pos: u128::from(u64::MAX) + 5,
                partial_losses: vec![0.7],
                path: "fused wide".into(),
            },
            history: FitReport {
                epoch_losses: vec![0.9, 0.8],
                val_losses: Vec::new(),
                lrs: vec![1e-3, 1e-3],
                epoch_seconds: vec![0.5, 1.25],
                train_seconds: 1.5,
                ..FitReport::default()
            },
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let job = serde_json::json!({"data": "a.csv"});
        let bytes = sample().to_bytes(&job).unwrap();
        let (back, job_back) = Checkpoint::from_bytes("c", &bytes).unwrap();
        assert_eq!(back, sample());
        assert_eq!(job_back, job);
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_an_error() {
        let bytes = sample().to_bytes(&serde_json::Value::Null).unwrap();
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            assert!(
                Checkpoint::from_bytes("c", &damaged).is_err(),
                "flipping byte {i} of {} went unnoticed",
                bytes.len()
            );
        }
        for len in 0..bytes.len() {
            assert!(Checkpoint::from_bytes("c", &bytes[..len]).is_err(), "{len}");
        }
    }
}
