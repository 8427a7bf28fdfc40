//! The device: adapter choice, the shared context every op and trainer borrows, buffer helpers.
//!
//! ```no_run
//! use gpumlp::{BackendChoice, Gpu, GpuOptions};
//!
//! # fn main() -> gpumlp::Result<()> {
//! let gpu = Gpu::from_env()?; // GPUMLP_BACKEND, GPUMLP_ADAPTER, or the best adapter
//! println!("{}", gpu.describe());
//! let gl = Gpu::new(&GpuOptions { backend: Some(BackendChoice::Gl), ..GpuOptions::default() })?;
//! # let _ = gl;
//! # Ok(())
//! # }
//! ```

mod adapter;
mod buffers;
mod pipeline_store;
mod pipelines;
mod step;
mod tuning;

pub use adapter::{list_adapters, AdapterSummary, BackendChoice, GpuOptions, LoopBudget};
pub use buffers::Tensor;
pub(crate) use pipelines::{Binding, Kernel, Module, Pipeline};
pub use step::{StepSlots, StepUniform};

use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

/// What went wrong on the device, as wgpu's callbacks saw it.
#[derive(Clone, Debug)]
enum Fault {
    OutOfMemory,
    Lost(String),
    Error(String),
}

impl Fault {
    fn to_error(&self, during: &'static str) -> Error {
        match self {
            Fault::OutOfMemory => Error::OutOfMemory {
                what: format!("work while {during}"),
                bytes: 0,
            },
            Fault::Lost(message) => Error::DeviceLost {
                during,
                message: message.clone(),
            },
            Fault::Error(message) => Error::Gpu {
                during,
                message: message.clone(),
            },
        }
    }
}

/// The GPU context: one adapter's device and queue, its limits and the compiled pipelines.
///
/// Create it once and pass it to everything else; creating a device is slow and every pipeline
/// compiled on it is cached here. Through the GL backend, use a device from one thread at a
/// time: wgpu gives up on its GL context lock after 6 s, and llvmpipe can hold it for minutes
/// while it compiles a shader.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    pipelines: pipelines::PipelineCache,
    /// The driver's pipeline cache, kept on disk, where the device has one.
    store: Option<pipeline_store::PipelineStore>,
    /// The first error wgpu reported outside an error scope, or the device loss, if any.
    fault: Arc<Mutex<Option<Fault>>>,
    /// Kernel variants measured on this adapter (and kept on disk).
    tuning: tuning::Tuning,
    /// The loop budget the options asked to assume instead of measuring it.
    loop_budget: LoopBudget,
    /// Warnings already given (see [`Gpu::warn_once`]).
    warned: Mutex<std::collections::HashSet<String>>,
    /// The matmul variant [`GpuOptions::matmul`] forces, if any.
    matmul: Option<String>,
}

impl Gpu {
    /// Opens the adapter chosen by `options` (see [`GpuOptions`]).
    pub fn new(options: &GpuOptions) -> Result<Gpu> {
        let (adapter, info) = adapter::choose(options)?;
        let mut limits = adapter.limits();
        if let Some(cap) = options.max_binding_bytes {
            // Bindings are sized in 4-byte elements; offsets need the adapter's alignment.
            let cap = (cap / 4 * 4).max(u64::from(limits.min_storage_buffer_offset_alignment));
            limits.max_storage_buffer_binding_size =
                limits.max_storage_buffer_binding_size.min(cap);
            limits.max_buffer_size = limits.max_buffer_size.min(cap);
        }
        if let Some(cap) = options.max_storage_buffers {
            limits.max_storage_buffers_per_shader_stage =
                limits.max_storage_buffers_per_shader_stage.min(cap);
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("gpumlp"),
            // Subgroups where the adapter has them: the wide fused kernel shares its loads;
            // a pipeline cache, to keep compiled pipelines across runs.
            required_features: adapter.features()
                & (wgpu::Features::SUBGROUP | wgpu::Features::PIPELINE_CACHE),
            // The adapter's own limits: the defaults cap buffers at 256 MiB.
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::RequestDevice {
            adapter: format!("{} ({:?})", info.name, info.backend),
            message: e.to_string(),
        })?;

        // wgpu's default handler panics; keep the first error and report it as a typed error.
        let fault: Arc<Mutex<Option<Fault>>> = Arc::default();
        let sink = fault.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| match e {
                wgpu::Error::OutOfMemory { .. } => Fault::OutOfMemory,
                e => Fault::Error(e.to_string()),
            });
        }));
        let sink = fault.clone();
        device.set_device_lost_callback(move |reason, message| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(Fault::Lost(format!("{reason:?}: {message}")));
        });

        let tuning = tuning::Tuning::new(&info, options.cache_dir.clone());
        let dir = options.cache_dir.clone().or_else(tuning::cache_dir);
        let store = pipeline_store::PipelineStore::open(&device, &info, dir);
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            pipelines: pipelines::PipelineCache::default(),
            store,
            fault,
            tuning,
            loop_budget: options.loop_budget,
            warned: Mutex::default(),
            matmul: options.matmul.clone(),
        })
    }

    /// Opens the adapter named by `GPUMLP_BACKEND` and `GPUMLP_ADAPTER`, or the best one.
    pub fn from_env() -> Result<Gpu> {
        Gpu::new(&GpuOptions::from_env()?)
    }

    /// The wgpu device, for callers that record their own work.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// The adapter's name, backend, type and driver.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// Whether the device runs subgroup operations in subgroups of at least `lanes` lanes
    /// (lavapipe: 8; llvmpipe through GL has none).
    pub(crate) fn has_subgroups_of(&self, lanes: u32) -> bool {
        self.subgroup_min_size().is_some_and(|n| n >= lanes)
    }

    /// The fewest lanes a subgroup of this device has, where it runs subgroup operations.
    pub(crate) fn subgroup_min_size(&self) -> Option<u32> {
        self.device
            .features()
            .contains(wgpu::Features::SUBGROUP)
            .then_some(self.info.subgroup_min_size)
    }

    /// The limits the device was opened with (the adapter's own).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// One line naming the adapter, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, Cpu, Mesa 22.3.6]`.
    pub fn describe(&self) -> String {
        AdapterSummary::from(&self.info).to_string()
    }

    /// The compiled pipeline for `kernel` with its `override` constants set (see
    /// `PipelineCache::get`), built on first use.
    pub(crate) fn pipeline_with(
        &self,
        kernel: Kernel,
        constants: &[(&'static str, f64)],
    ) -> Result<Arc<Pipeline>> {
        let cache = self
            .store
            .as_ref()
            .map(pipeline_store::PipelineStore::cache);
        let (pipeline, built) =
            self.pipelines
                .get(&self.device, &self.limits, kernel, constants, cache)?;
        self.check("compiling a pipeline")?;
        if let (true, Some(store)) = (built, &self.store) {
            store.save();
        }
        Ok(pipeline)
    }

    /// Submits `encoder`, waits for the GPU to finish, and turns any error wgpu reported into ours.
    pub(crate) fn submit_and_wait(
        &self,
        encoder: wgpu::CommandEncoder,
        during: &'static str,
    ) -> Result<()> {
        let index = self.queue.submit([encoder.finish()]);
        self.wait_for(index, during)
    }

    /// Waits until the GPU has finished submission `index`.
    pub(crate) fn wait_for(
        &self,
        index: wgpu::SubmissionIndex,
        during: &'static str,
    ) -> Result<()> {
        let polled = self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: None,
        });
        // A fault wgpu recorded (a lost device, say) says more than the poll's error.
        self.check(during)?;
        polled.map(|_| ()).map_err(|e| Error::Gpu {
            during,
            message: e.to_string(),
        })
    }

    /// Returns the first error wgpu reported since the device was opened, if any.
    pub(crate) fn check(&self, during: &'static str) -> Result<()> {
        // A non-blocking poll runs the device-lost callback if the device has gone.
        let polled = self.device.poll(wgpu::PollType::Poll);
        let slot = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        if let (None, Err(e)) = (slot.as_ref(), polled) {
            return Err(Error::Gpu {
                during,
                message: e.to_string(),
            });
        }
        match slot.as_ref() {
            None => Ok(()),
            Some(fault) => Err(fault.to_error(during)),
        }
    }

    /// Runs `create` (an allocation) in out-of-memory and validation error scopes, so a
    /// failure comes back as an error naming `what` instead of an invalid object.
    pub(crate) fn scoped<T>(
        &self,
        what: &str,
        bytes: u64,
        create: impl FnOnce() -> T,
    ) -> Result<T> {
        self.check("allocating")?;
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let value = create();
        let oom = pollster::block_on(memory.pop());
        let invalid = pollster::block_on(validation.pop());
        if oom.is_some() {
            return Err(Error::OutOfMemory {
                what: what.to_string(),
                bytes,
            });
        }
        if let Some(e) = invalid {
            return Err(Error::Gpu {
                during: "allocating",
                message: format!("{what}: {e}"),
            });
        }
        self.check("allocating")?;
        Ok(value)
    }

    /// The matmul variant [`GpuOptions::matmul`] forces, if any.
    pub(crate) fn forced_matmul(&self) -> Option<&str> {
        self.matmul.as_deref()
    }

    /// The loop budget [`GpuOptions::loop_budget`] asked for.
    pub(crate) fn assumed_loop_budget(&self) -> LoopBudget {
        self.loop_budget
    }

    /// Whether `path` (a kernel or a variant, compiled from `shader`) gives the reference's
    /// results on this adapter and driver: the verdict stored for this source, or else
    /// `check`'s, run now and stored beside the tuning results (in memory and on disk).
    pub(crate) fn trusted(
        &self,
        path: &str,
        module: &Module,
        check: impl FnOnce() -> Result<bool>,
    ) -> Result<bool> {
        let key = format!("trust.v1 {path} {:016x}", module.fingerprint());
        match self.tuned(&key).as_deref() {
            Some("ok") => return Ok(true),
            Some("failed") => return Ok(false),
            _ => {}
        }
        let ok = check()?;
        self.set_tuned(&key, if ok { "ok" } else { "failed" });
        Ok(ok)
    }

    /// Prints `message` as a warning the first time `key` is warned about on this device.
    pub(crate) fn warn_once(&self, key: &str, message: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.insert(key.to_string()) {
            log::warn!("{message}");
        }
    }

    /// The measured choice stored under `key` for this adapter, if any.
    pub(crate) fn tuned(&self, key: &str) -> Option<String> {
        self.tuning.get(key)
    }

    /// Stores a measured choice for this adapter, in memory and in the tuning file.
    pub(crate) fn set_tuned(&self, key: &str, value: &str) {
        self.tuning.set(key, value)
    }

    pub(crate) fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.describe())
            .finish()
    }
}
