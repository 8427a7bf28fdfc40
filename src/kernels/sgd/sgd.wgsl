// SGD with momentum over one flat parameter buffer, one thread a parameter, one layer of the
// grid (z) a model (uses: the prelude's flat_index, sgd_update, Step). The learning rate and
// the constants come per step and model from the host (steps[z]); a model whose step has no
// rows (it waits for the others) is left as it is.
// p, g, u: (models, stride), each model's first n used.

struct SgdParams {
    n: u32,
    stride: u32,   // floats from one model's parameters to the next's
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: SgdParams;
@group(0) @binding(1) var<storage, read> steps: array<Step>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> p: array<f32>;
@group(0) @binding(4) var<storage, read_write> u: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn sgd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>) {
    let step = steps[wg.z];
    let at = flat_index(wg, nwg, lid);
    if (at >= params.n || step.rows == 0u) { return; }
    let i = wg.z * params.stride + at;
    let r = sgd_update(p[i], g[i], u[i], step.lr, step.momentum, step.weight_decay);
    p[i] = r.x;
    u[i] = r.y;
}
