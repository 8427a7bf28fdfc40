//! Host side of wide.wgsl: many whole training steps of a typical tabular network (at most 4
//! layers, widths up to 128) in one dispatch of one workgroup, the batch in chunks of up to 64
//! rows held in workgroup memory, each thread owning whole columns of every layer.

use super::{FusedSteps, LoopCost, BINDINGS, CANARY};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Kernel, Module, Tensor};
use crate::kernels::{Bind, Dispatch};
use crate::model::Mlp;
use crate::optim::OptimizerConfig;

/// Most dense layers (the output layer included).
pub const MAX_LAYERS: usize = 4;
/// Widest layer, inputs included.
pub const MAX_WIDTH: usize = 128;
/// Floats of workgroup memory for one chunk's activations, later its deltas (`BUFV` vec4s).
const BUFW: usize = 4 * 2032;
/// The chunk sizes a network may be given (4·`RQ` rows; each its own pipeline).
pub const CHUNK_ROWS: [usize; 5] = [4, 8, 16, 32, 64];
/// Threads of the workgroup (`WT`).
const WT: u64 = 64;
/// Workgroup memory wide.wgsl declares: the chunk buffer and the loss sums.
const WORKGROUP_BYTES: u32 = 4 * (BUFW + WT as usize) as u32;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct WideParams {
    layers: u32,
    inputs: u32,
    outputs: u32,
    steps: u32,
    _pad0: [u32; 2],
    health: u32,
    canary: u32,
    rq: u32,
    params: u32,
    g_at: u32,
    _pad: [u32; 5],
    widths: [u32; 8],
    acts: [u32; 4],
    w_flat: [u32; 4],
    b_flat: [u32; 4],
    act_off: [u32; 8],
}

/// Byte offset of `steps` in [`WideParams`], which [`FusedSteps::set_steps`] rewrites.
const STEPS_AT: u64 = 12;

/// wide.wgsl after the prelude and lanes_plain.wgsl: for any adapter.
pub(super) static MODULE: Module = Module {
    name: "fused_wide",
    parts: &[
        crate::kernels::PRELUDE,
        include_str!("constants.wgsl"),
        include_str!("rows.wgsl"),
        include_str!("lanes_plain.wgsl"),
        include_str!("wide.wgsl"),
    ],
    // Every chunk row, delta and loss sum is written before it is read (see wide.wgsl).
    initialises_workgroup_memory: true,
};

/// wide.wgsl after the prelude and lanes_subgroup.wgsl: for adapters with subgroups of at
/// least 8 lanes.
pub(super) static MODULE_SUBGROUP: Module = Module {
    name: "fused_wide_subgroup",
    parts: &[
        crate::kernels::PRELUDE,
        include_str!("constants.wgsl"),
        include_str!("rows.wgsl"),
        include_str!("lanes_subgroup.wgsl"),
        include_str!("wide.wgsl"),
    ],
    // Every chunk row, delta and loss sum is written before it is read (see wide.wgsl).
    initialises_workgroup_memory: true,
};

/// Whether this device runs the module that shares loads across a subgroup.
pub fn shares_loads(gpu: &Gpu) -> bool {
    gpu.has_subgroups_of(8)
}

/// The module this device runs: the one that shares loads across a subgroup where it can.
pub(super) fn module(gpu: &Gpu) -> &'static Module {
    match shares_loads(gpu) {
        true => &MODULE_SUBGROUP,
        false => &MODULE,
    }
}

/// The kernel of `module`.
fn kernel(module: &'static Module) -> Kernel {
    Kernel {
        module,
        entry: "fused_wide",
        bindings: BINDINGS,
    }
}

/// Most rows a chunk of `model` can hold: the largest of [`CHUNK_ROWS`] whose every layer's
/// activations fit the chunk buffer (deltas take their place); 0 where 4 rows do not fit.
pub fn chunk_rows(model: &Mlp) -> usize {
    let spec = model.spec();
    let per_row = spec.inputs + model.layers().iter().map(|l| l.outputs).sum::<usize>();
    CHUNK_ROWS
        .into_iter()
        .rev()
        .find(|rc| rc * per_row <= BUFW)
        .unwrap_or(0)
}

/// Rows a chunk of `model` holds when it trains `batch` rows a step: the fewest of
/// [`CHUNK_ROWS`] that hold the batch, or [`chunk_rows`] where none of those fit (a chunk
/// past the batch computes rows that add nothing).
pub fn chunk_rows_for(model: &Mlp, batch: usize) -> usize {
    let most = chunk_rows(model);
    CHUNK_ROWS
        .into_iter()
        .find(|&rc| rc >= batch && rc <= most)
        .unwrap_or(most)
}

/// Whether the wide kernel can train `model`.
pub fn supports(model: &Mlp) -> bool {
    let spec = model.spec();
    model.layers().len() <= MAX_LAYERS
        && spec.inputs <= MAX_WIDTH
        && model.layers().iter().all(|l| l.outputs <= MAX_WIDTH)
        && chunk_rows(model) > 0
}

/// Whether the device can run the wide kernel: 8 storage buffers and 32 KiB of workgroup
/// memory.
pub fn fits(gpu: &Gpu) -> bool {
    let l = gpu.limits();
    kernel(&MODULE).storage_buffers() <= l.max_storage_buffers_per_shader_stage
        && WORKGROUP_BYTES <= l.max_compute_workgroup_storage_size
        && WT as u32 <= l.max_compute_invocations_per_workgroup
}

/// An upper bound on the loop iterations one invocation of wide.wgsl runs (every loop counted
/// at one more iteration than it runs, in the order it appears there) at `batch` rows a step.
pub fn loop_iterations(model: &Mlp, batch: usize) -> LoopCost {
    let n = |x: u64| x + 1; // a loop of x iterations
    let rc = chunk_rows_for(model, batch).max(4) as u64;
    let layers = model.layers();
    let nl = layers.len() as u64;
    let share = |x: u64| x.div_ceil(WT); // a loop over x items, each thread taking every WT-th
    let (nin, nout) = (model.spec().inputs as u64, model.spec().outputs as u64);
    let load: u64 = n(nl)
        + layers
            .iter()
            .map(|l| n(share((l.inputs * l.outputs) as u64)) + n(share(l.outputs as u64)))
            .sum::<u64>();
    // Each layer: two passes (columns t and t + WT), each a loop over the layer's width.
    let over = |width: usize| n(2) + 2 * n(width as u64);
    let forward: u64 = n(nl) + layers.iter().map(|l| over(l.inputs)).sum::<u64>();
    // The loss's three loops over the outputs, and weight_at's.
    let loss = 4 * n(nout);
    // Each layer: the deltas below (two units a thread, a loop over the layer's width each),
    // then two passes over its columns, each running one of column_gradients' two copies
    // (counted as if both ran) over the layer's inputs.
    let backward: u64 = n(nl)
        + layers
            .iter()
            .map(|l| 2 * n(l.outputs as u64) + n(2) + 4 * n(l.inputs as u64))
            .sum::<u64>();
    let chunk = n(share(rc)) + share(rc) * n(nin) + forward + loss + backward;
    let chunks = (batch as u64).div_ceil(rc);
    let reduce = n(WT);
    // A snapshot step's one loop (a share of the parameters) is shorter than a chunk's.
    let per_step = 1 + n(chunks) + chunks * chunk + reduce;
    LoopCost {
        setup: load + u64::from(CANARY) + 64,
        per_step,
    }
}

/// Builds the wide fused training dispatch of `models` models of `model`'s shape, one
/// workgroup each (the buffers as for `fused::fused_steps`, each step naming its model's
/// parameters by `params_at`; `losses` ends with the health slot and then as many floats as
/// `p` holds, for the gradient sums), at `rc` rows a chunk (at most [`chunk_rows`]; checks
/// try smaller ones).
pub(crate) fn build_with_rows(
    gpu: &Gpu,
    model: &Mlp,
    optimizer: &OptimizerConfig,
    rc: usize,
    models: usize,
    [steps, order, x_all, t_all, p, m, v, losses]: [&Tensor; 8],
) -> Result<FusedSteps> {
    if !supports(model) || !CHUNK_ROWS.contains(&rc) || rc > chunk_rows(model) {
        return Err(Error::Shape {
            op: "fused_wide",
            detail: format!(
                "the wide fused kernel runs at most {MAX_LAYERS} layers of width {MAX_WIDTH}, \
                 {rc} rows a chunk at most {}",
                chunk_rows(model)
            ),
        });
    }
    let groups = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if models == 0 || models > groups {
        return Err(Error::Shape {
            op: "fused_wide",
            detail: format!("{models} models in one dispatch; this adapter runs 1 to {groups}"),
        });
    }
    let scratch = p.len;
    if losses.len < scratch + 1 {
        return Err(Error::Shape {
            op: "fused_wide",
            detail: "the loss buffer needs a health slot and the gradient scratch at its end"
                .into(),
        });
    }
    let spec = model.spec();
    let layers = model.layers();
    let mut values = WideParams {
        layers: layers.len() as u32,
        inputs: spec.inputs as u32,
        outputs: spec.outputs as u32,
        steps: 0,
        _pad0: [0; 2],
        health: (losses.len - scratch - 1) as u32,
        canary: CANARY,
        rq: (rc / 4) as u32,
        params: model.params().len() as u32,
        g_at: (losses.len - scratch) as u32,
        _pad: [0; 5],
        widths: [0; 8],
        acts: [0; 4],
        w_flat: [0; 4],
        b_flat: [0; 4],
        act_off: [0; 8],
    };
    values.widths[0] = spec.inputs as u32;
    // Offsets in `buf` count vec4s: a unit holds rq of them.
    let rq = (rc / 4) as u32;
    let mut act = 0u32;
    for (l, layer) in layers.iter().enumerate() {
        values.widths[l + 1] = layer.outputs as u32;
        values.w_flat[l] = layer.weights.start as u32;
        values.b_flat[l] = layer.bias.start as u32;
        values.acts[l] = crate::kernels::activation::code(layer.activation);
        values.act_off[l] = act;
        act += rq * layer.inputs as u32;
    }
    values.act_off[layers.len()] = act;
    act += rq * spec.outputs as u32;
    debug_assert!(4 * act as usize <= BUFW);
    let params = gpu.uniform("fused wide", &values);
    let dispatch = Dispatch::specialised(
        gpu,
        kernel(module(gpu)),
        &[
            &[("RQ", (rc / 4) as f64)][..],
            &super::constants::for_model(model, optimizer.kind),
        ]
        .concat(),
        &[
            Bind::Params(&params),
            Bind::Tensor(steps),
            Bind::Tensor(order),
            Bind::Tensor(x_all),
            Bind::Tensor(t_all),
            Bind::Tensor(p),
            Bind::Tensor(m),
            Bind::Tensor(v),
            Bind::Tensor(losses),
        ],
        [models as u32, 1, 1],
    )?;
    Ok(FusedSteps::new(
        dispatch,
        params,
        bytemuck::bytes_of(&values).to_vec(),
        STEPS_AT,
    ))
}
