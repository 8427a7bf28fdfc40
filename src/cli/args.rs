//! The command line, as clap reads it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use gpumlp::data::prep::MissingPolicy;
use gpumlp::options::TrainOptions;
use gpumlp::train::StopMetric;
use gpumlp::{Activation, OptimizerKind};
use std::path::PathBuf;

/// The library's defaults, the one source of every default below.
fn defaults() -> TrainOptions {
    TrainOptions::default()
}

/// The default `--hidden`, as the flag spells it (`64,32`).
static HIDDEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let widths: Vec<String> = defaults().hidden.iter().map(usize::to_string).collect();
    widths.join(",")
});

/// Epochs between two checkpoints when `--checkpoint` names no period.
pub const CHECKPOINT_EVERY: usize = 10;

/// Folds of `cv` when no `--folds` is given.
pub const FOLDS: usize = 5;

/// Train neural networks on any GPU (Vulkan, Metal, DX12, GL) from CSV files.
#[derive(Parser, Debug)]
#[command(name = "gpumlp", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Where to compute: the best GPU adapter (auto, or GPUMLP_BACKEND), one backend, or the
    /// CPU reference implementation.
    #[arg(long, global = true, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Print one JSON object on stdout instead of a readable report.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model on a CSV file and save it.
    Train(TrainArgs),
    /// Metrics of a saved model on labelled CSV rows.
    Eval {
        /// The model file (.safetensors) written by `train`.
        model: PathBuf,
        /// CSV file with the model's columns and the target column.
        data: PathBuf,
        /// Draw the evaluation to this .svg or .png file: ROC and precision-recall curves and
        /// the confusion matrix (classifiers), or predicted against true values and the
        /// residuals (regression).
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
    },
    /// Predictions of a saved model for CSV rows: class and probabilities, or value.
    Predict {
        /// The model file (.safetensors) written by `train`.
        model: PathBuf,
        /// CSV file with the model's feature columns (the target column may be absent).
        data: PathBuf,
        /// Write the predictions to this CSV file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Stratified k-fold cross-validation: mean and standard deviation of every metric.
    Cv {
        /// CSV file with a header row (or `data` in --config).
        data: Option<PathBuf>,
        /// The column to predict (or `target` in --config).
        #[arg(long)]
        target: Option<String>,
        /// Read settings from this TOML file (keys as the flags, e.g. `batch-size = 32`);
        /// flags given as well win over it.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
        /// Number of folds.
        #[arg(long, default_value_t = FOLDS)]
        folds: usize,
    },
    /// Without MODEL: every adapter wgpu finds, its backend, type and the limits that matter.
    /// With MODEL: the saved model's network, preprocessing, settings and metrics.
    Info {
        /// A model file (.safetensors) written by `train`.
        model: Option<PathBuf>,
    },
    /// Exports a saved model to ONNX: one input per raw column, the preprocessing, the network
    /// and the output transform inside.
    ///
    /// Inputs are [N, 1] per feature column: a text column as string, the cell exactly as the
    /// CSV holds it (the graph trims white space and reads empty, NA, N/A, NaN, null, None and
    /// ? in any case as missing, as predict does); a numeric column as float, NaN for a
    /// missing cell. Standard ONNX ops of opset 20 (RegexFullMatch), e.g. onnxruntime 1.17 or
    /// later.
    Export {
        /// The model file (.safetensors) written by `train`.
        model: PathBuf,
        /// The ONNX file to write (default: the model's name with .onnx).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Checks this adapter and driver: every kernel, matmul variant and training path gpumlp
    /// would use, against the CPU reference. Exits non-zero if anything is out of tolerance.
    Check,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// CSV file with a header row (or `data` in --config).
    pub data: Option<PathBuf>,
    /// The column to predict (or `target` in --config).
    #[arg(long)]
    pub target: Option<String>,
    /// Read settings from this TOML file (keys as the flags, e.g. `batch-size = 32`; paths
    /// relative to the file); flags given as well win over it. `gpumlp info MODEL` prints a
    /// model's settings in this form.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where to save the model (default: the data file's name with .safetensors, in the
    /// current folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Draw the loss and validation curves to this .svg or .png file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Write one CSV row per epoch (losses, validation metrics, learning rate, seconds) to
    /// this file when training ends.
    #[arg(long, value_name = "FILE")]
    pub metrics_csv: Option<PathBuf>,
    /// Save a checkpoint (weights, optimiser state, shuffle position, history) to this file
    /// every --checkpoint-every epochs and on Ctrl-C. Without it, Ctrl-C saves one beside the
    /// model, as MODEL.ckpt.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Epochs between two checkpoints.
    #[arg(long, value_name = "N", default_value_t = CHECKPOINT_EVERY)]
    pub checkpoint_every: usize,
    /// Continue the run saved in this checkpoint with its data and settings; the result is
    /// the same, bit for bit, as a run never stopped. The original command with --resume
    /// added works too, as long as its settings agree with the checkpoint's.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
}

/// The `train` and `cv` settings given on the command line (not left at their defaults), by
/// the names `TrainOptions::first_difference` and config files use.
pub fn given_settings(matches: &clap::ArgMatches) -> Vec<&'static str> {
    const SETTINGS: [(&str, &str); 21] = [
        ("target", "target"),
        ("hidden", "hidden"),
        ("activation", "activation"),
        ("task", "task"),
        ("epochs", "epochs"),
        ("batch_size", "batch-size"),
        ("lr", "lr"),
        ("weight_decay", "weight-decay"),
        ("optimizer", "optimizer"),
        ("momentum", "momentum"),
        ("lr_schedule", "lr-schedule"),
        ("seed", "seed"),
        ("val_fraction", "val-fraction"),
        ("patience", "patience"),
        ("min_delta", "min-delta"),
        ("class_weight", "class-weight"),
        ("missing", "missing"),
        ("sample_weight", "sample-weight"),
        ("early_stopping_metric", "early-stopping-metric"),
        ("checkpoint_every", "checkpoint-every"),
        ("folds", "folds"),
    ];
    let Some(("train" | "cv", train)) = matches.subcommand() else {
        return Vec::new();
    };
    SETTINGS
        .iter()
        .filter(|(id, _)| {
            train.try_get_raw(id).is_ok()
                && train.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|&(_, name)| name)
        .collect()
}

/// The network and how to train it (shared by `train` and `cv`).
#[derive(Args, Debug)]
pub struct ModelArgs {
    /// Widths of the hidden layers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = HIDDEN.as_str())]
    pub hidden: Vec<usize>,
    /// Activation of the hidden layers.
    #[arg(long, value_enum, default_value_t = defaults().activation)]
    pub activation: Activation,
    /// What to predict; auto infers it from the target column.
    #[arg(long, value_enum, default_value_t = TaskArg::Auto)]
    pub task: TaskArg,
    /// Passes over the training rows (at most, with early stopping).
    #[arg(long, default_value_t = defaults().config.epochs)]
    pub epochs: usize,
    /// Rows per optimiser step.
    #[arg(long, default_value_t = defaults().config.batch_size)]
    pub batch_size: usize,
    /// Learning rate.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().config.optimizer.lr)]
    pub lr: f32,
    /// L2 penalty (adam, sgd) or decoupled weight decay (adamw).
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().config.optimizer.weight_decay)]
    pub weight_decay: f32,
    /// The optimiser.
    #[arg(long, value_enum, default_value_t = defaults().config.optimizer.kind)]
    pub optimizer: OptimizerKind,
    /// SGD's momentum.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().config.optimizer.momentum)]
    pub momentum: f32,
    /// How the learning rate changes over the epochs.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Constant)]
    pub lr_schedule: ScheduleArg,
    /// Seeds the split, the initial weights and the shuffles.
    #[arg(long, default_value_t = defaults().config.seed)]
    pub seed: u64,
    /// Fraction of the training rows held out (stratified for classifiers) to validate each
    /// epoch, for early stopping and the report; 0 disables validation. In cv it is taken from
    /// each fold's training rows.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().val_fraction)]
    pub val_fraction: f64,
    /// Stop after this many epochs without improvement of the validation loss (training loss
    /// without validation), or of --early-stopping-metric, and keep the best weights; 0
    /// disables early stopping.
    #[arg(long, default_value_t = defaults().config.patience.unwrap_or(0))]
    pub patience: usize,
    /// What early stopping watches: the loss, or a validation metric (accuracy, f1 and
    /// roc_auc for classifiers, r2 for regression; binary f1, macro f1 for several classes).
    #[arg(long, value_enum, default_value_t = defaults().config.early_stopping_metric)]
    pub early_stopping_metric: StopMetric,
    /// The least decrease of the loss that counts as an improvement.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().config.min_delta)]
    pub min_delta: f32,
    /// Weight classes inversely to their frequency.
    #[arg(long, value_enum, default_value_t = ClassWeightArg::None)]
    pub class_weight: ClassWeightArg,
    /// A column of non-negative per-row weights for the loss (times the class weights); it is
    /// not a feature, and a missing weight is an error.
    #[arg(long, value_name = "COLUMN")]
    pub sample_weight: Option<String>,
    /// Missing values (empty, NA, NaN, null, ?): impute them (median, most frequent) or drop
    /// their rows.
    #[arg(long, value_enum, default_value_t = defaults().missing)]
    pub missing: MissingPolicy,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendArg {
    Auto,
    Vulkan,
    Metal,
    Dx12,
    Gl,
    Cpu,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum TaskArg {
    Auto,
    Binary,
    Multiclass,
    Regression,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ScheduleArg {
    Constant,
    Step,
    Cosine,
    Plateau,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassWeightArg {
    None,
    Balanced,
}
