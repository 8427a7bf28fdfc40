// Hidden-layer activations, in place. Forward: x ← act(x). Backward: d ← d ⊙ act'(·), where
// the derivative is written in terms of the activation's output a, so z need not be kept.
// x, a, d: (n) — any (rows, cols) tensor seen flat.

struct ActParams {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: ActParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

// Forward kernels bind only binding 2 (x); backward kernels read a and update d, bound as x.

@compute @workgroup_size(256, 1, 1)
fn sigmoid_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    x[i] = sigmoid(x[i]);
}

@compute @workgroup_size(256, 1, 1)
fn relu_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    x[i] = max(x[i], 0.0);
}

@compute @workgroup_size(256, 1, 1)
fn tanh_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    x[i] = tanh_safe(x[i]);
}

// σ'(z) = a(1 − a).
@compute @workgroup_size(256, 1, 1)
fn sigmoid_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    let ai = a[i];
    x[i] = x[i] * (ai * (1.0 - ai));
}

// relu'(z) = 1 where a > 0, else 0.
@compute @workgroup_size(256, 1, 1)
fn relu_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    x[i] = select(0.0, x[i], a[i] > 0.0);
}

// tanh'(z) = 1 − a².
@compute @workgroup_size(256, 1, 1)
fn tanh_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    let ai = a[i];
    x[i] = x[i] * (1.0 - ai * ai);
}
