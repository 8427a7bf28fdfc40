// The tiled variant: the three dense-layer products of block4.wgsl (same forms, same C, same k order), tiled
// through workgroup memory as GPUs like it: a workgroup of 16×16 threads owns a 64×64 tile of
// C and walks k in slabs of 16. For each slab the threads copy A's 64×16 and B's 16×64 blocks
// into workgroup memory together (neighbouring threads reading neighbouring addresses), wait
// at a barrier, and each thread accumulates its 4×4 outputs from there: every value read from
// device memory feeds 64 multiply-adds across the workgroup. Rows are ly·4 + r, columns
// lx + 16·s, so a row of threads reads consecutive words of the B slab and one word of the A
// slab. Edges are clamped for loading and skipped for storing; the k loop stops at k, so the
// sum runs over kk = 0..k in order, exactly like the CPU reference.

// Parameters, bindings and finish(): io.wgsl, between the prelude and this file.

const SIDE: u32 = 16u;   // threads per workgroup side
const TILE: u32 = 64u;   // rows and columns of C per workgroup
const BK: u32 = 16u;     // k per slab
const PER: u32 = 4u;     // rows and columns of C per thread

var<workgroup> a_slab: array<f32, 1024>;   // (BK, TILE): a_slab[kk * TILE + row]
var<workgroup> b_slab: array<f32, 1024>;   // (BK, TILE): b_slab[kk * TILE + col]

fn load_a(i: u32, kk: u32, transposed: bool) -> f32 {
    let row = min(i, params.m - 1u);
    if (transposed) { return a[za + kk * params.m + row]; }
    return a[za + row * params.k + kk];
}

fn load_b(kk: u32, j: u32, transposed: bool) -> f32 {
    let col = min(j, params.n - 1u);
    if (transposed) { return b[zb + col * params.k + kk]; }
    return b[zb + kk * params.n + col];
}

fn product(wg: vec3<u32>, lid: vec3<u32>, a_t: bool, b_t: bool) {
    let tid = lid.y * SIDE + lid.x;
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    var acc: array<vec4<f32>, 4>;   // acc[r][s]: row ly·4 + r, column lx + 16·s
    for (var k0 = 0u; k0 < params.k; k0 += BK) {
        let depth = min(BK, params.k - k0);
        // 1024 words of each slab, 4 per thread; the index order follows the operand's
        // layout so neighbouring threads read neighbouring words.
        for (var q = 0u; q < 4u; q++) {
            let e = tid + 256u * q;
            var kk: u32;
            var i: u32;
            if (a_t) { kk = e / TILE; i = e % TILE; } else { i = e / BK; kk = e % BK; }
            a_slab[kk * TILE + i] = load_a(row0 + i, min(k0 + kk, params.k - 1u), a_t);
            var j: u32;
            if (b_t) { j = e / BK; kk = e % BK; } else { kk = e / TILE; j = e % TILE; }
            b_slab[kk * TILE + j] = load_b(min(k0 + kk, params.k - 1u), col0 + j, b_t);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < depth; kk++) {
            let bv = vec4<f32>(
                b_slab[kk * TILE + lid.x],
                b_slab[kk * TILE + lid.x + 16u],
                b_slab[kk * TILE + lid.x + 32u],
                b_slab[kk * TILE + lid.x + 48u],
            );
            for (var r = 0u; r < PER; r++) {
                acc[r] = acc[r] + a_slab[kk * TILE + lid.y * PER + r] * bv;
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < PER; r++) {
        let i = row0 + lid.y * PER + r;
        if (i >= params.m) { return; }
        for (var s = 0u; s < PER; s++) {
            let j = col0 + lid.x + SIDE * s;
            if (j < params.n) { c[zc + i * params.n + j] = finish(acc[r][s], j); }
        }
    }
}

@compute @workgroup_size(16, 16, 1)
fn tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    product(wg, lid, false, false);
}

@compute @workgroup_size(16, 16, 1)
fn tiled_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    product(wg, lid, true, false);
}

@compute @workgroup_size(16, 16, 1)
fn tiled_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    product(wg, lid, false, true);
}
