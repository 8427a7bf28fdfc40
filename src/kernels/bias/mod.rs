//! Host side of shaders/bias.wgsl.

pub mod reference;

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Module, Tensor};

/// Threads per workgroup of `bias_grad` (one thread per column).
pub const GRAD_WORKGROUP: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct BiasParams {
    rows: u32,
    cols: u32,
    db_model: u32,
    _pad: u32,
}

const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::Uniform),
    (1, Binding::Read),
    (2, Binding::ReadWrite),
];
/// bias.wgsl after the prelude.
static MODULE: Module = super::module!("bias", "bias.wgsl");

static BIAS_ADD: Kernel = Kernel {
    module: &MODULE,
    entry: "bias_add",
    bindings: BINDINGS,
};
static BIAS_GRAD: Kernel = Kernel {
    module: &MODULE,
    entry: "bias_grad",
    bindings: BINDINGS,
};

fn params(gpu: &Gpu, label: &str, rows: usize, cols: usize, db_model: usize) -> wgpu::Buffer {
    let p = BiasParams {
        rows: rows as u32,
        cols: cols as u32,
        db_model: db_model as u32,
        _pad: 0,
    };
    gpu.uniform(label, &p)
}

/// `z[r, j] += b[j]`.
// z: (rows, cols), b: (cols)
pub fn bias_add(gpu: &Gpu, z: &Tensor, b: &Tensor, rows: usize, cols: usize) -> Result<Dispatch> {
    expect_len("bias_add", "z", z, rows * cols)?;
    expect_len("bias_add", "b", b, cols)?;
    let p = params(gpu, "bias_add", rows, cols, 0);
    Dispatch::new(
        gpu,
        BIAS_ADD,
        &[Bind::Params(&p), Bind::Tensor(b), Bind::Tensor(z)],
        elementwise_grid(gpu, rows * cols),
    )
}

/// `db[z, j] = Σ_r dz[z, r, j]` for each of `models` models side by side, their gradients
/// `db_stride` floats apart.
// per model: dz: (rows, cols), db: (cols)
pub fn bias_grad(
    gpu: &Gpu,
    dz: &Tensor,
    db: &Tensor,
    rows: usize,
    cols: usize,
    models: usize,
    db_stride: usize,
) -> Result<Dispatch> {
    expect_len("bias_grad", "dz", dz, models * rows * cols)?;
    expect_len("bias_grad", "db", db, super::span(models, db_stride, cols))?;
    let p = params(gpu, "bias_grad", rows, cols, db_stride);
    Dispatch::new(
        gpu,
        BIAS_GRAD,
        &[Bind::Params(&p), Bind::Tensor(dz), Bind::Tensor(db)],
        [cols.div_ceil(GRAD_WORKGROUP) as u32, 1, models as u32],
    )
}

/// Bias add (exactly) and the bias gradient on small awkward shapes against the CPU reference;
/// the gradient also for three models side by side, their gradients apart.
pub fn verify(gpu: &Gpu) -> Result<crate::tolerance::Comparison> {
    let mut all = Vec::new();
    for (i, &(rows, cols)) in [(1, 1), (3, 257), (300, 7)].iter().enumerate() {
        let z = super::seeded(400 + i as u64, rows * cols, -1.0, 1.0);
        let b = super::seeded(410 + i as u64, cols, -1.0, 1.0);
        let mut want = z.clone();
        reference::bias_add(&mut want, &b, rows, cols);
        let (tz, tb) = (gpu.upload("z", &z)?, gpu.upload("b", &b)?);
        super::run(gpu, &[&bias_add(gpu, &tz, &tb, rows, cols)?])?;
        all.push(crate::tolerance::EXACT.compare(&gpu.read::<f32>(&tz)?, &want));

        let mut want = vec![0.0; cols];
        reference::bias_grad(&z, &mut want, rows, cols);
        let (tdz, tdb) = (
            gpu.upload("dz", &z)?,
            gpu.upload("db", &vec![f32::NAN; cols])?,
        );
        super::run(gpu, &[&bias_grad(gpu, &tdz, &tdb, rows, cols, 1, 0)?])?;
        all.push(crate::tolerance::BIAS_GRAD.compare(&gpu.read::<f32>(&tdb)?, &want));

        const MODELS: usize = 3;
        let stride = cols + 5;
        let dz = super::seeded(420 + i as u64, MODELS * rows * cols, -1.0, 1.0);
        let mut want = vec![7.0; MODELS * stride];
        for z in 0..MODELS {
            let dz = &dz[z * rows * cols..(z + 1) * rows * cols];
            reference::bias_grad(dz, &mut want[z * stride..z * stride + cols], rows, cols);
        }
        let (tdz, tdb) = (
            gpu.upload("dz", &dz)?,
            gpu.upload("db", &vec![7.0f32; MODELS * stride])?,
        );
        super::run(
            gpu,
            &[&bias_grad(gpu, &tdz, &tdb, rows, cols, MODELS, stride)?],
        )?;
        all.push(crate::tolerance::BIAS_GRAD.compare(&gpu.read::<f32>(&tdb)?, &want));
    }
    Ok(crate::tolerance::Comparison::worst_of(all).expect("cases"))
}
