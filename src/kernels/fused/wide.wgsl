// Whole training steps of a typical tabular network (at most 4 layers, widths up to 128) in
// one workgroup per model, many steps per dispatch (after lanes_plain.wgsl or lanes_subgroup.wgsl, which
// say how a unit's rows are read: rows_at, any_lane, lane_index): the batch goes through in chunks of 4·RQ rows whose
// activations and deltas sit in workgroup memory, and each thread owns whole columns of every
// layer. A unit's values over the chunk's rows are RQ vec4s side by side, so a thread reads
// its weight once per input and then runs 4·RQ rows on it from registers. Uses the prelude's
// activate, activate_back, sigmoid, bce, adam_update, sgd_update and Step, the formulas the
// per-op kernels run.
//
// Ownership: thread t owns columns t and t + WT of every layer: the weights W[i][j] for all i
// and the bias b[j]. It alone sums their gradient (chunk by chunk) and applies the
// optimiser to them, so no gradient crosses threads. The sums sit in a scratch at the end of
// `losses` laid out as the parameters are (parameter f's at g_at + f), not in a private
// array: a driver compiles a large private array indexed at run time slowly (lavapipe:
// 0.13 s more every run, 0.45 s more the first time) and runs it no faster.
//
// One step: for each chunk: load the rows, forward layer by layer, the loss and its gradient
// at the logits, backward layer by layer, then each thread adds its columns' gradient over
// the chunk's rows; after the last chunk's, it applies the optimiser to them at once (no
// thread reads the parameters again in the step), which writes the parameters every thread
// reads in the next step. Then the step's loss (a fixed-order sum over threads). Rows of the
// last chunk past the batch are zero inputs with zero deltas: they add exactly nothing.
//
// Several models: workgroup w runs steps[w·steps .. (w + 1)·steps] (fp.steps is the stride),
// each step naming where its model's parameters start in p, m and v (params_at), its rows in
// `order`, its loss slot and its optimiser's constants (so models whose constants differ
// share the dispatch; only the optimiser's kind is the dispatch's); a step of 0 rows is a pause (a model with fewer steps than the
// others in this dispatch) and changes nothing. Models share nothing but the dispatch. A
// forward-only step trains nothing: it writes the logits of its rows (the validation rows,
// after the steps of an epoch) where its loss would go, read back with the losses. A snapshot
// step copies its model's parameters there (the weights after an epoch, which the host may
// want back once it has seen that epoch's validation).
//
// Workgroup memory: BUFV vec4s for one chunk: the activations of every layer (unit i of layer
// l at act_off(l) + i·RQ) and the deltas of every layer but the inputs (dz_off(l) + i·RQ). The
// host picks RQ so they fit (src/kernels/fused/wide.rs). The parameters stay in `p`: on a CPU
// driver a thread's weight load costs the same from either memory, and the whole 32 KiB then
// holds chunks of up to 32 rows.
//
// Loop budget: src/kernels/fused/wide.rs counts the iterations of every loop below
// (`loop_iterations`; keep it in step) so that a dispatch holds no more steps than the driver
// allows, and the canary at the end reports a budget that ran out anyway.
//
// steps: per-step values; order: shuffled row order; x_all: (n, inputs); t_all: (n, outputs
// + 1) targets and row weight; p, m, v: (flat params); losses: out[steps[s].loss_slot] =
// Σ_r w_r · loss_r / rows, and out[health] = 1 if the driver cut a loop short, then the
// gradient sums, laid out as p, never read back.

struct WideParams {
    layers: u32,        // dense layers, the output layer included
    inputs: u32,
    outputs: u32,
    steps: u32,         // steps of each model (the stride between models' steps)
    _pad5: u32,
    _pad6: u32,
    health: u32,        // where in `losses` a cut-short loop is reported
    canary: u32,        // iterations of the canary loop
    rq: u32,            // RQ again, as a value the compiler does not unroll loops over
    params: u32,        // parameters of one model (what a snapshot step copies)
    g_at: u32,          // where the gradient sums start in `losses` (after health)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
    _pad4: u32,
    widths: array<vec4<u32>, 2>,   // width of layer l's activations, l = 0..=layers
    acts: vec4<u32>,               // activation code of hidden layer l (ACT_* in the prelude)
    w_flat: vec4<u32>,             // where layer l's W starts in the flat layout
    b_flat: vec4<u32>,             // where layer l's b starts in the flat layout
    act_off: array<vec4<u32>, 2>,  // where layer l's activations start in `buf`
    dz_off: array<vec4<u32>, 2>,   // where layer l's deltas start in `buf` (l ≥ 1)
}

override RQ: u32 = 2u;     // vec4s of rows per unit: 4·RQ rows a chunk, RQ 1, 2, 4 or 8
// The loss (0 bce, 1 softmax_ce, 2 mse) and optimiser (0 adam, 1 adamw, 2 sgd), as pipeline
// constants: a driver compiles only the one a network trains with (lavapipe: 0.35 s less
// the first time than all of them).
override LOSS: u32 = 0u;
override OPTIMIZER: u32 = 0u;
// The hidden layers' activation (ACT_* in the prelude) when they all share one, so a driver
// compiles that one alone (lavapipe runs every case of a switch, masked); ACT_BY_LAYER reads
// each layer's from fp.acts.
override ACT: u32 = 255u;
const ACT_BY_LAYER: u32 = 255u;
const WT: u32 = 64u;       // threads in the workgroup
const BUFV: u32 = 2032u;   // one chunk's activations and deltas (31.75 KiB; with red, 32 KiB)

@group(0) @binding(0) var<uniform> fp: WideParams;
@group(0) @binding(1) var<storage, read> steps: array<Step>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> x_all: array<f32>;
@group(0) @binding(4) var<storage, read> t_all: array<f32>;
@group(0) @binding(5) var<storage, read_write> p: array<f32>;
@group(0) @binding(6) var<storage, read_write> m: array<f32>;
@group(0) @binding(7) var<storage, read_write> v: array<f32>;
@group(0) @binding(8) var<storage, read_write> losses: array<f32>;

var<workgroup> buf: array<vec4<f32>, BUFV>;  // one chunk's activations and deltas
var<workgroup> red: array<f32, WT>;          // the step's loss, summed across threads

fn width(l: u32) -> u32 { return fp.widths[l / 4u][l % 4u]; }
fn act_off(l: u32) -> u32 { return fp.act_off[l / 4u][l % 4u]; }
fn dz_off(l: u32) -> u32 { return fp.dz_off[l / 4u][l % 4u]; }
fn act_code(l: u32) -> u32 {
    if (ACT != ACT_BY_LAYER) { return ACT; }
    return fp.acts[l];
}

// One optimiser update of parameter f (an index into p, m and v) with gradient gi.
fn update(f: u32, gi: f32, st: Step) {
    if (OPTIMIZER == 2u) {
        let r = sgd_update(p[f], gi, m[f], st.lr, st.momentum, st.weight_decay);
        m[f] = r.y;
        p[f] = r.x;
    } else {
        let r = adam_update(p[f], gi, m[f], v[f], st.lr, st.bias_correction1,
                            st.bias_correction2, st.beta1, st.beta2, st.eps, st.weight_decay,
                            OPTIMIZER == 1u);
        m[f] = r.y;
        v[f] = r.z;
        p[f] = r.x;
    }
}

// Adds a chunk's gradient g of parameter f to its sum over the step (at g_at + f; a step's
// first chunk starts it afresh, so no pass zeroes it) and, after the step's last chunk,
// applies the optimiser with the sum (no thread reads f again in this step: only its owner
// does). A sum that never leaves one chunk is never stored.
fn add_gradient(f: u32, g: f32, fresh: bool, last: bool, st: Step) {
    var sum = g;
    if (!fresh) { sum = sum + losses[fp.g_at + f]; }
    if (last) {
        update(f, sum, st);
    } else {
        losses[fp.g_at + f] = sum;
    }
}

// The rows at order[at .. at + count] into the chunk's input units, unit by unit; the
// chunk's rows past them are zeros.
fn load_chunk(at: u32, count: u32, lid: u32) {
    let nin = fp.inputs;
    let rc = 4u * RQ;
    for (var e = lid; e < nin * rc; e += WT) {
        let i = e / rc;
        let r = e % rc;
        var x = 0.0;
        if (r < count) { x = x_all[order[at + r] * nin + i]; }
        buf[act_off(0u) + i * RQ + r / 4u][r % 4u] = x;
    }
    workgroupBarrier();
}

// The chunk through every layer of the model whose parameters start at pb: each layer's
// activations (the logits, not activated, for the last) into `buf`.
fn forward_chunk(pb: u32, lid: u32, lane: u32) {
    let layers = fp.layers;
    // Forward: z[j] = (Σ_i a[i] · W[i][j] in i order) + b[j], then the activation.
    for (var l = 0u; l < layers; l++) {
        let ni = width(l);
        let no = width(l + 1u);
        let ain = act_off(l);
        let aout = act_off(l + 1u);
        let wo = pb + fp.w_flat[l];
        for (var jj = 0u; jj < 2u; jj++) {
            // Lanes past the layer's last column repeat it, so that lanes sharing
            // loads run together; they store nothing.
            let jreal = lid + jj * WT;
            let j = min(jreal, no - 1u);
            if (any_lane(jreal < no)) {
                var a0 = vec4<f32>(0.0);
                var a1 = vec4<f32>(0.0);
                var a2 = vec4<f32>(0.0);
                var a3 = vec4<f32>(0.0);
                var a4 = vec4<f32>(0.0);
                var a5 = vec4<f32>(0.0);
                var a6 = vec4<f32>(0.0);
                var a7 = vec4<f32>(0.0);
                for (var i = 0u; i < ni; i++) {
                    let wv = p[wo + i * no + j];
                    let x = rows_at(ain + i * RQ, lane);
                    a0 = a0 + x.q0 * wv;
                    if (RQ > 1u) { a1 = a1 + x.q1 * wv; }
                    if (RQ > 2u) {
                        a2 = a2 + x.q2 * wv;
                        a3 = a3 + x.q3 * wv;
                    }
                    if (RQ > 4u) {
                        a4 = a4 + x.q4 * wv;
                        a5 = a5 + x.q5 * wv;
                        a6 = a6 + x.q6 * wv;
                        a7 = a7 + x.q7 * wv;
                    }
                }
                if (jreal >= no) { continue; }
                let b = p[pb + fp.b_flat[l] + j];
                a0 = a0 + b;
                a1 = a1 + b;
                a2 = a2 + b;
                a3 = a3 + b;
                a4 = a4 + b;
                a5 = a5 + b;
                a6 = a6 + b;
                a7 = a7 + b;
                // The activation in registers, before the one store of each vec4.
                if (l + 1u < layers) {
                    let code = act_code(l);
                    a0 = activate4(code, a0);
                    if (RQ > 1u) { a1 = activate4(code, a1); }
                    if (RQ > 2u) {
                        a2 = activate4(code, a2);
                        a3 = activate4(code, a3);
                    }
                    if (RQ > 4u) {
                        a4 = activate4(code, a4);
                        a5 = activate4(code, a5);
                        a6 = activate4(code, a6);
                        a7 = activate4(code, a7);
                    }
                }
                let y = aout + j * RQ;
                buf[y] = a0;
                if (RQ > 1u) { buf[y + 1u] = a1; }
                if (RQ > 2u) {
                    buf[y + 2u] = a2;
                    buf[y + 3u] = a3;
                }
                if (RQ > 4u) {
                    buf[y + 4u] = a4;
                    buf[y + 5u] = a5;
                    buf[y + 6u] = a6;
                    buf[y + 7u] = a7;
                }
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(64, 1, 1)
fn fused_wide(@builtin(local_invocation_id) lid3: vec3<u32>,
              @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let first = wid.x * fp.steps;
    let layers = fp.layers;
    let nin = fp.inputs;
    let nout = fp.outputs;
    let tw = nout + 1u;
    let rc = 4u * RQ;
    let lane = lane_index();

    for (var s = 0u; s < fp.steps; s++) {
        let st = steps[first + s];
        let rows = st.rows;
        if (rows == 0u) { continue; }
        let pb = st.params_at;
        if (st.kind == 2u) {
            // The previous step's parameter writes are visible: it ended with barriers.
            for (var k = lid; k < fp.params; k += WT) { losses[st.loss_slot + k] = p[pb + k]; }
            continue;
        }
        let inv_batch = 1.0 / f32(rows);
        var loss_acc = 0.0;

        for (var r0 = 0u; r0 < rows; r0 += rc) {
            let count = min(rc, rows - r0);
            load_chunk(st.row_offset + r0, count, lid);
            forward_chunk(pb, lid, lane);
            if (st.kind == 1u) {
                // A forward-only step: the chunk's logits, (rows, outputs) from
                // losses[loss_slot], and nothing trained.
                let zo = act_off(layers);
                if (lid < count) {
                    for (var c = 0u; c < nout; c++) {
                        losses[st.loss_slot + (r0 + lid) * nout + c] =
                            buf[zo + c * RQ + lid / 4u][lid % 4u];
                    }
                }
                workgroupBarrier();
                continue;
            }
            // The loss and its gradient at the logits, one row a thread.
            let zo = act_off(layers);
            let dzo = dz_off(layers);
            if (lid < rc) {
                let r = lid;
                let q = r / 4u;
                let e = r % 4u;
                if (r < count) {
                    let src = order[st.row_offset + r0 + r];
                    let wr = t_all[src * tw + nout];
                    var row_loss = 0.0;
                    if (LOSS == 0u) {
                        for (var c = 0u; c < nout; c++) {
                            let z = buf[zo + c * RQ + q][e];
                            let y = t_all[src * tw + c];
                            row_loss = row_loss + bce(z, y);
                            buf[dzo + c * RQ + q][e] = wr * (sigmoid(z) - y) * inv_batch;
                        }
                    } else if (LOSS == 1u) {
                        var mx = buf[zo + q][e];
                        for (var c = 1u; c < nout; c++) { mx = max(mx, buf[zo + c * RQ + q][e]); }
                        var se = 0.0;
                        var ts = 0.0;
                        for (var c = 0u; c < nout; c++) {
                            se = se + exp(buf[zo + c * RQ + q][e] - mx);
                            ts = ts + t_all[src * tw + c];
                        }
                        let lse = mx + log(se);
                        for (var c = 0u; c < nout; c++) {
                            let z = buf[zo + c * RQ + q][e];
                            let y = t_all[src * tw + c];
                            row_loss = row_loss + y * (lse - z);
                            buf[dzo + c * RQ + q][e] = wr * (ts * (exp(z - mx) / se) - y) * inv_batch;
                        }
                    } else {
                        let scale = 2.0 / f32(nout) * inv_batch;
                        for (var c = 0u; c < nout; c++) {
                            let dd = buf[zo + c * RQ + q][e] - t_all[src * tw + c];
                            row_loss = row_loss + dd * dd;
                            buf[dzo + c * RQ + q][e] = wr * dd * scale;
                        }
                        row_loss = row_loss / f32(nout);
                    }
                    loss_acc = loss_acc + wr * row_loss;
                } else {
                    for (var c = 0u; c < nout; c++) { buf[dzo + c * RQ + q][e] = 0.0; }
                }
            }
            workgroupBarrier();
            // Backward: δ_below[i] = act'(a[i]) · Σ_j δ[j] · W[i][j], layer by layer.
            for (var l = layers - 1u; l > 0u; l--) {
                let ni = width(l);
                let no = width(l + 1u);
                let dout = dz_off(l + 1u);
                let din = dz_off(l);
                let ain = act_off(l);
                let wo = pb + fp.w_flat[l];
                for (var ii = 0u; ii < 2u; ii++) {
                    let ireal = lid + ii * WT;
                    let i = min(ireal, ni - 1u);
                    if (any_lane(ireal < ni)) {
                        var a0 = vec4<f32>(0.0);
                        var a1 = vec4<f32>(0.0);
                        var a2 = vec4<f32>(0.0);
                        var a3 = vec4<f32>(0.0);
                        var a4 = vec4<f32>(0.0);
                        var a5 = vec4<f32>(0.0);
                        var a6 = vec4<f32>(0.0);
                        var a7 = vec4<f32>(0.0);
                        for (var j = 0u; j < no; j++) {
                            let wv = p[wo + i * no + j];
                            let x = rows_at(dout + j * RQ, lane);
                            a0 = a0 + x.q0 * wv;
                            if (RQ > 1u) { a1 = a1 + x.q1 * wv; }
                            if (RQ > 2u) {
                                a2 = a2 + x.q2 * wv;
                                a3 = a3 + x.q3 * wv;
                            }
                            if (RQ > 4u) {
                                a4 = a4 + x.q4 * wv;
                                a5 = a5 + x.q5 * wv;
                                a6 = a6 + x.q6 * wv;
                                a7 = a7 + x.q7 * wv;
                            }
                        }
                        if (ireal >= ni) { continue; }
                        // The activation's derivative in registers, then one store each.
                        let code = act_code(l - 1u);
                        let y = din + i * RQ;
                        let z = ain + i * RQ;
                        buf[y] = activate_back4(code, buf[z], a0);
                        if (RQ > 1u) { buf[y + 1u] = activate_back4(code, buf[z + 1u], a1); }
                        if (RQ > 2u) {
                            buf[y + 2u] = activate_back4(code, buf[z + 2u], a2);
                            buf[y + 3u] = activate_back4(code, buf[z + 3u], a3);
                        }
                        if (RQ > 4u) {
                            buf[y + 4u] = activate_back4(code, buf[z + 4u], a4);
                            buf[y + 5u] = activate_back4(code, buf[z + 5u], a5);
                            buf[y + 6u] = activate_back4(code, buf[z + 6u], a6);
                            buf[y + 7u] = activate_back4(code, buf[z + 7u], a7);
                        }
                    }
                }
                workgroupBarrier();
            }
            // Each thread's columns: dW[i][j] += Σ_r a[r][i] · δ[r][j], db[j] += Σ_r δ[r][j];
            // after the step's last chunk, the optimiser on them.
            let ones = vec4<f32>(1.0);
            let fresh = r0 == 0u;
            let last = r0 + rc >= rows;
            for (var l = 0u; l < layers; l++) {
                let ni = width(l);
                let no = width(l + 1u);
                let ain = act_off(l);
                let dout = dz_off(l + 1u);
                for (var jj = 0u; jj < 2u; jj++) {
                    // Lanes past the last column repeat it and store nothing.
                    let jreal = lid + jj * WT;
                    let j = min(jreal, no - 1u);
                    let owns = jreal < no;
                    // Parameter f's gradient sum is at g_at + f.
                    let fw = pb + fp.w_flat[l] + j;
                    let fbias = pb + fp.b_flat[l] + j;
                    if (any_lane(owns)) {
                        let y = dout + j * RQ;
                        let d0 = buf[y];
                        var d1 = vec4<f32>(0.0);
                        var d2 = vec4<f32>(0.0);
                        var d3 = vec4<f32>(0.0);
                        var d4 = vec4<f32>(0.0);
                        var d5 = vec4<f32>(0.0);
                        var d6 = vec4<f32>(0.0);
                        var d7 = vec4<f32>(0.0);
                        if (RQ > 1u) { d1 = buf[y + 1u]; }
                        if (RQ > 2u) {
                            d2 = buf[y + 2u];
                            d3 = buf[y + 3u];
                        }
                        if (RQ > 4u) {
                            d4 = buf[y + 4u];
                            d5 = buf[y + 5u];
                            d6 = buf[y + 6u];
                            d7 = buf[y + 7u];
                        }
                        let dsum = ((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7));
                        if (owns) { add_gradient(fbias, dot(dsum, ones), fresh, last, st); }
                        for (var i = 0u; i < ni; i++) {
                            let x = rows_at(ain + i * RQ, lane);
                            var s = x.q0 * d0;
                            if (RQ > 1u) { s = s + x.q1 * d1; }
                            if (RQ > 2u) { s = s + x.q2 * d2 + x.q3 * d3; }
                            if (RQ > 4u) {
                                s = s + x.q4 * d4 + x.q5 * d5;
                                s = s + x.q6 * d6 + x.q7 * d7;
                            }
                            if (owns) { add_gradient(fw + i * no, dot(s, ones), fresh, last, st); }
                        }
                    }
                }
            }
            workgroupBarrier();
        }

        if (st.kind == 1u) { continue; }
        // The step's loss: the threads' sums added in a fixed order.
        red[lid] = loss_acc;
        workgroupBarrier();
        for (var h = WT / 2u; h > 0u; h = h >> 1u) {
            if (lid < h) { red[lid] = red[lid] + red[lid + h]; }
            workgroupBarrier();
        }
        if (lid == 0u) { losses[st.loss_slot] = red[0] * inv_batch; }
        // The next step reads the parameters every thread wrote.
        storageBarrier();
        workgroupBarrier();
    }

    // The canary: a loop of fp.canary iterations runs fewer only if the driver's loop budget
    // ran out above, and then every result of this dispatch is suspect.
    var seen = 0u;
    for (var i = 0u; i < fp.canary; i++) { seen = seen + 1u; }
    if (lid == 0u && seen != fp.canary) { losses[fp.health] = 1.0; }
}
