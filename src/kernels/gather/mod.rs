//! Host side of shaders/gather.wgsl: a mini-batch gathered on the GPU by shuffled row index.

pub mod reference;

use super::{expect_len, models_grid, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Module, StepSlots, Tensor};
use crate::model::Loss;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    rows: u32,
    cols: u32,
    y_cols: u32,
    loss: u32,
    missing_bits: u32,
    _pad: [u32; 3],
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

/// For each model `z` of the step slots, `x[z, r] = x_all[order[step.row_offset + r]]` for
/// `r` below its step's rows and zeros after, and likewise y; read through the step's row map
/// where it has one (its targets and weights as a `loss` model reads them).
// order: (≥ row_offset + step rows) u32, x_all: (n, cols), y_all: (n, y_cols),
// x: (models, rows, cols), y: (models, rows, y_cols)
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
    loss: Loss,
) -> Result<Dispatch> {
    let models = steps.models();
    expect_len("gather", "x", x, models * rows * cols)?;
    expect_len("gather", "y", y, models * rows * y_cols)?;
    let params = GatherParams {
        rows: rows as u32,
        cols: cols as u32,
        y_cols: y_cols as u32,
        loss: super::fused::constants::loss_code(loss),
        missing_bits: crate::data::prep::shared::MISSING_BITS,
        _pad: [0; 3],
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
        models_grid(gpu, rows * cols.max(y_cols), models),
    )
}

/// Gathers rows on small awkward shapes against the CPU reference (exactly: it is a copy),
/// for three models side by side: a full batch, a shorter one (the rows after it zeros) and a
/// model waiting (all zeros).
pub fn verify(gpu: &Gpu) -> Result<crate::tolerance::Comparison> {
    const MODELS: usize = 3;
    let slots = StepSlots::for_models(gpu, 1, MODELS);
    let mut all = Vec::new();
    for (i, &(n, rows, cols, offset)) in [(1, 1, 1, 0), (40, 17, 33, 20), (300, 257, 3, 40)]
        .iter()
        .enumerate()
    {
        let x_all = super::seeded(200 + i as u64, n * cols, -1.0, 1.0);
        let y_all = super::seeded(300 + i as u64, n * 2, 0.0, 1.0);
        let order: Vec<u32> = (0..(2 * offset + rows) as u32)
            .map(|r| (r * 7919 + 3) % n as u32)
            .collect();
        // Each model's rows and where its batch starts in the order.
        let batches = [(rows, offset), (rows / 2, 2 * offset), (0, 0)];
        let (mut want_x, mut want_y) = (
            vec![0.0; MODELS * rows * cols],
            vec![0.0; MODELS * rows * 2],
        );
        let mut steps = Vec::new();
        for (z, &(batch, at)) in batches.iter().enumerate() {
            reference::gather(
                &order,
                at,
                &x_all,
                &y_all,
                &mut want_x[z * rows * cols..(z * rows + batch) * cols],
                &mut want_y[z * rows * 2..(z * rows + batch) * 2],
                batch,
                cols,
                2,
            );
            let values = crate::optim::OptimizerConfig::default().step_values(1, 1e-3);
            steps.push(values.uniform(at as u32, 0).with_rows(batch as u32));
        }
        slots.write(gpu, &steps);
        let (to, txa, tya) = (
            gpu.upload("order", &order)?,
            gpu.upload("x_all", &x_all)?,
            gpu.upload("y_all", &y_all)?,
        );
        let tx = gpu.upload("x", &vec![f32::NAN; MODELS * rows * cols])?;
        let ty = gpu.upload("y", &vec![f32::NAN; MODELS * rows * 2])?;
        super::run(
            gpu,
            &[&gather(
                gpu,
                &to,
                &txa,
                &tya,
                &tx,
                &ty,
                &slots,
                rows,
                cols,
                2,
                Loss::Mse,
            )?],
        )?;
        all.push(crate::tolerance::EXACT.compare(&gpu.read::<f32>(&tx)?, &want_x));
        all.push(crate::tolerance::EXACT.compare(&gpu.read::<f32>(&ty)?, &want_y));
    }
    all.push(verify_mapped(gpu)?);
    Ok(crate::tolerance::Comparison::worst_of(all).expect("cases"))
}

/// One model reading shared rows through a row map (src/data/prep/shared.rs): every fifth
/// cell missing, a binary target whose class picks the row's class weight; against the map's
/// own host-side reading (`RowMap::dataset`'s operations), exactly.
fn verify_mapped(gpu: &Gpu) -> Result<crate::tolerance::Comparison> {
    use crate::data::prep::shared::MISSING;
    let (n, rows, cols) = (23, 19, 6);
    let mut x_all = super::seeded(250, n * cols, -3.0, 3.0);
    for v in x_all.iter_mut().step_by(5) {
        *v = MISSING;
    }
    let u = super::seeded(251, n, 0.0, 1.0);
    let y_all: Vec<f32> = u.iter().flat_map(|&v| [v.round(), 0.5 + v]).collect();
    let (shift, scale, fill) = (
        super::seeded(252, cols, -1.0, 1.0),
        super::seeded(253, cols, 0.5, 2.0),
        super::seeded(254, cols, -1.0, 1.0),
    );
    let class_weights = [0.75f32, 2.5];
    let map_at = x_all.len();
    let mut bound = x_all.clone();
    bound.extend(shift.iter().chain(&scale).chain(&fill));
    bound.extend([0.0, 1.0]);
    bound.extend(class_weights);
    let order: Vec<u32> = (0..rows as u32).map(|r| (r * 7 + 2) % n as u32).collect();
    let (mut want_x, mut want_y) = (Vec::new(), Vec::new());
    for &src in &order {
        let src = src as usize;
        for c in 0..cols {
            let v = x_all[src * cols + c];
            want_x.push(
                match v.to_bits() == crate::data::prep::shared::MISSING_BITS {
                    true => fill[c],
                    false => (v - shift[c]) * scale[c],
                },
            );
        }
        let (t, w) = (y_all[2 * src], y_all[2 * src + 1]);
        want_y.extend([t, class_weights[usize::from(t > 0.5)] * w]);
    }
    let slots = StepSlots::new(gpu, 1);
    let values = crate::optim::OptimizerConfig::default().step_values(1, 1e-3);
    let step = values.uniform(0, 0).with_rows(rows as u32);
    slots.write(gpu, &[step.with_map_at(map_at as u32)]);
    let (to, txa, tya) = (
        gpu.upload("order", &order)?,
        gpu.upload("x_all", &bound)?,
        gpu.upload("y_all", &y_all)?,
    );
    let tx = gpu.upload("x", &vec![f32::NAN; rows * cols])?;
    let ty = gpu.upload("y", &vec![f32::NAN; rows * 2])?;
    let d = gather(
        gpu,
        &to,
        &txa,
        &tya,
        &tx,
        &ty,
        &slots,
        rows,
        cols,
        2,
        Loss::Bce,
    )?;
    super::run(gpu, &[&d])?;
    let x = crate::tolerance::EXACT.compare(&gpu.read::<f32>(&tx)?, &want_x);
    Ok(x.worse(crate::tolerance::EXACT.compare(&gpu.read::<f32>(&ty)?, &want_y)))
}
