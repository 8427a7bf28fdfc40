//! The fused training kernels: many whole training steps in one dispatch of one workgroup.
//! Small networks (widths up to 16) run one batch row a thread: up to
//! [`unrolled::MAX_PARAMS`] parameters in a kernel generated for the network ([`unrolled`]),
//! every value a named register; above that in fused.wgsl (this file's host side), its
//! weights in workgroup memory. wide.wgsl
//! ([`wide`]) runs typical tabular networks (widths up to 128) one layer column a thread,
//! chunks of the batch in workgroup memory. [`kind`] says which one a network takes.

pub mod constants;
pub mod reference;
pub mod unrolled;
pub mod wide;

use super::{Bind, Dispatch};
use crate::error::{Error, Result};
use crate::gpu::{Binding, Gpu, Kernel, Module, StepUniform, Tensor};
use crate::model::{Activation, Loss, Mlp, MlpSpec};
use crate::optim::{OptimizerConfig, OptimizerKind};
use crate::tolerance::Comparison;

/// Most dense layers (the output layer included) the fused kernel runs.
pub const MAX_LAYERS: usize = 4;
/// Widest layer, inputs included.
pub const MAX_WIDTH: usize = 16;
/// Most parameters (the kernel keeps them packed, without the flat layout's padding).
pub const MAX_PARAMS: usize = 1024;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FusedParams {
    layers: u32,
    inputs: u32,
    outputs: u32,
    n_real: u32,
    steps: u32,
    loss: u32,
    optimizer: u32,
    health: u32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    momentum: f32,
    canary: u32,
    _pad1: [u32; 2],
    widths: [u32; 8],
    acts: [u32; 4],
    w_off: [u32; 4],
    b_off: [u32; 4],
    seg_flat: [u32; 8],
    seg_compact: [u32; 8],
    seg_len: [u32; 8],
}

/// Threads of the fused workgroup (`FW` in shaders/fused.wgsl).
const FW: u64 = 64;
/// Parameters summed across threads per round (`XCHUNK`).
const XCHUNK: u64 = 16;
/// Iterations of the canary loop.
const CANARY: u32 = 2;

/// fused.wgsl after the prelude.
// One pipeline for every loss, optimiser and activation (read from its parameters): on
// llvmpipe through GL each compile of it takes about a minute and a half, so pipeline
// constants (as the wide kernel has) would cost that for every combination a run meets.
static MODULE: Module = Module {
    name: "fused",
    parts: &[
        super::PRELUDE,
        include_str!("small_io.wgsl"),
        include_str!("fused.wgsl"),
    ],
    initialises_workgroup_memory: false,
};

/// The bindings of every fused kernel: parameters, steps, order, x, targets (read), p, m,
/// v, losses (read and written).
const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::Uniform),
    (1, Binding::Read),
    (2, Binding::Read),
    (3, Binding::Read),
    (4, Binding::Read),
    (5, Binding::ReadWrite),
    (6, Binding::ReadWrite),
    (7, Binding::ReadWrite),
    (8, Binding::ReadWrite),
];

static FUSED: Kernel = Kernel {
    module: &MODULE,
    entry: "fused_steps",
    bindings: BINDINGS,
};

/// Which fused kernel trains a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// fused.wgsl: widths up to 16, one batch row a thread.
    Small,
    /// [`unrolled`]: fused.wgsl's smaller networks, a kernel generated for each.
    Unrolled {
        /// The workgroup's threads ([`unrolled::lanes`]).
        lanes: u32,
    },
    /// wide.wgsl: widths up to 128, one layer column a thread.
    Wide,
}

/// The fused kernel that can train `model` on `gpu`, if one can.
pub fn kind(gpu: &Gpu, model: &Mlp) -> Option<Kind> {
    if unrolled::supports(model) && unrolled::fits(gpu, model) {
        Some(Kind::Unrolled {
            lanes: unrolled::lanes(gpu),
        })
    } else if supports_small(model) && fits_small(gpu) {
        Some(Kind::Small)
    } else if wide::supports(model) && wide::fits(gpu) {
        Some(Kind::Wide)
    } else {
        None
    }
}

/// Whether a fused kernel can train `model` (on a device that fits it).
pub fn supports(model: &Mlp) -> bool {
    supports_small(model) || wide::supports(model)
}

/// Whether the small fused kernel can train `model`: few, narrow layers and few parameters.
pub fn supports_small(model: &Mlp) -> bool {
    let spec = model.spec();
    model.layers().len() <= MAX_LAYERS
        && spec.inputs <= MAX_WIDTH
        && model.layers().iter().all(|l| l.outputs <= MAX_WIDTH)
        && model.num_params() <= MAX_PARAMS
}

/// Workgroup memory shaders/fused.wgsl declares: w, g and xfer (1024 floats each), red (64).
const WORKGROUP_BYTES: u32 = 4 * (3 * 1024 + 64);

/// Whether the device can run the small fused kernel: it binds 8 storage buffers and keeps the
/// weights in 12.3 KiB of workgroup memory, more than some GL and mobile drivers allow.
pub fn fits_small(gpu: &Gpu) -> bool {
    let l = gpu.limits();
    FUSED.storage_buffers() <= l.max_storage_buffers_per_shader_stage
        && WORKGROUP_BYTES <= l.max_compute_workgroup_storage_size
        && 64 <= l.max_compute_invocations_per_workgroup
}

/// An upper bound on the loop iterations one invocation of shaders/fused.wgsl runs: `setup`
/// once per dispatch, `per_step` for each step of `batch` rows. Every loop of the kernel is
/// counted, at one more iteration than it runs, in the order it appears there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopCost {
    /// Loading the weights and the canary.
    pub setup: u64,
    /// One whole step.
    pub per_step: u64,
}

/// The loop iterations of one fused dispatch of `model` at `batch` rows a step (see
/// [`LoopCost`]), by the kernel `kind`.
pub fn loop_iterations(kind: Kind, model: &Mlp, batch: usize) -> LoopCost {
    match kind {
        Kind::Small => small_loop_iterations(model, batch),
        Kind::Unrolled { lanes } => unrolled::loop_iterations(model, batch, lanes),
        Kind::Wide => wide::loop_iterations(model, batch),
    }
}

/// [`loop_iterations`] of the small kernel.
fn small_loop_iterations(model: &Mlp, batch: usize) -> LoopCost {
    let n = |x: usize| x as u64 + 1; // a loop of x iterations
    let layers = model.layers();
    let segments: Vec<u64> = layers
        .iter()
        .flat_map(|l| [l.weights.len() as u64, l.bias.len() as u64])
        .collect();
    // One pass over every segment, each thread taking every FW-th element.
    let over_segments = segments.len() as u64
        + 1
        + segments
            .iter()
            .map(|&len| len.div_ceil(FW) + 1)
            .sum::<u64>();
    let nr = model.num_params() as u64;
    let (nin, nout) = (model.spec().inputs, model.spec().outputs);
    let forward: u64 = n(layers.len())
        + layers
            .iter()
            .map(|l| n(l.outputs) + l.outputs as u64 * n(l.inputs))
            .sum::<u64>();
    // Each target4 call (one per output and loss loop, at most two loops) runs 4 rows.
    let loss = 3 * n(nout) + 3 * nout as u64 * n(4usize);
    let backward: u64 = n(layers.len())
        + layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let grads = n(l.outputs) + l.outputs as u64 * n(l.inputs);
                let below = match i {
                    0 => 0,
                    _ => n(l.inputs) + l.inputs as u64 * n(l.outputs) + n(l.inputs),
                };
                grads + below
            })
            .sum::<u64>();
    // Four rows a lane: their sources and inputs, one row at a time, and their weights.
    let gather = n(4) + n(nin) + nin as u64 * n(4) + n(4);
    let row = gather + forward + loss + backward;
    let rows_per_thread = (batch as u64).div_ceil(4 * FW);
    let rounds = nr.div_ceil(XCHUNK);
    let per_step = 1
        + (nr + 1)
        + (rows_per_thread + 1) * (row + 1)
        + (rounds + 1) * (1 + (XCHUNK + 1) + (FW + 1))
        + 7
        + over_segments;
    // Measured on Mesa 22.3.6 (by a loop spending what was left of the budget at the end),
    // one row a lane: setup 37-58 and per step 80-88% of this bound; the 64 covers what the
    // setup's count misses (the workgroup's start and the canary's exit).
    LoopCost {
        setup: over_segments + u64::from(CANARY) + 64,
        per_step,
    }
}

/// Most steps one fused dispatch of `model` at `batch` rows a step may run within the driver's
/// loop budget (see `ops::probe`): `None` when not even one fits.
pub fn steps_within(budget: Option<u64>, cost: LoopCost) -> Option<usize> {
    match budget {
        None => Some(usize::MAX),
        Some(budget) => {
            let steps = budget.saturating_sub(cost.setup) / cost.per_step.max(1);
            (steps > 0).then(|| usize::try_from(steps).unwrap_or(usize::MAX))
        }
    }
}

/// A fused step dispatch and its parameter buffer, whose step count changes per chunk.
pub struct FusedSteps {
    dispatch: Dispatch,
    params: wgpu::Buffer,
    /// The parameter block as uploaded, and where its step count sits in it.
    values: Vec<u8>,
    steps_at: u64,
}

impl FusedSteps {
    fn new(dispatch: Dispatch, params: wgpu::Buffer, values: Vec<u8>, steps_at: u64) -> Self {
        FusedSteps {
            dispatch,
            params,
            values,
            steps_at,
        }
    }

    /// The dispatch, ready to record.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }

    /// Records the dispatch into an encoder of its own and submits it.
    pub fn submit(&self, gpu: &Gpu, label: &str) {
        let mut encoder = gpu.encoder(label);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: None,
            });
            self.dispatch.record(&mut pass, 0);
        }
        gpu.queue().submit([encoder.finish()]);
    }

    /// Sets how many steps (from the start of `steps`) the next recording runs.
    pub fn set_steps(&mut self, gpu: &Gpu, steps: usize) {
        let at = self.steps_at as usize;
        self.values[at..at + 4].copy_from_slice(&(steps as u32).to_ne_bytes());
        gpu.queue()
            .write_buffer(&self.params, self.steps_at, &self.values[at..at + 4]);
    }
}

/// The error for a read-back loss buffer whose last slot (the kernels' health slot) says the
/// driver cut a loop short, if it does: every result of that dispatch is then suspect.
pub fn health(gpu: &Gpu, losses: &[f32], kernel: &'static str) -> Result<()> {
    match losses.last() {
        Some(&health) if health != 0.0 => Err(Error::DriverFault {
            adapter: gpu.describe(),
            kernel,
            detail: "the driver ended the kernel's loops early (its loop budget ran out), so \
                     these steps' results are wrong; the weights from before them are kept. \
                     Train with one dispatch per op (TrainConfig::allow_fused off) and report \
                     this"
                .into(),
        }),
        _ => Ok(()),
    }
}

/// Builds the fused training dispatch of `model` with the kernel `kind`.
// steps: (≥ steps run) Step structs; order: row order; x_all: (n, inputs);
// t_all: (n, outputs + 1); p, m, v: (params); losses: (slots + 1), the last one the health slot
#[allow(clippy::too_many_arguments)]
pub fn fused_steps(
    gpu: &Gpu,
    kind: Kind,
    model: &Mlp,
    optimizer: &OptimizerConfig,
    batch: usize,
    steps: &Tensor,
    order: &Tensor,
    x_all: &Tensor,
    t_all: &Tensor,
    p: &Tensor,
    m: &Tensor,
    v: &Tensor,
    losses: &Tensor,
) -> Result<FusedSteps> {
    let tensors = [steps, order, x_all, t_all, p, m, v, losses];
    match kind {
        Kind::Small => small_steps(gpu, FUSED, model, optimizer, tensors),
        Kind::Unrolled { lanes } => small_steps(
            gpu,
            unrolled::kernel(model, optimizer.kind, lanes),
            model,
            optimizer,
            tensors,
        ),
        Kind::Wide => {
            let rc = wide::chunk_rows_for(model, batch);
            wide::build_with_rows(gpu, model, optimizer, rc, 1, tensors)
        }
    }
}

/// Floats the loss buffer of kernel `kind` needs after its health slot where the
/// parameters buffer holds `params` (the wide kernel's gradient sums, never read back).
pub fn scratch_len(kind: Kind, params: usize) -> usize {
    match kind {
        Kind::Small | Kind::Unrolled { .. } => 0,
        Kind::Wide => params,
    }
}

/// The dispatch of a small kernel, fused.wgsl's or [`unrolled`]'s (see [`fused_steps`]).
fn small_steps(
    gpu: &Gpu,
    kernel: Kernel,
    model: &Mlp,
    optimizer: &OptimizerConfig,
    [steps, order, x_all, t_all, p, m, v, losses]: [&Tensor; 8],
) -> Result<FusedSteps> {
    if !supports_small(model) {
        return Err(Error::Shape {
            op: "fused_steps",
            detail: format!(
                "the fused kernel runs at most {MAX_LAYERS} layers of width {MAX_WIDTH} and \
                 {MAX_PARAMS} parameters"
            ),
        });
    }
    let spec = model.spec();
    let layers = model.layers();
    if losses.len < 1 {
        return Err(Error::Shape {
            op: "fused_steps",
            detail: "the loss buffer needs a health slot at its end".into(),
        });
    }
    let mut values = FusedParams {
        layers: layers.len() as u32,
        inputs: spec.inputs as u32,
        outputs: spec.outputs as u32,
        n_real: model.num_params() as u32,
        steps: 0,
        loss: match spec.loss {
            Loss::Bce => 0,
            Loss::SoftmaxCe => 1,
            Loss::Mse => 2,
        },
        optimizer: match optimizer.kind {
            OptimizerKind::Adam => 0,
            OptimizerKind::AdamW => 1,
            OptimizerKind::Sgd => 2,
        },
        health: (losses.len - 1) as u32,
        beta1: optimizer.beta1,
        beta2: optimizer.beta2,
        eps: optimizer.eps,
        weight_decay: optimizer.weight_decay,
        momentum: optimizer.momentum,
        canary: CANARY,
        _pad1: [0; 2],
        widths: [0; 8],
        acts: [0; 4],
        w_off: [0; 4],
        b_off: [0; 4],
        seg_flat: [0; 8],
        seg_compact: [0; 8],
        seg_len: [0; 8],
    };
    values.widths[0] = spec.inputs as u32;
    let mut compact = 0u32;
    for (l, layer) in layers.iter().enumerate() {
        values.widths[l + 1] = layer.outputs as u32;
        for (sg, range) in [(2 * l, &layer.weights), (2 * l + 1, &layer.bias)] {
            values.seg_flat[sg] = range.start as u32;
            values.seg_compact[sg] = compact;
            values.seg_len[sg] = range.len() as u32;
            compact += range.len() as u32;
        }
        values.w_off[l] = values.seg_compact[2 * l];
        values.b_off[l] = values.seg_compact[2 * l + 1];
        values.acts[l] = super::activation::code(layer.activation);
    }
    let params = gpu.uniform("fused", &values);
    let dispatch = Dispatch::new(
        gpu,
        kernel,
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
        [1, 1, 1],
    )?;
    Ok(FusedSteps::new(
        dispatch,
        params,
        bytemuck::bytes_of(&values).to_vec(),
        std::mem::offset_of!(FusedParams, steps) as u64,
    ))
}

/// The networks, losses and optimisers the fused kernel is checked on before it is trusted:
/// every loss, optimiser and activation, rows not a multiple of the workgroup, a partial
/// last batch, 3 and 4 layers.
fn verify_cases() -> Vec<(MlpSpec, OptimizerConfig)> {
    let adam = |kind, weight_decay| OptimizerConfig {
        kind,
        lr: 0.01,
        weight_decay,
        ..OptimizerConfig::default()
    };
    vec![
        (
            MlpSpec::new(5).hidden(7, Activation::Relu),
            adam(OptimizerKind::Adam, 0.01),
        ),
        (
            MlpSpec::new(6)
                .hidden(9, Activation::Tanh)
                .hidden(5, Activation::Sigmoid)
                .output(3, Loss::SoftmaxCe),
            OptimizerConfig {
                kind: OptimizerKind::Sgd,
                lr: 0.05,
                momentum: 0.9,
                weight_decay: 0.01,
                ..OptimizerConfig::default()
            },
        ),
        (
            MlpSpec::new(4)
                .hidden(16, Activation::Sigmoid)
                .hidden(3, Activation::Relu)
                .hidden(11, Activation::Tanh)
                .output(2, Loss::Mse),
            adam(OptimizerKind::AdamW, 0.05),
        ),
    ]
}

/// Typical tabular networks for the wide kernel: every loss, optimiser and activation, hidden
/// layers that share an activation and layers that differ, widths of 128 and not a multiple
/// of the workgroup, 2 to 4 layers, the parameter cap nearly full.
fn wide_verify_cases() -> Vec<(MlpSpec, OptimizerConfig)> {
    let mut cases = verify_cases();
    cases[0].0 = MlpSpec::new(30)
        .hidden(64, Activation::Relu)
        .hidden(32, Activation::Relu);
    cases[1].0 = MlpSpec::new(13)
        .hidden(24, Activation::Tanh)
        .hidden(20, Activation::Sigmoid)
        .output(5, Loss::SoftmaxCe);
    cases[2].0 = MlpSpec::new(20)
        .hidden(90, Activation::Sigmoid)
        .hidden(40, Activation::Relu)
        .hidden(10, Activation::Tanh)
        .output(2, Loss::Mse);
    cases.push((
        MlpSpec::new(7)
            .hidden(128, Activation::Relu)
            .output(3, Loss::Mse),
        cases[0].1,
    ));
    // Hidden layers that share sigmoid or tanh: each its own pipeline (wide.wgsl's ACT).
    cases.push((
        MlpSpec::new(9)
            .hidden(33, Activation::Tanh)
            .hidden(17, Activation::Tanh),
        cases[0].1,
    ));
    cases.push((
        MlpSpec::new(11)
            .hidden(19, Activation::Sigmoid)
            .output(4, Loss::SoftmaxCe),
        cases[1].1,
    ));
    cases
}

/// Runs a few steps of the small fused kernel (fused.wgsl) on small networks (every loss and
/// optimiser) against the CPU reference's steps; returns the worst comparison of the
/// parameters (see [`crate::tolerance::TRAINED_PARAMS`]) and step losses.
pub fn verify(gpu: &Gpu) -> Result<Comparison> {
    verify_with(
        gpu,
        verify_cases(),
        1,
        false,
        VERIFY_BATCH,
        &|model, optimizer, tensors| small_steps(gpu, FUSED, model, optimizer, tensors),
    )
}

/// [`verify`] for [`unrolled`]: each case through the kernel generated for it.
pub fn verify_unrolled(gpu: &Gpu) -> Result<Comparison> {
    verify_unrolled_cases(gpu, unrolled::lanes(gpu), verify_cases())
}

/// [`unrolled`]'s check of the kernel generated for `model` with optimiser `kind`: `model`'s
/// shape trained with the settings [`verify`] gives that optimiser.
pub fn verify_unrolled_for(
    gpu: &Gpu,
    lanes: u32,
    model: &Mlp,
    kind: OptimizerKind,
) -> Result<Comparison> {
    let optimizer = verify_cases()
        .into_iter()
        .map(|(_, o)| o)
        .find(|o| o.kind == kind)
        .unwrap_or(OptimizerConfig {
            kind,
            ..OptimizerConfig::default()
        });
    verify_unrolled_cases(gpu, lanes, vec![(model.spec().clone(), optimizer)])
}

/// Each of `cases` through the kernel [`unrolled`] generates for it.
fn verify_unrolled_cases(
    gpu: &Gpu,
    lanes: u32,
    cases: Vec<(MlpSpec, OptimizerConfig)>,
) -> Result<Comparison> {
    verify_with(
        gpu,
        cases,
        1,
        false,
        VERIFY_BATCH,
        &|model, optimizer, tensors| {
            let kernel = unrolled::kernel(model, optimizer.kind, lanes);
            small_steps(gpu, kernel, model, optimizer, tensors)
        },
    )
}

/// [`verify`] for the wide kernel at `rc` rows a chunk, on the cases whose chunks hold them,
/// each case trained as two models side by side (one workgroup each, the second's
/// parameters further along the buffers), as groups train them (src/train/group.rs).
pub fn verify_wide(gpu: &Gpu, rc: usize) -> Result<Comparison> {
    verify_wide_cases(gpu, rc, wide_verify_cases())
}

/// [`verify_wide`] of the pipeline that trains `model` with optimiser `kind` at `rc` rows a
/// chunk (one per loss, optimiser and hidden activation: [`constants`]), on the shapes of
/// [`verify_wide`] made like `model` (its loss, `kind` and its hidden activation).
pub fn verify_wide_for(
    gpu: &Gpu,
    rc: usize,
    model: &Mlp,
    kind: OptimizerKind,
) -> Result<Comparison> {
    verify_wide_cases(gpu, rc, cases_like(wide_verify_cases(), model, kind))
}

/// `cases` as networks the pipeline compiled for `model` and `kind` trains: each with
/// `model`'s loss (at least two outputs for softmax), optimiser `kind` and `model`'s hidden
/// activation in every hidden layer, or, where `model`'s are read by layer
/// ([`constants::ACT_BY_LAYER`]), the cases whose hidden activations differ.
fn cases_like(
    cases: Vec<(MlpSpec, OptimizerConfig)>,
    model: &Mlp,
    kind: OptimizerKind,
) -> Vec<(MlpSpec, OptimizerConfig)> {
    let (loss, act) = (model.spec().loss, constants::act_constant(model));
    let shared = constants::shared_activation(model);
    cases
        .into_iter()
        .filter_map(|(mut spec, mut optimizer)| {
            if loss == Loss::SoftmaxCe {
                spec.outputs = spec.outputs.max(2);
            }
            spec.loss = loss;
            optimizer.kind = kind;
            if let Some(a) = shared {
                spec.hidden.iter_mut().for_each(|h| h.1 = a);
            }
            let case = Mlp::new(&spec, 0).ok()?;
            (constants::act_constant(&case) == act).then_some((spec, optimizer))
        })
        .collect()
}

/// The wide kernel at `rc` rows a chunk on those of `cases` whose chunks hold them.
fn verify_wide_cases(
    gpu: &Gpu,
    rc: usize,
    cases: Vec<(MlpSpec, OptimizerConfig)>,
) -> Result<Comparison> {
    let cases = cases
        .into_iter()
        .filter(|(spec, _)| Mlp::new(spec, 0).is_ok_and(|m| wide::chunk_rows(&m) >= rc))
        .collect();
    verify_with(
        gpu,
        cases,
        WIDE_MODELS,
        true,
        wide_verify_batch(rc),
        &|model, optimizer, tensors| {
            wide::build_with_rows(gpu, model, optimizer, rc, WIDE_MODELS, tensors)
        },
    )
}

/// Rows a step of the fused kernels' checks (the wide one's at least): not a multiple of the
/// small kernel's 64 threads' four rows, several of the wide kernel's smaller chunks.
const VERIFY_BATCH: usize = 30;

/// Rows a step of the wide kernel's check at `rc` rows a chunk: more than one chunk, the last
/// one partial (at every chunk size, so that the pipeline trust-before-use checks runs steps
/// of several chunks as training with a larger batch does).
fn wide_verify_batch(rc: usize) -> usize {
    (rc + rc / 2 + 1).max(VERIFY_BATCH)
}

/// Models the wide kernel's check trains side by side.
const WIDE_MODELS: usize = 2;

/// How a check builds the fused dispatch of a case.
type Build<'a> = dyn Fn(&Mlp, &OptimizerConfig, [&Tensor; 8]) -> Result<FusedSteps> + 'a;

/// Trains each case for a few steps with `build`'s kernel (`models` copies of it side by
/// side, one workgroup each) and with the reference; with `logits` (the wide kernel), a
/// forward-only step after them (its validation pass) must give the logits of the weights the
/// kernel holds, and a snapshot step after the first epoch the reference's weights then.
fn verify_with(
    gpu: &Gpu,
    cases: Vec<(MlpSpec, OptimizerConfig)>,
    models: usize,
    logits: bool,
    batch: usize,
    build: &Build<'_>,
) -> Result<Comparison> {
    // At least two full batches and a partial one; the row order below is a permutation
    // only where 7 does not divide the rows.
    let mut rows = (2 * batch + 13).max(75);
    if rows.is_multiple_of(7) {
        rows += 1;
    }
    let epochs = 2usize;
    let spe = rows.div_ceil(batch);
    let mut worst: Option<Comparison> = None;
    for (case, (spec, optimizer)) in cases.into_iter().enumerate() {
        let seed = 40 + 10 * case as u64;
        let model = Mlp::new(&spec, seed)?;
        let (inputs, outputs) = (spec.inputs, spec.outputs);
        let x = super::seeded(seed + 1, rows * inputs, -2.0, 2.0);
        let u = super::seeded(seed + 2, rows * outputs, 0.0, 1.0);
        let mut t = Vec::with_capacity(rows * (outputs + 1));
        for r in 0..rows {
            for c in 0..outputs {
                t.push(match spec.loss {
                    Loss::SoftmaxCe => f32::from(c == r % outputs),
                    Loss::Bce => f32::from(u[r * outputs + c] > 0.5),
                    Loss::Mse => 4.0 * u[r * outputs + c] - 2.0,
                });
            }
            t.push([1.0, 0.5, 2.0, 0.0][r % 4]);
        }
        let order: Vec<u32> = (0..epochs * rows)
            .map(|i| ((i % rows) * 7 + 3 + i / rows) as u32 % rows as u32)
            .collect();
        // With `logits` (the wide kernel), models after the first read rows shared by
        // several models through a row map (src/data/prep/shared.rs): the same rows with
        // some cells missing, after the rows as stored.
        let mapped = logits.then(|| mapped_rows(&x, &t, &spec));
        let steps: Vec<StepUniform> = (0..epochs * spe)
            .map(|s| {
                let (e, b) = (s / spe, s % spe);
                let values = optimizer.step_values(s as u64 + 1, optimizer.lr);
                values
                    .uniform((e * rows + b * batch) as u32, s as u32)
                    .with_rows(batch.min(rows - b * batch) as u32)
            })
            .collect();

        // Model k's copy: its parameters after the others', its losses after theirs; then,
        // with `logits`, its logits of every row (in order, after the epochs' row orders)
        // after all the models' losses, and its snapshot after all the logits.
        let n = model.params().len();
        let per_model = steps.len() + 2 * usize::from(logits);
        let logits_at = models * steps.len();
        let logit_slots = if logits { models * rows * outputs } else { 0 };
        let snap_at = logits_at + logit_slots;
        let snap_slots = if logits { models * n } else { 0 };
        // The row orders and then every row in order (the forward-only step's), then the
        // same for the mapped rows, which follow the stored ones.
        let mut order = order;
        order.extend(0..rows as u32);
        let stored_order = order.len();
        if mapped.is_some() {
            order.extend_from_within(..stored_order);
            order[stored_order..]
                .iter_mut()
                .for_each(|r| *r += rows as u32);
        }
        let map_at = |k: usize| match (&mapped, k) {
            (Some(m), 1..) => (m.map_at, stored_order as u32),
            _ => (StepUniform::NO_MAP, 0),
        };
        let mut all_steps = Vec::with_capacity(models * per_model);
        for k in 0..models {
            let (map, order_from) = map_at(k);
            for (i, s) in steps.iter().enumerate() {
                if logits && i == spe {
                    let snapshot = StepUniform::snapshot((snap_at + k * n) as u32);
                    all_steps.push(snapshot.with_params_at((k * n) as u32));
                }
                let mut moved = s.with_params_at((k * n) as u32).with_map_at(map);
                moved.loss_slot += (k * steps.len()) as u32;
                moved.row_offset += order_from;
                all_steps.push(moved);
            }
            if logits {
                let at = logits_at + k * rows * outputs;
                let from = (epochs * rows) as u32 + order_from;
                all_steps.push(
                    StepUniform::forward_only(from, rows as u32, at as u32)
                        .with_params_at((k * n) as u32)
                        .with_map_at(map),
                );
            }
        }
        let step_words = std::mem::size_of::<StepUniform>() / 4;
        let tsteps = gpu.zeros("verify steps", all_steps.len() * step_words)?;
        gpu.queue()
            .write_buffer(&tsteps.buffer, 0, bytemuck::cast_slice(&all_steps));
        let (x_all, t_all) = match &mapped {
            Some(m) => (
                [&x[..], &m.shared_x, &m.packed].concat(),
                [&t[..], &m.shared_t].concat(),
            ),
            None => (x.clone(), t.clone()),
        };
        let (torder, tx, tt) = (
            gpu.upload("verify order", &order)?,
            gpu.upload("verify x", &x_all)?,
            gpu.upload("verify t", &t_all)?,
        );
        let tp = gpu.upload("verify p", &model.params().repeat(models))?;
        let (tm, tv) = (
            gpu.zeros("verify m", models * n)?,
            gpu.zeros("verify v", models * n)?,
        );
        // The wide kernel's gradient scratch after the health slot.
        let scratch = if logits { models * n } else { 0 };
        let tl = gpu.zeros("verify losses", snap_at + snap_slots + 1 + scratch)?;
        let mut fused = build(
            &model,
            &optimizer,
            [&tsteps, &torder, &tx, &tt, &tp, &tm, &tv, &tl],
        )?;
        fused.set_steps(gpu, per_model);
        super::run(gpu, &[fused.dispatch()])?;
        let got_p: Vec<f32> = gpu.read(&tp)?;
        let got_l: Vec<f32> = gpu.read(&tl)?;
        let health = got_l[snap_at + snap_slots];
        // Each model's logits against the reference forward pass of the weights it holds.
        let mut logit_check = Vec::new();
        if logits {
            for k in 0..models {
                let mut held = model.clone();
                held.set_params(got_p[k * n..(k + 1) * n].to_vec())?;
                let xs = match (&mapped, k) {
                    (Some(m), 1..) => &m.x,
                    _ => &x,
                };
                let want = reference::forward(&held, xs, rows).pop().expect("logits");
                let at = logits_at + k * rows * outputs;
                let got = &got_l[at..at + rows * outputs];
                logit_check.push(crate::tolerance::MATMUL.compare(got, &want));
            }
        }

        // The reference, step by step, on the rows as stored and (with a map) as mapped.
        let start = model.clone();
        let reference_run = |x: &[f32], t: &[f32]| {
            let mut model = start.clone();
            let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
            let mut want_l = Vec::with_capacity(steps.len() + 1);
            let mut want_snap = Vec::new();
            for (i, step) in steps.iter().enumerate() {
                if i == spe {
                    want_snap = model.params().to_vec();
                }
                let picked = &order[step.row_offset as usize..][..step.rows as usize];
                let xb: Vec<f32> = picked
                    .iter()
                    .flat_map(|&r| &x[r as usize * inputs..(r as usize + 1) * inputs])
                    .copied()
                    .collect();
                let tb: Vec<f32> = picked
                    .iter()
                    .flat_map(|&r| &t[r as usize * (outputs + 1)..(r as usize + 1) * (outputs + 1)])
                    .copied()
                    .collect();
                let (loss, grads) = reference::gradients(&model, &xb, &tb, step.rows as usize);
                want_l.push(loss);
                let values = crate::optim::StepValues {
                    lr: step.lr,
                    bias_correction1: step.bias_correction1,
                    bias_correction2: step.bias_correction2,
                    constants: optimizer.constants(),
                };
                let p = model.params_mut();
                match optimizer.kind {
                    OptimizerKind::Sgd => {
                        super::sgd::reference::sgd(&grads, p, &mut m, &values, &optimizer)
                    }
                    _ => {
                        super::adam::reference::adam(&grads, p, &mut m, &mut v, &values, &optimizer)
                    }
                }
            }
            (model.params().to_vec(), want_l, want_snap)
        };
        let stored = reference_run(&x, &t);
        let through_map = mapped.as_ref().map(|m| reference_run(&m.x, &m.t));
        let of = |k: usize| match (&through_map, k) {
            (Some(r), 1..) => r,
            _ => &stored,
        };
        // Every model's parameters and losses, and the health slot: no loop was cut short.
        let want_p: Vec<f32> = (0..models).flat_map(|k| of(k).0.clone()).collect();
        let mut want_all: Vec<f32> = (0..models).flat_map(|k| of(k).1.clone()).collect();
        want_all.push(0.0);
        let mut got_all = got_l[..models * steps.len()].to_vec();
        got_all.push(health);
        let mut c = crate::tolerance::TRAINED_PARAMS
            .compare(&got_p, &want_p)
            .worse(crate::tolerance::EPOCH_LOSSES.compare(&got_all, &want_all));
        for l in logit_check {
            c = c.worse(l);
        }
        if logits {
            let got_snap = &got_l[snap_at..snap_at + snap_slots];
            let want: Vec<f32> = (0..models).flat_map(|k| of(k).2.clone()).collect();
            c = c.worse(crate::tolerance::TRAINED_PARAMS.compare(got_snap, &want));
        }
        worst = Some(worst.map_or(c, |w| w.worse(c)));
    }
    Ok(worst.expect("at least one case"))
}

/// A check's rows as a model reading them through a row map sees them: `shared_x` and
/// `shared_t` (the rows with every fifth input missing) and the map `packed` after both
/// copies of the rows in `x_all` (at `map_at`), and `x`, `t`, what the map makes of them on
/// the host.
struct Mapped {
    shared_x: Vec<f32>,
    shared_t: Vec<f32>,
    packed: Vec<f32>,
    map_at: u32,
    x: Vec<f32>,
    t: Vec<f32>,
}

/// [`Mapped`] rows of the check's `x` (rows, inputs) and `t` (rows, outputs + 1) for `spec`.
fn mapped_rows(x: &[f32], t: &[f32], spec: &MlpSpec) -> Mapped {
    use crate::data::prep::{RowMap, SharedRows, Task, MISSING};
    let (inputs, outputs) = (spec.inputs, spec.outputs);
    let rows = x.len() / inputs;
    let shared_x: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| if i % 5 == 2 { MISSING } else { v })
        .collect();
    let classes = match spec.loss {
        Loss::Bce => 2,
        Loss::SoftmaxCe => outputs,
        Loss::Mse => 1,
    };
    let map = RowMap::from_parts(
        (0..inputs).map(|i| 0.25 * (i % 3) as f32 - 0.25).collect(),
        (0..inputs).map(|i| 1.0 + 0.375 * (i % 4) as f32).collect(),
        (0..inputs).map(|i| 0.1 * i as f32 - 0.5).collect(),
        if spec.loss == Loss::Mse {
            (0.5, 1.5)
        } else {
            (0.0, 1.0)
        },
        (0..classes).map(|k| 0.5 + 0.75 * k as f32).collect(),
    );
    let task = match spec.loss {
        Loss::Bce => Task::Binary,
        Loss::SoftmaxCe => Task::Multiclass,
        Loss::Mse => Task::Regression,
    };
    let shared = SharedRows::from_parts(shared_x.clone(), t.to_vec(), inputs, outputs, task);
    let all: Vec<usize> = (0..rows).collect();
    let data = map
        .dataset(&shared, &all)
        .expect("a check's map fits its rows");
    Mapped {
        shared_t: t.to_vec(),
        packed: map.packed(),
        map_at: (2 * x.len()) as u32,
        x: data.x().to_vec(),
        t: data.targets().to_vec(),
        shared_x,
    }
}

/// Whether the fused kernel `kind` may train `model` with optimiser `optimizer` at `batch`
/// rows a step on this adapter and driver: [`verify`]'s (or [`verify_wide_for`]'s, at the
/// rows a chunk it would run) verdict on its pipeline, taken the first time
/// and kept in the tuning cache. When it failed, a warning names the driver once and
/// training runs one dispatch per op.
pub fn trusted(
    gpu: &Gpu,
    kind: Kind,
    model: &Mlp,
    optimizer: OptimizerKind,
    batch: usize,
) -> Result<bool> {
    let ok = match kind {
        Kind::Small => gpu.trusted("fused", &MODULE, || Ok(verify(gpu)?.passed()))?,
        Kind::Unrolled { lanes } => {
            let kernel = unrolled::kernel(model, optimizer, lanes);
            let key = format!("fused_unrolled {}", unrolled::key(model, optimizer, lanes));
            gpu.trusted(&key, kernel.module, || {
                Ok(verify_unrolled_for(gpu, lanes, model, optimizer)?.passed())
            })?
        }
        Kind::Wide => {
            let rc = wide::chunk_rows_for(model, batch);
            let key = format!("fused_wide rc={rc} {}", constants::key(model, optimizer));
            gpu.trusted(&key, wide::module(gpu), || {
                Ok(verify_wide_for(gpu, rc, model, optimizer)?.passed())
            })?
        }
    };
    if !ok {
        gpu.warn_once(
            &format!("{kind:?}"),
            &format!(
                "the fused training kernel ({kind:?}) gives wrong results on {}; training runs \
                 one dispatch per op instead",
                gpu.describe()
            ),
        );
    }
    Ok(ok)
}
