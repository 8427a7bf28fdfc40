// The packed variant: the three dense-layer products of block4.wgsl (same forms, same C, same k order), reading
// and writing whole vec4s: for shapes whose m, n and k are multiples of 4. On CPU drivers
// every load costs far more than a multiply-add, so each load here brings 4 values and each
// thread keeps an 8×8 block of C (8 rows × two vec4 of columns): a workgroup of 8×8 threads
// owns a 64×64 tile. Rows and column groups past the edge are clamped for loading and skipped
// for storing. The k loop runs 0..k in order with acc += a·b, like the CPU reference.

// Parameters, bindings and finish(): io_vec4.wgsl, between the prelude and this file.

const WG: u32 = 8u;   // threads per workgroup side
const TM: u32 = 8u;   // rows of C per thread
const TQ: u32 = 2u;   // vec4 column groups of C per thread

struct Block {
    row0: u32,   // first row of C
    colq0: u32,  // first vec4 column group of C
}

fn block(wg: vec3<u32>, lid: vec3<u32>) -> Block {
    return Block((wg.y * WG + lid.y) * TM, (wg.x * WG + lid.x) * TQ);
}

fn row_at(blk: Block, r: u32) -> u32 { return min(blk.row0 + r, params.m - 1u); }
fn colq_at(blk: Block, h: u32) -> u32 { return min(blk.colq0 + h, params.n / 4u - 1u); }

fn store(blk: Block, acc: array<vec4<f32>, 16>) {
    let nq = params.n / 4u;
    for (var r = 0u; r < TM; r++) {
        let i = blk.row0 + r;
        if (i >= params.m) { return; }
        for (var h = 0u; h < TQ; h++) {
            if (blk.colq0 + h < nq) {
                c[zc + i * nq + blk.colq0 + h] = finish(acc[r * TQ + h], blk.colq0 + h);
            }
        }
    }
}

// C = A · B; A (m, k), B (k, n).
@compute @workgroup_size(8, 8, 1)
fn packed(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    let blk = block(wg, lid);
    let kq = params.k / 4u;
    let nq = params.n / 4u;
    var acc: array<vec4<f32>, 16>;
    for (var q = 0u; q < kq; q++) {
        var av: array<vec4<f32>, 8>;    // A(row r, 4q..4q+4)
        for (var r = 0u; r < TM; r++) { av[r] = a[za + row_at(blk, r) * kq + q]; }
        var bv: array<vec4<f32>, 8>;    // B(4q + s, column group h) at s * TQ + h
        for (var s = 0u; s < 4u; s++) {
            for (var h = 0u; h < TQ; h++) { bv[s * TQ + h] = b[zb + (4u * q + s) * nq + colq_at(blk, h)]; }
        }
        for (var s = 0u; s < 4u; s++) {
            for (var r = 0u; r < TM; r++) {
                for (var h = 0u; h < TQ; h++) {
                    acc[r * TQ + h] = acc[r * TQ + h] + av[r][s] * bv[s * TQ + h];
                }
            }
        }
    }
    store(blk, acc);
}

// C = Aᵀ · B; A stored (k, m), B (k, n).
@compute @workgroup_size(8, 8, 1)
fn packed_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    let blk = block(wg, lid);
    let mq = params.m / 4u;
    let nq = params.n / 4u;
    // The thread's 8 rows are two vec4 groups of A's columns (rows past m are clamped).
    let rq0 = min(blk.row0 / 4u, mq - 1u);
    let rq1 = min(blk.row0 / 4u + 1u, mq - 1u);
    var acc: array<vec4<f32>, 16>;
    for (var kk = 0u; kk < params.k; kk++) {
        let a0 = a[za + kk * mq + rq0];
        let a1 = a[za + kk * mq + rq1];
        var bv: array<vec4<f32>, 2>;
        for (var h = 0u; h < TQ; h++) { bv[h] = b[zb + kk * nq + colq_at(blk, h)]; }
        for (var h = 0u; h < TQ; h++) {
            for (var r = 0u; r < 4u; r++) {
                acc[r * TQ + h] = acc[r * TQ + h] + a0[r] * bv[h];
                acc[(r + 4u) * TQ + h] = acc[(r + 4u) * TQ + h] + a1[r] * bv[h];
            }
        }
    }
    store(blk, acc);
}

// C = A · Bᵀ; A (m, k), B stored (n, k).
@compute @workgroup_size(8, 8, 1)
fn packed_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    let blk = block(wg, lid);
    let kq = params.k / 4u;
    let last_col = params.n - 1u;
    var acc: array<vec4<f32>, 16>;
    for (var q = 0u; q < kq; q++) {
        var av: array<vec4<f32>, 8>;    // A(row r, 4q..4q+4)
        for (var r = 0u; r < TM; r++) { av[r] = a[za + row_at(blk, r) * kq + q]; }
        var bw: array<vec4<f32>, 8>;    // B stored row j = column j of Bᵀ, at 4q..4q+4
        for (var j = 0u; j < 8u; j++) { bw[j] = b[zb + min(blk.colq0 * 4u + j, last_col) * kq + q]; }
        for (var s = 0u; s < 4u; s++) {
            let b0 = vec4<f32>(bw[0][s], bw[1][s], bw[2][s], bw[3][s]);
            let b1 = vec4<f32>(bw[4][s], bw[5][s], bw[6][s], bw[7][s]);
            for (var r = 0u; r < TM; r++) {
                acc[r * TQ] = acc[r * TQ] + av[r][s] * b0;
                acc[r * TQ + 1u] = acc[r * TQ + 1u] + av[r][s] * b1;
            }
        }
    }
    store(blk, acc);
}
