// The three losses, each computed from the output layer's logits z and a target row t (uses:
// the prelude's flat_index, sigmoid, bce, Step).
// A target row holds the outputs' targets and then the row's weight (1, or its class weight):
//   t: (rows, outputs + 1), t[r, outputs] = w_r.      z, dz: (rows, outputs).
// The batch loss is Σ_r w_r · loss_r / batch and every gradient is that sum's derivative.
//
//   bce         loss_r = Σ_c max(z,0) − z·y + ln(1 + e^(−|z|))   (from logits: never log(0))
//               dz     = w_r (σ(z) − y) / batch
//   softmax_ce  loss_r = Σ_c y_c (lse_r − z_c),  lse_r = m + ln Σ_c e^(z_c − m),  m = max_c z_c
//               dz     = w_r (s_r · softmax(z)_c − y_c) / batch,  s_r = Σ_c y_c (1 for one-hot)
//   mse         loss_r = Σ_c (z − y)² / outputs
//               dz     = 2 w_r (z − y) / (outputs · batch)

struct LossParams {
    rows: u32,
    outputs: u32,
    inv_batch: f32,   // 1 / batch
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: LossParams;
@group(0) @binding(1) var<storage, read> steps: array<Step>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read> t: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// The loss-and-gradient kernels write the batch loss to `out` and the gradient here.
@group(0) @binding(5) var<storage, read_write> dz: array<f32>;

fn target_at(r: u32, c: u32) -> f32 {
    return t[r * (params.outputs + 1u) + c];
}

fn weight_of(r: u32) -> f32 {
    return t[r * (params.outputs + 1u) + params.outputs];
}

fn row_max(r: u32) -> f32 {
    var m = z[r * params.outputs];
    for (var c = 1u; c < params.outputs; c++) {
        m = max(m, z[r * params.outputs + c]);
    }
    return m;
}

// Σ_c e^(z_c − m) of row r.
fn row_exp_sum(r: u32, m: f32) -> f32 {
    var s = 0.0;
    for (var c = 0u; c < params.outputs; c++) {
        s = s + exp(z[r * params.outputs + c] - m);
    }
    return s;
}

fn row_target_sum(r: u32) -> f32 {
    var s = 0.0;
    for (var c = 0u; c < params.outputs; c++) {
        s = s + target_at(r, c);
    }
    return s;
}

fn bce_row(r: u32) -> f32 {
    var acc = 0.0;
    for (var c = 0u; c < params.outputs; c++) {
        acc = acc + bce(z[r * params.outputs + c], target_at(r, c));
    }
    return acc;
}

fn softmax_ce_row(r: u32) -> f32 {
    let m = row_max(r);
    let lse = m + log(row_exp_sum(r, m));
    var acc = 0.0;
    for (var c = 0u; c < params.outputs; c++) {
        acc = acc + target_at(r, c) * (lse - z[r * params.outputs + c]);
    }
    return acc;
}

fn mse_row(r: u32) -> f32 {
    var acc = 0.0;
    for (var c = 0u; c < params.outputs; c++) {
        let d = z[r * params.outputs + c] - target_at(r, c);
        acc = acc + d * d;
    }
    return acc / f32(params.outputs);
}

// ---- gradients: one thread per element of dz; out = dz: (rows, outputs) ----

@compute @workgroup_size(256, 1, 1)
fn bce_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.rows * params.outputs) { return; }
    let r = i / params.outputs;
    let c = i % params.outputs;
    out[i] = weight_of(r) * (sigmoid(z[i]) - target_at(r, c)) * params.inv_batch;
}

@compute @workgroup_size(256, 1, 1)
fn softmax_ce_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.rows * params.outputs) { return; }
    let r = i / params.outputs;
    let c = i % params.outputs;
    let m = row_max(r);
    let p = exp(z[i] - m) / row_exp_sum(r, m);
    out[i] = weight_of(r) * (row_target_sum(r) * p - target_at(r, c)) * params.inv_batch;
}

@compute @workgroup_size(256, 1, 1)
fn mse_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.rows * params.outputs) { return; }
    let r = i / params.outputs;
    let c = i % params.outputs;
    let scale = 2.0 / f32(params.outputs) * params.inv_batch;
    out[i] = weight_of(r) * (z[i] - target_at(r, c)) * scale;
}

// ---- batch losses: out = per-step losses, out[steps[0].loss_slot] = Σ_r w_r loss_r / batch ----
// One workgroup: each thread sums rows at a fixed stride, then a tree halves the partial sums;
// the order never varies, so a run is reproducible.

var<workgroup> partial: array<f32, 256>;

// The workgroup's sum of `acc` times inv_batch into out[slot], unless `store` is false.
fn reduce_and_store(lid: u32, acc: f32, slot: u32, inv_batch: f32, store: bool) {
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            partial[lid] = partial[lid] + partial[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u && store) {
        out[slot] = partial[0] * inv_batch;
    }
}

@compute @workgroup_size(256, 1, 1)
fn bce_loss(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var r = lid.x; r < params.rows; r += 256u) {
        acc = acc + weight_of(r) * bce_row(r);
    }
    reduce_and_store(lid.x, acc, steps[0].loss_slot, params.inv_batch, true);
}

@compute @workgroup_size(256, 1, 1)
fn softmax_ce_loss(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var r = lid.x; r < params.rows; r += 256u) {
        acc = acc + weight_of(r) * softmax_ce_row(r);
    }
    reduce_and_store(lid.x, acc, steps[0].loss_slot, params.inv_batch, true);
}

@compute @workgroup_size(256, 1, 1)
fn mse_loss(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var r = lid.x; r < params.rows; r += 256u) {
        acc = acc + weight_of(r) * mse_row(r);
    }
    reduce_and_store(lid.x, acc, steps[0].loss_slot, params.inv_batch, true);
}

// ---- loss and gradient in one dispatch (the training step's): one workgroup a model (grid
// z), whose batch is its step's rows (steps[z].rows, at most params.rows) and whose rows start
// at row z · params.rows of z, t and dz; each thread takes rows at a fixed stride, writes their
// gradients to dz and adds their losses to its partial sum, then the same tree as above
// reduces the sums. The rows past the batch get a zero gradient. Element for element the
// gradients are those of the *_grad kernels (the same expressions) with batch = step.rows, and
// the loss is that of the *_loss kernels. A step of no rows (a model waiting) stores no loss. ----

// Zeros the gradient of row g (past its model's batch).
fn zero_grad_row(g: u32) {
    for (var c = 0u; c < params.outputs; c++) {
        dz[g * params.outputs + c] = 0.0;
    }
}

@compute @workgroup_size(256, 1, 1)
fn bce_loss_grad(@builtin(workgroup_id) wg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let step = steps[wg.z];
    let inv_batch = 1.0 / f32(step.rows);
    var acc = 0.0;
    for (var rb = lid.x; rb < params.rows; rb += 256u) {
        let r = wg.z * params.rows + rb;
        if (rb >= step.rows) {
            zero_grad_row(r);
            continue;
        }
        let w = weight_of(r);
        acc = acc + w * bce_row(r);
        for (var c = 0u; c < params.outputs; c++) {
            let i = r * params.outputs + c;
            dz[i] = w * (sigmoid(z[i]) - target_at(r, c)) * inv_batch;
        }
    }
    reduce_and_store(lid.x, acc, step.loss_slot, inv_batch, step.rows > 0u);
}

@compute @workgroup_size(256, 1, 1)
fn softmax_ce_loss_grad(@builtin(workgroup_id) wg: vec3<u32>,
                        @builtin(local_invocation_id) lid: vec3<u32>) {
    let step = steps[wg.z];
    let inv_batch = 1.0 / f32(step.rows);
    var acc = 0.0;
    for (var rb = lid.x; rb < params.rows; rb += 256u) {
        let r = wg.z * params.rows + rb;
        if (rb >= step.rows) {
            zero_grad_row(r);
            continue;
        }
        let w = weight_of(r);
        // softmax_ce_row's expressions, with the row's max and exp-sum computed once for the
        // loss and the gradient.
        let m = row_max(r);
        let sum = row_exp_sum(r, m);
        let lse = m + log(sum);
        var row = 0.0;
        for (var c = 0u; c < params.outputs; c++) {
            row = row + target_at(r, c) * (lse - z[r * params.outputs + c]);
        }
        acc = acc + w * row;
        let s = row_target_sum(r);
        for (var c = 0u; c < params.outputs; c++) {
            let i = r * params.outputs + c;
            let p = exp(z[i] - m) / sum;
            dz[i] = w * (s * p - target_at(r, c)) * inv_batch;
        }
    }
    reduce_and_store(lid.x, acc, step.loss_slot, inv_batch, step.rows > 0u);
}

@compute @workgroup_size(256, 1, 1)
fn mse_loss_grad(@builtin(workgroup_id) wg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let step = steps[wg.z];
    let inv_batch = 1.0 / f32(step.rows);
    var acc = 0.0;
    let scale = 2.0 / f32(params.outputs) * inv_batch;
    for (var rb = lid.x; rb < params.rows; rb += 256u) {
        let r = wg.z * params.rows + rb;
        if (rb >= step.rows) {
            zero_grad_row(r);
            continue;
        }
        let w = weight_of(r);
        acc = acc + w * mse_row(r);
        for (var c = 0u; c < params.outputs; c++) {
            let i = r * params.outputs + c;
            dz[i] = w * (z[i] - target_at(r, c)) * scale;
        }
    }
    reduce_and_store(lid.x, acc, step.loss_slot, inv_batch, step.rows > 0u);
}
