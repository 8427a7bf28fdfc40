//! Which variant computes a product fastest on an adapter: measured the first time a shape is
//! met (each dimension capped, so the first run stays quick), kept in the tuning cache on disk.

use super::{product, trusted, Form, Grid, Variant, VARIANTS};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// Where a variant choice came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// `GPUMLP_MATMUL` named it.
    Forced,
    /// Measured on this adapter before (in this process or an earlier one).
    Cached,
    /// Measured just now.
    Measured,
    /// Too small a product to be worth timing: the first variant that runs it (the
    /// one-output-a-thread one first where C has few rows or columns).
    Small,
}

/// Each dimension of the shape the tuner times, at most: large products rank the variants
/// the same way and would make the first run slow. (At 128 the fixed cost of a dispatch
/// hid the difference between block4 and block8 that 1024³ products show.)
const TUNE_DIM: usize = 256;
/// Products of fewer multiply-adds than this are not timed: a dispatch's fixed cost hides any
/// difference between variants there, and timing them all means compiling them all, which
/// is most of a first run's start-up on a CPU driver. The first usable variant takes them.
const TUNE_MIN_MACS: usize = 1 << 22;
/// A small product with at most this many rows or columns of C takes the one-output-a-thread
/// variant first.
const NARROW: usize = 4;
/// Part of every tuning key: bumped when the variants change, so old choices are measured
/// again with the new ones in the running.
const TUNING_VERSION: u32 = 5;

/// Seconds of the fastest of three runs of `variant` on scratch buffers.
fn time_variant(
    gpu: &Gpu,
    variant: &'static Variant,
    form: Form,
    m: usize,
    n: usize,
    k: usize,
) -> Result<f64> {
    let (ta, tb, tc) = (
        gpu.zeros("tune a", m * k)?,
        gpu.zeros("tune b", k * n)?,
        gpu.zeros("tune c", m * n)?,
    );
    let d = product(gpu, variant, form, &ta, &tb, &tc, m, n, k)?;
    crate::kernels::run(gpu, &[&d])?; // compiles the pipeline
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        crate::kernels::run(gpu, &[&d])?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// The variant for this form and shape on this adapter: the one `GPUMLP_MATMUL` names (when
/// it computes the shape), else for a small product the first usable one, else the one
/// measured before on this adapter, else the fastest of all variants measured now on the
/// shape with each dimension capped at 256, then stored in the tuning cache on disk. Only variants that passed [`super::verify`] on this driver are used;
/// none passing is an error.
pub fn choose(
    gpu: &Gpu,
    form: Form,
    m: usize,
    n: usize,
    k: usize,
) -> Result<(&'static Variant, Choice)> {
    let runs = |v: &'static Variant| -> Result<bool> {
        Ok(v.supports(m, n, k) && v.runs_on(gpu) && trusted(gpu, v)?)
    };
    let usable = |v: &'static Variant| -> Result<bool> { Ok(v.considered_on(gpu) && runs(v)?) };
    if let Some(v) = gpu.forced_matmul().and_then(super::variant) {
        if runs(v)? {
            return Ok((v, Choice::Forced));
        }
    }
    if m * n * k < TUNE_MIN_MACS {
        // A product with few rows or columns of C (an output layer's): tiles of C would be
        // mostly padding, so one thread an output goes first (on lavapipe 1.72 against
        // block4's 0.32 GFLOP/s at 1024×1×256, 1.03 against 0.33 at 256×1×1024).
        let narrow = m.min(n) <= NARROW;
        let first = VARIANTS.iter().filter(|v| narrow && v.grid == Grid::Flat);
        for v in first.chain(&VARIANTS) {
            if usable(v)? {
                return Ok((v, Choice::Small));
            }
        }
    }
    let key = format!("matmul.v{TUNING_VERSION} {form:?} {m}x{n}x{k}");
    if let Some(v) = gpu.tuned(&key).and_then(|s| super::variant(&s)) {
        if usable(v)? {
            return Ok((v, Choice::Cached));
        }
    }
    let (pm, pn, pk) = (m.min(TUNE_DIM), n.min(TUNE_DIM), k.min(TUNE_DIM));
    let mut best: Option<(&'static Variant, f64)> = None;
    for v in &VARIANTS {
        if v.supports(pm, pn, pk) && usable(v)? {
            let t = time_variant(gpu, v, form, pm, pn, pk)?;
            if best.is_none_or(|(_, b)| t < b) {
                best = Some((v, t));
            }
        }
    }
    let Some((best, _)) = best else {
        return Err(Error::DriverFault {
            adapter: gpu.describe(),
            kernel: "matmul",
            detail: format!(
                "no matmul variant that computes a {m}×{n}×{k} product passed its check against \
                 the CPU reference here; use another adapter or the CPU"
            ),
        });
    };
    gpu.set_tuned(&key, best.name);
    Ok((best, Choice::Measured))
}
