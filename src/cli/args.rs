//! The command line, as clap reads it.

use clap::builder::{PossibleValuesParser, ValueParser};
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};
use gpumlp::options::{Setting, Settings, TrainOptions, TRAINING};
use std::path::PathBuf;

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
    #[arg(long, global = true, value_enum, default_value_t = BackendArg::Auto, display_order = 900)]
    pub backend: BackendArg,
    /// Print one JSON object on stdout instead of a readable report.
    #[arg(long, global = true, display_order = 900)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short, global = true, display_order = 900)]
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
        /// CSV or Parquet file with the model's feature columns (the target column may be
        /// absent).
        data: PathBuf,
        /// Write the predictions to this file instead of stdout: CSV, or Parquet when its
        /// name ends in .parquet.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Stratified k-fold cross-validation: mean and standard deviation of every metric.
    Cv {
        /// CSV file with a header row (or `data` in --config).
        data: Option<PathBuf>,
        /// Read settings from this TOML file (keys as the flags, e.g. `batch-size = 32`);
        /// flags given as well win over it.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        settings: SettingFlags,
        /// Number of folds [default: 5].
        #[arg(long)]
        folds: Option<usize>,
    },
    /// Model selection: every candidate of a search space scored by stratified k-fold
    /// cross-validation, a leaderboard, and the best refitted on all rows and saved.
    ///
    /// Every training flag may list alternatives separated by `|` (`--lr "0.001|0.003"`,
    /// `--hidden "32|64,32"`) or give a range `lo..hi`, drawn log-uniformly by --random
    /// (`--lr 1e-4..1e-2`); a `[search]` table in --config does the same (`lr =
    /// "0.001|0.003"`), a flag replacing the file's alternatives of its setting. Ctrl-C stops
    /// after the candidates under way and prints the leaderboard so far.
    Search(SearchArgs),
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
    /// Read settings from this TOML file (keys as the flags, e.g. `batch-size = 32`; paths
    /// relative to the file); flags given as well win over it. `gpumlp info MODEL` prints a
    /// model's settings in this form.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: SettingFlags,
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
    /// Epochs between two checkpoints [default: 10].
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<usize>,
    /// Continue the run saved in this checkpoint with its data and settings; the result is
    /// the same, bit for bit, as a run never stopped. The original command with --resume
    /// added works too, as long as its settings agree with the checkpoint's.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// CSV file with a header row (or `data` in --config).
    pub data: Option<PathBuf>,
    /// Read settings, and a `[search]` table of alternatives, from this TOML file; flags
    /// given as well win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub space: SpaceFlags,
    /// Folds each candidate is scored on [default: 5].
    #[arg(long)]
    pub folds: Option<usize>,
    /// Score N candidates drawn with --seed instead of the whole grid.
    #[arg(long, value_name = "N")]
    pub random: Option<usize>,
    /// The metric candidates are ranked by [default: roc_auc for binary, accuracy for
    /// multiclass, r2 for regression].
    #[arg(long)]
    pub metric: Option<String>,
    /// Where to save the best candidate, refitted on all rows (default: the data file's name
    /// with .safetensors, in the current folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The training settings' flags for `search`: each as it is typed, one value or
/// alternatives (`a|b`, `lo..hi`) that `gpumlp::search::Space` reads.
#[derive(Clone, Debug, Default)]
pub struct SpaceFlags(pub Vec<(&'static str, String)>);

impl FromArgMatches for SpaceFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = SpaceFlags::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for setting in TRAINING {
            if let Some(text) = matches.get_one::<String>(setting.name) {
                self.0.push((setting.name, text.clone()));
            }
        }
        Ok(())
    }
}

impl Args for SpaceFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let defaults = Settings::of(&TrainOptions::default());
        TRAINING.iter().fold(cmd, |cmd, setting| {
            let values = match setting.values {
                [] => String::new(),
                names => format!(" [values: {}]", names.join(", ")),
            };
            cmd.arg(
                flag(setting, &defaults)
                    .value_parser(ValueParser::string())
                    .help(format!("{}{values}", help_of(setting, &defaults))),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// The training settings' flags, one for each of [`TRAINING`] (shared by `train` and `cv`):
/// only those typed are given, so a config file's settings stand where no flag says
/// otherwise, and a resume compares just those with its checkpoint.
#[derive(Clone, Debug, Default)]
pub struct SettingFlags(pub Settings);

impl FromArgMatches for SettingFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = SettingFlags::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for setting in TRAINING {
            if let Some(text) = matches.get_one::<String>(setting.name) {
                (setting.read)(&mut self.0, text).map_err(|e| {
                    clap::Error::raw(
                        clap::error::ErrorKind::ValueValidation,
                        format!("invalid value '{text}' for '--{}': {e}\n", setting.name),
                    )
                })?;
            }
        }
        Ok(())
    }
}

impl Args for SettingFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let defaults = Settings::of(&TrainOptions::default());
        TRAINING
            .iter()
            .fold(cmd, |cmd, setting| cmd.arg(flag(setting, &defaults)))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// The flag of `setting`: its help with its default, and a parser that refuses what the
/// setting cannot read (the names it takes, where it takes a fixed set).
fn flag(setting: &'static Setting, defaults: &Settings) -> Arg {
    let help = help_of(setting, defaults);
    let read = setting.read;
    let parser = match setting.values {
        [] => ValueParser::new(move |text: &str| {
            read(&mut Settings::default(), text).map(|()| text.to_string())
        }),
        names => PossibleValuesParser::new(names.iter().copied()).into(),
    };
    Arg::new(setting.name)
        .long(setting.name)
        .value_name(setting.value_name.map_or_else(
            || setting.name.to_uppercase().replace('-', "_"),
            String::from,
        ))
        .help(help)
        .action(ArgAction::Set)
        .allow_negative_numbers(true)
        .value_parser(parser)
}

/// The help of `setting`'s flag, with its default.
fn help_of(setting: &Setting, defaults: &Settings) -> String {
    let help = setting.help.trim_end_matches('.');
    match (setting.shown)(defaults) {
        Some(d) if !d.is_empty() => format!("{help} [default: {d}]"),
        _ => help.to_string(),
    }
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
