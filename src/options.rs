//! A training run's settings, as the command line, a config file, a checkpoint and a model
//! file hold them: one set of defaults for all of them ([`TrainOptions`]), and the settings
//! as a person writes them, by the command line's names ([`Settings`]: flags and
//! `--config run.toml` files).

use crate::data::prep::{MissingPolicy, Task};
use crate::error::{Error, Location, Result};
use crate::files::{read_bounded, Kind};
use crate::model::Activation;
use crate::optim::OptimizerKind;
use crate::train::{Schedule, StopMetric, TrainConfig};
use std::path::{Path, PathBuf};

/// Everything `train` needs besides the data.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainOptions {
    /// The target column.
    pub target: String,
    /// The task, or `None` to infer it from the target.
    pub task: Option<Task>,
    /// What to do with missing cells.
    pub missing: MissingPolicy,
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Their activation.
    pub activation: Activation,
    /// Epochs, batch size, optimiser, schedule, early stopping and seed.
    pub config: TrainConfig,
    /// Fraction of rows held out (stratified for classifiers) to validate each epoch; 0
    /// disables validation.
    pub val_fraction: f64,
    /// Weight each class by rows / (classes × rows of the class), as scikit-learn's
    /// `class_weight="balanced"`.
    pub balanced: bool,
    /// A column of per-row weights (multiplied with the class weights; not a feature).
    #[serde(default)]
    pub sample_weight: Option<String>,
}

impl Default for TrainOptions {
    /// The defaults of `gpumlp train`: two hidden ReLU layers of 64 and 32, 200 epochs in
    /// batches of 64 with Adam at 1e-3, 10% of the rows held out for validation and early
    /// stopping after 20 epochs without improvement.
    fn default() -> Self {
        TrainOptions {
            target: String::new(),
            task: None,
            missing: MissingPolicy::Impute,
            hidden: vec![64, 32],
            activation: Activation::Relu,
            config: TrainConfig {
                patience: Some(20),
                ..TrainConfig::default()
            },
            val_fraction: 0.1,
            balanced: false,
            sample_weight: None,
        }
    }
}

impl TrainOptions {
    /// Refuses settings that cannot train or claim more than gpumlp's caps (widths, depth,
    /// epochs): they may come from a file.
    pub fn validate(&self) -> Result<()> {
        if self.target.is_empty() {
            return Err(Error::InvalidConfig("no target column is named".into()));
        }
        if let Some(i) = self
            .hidden
            .iter()
            .position(|&w| w == 0 || w > crate::model::MAX_WIDTH)
        {
            return Err(Error::InvalidConfig(format!(
                "hidden: layer {} is {} wide; every layer needs a width from 1 to {}",
                i + 1,
                self.hidden[i],
                crate::model::MAX_WIDTH
            )));
        }
        if self.hidden.len() >= crate::model::MAX_LAYERS {
            return Err(Error::InvalidConfig(format!(
                "hidden: {} layers; at most {}",
                self.hidden.len(),
                crate::model::MAX_LAYERS - 1
            )));
        }
        let c = &self.config;
        if c.epochs == 0 || c.epochs > crate::train::MAX_EPOCHS {
            return Err(Error::InvalidConfig(format!(
                "epochs is {}; a run trains from 1 to {}",
                c.epochs,
                crate::train::MAX_EPOCHS
            )));
        }
        if c.batch_size == 0 {
            return Err(Error::InvalidConfig(
                "batch-size is 0; it must be at least 1".into(),
            ));
        }
        if self.sample_weight.as_deref() == Some(self.target.as_str()) {
            return Err(Error::InvalidConfig(format!(
                "the target column {:?} cannot also be the sample weight",
                self.target
            )));
        }
        c.optimizer.validate()?;
        c.schedule.validate()?;
        if !(c.min_delta.is_finite() && c.min_delta >= 0.0) {
            return Err(Error::InvalidConfig(format!(
                "min-delta is {}; it must be a number ≥ 0",
                c.min_delta
            )));
        }
        if !(self.val_fraction.is_finite() && (0.0..1.0).contains(&self.val_fraction)) {
            return Err(Error::InvalidConfig(format!(
                "val-fraction is {}; it must lie in [0, 1)",
                self.val_fraction
            )));
        }
        Ok(())
    }

    /// The first setting in which `self` and `other` differ, as (the setting's name as the
    /// command line spells it, self's value, other's value), in the order `train --help`
    /// lists them; `None` when they agree.
    pub fn first_difference(&self, other: &TrainOptions) -> Option<(&'static str, String, String)> {
        let found = self.differences(other).into_iter().next();
        if found.is_none() && self != other {
            // Something no flag sets (the optimiser's betas, say).
            return Some(("settings", format!("{self:?}"), format!("{other:?}")));
        }
        found
    }

    /// Every setting the command line can give in which `self` and `other` differ, in the
    /// order `train --help` lists them (see [`TrainOptions::first_difference`]).
    pub fn differences(&self, other: &TrainOptions) -> Vec<(&'static str, String, String)> {
        let (a, b) = (&self.config, &other.config);
        let pairs: [(&'static str, String, String); 19] = [
            ("target", self.target.clone(), other.target.clone()),
            (
                "hidden",
                format!("{:?}", self.hidden),
                format!("{:?}", other.hidden),
            ),
            (
                "activation",
                self.activation.to_string(),
                other.activation.to_string(),
            ),
            (
                "task",
                format!("{:?}", self.task),
                format!("{:?}", other.task),
            ),
            ("epochs", a.epochs.to_string(), b.epochs.to_string()),
            (
                "batch-size",
                a.batch_size.to_string(),
                b.batch_size.to_string(),
            ),
            ("lr", a.optimizer.lr.to_string(), b.optimizer.lr.to_string()),
            (
                "weight-decay",
                a.optimizer.weight_decay.to_string(),
                b.optimizer.weight_decay.to_string(),
            ),
            (
                "optimizer",
                a.optimizer.kind.to_string(),
                b.optimizer.kind.to_string(),
            ),
            (
                "momentum",
                a.optimizer.momentum.to_string(),
                b.optimizer.momentum.to_string(),
            ),
            (
                "lr-schedule",
                format!("{:?}", a.schedule),
                format!("{:?}", b.schedule),
            ),
            ("seed", a.seed.to_string(), b.seed.to_string()),
            (
                "val-fraction",
                self.val_fraction.to_string(),
                other.val_fraction.to_string(),
            ),
            (
                "patience",
                format!("{:?}", a.patience),
                format!("{:?}", b.patience),
            ),
            (
                "min-delta",
                a.min_delta.to_string(),
                b.min_delta.to_string(),
            ),
            (
                "class-weight",
                self.balanced.to_string(),
                other.balanced.to_string(),
            ),
            (
                "missing",
                format!("{:?}", self.missing),
                format!("{:?}", other.missing),
            ),
            (
                "sample-weight",
                format!("{:?}", self.sample_weight),
                format!("{:?}", other.sample_weight),
            ),
            (
                "early-stopping-metric",
                a.early_stopping_metric.to_string(),
                b.early_stopping_metric.to_string(),
            ),
        ];
        pairs.into_iter().filter(|(_, x, y)| x != y).collect()
    }
}

/// Config files, as [`read_bounded`] reads them (a config is a few hundred bytes).
const CONFIG: Kind = Kind {
    name: "config",
    max_bytes: crate::files::MAX_CONFIG_BYTES,
};

/// Training settings by the command line's names, each one given or not: what flags and a
/// `--config` TOML file say. [`Settings::or`] puts one over another (flags over the file) and
/// [`Settings::resolve`] fills in the defaults. Paths in a file are relative to its folder.
///
/// ```
/// use gpumlp::options::Settings;
///
/// let file: Settings = toml::from_str("target = \"y\"\nhidden = [16]\nepochs = 30").unwrap();
/// let flags = Settings { epochs: Some(50), ..Settings::default() };
/// let options = flags.or(file).resolve().unwrap();
/// assert_eq!((options.hidden, options.config.epochs), (vec![16], 50));
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    /// The CSV file to train on (train, cv).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// The column to predict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// auto, binary, multiclass or regression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Widths of the hidden layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    /// Activation of the hidden layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// Passes over the training rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Rows per optimiser step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Learning rate.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "short_f32")]
    pub lr: Option<f32>,
    /// L2 penalty (adam, sgd) or decoupled weight decay (adamw).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "short_f32")]
    pub weight_decay: Option<f32>,
    /// adam, adamw or sgd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerKind>,
    /// SGD's momentum.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "short_f32")]
    pub momentum: Option<f32>,
    /// constant, step, cosine or plateau.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr_schedule: Option<String>,
    /// Seeds the split, the initial weights and the shuffles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Fraction of the training rows held out for validation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_fraction: Option<f64>,
    /// Epochs without improvement before early stopping; 0 disables it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patience: Option<usize>,
    /// The least improvement that counts.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "short_f32")]
    pub min_delta: Option<f32>,
    /// What early stopping watches: loss, accuracy, f1, roc_auc or r2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping_metric: Option<StopMetric>,
    /// none or balanced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_weight: Option<String>,
    /// A column of per-row weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_weight: Option<String>,
    /// impute or drop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<MissingPolicy>,
    /// Where train saves the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    /// Where train draws the loss curves (.svg or .png).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plot: Option<PathBuf>,
    /// Where train writes one row per epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_csv: Option<PathBuf>,
    /// Where train keeps checkpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<PathBuf>,
    /// Epochs between two checkpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<usize>,
    /// Folds of cv.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folds: Option<usize>,
}

/// `$field: self.$field.or(lower.$field)` for every field.
macro_rules! over {
    ($high:ident, $low:ident; $($field:ident),*) => {
        Settings { $($field: $high.$field.or($low.$field)),* }
    };
}

impl Settings {
    /// Reads a TOML config file; an unknown key, a wrong type or a bad value is an error that
    /// names the file and line. Relative paths in it are taken from the file's folder.
    pub fn load(path: &Path) -> Result<Settings> {
        let name = path.display().to_string();
        let io = |source| Error::Io {
            path: name.clone(),
            source,
        };
        let bytes = read_bounded(path, CONFIG)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text ({e})"),
            ))
        })?;
        let mut settings: Settings = toml::from_str(&text).map_err(|e| {
            let at = Location::file(name.clone());
            let at = match e.span() {
                Some(span) => at.line(1 + text[..span.start].matches('\n').count() as u64),
                None => at,
            };
            Error::Input {
                at,
                message: e.message().trim().to_string(),
            }
        })?;
        settings.check(&name, &text)?;
        let folder = path.parent().unwrap_or(Path::new(""));
        for p in [
            &mut settings.data,
            &mut settings.out,
            &mut settings.plot,
            &mut settings.metrics_csv,
            &mut settings.checkpoint,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = folder.join(&*p);
            }
        }
        Ok(settings)
    }

    /// Refuses the values serde cannot: the names given as text (`text` is the file's, for
    /// the line of the key).
    fn check(&self, file: &str, text: &str) -> Result<()> {
        let at = |key: &str| {
            let line = text.lines().position(|l| {
                l.trim_start()
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            });
            let at = Location::file(file);
            match line {
                Some(l) => at.line(l as u64 + 1),
                None => at,
            }
        };
        let bad = |key: &str, message: String| Error::Input {
            at: at(key),
            message: format!("{key}: {message}"),
        };
        if let Some(task) = &self.task {
            parse_task(task).map_err(|e| bad("task", e))?;
        }
        if let Some(schedule) = &self.lr_schedule {
            Schedule::named(schedule, 1).map_err(|e| match e {
                Error::InvalidConfig(m) => bad("lr-schedule", m),
                e => bad("lr-schedule", e.to_string()),
            })?;
        }
        if let Some(weight) = &self.class_weight {
            parse_balanced(weight).map_err(|e| bad("class-weight", e))?;
        }
        // The ranges, checked as a run would check them; the message starts with the key.
        let with_target = Settings {
            target: Some(self.target.clone().unwrap_or_else(|| "target".into())),
            ..self.clone()
        };
        match with_target.resolve() {
            Err(Error::InvalidConfig(message)) => {
                let key = message.split([' ', ':']).next().unwrap_or_default();
                Err(Error::Input {
                    at: at(key),
                    message,
                })
            }
            Err(e) => Err(e),
            Ok(_) => Ok(()),
        }
    }

    /// `self` where it says something, else `lower`: flags over a config file.
    pub fn or(self, lower: Settings) -> Settings {
        over!(self, lower; data, target, task, hidden, activation, epochs, batch_size, lr,
            weight_decay, optimizer, momentum, lr_schedule, seed, val_fraction, patience,
            min_delta, early_stopping_metric, class_weight, sample_weight, missing, out, plot,
            metrics_csv, checkpoint, checkpoint_every, folds)
    }

    /// The names (as [`TrainOptions::differences`] gives them) of the training settings this
    /// says something about.
    pub fn given(&self) -> Vec<&'static str> {
        let s = self;
        [
            ("target", s.target.is_some()),
            ("hidden", s.hidden.is_some()),
            ("activation", s.activation.is_some()),
            ("task", s.task.is_some()),
            ("epochs", s.epochs.is_some()),
            ("batch-size", s.batch_size.is_some()),
            ("lr", s.lr.is_some()),
            ("weight-decay", s.weight_decay.is_some()),
            ("optimizer", s.optimizer.is_some()),
            ("momentum", s.momentum.is_some()),
            ("lr-schedule", s.lr_schedule.is_some()),
            ("seed", s.seed.is_some()),
            ("val-fraction", s.val_fraction.is_some()),
            ("patience", s.patience.is_some()),
            ("min-delta", s.min_delta.is_some()),
            ("class-weight", s.class_weight.is_some()),
            ("missing", s.missing.is_some()),
            ("sample-weight", s.sample_weight.is_some()),
            ("early-stopping-metric", s.early_stopping_metric.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// The training options these settings ask for, the defaults filling in the rest; checked
    /// with [`TrainOptions::validate`].
    pub fn resolve(&self) -> Result<TrainOptions> {
        let options = self.unchecked()?;
        options.validate()?;
        Ok(options)
    }

    /// [`Settings::resolve`] without the check: what a resume compares with its checkpoint,
    /// where the target may be left to the checkpoint.
    pub fn unchecked(&self) -> Result<TrainOptions> {
        let d = TrainOptions::default();
        let (dc, s) = (&d.config, self);
        let epochs = s.epochs.unwrap_or(dc.epochs);
        let schedule = match &s.lr_schedule {
            Some(name) => Schedule::named(name, epochs)?,
            None => dc.schedule,
        };
        let task = match &s.task {
            Some(t) => parse_task(t).map_err(Error::InvalidConfig)?,
            None => d.task,
        };
        let balanced = match &s.class_weight {
            Some(w) => parse_balanced(w).map_err(Error::InvalidConfig)?,
            None => d.balanced,
        };
        let patience = match s.patience {
            Some(0) => None,
            Some(p) => Some(p),
            None => dc.patience,
        };
        let mut optimizer = dc.optimizer;
        optimizer.kind = s.optimizer.unwrap_or(optimizer.kind);
        optimizer.lr = s.lr.unwrap_or(optimizer.lr);
        optimizer.weight_decay = s.weight_decay.unwrap_or(optimizer.weight_decay);
        optimizer.momentum = s.momentum.unwrap_or(optimizer.momentum);
        Ok(TrainOptions {
            target: s.target.clone().unwrap_or_default(),
            task,
            missing: s.missing.unwrap_or(d.missing),
            hidden: s.hidden.clone().unwrap_or(d.hidden.clone()),
            activation: s.activation.unwrap_or(d.activation),
            config: TrainConfig {
                epochs,
                batch_size: s.batch_size.unwrap_or(dc.batch_size),
                optimizer,
                schedule,
                patience,
                min_delta: s.min_delta.unwrap_or(dc.min_delta),
                early_stopping_metric: s.early_stopping_metric.unwrap_or_default(),
                seed: s.seed.unwrap_or(dc.seed),
                allow_fused: dc.allow_fused,
            },
            val_fraction: s.val_fraction.unwrap_or(d.val_fraction),
            balanced,
            sample_weight: s.sample_weight.clone().or(d.sample_weight),
        })
    }

    /// Every training setting of `options`, as a config file states them: what `gpumlp info`
    /// prints, and a file that trains the same model again.
    pub fn of(options: &TrainOptions) -> Settings {
        let c = &options.config;
        Settings {
            target: Some(options.target.clone()),
            task: Some(options.task.map_or("auto".into(), |t| t.to_string())),
            hidden: Some(options.hidden.clone()),
            activation: Some(options.activation),
            epochs: Some(c.epochs),
            batch_size: Some(c.batch_size),
            lr: Some(c.optimizer.lr),
            weight_decay: Some(c.optimizer.weight_decay),
            optimizer: Some(c.optimizer.kind),
            momentum: Some(c.optimizer.momentum),
            lr_schedule: Some(c.schedule.name().to_string()),
            seed: Some(c.seed),
            val_fraction: Some(options.val_fraction),
            patience: Some(c.patience.unwrap_or(0)),
            min_delta: Some(c.min_delta),
            early_stopping_metric: Some(c.early_stopping_metric),
            class_weight: Some(if options.balanced { "balanced" } else { "none" }.into()),
            sample_weight: options.sample_weight.clone(),
            missing: Some(options.missing),
            ..Settings::default()
        }
    }

    /// The settings as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// An `f32` as its shortest decimal (`0.001`, not the `0.0010000000474974513` of its `f64`).
fn short_f32<S: serde::Serializer>(v: &Option<f32>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&v.to_string().parse::<f64>().unwrap_or(f64::from(*v))),
        None => s.serialize_none(),
    }
}

fn parse_task(text: &str) -> std::result::Result<Option<Task>, String> {
    match text {
        "auto" => Ok(None),
        "binary" => Ok(Some(Task::Binary)),
        "multiclass" => Ok(Some(Task::Multiclass)),
        "regression" => Ok(Some(Task::Regression)),
        other => Err(format!(
            "unknown task {other:?}: expected auto, binary, multiclass or regression"
        )),
    }
}

fn parse_balanced(text: &str) -> std::result::Result<bool, String> {
    match text {
        "none" => Ok(false),
        "balanced" => Ok(true),
        other => Err(format!(
            "unknown class weight {other:?}: expected none or balanced"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_s_settings_train_it_again() {
        let mut options = TrainOptions {
            target: "y".into(),
            task: Some(Task::Multiclass),
            hidden: vec![7, 3],
            activation: Activation::Tanh,
            balanced: true,
            sample_weight: Some("w".into()),
            ..TrainOptions::default()
        };
        options.config.epochs = 31;
        options.config.schedule = Schedule::named("step", 31).unwrap();
        options.config.early_stopping_metric = StopMetric::F1;
        options.config.optimizer.kind = OptimizerKind::Sgd;
        let text = Settings::of(&options).to_toml();
        assert!(text.contains("lr = 0.001\n"), "{text}");
        let back: Settings = toml::from_str(&text).unwrap();
        assert_eq!(back.resolve().unwrap(), options, "{text}");
        // And the defaults are what no setting gives.
        let none = Settings {
            target: Some("y".into()),
            ..Settings::default()
        };
        let defaults = TrainOptions {
            target: "y".into(),
            ..TrainOptions::default()
        };
        assert_eq!(none.resolve().unwrap(), defaults);
        assert_eq!(Settings::of(&defaults).resolve().unwrap(), defaults);
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = Settings {
            epochs: Some(10),
            lr: Some(0.5),
            ..Settings::default()
        };
        let flags = Settings {
            epochs: Some(20),
            target: Some("t".into()),
            ..Settings::default()
        };
        let merged = flags.or(file);
        assert_eq!((merged.epochs, merged.lr), (Some(20), Some(0.5)));
        assert_eq!(merged.given(), ["target", "epochs", "lr"]);
    }

    #[test]
    fn a_bad_file_names_its_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        let err = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Settings::load(&path).unwrap_err().to_string()
        };
        let e = err("target = \"y\"\nepoch = 5\n");
        assert!(
            e.contains("run.toml, line 2") && e.contains("unknown field `epoch`"),
            "{e}"
        );
        let e = err("target = \"y\"\n\nepochs = \"many\"\n");
        assert!(e.contains("line 3") && e.contains("invalid type"), "{e}");
        let e = err("activation = \"swish\"\n");
        assert!(e.contains("line 1") && e.contains("swish"), "{e}");
        let e = err("target = \"y\"\nlr-schedule = \"warm\"\n");
        assert!(e.contains("line 2: lr-schedule: unknown"), "{e}");
        let e = err("task = \"ranking\"\n");
        assert!(e.contains("line 1: task: unknown task"), "{e}");
        std::fs::write(&path, "data = \"d.csv\"\nout = \"/abs/m.safetensors\"\n").unwrap();
        let s = Settings::load(&path).unwrap();
        assert_eq!(s.data, Some(dir.path().join("d.csv")));
        assert_eq!(s.out, Some(PathBuf::from("/abs/m.safetensors")));
    }
}
