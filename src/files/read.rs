//! The one way gpumlp opens a file it reads: only a regular file, and only after its size
//! was checked against a cap for its kind, so a device (`/dev/zero`), a pipe or a huge sparse
//! file ends in one error line instead of filling memory.

use crate::error::{Error, Location, Result};
use std::io::Read;
use std::path::Path;

/// Longest physical line a CSV file may have.
pub const MAX_CSV_LINE: usize = 64 << 20;

/// What one parsed CSV cell costs in memory besides its text: the `Option<Cell>` itself and
/// the allocator's bookkeeping of its text.
pub const CSV_CELL_OVERHEAD: u64 = 48;

/// The largest config file.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Room for a model's or checkpoint's header (metadata JSON: preprocessing, labels,
/// history) besides its tensors.
const MAX_HEADER_BYTES: u64 = 64 << 20;

/// The largest model file: the largest network's weights and biases, and a header.
pub const MAX_MODEL_BYTES: u64 = (crate::model::MAX_PARAMS as u64) * 4 + MAX_HEADER_BYTES;

/// The largest checkpoint: four f32 tensors the size of the largest network (weights, two
/// optimiser moments, best weights) and 1 GiB for the history, the unfinished epoch's step
/// losses and the header.
pub const MAX_CHECKPOINT_BYTES: u64 = 4 * (crate::model::MAX_PARAMS as u64) * 4 + (1 << 30);

/// The host's memory as sysinfo reads it (Linux's `MemTotal` and `MemAvailable`), each no
/// more than the container's cgroup allows; `None` where the system does not say.
fn host_memory() -> Option<(u64, u64)> {
    let mut system = sysinfo::System::new();
    system.refresh_memory();
    let (total, available) = (system.total_memory(), system.available_memory());
    if total == 0 {
        return None;
    }
    Some(match system.cgroup_limits() {
        Some(cgroup) => (
            total.min(cgroup.total_memory),
            available.min(cgroup.free_memory),
        ),
        None => (total, available),
    })
}

/// The memory left for reading a CSV file: what the system says is available, or 4 GiB
/// where it does not say.
pub fn memory_available() -> u64 {
    host_memory().map_or(4 << 30, |(_, available)| available)
}

/// The machine's memory (or its container's share), or 8 GiB where the system does not
/// say: what `--max-memory auto` is half of.
pub fn memory_total() -> u64 {
    host_memory().map_or(8 << 30, |(total, _)| total)
}

/// The largest CSV file read whole: half the memory available, so the bytes and the table
/// parsed from them both fit ([`CSV_CELL_OVERHEAD`] bounds the table as it is parsed).
pub fn max_csv_bytes() -> u64 {
    memory_available() / 2
}

/// A kind of input file and its cap, for [`read_bounded`]'s messages.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    /// "CSV", "model", "checkpoint", "config".
    pub name: &'static str,
    /// The largest size read.
    pub max_bytes: u64,
}

/// Opens `path` for reading if it is a regular file of at most `kind.max_bytes`; returns the
/// file and its size. The checks use the opened file's own metadata, so the file checked is
/// the file read.
pub fn open_bounded(path: &Path, kind: Kind) -> Result<(std::fs::File, u64)> {
    let name = path.display().to_string();
    let io = |source| Error::Io {
        path: name.clone(),
        source,
    };
    let refuse = |message: String| Error::Input {
        at: Location::file(name.clone()),
        message,
    };
    let not_regular = || {
        refuse(format!(
            "not a regular file (a directory, device or pipe); a {} file must be a regular file",
            kind.name
        ))
    };
    // Looked at before it is opened: opening a named pipe waits for a writer.
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > kind.max_bytes {
        return Err(refuse(format!(
            "{} bytes; a {} file may hold at most {} bytes ({})",
            meta.len(),
            kind.name,
            kind.max_bytes,
            size_words(kind.max_bytes)
        )));
    }
    Ok((file, meta.len()))
}

/// The whole of `path`, read through [`open_bounded`]; a file that grows past the cap while it
/// is read is refused too.
pub fn read_bounded(path: &Path, kind: Kind) -> Result<Vec<u8>> {
    let (file, len) = open_bounded(path, kind)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(kind.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
    if bytes.len() as u64 > kind.max_bytes {
        return Err(Error::Input {
            at: Location::file(path.display().to_string()),
            message: format!(
                "grew past {} bytes while it was read; a {} file may hold at most that",
                kind.max_bytes, kind.name
            ),
        });
    }
    Ok(bytes)
}

/// `1.5 GiB`, for messages.
pub fn size_words(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..=1023 => format!("{bytes} B"),
        1024..=1_048_575 => format!("{:.1} KiB", b / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1} MiB", b / 1_048_576.0),
        _ => format!("{:.1} GiB", b / 1_073_741_824.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Kind = Kind {
        name: "test",
        max_bytes: 10,
    };

    #[test]
    fn a_file_over_its_cap_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, [0u8; 11]).unwrap();
        let e = read_bounded(&path, SMALL).unwrap_err().to_string();
        assert!(e.contains("11 bytes") && e.contains("at most 10"), "{e}");
        std::fs::write(&path, [0u8; 10]).unwrap();
        assert_eq!(read_bounded(&path, SMALL).unwrap().len(), 10);
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_directories_are_refused() {
        for path in ["/dev/zero", "/dev/null", "/tmp"] {
            let e = read_bounded(Path::new(path), SMALL)
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a regular file"), "{path}: {e}");
        }
    }

    #[test]
    fn sizes_read_as_words() {
        assert_eq!(size_words(512), "512 B");
        assert_eq!(size_words(64 << 20), "64.0 MiB");
        assert_eq!(size_words(3 << 30), "3.0 GiB");
    }
}
