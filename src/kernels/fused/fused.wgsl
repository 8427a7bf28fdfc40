// A whole training step of a small network in one workgroup, and many steps in one dispatch:
// the weights stay in workgroup memory, each thread runs its share of the batch rows through
// the forward pass, the loss and the backward pass with its activations in registers (four
// rows at a time, side by side in a vec4, so that each weight and gradient slot is read once
// for four rows: on a CPU driver every such read is a loop over the SIMD lanes), the
// partial gradients are summed across threads in a fixed order, and the optimiser updates
// every parameter before the next step begins. The same formulas as the separate kernels
// (matmul, bias, activation, loss, adam, sgd; see their files), in the spirit of
// tiny-cuda-nn's fully fused MLPs (uses: the prelude's activate4, activate_back4, sigmoid, bce,
// adam_update, sgd_update, Step). Limits: at most 4 layers, every width (inputs included)
// at most 16, at most 1024 parameters (src/kernels/fused/mod.rs checks them).
//
// Inside the workgroup the parameters are kept packed ("compact": W0, b0, W1, b1, ... with
// no padding), so no loop ever searches for where a parameter lives; the segments' flat
// offsets are used only to load p and to store p, m and v.
//
// Loop budget: some drivers (Mesa ≤ 22's gallivm) end every loop of an invocation once 65535
// iterations have run in total, silently. src/kernels/fused/mod.rs counts the iterations of each loop
// below (keep `loop_iterations` there in step with them) so that a dispatch holds no more steps
// than the driver allows, and the canary loop at the end reports a budget that ran out anyway.
//
// Its parameters and bindings: small_io.wgsl.

const FW: u32 = 64u;       // threads in the workgroup
const MAXW: u32 = 16u;     // widest layer
const MAXP: u32 = 1024u;   // most parameters
const XCHUNK: u32 = 16u;   // parameters summed across threads per round

var<workgroup> w: array<f32, MAXP>;            // the parameters, compact
var<workgroup> g: array<f32, MAXP>;            // the batch gradient, compact
var<workgroup> xfer: array<f32, 1024>;         // FW × XCHUNK partial gradients in flight
var<workgroup> red: array<f32, FW>;

fn width(l: u32) -> u32 { return fp.widths[l / 4u][l % 4u]; }
fn seg_flat(sg: u32) -> u32 { return fp.seg_flat[sg / 4u][sg % 4u]; }
fn seg_compact(sg: u32) -> u32 { return fp.seg_compact[sg / 4u][sg % 4u]; }
fn seg_len(sg: u32) -> u32 { return fp.seg_len[sg / 4u][sg % 4u]; }

// The targets of output c for four rows (0 for rows past the batch).
fn target4(src: vec4<u32>, live: vec4<f32>, tw: u32, c: u32) -> vec4<f32> {
    var y = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (live[e] != 0.0) { y[e] = t_all[src[e] * tw + c]; }
    }
    return y;
}

// One optimiser update of parameter c (compact; f in the flat layout) with gradient gi: the
// prelude's adam_update and sgd_update, which adam.wgsl and sgd.wgsl run too.
fn update(c: u32, f: u32, gi: f32, st: Step) {
    if (fp.optimizer == 2u) {
        let r = sgd_update(w[c], gi, m[f], st.lr, fp.momentum, fp.weight_decay);
        m[f] = r.y;
        w[c] = r.x;
        p[f] = r.x;
    } else {
        let r = adam_update(w[c], gi, m[f], v[f], st.lr, st.bias_correction1,
                            st.bias_correction2, fp.beta1, fp.beta2, fp.eps, fp.weight_decay,
                            fp.optimizer == 1u);
        m[f] = r.y;
        v[f] = r.z;
        w[c] = r.x;
        p[f] = r.x;
    }
}

@compute @workgroup_size(64, 1, 1)
fn fused_steps(@builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let nr = fp.n_real;
    let segments = 2u * fp.layers;
    for (var sg = 0u; sg < segments; sg++) {
        let f0 = seg_flat(sg);
        let c0 = seg_compact(sg);
        for (var i = lid; i < seg_len(sg); i += FW) { w[c0 + i] = p[f0 + i]; }
    }
    workgroupBarrier();

    var pg: array<f32, MAXP>;      // this thread's share of the gradient, compact
    // Four rows a lane, side by side in the components of a vec4: each weight and gradient
    // slot is read once for four rows.
    var a: array<vec4<f32>, 80>;   // activations, acts[l][j] at l·MAXW + j
    var delta: array<vec4<f32>, MAXW>;
    var below: array<vec4<f32>, MAXW>;
    let layers = fp.layers;
    let nin = fp.inputs;
    let nout = fp.outputs;
    let tw = nout + 1u;
    let ones = vec4<f32>(1.0);

    for (var s = 0u; s < fp.steps; s++) {
        let st = steps[s];
        let rows = st.rows;
        let inv_batch = 1.0 / f32(rows);
        for (var c = 0u; c < nr; c++) { pg[c] = 0.0; }
        var loss_acc = 0.0;

        // Rows r0 .. r0 + 3 (those past the batch are zero inputs of weight 0, which add
        // nothing).
        for (var r0 = 4u * lid; r0 < rows; r0 += 4u * FW) {
            var src = vec4<u32>(0u);
            var live = vec4<f32>(0.0);
            for (var e = 0u; e < 4u; e++) {
                if (r0 + e < rows) {
                    src[e] = order[st.row_offset + r0 + e];
                    live[e] = 1.0;
                }
            }
            for (var i = 0u; i < nin; i++) {
                var x = vec4<f32>(0.0);
                for (var e = 0u; e < 4u; e++) {
                    if (live[e] != 0.0) { x[e] = x_all[src[e] * nin + i]; }
                }
                a[i] = x;
            }
            // Forward: z = (Σ_i a_i · W_ij in i order) + b_j, then the activation.
            for (var l = 0u; l < layers; l++) {
                let ni = width(l);
                let no = width(l + 1u);
                let wo = fp.w_off[l];
                let bo = fp.b_off[l];
                for (var j = 0u; j < no; j++) {
                    var acc = vec4<f32>(0.0);
                    for (var i = 0u; i < ni; i++) { acc = acc + a[l * MAXW + i] * w[wo + i * no + j]; }
                    var z = acc + w[bo + j];
                    if (l + 1u < layers) { z = activate4(fp.acts[l], z); }
                    a[(l + 1u) * MAXW + j] = z;
                }
            }
            // Loss and its gradient at the logits.
            let zo = layers * MAXW;
            var wr = vec4<f32>(0.0);
            for (var e = 0u; e < 4u; e++) {
                if (live[e] != 0.0) { wr[e] = t_all[src[e] * tw + nout]; }
            }
            var row_loss = vec4<f32>(0.0);
            if (fp.loss == 0u) {
                for (var c = 0u; c < nout; c++) {
                    let z = a[zo + c];
                    let y = target4(src, live, tw, c);
                    row_loss = row_loss + vec4<f32>(bce(z.x, y.x), bce(z.y, y.y), bce(z.z, y.z),
                                                    bce(z.w, y.w));
                    let sg = vec4<f32>(sigmoid(z.x), sigmoid(z.y), sigmoid(z.z), sigmoid(z.w));
                    delta[c] = wr * (sg - y) * inv_batch;
                }
            } else if (fp.loss == 1u) {
                var mx = a[zo];
                for (var c = 1u; c < nout; c++) { mx = max(mx, a[zo + c]); }
                var se = vec4<f32>(0.0);
                var ts = vec4<f32>(0.0);
                for (var c = 0u; c < nout; c++) {
                    se = se + exp(a[zo + c] - mx);
                    ts = ts + target4(src, live, tw, c);
                }
                let lse = mx + log(se);
                for (var c = 0u; c < nout; c++) {
                    let z = a[zo + c];
                    let y = target4(src, live, tw, c);
                    row_loss = row_loss + y * (lse - z);
                    delta[c] = wr * (ts * (exp(z - mx) / se) - y) * inv_batch;
                }
            } else {
                let scale = 2.0 / f32(nout) * inv_batch;
                for (var c = 0u; c < nout; c++) {
                    let d = a[zo + c] - target4(src, live, tw, c);
                    row_loss = row_loss + d * d;
                    delta[c] = wr * d * scale;
                }
                row_loss = row_loss / f32(nout);
            }
            loss_acc = loss_acc + dot(wr, row_loss);
            // Backward: dW_ij += a_i · δ_j, db_j += δ_j, δ_below_i = act'(a_i) · Σ_j δ_j W_ij.
            for (var l = layers; l > 0u; l--) {
                let li = l - 1u;
                let ni = width(li);
                let no = width(l);
                let wo = fp.w_off[li];
                let bo = fp.b_off[li];
                for (var j = 0u; j < no; j++) {
                    pg[bo + j] = pg[bo + j] + dot(delta[j], ones);
                    for (var i = 0u; i < ni; i++) {
                        pg[wo + i * no + j] = pg[wo + i * no + j] + dot(a[li * MAXW + i], delta[j]);
                    }
                }
                if (li > 0u) {
                    for (var i = 0u; i < ni; i++) {
                        var acc = vec4<f32>(0.0);
                        for (var j = 0u; j < no; j++) { acc = acc + delta[j] * w[wo + i * no + j]; }
                        below[i] = activate_back4(fp.acts[li - 1u], a[li * MAXW + i], acc);
                    }
                    for (var i = 0u; i < ni; i++) { delta[i] = below[i]; }
                }
            }
        }

        // Sum the threads' partial gradients, XCHUNK parameters a round, thread 0 first.
        for (var c0 = 0u; c0 < nr; c0 += XCHUNK) {
            for (var q = 0u; q < XCHUNK; q++) {
                xfer[lid * XCHUNK + q] = select(0.0, pg[min(c0 + q, nr - 1u)], c0 + q < nr);
            }
            workgroupBarrier();
            if (lid < XCHUNK && c0 + lid < nr) {
                var sum = 0.0;
                for (var t = 0u; t < FW; t++) { sum = sum + xfer[t * XCHUNK + lid]; }
                g[c0 + lid] = sum;
            }
            workgroupBarrier();
        }
        red[lid] = loss_acc;
        workgroupBarrier();
        for (var h = FW / 2u; h > 0u; h = h >> 1u) {
            if (lid < h) { red[lid] = red[lid] + red[lid + h]; }
            workgroupBarrier();
        }
        if (lid == 0u) { losses[st.loss_slot] = red[0] * inv_batch; }
        for (var sg = 0u; sg < segments; sg++) {
            let f0 = seg_flat(sg);
            let c0 = seg_compact(sg);
            for (var i = lid; i < seg_len(sg); i += FW) { update(c0 + i, f0 + i, g[c0 + i], st); }
        }
        workgroupBarrier();
    }

    // The canary: a loop of fp.canary iterations runs fewer only if the driver's loop budget
    // ran out above, and then every result of this dispatch is suspect.
    var seen = 0u;
    for (var i = 0u; i < fp.canary; i++) { seen = seen + 1u; }
    if (lid == 0u && seen != fp.canary) { losses[fp.health] = 1.0; }
}
