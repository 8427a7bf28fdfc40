//! The files a command reads and writes, checked before any work: no output may be one of
//! the inputs (by path, or as the same file through a link) or another output, and every
//! output must be writable where it was named, so a run never ends by destroying its data or
//! by failing to save what it trained.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One file of a command, named by the flag or argument that gave it (`DATA`, `--out`).
#[derive(Clone, Debug)]
struct Named {
    flag: String,
    path: PathBuf,
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.flag, self.path.display())
    }
}

/// The inputs and outputs of one command.
#[derive(Clone, Debug, Default)]
pub struct FilePlan {
    inputs: Vec<Named>,
    outputs: Vec<Named>,
    /// (output flag, input flag) pairs that may name the same file: a resumed run keeps
    /// writing the checkpoint it continues.
    allowed: Vec<(String, String)>,
}

impl FilePlan {
    /// An empty plan.
    pub fn new() -> FilePlan {
        FilePlan::default()
    }

    /// A file the command reads, named by `flag`.
    pub fn input(mut self, flag: impl Into<String>, path: &Path) -> FilePlan {
        self.inputs.push(Named {
            flag: flag.into(),
            path: path.to_path_buf(),
        });
        self
    }

    /// A file the command writes (replacing it if it exists), named by `flag`.
    pub fn output(mut self, flag: impl Into<String>, path: &Path) -> FilePlan {
        self.outputs.push(Named {
            flag: flag.into(),
            path: path.to_path_buf(),
        });
        self
    }

    /// Lets the output `output` be the input `input` (both by flag).
    pub fn allow_same(mut self, output: &str, input: &str) -> FilePlan {
        self.allowed.push((output.into(), input.into()));
        self
    }

    /// Checks the plan: each output against every input and every other output, then that
    /// each output can be written where it is named.
    pub fn check(&self) -> Result<()> {
        for (i, out) in self.outputs.iter().enumerate() {
            for input in &self.inputs {
                let allowed = self
                    .allowed
                    .iter()
                    .any(|(o, i)| *o == out.flag && *i == input.flag);
                if !allowed && same_file(&out.path, &input.path) {
                    return Err(Error::SameFile {
                        output: out.to_string(),
                        other: input.to_string(),
                        other_is: "reads",
                    });
                }
            }
            for other in &self.outputs[..i] {
                if same_file(&out.path, &other.path) {
                    return Err(Error::SameFile {
                        output: out.to_string(),
                        other: other.to_string(),
                        other_is: "writes",
                    });
                }
            }
            writable(out)?;
        }
        Ok(())
    }
}

/// Whether two paths name one file: the same path once made absolute and cleaned, the same
/// folder and name once the folder's links are resolved, or (both existing) the same device
/// and inode, so a hard or symbolic link to a file counts as the file.
fn same_file(a: &Path, b: &Path) -> bool {
    let clean = |p: &Path| std::path::absolute(p).map(|p| p.components().collect::<PathBuf>());
    if let (Ok(x), Ok(y)) = (clean(a), clean(b)) {
        if x == y {
            return true;
        }
    }
    let resolved = |p: &Path| -> Option<PathBuf> {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(dir.canonicalize().ok()?.join(p.file_name()?))
    };
    if let (Some(x), Some(y)) = (resolved(a), resolved(b)) {
        if x == y {
            return true;
        }
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => same_inode(&x, &y),
        _ => false,
    }
}

#[cfg(unix)]
fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// Whether `out` can be written atomically: its folder exists and takes a new file, and
/// what it names, if anything, is a regular file (a rename would replace a device node or a
/// link's own entry, never write through them).
fn writable(out: &Named) -> Result<()> {
    let refuse = |message: String| Error::Output {
        flag: out.flag.clone(),
        path: out.path.display().to_string(),
        message,
    };
    if let Ok(meta) = std::fs::symlink_metadata(&out.path) {
        if !meta.is_file() {
            return Err(refuse(
                "exists and is not a regular file (a folder, link, device or pipe); name a \
                 file to write"
                    .into(),
            ));
        }
    }
    let dir = match out.path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(refuse(format!("{} is not a folder", dir.display()))),
        Err(_) => {
            return Err(refuse(format!(
                "the folder {} does not exist",
                dir.display()
            )))
        }
    }
    // The one sure test of write access: make (and drop) a file where the output will go.
    tempfile::Builder::new()
        .prefix(".gpumlp-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            refuse(format!(
                "cannot create a file in {} ({})",
                dir.display(),
                std::io::Error::from(e.kind())
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_may_not_be_an_input_by_path_or_by_link() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d.csv");
        std::fs::write(&data, "a\n1\n").unwrap();
        let plan = |out: &Path| FilePlan::new().input("DATA", &data).output("--out", out);
        let e = plan(&data).check().unwrap_err().to_string();
        assert!(e.contains("--out") && e.contains("DATA"), "{e}");
        // The same file by another spelling of its path.
        let spelled = dir.path().join(".").join("d.csv");
        assert!(plan(&spelled).check().is_err());
        #[cfg(unix)]
        {
            let hard = dir.path().join("hard.csv");
            std::fs::hard_link(&data, &hard).unwrap();
            assert!(plan(&hard).check().is_err(), "a hard link is the file");
            let sub = dir.path().join("sub");
            std::os::unix::fs::symlink(dir.path(), &sub).unwrap();
            assert!(plan(&sub.join("d.csv")).check().is_err(), "a linked folder");
        }
        assert!(plan(&dir.path().join("m.safetensors")).check().is_ok());
    }

    #[test]
    fn two_outputs_may_not_share_a_file_unless_allowed_for_an_input() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("run.ckpt");
        let e = FilePlan::new()
            .output("--out", &c)
            .output("--checkpoint", &c)
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("--out") && e.contains("--checkpoint"), "{e}");
        std::fs::write(&c, "x").unwrap();
        let resumed = FilePlan::new()
            .input("--resume", &c)
            .output("--checkpoint", &c);
        assert!(resumed.clone().check().is_err());
        assert!(resumed
            .allow_same("--checkpoint", "--resume")
            .check()
            .is_ok());
    }

    #[test]
    fn a_missing_folder_or_a_device_is_refused_before_any_work() {
        let e = FilePlan::new()
            .output("--out", Path::new("/no/such/dir/m.safetensors"))
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/no/such/dir/m.safetensors") && e.contains("does not exist"),
            "{e}"
        );
        assert!(!e.contains(".tmp"), "{e}");
        #[cfg(unix)]
        {
            let e = FilePlan::new()
                .output("--out", Path::new("/dev/null"))
                .check()
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
    }
}
