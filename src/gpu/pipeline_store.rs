//! Compiled pipelines kept across processes (`Features::PIPELINE_CACHE`, Vulkan): the
//! driver's pipeline cache, loaded from the cache folder when the device opens and written
//! back after a pipeline is built. NVIDIA's driver keeps its compiled pipelines there (the
//! main job: 1.16 s without the file, 0.645 s with it, its own disk cache off); lavapipe's
//! holds only a header, Mesa's disk cache keeping its compiled code instead.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::files::{read_bounded, write_atomically, Kind};

/// The largest pipeline cache file read.
const MAX_BYTES: u64 = 256 << 20;

/// A driver pipeline cache and the file it lives in.
pub(crate) struct PipelineStore {
    cache: wgpu::PipelineCache,
    path: PathBuf,
    /// The size last written, to write only what grew.
    saved: Mutex<usize>,
}

impl PipelineStore {
    /// The store of this adapter and driver in `dir`, when the device has the feature; a
    /// missing, damaged or outdated file starts an empty cache.
    pub(crate) fn open(
        device: &wgpu::Device,
        info: &wgpu::AdapterInfo,
        dir: Option<PathBuf>,
    ) -> Option<PipelineStore> {
        if !device.features().contains(wgpu::Features::PIPELINE_CACHE) {
            return None;
        }
        let key = wgpu::util::pipeline_cache_key(info)?;
        let driver = crate::files::fnv1a(&[info.driver.as_bytes(), info.driver_info.as_bytes()]);
        let path = dir?.join(format!("{key}_{driver:016x}.bin"));
        let kind = Kind {
            name: "pipeline cache",
            max_bytes: MAX_BYTES,
        };
        let data = read_bounded(&path, kind).ok();
        // SAFETY: the data is what `PipelineCache::get_data` wrote for this adapter's key;
        // wgpu and the driver check its header (adapter, driver version) and, with
        // `fallback`, start empty where it does not match.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                label: Some("gpumlp pipelines"),
                data: data.as_deref(),
                fallback: true,
            })
        };
        Some(PipelineStore {
            cache,
            path,
            saved: Mutex::new(data.map_or(0, |d| d.len())),
        })
    }

    /// The cache to build pipelines with.
    pub(crate) fn cache(&self) -> &wgpu::PipelineCache {
        &self.cache
    }

    /// Writes the cache back if it grew. A cache that cannot be written costs only the next
    /// run's compiling, so a failure is logged, not raised.
    pub(crate) fn save(&self) {
        let Some(data) = self.cache.get_data() else {
            return;
        };
        let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
        if data.len() == *saved {
            return;
        }
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match write_atomically(&self.path, &data) {
            Ok(()) => *saved = data.len(),
            Err(e) => log::debug!("pipeline cache not saved: {e}"),
        }
    }
}
