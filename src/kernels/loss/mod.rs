//! Host side of shaders/loss.wgsl: the batch loss and its gradient, for each [`Loss`].

pub mod reference;

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Module, StepSlots, Tensor};
use crate::model::Loss;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LossParams {
    rows: u32,
    outputs: u32,
    inv_batch: f32,
    _pad: u32,
}

const LOSS_BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::Uniform),
    (1, Binding::Step),
    (2, Binding::Read),
    (3, Binding::Read),
    (4, Binding::ReadWrite),
];
const GRAD_BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::Uniform),
    (2, Binding::Read),
    (3, Binding::Read),
    (4, Binding::ReadWrite),
];

const LOSS_GRAD_BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::Uniform),
    (1, Binding::Step),
    (2, Binding::Read),
    (3, Binding::Read),
    (4, Binding::ReadWrite),
    (5, Binding::ReadWrite),
];

macro_rules! kernel {
    ($entry:literal, $bindings:expr) => {
        Kernel {
            module: &MODULE,
            entry: $entry,
            bindings: $bindings,
        }
    };
}

/// loss.wgsl after the prelude.
static MODULE: Module = super::module!("loss", "loss.wgsl");

static BATCH_LOSS: [Kernel; 3] = [
    kernel!("bce_loss", LOSS_BINDINGS),
    kernel!("softmax_ce_loss", LOSS_BINDINGS),
    kernel!("mse_loss", LOSS_BINDINGS),
];
static GRAD: [Kernel; 3] = [
    kernel!("bce_grad", GRAD_BINDINGS),
    kernel!("softmax_ce_grad", GRAD_BINDINGS),
    kernel!("mse_grad", GRAD_BINDINGS),
];

static LOSS_GRAD: [Kernel; 3] = [
    kernel!("bce_loss_grad", LOSS_GRAD_BINDINGS),
    kernel!("softmax_ce_loss_grad", LOSS_GRAD_BINDINGS),
    kernel!("mse_loss_grad", LOSS_GRAD_BINDINGS),
];

fn index(loss: Loss) -> usize {
    match loss {
        Loss::Bce => 0,
        Loss::SoftmaxCe => 1,
        Loss::Mse => 2,
    }
}

fn check(op: &'static str, z: &Tensor, t: &Tensor, rows: usize, outputs: usize) -> Result<()> {
    expect_len(op, "z", z, rows * outputs)?;
    expect_len(op, "t", t, rows * (outputs + 1))
}

fn params(gpu: &Gpu, rows: usize, outputs: usize, batch: usize) -> wgpu::Buffer {
    let p = LossParams {
        rows: rows as u32,
        outputs: outputs as u32,
        inv_batch: 1.0 / batch as f32,
        _pad: 0,
    };
    gpu.uniform("loss", &p)
}

/// `losses[step.loss_slot] = Σ_r w_r · loss_r / batch`, in one workgroup (fixed order).
// z: (rows, outputs), t: (rows, outputs + 1), losses: (slots)
#[allow(clippy::too_many_arguments)]
pub fn batch_loss(
    gpu: &Gpu,
    loss: Loss,
    z: &Tensor,
    t: &Tensor,
    losses: &Tensor,
    steps: &StepSlots,
    rows: usize,
    outputs: usize,
    batch: usize,
) -> Result<Dispatch> {
    check("batch_loss", z, t, rows, outputs)?;
    let p = params(gpu, rows, outputs, batch);
    Dispatch::new(
        gpu,
        BATCH_LOSS[index(loss)],
        &[
            Bind::Params(&p),
            Bind::Steps(steps),
            Bind::Tensor(z),
            Bind::Tensor(t),
            Bind::Tensor(losses),
        ],
        [1, 1, 1],
    )
}

/// dz = d(Σ_r w_r · loss_r / batch)/dz.
// z: (rows, outputs), t: (rows, outputs + 1), dz: (rows, outputs)
#[allow(clippy::too_many_arguments)]
pub fn loss_grad(
    gpu: &Gpu,
    loss: Loss,
    z: &Tensor,
    t: &Tensor,
    dz: &Tensor,
    rows: usize,
    outputs: usize,
    batch: usize,
) -> Result<Dispatch> {
    check("loss_grad", z, t, rows, outputs)?;
    expect_len("loss_grad", "dz", dz, rows * outputs)?;
    let p = params(gpu, rows, outputs, batch);
    Dispatch::new(
        gpu,
        GRAD[index(loss)],
        &[
            Bind::Params(&p),
            Bind::Tensor(z),
            Bind::Tensor(t),
            Bind::Tensor(dz),
        ],
        elementwise_grid(gpu, rows * outputs),
    )
}

/// The training step's loss and gradient in one dispatch: [`batch_loss`] and [`loss_grad`]
/// in one workgroup that reads the logits once; for each model of the step slots, one
/// workgroup each, whose batch is its step's first rows (of `rows`): the rows after get a zero
/// gradient, and a step of no rows stores no loss.
// per model: z: (rows, outputs), t: (rows, outputs + 1), dz: (rows, outputs); losses: (slots)
#[allow(clippy::too_many_arguments)]
pub fn loss_and_grad(
    gpu: &Gpu,
    loss: Loss,
    z: &Tensor,
    t: &Tensor,
    losses: &Tensor,
    dz: &Tensor,
    steps: &StepSlots,
    rows: usize,
    outputs: usize,
) -> Result<Dispatch> {
    let models = steps.models();
    check("loss_and_grad", z, t, models * rows, outputs)?;
    expect_len("loss_and_grad", "dz", dz, models * rows * outputs)?;
    let p = params(gpu, rows, outputs, rows);
    Dispatch::new(
        gpu,
        LOSS_GRAD[index(loss)],
        &[
            Bind::Params(&p),
            Bind::Steps(steps),
            Bind::Tensor(z),
            Bind::Tensor(t),
            Bind::Tensor(losses),
            Bind::Tensor(dz),
        ],
        [1, 1, models as u32],
    )
}

/// The step's loss-and-gradient kernel for `loss` against the CPU reference: extreme logits,
/// hard and soft targets, row weights of 0, 1 and more; three models side by side, with a
/// full batch, a shorter one (the rows after it get zero gradients) and none (no loss stored).
pub fn verify(gpu: &Gpu, loss: Loss) -> Result<crate::tolerance::Comparison> {
    const MODELS: usize = 3;
    let slots = StepSlots::for_models(gpu, 1, MODELS);
    let values = crate::optim::OptimizerConfig::default().step_values(1, 1e-3);
    let mut all = Vec::new();
    for (i, &(rows, outputs)) in [(1, 2), (17, 3), (300, 1), (257, 10)].iter().enumerate() {
        if loss == Loss::SoftmaxCe && outputs < 2 {
            continue;
        }
        let seed = 600 + 10 * i as u64;
        let all_rows = MODELS * rows;
        let z = super::seeded(seed, all_rows * outputs, -30.0, 30.0);
        let u = super::seeded(seed + 1, all_rows * outputs, 0.0, 1.0);
        let mut t = Vec::with_capacity(all_rows * (outputs + 1));
        for r in 0..all_rows {
            let row = &u[r * outputs..(r + 1) * outputs];
            match loss {
                Loss::Bce => t.extend(row.iter().map(|&v| if r % 2 == 0 { v.round() } else { v })),
                Loss::SoftmaxCe => t.extend((0..outputs).map(|c| f32::from(c == r % outputs))),
                Loss::Mse => t.extend(row.iter().map(|&v| 20.0 * v - 10.0)),
            }
            t.push([1.0, 0.0, 2.5][r % 3]);
        }
        let n = rows * outputs;
        // Model z's batch, its rows' gradients (zeros past it) and its loss (the waiting
        // model's slot keeps what it held).
        let batches = [rows, rows.div_ceil(2), 0];
        let mut want = vec![0.0; MODELS * n];
        let mut want_loss = vec![5.0; MODELS];
        let mut steps = Vec::new();
        for (m, &batch) in batches.iter().enumerate() {
            let (zs, ts) = (&z[m * n..], &t[m * rows * (outputs + 1)..]);
            if batch > 0 {
                let dz = &mut want[m * n..m * n + batch * outputs];
                want_loss[m] = reference::loss_and_grad(loss, zs, ts, dz, batch, outputs, batch);
            }
            steps.push(values.uniform(0, m as u32).with_rows(batch as u32));
        }
        slots.write(gpu, &steps);
        let (tz, tt) = (gpu.upload("z", &z)?, gpu.upload("t", &t)?);
        let (tl, tdz) = (
            gpu.upload("l", &[f32::NAN, f32::NAN, 5.0])?,
            gpu.upload("dz", &vec![f32::NAN; MODELS * n])?,
        );
        let d = loss_and_grad(gpu, loss, &tz, &tt, &tl, &tdz, &slots, rows, outputs)?;
        super::run(gpu, &[&d])?;
        all.push(crate::tolerance::LOSS_GRAD.compare(&gpu.read::<f32>(&tdz)?, &want));
        all.push(crate::tolerance::LOSS.compare(&gpu.read::<f32>(&tl)?, &want_loss));
    }
    Ok(crate::tolerance::Comparison::worst_of(all).expect("cases"))
}
