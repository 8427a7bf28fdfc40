//! gpumlp trains multilayer perceptrons on any GPU that wgpu reaches (Vulkan, Metal, DX12,
//! GL), with every step of training in WGSL compute shaders and a plain CPU reference of each.
//!
//! The estimators, [`MlpClassifier`] and [`MlpRegressor`], are the front door, in the manner
//! of scikit-learn: configure one, `fit` it to rows in memory and get back a fitted model that
//! predicts, saves and loads. They run the workflow `gpumlp train` runs (standardisation on the
//! training rows, a validation split, early stopping, the same model file), cross-validate,
//! and search settings as `gpumlp search` does.
//!
//! ```no_run
//! use gpumlp::estimator::SearchOptions;
//! use gpumlp::{Device, Gpu, MlpClassifier};
//!
//! # fn main() -> gpumlp::Result<()> {
//! let gpu = Gpu::from_env()?; // GPUMLP_BACKEND / GPUMLP_ADAPTER, or the best adapter
//! let device = Device::Gpu(&gpu); // or Device::Cpu: the reference implementation
//!
//! // Two features; the class is which side of a line a point lies on.
//! let x: Vec<[f32; 2]> = (0..400).map(|i| [(i % 20) as f32, (i / 20) as f32]).collect();
//! let y: Vec<&str> = x.iter().map(|p| if p[0] > p[1] { "above" } else { "below" }).collect();
//!
//! let clf = MlpClassifier::new().hidden([32, 16]).epochs(100);
//! let model = clf.fit(device, &x, &y)?;
//! println!("{:?}", model.predict(device, &[[15.0, 2.0]])?); // ["above"]
//! model.save(std::path::Path::new("side.safetensors"))?; // gpumlp predict reads it too
//!
//! // Five folds, side by side on the GPU; then a grid of four candidates.
//! let cv = clf.cross_validate(device, &x, &y, 5)?;
//! println!("{:?}", cv.summary);
//! let space = [("lr", "0.001|0.003"), ("weight-decay", "0|1e-4")];
//! let (board, best) = clf.search(device, &x, &y, &space, &SearchOptions::default())?;
//! println!("best of {}: {:?}", board.entries.len(), board.best().map(|e| &e.candidate.varied));
//! # let _ = best;
//! # Ok(())
//! # }
//! ```
//!
//! Below them, [`fit()`] trains an [`Mlp`] in place on a [`Dataset`] of numbers with a
//! [`TrainConfig`], and [`Trainer`] runs epochs one call at a time:
//!
//! ```no_run
//! use gpumlp::{Activation, Dataset, Gpu, Mlp, MlpSpec, TrainConfig};
//!
//! # fn main() -> gpumlp::Result<()> {
//! let gpu = Gpu::from_env()?;
//! // XOR: four rows, two features.
//! let x = vec![0., 0., 0., 1., 1., 0., 1., 1.];
//! let data = Dataset::new(x.clone(), vec![0., 1., 1., 0.], 2)?;
//! let mut model = Mlp::new(&MlpSpec::new(2).hidden(8, Activation::Tanh), 42)?;
//! let config = TrainConfig { epochs: 500, batch_size: 4, ..TrainConfig::default() };
//! let report = gpumlp::fit(&gpu, &mut model, &data, &config)?;
//! println!("final loss {}", report.epoch_losses.last().unwrap());
//! println!("{:?}", gpumlp::predict(&gpu, &model, &x)?);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod check;
pub mod cpu;
pub mod data;
pub mod error;
pub mod estimator;
pub mod files;
pub mod gpu;
pub mod job;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod model_file;
pub mod onnx;
pub mod optim;
pub mod options;
pub mod outputs;
pub mod plot;
pub mod search;
pub mod tolerance;
pub mod train;
pub mod workflow;

pub use data::{Dataset, Shuffler};
pub use error::{Error, Location, Result};
pub use estimator::{FittedClassifier, FittedRegressor, MlpClassifier, MlpRegressor};
pub use gpu::{BackendChoice, Gpu, GpuOptions, LoopBudget};
pub use model::{Activation, Layer, Loss, Mlp, MlpSpec};
pub use optim::{OptimizerConfig, OptimizerKind, StepValues};
pub use train::{
    fit, logits, predict, Backend, Checkpoint, EpochReport, FitControl, FitReport, Schedule,
    Scheduler, TrainConfig, Trainer, TrainerState,
};
pub use workflow::Device;

/// README's Rust examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
