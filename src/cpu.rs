//! The CPU reference, for users: train, predict and compute logits on the host with the
//! same formulas and order of operations as the GPU path (`crate::train::cpu`). Each kernel's
//! own reference sits beside it, in `crate::kernels::<kernel>::reference`.

pub use crate::train::cpu::{fit, logits, predict, CpuTrainer};
