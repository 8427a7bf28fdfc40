// Gathers one mini-batch of each model (one layer of the grid, z, a model) from the training
// rows, which stay on the GPU for the whole fit. With step = steps[z]:
//   x[z, r, c] = x_all[order[step.row_offset + r], c]    x: (models, rows, cols), x_all: (n, cols)
//   y[z, r, c] = y_all[order[step.row_offset + r], c]    y: (models, rows, y_cols), y_all: (n, y_cols)
// for r < step.rows; the rows after (a shorter last batch, or a model waiting) are zeros, so
// they add nothing to the sums of the backward pass (their weight, y's last column, is 0).
// order: the shuffled row orders of the epochs in flight, (≥ step.row_offset + step.rows).
//
// Rows shared by several models (the folds of a cross-validation, src/data/prep/shared.rs)
// are read through the step's row map at step.map_at in x_all (RowMap::packed's layout, the
// same as the wide fused kernel's): per input a shift, a scale and a fill, then the regression
// target's shift and scale, then a weight per class. y's last column is the row's weight.
// (uses: the prelude's flat_index, map_input, Step)

struct GatherParams {
    rows: u32,
    cols: u32,
    y_cols: u32,
    loss: u32,          // 0 bce, 1 softmax_ce, 2 mse: how a map reads targets and weights
    missing_bits: u32,  // the bits of a shared row's missing cell (MISSING_BITS)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: GatherParams;
@group(0) @binding(1) var<storage, read> steps: array<Step>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> x_all: array<f32>;
@group(0) @binding(4) var<storage, read> y_all: array<f32>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

const NO_MAP: u32 = 0xffffffffu;

// Input c of shared row src as the model whose map starts at map_at reads it.
fn input_of(src: u32, c: u32, map_at: u32) -> f32 {
    let v = x_all[src * params.cols + c];
    if (map_at == NO_MAP) { return v; }
    let n = params.cols;
    return map_input(v, x_all[map_at + c], x_all[map_at + n + c], x_all[map_at + 2u * n + c],
                     bitcast<u32>(v) == params.missing_bits);
}

// Column c of row src's targets (its weight, the last) as that model reads it.
fn target_of(src: u32, c: u32, map_at: u32) -> f32 {
    let v = y_all[src * params.y_cols + c];
    if (map_at == NO_MAP) { return v; }
    let outputs = params.y_cols - 1u;
    let at = map_at + 3u * params.cols;
    if (c < outputs) {
        if (params.loss == 2u) { return map_input(v, x_all[at], x_all[at + 1u], 0.0, false); }
        return v;
    }
    // The weight: the row's class weight (chosen by its targets) times its own.
    let t = src * params.y_cols;
    var class_w = x_all[at + 2u];
    if (params.loss == 0u) {
        class_w = select(class_w, x_all[at + 3u], y_all[t] > 0.5);
    } else if (params.loss == 1u) {
        for (var k = 1u; k < outputs; k++) {
            class_w = select(class_w, x_all[at + 2u + k], y_all[t + k] > 0.5);
        }
    }
    return class_w * v;
}

// One thread per element of a model's x; the first rows × y_cols threads also copy y.
@compute @workgroup_size(256, 1, 1)
fn gather(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let step = steps[wg.z];
    let i = flat_index(wg, nwg, lid);
    let xn = params.rows * params.cols;
    if (i < xn) {
        let r = i / params.cols;
        var v = 0.0;
        if (r < step.rows) { v = input_of(order[step.row_offset + r], i % params.cols, step.map_at); }
        x[wg.z * xn + i] = v;
    }
    let yn = params.rows * params.y_cols;
    if (i < yn) {
        let r = i / params.y_cols;
        var v = 0.0;
        if (r < step.rows) { v = target_of(order[step.row_offset + r], i % params.y_cols, step.map_at); }
        y[wg.z * yn + i] = v;
    }
}
