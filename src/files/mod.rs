//! What gpumlp's files share: writing one so that a crash never leaves half of it (a
//! temporary file beside it, flushed, renamed over the target), the checksum both formats
//! carry, and the safetensors opener both loaders start with.

mod plan;
mod read;

pub use plan::FilePlan;
pub use read::{
    max_csv_bytes, memory_available, memory_total, open_bounded, read_bounded, size_words, Kind,
    CSV_CELL_OVERHEAD, MAX_CHECKPOINT_BYTES, MAX_CONFIG_BYTES, MAX_CSV_LINE, MAX_MODEL_BYTES,
};

use crate::error::{Error, Result};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// FNV-1a, 64 bits: a cheap checksum that any single flipped byte changes. It shows a file
/// was not damaged by accident; it says nothing about whether its contents can be trusted,
/// which is why every loaded file is validated field by field as well.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// [`Fnv`] over `parts` in order.
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h = Fnv::new();
    for part in parts {
        h.update(part);
    }
    h.finish()
}

/// A safetensors file's tensors and its string metadata, as the safetensors crate parses them
/// (it checks that every tensor's bytes lie inside the file); `bad` words the error.
pub(crate) fn open_safetensors<'b>(
    bytes: &'b [u8],
    bad: &dyn Fn(String) -> Error,
) -> Result<(SafeTensors<'b>, HashMap<String, String>)> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    Ok((file, header.metadata().clone().unwrap_or_default()))
}

/// Writes `bytes` to `path` atomically. The file gets the mode any new file gets (0666 less
/// the umask), not the temporary file's private 0600, so that a service account can read a
/// deployed model.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    // The temporary file's name means nothing to the user: errors name `path` and keep only
    // the system's reason.
    let io = |source: std::io::Error| Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(source.kind(), strip_tmp(&source)),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".gpumlp-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    // The rename itself reaches the disk with the directory (best effort: not every
    // filesystem lets a directory be synced).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// An I/O error's message without the path tempfile appends (`… at path "/x/.gpumlp-1.tmp"`).
fn strip_tmp(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" at path ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn a_written_file_has_the_umask_mode_and_no_temporary_is_left() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        super::write_atomically(&path, b"abc").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        // What a plain new file gets here, under the same umask.
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&plain), "the umask's mode, not 0600");
        assert_ne!(mode(&path), 0o600, "(the test machine's umask is not 0177)");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file left");
    }

    #[test]
    fn a_failed_write_names_the_file_asked_for_not_the_temporary() {
        let path = std::path::Path::new("/no/such/dir/m.safetensors");
        let e = super::write_atomically(path, b"abc")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/no/such/dir/m.safetensors: "), "{e}");
        assert!(!e.contains(".tmp"), "{e}");
    }
}
