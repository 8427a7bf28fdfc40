//! Host side of shaders/matmul.wgsl: the three products of a dense layer.

use super::{expect_len, Bind, Dispatch};
use crate::error::{Error, Result};
use crate::gpu::{Binding, Gpu, Kernel, Shader, Tensor};

/// Rows and columns of C that one workgroup computes (8×8 threads × 4×4 outputs each).
pub const TILE: usize = 32;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::Uniform),
    (1, Binding::Read),
    (2, Binding::Read),
    (3, Binding::ReadWrite),
];
static MATMUL: Kernel = Kernel {
    shader: Shader::Matmul,
    entry: "matmul",
    bindings: BINDINGS,
};
static MATMUL_TN: Kernel = Kernel {
    shader: Shader::Matmul,
    entry: "matmul_tn",
    bindings: BINDINGS,
};
static MATMUL_NT: Kernel = Kernel {
    shader: Shader::Matmul,
    entry: "matmul_nt",
    bindings: BINDINGS,
};

/// C = A · B (forward, Z = X·W).
// a: (m, k), b: (k, n), c: (m, n)
pub fn matmul(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    m: usize,
    n: usize,
    k: usize,
) -> Result<Dispatch> {
    build(gpu, &MATMUL, a, b, c, m, n, k)
}

/// C = Aᵀ · B (weight gradient, dW = Xᵀ·dZ), reading A transposed in place.
// a: (k, m), b: (k, n), c: (m, n)
pub fn matmul_tn(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    m: usize,
    n: usize,
    k: usize,
) -> Result<Dispatch> {
    build(gpu, &MATMUL_TN, a, b, c, m, n, k)
}

/// C = A · Bᵀ (input gradient, dX = dZ·Wᵀ), reading B transposed in place.
// a: (m, k), b: (n, k), c: (m, n)
pub fn matmul_nt(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    m: usize,
    n: usize,
    k: usize,
) -> Result<Dispatch> {
    build(gpu, &MATMUL_NT, a, b, c, m, n, k)
}

#[allow(clippy::too_many_arguments)]
fn build(
    gpu: &Gpu,
    kernel: &'static Kernel,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    m: usize,
    n: usize,
    k: usize,
) -> Result<Dispatch> {
    expect_len(kernel.entry, "a", a, m * k)?;
    expect_len(kernel.entry, "b", b, k * n)?;
    expect_len(kernel.entry, "c", c, m * n)?;
    let groups = [n.div_ceil(TILE), m.div_ceil(TILE)];
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if groups.iter().any(|&g| g > max) {
        return Err(Error::Shape {
            op: kernel.entry,
            detail: format!(
                "{m}×{n} output needs {groups:?} workgroups, over the adapter's {max} per dimension"
            ),
        });
    }
    let params = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        _pad: 0,
    };
    let params = gpu.uniform(kernel.entry, &params);
    Dispatch::new(
        gpu,
        kernel,
        &[
            Bind::Params(&params),
            Bind::Tensor(a),
            Bind::Tensor(b),
            Bind::Tensor(c),
        ],
        [groups[0] as u32, groups[1] as u32, 1],
    )
}
