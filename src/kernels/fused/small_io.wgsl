// The small fused kernels' parameters and bindings: fused.wgsl (widths up to 16 on any
// adapter) and the kernel generated for each network of up to 320 parameters (unrolled.rs).
//
// steps: (steps) per-step values; order: shuffled row order of the epochs in flight;
// x_all: (n, inputs); t_all: (n, outputs + 1) targets and row weight; p, m, v: (flat params);
// losses: out[steps[s].loss_slot] = Σ_r w_r · loss_r / rows, and out[health] = 1 if the
// driver cut a loop short.

struct FusedParams {
    layers: u32,        // dense layers, the output layer included
    inputs: u32,
    outputs: u32,
    n_real: u32,        // parameters (the compact layout's length)
    steps: u32,
    loss: u32,          // 0 bce, 1 softmax_ce, 2 mse
    optimizer: u32,     // 0 adam, 1 adamw, 2 sgd
    health: u32,        // where in `losses` a cut-short loop is reported
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    momentum: f32,
    canary: u32,        // iterations of the canary loop (2)
    _pad1: u32,
    _pad2: u32,
    widths: array<vec4<u32>, 2>,     // width of acts[l], l = 0..=layers
    acts: vec4<u32>,                 // activation code of hidden layer l (ACT_* in the prelude)
    w_off: vec4<u32>,                // where layer l's W starts in the compact layout
    b_off: vec4<u32>,                // where layer l's b starts in the compact layout
    seg_flat: array<vec4<u32>, 2>,   // segment sg (W0, b0, W1, b1, ...) in the flat layout
    seg_compact: array<vec4<u32>, 2>, // the same segment in the compact layout
    seg_len: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> fp: FusedParams;
@group(0) @binding(1) var<storage, read> steps: array<Step>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> x_all: array<f32>;
@group(0) @binding(4) var<storage, read> t_all: array<f32>;
@group(0) @binding(5) var<storage, read_write> p: array<f32>;
@group(0) @binding(6) var<storage, read_write> m: array<f32>;
@group(0) @binding(7) var<storage, read_write> v: array<f32>;
@group(0) @binding(8) var<storage, read_write> losses: array<f32>;
