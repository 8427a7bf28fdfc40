//! Shared by the test binaries: one GPU per binary, seeded data, and the tolerance check.
#![allow(dead_code)]

pub mod lies;

use gpumlp::Gpu;
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

/// `n` uniform values in [lo, hi) from `seed` (the stream the library's checks draw from).
pub fn uniform(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    gpumlp::kernels::seeded(seed, n, lo, hi)
}

/// Fails unless every `|got − want| ≤ atol + rtol·|want|` (NaN only where the reference has
/// NaN, an infinity only where it has the same one); the message names the worst index.
/// Returns the largest absolute error, for reports. The rule is the library's own
/// ([`gpumlp::tolerance`]), which `gpumlp check` applies too.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) -> f32 {
    let c = gpumlp::tolerance::Tolerance::new(atol, rtol).compare(got, want);
    assert!(c.passed(), "{what}: {c}");
    c.max_abs
}

/// Fails unless `got` and `want` are equal bit for bit; names the first index that differs.
pub fn assert_bits(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!(
            "{what}: index {i} differs: {} ({:#010x}) against {} ({:#010x}), {} elements",
            got[i],
            got[i].to_bits(),
            want[i],
            want[i].to_bits(),
            got.len()
        );
    }
}

/// Prints one line of a report past the harness's capture (see `gpu`).
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
