// SGD with momentum over one flat parameter buffer, one thread a parameter (uses: the
// prelude's flat_index, sgd_update, Step). The learning rate comes per step from the host.
// p, g, u: (n).

struct SgdParams {
    n: u32,
    momentum: f32,
    weight_decay: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: SgdParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> p: array<f32>;
@group(0) @binding(4) var<storage, read_write> u: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn sgd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    let r = sgd_update(p[i], g[i], u[i], step.lr, params.momentum, params.weight_decay);
    p[i] = r.x;
    u[i] = r.y;
}
