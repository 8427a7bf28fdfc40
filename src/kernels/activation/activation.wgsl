// Hidden-layer activations, in place (uses: the prelude's flat_index, activate and
// activate_back). Forward: x ← act(x). Backward: d ← d ⊙ act'(·), where the derivative is
// written in terms of the activation's output a, so z need not be kept.
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
    x[i] = activate(ACT_SIGMOID, x[i]);
}

@compute @workgroup_size(256, 1, 1)
fn relu_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    x[i] = activate(ACT_RELU, x[i]);
}

@compute @workgroup_size(256, 1, 1)
fn tanh_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    x[i] = activate(ACT_TANH, x[i]);
}

@compute @workgroup_size(256, 1, 1)
fn sigmoid_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    x[i] = activate_back(ACT_SIGMOID, a[i], x[i]);
}

@compute @workgroup_size(256, 1, 1)
fn relu_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    x[i] = activate_back(ACT_RELU, a[i], x[i]);
}

@compute @workgroup_size(256, 1, 1)
fn tanh_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    x[i] = activate_back(ACT_TANH, a[i], x[i]);
}
