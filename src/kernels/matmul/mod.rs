//! The matrix products of a dense layer, in every variant: `X·W` (forward), `Xᵀ·dZ` (weight
//! gradient) and `dZ·Wᵀ` (input gradient). Each variant is one WGSL file whose entry points are
//! its name and its name with `_tn` and `_nt`, and one line of [`VARIANTS`]; all of them sum k
//! in the same order as the reference ([`mod@reference`]), so they agree bit for bit on drivers
//! that do not contract to FMA. The tuner ([`tune`]) picks the fastest per adapter and shape.

pub mod reference;
pub mod tune;

pub use tune::{choose, Choice};

use super::{expect_len, Bind, Dispatch};
use crate::error::{Error, Result};
use crate::gpu::{Binding, Gpu, Kernel, Module, Tensor};
use crate::model::Activation;
use crate::tolerance::Comparison;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    /// See [`Epilogue::code`].
    epilogue: u32,
    /// [`Models`]' strides.
    a_model: u32,
    b_model: u32,
    c_model: u32,
    bias_model: u32,
}

/// Models side by side in one dispatch, one layer of the grid (z) each: how many, and how far
/// each one's operands start past the model before's, in floats (0: an operand every model
/// shares). The products of models trained together (src/train/step.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Models {
    /// How many.
    pub count: usize,
    /// Stride of A.
    pub a: usize,
    /// Stride of B.
    pub b: usize,
    /// Stride of C.
    pub c: usize,
    /// Stride of the epilogue's bias.
    pub bias: usize,
}

impl Models {
    /// One model.
    pub const ONE: Models = Models {
        count: 1,
        a: 0,
        b: 0,
        c: 0,
        bias: 0,
    };

    /// Floats an operand of `len` per model needs, `stride` apart.
    fn span(&self, stride: usize, len: usize) -> usize {
        self.count.saturating_sub(1) * stride + len
    }
}

const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::Uniform),
    (1, Binding::Read),
    (2, Binding::Read),
    (3, Binding::ReadWrite),
    (4, Binding::Read),
];

/// What a product does to each output before storing it: the forward pass of a dense layer
/// adds the bias and applies the activation there, saving two dispatches and two passes over
/// the output (bias.wgsl and activation.wgsl compute the same values when run apart).
#[derive(Clone, Copy, Debug)]
pub enum Epilogue<'t> {
    /// C = the product.
    None,
    /// C(i, j) = act(product(i, j) + bias(j)); no activation for the output layer.
    // bias: (n)
    Bias(&'t Tensor, Option<Activation>),
}

impl Epilogue<'_> {
    /// The code the prelude's `epilogue()` switches on: 0, or 1 + the activation's code.
    fn code(self) -> u32 {
        match self {
            Epilogue::None => 0,
            Epilogue::Bias(_, act) => 1 + super::activation::code(act),
        }
    }
}

/// Which of the three products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// C = A · B.
    Nn,
    /// C = Aᵀ · B.
    Tn,
    /// C = A · Bᵀ.
    Nt,
}

/// How a variant spreads C over threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grid {
    /// Workgroups of `threads` threads, each workgroup a `tile`×`tile` block of C.
    Tiles {
        /// Rows and columns of C per workgroup.
        tile: usize,
        /// Threads per workgroup side.
        side: u32,
    },
    /// One output per thread over the element-wise kernels' flat grid.
    Flat,
    /// Workgroups of `threads` threads in a row, each workgroup a `rows`×`cols` strip of C.
    Strips {
        /// Rows of C per workgroup.
        rows: usize,
        /// Columns of C per workgroup.
        cols: usize,
        /// Threads per workgroup, side by side on columns.
        threads: u32,
    },
}

/// One way of computing the products. The results are bit-identical; only the speed differs
/// by adapter and shape.
#[derive(Debug)]
pub struct Variant {
    /// The name in benchmark reports, the tuning cache, `GPUMLP_MATMUL`, its file and entry
    /// points.
    pub name: &'static str,
    /// What the variant is, in a line.
    pub about: &'static str,
    /// The module: the prelude, io.wgsl (scalar variants) or io_vec4.wgsl, the variant's file.
    module: Module,
    entries: [&'static str; 3],
    /// How C is spread over workgroups.
    pub grid: Grid,
    /// m, n and k must be multiples of this.
    pub multiple: usize,
    /// Bytes of workgroup memory it declares.
    pub workgroup_bytes: u32,
    /// Whether its workgroups wait at barriers (costly on CPU drivers).
    pub barriers: bool,
    /// Whether GL drivers get it: llvmpipe's GL compiler takes about ten minutes for
    /// vstrip16's module (its 32 vec4 accumulators), which Vulkan's compiles in seconds.
    pub gl: bool,
}

/// A variant whose file is `$name.wgsl`, with entry points `$name`, `$name_tn`, `$name_nt`.
macro_rules! variant {
    ($name:literal, $about:literal, $grid:expr, multiple $multiple:literal, workgroup $bytes:literal, barriers $barriers:literal, gl $gl:literal, $($io:expr)?) => {
        Variant {
            name: $name,
            about: $about,
            module: Module {
                name: concat!("matmul ", $name),
                parts: &[super::PRELUDE, $($io,)? include_str!(concat!($name, ".wgsl"))],
                initialises_workgroup_memory: false,
            },
            entries: [$name, concat!($name, "_tn"), concat!($name, "_nt")],
            grid: $grid,
            multiple: $multiple,
            workgroup_bytes: $bytes,
            barriers: $barriers,
            gl: $gl,
        }
    };
}

/// What the scalar variants bind and how they store (between the prelude and their file).
const IO: &str = include_str!("io.wgsl");
/// The same for the vec4 variants.
const IO_VEC4: &str = include_str!("io_vec4.wgsl");

/// Every variant. Adding one is its WGSL file and one line here.
pub static VARIANTS: [Variant; 8] = [
    variant!("block4", "8×8 threads × 4×4 outputs", Grid::Tiles { tile: 32, side: 8 }, multiple 1, workgroup 0, barriers false, gl true, IO),
    variant!("block8", "8×8 threads × 8×8 outputs", Grid::Tiles { tile: 64, side: 8 }, multiple 1, workgroup 0, barriers false, gl true, IO),
    variant!("packed", "8×8 threads × 8×8 outputs, loads and stores of whole vec4s", Grid::Tiles { tile: 64, side: 8 }, multiple 4, workgroup 0, barriers false, gl true, IO_VEC4),
    variant!("strip8", "8 threads on columns × 8 rows × 8 columns each, rows (and A's loads) shared by the workgroup", Grid::Strips { rows: 8, cols: 64, threads: 8 }, multiple 1, workgroup 0, barriers false, gl true, IO),
    variant!("vstrip", "strip8 with loads and stores of whole vec4s", Grid::Strips { rows: 8, cols: 64, threads: 8 }, multiple 4, workgroup 0, barriers false, gl true, IO_VEC4),
    variant!("vstrip16", "vstrip with 16 rows a workgroup: twice the products for each load of B", Grid::Strips { rows: 16, cols: 64, threads: 8 }, multiple 4, workgroup 0, barriers false, gl false, IO_VEC4),
    variant!("single", "one output per thread, for few outputs and a long k", Grid::Flat, multiple 1, workgroup 0, barriers false, gl true, IO),
    variant!("tiled", "16×16 threads × 4×4 outputs, k in slabs of 16 in workgroup memory", Grid::Tiles { tile: 64, side: 16 }, multiple 1, workgroup 8192, barriers true, gl true, IO),
];

/// The variant named `name`, if there is one.
pub fn variant(name: &str) -> Option<&'static Variant> {
    VARIANTS.iter().find(|v| v.name == name.trim())
}

impl PartialEq for Variant {
    fn eq(&self, other: &Variant) -> bool {
        self.name == other.name
    }
}

impl Variant {
    /// Whether the device can run this variant: its threads and workgroup memory fit the
    /// adapter's limits (`tiled` needs 256 threads and 8 KiB, more than some GL drivers
    /// give), and its driver compiles it in reasonable time (see [`Variant::gl`]).
    pub fn runs_on(&self, gpu: &Gpu) -> bool {
        self.fits(gpu.limits()) && (self.gl || gpu.adapter_info().backend != wgpu::Backend::Gl)
    }

    fn fits(&self, limits: &wgpu::Limits) -> bool {
        let side = match self.grid {
            Grid::Tiles { side, .. } => side,
            Grid::Flat => return limits.max_compute_workgroup_size_x >= super::EW,
            Grid::Strips { threads, .. } => {
                return limits.max_compute_workgroup_size_x >= threads
                    && limits.max_compute_invocations_per_workgroup >= threads
            }
        };
        limits.max_compute_invocations_per_workgroup >= side * side
            && limits.max_compute_workgroup_size_x >= side
            && limits.max_compute_workgroup_size_y >= side
            && limits.max_compute_workgroup_storage_size >= self.workgroup_bytes
    }

    /// Whether the tuner measures this variant on `gpu`: every variant the device can run,
    /// except those with barriers on CPU adapters (lavapipe, llvmpipe), where `tiled` is the
    /// slowest variant (2-5 GFLOP/s against block8's 6-17 on lavapipe) and llvmpipe's GL path
    /// takes minutes to compile it. `GPUMLP_MATMUL=tiled` still forces it.
    pub fn considered_on(&self, gpu: &Gpu) -> bool {
        let cpu = gpu.adapter_info().device_type == wgpu::DeviceType::Cpu;
        self.runs_on(gpu) && !(cpu && self.barriers)
    }

    /// Whether this variant computes an m×n×k product.
    pub fn supports(&self, m: usize, n: usize, k: usize) -> bool {
        [m, n, k].iter().all(|d| d.is_multiple_of(self.multiple))
    }

    fn kernel(&'static self, form: Form) -> Kernel {
        let entry = match form {
            Form::Nn => self.entries[0],
            Form::Tn => self.entries[1],
            Form::Nt => self.entries[2],
        };
        Kernel {
            module: &self.module,
            entry,
            bindings: BINDINGS,
        }
    }
}

/// One of the three products with a chosen variant (the benchmark and the tuner measure each).
// Nn: a (m, k), b (k, n); Tn: a (k, m), b (k, n); Nt: a (m, k), b (n, k); c: (m, n)
#[allow(clippy::too_many_arguments)]
pub fn product(
    gpu: &Gpu,
    variant: &'static Variant,
    form: Form,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    m: usize,
    n: usize,
    k: usize,
) -> Result<Dispatch> {
    product_with(gpu, variant, form, a, b, c, m, n, k, Epilogue::None)
}

/// [`product_for`] of one model.
// Nn: a (m, k), b (k, n); Tn: a (k, m), b (k, n); Nt: a (m, k), b (n, k); c: (m, n);
// epilogue bias: (n)
#[allow(clippy::too_many_arguments)]
pub fn product_with(
    gpu: &Gpu,
    variant: &'static Variant,
    form: Form,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    m: usize,
    n: usize,
    k: usize,
    epilogue: Epilogue<'_>,
) -> Result<Dispatch> {
    product_for(gpu, variant, form, a, b, c, m, n, k, epilogue, Models::ONE)
}

/// [`product`] with an epilogue applied to each output as it is stored, for each of `models`.
// per model: Nn: a (m, k), b (k, n); Tn: a (k, m), b (k, n); Nt: a (m, k), b (n, k);
// c: (m, n); epilogue bias: (n)
#[allow(clippy::too_many_arguments)]
pub fn product_for(
    gpu: &Gpu,
    variant: &'static Variant,
    form: Form,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    m: usize,
    n: usize,
    k: usize,
    epilogue: Epilogue<'_>,
    models: Models,
) -> Result<Dispatch> {
    let kernel = variant.kernel(form);
    let strides = [models.a, models.b, models.c];
    if !variant.supports(m, n, k) || strides.iter().any(|s| !s.is_multiple_of(variant.multiple)) {
        return Err(Error::Shape {
            op: kernel.entry,
            detail: format!(
                "{m}×{n}×{k} with model strides {strides:?} is not a shape the {} variant \
                 computes",
                variant.name
            ),
        });
    }
    expect_len(kernel.entry, "a", a, models.span(models.a, m * k))?;
    expect_len(kernel.entry, "b", b, models.span(models.b, k * n))?;
    expect_len(kernel.entry, "c", c, models.span(models.c, m * n))?;
    let groups = match variant.grid {
        Grid::Flat => {
            let [x, y, _] = super::elementwise_grid(gpu, m * n);
            [x as usize, y as usize]
        }
        Grid::Tiles { tile, .. } => [n.div_ceil(tile), m.div_ceil(tile)],
        Grid::Strips { rows, cols, .. } => [n.div_ceil(cols), m.div_ceil(rows)],
    };
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if groups.iter().any(|&g| g > max) || models.count > max {
        return Err(Error::Shape {
            op: kernel.entry,
            detail: format!(
                "{m}×{n} output of {} models needs {groups:?} workgroups, over the adapter's \
                 {max} per dimension",
                models.count
            ),
        });
    }
    // Without an epilogue the kernel never reads the bias binding; `a` stands in for it.
    let bias = match epilogue {
        Epilogue::None => a,
        Epilogue::Bias(bias, _) => {
            expect_len(kernel.entry, "bias", bias, models.span(models.bias, n))?;
            bias
        }
    };
    let params = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        epilogue: epilogue.code(),
        a_model: models.a as u32,
        b_model: models.b as u32,
        c_model: models.c as u32,
        bias_model: models.bias as u32,
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
            Bind::Tensor(bias),
        ],
        [groups[0] as u32, groups[1] as u32, models.count as u32],
    )
}

/// Shapes every variant is checked on before it is trusted: 1, odd, below and above the
/// largest tile; and for `packed` multiples of 4 likewise.
const VERIFY_SHAPES: [(usize, usize, usize); 4] =
    [(1, 1, 1), (7, 5, 3), (33, 65, 17), (70, 67, 129)];
const VERIFY_SHAPES_VEC4: [(usize, usize, usize); 4] =
    [(4, 4, 4), (8, 4, 12), (36, 68, 20), (68, 132, 36)];

/// Runs `variant` on small awkward shapes in all three forms, and with each epilogue, against
/// the CPU reference; returns the worst comparison (see [`crate::tolerance::MATMUL`]).
pub fn verify(gpu: &Gpu, variant: &'static Variant) -> Result<Comparison> {
    let shapes = match variant.multiple {
        1 => VERIFY_SHAPES,
        _ => VERIFY_SHAPES_VEC4,
    };
    debug_assert!(shapes.iter().all(|&(m, n, k)| variant.supports(m, n, k)));
    let epilogues = [
        None,
        Some(None),
        Some(Some(Activation::Sigmoid)),
        Some(Some(Activation::Relu)),
        Some(Some(Activation::Tanh)),
    ];
    let mut worst: Option<Comparison> = None;
    for (i, &(m, n, k)) in shapes.iter().enumerate() {
        let a = super::seeded(10 + i as u64, m * k, -1.0, 1.0);
        let b = super::seeded(20 + i as u64, k * n, -1.0, 1.0);
        let bias = super::seeded(30 + i as u64, n, -1.0, 1.0);
        let (ta, tb, tbias) = (
            gpu.upload("a", &a)?,
            gpu.upload("b", &b)?,
            gpu.upload("bias", &bias)?,
        );
        let tc = gpu.upload("c", &vec![f32::NAN; m * n])?;
        let mut cases: Vec<(Form, Option<Option<Activation>>)> =
            vec![(Form::Tn, None), (Form::Nt, None)];
        cases.extend(epilogues.iter().map(|&e| (Form::Nn, e)));
        for (form, epilogue) in cases {
            let mut want = vec![0.0; m * n];
            match (form, epilogue) {
                (Form::Nn, None) => reference::matmul(&a, &b, &mut want, m, n, k),
                (Form::Nn, Some(act)) => reference::linear(&a, &b, &bias, act, &mut want, m, n, k),
                (Form::Tn, _) => reference::matmul_tn(&a, &b, &mut want, m, n, k),
                (Form::Nt, _) => reference::matmul_nt(&a, &b, &mut want, m, n, k),
            }
            let epilogue = match epilogue {
                None => Epilogue::None,
                Some(act) => Epilogue::Bias(&tbias, act),
            };
            let d = product_with(gpu, variant, form, &ta, &tb, &tc, m, n, k, epilogue)?;
            super::run(gpu, &[&d])?;
            let got: Vec<f32> = gpu.read(&tc)?;
            let c = crate::tolerance::MATMUL.compare(&got, &want);
            worst = Some(worst.map_or(c, |w| w.worse(c)));
        }
    }
    let models = verify_models(gpu, variant, shapes[2])?;
    Ok(worst.expect("at least one shape").worse(models))
}

/// Three models side by side in each form, the forward with its epilogue: each model's own
/// A, C and bias, and B its own or (the third form) one B all share; against the reference
/// model by model.
// per model: a (m, k) or (k, m), b (k, n) or (n, k), c (m, n), bias (n)
fn verify_models(
    gpu: &Gpu,
    variant: &'static Variant,
    (m, n, k): (usize, usize, usize),
) -> Result<Comparison> {
    const COUNT: usize = 3;
    let a = super::seeded(40, COUNT * m * k, -1.0, 1.0);
    let b = super::seeded(41, COUNT * k * n, -1.0, 1.0);
    let bias = super::seeded(42, COUNT * n, -1.0, 1.0);
    let (ta, tb, tbias) = (
        gpu.upload("a", &a)?,
        gpu.upload("b", &b)?,
        gpu.upload("bias", &bias)?,
    );
    let tc = gpu.upload("c", &vec![f32::NAN; COUNT * m * n])?;
    let mut worst: Option<Comparison> = None;
    for (form, b_stride) in [(Form::Nn, k * n), (Form::Tn, k * n), (Form::Nt, 0)] {
        let models = Models {
            count: COUNT,
            a: m * k,
            b: b_stride,
            c: m * n,
            bias: n,
        };
        let act = Some(Activation::Tanh);
        let epilogue = match form {
            Form::Nn => Epilogue::Bias(&tbias, act),
            _ => Epilogue::None,
        };
        let d = product_for(gpu, variant, form, &ta, &tb, &tc, m, n, k, epilogue, models)?;
        super::run(gpu, &[&d])?;
        let got: Vec<f32> = gpu.read(&tc)?;
        let mut want = vec![0.0; COUNT * m * n];
        for (z, want) in want.chunks_mut(m * n).enumerate() {
            let a = &a[z * m * k..(z + 1) * m * k];
            let b = &b[z * b_stride..z * b_stride + k * n];
            match form {
                Form::Nn => reference::linear(a, b, &bias[z * n..(z + 1) * n], act, want, m, n, k),
                Form::Tn => reference::matmul_tn(a, b, want, m, n, k),
                Form::Nt => reference::matmul_nt(a, b, want, m, n, k),
            }
        }
        let c = crate::tolerance::MATMUL.compare(&got, &want);
        worst = Some(worst.map_or(c, |w| w.worse(c)));
    }
    Ok(worst.expect("three forms"))
}

/// Whether `variant` may be used on this adapter and driver: [`verify`]'s verdict, taken the
/// first time and kept in the tuning cache. A variant that failed is never used; a warning
/// names the driver and the variant once.
pub fn trusted(gpu: &Gpu, variant: &'static Variant) -> Result<bool> {
    let path = format!("matmul {}", variant.name);
    let ok = gpu.trusted(
        &path,
        &variant.module,
        || Ok(verify(gpu, variant)?.passed()),
    )?;
    if !ok {
        gpu.warn_once(
            &path,
            &format!(
                "the matmul variant {} gives wrong results on {}; gpumlp uses the others",
                variant.name,
                gpu.describe()
            ),
        );
    }
    Ok(ok)
}

/// C = A · B (forward, Z = X·W), with the variant [`choose`] picks.
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
    let (variant, _) = choose(gpu, Form::Nn, m, n, k)?;
    product(gpu, variant, Form::Nn, a, b, c, m, n, k)
}

/// A dense layer's forward pass in one dispatch: Z = act(X · W + b), with the variant
/// [`choose`] picks for X · W; for each of `models` (W and b at the same stride).
// per model: x: (rows, inputs), w: (inputs, outputs), b: (outputs), z: (rows, outputs)
#[allow(clippy::too_many_arguments)]
pub fn linear(
    gpu: &Gpu,
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    act: Option<Activation>,
    z: &Tensor,
    rows: usize,
    outputs: usize,
    inputs: usize,
    models: Models,
) -> Result<Dispatch> {
    let (variant, _) = choose(gpu, Form::Nn, rows, outputs, inputs)?;
    let epilogue = Epilogue::Bias(b, act);
    product_for(
        gpu,
        variant,
        Form::Nn,
        x,
        w,
        z,
        rows,
        outputs,
        inputs,
        epilogue,
        models,
    )
}

/// C = Aᵀ · B (weight gradient, dW = Xᵀ·dZ), reading A transposed in place; the variant
/// [`choose`] picks; for each of `models`.
// a: (k, m), b: (k, n), c: (m, n)
#[allow(clippy::too_many_arguments)]
pub fn matmul_tn(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    m: usize,
    n: usize,
    k: usize,
    models: Models,
) -> Result<Dispatch> {
    let (variant, _) = choose(gpu, Form::Tn, m, n, k)?;
    product_for(
        gpu,
        variant,
        Form::Tn,
        a,
        b,
        c,
        m,
        n,
        k,
        Epilogue::None,
        models,
    )
}

/// C = A · Bᵀ (input gradient, dX = dZ·Wᵀ), reading B transposed in place; the variant
/// [`choose`] picks; for each of `models`.
// a: (m, k), b: (n, k), c: (m, n)
#[allow(clippy::too_many_arguments)]
pub fn matmul_nt(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    m: usize,
    n: usize,
    k: usize,
    models: Models,
) -> Result<Dispatch> {
    let (variant, _) = choose(gpu, Form::Nt, m, n, k)?;
    product_for(
        gpu,
        variant,
        Form::Nt,
        a,
        b,
        c,
        m,
        n,
        k,
        Epilogue::None,
        models,
    )
}
