// The block8 variant: the three dense-layer products of block4.wgsl (same forms, same C, same k order), blocked
// wider for CPU drivers: a workgroup of 8×8 threads owns a 64×64 tile of C and each thread
// keeps an 8×8 block of accumulators (8 rows × two vec4 of 4 consecutive columns), so every
// value loaded feeds 8 multiply-adds. No workgroup memory. Edges are clamped for loading and
// skipped for storing.

// Parameters, bindings and finish(): io.wgsl, between the prelude and this file.

const WG: u32 = 8u;   // threads per workgroup side
const TM: u32 = 8u;   // rows of C per thread
const TN: u32 = 8u;   // columns of C per thread (two vec4)

struct Acc {
    lo: array<vec4<f32>, 8>,   // columns col0 + 0..4 of each row
    hi: array<vec4<f32>, 8>,   // columns col0 + 4..8
}

fn clamp_row(i: u32) -> u32 { return min(i, params.m - 1u); }
fn clamp_col(j: u32) -> u32 { return min(j, params.n - 1u); }

fn store(row0: u32, col0: u32, acc: Acc) {
    for (var r = 0u; r < TM; r++) {
        let i = row0 + r;
        if (i >= params.m) { return; }
        let at = i * params.n;
        for (var s = 0u; s < 4u; s++) {
            if (col0 + s < params.n) { c[zc + at + col0 + s] = finish(acc.lo[r][s], col0 + s); }
            if (col0 + 4u + s < params.n) {
                c[zc + at + col0 + 4u + s] = finish(acc.hi[r][s], col0 + 4u + s);
            }
        }
    }
}

// B(kk, col0 + 0..8) as two vec4; `transposed` reads B stored (n, k).
fn load_b(kk: u32, col0: u32, transposed: bool) -> array<vec4<f32>, 2> {
    var out: array<vec4<f32>, 2>;
    for (var h = 0u; h < 2u; h++) {
        var v: vec4<f32>;
        for (var s = 0u; s < 4u; s++) {
            let j = clamp_col(col0 + 4u * h + s);
            v[s] = select(b[zb + kk * params.n + j], b[zb + j * params.k + kk], transposed);
        }
        out[h] = v;
    }
    return out;
}

// A(row0 + 0..8, kk); `transposed` reads A stored (k, m).
fn load_a(row0: u32, kk: u32, transposed: bool) -> array<f32, 8> {
    var out: array<f32, 8>;
    for (var r = 0u; r < TM; r++) {
        let i = clamp_row(row0 + r);
        out[r] = select(a[za + i * params.k + kk], a[za + kk * params.m + i], transposed);
    }
    return out;
}

fn product(wg: vec3<u32>, lid: vec3<u32>, a_t: bool, b_t: bool) {
    let row0 = (wg.y * WG + lid.y) * TM;
    let col0 = (wg.x * WG + lid.x) * TN;
    var acc: Acc;
    for (var kk = 0u; kk < params.k; kk++) {
        let av = load_a(row0, kk, a_t);
        let bv = load_b(kk, col0, b_t);
        for (var r = 0u; r < TM; r++) {
            acc.lo[r] = acc.lo[r] + av[r] * bv[0];
            acc.hi[r] = acc.hi[r] + av[r] * bv[1];
        }
    }
    store(row0, col0, acc);
}

@compute @workgroup_size(8, 8, 1)
fn block8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    product(wg, lid, false, false);
}

@compute @workgroup_size(8, 8, 1)
fn block8_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    product(wg, lid, true, false);
}

@compute @workgroup_size(8, 8, 1)
fn block8_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    product(wg, lid, false, true);
}
