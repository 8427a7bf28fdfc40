//! The kernels, one folder per op family: its WGSL, its host side (`mod.rs`: parameters, bind
//! group, dispatch size, and a `verify` against the reference) and its CPU reference
//! (`reference.rs`), under one name. `prelude.wgsl` is what every module starts with.
//!
//! Each function here builds a [`Dispatch`] once (uniforms, bind group, workgroup count) for
//! fixed buffers and shapes; recording it into a pass later costs nothing but the command.
//! For advanced use: the trainers (`crate::train`) put them together into training steps.

pub mod activation;
pub mod adam;
pub mod bias;
pub mod fused;
pub mod gather;
pub mod loss;
pub mod matmul;
pub mod probe;
pub mod roofline;
pub mod sgd;

use crate::error::Result;
use crate::gpu::{Binding, Gpu, Kernel, Pipeline, StepSlots, Tensor};
use std::sync::Arc;

/// What every module starts with: the element-wise grid's flat index, sigmoid, tanh, the
/// activation codes and the forward epilogue, BCE, the Adam and SGD updates, and the per-step
/// uniform (`Step`). Kernels that use it say so at their top.
pub(crate) const PRELUDE: &str = include_str!("prelude.wgsl");

/// A module of one kernel family: the prelude, then its file.
macro_rules! module {
    ($name:literal, $file:literal) => {
        crate::gpu::Module {
            name: $name,
            parts: &[crate::kernels::PRELUDE, include_str!($file)],
            initialises_workgroup_memory: false,
        }
    };
}
pub(crate) use module;

/// Threads per workgroup of the element-wise kernels (`EW` in prelude.wgsl).
pub const EW: u32 = 256;

/// One kernel launch, ready to record: pipeline, bind group and grid built once.
pub struct Dispatch {
    pipeline: Arc<Pipeline>,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
    /// Whether the kernel binds the per-step slot (and so takes a dynamic offset).
    uses_step: bool,
}

/// What a binding of a dispatch is bound to.
pub(crate) enum Bind<'a> {
    Params(&'a wgpu::Buffer),
    Steps(&'a StepSlots),
    Tensor(&'a Tensor),
}

impl Dispatch {
    /// Builds the bind group of `kernel` from `binds`, given in the kernel's binding order.
    pub(crate) fn new(
        gpu: &Gpu,
        kernel: Kernel,
        binds: &[Bind<'_>],
        workgroups: [u32; 3],
    ) -> Result<Dispatch> {
        Dispatch::specialised(gpu, kernel, &[], binds, workgroups)
    }

    /// [`Dispatch::new`] with the kernel's WGSL `override` constants set.
    pub(crate) fn specialised(
        gpu: &Gpu,
        kernel: Kernel,
        constants: &[(&'static str, f64)],
        binds: &[Bind<'_>],
        workgroups: [u32; 3],
    ) -> Result<Dispatch> {
        debug_assert_eq!(binds.len(), kernel.bindings.len(), "{}", kernel.entry);
        let pipeline = gpu.pipeline_with(kernel, constants)?;
        let entries: Vec<wgpu::BindGroupEntry> = kernel
            .bindings
            .iter()
            .zip(binds)
            .map(|(&(binding, _), bind)| wgpu::BindGroupEntry {
                binding,
                resource: match bind {
                    Bind::Params(buffer) => buffer.as_entire_binding(),
                    Bind::Steps(slots) => slots.binding(),
                    Bind::Tensor(t) => t.binding(),
                },
            })
            .collect();
        let bind_group = gpu.device().create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.entry),
            layout: &pipeline.layout,
            entries: &entries,
        });
        gpu.check("creating a bind group")?;
        let uses_step = kernel
            .bindings
            .iter()
            .any(|(_, b)| matches!(b, Binding::Step));
        Ok(Dispatch {
            pipeline,
            bind_group,
            workgroups,
            uses_step,
        })
    }

    /// Records the launch. `step_offset` is the dynamic offset of this step's slot; kernels
    /// that take no per-step values ignore it.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>, step_offset: u32) {
        pass.set_pipeline(&self.pipeline.pipeline);
        if self.uses_step {
            pass.set_bind_group(0, &self.bind_group, &[step_offset]);
        } else {
            pass.set_bind_group(0, &self.bind_group, &[]);
        }
        let [x, y, z] = self.workgroups;
        if x > 0 && y > 0 && z > 0 {
            pass.dispatch_workgroups(x, y, z);
        }
    }
}

/// A grid of workgroups of [`EW`] threads covering `n` elements, spread over two dimensions
/// when one would exceed the adapter's per-dimension limit.
pub(crate) fn elementwise_grid(gpu: &Gpu, n: usize) -> [u32; 3] {
    let groups = n.div_ceil(EW as usize) as u64;
    let max = u64::from(gpu.limits().max_compute_workgroups_per_dimension);
    if groups <= max {
        [groups as u32, 1, 1]
    } else {
        let y = groups.div_ceil(max);
        [groups.div_ceil(y) as u32, y as u32, 1]
    }
}

/// [`elementwise_grid`] for each of `models` side by side (grid z = model).
pub(crate) fn models_grid(gpu: &Gpu, n: usize, models: usize) -> [u32; 3] {
    let [x, y, _] = elementwise_grid(gpu, n);
    [x, y, models as u32]
}

/// Floats of a buffer holding `models` models' `len` floats, `stride` apart.
pub(crate) fn span(models: usize, stride: usize, len: usize) -> usize {
    models.saturating_sub(1) * stride + len
}

/// Records `dispatches` into one compute pass, submits, and waits: for tests and one-off work.
pub fn run(gpu: &Gpu, dispatches: &[&Dispatch]) -> Result<()> {
    run_repeated(gpu, dispatches, 1)
}

/// Records `dispatches` `times` times over into one compute pass, submits once and waits:
/// what the benchmark and the tuner time.
pub fn run_repeated(gpu: &Gpu, dispatches: &[&Dispatch], times: usize) -> Result<()> {
    let mut encoder = gpu.encoder("ops::run");
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("ops::run"),
            timestamp_writes: None,
        });
        for _ in 0..times {
            for d in dispatches {
                d.record(&mut pass, 0);
            }
        }
    }
    gpu.submit_and_wait(encoder, "running kernels")
}

/// Checks that `tensor` holds at least `needed` elements.
pub(crate) fn expect_len(
    op: &'static str,
    name: &str,
    tensor: &Tensor,
    needed: usize,
) -> Result<()> {
    if (tensor.len as usize) < needed {
        return Err(crate::error::Error::Shape {
            op,
            detail: format!("{name} holds {} elements, needs {needed}", tensor.len),
        });
    }
    Ok(())
}

/// `n` values drawn uniformly from [lo, hi) by a ChaCha8 stream seeded with `seed`: the inputs
/// of the checks that compare a kernel with its reference (`verify`, `gpumlp check`, the tests).
pub fn seeded(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}
