//! Host side of shaders/gather.wgsl: a mini-batch gathered on the GPU by shuffled row index.

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Shader, StepSlots, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    rows: u32,
    cols: u32,
    y_cols: u32,
    _pad: u32,
}

static GATHER: Kernel = Kernel {
    shader: Shader::Gather,
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
        &GATHER,
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
