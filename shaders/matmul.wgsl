// Dense-layer matrix products, f32, row-major, in the three forms a layer needs:
//   matmul     C = A · B        forward     Z  = X · W      A = X:  (m, k), B = W:  (k, n)
//   matmul_tn  C = Aᵀ · B       weight grad dW = Xᵀ · dZ    A = X:  (k, m), B = dZ: (k, n)
//   matmul_nt  C = A · Bᵀ       input grad  dX = dZ · Wᵀ    A = dZ: (m, k), B = W:  (n, k)
// C: (m, n). No transpose is ever materialised: the transposed operand is read with swapped strides.
//
// Register blocking: a workgroup of 8×8 threads owns a 32×32 tile of C and each thread keeps a
// 4×4 block of accumulators in registers. No workgroup memory: barriers are costly on CPU drivers.
// Rows and columns past the edge are clamped for loading and skipped for storing, so any shape works.
// The k loop runs in order 0..k with `acc += a*b`, exactly like the CPU reference (src/cpu/matmul.rs).

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const WG: u32 = 8u;   // threads per workgroup side
const TM: u32 = 4u;   // rows of C per thread
const TN: u32 = 4u;   // columns of C per thread (one vec4)

// A(i, kk) of the untransposed operand, stored (m, k).
fn a_n(i: u32, kk: u32) -> f32 { return a[i * params.k + kk]; }
// A(i, kk) where A is stored transposed, (k, m).
fn a_t(i: u32, kk: u32) -> f32 { return a[kk * params.m + i]; }
// B(kk, j..j+4) of the untransposed operand, stored (k, n); columns past n are clamped.
fn b_n(kk: u32, j: vec4<u32>) -> vec4<f32> {
    let row = kk * params.n;
    return vec4<f32>(b[row + j.x], b[row + j.y], b[row + j.z], b[row + j.w]);
}
// B(kk, j..j+4) where B is stored transposed, (n, k).
fn b_t(kk: u32, j: vec4<u32>) -> vec4<f32> {
    let k = params.k;
    return vec4<f32>(b[j.x * k + kk], b[j.y * k + kk], b[j.z * k + kk], b[j.w * k + kk]);
}

// First row and column of this thread's block, and the clamped indices it loads from.
struct Block {
    row0: u32,
    col0: u32,
    rows: vec4<u32>,
    cols: vec4<u32>,
}

fn block(wg: vec3<u32>, lid: vec3<u32>) -> Block {
    let row0 = (wg.y * WG + lid.y) * TM;
    let col0 = (wg.x * WG + lid.x) * TN;
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
    let rows = min(vec4<u32>(row0, row0 + 1u, row0 + 2u, row0 + 3u), vec4<u32>(last_row));
    let cols = min(vec4<u32>(col0, col0 + 1u, col0 + 2u, col0 + 3u), vec4<u32>(last_col));
    return Block(row0, col0, rows, cols);
}

fn store(blk: Block, acc: array<vec4<f32>, 4>) {
    for (var r = 0u; r < TM; r++) {
        let i = blk.row0 + r;
        if (i >= params.m) { break; }
        for (var s = 0u; s < TN; s++) {
            let j = blk.col0 + s;
            if (j < params.n) { c[i * params.n + j] = acc[r][s]; }
        }
    }
}

@compute @workgroup_size(8, 8, 1)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let blk = block(wg, lid);
    var acc: array<vec4<f32>, 4>;
    for (var kk = 0u; kk < params.k; kk++) {
        let bv = b_n(kk, blk.cols);
        acc[0] = acc[0] + a_n(blk.rows.x, kk) * bv;
        acc[1] = acc[1] + a_n(blk.rows.y, kk) * bv;
        acc[2] = acc[2] + a_n(blk.rows.z, kk) * bv;
        acc[3] = acc[3] + a_n(blk.rows.w, kk) * bv;
    }
    store(blk, acc);
}

@compute @workgroup_size(8, 8, 1)
fn matmul_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let blk = block(wg, lid);
    var acc: array<vec4<f32>, 4>;
    for (var kk = 0u; kk < params.k; kk++) {
        let bv = b_n(kk, blk.cols);
        acc[0] = acc[0] + a_t(blk.rows.x, kk) * bv;
        acc[1] = acc[1] + a_t(blk.rows.y, kk) * bv;
        acc[2] = acc[2] + a_t(blk.rows.z, kk) * bv;
        acc[3] = acc[3] + a_t(blk.rows.w, kk) * bv;
    }
    store(blk, acc);
}

@compute @workgroup_size(8, 8, 1)
fn matmul_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let blk = block(wg, lid);
    var acc: array<vec4<f32>, 4>;
    for (var kk = 0u; kk < params.k; kk++) {
        let bv = b_t(kk, blk.cols);
        acc[0] = acc[0] + a_n(blk.rows.x, kk) * bv;
        acc[1] = acc[1] + a_n(blk.rows.y, kk) * bv;
        acc[2] = acc[2] + a_n(blk.rows.z, kk) * bv;
        acc[3] = acc[3] + a_n(blk.rows.w, kk) * bv;
    }
    store(blk, acc);
}
