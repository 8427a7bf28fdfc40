// The single variant (uses: the prelude's flat_index; io.wgsl for the parameters, bindings,
// finish(), a_n and a_t).
// One output per thread over the flat m×n grid, k in order: for products with few outputs and
// a long k (the weight gradient of a narrow layer over a big batch), where an 8×8 block of
// threads would mostly compute clamped copies of the same few outputs.
fn product(i: u32, a_transposed: bool, b_transposed: bool) {
    if (i >= params.m * params.n) { return; }
    let row = i / params.n;
    let col = i % params.n;
    var acc = 0.0;
    for (var kk = 0u; kk < params.k; kk++) {
        var av: f32;
        var bv: f32;
        if (a_transposed) { av = a_t(row, kk); } else { av = a_n(row, kk); }
        if (b_transposed) { bv = b[zb + col * params.k + kk]; } else { bv = b[zb + kk * params.n + col]; }
        acc = acc + av * bv;
    }
    c[zc + i] = finish(acc, col);
}

@compute @workgroup_size(256, 1, 1)
fn single(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    product(flat_index(wg, nwg, lid), false, false);
}

@compute @workgroup_size(256, 1, 1)
fn single_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    product(flat_index(wg, nwg, lid), true, false);
}

@compute @workgroup_size(256, 1, 1)
fn single_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
    enter_model(wg.z);
    product(flat_index(wg, nwg, lid), false, true);
}
