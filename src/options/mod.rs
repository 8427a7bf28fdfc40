//! A training run's settings, as the command line, a config file, a checkpoint and a model
//! file hold them: one set of defaults for all of them ([`TrainOptions`]), and the settings
//! as a person writes them, by the command line's names ([`Settings`]: flags and
//! `--config run.toml` files), each declared once in [`declared`].

pub mod declared;
pub mod memory;
pub mod value;

pub use declared::{Setting, Settings, TRAINING};
pub use memory::MemoryLimit;

use crate::data::prep::{MissingPolicy, Task};
use crate::error::{Error, Location, Result};
use crate::files::{read_bounded, Kind};
use crate::model::Activation;
use crate::train::{Schedule, TrainConfig};
use std::path::Path;

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
    /// The host memory a run may hold; data that would not fit is streamed from disk.
    #[serde(default)]
    pub max_memory: MemoryLimit,
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
            max_memory: MemoryLimit::Auto,
        }
    }
}

impl TrainOptions {
    /// Refuses settings that cannot train or claim more than gpumlp's caps (widths, depth,
    /// epochs): they may come from a file.
    pub fn validate(&self) -> Result<()> {
        for setting in TRAINING {
            (setting.check)(self).map_err(Error::InvalidConfig)?;
        }
        if self.sample_weight.as_deref() == Some(self.target.as_str()) {
            return Err(Error::InvalidConfig(format!(
                "the target column {:?} cannot also be the sample weight",
                self.target
            )));
        }
        self.config.optimizer.validate()?;
        self.config.schedule.validate()
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
        TRAINING
            .iter()
            .map(|s| (s.name, (s.show)(self), (s.show)(other)))
            .filter(|(_, x, y)| x != y)
            .collect()
    }
}

/// Config files, as [`read_bounded`] reads them (a config is a few hundred bytes).
const CONFIG: Kind = Kind {
    name: "config",
    max_bytes: crate::files::MAX_CONFIG_BYTES,
};

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

    /// The names (as [`TrainOptions::differences`] gives them) of the training settings this
    /// says something about.
    pub fn given(&self) -> Vec<&'static str> {
        TRAINING
            .iter()
            .filter(|s| (s.given)(self))
            .map(|s| s.name)
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
        let mut options = TrainOptions::default();
        self.apply(&mut options).map_err(Error::InvalidConfig)?;
        Ok(options)
    }

    /// The settings as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// An `f32` as its shortest decimal (`0.001`, not the `0.0010000000474974513` of its `f64`).
pub(crate) fn short_f32<S: serde::Serializer>(
    v: &Option<f32>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&v.to_string().parse::<f64>().unwrap_or(f64::from(*v))),
        None => s.serialize_none(),
    }
}

pub(crate) fn parse_task(text: &str) -> std::result::Result<Option<Task>, String> {
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

pub(crate) fn parse_balanced(text: &str) -> std::result::Result<bool, String> {
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
    use crate::optim::OptimizerKind;
    use crate::train::StopMetric;
    use std::path::PathBuf;

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
