//! gpumlp trains multilayer perceptrons on any GPU that wgpu reaches (Vulkan, Metal, DX12,
//! GL), with every step of training in WGSL compute shaders and a plain CPU reference of each.
//!
//! ```no_run
//! use gpumlp::{Activation, Dataset, Gpu, Mlp, MlpSpec, TrainConfig};
//!
//! # fn main() -> gpumlp::Result<()> {
//! let gpu = Gpu::from_env()?; // GPUMLP_BACKEND / GPUMLP_ADAPTER, or the best adapter
//! println!("adapter: {}", gpu.describe());
//!
//! // XOR: four rows, two features.
//! let x = vec![0., 0., 0., 1., 1., 0., 1., 1.];
//! let y = vec![0., 1., 1., 0.];
//! let data = Dataset::new(x.clone(), y, 2)?;
//!
//! let spec = MlpSpec::new(2).hidden(8, Activation::Tanh);
//! let mut model = Mlp::new(&spec, 42)?;
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
