// Gathers one mini-batch from the training set, which stays on the GPU for the whole fit.
//   x[r, c] = x_all[order[step.row_offset + r], c]     x: (rows, cols), x_all: (n, cols)
//   y[r, c] = y_all[order[step.row_offset + r], c]     y: (rows, y_cols), y_all: (n, y_cols)
// order: the shuffled row order of the epoch(s) in flight, (≥ step.row_offset + rows).

struct GatherParams {
    rows: u32,
    cols: u32,
    y_cols: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: GatherParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> x_all: array<f32>;
@group(0) @binding(4) var<storage, read> y_all: array<f32>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

// One thread per element of x; the first rows × y_cols threads also copy y.
@compute @workgroup_size(256, 1, 1)
fn gather(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i < params.rows * params.cols) {
        let src = order[step.row_offset + i / params.cols];
        x[i] = x_all[src * params.cols + i % params.cols];
    }
    if (i < params.rows * params.y_cols) {
        let src = order[step.row_offset + i / params.y_cols];
        y[i] = y_all[src * params.y_cols + i % params.y_cols];
    }
}
