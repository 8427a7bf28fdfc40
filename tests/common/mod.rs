//! Shared by the test binaries: one GPU per binary, seeded data, and the tolerance check.
#![allow(dead_code)]

use gpumlp::Gpu;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::sync::OnceLock;

/// The adapter these tests run on: `GPUMLP_BACKEND` / `GPUMLP_ADAPTER`, or the best one.
/// With none, the test fails and says how to get a software adapter; it never skips.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| match Gpu::from_env() {
        Ok(gpu) => {
            // Written to the stderr handle, not with eprintln!, so the harness does not capture it.
            let _ = writeln!(std::io::stderr(), "gpumlp tests run on: {}", gpu.describe());
            gpu
        }
        Err(e) => panic!("GPU tests need an adapter and none could be opened: {e}"),
    })
}

/// `n` uniform values in [lo, hi) from `seed`.
pub fn uniform(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Fails unless every `|got − want| ≤ atol + rtol·|want|`; the message names the worst index.
/// Returns the largest absolute error, for reports.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0usize, 0.0f32); // index, error / allowed
    let mut max_abs = 0.0f32;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        let allowed = atol + rtol * w.abs();
        let ratio = if err.is_nan() || g.is_nan() != w.is_nan() {
            f32::INFINITY
        } else if err == 0.0 {
            0.0
        } else {
            err / allowed
        };
        if ratio > worst.1 || (i == 0 && ratio.is_infinite()) {
            worst = (i, ratio);
        }
        if err.is_finite() {
            max_abs = max_abs.max(err);
        }
    }
    let (i, ratio) = worst;
    assert!(
        ratio <= 1.0,
        "{what}: worst index {i}: got {}, want {}, |diff| = {:e} > atol {atol:e} + rtol {rtol:e}·|want| \
         ({} elements, largest |diff| {max_abs:e})",
        got[i],
        want[i],
        (got[i] - want[i]).abs(),
        got.len()
    );
    max_abs
}

/// Prints one line of a report past the harness's capture (see `gpu`).
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
