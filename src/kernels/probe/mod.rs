//! Host side of shaders/probe.wgsl: the driver's loop budget, measured once per adapter and
//! driver and kept in the tuning cache.
//!
//! Mesa's gallivm up to 22.x (Debian 12's own llvmpipe and lavapipe) ends every loop of a
//! shader invocation once 65535 iterations have run in total, without an error: a kernel
//! whose loops run longer returns wrong numbers. Every plan keeps each invocation's loops
//! within the budget measured here (`crate::plan`), instead of trusting a version string.

use super::{Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, LoopBudget, Module};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ProbeParams {
    n: u32,
    _pad: [u32; 3],
}

/// probe.wgsl after the prelude.
static MODULE: Module = super::module!("probe", "probe.wgsl");

static LOOP_BUDGET: Kernel = Kernel {
    module: &MODULE,
    entry: "loop_budget",
    bindings: &[(0, Binding::Uniform), (1, Binding::ReadWrite)],
};

/// Iterations the probe asks for: well past any budget seen, and a millisecond of work on a
/// CPU driver that has none.
const PROBE_ITERATIONS: u32 = 1 << 20;
/// The tuning-cache key of the measured budget.
const KEY: &str = "probe.v1 loop budget";

/// How many loop iterations in all one invocation of a kernel may run on this driver before
/// its loops are cut short: `None` when the probe saw no limit.
pub fn loop_budget(gpu: &Gpu) -> Result<Option<u64>> {
    match gpu.assumed_loop_budget() {
        LoopBudget::Unlimited => return Ok(None),
        LoopBudget::Iterations(n) => return Ok(Some(n)),
        LoopBudget::Measure => {}
    }
    let measured = match gpu.tuned(KEY).as_deref() {
        Some("unlimited") => None,
        Some(n) if n.parse::<u64>().is_ok() => n.parse::<u64>().ok(),
        _ => {
            let budget = measure(gpu)?;
            let text = budget.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
            gpu.set_tuned(KEY, &text);
            budget
        }
    };
    // Through GL, the same gallivm counts more iterations than gpumlp's count of a kernel's
    // loops (taken from its WGSL, as SPIR-V keeps them): up to 1.81 times for the wide fused
    // kernel on Mesa 22.3.6, whose steps then ran out of the budget. Plans there get half.
    Ok(match gpu.adapter_info().backend {
        wgpu::Backend::Gl => measured.map(|n| n / GL_SHARE),
        _ => measured,
    })
}

/// The share of the measured budget plans take through GL (see [`loop_budget`]).
const GL_SHARE: u64 = 2;

/// Runs the probe: the iterations a loop of [`PROBE_ITERATIONS`] really ran.
fn measure(gpu: &Gpu) -> Result<Option<u64>> {
    let out = gpu.zeros("loop probe", 1)?;
    let params = gpu.uniform(
        "loop probe",
        &ProbeParams {
            n: PROBE_ITERATIONS,
            _pad: [0; 3],
        },
    );
    let d = Dispatch::new(
        gpu,
        LOOP_BUDGET,
        &[Bind::Params(&params), Bind::Tensor(&out)],
        [1, 1, 1],
    )?;
    super::run(gpu, &[&d])?;
    let ran = gpu.read::<u32>(&out)?[0];
    Ok((ran < PROBE_ITERATIONS).then_some(u64::from(ran)))
}
