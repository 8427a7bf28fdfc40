//! Host side of shaders/matmul.wgsl: the three products of a dense layer.

use super::{expect_len, Bind, Dispatch};
use crate::error::{Error, Result};
use crate::gpu::{Binding, Gpu, Kernel, Shader, Tensor};
use crate::model::Activation;
use crate::tolerance::Comparison;

/// Rows and columns of C that one workgroup computes (8×8 threads × 4×4 outputs each).
pub const TILE: usize = 32;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    /// See [`Epilogue::code`].
    epilogue: u32,
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
    /// The code common.wgsl's `epilogue()` switches on.
    fn code(self) -> u32 {
        match self {
            Epilogue::None => 0,
            Epilogue::Bias(_, None) => 1,
            Epilogue::Bias(_, Some(Activation::Sigmoid)) => 2,
            Epilogue::Bias(_, Some(Activation::Relu)) => 3,
            Epilogue::Bias(_, Some(Activation::Tanh)) => 4,
        }
    }
}

/// Every matmul entry point binds the same five things.
macro_rules! kernel {
    ($shader:ident, $entry:literal) => {
        Kernel {
            shader: Shader::$shader,
            entry: $entry,
            bindings: BINDINGS,
        }
    };
}
static MATMUL: Kernel = kernel!(Matmul, "matmul");
static MATMUL_TN: Kernel = kernel!(Matmul, "matmul_tn");
static MATMUL_NT: Kernel = kernel!(Matmul, "matmul_nt");

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

/// How the product is blocked; the results are bit-identical, only the speed differs by
/// adapter and shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// shaders/matmul.wgsl: 8×8 threads × 4×4 outputs (32×32 per workgroup).
    Block4,
    /// shaders/matmul_wide.wgsl: 8×8 threads × 8×8 outputs (64×64 per workgroup).
    Block8,
    /// shaders/matmul_vec4.wgsl: 8×8 threads × 8×8 outputs, loads and stores of whole vec4s;
    /// only for m, n and k that are multiples of 4.
    Vec4,
    /// shaders/matmul.wgsl `matmul_single*`: one output per thread, for few outputs and a long
    /// k (weight gradients of narrow layers).
    Single,
    /// shaders/matmul_tiled.wgsl: 16×16 threads × 4×4 outputs (64×64 per workgroup), k in
    /// slabs of 16 staged in workgroup memory: the usual choice of real GPUs.
    Tiled,
}

impl Variant {
    /// Every variant, for measuring.
    pub const ALL: [Variant; 5] = [
        Variant::Block4,
        Variant::Block8,
        Variant::Vec4,
        Variant::Single,
        Variant::Tiled,
    ];

    /// The name used in benchmark reports, the tuning cache and GPUMLP_MATMUL.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Block4 => "block4",
            Variant::Block8 => "block8",
            Variant::Vec4 => "vec4",
            Variant::Single => "single",
            Variant::Tiled => "tiled",
        }
    }

    /// Rows and columns of C per workgroup.
    pub fn tile(self) -> usize {
        match self {
            Variant::Block4 => 32,
            Variant::Block8 | Variant::Vec4 | Variant::Tiled => 64,
            Variant::Single => 1,
        }
    }

    /// Whether the device can run this variant: `tiled` needs 256 threads a workgroup and
    /// 8 KiB of workgroup memory, more than some GL drivers give.
    pub fn runs_on(self, limits: &wgpu::Limits) -> bool {
        match self {
            Variant::Tiled => {
                limits.max_compute_invocations_per_workgroup >= 256
                    && limits.max_compute_workgroup_size_x >= 16
                    && limits.max_compute_workgroup_size_y >= 16
                    && limits.max_compute_workgroup_storage_size >= 8192
            }
            Variant::Single => limits.max_compute_workgroup_size_x >= 256,
            _ => true,
        }
    }

    /// Whether the tuner measures this variant on `gpu`: every variant the device can run,
    /// except `tiled` on CPU adapters (lavapipe, llvmpipe), where its workgroup barriers make
    /// it the slowest variant (2-5 GFLOP/s against block8's 6-17 on lavapipe) and llvmpipe's
    /// GL path takes minutes to compile it. `GPUMLP_MATMUL=tiled` still forces it.
    pub fn considered_on(self, gpu: &Gpu) -> bool {
        let cpu = gpu.adapter_info().device_type == wgpu::DeviceType::Cpu;
        self.runs_on(gpu.limits()) && !(cpu && self == Variant::Tiled)
    }

    /// Whether this variant computes an m×n×k product.
    pub fn supports(self, m: usize, n: usize, k: usize) -> bool {
        match self {
            Variant::Block4 | Variant::Block8 | Variant::Single | Variant::Tiled => true,
            Variant::Vec4 => m.is_multiple_of(4) && n.is_multiple_of(4) && k.is_multiple_of(4),
        }
    }

    fn kernel(self, form: Form) -> &'static Kernel {
        match (self, form) {
            (Variant::Block4, Form::Nn) => &MATMUL,
            (Variant::Block4, Form::Tn) => &MATMUL_TN,
            (Variant::Block4, Form::Nt) => &MATMUL_NT,
            (Variant::Block8, Form::Nn) => &WIDE,
            (Variant::Block8, Form::Tn) => &WIDE_TN,
            (Variant::Block8, Form::Nt) => &WIDE_NT,
            (Variant::Vec4, Form::Nn) => &VEC4,
            (Variant::Vec4, Form::Tn) => &VEC4_TN,
            (Variant::Vec4, Form::Nt) => &VEC4_NT,
            (Variant::Single, Form::Nn) => &SINGLE,
            (Variant::Single, Form::Tn) => &SINGLE_TN,
            (Variant::Single, Form::Nt) => &SINGLE_NT,
            (Variant::Tiled, Form::Nn) => &TILED,
            (Variant::Tiled, Form::Tn) => &TILED_TN,
            (Variant::Tiled, Form::Nt) => &TILED_NT,
        }
    }
}

static WIDE: Kernel = kernel!(MatmulWide, "matmul_wide");
static WIDE_TN: Kernel = kernel!(MatmulWide, "matmul_wide_tn");
static WIDE_NT: Kernel = kernel!(MatmulWide, "matmul_wide_nt");

static VEC4: Kernel = kernel!(MatmulVec4, "matmul_vec4");
static VEC4_TN: Kernel = kernel!(MatmulVec4, "matmul_vec4_tn");
static VEC4_NT: Kernel = kernel!(MatmulVec4, "matmul_vec4_nt");

static TILED: Kernel = kernel!(MatmulTiled, "matmul_tiled");
static TILED_TN: Kernel = kernel!(MatmulTiled, "matmul_tiled_tn");
static TILED_NT: Kernel = kernel!(MatmulTiled, "matmul_tiled_nt");

static SINGLE: Kernel = kernel!(Matmul, "matmul_single");
static SINGLE_TN: Kernel = kernel!(Matmul, "matmul_single_tn");
static SINGLE_NT: Kernel = kernel!(Matmul, "matmul_single_nt");

/// One of the three products with a chosen variant (the benchmark and the tuner measure each).
// Nn: a (m, k), b (k, n); Tn: a (k, m), b (k, n); Nt: a (m, k), b (n, k); c: (m, n)
#[allow(clippy::too_many_arguments)]
pub fn product(
    gpu: &Gpu,
    variant: Variant,
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

/// [`product`] with an epilogue applied to each output as it is stored.
// Nn: a (m, k), b (k, n); Tn: a (k, m), b (k, n); Nt: a (m, k), b (n, k); c: (m, n);
// epilogue bias: (n)
#[allow(clippy::too_many_arguments)]
pub fn product_with(
    gpu: &Gpu,
    variant: Variant,
    form: Form,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    m: usize,
    n: usize,
    k: usize,
    epilogue: Epilogue<'_>,
) -> Result<Dispatch> {
    let kernel = variant.kernel(form);
    if !variant.supports(m, n, k) {
        return Err(Error::Shape {
            op: kernel.entry,
            detail: format!(
                "{m}×{n}×{k} is not a shape the {} variant computes",
                variant.name()
            ),
        });
    }
    expect_len(kernel.entry, "a", a, m * k)?;
    expect_len(kernel.entry, "b", b, k * n)?;
    expect_len(kernel.entry, "c", c, m * n)?;
    let tile = variant.tile();
    let groups = match variant {
        Variant::Single => {
            let [x, y, _] = super::elementwise_grid(gpu, m * n);
            [x as usize, y as usize]
        }
        _ => [n.div_ceil(tile), m.div_ceil(tile)],
    };
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if groups.iter().any(|&g| g > max) {
        return Err(Error::Shape {
            op: kernel.entry,
            detail: format!(
                "{m}×{n} output needs {groups:?} workgroups, over the adapter's {max} per dimension"
            ),
        });
    }
    // Without an epilogue the kernel never reads the bias binding; `a` stands in for it.
    let bias = match epilogue {
        Epilogue::None => a,
        Epilogue::Bias(bias, _) => {
            expect_len(kernel.entry, "bias", bias, n)?;
            bias
        }
    };
    let params = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        epilogue: epilogue.code(),
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
        [groups[0] as u32, groups[1] as u32, 1],
    )
}

/// Where a variant choice came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// `GPUMLP_MATMUL` named it.
    Forced,
    /// Measured on this adapter before (in this process or an earlier one).
    Cached,
    /// Measured just now.
    Measured,
}

/// Each dimension of the shape the tuner times, at most: large products rank the variants
/// the same way and would make the first run slow. (At 128 the fixed cost of a dispatch
/// hid the difference between block4 and block8 that 1024³ products show.)
const TUNE_DIM: usize = 256;
/// Part of every tuning key: bumped when the variants change, so old choices are measured
/// again with the new ones in the running.
const TUNING_VERSION: u32 = 2;

fn variant_named(name: &str) -> Option<Variant> {
    Variant::ALL.into_iter().find(|v| v.name() == name.trim())
}

/// Seconds of the fastest of three runs of `variant` on scratch buffers.
fn time_variant(
    gpu: &Gpu,
    variant: Variant,
    form: Form,
    m: usize,
    n: usize,
    k: usize,
) -> Result<f64> {
    let (ta, tb, tc) = (
        gpu.zeros("tune a", m * k)?,
        gpu.zeros("tune b", k * n)?,
        gpu.zeros("tune c", m * n)?,
    );
    let d = product(gpu, variant, form, &ta, &tb, &tc, m, n, k)?;
    super::run(gpu, &[&d])?; // compiles the pipeline
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        super::run(gpu, &[&d])?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Shapes every variant is checked on before it is trusted: 1, odd, below and above the
/// largest tile; and for `vec4` multiples of 4 likewise.
const VERIFY_SHAPES: [(usize, usize, usize); 4] =
    [(1, 1, 1), (7, 5, 3), (33, 65, 17), (70, 67, 129)];
const VERIFY_SHAPES_VEC4: [(usize, usize, usize); 4] =
    [(4, 4, 4), (8, 4, 12), (36, 68, 20), (68, 132, 36)];

/// Runs `variant` on small awkward shapes in all three forms, and with each epilogue, against
/// the CPU reference; returns the worst comparison (see [`crate::tolerance::MATMUL`]).
pub fn verify(gpu: &Gpu, variant: Variant) -> Result<Comparison> {
    let shapes = match variant {
        Variant::Vec4 => VERIFY_SHAPES_VEC4,
        _ => VERIFY_SHAPES,
    };
    let epilogues = [
        None,
        Some(None),
        Some(Some(Activation::Sigmoid)),
        Some(Some(Activation::Relu)),
        Some(Some(Activation::Tanh)),
    ];
    let mut worst: Option<Comparison> = None;
    for (i, &(m, n, k)) in shapes.iter().enumerate() {
        let a = crate::cpu::seeded(10 + i as u64, m * k, -1.0, 1.0);
        let b = crate::cpu::seeded(20 + i as u64, k * n, -1.0, 1.0);
        let bias = crate::cpu::seeded(30 + i as u64, n, -1.0, 1.0);
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
                (Form::Nn, None) => crate::cpu::matmul(&a, &b, &mut want, m, n, k),
                (Form::Nn, Some(act)) => crate::cpu::linear(&a, &b, &bias, act, &mut want, m, n, k),
                (Form::Tn, _) => crate::cpu::matmul_tn(&a, &b, &mut want, m, n, k),
                (Form::Nt, _) => crate::cpu::matmul_nt(&a, &b, &mut want, m, n, k),
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
    Ok(worst.expect("at least one shape"))
}

/// Whether `variant` may be used on this adapter and driver: [`verify`]'s verdict, taken the
/// first time and kept in the tuning cache. A variant that failed is never used; a warning
/// names the driver and the variant once.
pub fn trusted(gpu: &Gpu, variant: Variant) -> Result<bool> {
    let path = format!("matmul {}", variant.name());
    let shader = variant.kernel(Form::Nn).shader;
    let ok = gpu.trusted(&path, shader, || Ok(verify(gpu, variant)?.passed()))?;
    if !ok {
        gpu.warn_once(
            &path,
            &format!(
                "the matmul variant {} gives wrong results on {}; gpumlp uses the others",
                variant.name(),
                gpu.describe()
            ),
        );
    }
    Ok(ok)
}

/// The variant for this form and shape on this adapter: the one `GPUMLP_MATMUL` names (when
/// it computes the shape), else the one measured before on this adapter, else the fastest of
/// all variants measured now on the shape with each dimension capped at 256, then stored in
/// the tuning cache on disk. Only variants that passed [`verify`] on this driver are used;
/// none passing is an error.
pub fn choose(gpu: &Gpu, form: Form, m: usize, n: usize, k: usize) -> Result<(Variant, Choice)> {
    let runs = |v: Variant| -> Result<bool> {
        Ok(v.supports(m, n, k) && v.runs_on(gpu.limits()) && trusted(gpu, v)?)
    };
    let usable = |v: Variant| -> Result<bool> { Ok(v.considered_on(gpu) && runs(v)?) };
    if let Some(v) = std::env::var("GPUMLP_MATMUL")
        .ok()
        .and_then(|s| variant_named(&s))
    {
        if runs(v)? {
            return Ok((v, Choice::Forced));
        }
    }
    let key = format!("matmul.v{TUNING_VERSION} {form:?} {m}x{n}x{k}");
    if let Some(v) = gpu.tuned(&key).and_then(|s| variant_named(&s)) {
        if usable(v)? {
            return Ok((v, Choice::Cached));
        }
    }
    let (pm, pn, pk) = (m.min(TUNE_DIM), n.min(TUNE_DIM), k.min(TUNE_DIM));
    let mut best: Option<(Variant, f64)> = None;
    for v in Variant::ALL {
        if v.supports(pm, pn, pk) && usable(v)? {
            let t = time_variant(gpu, v, form, pm, pn, pk)?;
            if best.is_none_or(|(_, b)| t < b) {
                best = Some((v, t));
            }
        }
    }
    let Some((best, _)) = best else {
        return Err(Error::DriverFault {
            adapter: gpu.describe(),
            kernel: "matmul",
            detail: format!(
                "no matmul variant that computes a {m}×{n}×{k} product passed its check against \
                 the CPU reference here; use another adapter or the CPU"
            ),
        });
    };
    gpu.set_tuned(&key, best.name());
    Ok((best, Choice::Measured))
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
/// [`choose`] picks for X · W.
// x: (rows, inputs), w: (inputs, outputs), b: (outputs), z: (rows, outputs)
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
) -> Result<Dispatch> {
    let (variant, _) = choose(gpu, Form::Nn, rows, outputs, inputs)?;
    let epilogue = Epilogue::Bias(b, act);
    product_with(
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
    )
}

/// C = Aᵀ · B (weight gradient, dW = Xᵀ·dZ), reading A transposed in place; the variant
/// [`choose`] picks.
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
    let (variant, _) = choose(gpu, Form::Tn, m, n, k)?;
    product(gpu, variant, Form::Tn, a, b, c, m, n, k)
}

/// C = A · Bᵀ (input gradient, dX = dZ·Wᵀ), reading B transposed in place; the variant
/// [`choose`] picks.
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
    let (variant, _) = choose(gpu, Form::Nt, m, n, k)?;
    product(gpu, variant, Form::Nt, a, b, c, m, n, k)
}
