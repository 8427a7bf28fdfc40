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

// tanh saturates to ±1 in f32 beyond |x| ≈ 9; clamping first keeps drivers whose tanh is
// computed as a ratio of exponentials from returning inf/inf = NaN.
fn tanh_safe(v: f32) -> f32 {
    return tanh(clamp(v, -15.0, 15.0));
}

// What a forward matmul does to each output z before storing it (MatmulParams.epilogue, set
// by src/ops/matmul.rs): 0 nothing, 1 z + bias, 2/3/4 then sigmoid/ReLU/tanh, computed exactly
// as bias.wgsl and activation.wgsl compute them, so fusing changes no bit.
fn epilogue(code: u32, z: f32, bias: f32) -> f32 {
    if (code == 0u) { return z; }
    let v = z + bias;
    switch code {
        case 2u: { return sigmoid(v); }
        case 3u: { return max(v, 0.0); }
        case 4u: { return tanh_safe(v); }
        default: { return v; }
    }
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
