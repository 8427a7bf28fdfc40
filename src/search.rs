//! Model selection: a search space over the training settings (alternatives `a|b` and ranges
//! `lo..hi` of any setting in [`crate::options::TRAINING`]), its candidates (the full grid, or N sampled with
//! a seed), each scored by stratified k-fold cross-validation on one metric, and the
//! leaderboard they make.
//!
//! ```
//! use gpumlp::options::Settings;
//! use gpumlp::search::Space;
//!
//! let base = Settings { target: Some("y".into()), ..Settings::default() };
//! let mut space = Space::new(base);
//! space.add("lr", "0.001|0.003").unwrap();
//! space.add("weight-decay", "0|1e-4").unwrap();
//! let grid = space.grid().unwrap();
//! assert_eq!(grid.len(), 4);
//! assert_eq!(grid[3].varied, [("lr", "0.003".to_string()), ("weight-decay", "1e-4".into())]);
//! ```

use crate::data::prep::Task;
use crate::data::table::Table;
use crate::error::{Error, Result};
use crate::metrics::{report, Metrics};
use crate::model_file::SearchRecord;
use crate::options::{declared::setting, Setting, Settings, TrainOptions};
use crate::workflow::{cross_validate_many, CrossValidation, Device};
use rand::{Rng, SeedableRng};

/// The most candidates one search scores (the grid's size, or `--random N`).
pub const MAX_CANDIDATES: usize = 1000;

/// A setting's alternatives in a search space.
#[derive(Clone, Debug, PartialEq)]
pub enum Choices {
    /// Each of these, as a flag spells them.
    Values(Vec<String>),
    /// A number from `lo` to `hi`, sampled log-uniformly when both are above 0 (uniformly
    /// otherwise) and rounded for settings that take whole numbers: random search only.
    Range {
        /// The least.
        lo: f64,
        /// The most.
        hi: f64,
    },
}

/// One setting searched over.
#[derive(Clone)]
pub struct Axis {
    /// The setting.
    pub setting: &'static Setting,
    /// Its alternatives.
    pub choices: Choices,
}

/// The settings every candidate shares and those it searches over.
#[derive(Clone, Default)]
pub struct Space {
    /// What every candidate starts from (flags with one value, a config file).
    pub base: Settings,
    /// The settings searched over, in the order they were added.
    pub axes: Vec<Axis>,
}

/// One point of a search space.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Its settings: the space's base with its choices over it.
    pub settings: Settings,
    /// The settings it chose, by flag name, as flags spell them.
    pub varied: Vec<(&'static str, String)>,
}

impl Space {
    /// A space of one candidate, `base`, until settings are added.
    pub fn new(base: Settings) -> Space {
        Space {
            base,
            axes: Vec::new(),
        }
    }

    /// Searches setting `name` over `text`: alternatives separated by `|` (`0.001|0.003`,
    /// `64,32|128`) or a range `lo..hi` (`1e-4..1e-2`); a single value sets it for every
    /// candidate. Each alternative must be a value the setting takes.
    pub fn add(&mut self, name: &str, text: &str) -> Result<()> {
        let s = setting(name)
            .ok_or_else(|| Error::InvalidConfig(format!("search: no setting is named {name:?}")))?;
        let bad = |e: String| Error::InvalidConfig(format!("{name}: {e}"));
        if let Some((lo, hi)) = text.split_once("..") {
            let number = |t: &str| {
                let v: f64 = t
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("{t:?} is not a number")))?;
                (s.read)(&mut Settings::default(), t.trim()).map_err(bad)?;
                Ok::<f64, Error>(v)
            };
            let (lo, hi) = (number(lo)?, number(hi)?);
            if !(lo.is_finite() && hi.is_finite()) || lo >= hi {
                return Err(bad(format!(
                    "the range {text} is empty: write lo..hi with finite lo < hi"
                )));
            }
            self.axes.push(Axis {
                setting: s,
                choices: Choices::Range { lo, hi },
            });
            return Ok(());
        }
        let values: Vec<String> = text.split('|').map(|v| v.trim().to_string()).collect();
        for v in &values {
            (s.read)(&mut Settings::default(), v).map_err(bad)?;
        }
        match values.as_slice() {
            [one] => (s.read)(&mut self.base, one).map_err(bad),
            _ => {
                self.axes.push(Axis {
                    setting: s,
                    choices: Choices::Values(values),
                });
                Ok(())
            }
        }
    }

    /// Every combination of the alternatives, the last setting added varying fastest.
    pub fn grid(&self) -> Result<Vec<Candidate>> {
        let mut sizes = Vec::with_capacity(self.axes.len());
        for axis in &self.axes {
            match &axis.choices {
                Choices::Values(v) => sizes.push(v.len()),
                Choices::Range { .. } => {
                    return Err(Error::InvalidConfig(format!(
                        "{}: a range is sampled, not a grid: add --random N",
                        axis.setting.name
                    )))
                }
            }
        }
        let total = sizes
            .iter()
            .try_fold(1usize, |n, &k| n.checked_mul(k))
            .filter(|&n| n <= MAX_CANDIDATES)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "the grid has more than {MAX_CANDIDATES} candidates: search fewer values, \
                     or sample some with --random N"
                ))
            })?;
        (0..total)
            .map(|mut i| {
                let mut picks = vec![0; sizes.len()];
                for (pick, &size) in picks.iter_mut().zip(&sizes).rev() {
                    *pick = i % size;
                    i /= size;
                }
                let chosen = self
                    .axes
                    .iter()
                    .zip(picks)
                    .map(|(axis, k)| match &axis.choices {
                        Choices::Values(v) => (axis.setting, v[k].clone()),
                        Choices::Range { .. } => unreachable!("refused above"),
                    });
                self.candidate(chosen)
            })
            .collect()
    }

    /// `n` candidates drawn with `seed`: each setting's alternative uniformly, each range's
    /// number log-uniformly (uniformly where it reaches 0 or below).
    pub fn sample(&self, n: usize, seed: u64) -> Result<Vec<Candidate>> {
        if n == 0 || n > MAX_CANDIDATES {
            return Err(Error::InvalidConfig(format!(
                "--random {n}: a search scores 1 to {MAX_CANDIDATES} candidates"
            )));
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(2);
        (0..n)
            .map(|_| {
                let chosen: Vec<_> = self
                    .axes
                    .iter()
                    .map(|axis| {
                        let text = match &axis.choices {
                            Choices::Values(v) => v[rng.random_range(0..v.len())].clone(),
                            &Choices::Range { lo, hi } => {
                                let u: f64 = rng.random();
                                let x = match lo > 0.0 {
                                    true => (lo.ln() + u * (hi.ln() - lo.ln())).exp(),
                                    false => lo + u * (hi - lo),
                                };
                                number_text(axis.setting, x)
                            }
                        };
                        (axis.setting, text)
                    })
                    .collect();
                self.candidate(chosen.into_iter())
            })
            .collect()
    }

    /// The base with `chosen` over it.
    fn candidate(
        &self,
        chosen: impl Iterator<Item = (&'static Setting, String)>,
    ) -> Result<Candidate> {
        let mut settings = self.base.clone();
        let mut varied = Vec::new();
        for (s, text) in chosen {
            (s.read)(&mut settings, &text)
                .map_err(|e| Error::InvalidConfig(format!("{}: {e}", s.name)))?;
            varied.push((s.name, text));
        }
        Ok(Candidate { settings, varied })
    }
}

/// `x` as setting `s` takes it: four significant digits, or a whole number where it takes
/// only those.
fn number_text(s: &Setting, x: f64) -> String {
    let text = format!("{}", (x * 1e4).round() / 1e4);
    let text = match text.parse::<f64>() {
        Ok(v) if v != 0.0 || x == 0.0 => text,
        _ => format!("{x:.3e}"),
    };
    match (s.read)(&mut Settings::default(), &text) {
        Ok(()) => text,
        Err(_) => format!("{}", x.round() as i64),
    }
}

/// The metric a search ranks by: `name` if given, else ROC AUC (binary), accuracy
/// (multiclass) or R² (regression); with whether higher is better.
pub fn metric_for(task: Task, name: Option<&str>) -> Result<(&'static str, bool)> {
    let names: &[&'static str] = match task {
        Task::Binary => &report::BINARY,
        Task::Multiclass => &report::MULTICLASS,
        Task::Regression => &report::REGRESSION,
    };
    let chosen = match name {
        None => match task {
            Task::Binary => "roc_auc",
            Task::Multiclass => "accuracy",
            Task::Regression => "r2",
        },
        Some(n) => names.iter().copied().find(|&m| m == n).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "--metric {n:?}: a {task} model is scored by one of {}",
                names.join(", ")
            ))
        })?,
    };
    let higher = !matches!(chosen, "log_loss" | "mse" | "rmse" | "mae");
    Ok((chosen, higher))
}

/// One candidate's cross-validation.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its place in the order the space gave the candidates.
    pub index: usize,
    /// The candidate.
    pub candidate: Candidate,
    /// The ranking metric on each fold's held-out rows.
    pub scores: Vec<f64>,
    /// Their mean and sample standard deviation.
    pub mean: f64,
    /// See `mean`.
    pub std: f64,
    /// Every metric of every fold, with their summary.
    pub cv: CrossValidation,
}

/// Candidates ranked by the mean of their metric over the folds, best first (a NaN mean
/// last).
#[derive(Clone, Debug)]
pub struct Leaderboard {
    /// The metric ranked by.
    pub metric: &'static str,
    /// Whether a higher value is better.
    pub higher_is_better: bool,
    /// Folds each candidate was scored on.
    pub folds: usize,
    /// The candidates scored, best first.
    pub entries: Vec<Entry>,
}

impl Leaderboard {
    /// The best candidate, if any was scored.
    pub fn best(&self) -> Option<&Entry> {
        self.entries.first()
    }

    /// What the best candidate's model file records of the search.
    pub fn record(&self) -> Option<SearchRecord> {
        let best = self.best()?;
        Some(SearchRecord {
            metric: self.metric.to_string(),
            mean: best.mean,
            std: best.std,
            folds: best.scores.clone(),
            candidates: self.entries.len(),
            chosen: best
                .candidate
                .varied
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        })
    }
}

/// Candidates cross-validated in one call: their folds train side by side on the GPU (about
/// 64 models at once), and a stop is heard between calls.
const MODELS_AT_ONCE: usize = 64;

/// Scores every candidate by `folds`-fold cross-validation on `table` and ranks them by
/// `metric` (see [`metric_for`]). On the GPU the folds of several candidates train side by
/// side, those of one network shape and optimiser in the same dispatches. `on_entry` sees each
/// candidate's result as it finishes; `stop` is asked between batches of candidates and ends
/// the search with those scored so far.
pub fn search(
    table: &Table,
    candidates: &[Candidate],
    folds: usize,
    metric: Option<&str>,
    device: Device<'_>,
    on_entry: &mut dyn FnMut(&Entry),
    stop: &dyn Fn() -> bool,
) -> Result<Leaderboard> {
    let options: Vec<TrainOptions> = candidates
        .iter()
        .map(|c| c.settings.resolve())
        .collect::<Result<_>>()?;
    let per_call = (MODELS_AT_ONCE / folds.max(1)).max(1);
    let mut entries = Vec::with_capacity(candidates.len());
    // The metric, checked against the first candidate's task before anything trains.
    let mut ranked: Option<(&'static str, bool)> = match options.first() {
        Some(o) => {
            let task = crate::data::prep::label(table, &o.target, o.task, o.missing)?.task;
            Some(metric_for(task, metric)?)
        }
        None => None,
    };
    for (batch, opts) in options.chunks(per_call).enumerate() {
        if stop() {
            break;
        }
        let mut failed = None;
        cross_validate_many(table, opts, folds, device, &mut |k, cv| {
            let index = batch * per_call + k;
            let (name, _) = match ranked {
                Some(r) => r,
                None => match metric_for(cv.task, metric) {
                    Ok(r) => *ranked.insert(r),
                    Err(e) => {
                        failed.get_or_insert(e);
                        return;
                    }
                },
            };
            let summary = cv.summary.iter().find(|s| s.name == name);
            let entry = Entry {
                index,
                candidate: candidates[index].clone(),
                scores: cv.folds.iter().map(|m| value_of(m, name)).collect(),
                mean: summary.map_or(f64::NAN, |s| s.mean),
                std: summary.map_or(f64::NAN, |s| s.std),
                cv: cv.clone(),
            };
            on_entry(&entry);
            entries.push(entry);
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
    }
    let (metric, higher_is_better) = ranked.unwrap_or(("score", true));
    // Best first; a NaN mean last; ties keep the order the space gave.
    let key = |e: &Entry| match (e.mean.is_nan(), higher_is_better) {
        (true, _) => f64::INFINITY,
        (false, true) => -e.mean,
        (false, false) => e.mean,
    };
    entries.sort_by(|a, b| key(a).total_cmp(&key(b)).then(a.index.cmp(&b.index)));
    Ok(Leaderboard {
        metric,
        higher_is_better,
        folds,
        entries,
    })
}

/// Metric `name` of `m`.
fn value_of(m: &Metrics, name: &str) -> f64 {
    m.scalars()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map_or(f64::NAN, |(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> Space {
        Space::new(Settings {
            target: Some("y".into()),
            ..Settings::default()
        })
    }

    #[test]
    fn the_grid_is_every_combination_and_one_value_sets_the_base() {
        let mut s = space();
        s.add("hidden", "32|64,32").unwrap();
        s.add("lr", "0.001|0.003|0.01").unwrap();
        s.add("epochs", "7").unwrap();
        let grid = s.grid().unwrap();
        assert_eq!(grid.len(), 6);
        assert_eq!(grid[0].settings.hidden, Some(vec![32]));
        assert_eq!(grid[5].settings.hidden, Some(vec![64, 32]));
        assert_eq!(grid[5].settings.lr, Some(0.01));
        assert!(grid.iter().all(|c| c.settings.epochs == Some(7)));
        assert_eq!(grid[4].varied[1], ("lr", "0.003".into()));
    }

    #[test]
    fn bad_alternatives_and_ranges_are_refused_with_the_setting_named() {
        let mut s = space();
        let e = s.add("lr", "0.001|fast").unwrap_err().to_string();
        assert!(e.contains("lr") && e.contains("fast"), "{e}");
        let e = s.add("optimizer", "adam|lion").unwrap_err().to_string();
        assert!(e.contains("optimizer") && e.contains("lion"), "{e}");
        assert!(s.add("lr", "0.01..0.001").is_err());
        assert!(s.add("learning-rate", "0.1").is_err());
        s.add("lr", "1e-4..1e-2").unwrap();
        assert!(s.grid().unwrap_err().to_string().contains("--random"));
        let mut big = space();
        for name in ["epochs", "batch-size", "seed", "patience"] {
            big.add(
                name,
                &(1..=10)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            )
            .unwrap();
        }
        assert!(big.grid().unwrap_err().to_string().contains("1000"));
    }

    #[test]
    fn a_sample_is_seeded_and_stays_in_its_ranges() {
        let mut s = space();
        s.add("lr", "1e-4..1e-2").unwrap();
        s.add("batch-size", "16..128").unwrap();
        s.add("activation", "relu|tanh").unwrap();
        let a = s.sample(50, 7).unwrap();
        assert_eq!(
            a,
            s.sample(50, 7).unwrap(),
            "the same seed, the same candidates"
        );
        assert_ne!(a, s.sample(50, 8).unwrap());
        for c in &a {
            let lr = c.settings.lr.unwrap();
            let batch = c.settings.batch_size.unwrap();
            assert!(
                (1e-4..=1e-2).contains(&lr) && (16..=128).contains(&batch),
                "{c:?}"
            );
        }
        // Log-uniform: about half the rates lie below the geometric middle, 1e-3.
        let below = a.iter().filter(|c| c.settings.lr.unwrap() < 1e-3).count();
        assert!((15..=35).contains(&below), "{below} of 50 below 1e-3");
        assert!(s.sample(0, 1).is_err() && s.sample(MAX_CANDIDATES + 1, 1).is_err());
    }

    #[test]
    fn the_metric_follows_the_task_unless_named() {
        assert_eq!(metric_for(Task::Binary, None).unwrap(), ("roc_auc", true));
        assert_eq!(
            metric_for(Task::Multiclass, None).unwrap(),
            ("accuracy", true)
        );
        assert_eq!(metric_for(Task::Regression, None).unwrap(), ("r2", true));
        assert_eq!(
            metric_for(Task::Regression, Some("mae")).unwrap(),
            ("mae", false)
        );
        assert!(metric_for(Task::Regression, Some("roc_auc")).is_err());
    }
}
