//! Host side of shaders/roofline.wgsl: the benchmark's peak-arithmetic and copy kernels.

pub mod reference;

use super::{elementwise_grid, expect_len, Bind, Dispatch};
use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Module, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RooflineParams {
    n: u32,
    iterations: u32,
    _pad: [u32; 2],
}

const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::Uniform),
    (1, Binding::Read),
    (2, Binding::ReadWrite),
];
/// roofline.wgsl after the prelude.
static MODULE: Module = super::module!("roofline", "roofline.wgsl");

static FMA_PEAK: Kernel = Kernel {
    module: &MODULE,
    entry: "fma_peak",
    bindings: BINDINGS,
};
static COPY: Kernel = Kernel {
    module: &MODULE,
    entry: "copy",
    bindings: BINDINGS,
};

/// FLOP done by one [`fma_peak`] dispatch: 32 chains × 2 FLOP per step per thread.
pub fn fma_peak_flop(n: usize, iterations: usize) -> f64 {
    64.0 * n as f64 * iterations as f64
}

fn build(
    gpu: &Gpu,
    kernel: &'static Kernel,
    src: &Tensor,
    dst: &Tensor,
    n: usize,
    iterations: usize,
) -> Result<Dispatch> {
    expect_len(kernel.entry, "src", src, n)?;
    expect_len(kernel.entry, "dst", dst, n)?;
    let p = RooflineParams {
        n: n as u32,
        iterations: iterations as u32,
        _pad: [0; 2],
    };
    let p = gpu.uniform(kernel.entry, &p);
    Dispatch::new(
        gpu,
        *kernel,
        &[Bind::Params(&p), Bind::Tensor(src), Bind::Tensor(dst)],
        elementwise_grid(gpu, n),
    )
}

/// `dst[i]` = the sum of 32 chains of `iterations` FMAs started from `src[i]`.
// src: (n), dst: (n)
pub fn fma_peak(
    gpu: &Gpu,
    src: &Tensor,
    dst: &Tensor,
    n: usize,
    iterations: usize,
) -> Result<Dispatch> {
    build(gpu, &FMA_PEAK, src, dst, n, iterations)
}

/// dst = src.
// src: (n), dst: (n)
pub fn copy(gpu: &Gpu, src: &Tensor, dst: &Tensor, n: usize) -> Result<Dispatch> {
    build(gpu, &COPY, src, dst, n, 0)
}
