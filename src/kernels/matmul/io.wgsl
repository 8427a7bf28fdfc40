// What every scalar matmul variant (block4, block8, single, tiled) binds, how it reads A and how
// it stores an output; each of their modules is the prelude, this file and the variant's file.
// (io_vec4.wgsl binds the same buffers as vec4 arrays, for packed and vstrip.)
// a: (m, k) or (k, m); b: (k, n) or (n, k); c: (m, n); bias: (n) for the forward epilogue.

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    epilogue: u32,   // see epilogue() in the prelude; nonzero only for the forward form
    // Models side by side, one a workgroup layer (grid z): how far model z's a, b, c and bias
    // start past model 0's, in floats (0: one operand every model shares).
    a_model: u32,
    b_model: u32,
    c_model: u32,
    bias_model: u32,
}

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
// The layer's bias, read when params.epilogue ≠ 0 (other products bind a stand-in).
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// Where this workgroup's model starts in a, b and c (elements) and in bias (floats): set by
// enter_model() before anything is read.
var<private> za: u32;
var<private> zb: u32;
var<private> zc: u32;
var<private> zbias: u32;

fn enter_model(z: u32) {
    za = z * params.a_model;
    zb = z * params.b_model;
    zc = z * params.c_model;
    zbias = z * params.bias_model;
}

// C(i, j) as stored: the sum, or the layer's output when the epilogue is on.
fn finish(v: f32, j: u32) -> f32 {
    if (params.epilogue == 0u) { return v; }
    return epilogue(params.epilogue, v, bias[min(zbias + j, arrayLength(&bias) - 1u)]);
}

// A(i, kk) of the untransposed operand, stored (m, k).
fn a_n(i: u32, kk: u32) -> f32 { return a[za + i * params.k + kk]; }
// A(i, kk) where A is stored transposed, (k, m).
fn a_t(i: u32, kk: u32) -> f32 { return a[za + kk * params.m + i]; }
