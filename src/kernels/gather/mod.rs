//! Host side of shaders/gather.wgsl: a mini-batch gathered on the GPU by shuffled row index.

pub mod reference;

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Module, StepSlots, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    rows: u32,
    cols: u32,
    y_cols: u32,
    _pad: u32,
}

/// gather.wgsl after the prelude.
static MODULE: Module = super::module!("gather", "gather.wgsl");

static GATHER: Kernel = Kernel {
    module: &MODULE,
    entry: "gather",
    bindings: &[
        (0, Binding::Uniform),
        (1, Binding::Step),
        (2, Binding::Read),
        (3, Binding::Read),
        (4, Binding::Read),
        (5, Binding::ReadWrite),
        (6, Binding::ReadWrite),
    ],
};

/// `x[r] = x_all[order[step.row_offset + r]]`, and likewise y.
// order: (≥ row_offset + rows) u32, x_all: (n, cols), y_all: (n, y_cols),
// x: (rows, cols), y: (rows, y_cols)
#[allow(clippy::too_many_arguments)]
pub fn gather(
    gpu: &Gpu,
    order: &Tensor,
    x_all: &Tensor,
    y_all: &Tensor,
    x: &Tensor,
    y: &Tensor,
    steps: &StepSlots,
    rows: usize,
    cols: usize,
    y_cols: usize,
) -> Result<Dispatch> {
    expect_len("gather", "x", x, rows * cols)?;
    expect_len("gather", "y", y, rows * y_cols)?;
    let params = GatherParams {
        rows: rows as u32,
        cols: cols as u32,
        y_cols: y_cols as u32,
        _pad: 0,
    };
    let params = gpu.uniform("gather", &params);
    Dispatch::new(
        gpu,
        GATHER,
        &[
            Bind::Params(&params),
            Bind::Steps(steps),
            Bind::Tensor(order),
            Bind::Tensor(x_all),
            Bind::Tensor(y_all),
            Bind::Tensor(x),
            Bind::Tensor(y),
        ],
        elementwise_grid(gpu, rows * cols.max(y_cols)),
    )
}

/// Gathers rows on small awkward shapes against the CPU reference (exactly: it is a copy).
pub fn verify(gpu: &Gpu) -> Result<crate::tolerance::Comparison> {
    let slots = StepSlots::new(gpu, 1);
    let mut all = Vec::new();
    for (i, &(n, rows, cols, offset)) in [(1, 1, 1, 0), (40, 17, 33, 20), (300, 257, 3, 40)]
        .iter()
        .enumerate()
    {
        let x_all = super::seeded(200 + i as u64, n * cols, -1.0, 1.0);
        let y_all = super::seeded(300 + i as u64, n * 2, 0.0, 1.0);
        let order: Vec<u32> = (0..(offset + rows) as u32)
            .map(|r| (r * 7919 + 3) % n as u32)
            .collect();
        let (mut want_x, mut want_y) = (vec![0.0; rows * cols], vec![0.0; rows * 2]);
        reference::gather(
            &order,
            offset,
            &x_all,
            &y_all,
            &mut want_x,
            &mut want_y,
            rows,
            cols,
            2,
        );
        let values = crate::optim::OptimizerConfig::default().step_values(1, 1e-3);
        slots.write(gpu, &[values.uniform(offset as u32, 0)]);
        let (to, txa, tya) = (
            gpu.upload("order", &order)?,
            gpu.upload("x_all", &x_all)?,
            gpu.upload("y_all", &y_all)?,
        );
        let tx = gpu.upload("x", &vec![f32::NAN; rows * cols])?;
        let ty = gpu.upload("y", &vec![f32::NAN; rows * 2])?;
        super::run(
            gpu,
            &[&gather(
                gpu, &to, &txa, &tya, &tx, &ty, &slots, rows, cols, 2,
            )?],
        )?;
        all.push(crate::tolerance::EXACT.compare(&gpu.read::<f32>(&tx)?, &want_x));
        all.push(crate::tolerance::EXACT.compare(&gpu.read::<f32>(&ty)?, &want_y));
    }
    Ok(crate::tolerance::Comparison::worst_of(all).expect("cases"))
}
