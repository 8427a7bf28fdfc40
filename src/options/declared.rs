//! Every setting, declared once: its flag and config key, its help, the names it takes, how
//! it reads from and writes into [`TrainOptions`] and the range it must lie in. The command
//! line (`src/cli`), config files, model files ([`Settings::of`]), the checks
//! ([`TrainOptions::validate`]) and the resume comparison all read [`TRAINING`]; adding a
//! setting is one entry here plus its use.

use super::memory::MemoryLimit;
use super::value::SettingValue;
use super::{parse_balanced, parse_task, short_f32, TrainOptions};
use crate::data::prep::MissingPolicy;
use crate::model::Activation;
use crate::optim::OptimizerKind;
use crate::train::{Schedule, StopMetric};
use std::path::PathBuf;

/// One training setting, as [`TRAINING`] holds it.
pub struct Setting {
    /// Its flag (`--batch-size`) and config key (`batch-size`).
    pub name: &'static str,
    /// What it means (`--help`).
    pub help: &'static str,
    /// What `--help` calls its value (`COL`), where its name in capitals would not say.
    pub value_name: Option<&'static str>,
    /// The names it takes, where it takes a fixed set (empty otherwise).
    pub values: &'static [&'static str],
    /// Whether `settings` gives it.
    pub given: fn(&Settings) -> bool,
    /// Gives it in `settings` from its text, as a flag spells it (`--lr 0.01`).
    pub read: fn(&mut Settings, &str) -> Result<(), String>,
    /// Its value in `options`, as a flag spells it (`none` where it has none).
    pub show: fn(&TrainOptions) -> String,
    /// Its value in `settings`, as a flag spells it, where they give it.
    pub shown: fn(&Settings) -> Option<String>,
    /// Why its value in `options` is out of range, if it is.
    pub check: fn(&TrainOptions) -> Result<(), String>,
}

/// A setting's `value "COL"` clause, if it has one, as [`Setting::value_name`].
macro_rules! value_name {
    () => {
        None
    };
    ($name:literal) => {
        Some($name)
    };
}

/// Generates [`Settings`] (every setting, given or not), [`TRAINING`] and the conversions
/// between them and [`TrainOptions`] from one list. `run` settings say where a run reads and
/// writes (no default, no flag of their own here); `train` settings are declared with their
/// flag, help, what `--help` calls their value where the flag in capitals would not say
/// (`value "COL"`), the names they take, how to get and set them in [`TrainOptions`] and their
/// range check.
macro_rules! settings {
    (
        run { $(
            help $rhelp:literal, $(#[$rmeta:meta])* $rfield:ident: $rty:ty;
        )* }
        train { $(
            $(#[$meta:meta])* $field:ident: $ty:ty = $flag:literal,
            help $help:literal,
            $(value $vname:literal,)?
            $(values [$($value:literal),*],)?
            get |$go:ident| $get:expr,
            set |$so:ident, $sv:ident| $set:expr,
            check |$cv:ident| $check:expr;
        )* }
    ) => {
        /// Settings by the command line's names, each one given or not: what flags and a
        /// `--config` TOML file say. [`Settings::or`] puts one over another (flags over the
        /// file) and [`Settings::resolve`] fills in the defaults. Paths in a file are relative
        /// to its folder.
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
            $(
                #[doc = $rhelp]
                #[serde(skip_serializing_if = "Option::is_none")]
                $(#[$rmeta])*
                pub $rfield: Option<$rty>,
            )*
            $(
                #[doc = $help]
                #[serde(skip_serializing_if = "Option::is_none")]
                $(#[$meta])*
                pub $field: Option<$ty>,
            )*
        }

        /// Every training setting, in the order `train --help` lists them.
        pub static TRAINING: &[Setting] = &[$(
            Setting {
                name: $flag,
                help: $help,
                value_name: value_name!($($vname)?),
                values: &[$($($value),*)?],
                given: |s| s.$field.is_some(),
                read: |s, text| {
                    s.$field = Some(<$ty as SettingValue>::parse(text)?);
                    Ok(())
                },
                show: |$go| {
                    let value: Option<$ty> = $get;
                    value.map_or_else(|| "none".to_string(), |v| v.show())
                },
                shown: |s| s.$field.as_ref().map(SettingValue::show),
                check: |$go| match $get {
                    Some($cv) => $check,
                    None => Ok(()),
                },
            },
        )*];

        impl Settings {
            /// `self` where it says something, else `lower`: flags over a config file.
            pub fn or(self, lower: Settings) -> Settings {
                Settings {
                    $($rfield: self.$rfield.or(lower.$rfield),)*
                    $($field: self.$field.or(lower.$field),)*
                }
            }

            /// Writes the training settings given into `options`, in [`TRAINING`]'s order.
            pub(super) fn apply(&self, options: &mut TrainOptions) -> Result<(), String> {
                $(
                    if let Some(value) = &self.$field {
                        let ($so, $sv) = (&mut *options, value.clone());
                        $set;
                    }
                )*
                Ok(())
            }

            /// Every training setting of `options`, as a config file states them: what
            /// `gpumlp info` prints, and a file that trains the same model again.
            pub fn of(options: &TrainOptions) -> Settings {
                Settings {
                    $($field: {
                        let $go = options;
                        $get
                    },)*
                    ..Settings::default()
                }
            }
        }
    };
}

settings! {
    run {
        help "The CSV file to train on (train, cv).", data: PathBuf;
        help "Where train saves the model.", out: PathBuf;
        help "Where train draws the loss curves (.svg or .png).", plot: PathBuf;
        help "Where train writes one row per epoch.", metrics_csv: PathBuf;
        help "Where train keeps checkpoints.", checkpoint: PathBuf;
        help "Epochs between two checkpoints.", checkpoint_every: usize;
        help "Folds of cv and search.", folds: usize;
        help "Alternatives for search, by setting (`lr = \"0.001|0.003\"`).",
            search: std::collections::BTreeMap<String, String>;
    }
    train {
        target: String = "target",
        help "The column to predict (or `target` in --config).",
        value "COL",
        get |o| Some(o.target.clone()),
        set |o, v| o.target = v,
        check |v| match v.is_empty() {
            true => Err("no target column is named".into()),
            false => Ok(()),
        };

        hidden: Vec<usize> = "hidden",
        help "Widths of the hidden layers, comma-separated.",
        value "WIDTHS",
        get |o| Some(o.hidden.clone()),
        set |o, v| o.hidden = v,
        check |v| check_hidden(&v);

        activation: Activation = "activation",
        help "Activation of the hidden layers.",
        values ["relu", "tanh", "sigmoid"],
        get |o| Some(o.activation),
        set |o, v| o.activation = v,
        check |_v| Ok(());

        task: String = "task",
        help "What to predict; auto infers it from the target column.",
        values ["auto", "binary", "multiclass", "regression"],
        get |o| Some(o.task.map_or("auto".into(), |t| t.to_string())),
        set |o, v| o.task = parse_task(&v)?,
        check |_v| Ok(());

        epochs: usize = "epochs",
        help "Passes over the training rows (at most, with early stopping).",
        get |o| Some(o.config.epochs),
        set |o, v| o.config.epochs = v,
        check |v| match (1..=crate::train::MAX_EPOCHS).contains(&v) {
            true => Ok(()),
            false => Err(format!(
                "epochs is {v}; a run trains from 1 to {}",
                crate::train::MAX_EPOCHS
            )),
        };

        batch_size: usize = "batch-size",
        help "Rows per optimiser step.",
        get |o| Some(o.config.batch_size),
        set |o, v| o.config.batch_size = v,
        check |v| match v {
            0 => Err("batch-size is 0; it must be at least 1".into()),
            _ => Ok(()),
        };

        #[serde(serialize_with = "short_f32")]
        lr: f32 = "lr",
        help "Learning rate.",
        get |o| Some(o.config.optimizer.lr),
        set |o, v| o.config.optimizer.lr = v,
        check |_v| Ok(());

        #[serde(serialize_with = "short_f32")]
        weight_decay: f32 = "weight-decay",
        help "L2 penalty (adam, sgd) or decoupled weight decay (adamw).",
        get |o| Some(o.config.optimizer.weight_decay),
        set |o, v| o.config.optimizer.weight_decay = v,
        check |_v| Ok(());

        optimizer: OptimizerKind = "optimizer",
        help "The optimiser.",
        values ["adam", "adamw", "sgd"],
        get |o| Some(o.config.optimizer.kind),
        set |o, v| o.config.optimizer.kind = v,
        check |_v| Ok(());

        #[serde(serialize_with = "short_f32")]
        momentum: f32 = "momentum",
        help "SGD's momentum.",
        get |o| Some(o.config.optimizer.momentum),
        set |o, v| o.config.optimizer.momentum = v,
        check |_v| Ok(());

        lr_schedule: String = "lr-schedule",
        help "How the learning rate changes over the epochs.",
        values ["constant", "step", "cosine", "plateau"],
        get |o| Some(o.config.schedule.name().to_string()),
        // After epochs: a schedule is laid out over the run's epochs.
        set |o, v| {
            o.config.schedule = Schedule::named(&v, o.config.epochs).map_err(|e| match e {
                crate::error::Error::InvalidConfig(m) => m,
                e => e.to_string(),
            })?
        },
        check |_v| Ok(());

        seed: u64 = "seed",
        help "Seeds the split, the initial weights and the shuffles.",
        get |o| Some(o.config.seed),
        set |o, v| o.config.seed = v,
        check |_v| Ok(());

        val_fraction: f64 = "val-fraction",
        help "Fraction of the training rows held out (stratified for classifiers) to validate \
              each epoch, for early stopping and the report; 0 disables validation. In cv it \
              is taken from each fold's training rows.",
        get |o| Some(o.val_fraction),
        set |o, v| o.val_fraction = v,
        check |v| match v.is_finite() && (0.0..1.0).contains(&v) {
            true => Ok(()),
            false => Err(format!("val-fraction is {v}; it must lie in [0, 1)")),
        };

        patience: usize = "patience",
        help "Stop after this many epochs without improvement of the validation loss \
              (training loss without validation), or of --early-stopping-metric, and keep the \
              best weights; 0 disables early stopping.",
        get |o| Some(o.config.patience.unwrap_or(0)),
        set |o, v| o.config.patience = (v > 0).then_some(v),
        check |_v| Ok(());

        early_stopping_metric: StopMetric = "early-stopping-metric",
        help "What early stopping watches: the loss, or a validation metric (accuracy, f1 and \
              roc_auc for classifiers, r2 for regression; binary f1, macro f1 for several \
              classes).",
        values ["loss", "accuracy", "f1", "roc_auc", "r2"],
        get |o| Some(o.config.early_stopping_metric),
        set |o, v| o.config.early_stopping_metric = v,
        check |_v| Ok(());

        #[serde(serialize_with = "short_f32")]
        min_delta: f32 = "min-delta",
        help "The least decrease of the loss that counts as an improvement.",
        get |o| Some(o.config.min_delta),
        set |o, v| o.config.min_delta = v,
        check |v| match v.is_finite() && v >= 0.0 {
            true => Ok(()),
            false => Err(format!("min-delta is {v}; it must be a number ≥ 0")),
        };

        class_weight: String = "class-weight",
        help "Weight classes inversely to their frequency.",
        values ["none", "balanced"],
        get |o| Some(if o.balanced { "balanced" } else { "none" }.to_string()),
        set |o, v| o.balanced = parse_balanced(&v)?,
        check |_v| Ok(());

        sample_weight: String = "sample-weight",
        help "A column of non-negative per-row weights for the loss (times the class \
              weights); it is not a feature, and a missing weight is an error.",
        value "COL",
        get |o| o.sample_weight.clone(),
        set |o, v| o.sample_weight = Some(v),
        check |_v| Ok(());

        max_memory: MemoryLimit = "max-memory",
        help "Host memory a run may hold: auto (half the machine's) or a size (512MiB, 8GiB; \
              G is 10^9). train streams data that would not fit from disk, in chunks.",
        value "SIZE",
        get |o| Some(o.max_memory),
        set |o, v| o.max_memory = v,
        check |_v| Ok(());

        missing: MissingPolicy = "missing",
        help "Missing values (empty, NA, NaN, null, ?): impute them (median, most frequent) \
              or drop their rows.",
        values ["impute", "drop"],
        get |o| Some(o.missing),
        set |o, v| o.missing = v,
        check |_v| Ok(());
    }
}

/// Every layer 1 to `MAX_WIDTH` wide, fewer than `MAX_LAYERS` of them.
fn check_hidden(hidden: &[usize]) -> Result<(), String> {
    use crate::model::{MAX_LAYERS, MAX_WIDTH};
    if let Some(i) = hidden.iter().position(|&w| w == 0 || w > MAX_WIDTH) {
        return Err(format!(
            "hidden: layer {} is {} wide; every layer needs a width from 1 to {MAX_WIDTH}",
            i + 1,
            hidden[i]
        ));
    }
    if hidden.len() >= MAX_LAYERS {
        return Err(format!(
            "hidden: {} layers; at most {}",
            hidden.len(),
            MAX_LAYERS - 1
        ));
    }
    Ok(())
}

/// The setting named `name` (its flag without the dashes).
pub fn setting(name: &str) -> Option<&'static Setting> {
    TRAINING.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setting_s_flag_is_its_config_key_and_its_names_read() {
        let options = TrainOptions {
            target: "y".into(),
            sample_weight: Some("w".into()),
            ..TrainOptions::default()
        };
        let file = Settings::of(&options).to_toml();
        for s in TRAINING {
            // The config key serde writes is the flag's name.
            assert!(file.contains(&format!("\n{} = ", s.name)) || file.starts_with(s.name));
            // Every name it lists reads, and what it shows reads back to the same.
            for value in s.values {
                let mut given = Settings::default();
                (s.read)(&mut given, value).unwrap_or_else(|e| panic!("{}: {e}", s.name));
                assert!((s.given)(&given), "{}", s.name);
                let resolved = given.unchecked().unwrap();
                assert_eq!((s.show)(&resolved), *value, "{}", s.name);
            }
            let mut again = Settings::default();
            (s.read)(&mut again, &(s.show)(&options)).unwrap();
            let mut back = options.clone();
            again.apply(&mut back).unwrap();
            assert_eq!(back, options, "{} reads back what it shows", s.name);
        }
        assert_eq!(setting("batch-size").map(|s| s.name), Some("batch-size"));
    }
}
