// Prepended to every shader module (see src/gpu/pipelines.rs): WGSL has no includes.

// Threads per workgroup of the element-wise kernels. The host splits a large 1-D range over a
// 2-D grid of workgroups (at most 65535 per dimension), so the flat index is rebuilt here.
const EW: u32 = 256u;

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return (wg.y * nwg.x + wg.x) * EW + lid.x;
}

// σ(x) = 1/(1+e^(−x)), evaluated so that e^(...) never overflows: for x < 0 use e^x/(1+e^x).
fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

// One training step's values, one 256-byte slot per step, bound with a dynamic offset so that
// many steps recorded into one submission each see their own (src/gpu/step.rs).
struct Step {
    row_offset: u32,        // first position in the shuffled row order for this batch
    loss_slot: u32,         // where this step's mean loss goes in the loss buffer
    lr: f32,                // learning rate of this step
    bias_correction1: f32,  // 1 − β1^t
    bias_correction2: f32,  // 1 − β2^t
    rows: u32,              // rows in this step's batch (read by the fused kernel)
    _pad1: u32,
    _pad2: u32,
}
