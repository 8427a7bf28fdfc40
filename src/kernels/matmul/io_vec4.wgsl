// What the vec4 matmul variants (packed, vstrip) bind, and how they store four outputs; each
// of their modules is the prelude, this file and the variant's file. The same buffers as
// io.wgsl's, seen as vec4 arrays.
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
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
// The layer's bias, read when params.epilogue ≠ 0 (other products bind a stand-in).
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// Where this workgroup's model starts in a, b and c (vec4s) and in bias (floats): set by
// enter_model() before anything is read.
var<private> za: u32;
var<private> zb: u32;
var<private> zc: u32;
var<private> zbias: u32;

fn enter_model(z: u32) {
    za = z * params.a_model / 4u;
    zb = z * params.b_model / 4u;
    zc = z * params.c_model / 4u;
    zbias = z * params.bias_model;
}

// Columns 4q..4q+4 of a row of C as stored: the sums, or the layer's outputs.
fn finish(v: vec4<f32>, q: u32) -> vec4<f32> {
    if (params.epilogue == 0u) { return v; }
    let last = arrayLength(&bias) - 1u;
    var out: vec4<f32>;
    for (var s = 0u; s < 4u; s++) {
        out[s] = epilogue(params.epilogue, v[s], bias[min(zbias + 4u * q + s, last)]);
    }
    return out;
}
