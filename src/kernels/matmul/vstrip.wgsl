// The vstrip variant: strip8.wgsl's layout (a workgroup of 8 threads side by side on columns
// owns 8 rows × 64 columns of C, each thread 8 rows × two vec4 of columns; A's loads at
// addresses the whole workgroup shares) with packed.wgsl's whole-vec4 loads and stores: for
// shapes whose m, n and k are multiples of 4. Accumulators are named registers. The k loop
// runs 0..k in order with acc += a·b, like the CPU reference.

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    epilogue: u32,   // see epilogue() in the prelude; nonzero only for the forward form
}

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
// The layer's bias, read when params.epilogue ≠ 0 (other products bind a stand-in).
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// Columns 4q..4q+4 of a row of C as stored: the sums, or the layer's outputs.
fn finish(v: vec4<f32>, q: u32) -> vec4<f32> {
    if (params.epilogue == 0u) { return v; }
    let last = arrayLength(&bias) - 1u;
    var out: vec4<f32>;
    for (var s = 0u; s < 4u; s++) {
        out[s] = epilogue(params.epilogue, v[s], bias[min(4u * q + s, last)]);
    }
    return out;
}

// Row i of C, column groups q and q + 1, where they lie inside C.
fn store2(i: u32, q: u32, lo: vec4<f32>, hi: vec4<f32>) {
    let nq = params.n / 4u;
    if (i >= params.m) { return; }
    if (q < nq) { c[i * nq + q] = finish(lo, q); }
    if (q + 1u < nq) { c[i * nq + q + 1u] = finish(hi, q + 1u); }
}


// C = A · B; A (m, k), B (k, n).
@compute @workgroup_size(8, 1, 1)
fn vstrip(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let row0 = wg.y * 8u;
    let q0 = (wg.x * 8u + lane) * 2u;   // first vec4 column group of C
    let nq = params.n / 4u;
    let kq = params.k / 4u;
    let mq = params.m / 4u;
    let b0 = min(q0, nq - 1u);
    let b1 = min(q0 + 1u, nq - 1u);
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
    let i0 = min(row0 + 0u, params.m - 1u);
    let i1 = min(row0 + 1u, params.m - 1u);
    let i2 = min(row0 + 2u, params.m - 1u);
    let i3 = min(row0 + 3u, params.m - 1u);
    let i4 = min(row0 + 4u, params.m - 1u);
    let i5 = min(row0 + 5u, params.m - 1u);
    let i6 = min(row0 + 6u, params.m - 1u);
    let i7 = min(row0 + 7u, params.m - 1u);
    for (var q = 0u; q < kq; q++) {
        let a0 = a[i0 * kq + q];
        let a1 = a[i1 * kq + q];
        let a2 = a[i2 * kq + q];
        let a3 = a[i3 * kq + q];
        let a4 = a[i4 * kq + q];
        let a5 = a[i5 * kq + q];
        let a6 = a[i6 * kq + q];
        let a7 = a[i7 * kq + q];
        let bl0 = b[(4u * q + 0u) * nq + b0];
        let bh0 = b[(4u * q + 0u) * nq + b1];
        let bl1 = b[(4u * q + 1u) * nq + b0];
        let bh1 = b[(4u * q + 1u) * nq + b1];
        let bl2 = b[(4u * q + 2u) * nq + b0];
        let bh2 = b[(4u * q + 2u) * nq + b1];
        let bl3 = b[(4u * q + 3u) * nq + b0];
        let bh3 = b[(4u * q + 3u) * nq + b1];
        lo0 = lo0 + a0[0] * bl0;
        hi0 = hi0 + a0[0] * bh0;
        lo1 = lo1 + a1[0] * bl0;
        hi1 = hi1 + a1[0] * bh0;
        lo2 = lo2 + a2[0] * bl0;
        hi2 = hi2 + a2[0] * bh0;
        lo3 = lo3 + a3[0] * bl0;
        hi3 = hi3 + a3[0] * bh0;
        lo4 = lo4 + a4[0] * bl0;
        hi4 = hi4 + a4[0] * bh0;
        lo5 = lo5 + a5[0] * bl0;
        hi5 = hi5 + a5[0] * bh0;
        lo6 = lo6 + a6[0] * bl0;
        hi6 = hi6 + a6[0] * bh0;
        lo7 = lo7 + a7[0] * bl0;
        hi7 = hi7 + a7[0] * bh0;
        lo0 = lo0 + a0[1] * bl1;
        hi0 = hi0 + a0[1] * bh1;
        lo1 = lo1 + a1[1] * bl1;
        hi1 = hi1 + a1[1] * bh1;
        lo2 = lo2 + a2[1] * bl1;
        hi2 = hi2 + a2[1] * bh1;
        lo3 = lo3 + a3[1] * bl1;
        hi3 = hi3 + a3[1] * bh1;
        lo4 = lo4 + a4[1] * bl1;
        hi4 = hi4 + a4[1] * bh1;
        lo5 = lo5 + a5[1] * bl1;
        hi5 = hi5 + a5[1] * bh1;
        lo6 = lo6 + a6[1] * bl1;
        hi6 = hi6 + a6[1] * bh1;
        lo7 = lo7 + a7[1] * bl1;
        hi7 = hi7 + a7[1] * bh1;
        lo0 = lo0 + a0[2] * bl2;
        hi0 = hi0 + a0[2] * bh2;
        lo1 = lo1 + a1[2] * bl2;
        hi1 = hi1 + a1[2] * bh2;
        lo2 = lo2 + a2[2] * bl2;
        hi2 = hi2 + a2[2] * bh2;
        lo3 = lo3 + a3[2] * bl2;
        hi3 = hi3 + a3[2] * bh2;
        lo4 = lo4 + a4[2] * bl2;
        hi4 = hi4 + a4[2] * bh2;
        lo5 = lo5 + a5[2] * bl2;
        hi5 = hi5 + a5[2] * bh2;
        lo6 = lo6 + a6[2] * bl2;
        hi6 = hi6 + a6[2] * bh2;
        lo7 = lo7 + a7[2] * bl2;
        hi7 = hi7 + a7[2] * bh2;
        lo0 = lo0 + a0[3] * bl3;
        hi0 = hi0 + a0[3] * bh3;
        lo1 = lo1 + a1[3] * bl3;
        hi1 = hi1 + a1[3] * bh3;
        lo2 = lo2 + a2[3] * bl3;
        hi2 = hi2 + a2[3] * bh3;
        lo3 = lo3 + a3[3] * bl3;
        hi3 = hi3 + a3[3] * bh3;
        lo4 = lo4 + a4[3] * bl3;
        hi4 = hi4 + a4[3] * bh3;
        lo5 = lo5 + a5[3] * bl3;
        hi5 = hi5 + a5[3] * bh3;
        lo6 = lo6 + a6[3] * bl3;
        hi6 = hi6 + a6[3] * bh3;
        lo7 = lo7 + a7[3] * bl3;
        hi7 = hi7 + a7[3] * bh3;
    }
    // The sums as an array only now, so that the store (and its epilogue) is compiled once.
    let sums = array<vec4<f32>, 16>(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, lo4, hi4, lo5, hi5, lo6, hi6, lo7, hi7);
    for (var r = 0u; r < 8u; r++) { store2(row0 + r, q0, sums[2u * r], sums[2u * r + 1u]); }
}

// C = Aᵀ · B; A stored (k, m), B (k, n).
@compute @workgroup_size(8, 1, 1)
fn vstrip_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let row0 = wg.y * 8u;
    let q0 = (wg.x * 8u + lane) * 2u;   // first vec4 column group of C
    let nq = params.n / 4u;
    let kq = params.k / 4u;
    let mq = params.m / 4u;
    let b0 = min(q0, nq - 1u);
    let b1 = min(q0 + 1u, nq - 1u);
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
    let rq0 = min(row0 / 4u, mq - 1u);
    let rq1 = min(row0 / 4u + 1u, mq - 1u);
    for (var kk = 0u; kk < params.k; kk++) {
        let a0 = a[kk * mq + rq0];
        let a1 = a[kk * mq + rq1];
        let bl = b[kk * nq + b0];
        let bh = b[kk * nq + b1];
        lo0 = lo0 + a0[0] * bl;
        hi0 = hi0 + a0[0] * bh;
        lo1 = lo1 + a0[1] * bl;
        hi1 = hi1 + a0[1] * bh;
        lo2 = lo2 + a0[2] * bl;
        hi2 = hi2 + a0[2] * bh;
        lo3 = lo3 + a0[3] * bl;
        hi3 = hi3 + a0[3] * bh;
        lo4 = lo4 + a1[0] * bl;
        hi4 = hi4 + a1[0] * bh;
        lo5 = lo5 + a1[1] * bl;
        hi5 = hi5 + a1[1] * bh;
        lo6 = lo6 + a1[2] * bl;
        hi6 = hi6 + a1[2] * bh;
        lo7 = lo7 + a1[3] * bl;
        hi7 = hi7 + a1[3] * bh;
    }
    // The sums as an array only now, so that the store (and its epilogue) is compiled once.
    let sums = array<vec4<f32>, 16>(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, lo4, hi4, lo5, hi5, lo6, hi6, lo7, hi7);
    for (var r = 0u; r < 8u; r++) { store2(row0 + r, q0, sums[2u * r], sums[2u * r + 1u]); }
}

// C = A · Bᵀ; A (m, k), B stored (n, k).
@compute @workgroup_size(8, 1, 1)
fn vstrip_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let row0 = wg.y * 8u;
    let q0 = (wg.x * 8u + lane) * 2u;   // first vec4 column group of C
    let nq = params.n / 4u;
    let kq = params.k / 4u;
    let mq = params.m / 4u;
    let b0 = min(q0, nq - 1u);
    let b1 = min(q0 + 1u, nq - 1u);
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
    let i0 = min(row0 + 0u, params.m - 1u);
    let i1 = min(row0 + 1u, params.m - 1u);
    let i2 = min(row0 + 2u, params.m - 1u);
    let i3 = min(row0 + 3u, params.m - 1u);
    let i4 = min(row0 + 4u, params.m - 1u);
    let i5 = min(row0 + 5u, params.m - 1u);
    let i6 = min(row0 + 6u, params.m - 1u);
    let i7 = min(row0 + 7u, params.m - 1u);
    let j0 = min(q0 * 4u + 0u, params.n - 1u);
    let j1 = min(q0 * 4u + 1u, params.n - 1u);
    let j2 = min(q0 * 4u + 2u, params.n - 1u);
    let j3 = min(q0 * 4u + 3u, params.n - 1u);
    let j4 = min(q0 * 4u + 4u, params.n - 1u);
    let j5 = min(q0 * 4u + 5u, params.n - 1u);
    let j6 = min(q0 * 4u + 6u, params.n - 1u);
    let j7 = min(q0 * 4u + 7u, params.n - 1u);
    for (var q = 0u; q < kq; q++) {
        let a0 = a[i0 * kq + q];
        let a1 = a[i1 * kq + q];
        let a2 = a[i2 * kq + q];
        let a3 = a[i3 * kq + q];
        let a4 = a[i4 * kq + q];
        let a5 = a[i5 * kq + q];
        let a6 = a[i6 * kq + q];
        let a7 = a[i7 * kq + q];
        let w0 = b[j0 * kq + q];   // column j0 of Bᵀ at k 4q..4q+4
        let w1 = b[j1 * kq + q];   // column j1 of Bᵀ at k 4q..4q+4
        let w2 = b[j2 * kq + q];   // column j2 of Bᵀ at k 4q..4q+4
        let w3 = b[j3 * kq + q];   // column j3 of Bᵀ at k 4q..4q+4
        let w4 = b[j4 * kq + q];   // column j4 of Bᵀ at k 4q..4q+4
        let w5 = b[j5 * kq + q];   // column j5 of Bᵀ at k 4q..4q+4
        let w6 = b[j6 * kq + q];   // column j6 of Bᵀ at k 4q..4q+4
        let w7 = b[j7 * kq + q];   // column j7 of Bᵀ at k 4q..4q+4
        let bl0 = vec4<f32>(w0[0], w1[0], w2[0], w3[0]);
        let bh0 = vec4<f32>(w4[0], w5[0], w6[0], w7[0]);
        let bl1 = vec4<f32>(w0[1], w1[1], w2[1], w3[1]);
        let bh1 = vec4<f32>(w4[1], w5[1], w6[1], w7[1]);
        let bl2 = vec4<f32>(w0[2], w1[2], w2[2], w3[2]);
        let bh2 = vec4<f32>(w4[2], w5[2], w6[2], w7[2]);
        let bl3 = vec4<f32>(w0[3], w1[3], w2[3], w3[3]);
        let bh3 = vec4<f32>(w4[3], w5[3], w6[3], w7[3]);
        lo0 = lo0 + a0[0] * bl0;
        hi0 = hi0 + a0[0] * bh0;
        lo1 = lo1 + a1[0] * bl0;
        hi1 = hi1 + a1[0] * bh0;
        lo2 = lo2 + a2[0] * bl0;
        hi2 = hi2 + a2[0] * bh0;
        lo3 = lo3 + a3[0] * bl0;
        hi3 = hi3 + a3[0] * bh0;
        lo4 = lo4 + a4[0] * bl0;
        hi4 = hi4 + a4[0] * bh0;
        lo5 = lo5 + a5[0] * bl0;
        hi5 = hi5 + a5[0] * bh0;
        lo6 = lo6 + a6[0] * bl0;
        hi6 = hi6 + a6[0] * bh0;
        lo7 = lo7 + a7[0] * bl0;
        hi7 = hi7 + a7[0] * bh0;
        lo0 = lo0 + a0[1] * bl1;
        hi0 = hi0 + a0[1] * bh1;
        lo1 = lo1 + a1[1] * bl1;
        hi1 = hi1 + a1[1] * bh1;
        lo2 = lo2 + a2[1] * bl1;
        hi2 = hi2 + a2[1] * bh1;
        lo3 = lo3 + a3[1] * bl1;
        hi3 = hi3 + a3[1] * bh1;
        lo4 = lo4 + a4[1] * bl1;
        hi4 = hi4 + a4[1] * bh1;
        lo5 = lo5 + a5[1] * bl1;
        hi5 = hi5 + a5[1] * bh1;
        lo6 = lo6 + a6[1] * bl1;
        hi6 = hi6 + a6[1] * bh1;
        lo7 = lo7 + a7[1] * bl1;
        hi7 = hi7 + a7[1] * bh1;
        lo0 = lo0 + a0[2] * bl2;
        hi0 = hi0 + a0[2] * bh2;
        lo1 = lo1 + a1[2] * bl2;
        hi1 = hi1 + a1[2] * bh2;
        lo2 = lo2 + a2[2] * bl2;
        hi2 = hi2 + a2[2] * bh2;
        lo3 = lo3 + a3[2] * bl2;
        hi3 = hi3 + a3[2] * bh2;
        lo4 = lo4 + a4[2] * bl2;
        hi4 = hi4 + a4[2] * bh2;
        lo5 = lo5 + a5[2] * bl2;
        hi5 = hi5 + a5[2] * bh2;
        lo6 = lo6 + a6[2] * bl2;
        hi6 = hi6 + a6[2] * bh2;
        lo7 = lo7 + a7[2] * bl2;
        hi7 = hi7 + a7[2] * bh2;
        lo0 = lo0 + a0[3] * bl3;
        hi0 = hi0 + a0[3] * bh3;
        lo1 = lo1 + a1[3] * bl3;
        hi1 = hi1 + a1[3] * bh3;
        lo2 = lo2 + a2[3] * bl3;
        hi2 = hi2 + a2[3] * bh3;
        lo3 = lo3 + a3[3] * bl3;
        hi3 = hi3 + a3[3] * bh3;
        lo4 = lo4 + a4[3] * bl3;
        hi4 = hi4 + a4[3] * bh3;
        lo5 = lo5 + a5[3] * bl3;
        hi5 = hi5 + a5[3] * bh3;
        lo6 = lo6 + a6[3] * bl3;
        hi6 = hi6 + a6[3] * bh3;
        lo7 = lo7 + a7[3] * bl3;
        hi7 = hi7 + a7[3] * bh3;
    }
    // The sums as an array only now, so that the store (and its epilogue) is compiled once.
    let sums = array<vec4<f32>, 16>(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, lo4, hi4, lo5, hi5, lo6, hi6, lo7, hi7);
    for (var r = 0u; r < 8u; r++) { store2(row0 + r, q0, sums[2u * r], sums[2u * r + 1u]); }
}
