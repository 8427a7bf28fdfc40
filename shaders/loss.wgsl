// Binary cross-entropy computed from logits, never from a clamped probability.
//   loss_i = max(z,0) − z·y + ln(1 + e^(−|z|))       mean over the batch
//   dL/dz_i = (σ(z) − y) / batch
// z, y, dz: (n) with n = batch × outputs.

struct LossParams {
    n: u32,
    inv_batch: f32,   // 1 / batch
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: LossParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn bce(zi: f32, yi: f32) -> f32 {
    return max(zi, 0.0) - zi * yi + log(1.0 + exp(-abs(zi)));
}

// out = dz: (n).
@compute @workgroup_size(256, 1, 1)
fn bce_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    out[i] = (sigmoid(z[i]) - y[i]) * params.inv_batch;
}

var<workgroup> partial: array<f32, 256>;

// out = per-step losses: out[step.loss_slot] = mean loss of the batch. One workgroup: each
// thread sums a fixed stride, then a tree halves the partial sums; the order never varies.
@compute @workgroup_size(256, 1, 1)
fn bce_loss(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var i = lid.x; i < params.n; i += 256u) {
        acc = acc + bce(z[i], y[i]);
    }
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (lid.x < s) {
            partial[lid.x] = partial[lid.x] + partial[lid.x + s];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        out[step.loss_slot] = partial[0] * params.inv_batch;
    }
}
