// Adam / AdamW over one flat parameter buffer (every layer's W and b, see src/model.rs), one
// thread a parameter, one layer of the grid (z) a model (uses: the prelude's flat_index,
// adam_update, Step). The learning rate, both bias corrections and the constants come per step
// and model from the host (steps[z]), so GPU and CPU use the very same numbers; a model whose
// step has no rows (it waits for the others) is left as it is.
// p, g, m, v: (models, stride), each model's first n used.

struct AdamParams {
    n: u32,
    stride: u32,      // floats from one model's parameters to the next's
    decoupled: u32,   // 1 for AdamW, 0 for Adam
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: AdamParams;
@group(0) @binding(1) var<storage, read> steps: array<Step>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> p: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn adam(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let step = steps[wg.z];
    let at = flat_index(wg, nwg, lid);
    if (at >= params.n || step.rows == 0u) { return; }
    let i = wg.z * params.stride + at;
    let r = adam_update(p[i], g[i], m[i], v[i], step.lr, step.bias_correction1,
                        step.bias_correction2, step.beta1, step.beta2, step.eps,
                        step.weight_decay, params.decoupled == 1u);
    p[i] = r.x;
    m[i] = r.y;
    v[i] = r.z;
}
