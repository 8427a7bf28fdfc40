//! What a checkpoint must remember to continue a `train` run from the command line, and the
//! Ctrl-C handling that stops a run at the next step.

use gpumlp::checkpoint;
use gpumlp::error::{Error, Result};
use gpumlp::pipeline::TrainOptions;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Written into every checkpoint the CLI saves.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    /// The CSV file trained on.
    pub data: PathBuf,
    /// Its size and FNV-1a checksum: a resumed run refuses a file that changed.
    pub data_bytes: u64,
    pub data_checksum: String,
    /// Every training setting.
    pub options: TrainOptions,
    /// Where the model goes.
    pub out: PathBuf,
    /// Where the loss curves go, if anywhere.
    pub plot: Option<PathBuf>,
    /// Where checkpoints go, and whether the user named the file (an unnamed one, written by
    /// Ctrl-C, is removed once the run it saved has finished).
    pub checkpoint: PathBuf,
    pub checkpoint_named: bool,
    /// Epochs between checkpoints (`None`: only on Ctrl-C).
    pub checkpoint_every: Option<usize>,
    /// The adapter (or "cpu") that trained it: another one continues the run, but not to
    /// bit-identical weights.
    #[serde(default)]
    pub adapter: String,
}

/// The bytes of a data file with their checksum, read once.
pub struct DataFile {
    pub bytes: Vec<u8>,
    pub checksum: String,
}

impl DataFile {
    pub fn read(path: &Path) -> Result<DataFile> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let checksum = format!("{:016x}", checkpoint::checksum_of(&bytes));
        Ok(DataFile { bytes, checksum })
    }
}

impl Job {
    /// The job with every path made absolute, as it is saved: `--resume` may run from
    /// another folder.
    pub fn absolute(&self) -> Result<Job> {
        let abs = |p: &Path| {
            std::path::absolute(p).map_err(|source| Error::Io {
                path: p.display().to_string(),
                source,
            })
        };
        Ok(Job {
            data: abs(&self.data)?,
            out: abs(&self.out)?,
            plot: self.plot.as_deref().map(abs).transpose()?,
            checkpoint: abs(&self.checkpoint)?,
            ..self.clone()
        })
    }

    /// Reads the job out of a checkpoint's metadata.
    pub fn from_json(path: &Path, value: serde_json::Value) -> Result<Job> {
        serde_json::from_value(value).map_err(|e| Error::CheckpointFile {
            path: path.display().to_string(),
            message: format!("not written by `gpumlp train` ({e})"),
        })
    }

    /// Checks that the data file is the one the checkpoint was trained on.
    pub fn check_data(&self, data: &DataFile) -> Result<()> {
        if data.bytes.len() as u64 != self.data_bytes || data.checksum != self.data_checksum {
            return Err(Error::Input {
                at: gpumlp::Location::file(self.data.display().to_string()),
                message: format!(
                    "changed since the checkpoint was written ({} bytes, checksum {}; now {} \
                     bytes, checksum {}); a resumed run needs the same data",
                    self.data_bytes,
                    self.data_checksum,
                    data.bytes.len(),
                    data.checksum
                ),
            });
        }
        Ok(())
    }
}

/// Set by Ctrl-C: the trainer finishes the steps under way and the run is saved.
static STOP: AtomicBool = AtomicBool::new(false);

/// Makes the first Ctrl-C ask the run to stop; a second one exits at once (the last
/// checkpoint on disk stays whole: every write is atomic).
pub fn install_ctrl_c() {
    let installed = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopping at once; the last checkpoint written is intact");
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping after the steps under way; saving a checkpoint (Ctrl-C again to quit now)"
        );
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will not save a checkpoint: {e}");
    }
}

/// Whether Ctrl-C was pressed.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
