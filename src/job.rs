//! A training run from a CSV file to a saved model, as the command line and a checkpoint
//! describe it: the data (and its fingerprint), every setting, the files the run writes and
//! the policy for them; running it; and the rules for continuing one from a checkpoint that
//! may come from anyone: nothing it claims is sized or written before it is checked.
//!
//! ```
//! use gpumlp::job::{Job, Outputs, ResumeArgs};
//! use gpumlp::workflow::{Device, TrainOptions};
//!
//! # fn main() -> gpumlp::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let csv = dir.path().join("t.csv");
//! let text: String = (0..40).map(|i| format!("{},{}\n", i, i % 2)).collect();
//! std::fs::write(&csv, format!("a,y\n{text}")).unwrap();
//! let mut options = TrainOptions { target: "y".into(), hidden: vec![4], ..TrainOptions::default() };
//! options.config.epochs = 3;
//! let out = dir.path().join("m.safetensors");
//! let ckpt = dir.path().join("run.ckpt");
//! let outputs = Outputs {
//!     out: Some(out.clone()),
//!     checkpoint: Some((ckpt.clone(), 1)),
//!     ..Outputs::default()
//! };
//! let mut job = Job::new(&csv, options, outputs)?;
//! let finished = job.run(None, Device::Cpu, &mut |_, _| {}, &|| false).map_err(|s| s.error)?;
//! assert!(out.exists() && finished.report.epochs == 3);
//! // The checkpoint of the last epoch continues (here: there is nothing left to train).
//! let (mut again, checkpoint) = Job::resume(&ckpt, &ResumeArgs::default())?;
//! // `--max-memory auto` was this machine's figure when the run started, and stays so.
//! assert_eq!(again.options.max_memory, job.options.max_memory);
//! assert!(matches!(job.options.max_memory, gpumlp::options::MemoryLimit::Bytes(_)));
//! again.run(Some(checkpoint), Device::Cpu, &mut |_, _| {}, &|| false).map_err(|s| s.error)?;
//! # Ok(())
//! # }
//! ```

use crate::data::table::Table;
use crate::error::{Error, Location, Result};
use crate::files::FilePlan;
use crate::train::checkpoint;
use crate::train::fit::{Checkpoint, FitControl};
use crate::workflow::{self, DataShape, Device, OnEpoch, TrainOptions, TrainReport, Trained};
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
    /// Where the per-epoch CSV goes, if anywhere.
    #[serde(default)]
    pub metrics_csv: Option<PathBuf>,
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
    /// The checkpoint this run was resumed from, if it was (not saved).
    #[serde(skip)]
    pub resumed_from: Option<PathBuf>,
    /// How `gpumlp search` chose these settings, written into the model file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<crate::model_file::SearchRecord>,
}

/// A finished run: the model (saved), what training measured, and the report.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The model, its metrics and its history.
    pub trained: Trained,
    /// What `train --json` prints.
    pub report: TrainReport,
}

/// How a run ended early: the error, and the epochs of the last checkpoint written to the
/// job's checkpoint file (intact: every write is atomic), if one was.
#[derive(Debug)]
pub struct Stopped {
    /// Why it ended.
    pub error: Error,
    /// Epochs done in the last checkpoint at [`Job::checkpoint`].
    pub last_checkpoint: Option<usize>,
}

/// The files a new run writes besides its checkpoints' defaults.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// The model (default: the data file's name with `.safetensors`, in the current folder).
    pub out: Option<PathBuf>,
    /// The loss curves, `.svg` or `.png`.
    pub plot: Option<PathBuf>,
    /// One CSV row per epoch: losses, validation metrics, learning rate, seconds.
    pub metrics_csv: Option<PathBuf>,
    /// Checkpoints, and every how many epochs (default: on a stop only, as `MODEL.ckpt`).
    pub checkpoint: Option<(PathBuf, usize)>,
    /// The config file the settings came from, if any: read, so no output may replace it.
    pub config: Option<PathBuf>,
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
    /// Where to write the per-epoch CSV instead of the recorded place.
    pub metrics_csv: Option<PathBuf>,
    /// Where to keep checkpoints instead of the resumed file, and how often.
    pub checkpoint: Option<(PathBuf, usize)>,
    /// The config file the command line names, if any: no output may replace it.
    pub config: Option<PathBuf>,
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

/// The size and FNV-1a checksum (16 hex digits) of a data file, read in 64 KiB pieces (so a
/// file of any size, streamed or not, in constant memory; only a regular file is opened).
/// `expect` is the size a checkpoint claims: it is compared first, before any byte is read,
/// so a checkpoint cannot make us read a device or a file of another size.
pub fn fingerprint(path: &Path, expect: Option<u64>) -> Result<(u64, String)> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let kind = crate::files::Kind {
        name: "data",
        max_bytes: u64::MAX,
    };
    let (file, len) = crate::files::open_bounded(path, kind)?;
    if let Some(bytes) = expect.filter(|&b| b != len) {
        return Err(changed(path, bytes, len));
    }
    // No more than the size it had when opened, should it grow while being read.
    let mut file = file.take(len);
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
    /// A new run on the CSV file `data` with `options`, writing `outputs` (see [`Outputs`]
    /// for the defaults). The data file is fingerprinted now so a resume can tell whether it
    /// changed.
    pub fn new(data: &Path, mut options: TrainOptions, outputs: Outputs) -> Result<Job> {
        options.validate()?;
        // `auto` becomes this machine's figure now, so that a resumed run (on another
        // machine, say) streams or not, and shares its memory out, as this one did.
        options.max_memory = crate::options::MemoryLimit::Bytes(options.max_memory.bytes());
        let Outputs {
            out,
            plot,
            metrics_csv,
            checkpoint,
            config,
        } = outputs;
        if let Some(plot) = &plot {
            crate::plot::Format::of(plot)?;
        }
        if checkpoint.as_ref().is_some_and(|(_, every)| *every == 0) {
            return Err(Error::InvalidConfig(
                "checkpoints every 0 epochs: the period must be at least 1".into(),
            ));
        }
        let out_given = out.is_some();
        let out = out.unwrap_or_else(|| {
            let stem = data.file_stem().unwrap_or_default().to_string_lossy();
            PathBuf::from(format!("{stem}.safetensors"))
        });
        let (checkpoint_path, checkpoint_named) = match &checkpoint {
            Some((c, _)) => (c.clone(), true),
            None if out.extension().is_some_and(|e| e == "ckpt") => {
                (PathBuf::from(format!("{}.ckpt", out.display())), false)
            }
            None => (out.with_extension("ckpt"), false),
        };
        let plan = FilePlan::new().input("DATA", data);
        let plan = written(
            plan,
            config.as_deref(),
            (&out, out_given),
            plot.as_deref(),
            metrics_csv.as_deref(),
            (&checkpoint_path, checkpoint_named),
        );
        plan.check()?;
        // Its header (or Parquet footer) first: a file that is no table fails at once, not
        // after its checksum has read every byte of it.
        crate::data::chunks::Chunks::open(data, 1 << 20)?;
        let (data_bytes, data_checksum) = fingerprint(data, None)?;
        Ok(Job {
            data: data.to_path_buf(),
            data_bytes,
            data_checksum,
            options,
            out,
            plot,
            metrics_csv,
            checkpoint: checkpoint_path,
            checkpoint_named,
            checkpoint_every: checkpoint.map(|(_, every)| every),
            adapter: String::new(),
            run_id: new_run_id(),
            resumed_from: None,
            search: None,
        })
    }

    /// Runs the job on `device`, from `resume` when it continues a checkpoint: trains
    /// (`on_epoch` sees each epoch; `stop` is asked between groups of steps), writing a
    /// checkpoint every [`Job::checkpoint_every`] epochs and when stopped, then saves the
    /// model and draws the curves. A finished resumed run removes the checkpoint Ctrl-C left
    /// beside the model.
    pub fn run(
        &mut self,
        resume: Option<Checkpoint>,
        device: Device<'_>,
        on_epoch: &mut OnEpoch<'_>,
        stop: &dyn Fn() -> bool,
    ) -> std::result::Result<Finished, Stopped> {
        let early = |error| Stopped {
            error,
            last_checkpoint: None,
        };
        let streamed = workflow::streamed::streams(&self.data, &self.options).map_err(early)?;
        // Read whole where it fits, else streamed from disk (and never held whole).
        let table = match streamed {
            true => None,
            false => Some(Table::read(&self.data).map_err(early)?),
        };
        if resume.is_some() && !self.adapter.is_empty() && self.adapter != device.describe() {
            log::warn!(
                "the run started on {}; it continues here, but its weights will not be \
                 bit-identical to a run that never stopped",
                self.adapter
            );
        }
        if resume.is_none() && !self.checkpoint_named && self.checkpoint.exists() {
            log::warn!(
                "{} holds a run stopped earlier (resume it to continue that run); stopping \
                 this run would replace it",
                self.checkpoint.display()
            );
        }
        self.adapter = device.describe();
        let resumed = self.resumed_from.clone();
        let last_saved = std::cell::Cell::new(
            resume
                .as_ref()
                .filter(|_| resumed.as_ref() == Some(&self.checkpoint))
                .map(|c| c.state.epochs_done),
        );
        let job_json = self
            .absolute()
            .and_then(|job| {
                serde_json::to_value(job)
                    .map_err(|e| Error::InvalidConfig(format!("cannot describe the run: {e}")))
            })
            .map_err(early)?;
        let checkpoint_path = self.checkpoint.clone();
        let mut save = |c: &Checkpoint| {
            c.save(&checkpoint_path, &job_json)?;
            last_saved.set(Some(c.state.epochs_done));
            Ok(())
        };
        let control = FitControl {
            stop,
            checkpoint_every: self.checkpoint_every,
            save: Some(&mut save),
            resume,
        };
        let result = match &table {
            Some(table) => {
                workflow::train_controlled(table, &self.options, device, on_epoch, control)
                    .map(|trained| (trained, DataShape::of(table)))
            }
            None => {
                let path = &self.data;
                workflow::streamed::train_file(path, &self.options, device, on_epoch, control).map(
                    |(trained, data)| {
                        let shape = DataShape {
                            name: path.display().to_string(),
                            rows: data.rows as usize,
                            columns: data.columns,
                            streamed: true,
                        };
                        (trained, shape)
                    },
                )
            }
        };
        let stopped = |error| Stopped {
            error,
            last_checkpoint: last_saved.get(),
        };
        let (mut trained, shape) = match (result, &resumed) {
            (Ok(trained), _) => trained,
            (Err(Error::ResumeState(message)), Some(from)) => {
                return Err(stopped(Error::CheckpointFile {
                    path: from.display().to_string(),
                    message,
                }))
            }
            (Err(e), _) => return Err(stopped(e)),
        };
        trained.model.meta.training.run_id = Some(self.run_id.clone());
        trained.model.meta.training.data_checksum = Some(self.data_checksum.clone());
        trained.model.meta.training.search = self.search.clone();
        trained.model.save(&self.out).map_err(stopped)?;
        if !self.checkpoint_named && resumed.is_some() {
            // The run Ctrl-C saved is finished: its checkpoint has done its job.
            std::fs::remove_file(&self.checkpoint).ok();
        }
        if let Some(plot) = &self.plot {
            trained
                .draw_curves(&shape.name, plot, &self.run_id)
                .map_err(stopped)?;
        }
        if let Some(path) = &self.metrics_csv {
            trained.save_epochs_csv(path).map_err(stopped)?;
        }
        let report = trained.report(&shape, &self.out, &device.describe());
        Ok(Finished { trained, report })
    }

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
            metrics_csv: self.metrics_csv.as_deref().map(abs).transpose()?,
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
        // The plot and the CSV: where the command line says, else the recorded file if it is
        // the run's own.
        let kept = |given: &Option<PathBuf>,
                    recorded: &Option<PathBuf>,
                    carries_id: &dyn Fn(&Path) -> bool,
                    what: &'static str,
                    argument: &'static str| match (given, recorded) {
            (Some(path), _) => Ok(Some(path.clone())),
            (None, None) => Ok(None),
            (None, Some(path)) if own(path, carries_id) => Ok(Some(path.clone())),
            (None, Some(path)) => Err(Error::ResumeOutput {
                path: name.clone(),
                what,
                recorded: path.display().to_string(),
                argument,
            }),
        };
        let run_id = job.run_id.clone();
        job.plot = kept(
            &args.plot,
            &job.plot,
            &|p| plot_carries(p, &run_id),
            "plot",
            "plot",
        )?;
        // Written when the run finishes: a stopped run's file is not there yet.
        job.metrics_csv = kept(
            &args.metrics_csv,
            &job.metrics_csv,
            &|_| false,
            "metrics CSV",
            "metrics-csv",
        )?;
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
        let plan = FilePlan::new()
            .input("--resume", checkpoint_path)
            .input("DATA", &job.data);
        written(
            plan,
            args.config.as_deref(),
            (&job.out, args.out.is_some()),
            job.plot.as_deref(),
            job.metrics_csv.as_deref(),
            (&job.checkpoint, args.checkpoint.is_some()),
        )
        .check()?;
        job.check_data()?;
        job.resumed_from = Some(checkpoint_path.to_path_buf());
        Ok((job, checkpoint))
    }
}

/// `plan` with a run's config file as an input and its files as outputs, each named by its
/// flag (with "(default)" where the flag was not given).
fn written(
    plan: FilePlan,
    config: Option<&Path>,
    (out, out_given): (&Path, bool),
    plot: Option<&Path>,
    csv: Option<&Path>,
    (checkpoint, checkpoint_given): (&Path, bool),
) -> FilePlan {
    let flag = |name: &str, given: bool| match given {
        true => name.to_string(),
        false => format!("{name} (default)"),
    };
    let mut plan = plan.output(flag("--out", out_given), out);
    if let Some(config) = config {
        plan = plan.input("--config", config);
    }
    if let Some(plot) = plot {
        plan = plan.output("--plot", plot);
    }
    if let Some(csv) = csv {
        plan = plan.output("--metrics-csv", csv);
    }
    let checkpoint_flag = flag("--checkpoint", checkpoint_given);
    // A resumed run keeps writing the checkpoint it continues.
    plan.allow_same(&checkpoint_flag, "--resume")
        .output(checkpoint_flag, checkpoint)
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
    read.is_ok_and(|n| String::from_utf8_lossy(&head[..n]).contains(&crate::plot::run_tag(run_id)))
}
