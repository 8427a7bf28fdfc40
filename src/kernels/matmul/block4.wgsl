// The block4 variant (uses: the prelude; io.wgsl for the parameters, bindings, finish(), a_n and
// a_t). Dense-layer matrix products, f32, row-major, in the three forms a layer needs:
//   matmul     C = A · B        forward     Z  = X · W      A = X:  (m, k), B = W:  (k, n)
//   matmul_tn  C = Aᵀ · B       weight grad dW = Xᵀ · dZ    A = X:  (k, m), B = dZ: (k, n)
//   matmul_nt  C = A · Bᵀ       input grad  dX = dZ · Wᵀ    A = dZ: (m, k), B = W:  (n, k)
// C: (m, n). No transpose is ever materialised: the transposed operand is read with swapped strides.
//
// Register blocking: a workgroup of 8×8 threads owns a 32×32 tile of C and each thread keeps
// 4×4 accumulators in registers (4 rows × 4 columns 8 apart). No workgroup memory: barriers are
// costly on CPU drivers. (Faster variants per adapter are the benchmark issue's work.)
// Rows and columns past the edge are clamped for loading and skipped for storing, so any shape works.
// The k loop runs in order 0..k with `acc += a*b`, exactly like the CPU reference (reference.rs).


const WG: u32 = 8u;   // threads per workgroup side
const TM: u32 = 4u;   // rows of C per thread
const TN: u32 = 4u;   // columns of C per thread (one vec4)

// B(kk, j) for this thread's four columns j, untransposed operand stored (k, n).
fn b_n(kk: u32, j: vec4<u32>) -> vec4<f32> {
    let row = kk * params.n;
    return vec4<f32>(b[zb + row + j.x], b[zb + row + j.y], b[zb + row + j.z], b[zb + row + j.w]);
}
// B(kk, j) for this thread's four columns j, where B is stored transposed, (n, k).
fn b_t(kk: u32, j: vec4<u32>) -> vec4<f32> {
    let k = params.k;
    return vec4<f32>(b[zb + j.x * k + kk], b[zb + j.y * k + kk], b[zb + j.z * k + kk], b[zb + j.w * k + kk]);
}

// This thread's outputs: rows row0 + 0..4 (consecutive) and columns col0 + 8·s for s in 0..4
// (strided by the workgroup width), so that neighbouring threads touch neighbouring columns:
// loads of B are contiguous across threads and loads of A are shared by a row of threads.
struct Block {
    row0: u32,
    col0: u32,
    rows: vec4<u32>,   // clamped row indices to load from
    cols: vec4<u32>,   // clamped column indices to load from
}

fn block(wg: vec3<u32>, lid: vec3<u32>) -> Block {
    let row0 = wg.y * WG * TM + lid.y * TM;
    let col0 = wg.x * WG * TN + lid.x;
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
    let rows = min(vec4<u32>(row0, row0 + 1u, row0 + 2u, row0 + 3u), vec4<u32>(last_row));
    let cols = min(vec4<u32>(col0, col0 + WG, col0 + 2u * WG, col0 + 3u * WG), vec4<u32>(last_col));
    return Block(row0, col0, rows, cols);
}

// Writes one row of this thread's block, skipping columns past n.
fn store_row(blk: Block, r: u32, row: vec4<f32>) {
    let i = blk.row0 + r;
    if (i >= params.m) { return; }
    let at = i * params.n + blk.col0;
    for (var s = 0u; s < TN; s++) {
        if (blk.col0 + s * WG < params.n) { c[zc + at + s * WG] = finish(row[s], blk.col0 + s * WG); }
    }
}

// Four named accumulators rather than an array: a dynamically indexed array would live in
// memory instead of registers on some compilers.
fn store(blk: Block, acc0: vec4<f32>, acc1: vec4<f32>, acc2: vec4<f32>, acc3: vec4<f32>) {
    store_row(blk, 0u, acc0);
    store_row(blk, 1u, acc1);
    store_row(blk, 2u, acc2);
    store_row(blk, 3u, acc3);
}

@compute @workgroup_size(8, 8, 1)
fn block4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    let blk = block(wg, lid);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var kk = 0u; kk < params.k; kk++) {
        let bv = b_n(kk, blk.cols);
        acc0 = acc0 + a_n(blk.rows.x, kk) * bv;
        acc1 = acc1 + a_n(blk.rows.y, kk) * bv;
        acc2 = acc2 + a_n(blk.rows.z, kk) * bv;
        acc3 = acc3 + a_n(blk.rows.w, kk) * bv;
    }
    store(blk, acc0, acc1, acc2, acc3);
}

@compute @workgroup_size(8, 8, 1)
fn block4_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    let blk = block(wg, lid);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var kk = 0u; kk < params.k; kk++) {
        let bv = b_n(kk, blk.cols);
        acc0 = acc0 + a_t(blk.rows.x, kk) * bv;
        acc1 = acc1 + a_t(blk.rows.y, kk) * bv;
        acc2 = acc2 + a_t(blk.rows.z, kk) * bv;
        acc3 = acc3 + a_t(blk.rows.w, kk) * bv;
    }
    store(blk, acc0, acc1, acc2, acc3);
}

@compute @workgroup_size(8, 8, 1)
fn block4_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    let blk = block(wg, lid);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var kk = 0u; kk < params.k; kk++) {
        let bv = b_t(kk, blk.cols);
        acc0 = acc0 + a_n(blk.rows.x, kk) * bv;
        acc1 = acc1 + a_n(blk.rows.y, kk) * bv;
        acc2 = acc2 + a_n(blk.rows.z, kk) * bv;
        acc3 = acc3 + a_n(blk.rows.w, kk) * bv;
    }
    store(blk, acc0, acc1, acc2, acc3);
}
