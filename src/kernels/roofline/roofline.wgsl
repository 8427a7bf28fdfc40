// The two kernels of the benchmark's roofline: what this adapter can do at best.
//   fma_peak  each thread runs long chains of multiply-adds on 32 independent values and
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

// 32 chains of `iterations` steps of x = x·0.999 + 0.001 (each step one FMA, 2 FLOP); starts
// from src[i], so the compiler cannot fold it. out[i] = Σ of the 32 chains. Fewer chains
// measure the FMA latency instead of its throughput: with 8 chains lavapipe reached 30
// GFLOP/s on the machine where 32 reach 40-53.
@compute @workgroup_size(256, 1, 1)
fn fma_peak(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    let x0 = src[i];
    var v0 = vec4<f32>(x0, x0 + 1.0, x0 + 2.0, x0 + 3.0);
    var v1 = vec4<f32>(x0 + 4.0, x0 + 5.0, x0 + 6.0, x0 + 7.0);
    var v2 = vec4<f32>(x0 + 8.0, x0 + 9.0, x0 + 10.0, x0 + 11.0);
    var v3 = vec4<f32>(x0 + 12.0, x0 + 13.0, x0 + 14.0, x0 + 15.0);
    var v4 = v0 + 16.0;
    var v5 = v1 + 16.0;
    var v6 = v2 + 16.0;
    var v7 = v3 + 16.0;
    let m = vec4<f32>(0.999);
    let c = vec4<f32>(0.001);
    for (var it = 0u; it < params.iterations; it++) {
        v0 = fma(v0, m, c);
        v1 = fma(v1, m, c);
        v2 = fma(v2, m, c);
        v3 = fma(v3, m, c);
        v4 = fma(v4, m, c);
        v5 = fma(v5, m, c);
        v6 = fma(v6, m, c);
        v7 = fma(v7, m, c);
    }
    let s = v0 + v1 + v2 + v3 + v4 + v5 + v6 + v7;
    dst[i] = s.x + s.y + s.z + s.w;
}

@compute @workgroup_size(256, 1, 1)
fn copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    dst[i] = src[i];
}
