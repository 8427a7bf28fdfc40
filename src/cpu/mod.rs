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

/// `n` values drawn uniformly from [lo, hi) by a ChaCha8 stream seeded with `seed`: the inputs
/// of the checks that compare a kernel with this reference (`gpumlp check`, the tests).
pub fn seeded(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}
