// What the driver really does with a loop: how many iterations a loop of `params.n` runs.
// Mesa's gallivm (llvmpipe and lavapipe) up to 22.x ends every loop of an invocation once
// 65535 iterations have run in total (its LP_MAX_TGSI_LOOP_ITERATIONS hang guard), silently;
// later Mesa runs them all. src/ops/probe.rs turns the count into the loop budget every plan
// keeps within.

struct ProbeParams {
    n: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

@group(0) @binding(0) var<uniform> params: ProbeParams;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(1, 1, 1)
fn loop_budget() {
    var count = 0u;
    for (var i = 0u; i < params.n; i++) { count = count + 1u; }
    out[0] = count;
}
