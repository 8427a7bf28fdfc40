// Whole training steps of a typical tabular network (at most 4 layers, widths up to 128) in
// one workgroup per model, many steps per dispatch (after constants.wgsl, the loss, optimiser
// and activation it is compiled for, rows.wgsl, a unit's values over a
// chunk, and lanes_plain.wgsl or lanes_subgroup.wgsl, which say how a unit's rows are read:
// rows_at, any_lane, lane_index): the batch goes through in chunks of 4·RQ rows whose
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
// at the logits, then backward layer by layer from the output: the deltas of the layer's
// inputs (into registers), then each thread adds its columns' gradient over the chunk's rows
// and, after the step's last chunk, applies the optimiser to them at once (no thread reads
// that layer's parameters again in the step), then the deltas replace the inputs'
// activations. Then the step's loss (a fixed-order sum over threads). Rows of the last chunk
// past the batch are zero inputs with zero deltas: they add exactly nothing.
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
// l at act_off(l) + i·RQ), each replaced by its delta once backward no longer needs it, so a
// chunk holds twice the rows that separate deltas would leave room for (README's main job:
// its whole batch of 64). The host picks RQ so they fit (src/kernels/fused/wide.rs). The
// parameters stay in `p`: on a CPU driver a thread's weight load costs the same from either
// memory.
//
// Loop budget: src/kernels/fused/wide.rs counts the iterations of every loop below
// (`loop_iterations`; keep it in step) so that a dispatch holds no more steps than the driver
// allows, and the canary at the end reports a budget that ran out anyway.
//
// steps: per-step values; order: shuffled row order; x_all: (n, inputs), then the row maps of
// models that share rows (see input_at); t_all: (n, outputs + 1) targets and row weight; p, m, v: (flat params); losses: out[steps[s].loss_slot] =
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
    rq: u32,            // RQ again, a loop bound the compiler does not unroll (rows.wgsl)
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
    act_off: array<vec4<u32>, 2>,  // where layer l's activations (then deltas) start in `buf`
}

override RQ: u32 = 2u;     // vec4s of rows per unit: 4·RQ rows a chunk, RQ 1, 2, 4, 8 or 16
const WT: u32 = 64u;       // threads in the workgroup
const BUFV: u32 = 2032u;   // one chunk's activations (31.75 KiB; with red, 32 KiB)

@group(0) @binding(0) var<uniform> fp: WideParams;
@group(0) @binding(1) var<storage, read> steps: array<Step>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> x_all: array<f32>;
@group(0) @binding(4) var<storage, read> t_all: array<f32>;
@group(0) @binding(5) var<storage, read_write> p: array<f32>;
@group(0) @binding(6) var<storage, read_write> m: array<f32>;
@group(0) @binding(7) var<storage, read_write> v: array<f32>;
@group(0) @binding(8) var<storage, read_write> losses: array<f32>;

var<workgroup> buf: array<vec4<f32>, BUFV>;  // one chunk's activations, then deltas
var<workgroup> red: array<f32, WT>;          // the step's loss, summed across threads

fn width(l: u32) -> u32 { return fp.widths[l / 4u][l % 4u]; }
fn act_off(l: u32) -> u32 { return fp.act_off[l / 4u][l % 4u]; }

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

// Column j's gradient over the chunk (its deltas d; inputs at ain, ni of them, no columns),
// added by add_gradient: dW[i][j] = Σ_r a[r][i] · δ[r][j], db[j] = Σ_r δ[r][j].
fn column_gradients(fw: u32, fb: u32, owns: bool, d: Rows, ain: u32, ni: u32, no: u32,
                    lane: u32, fresh: bool, last: bool, st: Step) {
    // i = ni is the bias (its rows_at reads past the inputs, unused), so that one copy of the
    // optimiser's code serves weights and bias.
    let bias_sum = rows_sum(d);
    for (var i = 0u; i <= ni; i++) {
        let bias = i == ni;
        let g = select(rows_dot(rows_at(ain + i * RQ, lane), d), bias_sum, bias);
        if (owns) { add_gradient(select(fw + i * no, fb, bias), g, fresh, last, st); }
    }
}

// The rows at order[at .. at + count] into the chunk's input units, a thread a row (one
// lookup in `order`), input by input; the chunk's rows past them are zeros.
fn load_chunk(at: u32, count: u32, lid: u32, map_at: u32) {
    let nin = fp.inputs;
    let base = act_off(0u);
    for (var r = lid; r < 4u * RQ; r += WT) {
        let real = r < count;
        var src = 0u;
        if (real) { src = order[at + r] * nin; }
        if (map_at == NO_MAP) {
            for (var i = 0u; i < nin; i++) {
                var x = 0.0;
                if (real) { x = x_all[src + i]; }
                buf[base + i * RQ + r / 4u][r % 4u] = x;
            }
        } else {
            for (var i = 0u; i < nin; i++) {
                var x = 0.0;
                if (real) { x = input_at(x_all[src + i], i, map_at); }
                buf[base + i * RQ + r / 4u][r % 4u] = x;
            }
        }
    }
    workgroupBarrier();
}

// Rows shared by several models (the folds of a cross-validation): each model reads them
// through its row map at map_at in x_all, RowMap::packed's layout (src/data/prep/shared.rs,
// whose RowMap::dataset runs the same f32 operations in the same order): per input a shift,
// a scale and a fill, then the regression target's shift and scale, then a weight per class.

// Input i of a row, from its shared value x: (x − shift) · scale, or the fill where missing.
fn input_at(x: f32, i: u32, map_at: u32) -> f32 {
    let nin = fp.inputs;
    return map_input(x, x_all[map_at + i], x_all[map_at + nin + i], x_all[map_at + 2u * nin + i],
                     bitcast<u32>(x) == MISSING_BITS);
}

// Target c of row src as its step's model reads it.
fn target_at(src: u32, c: u32, map_at: u32) -> f32 {
    let y = t_all[src * (fp.outputs + 1u) + c];
    if (map_at == NO_MAP || LOSS != 2u) { return y; }
    let at = map_at + 3u * fp.inputs;
    return map_input(y, x_all[at], x_all[at + 1u], 0.0, false);
}

// The weight of row src as its step's model reads it: its own weight times its class's,
// chosen by its targets among the class weights (loads at addresses every lane shares, where
// indexing them by class would load lane by lane).
fn weight_at(src: u32, map_at: u32) -> f32 {
    let tw = fp.outputs + 1u;
    let w = t_all[src * tw + fp.outputs];
    if (map_at == NO_MAP) { return w; }
    let cw = map_at + 3u * fp.inputs + 2u;
    var class_w = x_all[cw];
    if (LOSS == 0u) {
        class_w = select(class_w, x_all[cw + 1u], t_all[src * tw] > 0.5);
    } else if (LOSS == 1u) {
        for (var c = 1u; c < fp.outputs; c++) {
            class_w = select(class_w, x_all[cw + c], t_all[src * tw + c] > 0.5);
        }
    }
    return class_w * w;
}

// The chunk through every layer of the model whose parameters start at pb: each layer's
// activations (the logits, not activated, for the last) into `buf`.
fn forward_chunk(pb: u32, lid: u32, lane: u32) {
    let layers = fp.layers;
    // z[j] = (Σ_i a[i] · W[i][j] in i order) + b[j], then the activation, in registers
    // before the one store.
    for (var l = 0u; l < layers; l++) {
        let ni = width(l);
        let no = width(l + 1u);
        let ain = act_off(l);
        let wo = pb + fp.w_flat[l];
        for (var jj = 0u; jj < 2u; jj++) {
            // Lanes past the layer's last column repeat it, so that lanes sharing
            // loads run together; they store nothing.
            let jreal = lid + jj * WT;
            let j = min(jreal, no - 1u);
            if (any_lane(jreal < no)) {
                var z = rows_zero();
                for (var i = 0u; i < ni; i++) {
                    z = rows_fma(z, rows_at(ain + i * RQ, lane), p[wo + i * no + j]);
                }
                if (jreal >= no) { continue; }
                z = rows_bias(z, p[pb + fp.b_flat[l] + j]);
                if (l + 1u < layers) { z = rows_activate(act_code(l), z); }
                rows_store(act_off(l + 1u) + j * RQ, z);
            }
        }
        workgroupBarrier();
    }
}

// Unit i's delta of layer l's inputs (l ≥ 1) over the chunk, from the deltas of its outputs
// at dout: δ[i] = act'(a[i]) · Σ_j δ_out[j] · W[i][j] (in j order), in registers.
fn delta_below(l: u32, i: u32, pb: u32, lane: u32) -> Rows {
    let ni = width(l);
    let no = width(l + 1u);
    let dout = act_off(l + 1u);
    let wo = pb + fp.w_flat[l];
    var d = rows_zero();
    for (var j = 0u; j < no; j++) {
        d = rows_fma(d, rows_at(dout + j * RQ, lane), p[wo + i * no + j]);
    }
    return rows_activate_back(act_code(l - 1u), rows_load(act_off(l) + i * RQ), d);
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
            load_chunk(st.row_offset + r0, count, lid, st.map_at);
            forward_chunk(pb, lid, lane);
            let zo = act_off(layers);
            if (st.kind == 1u) {
                // A forward-only step: the chunk's logits, (rows, outputs) from
                // losses[loss_slot], and nothing trained.
                // (No barrier: the next writes to the logits' place come after
                // load_chunk's barrier.)
                if (lid < count) {
                    for (var c = 0u; c < nout; c++) {
                        losses[st.loss_slot + (r0 + lid) * nout + c] =
                            buf[zo + c * RQ + lid / 4u][lid % 4u];
                    }
                }
                continue;
            }
            // The loss and its gradient at the logits, one row a thread; the gradient
            // replaces the logit it is taken at.
            if (lid < rc) {
                let r = lid;
                let q = r / 4u;
                let e = r % 4u;
                if (r < count) {
                    let src = order[st.row_offset + r0 + r];
                    let wr = weight_at(src, st.map_at);
                    var row_loss = 0.0;
                    if (LOSS == 0u) {
                        for (var c = 0u; c < nout; c++) {
                            let z = buf[zo + c * RQ + q][e];
                            let y = target_at(src, c, st.map_at);
                            row_loss = row_loss + bce(z, y);
                            buf[zo + c * RQ + q][e] = wr * (sigmoid(z) - y) * inv_batch;
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
                            let y = target_at(src, c, st.map_at);
                            row_loss = row_loss + y * (lse - z);
                            buf[zo + c * RQ + q][e] = wr * (ts * (exp(z - mx) / se) - y) * inv_batch;
                        }
                    } else {
                        let scale = 2.0 / f32(nout) * inv_batch;
                        for (var c = 0u; c < nout; c++) {
                            let dd = buf[zo + c * RQ + q][e] - target_at(src, c, st.map_at);
                            row_loss = row_loss + dd * dd;
                            buf[zo + c * RQ + q][e] = wr * dd * scale;
                        }
                        row_loss = row_loss / f32(nout);
                    }
                    loss_acc = loss_acc + wr * row_loss;
                } else {
                    for (var c = 0u; c < nout; c++) { buf[zo + c * RQ + q][e] = 0.0; }
                }
            }
            workgroupBarrier();
            // Backward, layer by layer from the output: the deltas of layer l's inputs into
            // registers (they read W), then its gradient and, after the last chunk, its
            // update (which writes W), then those deltas over its inputs' activations.
            let fresh = r0 == 0u;
            let last = r0 + rc >= rows;
            for (var l = layers; l > 0u; l--) {
                let k = l - 1u;  // the layer
                let ni = width(k);
                let no = width(l);
                let ain = act_off(k);
                let i0 = min(lid, ni - 1u);
                let i1 = min(lid + WT, ni - 1u);
                var below0 = rows_zero();
                var below1 = rows_zero();
                if (k > 0u) {
                    // One copy of delta_below's code for both units.
                    for (var ii = 0u; ii < 2u; ii++) {
                        if (any_lane(lid + ii * WT < ni)) {
                            let d = delta_below(k, select(i0, i1, ii == 1u), pb, lane);
                            if (ii == 0u) { below0 = d; } else { below1 = d; }
                        }
                    }
                }
                workgroupBarrier();
                for (var jj = 0u; jj < 2u; jj++) {
                    // Lanes past the last column repeat it and store nothing.
                    let jreal = lid + jj * WT;
                    let j = min(jreal, no - 1u);
                    if (any_lane(jreal < no)) {
                        let d = rows_load(act_off(l) + j * RQ);
                        let fw = pb + fp.w_flat[k] + j;
                        let fb = pb + fp.b_flat[k] + j;
                        let owns = jreal < no;
                        column_gradients(fw, fb, owns, d, ain, ni, no, lane, fresh, last, st);
                    }
                }
                workgroupBarrier();
                if (k > 0u) {
                    // One copy of rows_store's code for both units.
                    for (var ii = 0u; ii < 2u; ii++) {
                        let second = ii == 1u;
                        if (lid + ii * WT < ni) {
                            rows_store(ain + select(i0, i1, second) * RQ,
                                       rows_pick(below0, below1, second));
                        }
                    }
                    workgroupBarrier();
                }
            }
        }

        if (st.kind == 1u) { continue; }
        // The next step reads the parameters every thread wrote; the same barrier lets
        // thread 0 add the threads' loss sums, in thread order. (Each barrier costs a CPU
        // driver compile time: lavapipe splits the shader into coroutines at them.)
        red[lid] = loss_acc;
        storageBarrier();
        workgroupBarrier();
        if (lid == 0u) {
            var total = 0.0;
            for (var t = 0u; t < WT; t++) { total = total + red[t]; }
            losses[st.loss_slot] = total * inv_batch;
        }
    }

    // The canary: a loop of fp.canary iterations runs fewer only if the driver's loop budget
    // ran out above, and then every result of this dispatch is suspect.
    var seen = 0u;
    for (var i = 0u; i < fp.canary; i++) { seen = seen + 1u; }
    if (lid == 0u && seen != fp.canary) { losses[fp.health] = 1.0; }
}
