//! One error type for the crate: every failure a caller can act on, none of them a panic.

/// Where in an input file a problem sits: the file, and where they apply the line (1-based,
/// the header is line 1) and the column's name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// The file as the user named it.
    pub file: String,
    /// Line in the file, counting the header as line 1; in a Parquet file, which has no
    /// lines, the row (counting from 1) in row group `row_group`.
    pub line: Option<u64>,
    /// The column's header name.
    pub column: Option<String>,
    /// A Parquet file's row group (from 0) of the row `line` names.
    pub row_group: Option<u32>,
}

impl Location {
    /// The whole file.
    pub fn file(file: impl Into<String>) -> Location {
        Location {
            file: file.into(),
            ..Location::default()
        }
    }

    /// One line of the file.
    pub fn line(mut self, line: u64) -> Location {
        self.line = Some(line);
        self
    }

    /// Row `row` (from 1) of a Parquet file, in row group `group` (from 0).
    pub fn row(mut self, row: u64, group: usize) -> Location {
        self.line = Some(row);
        self.row_group = Some(u32::try_from(group).unwrap_or(u32::MAX));
        self
    }

    /// One column of the file.
    pub fn column(mut self, column: impl Into<String>) -> Location {
        self.column = Some(column.into());
        self
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file)?;
        match (self.line, self.row_group) {
            (Some(row), Some(group)) => write!(f, ", row {row} (row group {group})")?,
            (Some(line), None) => write!(f, ", line {line}")?,
            (None, _) => {}
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column:?}")?;
        }
        Ok(())
    }
}

/// A number for a message: short, in scientific notation when it is very large or small.
pub(crate) fn num(v: f64) -> String {
    let a = v.abs();
    if v.is_finite() && v != 0.0 && !(1e-4..1e9).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Everything that can go wrong in gpumlp.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No adapter matched, or none exists. The message lists what was tried and what was found.
    #[error(
        "no usable GPU adapter: tried backends {tried}{filter}; found {found}. \
         To get a software adapter on Linux install Mesa (`apt-get install mesa-vulkan-drivers` \
         for lavapipe through Vulkan, or libegl1 + libgl1-mesa-dri for llvmpipe through GL and \
         set GPUMLP_BACKEND=gl)"
    )]
    NoAdapter {
        /// The backends that were enumerated, e.g. "vulkan, gl".
        tried: String,
        /// The adapter-name filter, as ", adapter name containing \"...\"", or empty.
        filter: String,
        /// The adapters that were found but did not match, or "none".
        found: String,
    },

    /// An environment variable or option names a backend we do not know.
    #[error("unknown backend {0:?}: expected auto, vulkan, metal, dx12 or gl")]
    UnknownBackend(String),

    /// The adapter refused to open a device.
    #[error("could not open a device on adapter {adapter}: {message}")]
    RequestDevice {
        /// Adapter name and backend.
        adapter: String,
        /// The driver's message.
        message: String,
    },

    /// The device cannot hold what was asked of it.
    #[error(
        "{what} needs {needed} {unit} but this adapter allows at most {limit} ({limit_name}); \
         {advice}"
    )]
    Limit {
        /// What was being allocated.
        what: String,
        /// Size asked for.
        needed: u64,
        /// The adapter's limit.
        limit: u64,
        /// What `needed` and `limit` count: "bytes", "storage buffers".
        unit: &'static str,
        /// The wgpu limit's name.
        limit_name: &'static str,
        /// What the user can change.
        advice: String,
    },

    /// wgpu reported a validation, out-of-memory or internal error, or lost the device.
    #[error("GPU error while {during}: {message}")]
    Gpu {
        /// What gpumlp was doing.
        during: &'static str,
        /// wgpu's description.
        message: String,
    },

    /// The device could not allocate what was asked.
    #[error(
        "the GPU ran out of memory for {what}{}; use a smaller batch size or narrower layers, \
         another adapter, or the CPU",
        if *bytes > 0 { format!(" ({bytes} bytes)") } else { String::new() }
    )]
    OutOfMemory {
        /// What was being allocated.
        what: String,
        /// Its size, when known.
        bytes: u64,
    },

    /// The device was lost: a driver reset, a removed GPU, or a device destroyed.
    #[error("the GPU device was lost while {during} ({message}); nothing more can run on it")]
    DeviceLost {
        /// What gpumlp was doing.
        during: &'static str,
        /// wgpu's reason and message.
        message: String,
    },

    /// An op was handed tensors that do not fit the shape it was given (a bug in the caller).
    #[error("shape mismatch in {op}: {detail}")]
    Shape {
        /// The op's name.
        op: &'static str,
        /// Which tensor is too short, and by how much.
        detail: String,
    },

    /// A network specification that cannot be built.
    #[error("invalid network: {0}")]
    InvalidModel(String),

    /// Training data with the wrong shape or non-finite values.
    #[error("invalid data: {0}")]
    InvalidData(String),

    /// An input file (CSV) that cannot be used as it is.
    #[error("{at}: {message}")]
    Input {
        /// The file, line and column.
        at: Location,
        /// What is wrong and, where it helps, what to do.
        message: String,
    },

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path as the user gave it.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A model file that is not ours, is damaged, or disagrees with itself.
    #[error("{path}: not a usable gpumlp model: {message}")]
    ModelFile {
        /// The path as the user gave it.
        path: String,
        /// What is wrong with it.
        message: String,
    },

    /// A model or checkpoint file whose checksum holds but whose contents do not hang
    /// together: a field out of its bounds or disagreeing with another. Nothing was sized
    /// from it.
    #[error("{path}: not a usable gpumlp {kind}: {field}: {message}")]
    FileField {
        /// The path as the user gave it.
        path: String,
        /// "model" or "checkpoint".
        kind: &'static str,
        /// The field, as it is named in the file, e.g. "classes" or "spec.hidden".
        field: String,
        /// What is wrong with it.
        message: String,
    },

    /// A resumed run's command line repeats a setting with another value than the checkpoint's.
    #[error(
        "{path}: the run resumed has {argument} {recorded}, not {given}; a resumed run keeps \
         its data and settings (leave them out, or start a new run without the checkpoint)"
    )]
    ResumeMismatch {
        /// The checkpoint.
        path: String,
        /// The setting, as the command line names it (`epochs`, `batch-size`, `data`, ...).
        argument: &'static str,
        /// What this command line says.
        given: String,
        /// What the checkpoint says.
        recorded: String,
    },

    /// A checkpoint asks a resumed run to write where the run's own files are not.
    #[error(
        "{path}: the checkpoint would write its {what} to {recorded}, which is not this run's \
         own file (it is not beside the checkpoint, or it holds another file); name the {what} \
         file to write ({argument} FILE)"
    )]
    ResumeOutput {
        /// The checkpoint.
        path: String,
        /// "model" or "plot".
        what: &'static str,
        /// The path the checkpoint recorded.
        recorded: String,
        /// The option that names it.
        argument: &'static str,
    },

    /// A checkpoint whose state does not fit the run it resumes (its parameters against the
    /// network its settings build on this data, its step count against its epochs).
    #[error("the checkpoint does not fit this run: {0}")]
    ResumeState(String),

    /// A checkpoint file that is not ours, is damaged, or disagrees with itself.
    #[error("{path}: not a usable gpumlp checkpoint: {message}")]
    CheckpointFile {
        /// The path as the user gave it.
        path: String,
        /// What is wrong with it.
        message: String,
    },

    /// A kernel gave results that cannot be trusted on this driver: its self-check against the
    /// CPU reference failed, or the driver cut its loops short.
    #[error("{kernel} cannot be trusted on {adapter}: {detail}")]
    DriverFault {
        /// The adapter and driver, as `Gpu::describe` gives them.
        adapter: String,
        /// The kernel or path, e.g. "fused_steps" or "matmul block8".
        kernel: &'static str,
        /// What was seen.
        detail: String,
    },

    /// `gpumlp check` found kernels out of tolerance on this adapter.
    #[error(
        "{failed} of {total} checks failed on {adapter}: do not trust GPU results from this \
         driver; use another adapter or driver, or the CPU"
    )]
    CheckFailed {
        /// The adapter and driver.
        adapter: String,
        /// Items out of tolerance.
        failed: usize,
        /// Items checked.
        total: usize,
    },

    /// The loss became NaN or infinite: the trainer stopped (a model trained in place gets
    /// back the weights it had before the chunk of steps that went wrong); no model is saved.
    #[error(
        "training diverged at epoch {epoch}, step {step}: the loss became {loss}, and no model \
         was saved. Try a lower learning rate, or check the data for extreme values"
    )]
    Diverged {
        /// Epoch, from 1.
        epoch: usize,
        /// Step within the epoch, from 1.
        step: usize,
        /// The non-finite loss.
        loss: f32,
    },

    /// A search was asked to stop (Ctrl-C) after `scored` of its `total` candidates; their
    /// leaderboard was written, and no model was refitted.
    #[error("search stopped after {scored} of {total} candidates; no model was saved")]
    SearchStopped {
        /// Candidates scored.
        scored: usize,
        /// Candidates asked for.
        total: usize,
    },

    /// Training was asked to stop (Ctrl-C); the steps under way finished and the run's
    /// checkpoint was handed over to be saved.
    #[error("training stopped after {epochs_done} epochs and {steps} steps of the next")]
    Interrupted {
        /// Epochs finished.
        epochs_done: usize,
        /// Steps run of the unfinished epoch.
        steps: usize,
    },

    /// An output names a file the command reads, or one another output writes.
    #[error(
        "{output} is the same file as {other}, which this command {other_is}; choose another \
         file for {flag}",
        flag = output.split(' ').next().unwrap_or_default()
    )]
    SameFile {
        /// The output's flag and path as the user gave it, e.g. `--out d.csv`.
        output: String,
        /// The other file's flag or argument and path, e.g. `DATA d.csv`.
        other: String,
        /// "reads" or "writes".
        other_is: &'static str,
    },

    /// An output that cannot be written where it is named, found before any work.
    #[error("{flag} {path}: {message}")]
    Output {
        /// The flag that names it, e.g. `--out`.
        flag: String,
        /// The path as the user gave it.
        path: String,
        /// Why it cannot be written.
        message: String,
    },

    /// Training settings out of range.
    #[error("invalid training settings: {0}")]
    InvalidConfig(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
