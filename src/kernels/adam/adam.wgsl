// Adam / AdamW over one flat parameter buffer (every layer's W and b, see src/model.rs), one
// thread a parameter (uses: the prelude's flat_index, adam_update, Step). The learning rate
// and both bias corrections come per step from the host (Step), so GPU and CPU use the very
// same numbers. p, g, m, v: (n).

struct AdamParams {
    n: u32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decoupled: u32,   // 1 for AdamW, 0 for Adam
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: AdamParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> p: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn adam(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) { return; }
    let r = adam_update(p[i], g[i], m[i], v[i], step.lr, step.bias_correction1,
                        step.bias_correction2, params.beta1, params.beta2, params.eps,
                        params.weight_decay, params.decoupled == 1u);
    p[i] = r.x;
    m[i] = r.y;
    v[i] = r.z;
}
