// The two kernels of the benchmark's roofline: what this adapter can do at best.
//   fma_peak  each thread runs a long chain of multiply-adds on 8 independent registers and
//             stores one sum: arithmetic only, no memory traffic to speak of.
//   copy      dst[i] = src[i]: memory only.

struct RooflineParams {
    n: u32,
    iterations: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: RooflineParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// 8 chains of `iterations` steps of x = x·0.999 + 0.001 (each step one FMA, 2 FLOP); starts
// from src[i], so the compiler cannot fold it. out[i] = Σ of the 8 chains.
@compute @workgroup_size(256, 1, 1)
fn fma_peak(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    let x0 = src[i];
    var v0 = vec4<f32>(x0, x0 + 1.0, x0 + 2.0, x0 + 3.0);
    var v1 = vec4<f32>(x0 + 4.0, x0 + 5.0, x0 + 6.0, x0 + 7.0);
    let m = vec4<f32>(0.999);
    let c = vec4<f32>(0.001);
    for (var it = 0u; it < params.iterations; it++) {
        v0 = fma(v0, m, c);
        v1 = fma(v1, m, c);
    }
    let s = v0 + v1;
    dst[i] = s.x + s.y + s.z + s.w;
}

@compute @workgroup_size(256, 1, 1)
fn copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    dst[i] = src[i];
}
