//! The integration tests, in one binary (wgpu is linked once): GPU kernels and training
//! against the CPU reference, the command line end to end, hostile files, interruptions,
//! device limits and drivers. GPU tests use the adapter `GPUMLP_BACKEND` / `GPUMLP_ADAPTER`
//! pick and fail, saying how to get one, when there is none.

mod common;

mod adapter;
mod bounded;
mod cli;
mod drivers;
mod estimator;
mod files;
mod gradients;
mod group;
mod hostile;
#[cfg(unix)]
mod interrupt;
mod kernels;
mod limits;
mod outputs;
#[cfg(feature = "parquet")]
mod parquet;
mod resume;
mod search;
mod streamed;
mod training;
mod tuning;
