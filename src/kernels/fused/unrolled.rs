//! The small fused kernel unrolled for one network: WGSL written here for the network's
//! widths, activations, loss and optimiser (one module each), after the prelude and
//! small_io.wgsl, whose formulas (activate, activate_back, sigmoid, bce, adam_update,
//! sgd_update) it calls, in fused.wgsl's order.
//!
//! One workgroup of [`lanes`] threads trains the model, one batch row a thread. Every
//! activation and delta of a row is a named value, every gradient sum a named register (four
//! parameters a vec4), and the step's weights are read once at uniform addresses. After the
//! rows, each thread writes its sums to workgroup memory and the threads sum them across
//! threads in thread order (deterministic, no subgroup operation needed) and update the
//! parameters in p, m and v: two barriers a step. On a CPU driver (lavapipe: the workgroup is
//! one 8-lane SIMD vector) that leaves the rows' loads as the only memory traffic of the row
//! loop, where fused.wgsl's arrays indexed at run time cost a loop over the lanes for every
//! access. Its compile grows faster than the parameters, hence [`MAX_PARAMS`].

use super::{Kernel, Module, BINDINGS, CANARY};
use crate::gpu::Gpu;
use crate::model::{Loss, Mlp};
use crate::optim::OptimizerKind;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Threads of the kernel's workgroup on `gpu`: one subgroup where the adapter says how wide
/// its subgroups are (lavapipe: one 8-lane SIMD vector, so that a barrier switches no
/// coroutine), else 8.
pub fn lanes(gpu: &Gpu) -> u32 {
    gpu.subgroup_min_size()
        .filter(|n| (4..=64).contains(n))
        .unwrap_or(8)
        .min(gpu.limits().max_compute_invocations_per_workgroup)
}

/// Most parameters of a network the kernel is generated for: its compile grows faster than
/// the parameters (lavapipe, cold: 25 parameters 0.5 s, 81 1 s, 145 1.7 s, 289 3.8 s).
pub const MAX_PARAMS: usize = 320;

/// Whether the kernel can be generated for `model`: fused.wgsl's networks
/// ([`super::supports_small`]) of at most [`MAX_PARAMS`] parameters.
pub fn supports(model: &Mlp) -> bool {
    super::supports_small(model) && model.num_params() <= MAX_PARAMS
}

/// Bytes of workgroup memory the kernel of `model` takes on `lanes` lanes: every lane's
/// gradient sums and loss.
fn workgroup_bytes(model: &Mlp, lanes: u32) -> u64 {
    let groups = model.num_params().div_ceil(4) as u64;
    u64::from(lanes) * (16 * groups + 4)
}

/// Whether `gpu` can run the kernel of `model`: its bindings and workgroup memory.
pub fn fits(gpu: &Gpu, model: &Mlp) -> bool {
    let l = gpu.limits();
    super::FUSED.storage_buffers() <= l.max_storage_buffers_per_shader_stage
        && workgroup_bytes(model, lanes(gpu)) <= u64::from(l.max_compute_workgroup_storage_size)
}

/// Loop iterations of one dispatch of `model`'s kernel at `batch` rows a step on `lanes`
/// lanes (see [`super::LoopCost`]), each loop counted at one more than it runs: the steps
/// loop; each step's row loop, update loop (the lanes' sums, the four parameters of a group)
/// and loss sum; the canary.
pub fn loop_iterations(model: &Mlp, batch: usize, lanes: u32) -> super::LoopCost {
    let lanes = u64::from(lanes);
    let groups = model.num_params().div_ceil(4) as u64;
    let rows = (batch as u64).div_ceil(lanes) + 1;
    let update = (groups.div_ceil(lanes) + 1) * (1 + lanes + 5);
    super::LoopCost {
        setup: u64::from(CANARY) + 1 + 64,
        per_step: 1 + rows + update + lanes + 1,
    }
}

/// Generated modules by [`key`] (which decides their source), kept for the life of the
/// process: a few to a few hundred KiB of text for each network shape, loss and optimiser a
/// process trains.
static MODULES: Mutex<Option<HashMap<String, &'static Module>>> = Mutex::new(None);

/// The kernel that trains `model` with `optimizer` on `lanes` lanes.
pub(crate) fn kernel(model: &Mlp, optimizer: OptimizerKind, lanes: u32) -> Kernel {
    let key = key(model, optimizer, lanes);
    let mut modules = MODULES.lock().unwrap_or_else(|p| p.into_inner());
    let modules = modules.get_or_insert_with(HashMap::new);
    let module = match modules.get(&key) {
        Some(m) => *m,
        None => {
            let name: &'static str = Box::leak(format!("fused_unrolled {key}").into());
            let body: &'static str = Box::leak(source(model, optimizer, lanes).into());
            let parts: &'static [&'static str] = Box::leak(Box::new([
                crate::kernels::PRELUDE,
                include_str!("small_io.wgsl"),
                body,
            ]));
            let module: &'static Module = Box::leak(Box::new(Module {
                name,
                parts,
                initialises_workgroup_memory: true,
            }));
            modules.insert(key, module);
            module
        }
    };
    Kernel {
        module,
        entry: "fused_steps",
        bindings: BINDINGS,
    }
}

/// What the generated module is for: widths, activations, loss, optimiser, lanes (its name,
/// and its trust verdict's key).
pub fn key(model: &Mlp, optimizer: OptimizerKind, lanes: u32) -> String {
    let mut k = format!("{}", model.spec().inputs);
    for l in model.layers() {
        let act = crate::kernels::activation::code(l.activation);
        let _ = write!(k, "-{}a{act}", l.outputs);
    }
    format!("{k} {:?} {optimizer:?} lanes={lanes}", model.spec().loss)
}

/// A parameter: its index in the flat layout, and its gradient from one row (WGSL).
struct Param {
    flat: usize,
    gradient: String,
}

/// Every parameter of `model`, W then b of each layer (W row-major, input by output).
fn params(model: &Mlp) -> Vec<Param> {
    let mut out = Vec::with_capacity(model.num_params());
    for (l, layer) in model.layers().iter().enumerate() {
        for i in 0..layer.inputs {
            for j in 0..layer.outputs {
                out.push(Param {
                    flat: layer.weights.start + i * layer.outputs + j,
                    gradient: format!("a{l}_{i} * d{}_{j}", l + 1),
                });
            }
        }
        for j in 0..layer.outputs {
            out.push(Param {
                flat: layer.bias.start + j,
                gradient: format!("d{}_{j}", l + 1),
            });
        }
    }
    out
}

/// The kernel's WGSL (after the prelude and small_io.wgsl).
pub fn source(model: &Mlp, optimizer: OptimizerKind, lanes: u32) -> String {
    let spec = model.spec();
    let layers = model.layers();
    let (nin, nout) = (spec.inputs, spec.outputs);
    let params = params(model);
    let n = params.len();
    let groups = n.div_ceil(4);
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "// Generated by src/kernels/fused/unrolled.rs for {}.\n",
        key(model, optimizer, lanes)
    );
    let _ = writeln!(w, "const LANES: u32 = {lanes}u;");
    let _ = writeln!(w, "const P: u32 = {n}u;          // parameters");
    let _ = writeln!(w, "const P4: u32 = {groups}u;    // their vec4 groups");
    let flat: Vec<String> = params.iter().map(|q| format!("{}u", q.flat)).collect();
    let _ = writeln!(
        w,
        "// Parameter k (W then b of each layer) in the flat layout of p, m and v.\n\
         const FLAT = array<u32, {n}>({});",
        flat.join(", ")
    );
    let _ = writeln!(
        w,
        "var<workgroup> part: array<vec4<f32>, {}>;   // (LANES, P4) each lane's gradient sums",
        groups * lanes as usize
    );
    let _ = writeln!(w, "var<workgroup> part_loss: array<f32, {lanes}>;");
    let update = match optimizer {
        OptimizerKind::Sgd => {
            "let r = sgd_update(p[f], gi, m[f], st.lr, fp.momentum, fp.weight_decay);\n                \
             m[f] = r.y;"
                .to_string()
        }
        OptimizerKind::Adam | OptimizerKind::AdamW => format!(
            "let r = adam_update(p[f], gi, m[f], v[f], st.lr, st.bias_correction1, \
             st.bias_correction2, fp.beta1, fp.beta2, fp.eps, fp.weight_decay, {});\n                \
             m[f] = r.y;\n                v[f] = r.z;",
            optimizer == OptimizerKind::AdamW
        ),
    };
    let _ = writeln!(
        w,
        r#"
@compute @workgroup_size(LANES, 1, 1)
fn fused_steps(@builtin(local_invocation_index) lane: u32) {{
    for (var s = 0u; s < fp.steps; s++) {{
        let st = steps[s];
        let rows = st.rows;
        let inv_batch = 1.0 / f32(rows);"#
    );
    // The step's parameters, read once (at a uniform address: one load for every lane).
    for q in &params {
        let _ = writeln!(w, "        let w{0} = p[{0}u];", q.flat);
    }
    for k4 in 0..groups {
        let _ = writeln!(w, "        var g{k4} = vec4<f32>(0.0);");
    }
    let _ = writeln!(w, "        var loss_acc = 0.0;");
    // One row a lane; lanes past the batch take its last row at weight 0, adding nothing.
    let _ = writeln!(
        w,
        "        for (var r0 = 0u; r0 < rows; r0 += LANES) {{\n            \
         let r = r0 + lane;\n            \
         let src = order[st.row_offset + min(r, rows - 1u)];\n            \
         let wr = select(0.0, t_all[src * {}u + {nout}u], r < rows);",
        nout + 1
    );
    for i in 0..nin {
        let _ = writeln!(w, "            let a0_{i} = x_all[src * {nin}u + {i}u];");
    }
    // Forward: z = (Σ_i a_i · W_ij in i order) + b_j, then the activation (not at the logits).
    let weight = |l: usize, i: usize, j: usize| {
        let layer = &layers[l];
        format!("w{}", layer.weights.start + i * layer.outputs + j)
    };
    for (l, layer) in layers.iter().enumerate() {
        for j in 0..layer.outputs {
            let mut z = format!("a{l}_0 * {}", weight(l, 0, j));
            for i in 1..layer.inputs {
                z = format!("({z}) + a{l}_{i} * {}", weight(l, i, j));
            }
            let z = format!("({z}) + w{}", layer.bias.start + j);
            let next = l + 1;
            match layer.activation {
                Some(a) => {
                    let code = crate::kernels::activation::code(Some(a));
                    let _ = writeln!(w, "            let a{next}_{j} = activate({code}u, {z});");
                }
                None => {
                    let _ = writeln!(w, "            let a{next}_{j} = {z};");
                }
            }
        }
    }
    // The loss and its gradient at the logits (d{L}_c), as fused.wgsl.
    let top = layers.len();
    for c in 0..nout {
        let _ = writeln!(
            w,
            "            let y_{c} = t_all[src * {}u + {c}u];",
            nout + 1
        );
    }
    let _ = writeln!(w, "            var row_loss = 0.0;");
    match spec.loss {
        Loss::Bce => {
            for c in 0..nout {
                let _ = writeln!(
                    w,
                    "            row_loss = row_loss + bce(a{top}_{c}, y_{c});\n            \
                     let d{top}_{c} = wr * (sigmoid(a{top}_{c}) - y_{c}) * inv_batch;"
                );
            }
        }
        Loss::SoftmaxCe => {
            let _ = writeln!(w, "            var mx = a{top}_0;");
            for c in 1..nout {
                let _ = writeln!(w, "            mx = max(mx, a{top}_{c});");
            }
            let _ = writeln!(w, "            var se = 0.0;\n            var ts = 0.0;");
            for c in 0..nout {
                let _ = writeln!(
                    w,
                    "            se = se + exp(a{top}_{c} - mx);\n            ts = ts + y_{c};"
                );
            }
            let _ = writeln!(w, "            let lse = mx + log(se);");
            for c in 0..nout {
                let _ = writeln!(
                    w,
                    "            row_loss = row_loss + y_{c} * (lse - a{top}_{c});\n            \
                     let d{top}_{c} = wr * (ts * (exp(a{top}_{c} - mx) / se) - y_{c}) * \
                     inv_batch;"
                );
            }
        }
        Loss::Mse => {
            let _ = writeln!(w, "            let scale = 2.0 / f32({nout}u) * inv_batch;");
            for c in 0..nout {
                let _ = writeln!(
                    w,
                    "            let e_{c} = a{top}_{c} - y_{c};\n            \
                     row_loss = row_loss + e_{c} * e_{c};\n            \
                     let d{top}_{c} = wr * e_{c} * scale;"
                );
            }
            let _ = writeln!(w, "            row_loss = row_loss / f32({nout}u);");
        }
    }
    let _ = writeln!(w, "            loss_acc = loss_acc + wr * row_loss;");
    // Backward: δ_below_i = act'(a_i) · Σ_j δ_j W_ij (j in order) for every layer but the
    // first; then dW_ij += a_i · δ_j and db_j += δ_j, four parameters a register.
    for (l, layer) in layers.iter().enumerate().rev().filter(|(l, _)| *l > 0) {
        let next = l + 1;
        let code = crate::kernels::activation::code(layers[l - 1].activation);
        for i in 0..layer.inputs {
            let mut sum = format!("d{next}_0 * {}", weight(l, i, 0));
            for j in 1..layer.outputs {
                sum = format!("({sum}) + d{next}_{j} * {}", weight(l, i, j));
            }
            let _ = writeln!(
                w,
                "            let d{l}_{i} = activate_back({code}u, a{l}_{i}, {sum});"
            );
        }
    }
    for k4 in 0..groups {
        let terms: Vec<String> = (4 * k4..4 * k4 + 4)
            .map(|k| params.get(k).map_or("0.0".into(), |q| q.gradient.clone()))
            .collect();
        let _ = writeln!(
            w,
            "            g{k4} = g{k4} + vec4<f32>({});",
            terms.join(", ")
        );
    }
    let _ = writeln!(w, "        }}");
    // Each lane's sums to workgroup memory; then each lane sums a quarter-group of
    // parameters across the lanes in lane order and updates them (fused.wgsl's order of
    // formulas: the prelude's adam_update and sgd_update).
    for k4 in 0..groups {
        let _ = writeln!(w, "        part[lane * P4 + {k4}u] = g{k4};");
    }
    let _ = writeln!(
        w,
        r#"        part_loss[lane] = loss_acc;
        workgroupBarrier();
        for (var k4 = lane; k4 < P4; k4 += LANES) {{
            var sum = part[k4];
            for (var q = 1u; q < LANES; q++) {{ sum = sum + part[q * P4 + k4]; }}
            for (var c = 0u; c < 4u; c++) {{
                let k = 4u * k4 + c;
                if (k >= P) {{ break; }}
                let f = FLAT[k];
                let gi = sum[c];
                {update}
                p[f] = r.x;
            }}
        }}
        if (lane == 0u) {{
            var loss = part_loss[0];
            for (var q = 1u; q < LANES; q++) {{ loss = loss + part_loss[q]; }}
            losses[st.loss_slot] = loss * inv_batch;
        }}
        // The next step reads the parameters every lane wrote, and writes `part` again.
        storageBarrier();
        workgroupBarrier();
    }}
    // The canary, as fused.wgsl's: a loop cut short by the driver's budget reports itself.
    var seen = 0u;
    for (var i = 0u; i < fp.canary; i++) {{ seen = seen + 1u; }}
    if (lane == 0u && seen != fp.canary) {{ losses[fp.health] = 1.0; }}
}}"#
    );
    s
}
