//! The CPU reference: every kernel of `shaders/` and the whole training step in plain Rust,
//! with the same names, argument order, formulas and accumulation order as the GPU ops in
//! `crate::ops`. Written to be obviously right; the tests measure the GPU against it and the
//! benchmark uses it as the baseline.

pub mod activation;
pub mod adam;
pub mod bias;
pub mod gather;
pub mod loss;
pub mod matmul;
pub mod roofline;
pub mod sgd;
pub mod train;

pub use activation::{activation_backward, activation_forward, sigmoid};
pub use adam::adam;
pub use bias::{bias_add, bias_grad};
pub use gather::gather;
pub use loss::{batch_loss, bce, loss_and_grad, loss_grad, output_transform, row_loss};
pub use matmul::{linear, matmul, matmul_nt, matmul_tn};
pub use sgd::sgd;
pub use train::{fit, forward, gradients, logits, predict, CpuTrainer};
