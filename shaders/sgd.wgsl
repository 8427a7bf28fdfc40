// SGD with momentum over one flat parameter buffer, as PyTorch's SGD (no dampening):
//   g += wd·p;   u = μ·u + g;   p −= lr·u
// The learning rate comes per step from the host (Step). p, g, u: (n).

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
    let w = p[i];
    let gi = g[i] + params.weight_decay * w;
    let ui = params.momentum * u[i] + gi;
    u[i] = ui;
    p[i] = w - step.lr * ui;
}
