//! Choices measured once per adapter (which kernel variant is fastest for a shape), kept in
//! memory and in a JSON file so later runs skip the measuring. The file is keyed by adapter,
//! backend and driver; one that cannot be read is ignored with a warning and rewritten.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// The file's layout version.
const VERSION: u64 = 1;

/// Where the tuning file lives: `$GPUMLP_CACHE_DIR`, else `$XDG_CACHE_HOME/gpumlp`, else
/// `$HOME/.cache/gpumlp`; `None` when none of them is set.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("GPUMLP_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("gpumlp")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("gpumlp")))
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

    /// The whole file, or an empty document when it is absent or unreadable (with a warning).
    fn read_file(&self) -> serde_json::Map<String, serde_json::Value> {
        let Some(path) = &self.path else {
            return serde_json::Map::new();
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return serde_json::Map::new(),
            Err(e) => {
                eprintln!("warning: ignoring the tuning cache {}: {e}", path.display());
                return serde_json::Map::new();
            }
        };
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(doc))
                if doc.get("version").and_then(|v| v.as_u64()) == Some(VERSION) =>
            {
                doc
            }
            _ => {
                eprintln!(
                    "warning: ignoring the tuning cache {}: not a gpumlp tuning file of version \
                     {VERSION}; it will be measured again and rewritten",
                    path.display()
                );
                serde_json::Map::new()
            }
        }
    }

    /// This adapter's choices from the file.
    fn load(&self) -> HashMap<String, String> {
        let doc = self.read_file();
        doc.get("adapters")
            .and_then(|a| a.get(&self.adapter))
            .and_then(|c| c.as_object())
            .map(|c| {
                c.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
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
        let mut doc = self.read_file();
        doc.insert("version".into(), VERSION.into());
        let adapters = doc
            .entry("adapters")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if !adapters.is_object() {
            *adapters = serde_json::Value::Object(Default::default());
        }
        let mine: serde_json::Map<String, serde_json::Value> = choices
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        adapters[&self.adapter] = serde_json::Value::Object(mine);
        let text = serde_json::Value::Object(doc).to_string();
        let written = std::fs::create_dir_all(path.parent().unwrap_or(path))
            .map_err(|e| e.to_string())
            .and_then(|_| {
                crate::files::write_atomically(path, text.as_bytes()).map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            eprintln!("warning: could not write the tuning cache: {e}");
        }
    }
}
