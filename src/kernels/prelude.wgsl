// The prelude: the first part of every module (src/kernels/mod.rs puts it there; WGSL has no
// includes). It holds what more than one kernel computes, written once:
//   flat_index          the element-wise kernels' 2-D grid of EW-thread workgroups
//   sigmoid, tanh_safe  the activations that need care in f32
//   activate, activate_back, ACT_*   the hidden activations and their derivatives, by code
//   epilogue            what a forward product does to each output (bias, activation)
//   bce                 binary cross-entropy from a logit
//   adam_update, sgd_update          one parameter's optimiser step
//   map_input           a shared row's value as one model's row map reads it
//   Step                the per-step uniform
// The codes match src/kernels/activation/mod.rs (`code`).

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

const ACT_NONE: u32 = 0u;
const ACT_SIGMOID: u32 = 1u;
const ACT_RELU: u32 = 2u;
const ACT_TANH: u32 = 3u;

// The activation `code` of z.
fn activate(code: u32, z: f32) -> f32 {
    switch code {
        case 1u: { return sigmoid(z); }
        case 2u: { return max(z, 0.0); }
        case 3u: { return tanh_safe(z); }
        default: { return z; }
    }
}

// d · act'(z), written with the activation's output a, so z need not be kept:
// σ' = a(1 − a), relu' = 1 where a > 0, tanh' = 1 − a².
fn activate_back(code: u32, a: f32, d: f32) -> f32 {
    switch code {
        case 1u: { return d * (a * (1.0 - a)); }
        case 2u: { return select(0.0, d, a > 0.0); }
        case 3u: { return d * (1.0 - a * a); }
        default: { return d; }
    }
}

// What a forward matmul does to each output z before storing it (MatmulParams.epilogue, set
// by src/kernels/matmul/mod.rs): 0 nothing, else z + bias and then the activation of code
// `code − 1` (ACT_NONE for the output layer).
fn epilogue(code: u32, z: f32, bias: f32) -> f32 {
    if (code == 0u) { return z; }
    return activate(code - 1u, z + bias);
}

// activate and activate_back on four values at once (four rows of one unit).
fn activate4(code: u32, z: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(activate(code, z.x), activate(code, z.y), activate(code, z.z),
                     activate(code, z.w));
}

fn activate_back4(code: u32, a: vec4<f32>, d: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(activate_back(code, a.x, d.x), activate_back(code, a.y, d.y),
                     activate_back(code, a.z, d.z), activate_back(code, a.w, d.w));
}

// Binary cross-entropy of target y at logit z, from the logit (never log(0)):
// max(z, 0) − z·y + ln(1 + e^(−|z|)).
fn bce(z: f32, y: f32) -> f32 {
    return max(z, 0.0) - z * y + log(1.0 + exp(-abs(z)));
}

// One Adam step of a parameter w with gradient g and moments m, v (PyTorch's Adam; AdamW when
// `decoupled`): returns the new (w, m, v). lr and the bias corrections are the step's.
//   Adam:  g += wd·w          AdamW: w −= lr·wd·w
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  w −= lr · (m / bc1) / (√(v / bc2) + ε)
fn adam_update(w_in: f32, g_in: f32, m_in: f32, v_in: f32, lr: f32, bc1: f32, bc2: f32,
               beta1: f32, beta2: f32, eps: f32, wd: f32, decoupled: bool) -> vec3<f32> {
    var w = w_in;
    var g = g_in;
    if (decoupled) {
        w = w - lr * wd * w;
    } else {
        g = g + wd * w;
    }
    let m = beta1 * m_in + (1.0 - beta1) * g;
    let v = beta2 * v_in + (1.0 - beta2) * g * g;
    return vec3<f32>(w - lr * (m / bc1) / (sqrt(v / bc2) + eps), m, v);
}

// One SGD step with momentum (PyTorch's, no dampening) of w with gradient g and velocity u:
// g += wd·w; u = μ·u + g; w −= lr·u. Returns the new (w, u).
fn sgd_update(w: f32, g_in: f32, u_in: f32, lr: f32, momentum: f32, wd: f32) -> vec2<f32> {
    let g = g_in + wd * w;
    let u = momentum * u_in + g;
    return vec2<f32>(w - lr * u, u);
}

// A value x of rows several models share as one model reads it through its row map
// (src/data/prep/shared.rs, RowMap::input, the same two f32 operations): (x − shift) · scale,
// or the fill where the cell is missing.
fn map_input(x: f32, shift: f32, scale: f32, fill: f32, missing: bool) -> f32 {
    return select((x - shift) * scale, fill, missing);
}

// One training step's values, one per model trained side by side, in a slot of their own per
// step, bound with a dynamic offset so that many steps recorded into one submission each see
// their own (src/gpu/step.rs).
struct Step {
    row_offset: u32,        // first position in the shuffled row order for this batch
    loss_slot: u32,         // where this step's mean loss goes in the loss buffer
    lr: f32,                // learning rate of this step
    bias_correction1: f32,  // 1 − β1^t
    bias_correction2: f32,  // 1 − β2^t
    rows: u32,              // rows in this step's batch (0: its model waits)
    params_at: u32,         // where this step's model starts in p, m and v (fused wide kernel)
    kind: u32,              // 0 train; 1 forward only: its rows' logits; 2 snapshot: the
                            // parameters (fused wide kernel; StepUniform's constants)
    beta1: f32,             // the optimiser's constants (the fused small kernels take them
    beta2: f32,             // from their own parameters)
    eps: f32,
    weight_decay: f32,
    momentum: f32,
    map_at: u32,            // where its model's row map starts in x_all, or NO_MAP (rows
                            // shared by several models: wide.wgsl, gather.wgsl)
    _pad1: u32,
    _pad2: u32,
}
