//! Shader modules and compute pipelines, compiled once per device and cached by name.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A WGSL module: the texts it is made of, in order (a kernel family's file after the shared
/// prelude, say; see `crate::kernels`), under a name that identifies it in the cache.
#[derive(Debug)]
pub(crate) struct Module {
    pub name: &'static str,
    pub parts: &'static [&'static str],
    /// Whether its kernels write every workgroup variable before they read it, so that the
    /// driver need not zero workgroup memory at each dispatch.
    pub initialises_workgroup_memory: bool,
}

impl Module {
    /// The module's source: its parts joined (with [`faulted`]'s deliberate error when asked).
    fn source(&self) -> String {
        let source = self.parts.join("\n");
        if !faulted(self.name) {
            return source;
        }
        // Each entry point returns before it writes anything: its outputs keep whatever the
        // buffers held.
        let mut pieces = source.split("@compute");
        let mut out = pieces.next().unwrap_or_default().to_string();
        for piece in pieces {
            let body = piece.find('{').map_or(piece.len(), |i| i + 1);
            out += &format!("@compute{} return;{}", &piece[..body], &piece[body..]);
        }
        out
    }

    /// A fingerprint of the module's source: a verdict about a kernel holds for this text only.
    pub(crate) fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.parts.hash(&mut h);
        if faulted(self.name) {
            "GPUMLP_FAULT".hash(&mut h);
        }
        h.finish()
    }
}

/// For tests only: `GPUMLP_FAULT=NAME` (a module's name, e.g. `gather`, `matmul block8`,
/// `roofline`, or the first word of a family's names, e.g. `fused_unrolled` for every kernel
/// generated per network) compiles that module wrong on purpose, every entry point returning at once,
/// so that tests can show `gpumlp check`, the trust checks and `bench` catch a kernel that
/// computes the wrong thing. Its verdicts are kept apart from the real kernel's (see
/// [`Module::fingerprint`]). Never set it otherwise.
fn faulted(name: &str) -> bool {
    std::env::var_os("GPUMLP_FAULT").is_some_and(|fault| {
        fault == name
            || name
                .split_once(' ')
                .is_some_and(|(family, _)| fault == family)
    })
}

/// How a kernel sees one of its bindings.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Binding {
    /// The kernel's own shape parameters.
    Uniform,
    /// The per-step values (`Step`, one per model side by side), a storage buffer bound with
    /// a dynamic offset.
    Step,
    /// A storage buffer the kernel only reads.
    Read,
    /// A storage buffer the kernel writes.
    ReadWrite,
}

/// A compute entry point of a module and the bindings it uses, by binding number.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernel {
    pub module: &'static Module,
    pub entry: &'static str,
    pub bindings: &'static [(u32, Binding)],
}

impl Kernel {
    /// Storage buffers the kernel binds.
    pub fn storage_buffers(&self) -> u32 {
        self.bindings
            .iter()
            .filter(|(_, b)| matches!(b, Binding::Read | Binding::ReadWrite | Binding::Step))
            .count() as u32
    }

    /// Refuses a kernel that binds more storage buffers than the device allows in one stage
    /// (as few as 4 on some GL and WebGL drivers).
    pub fn check_limits(&self, limits: &wgpu::Limits) -> Result<()> {
        let limit = limits.max_storage_buffers_per_shader_stage;
        if self.storage_buffers() > limit {
            return Err(Error::Limit {
                what: format!("kernel {}", self.entry),
                needed: u64::from(self.storage_buffers()),
                limit: u64::from(limit),
                unit: "storage buffers",
                limit_name: "max_storage_buffers_per_shader_stage",
                advice: "this adapter cannot run gpumlp's kernels; try another backend \
                         or the CPU"
                    .into(),
            });
        }
        Ok(())
    }
}

/// A compiled kernel and the layout its bind groups must follow.
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// A pipeline's module, entry point and `override` constants (as text).
type PipelineKey = (&'static str, &'static str, String);

/// Compiled modules by name and pipelines by (module, entry point, constants).
#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<Pipeline>>>,
}

impl PipelineCache {
    /// The pipeline of `kernel` with its WGSL `override` constants set to `constants` (one
    /// pipeline per set of values), built through the driver's `cache` if there is one; and
    /// whether it was built now.
    pub fn get(
        &self,
        device: &wgpu::Device,
        limits: &wgpu::Limits,
        kernel: Kernel,
        constants: &[(&'static str, f64)],
        cache: Option<&wgpu::PipelineCache>,
    ) -> Result<(Arc<Pipeline>, bool)> {
        kernel.check_limits(limits)?;
        let key = (kernel.module.name, kernel.entry, format!("{constants:?}"));
        let mut pipelines = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pipelines.get(&key) {
            return Ok((p.clone(), false));
        }
        let module = {
            let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
            modules
                .entry(kernel.module.name)
                .or_insert_with(|| {
                    device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(kernel.module.name),
                        source: wgpu::ShaderSource::Wgsl(kernel.module.source().into()),
                    })
                })
                .clone()
        };
        let entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
            .bindings
            .iter()
            .map(|&(binding, kind)| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match kind {
                        Binding::Uniform => wgpu::BufferBindingType::Uniform,
                        Binding::Read | Binding::Step => {
                            wgpu::BufferBindingType::Storage { read_only: true }
                        }
                        Binding::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                    },
                    has_dynamic_offset: matches!(kind, Binding::Step),
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(kernel.entry),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(kernel.entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: !kernel.module.initialises_workgroup_memory,
            },
            cache,
        });
        let p = Arc::new(Pipeline { pipeline, layout });
        pipelines.insert(key, p.clone());
        Ok((p, true))
    }
}
