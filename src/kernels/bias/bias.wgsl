// Bias add and bias gradient for a dense layer. z, dz: (rows, cols), b, db: (cols).

struct BiasParams {
    rows: u32,
    cols: u32,
    db_model: u32,   // bias_grad: floats from one model's db to the next's (grid z = model)
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: BiasParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// z[r, j] += b[j]. src = b: (cols), dst = z: (rows, cols).
@compute @workgroup_size(256, 1, 1)
fn bias_add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.rows * params.cols) { return; }
    dst[i] = dst[i] + src[i % params.cols];
}

// db[j] = Σ_r dz[r, j], summed in row order by one thread per column (no atomics, reproducible);
// for each model z (grid z) side by side.
// src = dz: (models, rows, cols), dst = db: (models, db_model), each model's first cols.
@compute @workgroup_size(64, 1, 1)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= params.cols) { return; }
    let base = gid.z * params.rows * params.cols;
    var acc = 0.0;
    for (var r = 0u; r < params.rows; r++) {
        acc = acc + src[base + r * params.cols + j];
    }
    dst[gid.z * params.db_model + j] = acc;
}
