//! Choosing an adapter: the best one wgpu offers unless the user forces a backend or a name.

use crate::error::{Error, Result};
use std::fmt;

/// A graphics API to force instead of letting gpumlp pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// Vulkan (Linux, Windows, Android; lavapipe is Mesa's software Vulkan).
    Vulkan,
    /// Metal (macOS, iOS).
    Metal,
    /// Direct3D 12 (Windows).
    Dx12,
    /// OpenGL / GLES (llvmpipe is Mesa's software GL).
    Gl,
}

impl BackendChoice {
    /// Parses `vulkan`, `metal`, `dx12` or `gl` (any case); `auto` or empty gives `None`.
    pub fn parse(text: &str) -> Result<Option<BackendChoice>> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(None),
            "vulkan" | "vk" => Ok(Some(BackendChoice::Vulkan)),
            "metal" | "mtl" => Ok(Some(BackendChoice::Metal)),
            "dx12" | "d3d12" => Ok(Some(BackendChoice::Dx12)),
            "gl" | "gles" | "opengl" => Ok(Some(BackendChoice::Gl)),
            _ => Err(Error::UnknownBackend(text.to_string())),
        }
    }

    fn backends(self) -> wgpu::Backends {
        match self {
            BackendChoice::Vulkan => wgpu::Backends::VULKAN,
            BackendChoice::Metal => wgpu::Backends::METAL,
            BackendChoice::Dx12 => wgpu::Backends::DX12,
            BackendChoice::Gl => wgpu::Backends::GL,
        }
    }
}

/// Which adapter to open.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Only this backend; `None` tries every backend compiled in.
    pub backend: Option<BackendChoice>,
    /// Only adapters whose name contains this text (case-insensitive).
    pub adapter: Option<String>,
    /// Open the device with at most this many bytes per storage binding (and per buffer),
    /// below the adapter's own limit: to see how gpumlp fits work into small devices (phones,
    /// browsers) on a large one.
    pub max_binding_bytes: Option<u64>,
    /// Open the device with at most this many storage buffers per shader stage (some GL
    /// drivers allow 4 or 8), for the same reason.
    pub max_storage_buffers: Option<u32>,
    /// What to take as the driver's loop budget (see [`LoopBudget`]): measured unless set.
    pub loop_budget: LoopBudget,
    /// Where the tuning cache lives (`tuning.json`, with the measured matmul choices and
    /// the verdicts of the kernels' checks): `None` takes `GPUMLP_CACHE_DIR`, else the user's
    /// cache folder.
    pub cache_dir: Option<std::path::PathBuf>,
    /// The matmul variant to use wherever it computes the shape, instead of the tuner's
    /// choice (`GPUMLP_MATMUL`).
    pub matmul: Option<String>,
}

/// How many loop iterations one invocation of a kernel may run in all before the driver cuts
/// its loops short (Mesa up to 22.x: 65535, silently). gpumlp measures it on each adapter and
/// driver and keeps every dispatch within it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoopBudget {
    /// Measure it with a probe kernel (once per adapter and driver; kept in the tuning cache).
    #[default]
    Measure,
    /// Take the driver to have no limit (to see what happens when it has one).
    Unlimited,
    /// Take this many iterations as the limit (to exercise the planning on any driver).
    Iterations(u64),
}

impl GpuOptions {
    /// Reads `GPUMLP_BACKEND` (auto, vulkan, metal, dx12, gl), `GPUMLP_ADAPTER` (a name
    /// substring), `GPUMLP_MAX_BINDING` (bytes per storage binding, at most the adapter's)
    /// and `GPUMLP_MATMUL` (a matmul variant to force).
    pub fn from_env() -> Result<GpuOptions> {
        let backend = match std::env::var("GPUMLP_BACKEND") {
            Ok(text) => BackendChoice::parse(&text)?,
            Err(_) => None,
        };
        let adapter = std::env::var("GPUMLP_ADAPTER")
            .ok()
            .filter(|s| !s.trim().is_empty());
        let max_binding_bytes = match std::env::var("GPUMLP_MAX_BINDING") {
            Ok(text) if !text.trim().is_empty() => {
                Some(text.trim().parse::<u64>().map_err(|_| {
                    Error::InvalidConfig(format!(
                        "GPUMLP_MAX_BINDING={text:?}: expected a number of bytes"
                    ))
                })?)
            }
            _ => None,
        };
        Ok(GpuOptions {
            backend,
            adapter,
            max_binding_bytes,
            max_storage_buffers: None,
            loop_budget: LoopBudget::Measure,
            cache_dir: None,
            matmul: std::env::var("GPUMLP_MATMUL")
                .ok()
                .filter(|s| !s.trim().is_empty()),
        })
    }

    fn backends(&self) -> wgpu::Backends {
        match self.backend {
            Some(choice) => choice.backends(),
            None => {
                wgpu::Backends::VULKAN
                    | wgpu::Backends::METAL
                    | wgpu::Backends::DX12
                    | wgpu::Backends::GL
            }
        }
    }
}

/// What a user needs to know about an adapter, printable in one line.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    /// The adapter's name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// The graphics API it is reached through.
    pub backend: wgpu::Backend,
    /// Discrete, integrated, virtual, CPU or other.
    pub device_type: wgpu::DeviceType,
    /// Driver name and version, where the backend reports them.
    pub driver: String,
    /// The adapter's limits, where they were asked for ([`list_adapters`] does).
    pub limits: Option<wgpu::Limits>,
}

impl From<&wgpu::AdapterInfo> for AdapterSummary {
    fn from(info: &wgpu::AdapterInfo) -> Self {
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        AdapterSummary {
            name: info.name.clone(),
            backend: info.backend,
            device_type: info.device_type,
            driver,
            limits: None,
        }
    }
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{:?}, {:?}",
            self.name, self.backend, self.device_type
        )?;
        if !self.driver.is_empty() {
            write!(f, ", {}", self.driver)?;
        }
        write!(f, "]")
    }
}

/// Gives the process a private runtime directory when none is set, before the first instance.
///
/// wgpu enables the Wayland surface extension wherever the Vulkan loader offers it; Mesa's
/// device-select layer (up to Mesa 24) then connects to Wayland, and libwayland prints
/// "error: XDG_RUNTIME_DIR is invalid or not set in the environment." on every headless
/// machine, twice. gpumlp never draws to a window: with a runtime directory the connection
/// simply finds no compositor, and nothing is printed. Set once, before any instance exists,
/// so no driver thread reads the environment meanwhile.
fn quiet_headless_wayland() {
    #[cfg(all(
        unix,
        not(target_os = "macos"),
        not(target_os = "ios"),
        not(target_os = "android")
    ))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            use std::os::unix::fs::DirBuilderExt;
            let set = std::env::var_os("XDG_RUNTIME_DIR")
                .is_some_and(|d| std::path::Path::new(&d).is_absolute());
            if set {
                return;
            }
            let dir = match super::tuning::cache_dir() {
                Some(cache) => cache.join("runtime"),
                None => std::env::temp_dir().join("gpumlp-runtime"),
            };
            let made = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir);
            if made.is_ok() && dir.is_absolute() {
                std::env::set_var("XDG_RUNTIME_DIR", &dir);
            }
        });
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    quiet_headless_wayland();
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    desc.flags = wgpu::InstanceFlags::from_build_config().with_env();
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu finds on the backends `options` allows, in gpumlp's order of preference.
pub fn list_adapters(options: &GpuOptions) -> Vec<AdapterSummary> {
    let instance = instance(options.backends());
    let mut adapters = pollster::block_on(instance.enumerate_adapters(options.backends()));
    adapters.sort_by_key(|a| rank(&a.get_info()));
    adapters
        .iter()
        .map(|a| AdapterSummary {
            limits: Some(a.limits()),
            ..(&a.get_info()).into()
        })
        .collect()
}

/// Lower is better: a real GPU before a software one, then Vulkan, Metal, DX12, GL.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let api = match info.backend {
        wgpu::Backend::Vulkan => 0,
        wgpu::Backend::Metal => 1,
        wgpu::Backend::Dx12 => 2,
        wgpu::Backend::Gl => 3,
        _ => 4,
    };
    (kind, api)
}

pub(super) fn choose(options: &GpuOptions) -> Result<(wgpu::Adapter, wgpu::AdapterInfo)> {
    let backends = options.backends();
    let instance = instance(backends);
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    let wanted = options.adapter.as_deref().map(str::to_lowercase);
    let found: Vec<String> = adapters
        .iter()
        .map(|a| AdapterSummary::from(&a.get_info()).to_string())
        .collect();
    adapters
        .into_iter()
        .map(|a| {
            let info = a.get_info();
            (a, info)
        })
        .filter(|(_, info)| match &wanted {
            Some(w) => info.name.to_lowercase().contains(w),
            None => true,
        })
        .min_by_key(|(_, info)| rank(info))
        .ok_or_else(|| Error::NoAdapter {
            tried: backend_names(backends),
            filter: options
                .adapter
                .as_ref()
                .map(|w| format!(", adapter name containing {w:?}"))
                .unwrap_or_default(),
            found: if found.is_empty() {
                "none".to_string()
            } else {
                found.join("; ")
            },
        })
}

fn backend_names(backends: wgpu::Backends) -> String {
    [
        (wgpu::Backends::VULKAN, "vulkan"),
        (wgpu::Backends::METAL, "metal"),
        (wgpu::Backends::DX12, "dx12"),
        (wgpu::Backends::GL, "gl"),
    ]
    .iter()
    .filter(|(b, _)| backends.contains(*b))
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join(", ")
}
