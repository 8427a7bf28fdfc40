//! Shader modules and compute pipelines, compiled once per device and cached by entry point.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One `.wgsl` file of `shaders/`, with `common.wgsl` prepended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Shader {
    Matmul,
    Bias,
    Activation,
    Loss,
    Adam,
    Sgd,
    Roofline,
    MatmulWide,
    MatmulVec4,
    MatmulTiled,
    Fused,
    Gather,
    Probe,
}

macro_rules! wgsl {
    ($file:literal) => {
        concat!(
            include_str!("../../shaders/common.wgsl"),
            "\n",
            include_str!(concat!("../../shaders/", $file))
        )
    };
    // A scalar matmul variant: its parameters and bindings come from matmul_io.wgsl.
    (matmul $file:literal) => {
        concat!(
            include_str!("../../shaders/common.wgsl"),
            "\n",
            include_str!("../../shaders/matmul_io.wgsl"),
            "\n",
            include_str!(concat!("../../shaders/", $file))
        )
    };
}

impl Shader {
    /// A fingerprint of the module's source: a verdict about a kernel holds for this text only.
    pub(crate) fn fingerprint(self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.source().hash(&mut h);
        h.finish()
    }

    fn source(self) -> &'static str {
        match self {
            Shader::Matmul => wgsl!(matmul "matmul.wgsl"),
            Shader::Bias => wgsl!("bias.wgsl"),
            Shader::Activation => wgsl!("activation.wgsl"),
            Shader::Loss => wgsl!("loss.wgsl"),
            Shader::Adam => wgsl!("adam.wgsl"),
            Shader::Sgd => wgsl!("sgd.wgsl"),
            Shader::Roofline => wgsl!("roofline.wgsl"),
            Shader::MatmulWide => wgsl!(matmul "matmul_wide.wgsl"),
            Shader::MatmulVec4 => wgsl!("matmul_vec4.wgsl"),
            Shader::MatmulTiled => wgsl!(matmul "matmul_tiled.wgsl"),
            Shader::Fused => wgsl!("fused.wgsl"),
            Shader::Gather => wgsl!("gather.wgsl"),
            Shader::Probe => wgsl!("probe.wgsl"),
        }
    }
}

/// How a kernel sees one of its bindings.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Binding {
    /// The kernel's own shape parameters.
    Uniform,
    /// The per-step values (`Step`), bound with a dynamic offset.
    Step,
    /// A storage buffer the kernel only reads.
    Read,
    /// A storage buffer the kernel writes.
    ReadWrite,
}

/// A compute entry point and the bindings it uses, by binding number.
#[derive(Debug)]
pub(crate) struct Kernel {
    pub shader: Shader,
    pub entry: &'static str,
    pub bindings: &'static [(u32, Binding)],
}

impl Kernel {
    /// Storage buffers the kernel binds.
    pub fn storage_buffers(&self) -> u32 {
        self.bindings
            .iter()
            .filter(|(_, b)| matches!(b, Binding::Read | Binding::ReadWrite))
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
                advice:
                    "this adapter cannot run gpumlp's kernels; try another backend (--backend) \
                         or the CPU (--backend cpu)"
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

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: Mutex<HashMap<Shader, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<&'static str, Arc<Pipeline>>>,
}

impl PipelineCache {
    pub fn get(
        &self,
        device: &wgpu::Device,
        limits: &wgpu::Limits,
        kernel: &'static Kernel,
    ) -> Result<Arc<Pipeline>> {
        kernel.check_limits(limits)?;
        let mut pipelines = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pipelines.get(kernel.entry) {
            return Ok(p.clone());
        }
        let module = {
            let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
            modules
                .entry(kernel.shader)
                .or_insert_with(|| {
                    device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(kernel.entry),
                        source: wgpu::ShaderSource::Wgsl(kernel.shader.source().into()),
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
                        Binding::Uniform | Binding::Step => wgpu::BufferBindingType::Uniform,
                        Binding::Read => wgpu::BufferBindingType::Storage { read_only: true },
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
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            cache: None,
        });
        let p = Arc::new(Pipeline { pipeline, layout });
        pipelines.insert(kernel.entry, p.clone());
        Ok(p)
    }
}
