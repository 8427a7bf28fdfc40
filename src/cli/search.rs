//! `gpumlp search`: the search space from the flags and the config's `[search]` table, the
//! candidates' cross-validation, the leaderboard, and the best candidate refitted and saved.

use super::args::{Cli, SearchArgs, FOLDS};
use super::{device, job, merged, open_gpu, print_json, progress::Progress};
use gpumlp::data::table::Table;
use gpumlp::error::{Error, Result};
use gpumlp::job::{Finished, Job, Outputs};
use gpumlp::options::{Settings, TrainOptions};
use gpumlp::search::{self, Entry, Leaderboard, Space};
use gpumlp::workflow::Device;
use serde_json::json;
use std::path::PathBuf;

pub fn run(cli: &Cli, args: &SearchArgs) -> Result<()> {
    let flags = Settings {
        data: args.data.clone(),
        folds: args.folds,
        out: args.out.clone(),
        ..Settings::default()
    };
    let s = merged(flags, args.config.as_deref())?;
    let mut space = Space::new(Settings {
        search: None,
        ..s.clone()
    });
    // The file's alternatives first; a flag replaces those of its setting.
    for (name, text) in s.search.iter().flatten() {
        if !args.space.0.iter().any(|(flag, _)| flag == name) {
            space.add(name, text)?;
        }
    }
    for (name, text) in &args.space.0 {
        space.add(name, text)?;
    }
    let (Some(data), Some(_)) = (&space.base.data, &space.base.target) else {
        return Err(Error::InvalidConfig(
            "search needs a data file and --target (on the command line or in --config FILE)"
                .into(),
        ));
    };
    let data = data.clone();
    let folds = s.folds.unwrap_or(FOLDS);
    let seed = space
        .base
        .seed
        .unwrap_or(TrainOptions::default().config.seed);
    let candidates = match args.random {
        Some(n) => space.sample(n, seed)?,
        None => space.grid()?,
    };
    // Every candidate's settings are checked before any trains.
    let mut resolved = Vec::with_capacity(candidates.len());
    for c in &candidates {
        resolved.push(c.settings.resolve()?);
    }
    // The tightest bound any candidate sets.
    if let Some(opts) = resolved.iter().min_by_key(|o| o.max_memory.bytes()) {
        gpumlp::workflow::streamed::check_fits(&data, opts, "search")?;
    }
    let table = Table::read(&data)?;
    let gpu = open_gpu(cli.backend)?;
    let dev = device(&gpu);
    let talk = !cli.json && !cli.quiet;
    if talk {
        eprintln!("adapter: {}", dev.describe());
        eprintln!(
            "scoring {} candidates by {folds}-fold cross-validation",
            candidates.len()
        );
    }
    job::install_ctrl_c_search();
    let total = candidates.len();
    let board = search::search(
        &table,
        &candidates,
        folds,
        args.metric.as_deref(),
        dev,
        &mut |e| {
            if talk {
                eprintln!(
                    "candidate {}/{total}: {:.4} ± {:.4} ({}) in {:.2} s",
                    e.index + 1,
                    e.mean,
                    e.std,
                    varied(e),
                    e.cv.train_seconds
                );
            }
        },
        &job::stop_requested,
    )?;
    let stopped = board.entries.len() < total;
    let refit = match (board.best(), stopped) {
        (Some(best), false) => Some(refit(cli, dev, &board, best, &data, &space, args)?),
        _ => None,
    };
    report(cli, &board, &table.name, total, refit.as_ref());
    match stopped {
        true => Err(Error::SearchStopped {
            scored: board.entries.len(),
            total,
        }),
        false => Ok(()),
    }
}

/// The settings a candidate chose, as `lr 0.003, weight-decay 0`.
fn varied(e: &Entry) -> String {
    match e.candidate.varied.as_slice() {
        [] => "the base settings".into(),
        v => v
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The best candidate trained on all rows (its own validation split included, as `train`
/// does) and saved, with what the search measured of it in the model file.
fn refit(
    cli: &Cli,
    dev: Device<'_>,
    board: &Leaderboard,
    best: &Entry,
    data: &std::path::Path,
    space: &Space,
    args: &SearchArgs,
) -> Result<(Finished, PathBuf)> {
    let options = best.candidate.settings.resolve()?;
    let outputs = Outputs {
        out: space.base.out.clone(),
        plot: None,
        metrics_csv: None,
        checkpoint: None,
        config: args.config.clone(),
    };
    let mut job = Job::new(data, options, outputs)?;
    job.search = board.record();
    let mut progress = Progress::new(cli.quiet || cli.json, job.options.config.epochs);
    if !cli.json && !cli.quiet {
        eprintln!("refitting the best candidate on all rows");
    }
    let result = job.run(
        None,
        dev,
        &mut |e, metric| progress.epoch(e, metric),
        &job::stop_requested,
    );
    progress.finish();
    let finished = result.map_err(|stopped| stopped.error)?;
    Ok((finished, job.out.clone()))
}

/// The leaderboard, and where the best candidate went.
fn report(
    cli: &Cli,
    board: &Leaderboard,
    data: &str,
    total: usize,
    refit: Option<&(Finished, PathBuf)>,
) {
    let model = refit.map(|(_, path)| path.display().to_string());
    if cli.json {
        let entries: Vec<_> = board
            .entries
            .iter()
            .enumerate()
            .map(|(rank, e)| {
                let summary: serde_json::Map<String, serde_json::Value> =
                    e.cv.summary
                        .iter()
                        .map(|s| (s.name.clone(), json!({"mean": s.mean, "std": s.std})))
                        .collect();
                let chosen: serde_json::Map<String, serde_json::Value> = e
                    .candidate
                    .varied
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect();
                json!({
                    "rank": rank + 1,
                    "candidate": e.index + 1,
                    "settings": chosen,
                    "mean": e.mean,
                    "std": e.std,
                    "scores": e.scores,
                    "train_seconds": e.cv.train_seconds,
                    "metrics": summary,
                    "fold_metrics": e.cv.folds,
                })
            })
            .collect();
        print_json(&json!({
            "command": "search",
            "data": data,
            "metric": board.metric,
            "higher_is_better": board.higher_is_better,
            "folds": board.folds,
            "candidates": total,
            "scored": board.entries.len(),
            "leaderboard": entries,
            "model": model,
            "refit_train_seconds": refit.map(|(f, _)| f.report.train_seconds),
        }));
        return;
    }
    let order = if board.higher_is_better {
        "higher"
    } else {
        "lower"
    };
    println!(
        "{} of {total} candidates on {data}, {}-fold cross-validation, ranked by {} ({order} is \
         better):",
        board.entries.len(),
        board.folds,
        board.metric
    );
    println!(
        "  {:>4}  {:<20} {:>8}  settings",
        "rank",
        format!("{} (mean ± sd)", board.metric),
        "seconds"
    );
    for (rank, e) in board.entries.iter().enumerate() {
        println!(
            "  {:>4}  {:<20} {:>8.2}  {}",
            rank + 1,
            format!("{:.4} ± {:.4}", e.mean, e.std),
            e.cv.train_seconds,
            varied(e)
        );
    }
    if let (Some(best), Some(path)) = (board.best(), model) {
        println!(
            "best: {}; refitted on all rows and saved to {path}",
            varied(best)
        );
    }
}
