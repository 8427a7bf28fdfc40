//! Choices measured once per adapter (which kernel variant is fastest for a shape, whether a
//! kernel passed its check on this driver, the driver's loop budget), kept in memory and in a
//! JSON file so later runs skip the measuring. The file is keyed by adapter, backend and
//! driver; one that cannot be read is ignored with a warning and rewritten.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

/// The file's layout version.
const VERSION: u64 = 1;
/// The largest tuning cache read (one is a few KiB).
const MAX_BYTES: u64 = 16 << 20;

/// The tuning file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TuningFile {
    version: u64,
    /// Per adapter ("name | backend | driver"), its choices by key.
    #[serde(default)]
    adapters: BTreeMap<String, BTreeMap<String, String>>,
}

/// Where gpumlp keeps what it measured: `$GPUMLP_CACHE_DIR`, else the user's cache folder
/// (`~/.cache/gpumlp` on Linux, `~/Library/Caches/gpumlp` on macOS, `%LOCALAPPDATA%\gpumlp`
/// on Windows); `None` when there is none.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("GPUMLP_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("gpumlp")))
}

/// One adapter's measured choices, by key (e.g. "matmul Nn 1024x256x64" → "packed").
pub(crate) struct Tuning {
    adapter: String,
    path: Option<PathBuf>,
    choices: Mutex<Option<HashMap<String, String>>>,
}

impl Tuning {
    /// The choices of the adapter `info` names, kept in `dir` (else [`cache_dir`]).
    pub(crate) fn new(info: &wgpu::AdapterInfo, dir: Option<PathBuf>) -> Tuning {
        Tuning {
            adapter: format!(
                "{} | {:?} | {} {}",
                info.name, info.backend, info.driver, info.driver_info
            ),
            path: dir.or_else(cache_dir).map(|d| d.join("tuning.json")),
            choices: Mutex::new(None),
        }
    }

    /// The whole file, or an empty one when it is absent or unreadable (with a warning).
    fn read_file(&self) -> TuningFile {
        let empty = TuningFile {
            version: VERSION,
            ..TuningFile::default()
        };
        let Some(path) = &self.path else {
            return empty;
        };
        let kind = crate::files::Kind {
            name: "tuning cache",
            max_bytes: MAX_BYTES,
        };
        let text = match crate::files::read_bounded(path, kind) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(crate::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return empty
            }
            Err(e) => {
                log::warn!("ignoring the tuning cache {}: {e}", path.display());
                return empty;
            }
        };
        match serde_json::from_str::<TuningFile>(&text) {
            Ok(file) if file.version == VERSION => file,
            _ => {
                log::warn!(
                    "ignoring the tuning cache {}: not a gpumlp tuning file of version \
                     {VERSION}; it will be measured again and rewritten",
                    path.display()
                );
                empty
            }
        }
    }

    /// This adapter's choices from the file.
    fn load(&self) -> HashMap<String, String> {
        let mut file = self.read_file();
        file.adapters
            .remove(&self.adapter)
            .map(|c| c.into_iter().collect())
            .unwrap_or_default()
    }

    /// The stored choice for `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        let mut guard = self.choices.lock().unwrap_or_else(|p| p.into_inner());
        guard.get_or_insert_with(|| self.load()).get(key).cloned()
    }

    /// Records a choice in memory and in the file (best effort: a cache that cannot be
    /// written only costs a measurement next time).
    pub(crate) fn set(&self, key: &str, value: &str) {
        let mut guard = self.choices.lock().unwrap_or_else(|p| p.into_inner());
        let choices = guard.get_or_insert_with(|| self.load());
        choices.insert(key.to_string(), value.to_string());
        let Some(path) = &self.path else { return };
        let mut file = self.read_file();
        file.adapters.insert(
            self.adapter.clone(),
            choices
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let written = serde_json::to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                std::fs::create_dir_all(path.parent().unwrap_or(path))
                    .map_err(|e| e.to_string())?;
                crate::files::write_atomically(path, text.as_bytes()).map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            log::warn!("could not write the tuning cache: {e}");
        }
    }
}
