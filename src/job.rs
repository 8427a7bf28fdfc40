//! A `train` run as a checkpoint remembers it: the data (and its fingerprint), every setting,
//! and the files the run writes; and the rules for continuing one from a checkpoint that may
//! come from anyone: nothing it claims is sized or written before it is checked.

use crate::error::{Error, Location, Result};
use crate::train::checkpoint;
use crate::train::fit::Checkpoint;
use crate::workflow::TrainOptions;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Written into every checkpoint a `train` run saves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The CSV file trained on.
    pub data: PathBuf,
    /// Its size and FNV-1a checksum: a resumed run refuses a file that changed.
    pub data_bytes: u64,
    /// The checksum, as 16 hex digits.
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
    /// Whether the user named the checkpoint file.
    pub checkpoint_named: bool,
    /// Epochs between checkpoints (`None`: only on Ctrl-C).
    pub checkpoint_every: Option<usize>,
    /// The adapter (or "cpu") that trained it: another one continues the run, but not to
    /// bit-identical weights.
    #[serde(default)]
    pub adapter: String,
    /// A random name for the run, written into its model and plot files too, so that a
    /// resumed run knows which existing files are its own.
    #[serde(default)]
    pub run_id: String,
}

/// What a command line that resumes a checkpoint says besides the checkpoint.
#[derive(Clone, Debug, Default)]
pub struct ResumeArgs {
    /// The data file and settings, when the original command was repeated with the resume
    /// added: they must agree with the checkpoint's.
    pub data: Option<PathBuf>,
    /// The settings the command line gives (with its defaults for those it does not).
    pub options: Option<TrainOptions>,
    /// The settings the command line gives explicitly (by `TrainOptions::first_difference`'s
    /// names): only these are compared with the checkpoint's.
    pub given: Vec<&'static str>,
    /// Where to write the model instead of the recorded place.
    pub out: Option<PathBuf>,
    /// Where to draw the curves instead of the recorded place.
    pub plot: Option<PathBuf>,
    /// Where to keep checkpoints instead of the resumed file, and how often.
    pub checkpoint: Option<(PathBuf, usize)>,
}

/// A fresh name for a run: 64 random bits, as hex.
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// The size and FNV-1a checksum (16 hex digits) of a data file, read in 64 KiB pieces.
/// `expect` is the size a checkpoint claims: it is compared first, before any byte is read,
/// so a checkpoint cannot make us read a device or a file of another size.
pub fn fingerprint(path: &Path, expect: Option<u64>) -> Result<(u64, String)> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(Error::Input {
            at: Location::file(path.display().to_string()),
            message: "not a regular file".into(),
        });
    }
    if let Some(bytes) = expect.filter(|&b| b != meta.len()) {
        return Err(changed(path, bytes, meta.len()));
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut hash = checkpoint::Fnv::new();
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, format!("{:016x}", hash.finish())))
}

fn changed(path: &Path, recorded: u64, now: u64) -> Error {
    Error::Input {
        at: Location::file(path.display().to_string()),
        message: format!(
            "changed since the checkpoint was written ({recorded} bytes then, {now} now); a \
             resumed run needs the same data"
        ),
    }
}

impl Job {
    /// The job with every path made absolute, as it is saved: a resume may run from another
    /// folder.
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

    /// Reads the job out of a checkpoint's metadata and checks its settings.
    pub fn from_json(path: &Path, value: serde_json::Value) -> Result<Job> {
        let name = path.display().to_string();
        let job: Job = serde_json::from_value(value).map_err(|e| Error::CheckpointFile {
            path: name.clone(),
            message: format!("not written by `gpumlp train` ({e})"),
        })?;
        let field = |field: &str, message: String| Error::FileField {
            path: name.clone(),
            kind: "checkpoint",
            field: field.to_string(),
            message,
        };
        job.options
            .validate()
            .map_err(|e| field("job.options", e.to_string()))?;
        if job.checkpoint_every == Some(0) {
            return Err(field("job.checkpoint_every", "0 epochs".into()));
        }
        if job.data_checksum.len() != 16
            || !job.data_checksum.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(field(
                "job.data_checksum",
                format!("{:?} is not 16 hex digits", job.data_checksum),
            ));
        }
        Ok(job)
    }

    /// Checks that the data file is the one the checkpoint was trained on: its size first,
    /// then its checksum, read in pieces.
    pub fn check_data(&self) -> Result<()> {
        let (bytes, checksum) = fingerprint(&self.data, Some(self.data_bytes))?;
        if checksum != self.data_checksum {
            return Err(Error::Input {
                at: Location::file(self.data.display().to_string()),
                message: format!(
                    "changed since the checkpoint was written ({bytes} bytes then and now, but \
                     checksum {} then and {checksum} now); a resumed run needs the same data",
                    self.data_checksum
                ),
            });
        }
        Ok(())
    }

    /// Continues the run saved in `checkpoint_path`, with what the command line adds.
    ///
    /// A checkpoint never chooses where gpumlp writes on its own: the checkpoints go back into
    /// the file resumed (or where `args` says), and the model and the plot go where `args`
    /// says, or to the paths the run recorded only when those are the run's own: beside the
    /// checkpoint and not there yet, or files that carry the run's name. Anything else is
    /// refused with the argument that names it. Settings repeated on the command line must
    /// agree with the checkpoint's.
    pub fn resume(checkpoint_path: &Path, args: &ResumeArgs) -> Result<(Job, Checkpoint)> {
        let (checkpoint, value) = Checkpoint::load(checkpoint_path)?;
        let mut job = Job::from_json(checkpoint_path, value)?;
        let name = checkpoint_path.display().to_string();
        if let Some(options) = &args.options {
            // Only the settings the command line gives count, not its defaults.
            let difference = options
                .differences(&job.options)
                .into_iter()
                .find(|(field, _, _)| args.given.contains(field));
            if let Some((field, given, recorded)) = difference {
                return Err(Error::ResumeMismatch {
                    path: name,
                    argument: field,
                    given,
                    recorded,
                });
            }
        }
        if let Some(data) = &args.data {
            let (given, recorded) = (std::path::absolute(data).ok(), Some(job.data.clone()));
            if given != recorded {
                return Err(Error::ResumeMismatch {
                    path: name,
                    argument: "data",
                    given: data.display().to_string(),
                    recorded: job.data.display().to_string(),
                });
            }
        }
        let folder = std::path::absolute(checkpoint_path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let own = |recorded: &Path, carries_id: &dyn Fn(&Path) -> bool| -> bool {
            let beside = folder.as_deref() == recorded.parent();
            match recorded.symlink_metadata() {
                Err(_) => beside,
                Ok(meta) => meta.is_file() && !job.run_id.is_empty() && carries_id(recorded),
            }
        };
        job.out = match &args.out {
            Some(out) => out.clone(),
            None if own(&job.out, &|p| model_carries(p, &job.run_id)) => job.out.clone(),
            None => {
                return Err(Error::ResumeOutput {
                    path: name,
                    what: "model",
                    recorded: job.out.display().to_string(),
                    argument: "out",
                })
            }
        };
        job.plot = match (&args.plot, &job.plot) {
            (Some(plot), _) => Some(plot.clone()),
            (None, None) => None,
            (None, Some(plot)) if own(plot, &|p| plot_carries(p, &job.run_id)) => {
                Some(plot.clone())
            }
            (None, Some(plot)) => {
                return Err(Error::ResumeOutput {
                    path: name,
                    what: "plot",
                    recorded: plot.display().to_string(),
                    argument: "plot",
                })
            }
        };
        let resumed_is_recorded =
            std::path::absolute(checkpoint_path).ok().as_ref() == Some(&job.checkpoint);
        match &args.checkpoint {
            Some((path, every)) => {
                job.checkpoint = path.clone();
                job.checkpoint_named = true;
                job.checkpoint_every = Some(*every);
            }
            None => {
                // An unnamed checkpoint is removed when the run finishes: only the file the
                // run itself wrote there.
                job.checkpoint_named = job.checkpoint_named || !resumed_is_recorded;
                job.checkpoint = checkpoint_path.to_path_buf();
            }
        }
        if job.checkpoint == job.out || Some(&job.checkpoint) == job.plot.as_ref() {
            return Err(Error::InvalidConfig(format!(
                "{}: the model, the plot and the checkpoint need a file each",
                job.checkpoint.display()
            )));
        }
        job.check_data()?;
        Ok((job, checkpoint))
    }
}

/// Whether the model file at `path` was written by run `run_id`.
fn model_carries(path: &Path, run_id: &str) -> bool {
    crate::model_file::SavedModel::load(path)
        .is_ok_and(|m| m.meta.training.run_id.as_deref() == Some(run_id))
}

/// Whether the plot at `path` was drawn by run `run_id` (read no further than its start).
fn plot_carries(path: &Path, run_id: &str) -> bool {
    let mut head = vec![0u8; 4096];
    let read = std::fs::File::open(path).and_then(|mut f| f.read(&mut head));
    read.is_ok_and(|n| {
        String::from_utf8_lossy(&head[..n]).contains(&crate::plot::run_marker(run_id))
    })
}
