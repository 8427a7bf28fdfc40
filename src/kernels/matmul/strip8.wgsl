// The strip8 variant: the three dense-layer products of block4.wgsl (same forms, same C, same
// k order), laid out for CPU drivers. A workgroup is 8 threads side by side on columns (one
// SIMD vector on lavapipe) and owns a strip of 8 rows × 64 columns of C: each thread 8 rows ×
// 8 neighbouring columns (two vec4). The rows come from the workgroup id, so every load of A
// is at an address all lanes share (one load for the vector, where a lane-varying address
// costs a load per lane), and the accumulators are named registers, never an indexed array.
// Edges are clamped for loading and skipped for storing.

// Parameters, bindings and finish(): io.wgsl, between the prelude and this file.

const SW: u32 = 8u;   // threads per workgroup, on columns
const SR: u32 = 8u;   // rows of C per workgroup
const SC: u32 = 8u;   // columns of C per thread (two vec4)

// A(i, kk): A stored (m, k), or (k, m) when `transposed`.
fn a_at(i: u32, kk: u32, transposed: bool) -> f32 {
    if (transposed) { return a[za + kk * params.m + i]; }
    return a[za + i * params.k + kk];
}

// B(kk, j): B stored (k, n), or (n, k) when `transposed`.
fn b_at(kk: u32, j: u32, transposed: bool) -> f32 {
    if (transposed) { return b[zb + j * params.k + kk]; }
    return b[zb + kk * params.n + j];
}

// C(i, col0 + 0..4) from a vec4 of sums, columns past n skipped.
fn store4(i: u32, col0: u32, v: vec4<f32>) {
    let at = i * params.n;
    for (var s = 0u; s < 4u; s++) {
        if (col0 + s < params.n) { c[zc + at + col0 + s] = finish(v[s], col0 + s); }
    }
}

fn product(wg: vec3<u32>, lane: u32, a_t: bool, b_t: bool) {
    let row0 = wg.y * SR;
    let col0 = (wg.x * SW + lane) * SC;
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
    let i0 = min(row0 + 0u, last_row);
    let i1 = min(row0 + 1u, last_row);
    let i2 = min(row0 + 2u, last_row);
    let i3 = min(row0 + 3u, last_row);
    let i4 = min(row0 + 4u, last_row);
    let i5 = min(row0 + 5u, last_row);
    let i6 = min(row0 + 6u, last_row);
    let i7 = min(row0 + 7u, last_row);
    let j0 = min(col0 + 0u, last_col);
    let j1 = min(col0 + 1u, last_col);
    let j2 = min(col0 + 2u, last_col);
    let j3 = min(col0 + 3u, last_col);
    let j4 = min(col0 + 4u, last_col);
    let j5 = min(col0 + 5u, last_col);
    let j6 = min(col0 + 6u, last_col);
    let j7 = min(col0 + 7u, last_col);
    var lo0 = vec4<f32>(0.0);
    var hi0 = vec4<f32>(0.0);
    var lo1 = vec4<f32>(0.0);
    var hi1 = vec4<f32>(0.0);
    var lo2 = vec4<f32>(0.0);
    var hi2 = vec4<f32>(0.0);
    var lo3 = vec4<f32>(0.0);
    var hi3 = vec4<f32>(0.0);
    var lo4 = vec4<f32>(0.0);
    var hi4 = vec4<f32>(0.0);
    var lo5 = vec4<f32>(0.0);
    var hi5 = vec4<f32>(0.0);
    var lo6 = vec4<f32>(0.0);
    var hi6 = vec4<f32>(0.0);
    var lo7 = vec4<f32>(0.0);
    var hi7 = vec4<f32>(0.0);
    for (var kk = 0u; kk < params.k; kk++) {
        let bl = vec4<f32>(b_at(kk, j0, b_t), b_at(kk, j1, b_t), b_at(kk, j2, b_t), b_at(kk, j3, b_t));
        let bh = vec4<f32>(b_at(kk, j4, b_t), b_at(kk, j5, b_t), b_at(kk, j6, b_t), b_at(kk, j7, b_t));
        let a0 = a_at(i0, kk, a_t);
        lo0 = lo0 + a0 * bl;
        hi0 = hi0 + a0 * bh;
        let a1 = a_at(i1, kk, a_t);
        lo1 = lo1 + a1 * bl;
        hi1 = hi1 + a1 * bh;
        let a2 = a_at(i2, kk, a_t);
        lo2 = lo2 + a2 * bl;
        hi2 = hi2 + a2 * bh;
        let a3 = a_at(i3, kk, a_t);
        lo3 = lo3 + a3 * bl;
        hi3 = hi3 + a3 * bh;
        let a4 = a_at(i4, kk, a_t);
        lo4 = lo4 + a4 * bl;
        hi4 = hi4 + a4 * bh;
        let a5 = a_at(i5, kk, a_t);
        lo5 = lo5 + a5 * bl;
        hi5 = hi5 + a5 * bh;
        let a6 = a_at(i6, kk, a_t);
        lo6 = lo6 + a6 * bl;
        hi6 = hi6 + a6 * bh;
        let a7 = a_at(i7, kk, a_t);
        lo7 = lo7 + a7 * bl;
        hi7 = hi7 + a7 * bh;
    }
    // The sums as an array only now, so that the store (and its epilogue) is compiled once.
    let sums = array<vec4<f32>, 16>(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, lo4, hi4, lo5, hi5, lo6, hi6, lo7, hi7);
    for (var r = 0u; r < SR; r++) {
        if (row0 + r < params.m) {
            store4(row0 + r, col0, sums[2u * r]);
            store4(row0 + r, col0 + 4u, sums[2u * r + 1u]);
        }
    }
}

@compute @workgroup_size(8, 1, 1)
fn strip8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    enter_model(wg.z);
    product(wg, lane, false, false);
}

@compute @workgroup_size(8, 1, 1)
fn strip8_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    enter_model(wg.z);
    product(wg, lane, true, false);
}

@compute @workgroup_size(8, 1, 1)
fn strip8_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    enter_model(wg.z);
    product(wg, lane, false, true);
}
