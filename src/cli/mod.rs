//! The subcommands: each reads its files, runs the library pipeline on the chosen device and
//! prints a readable report or one JSON object.

pub mod args;
mod job;
mod progress;
mod search;

use args::{BackendArg, Cli, Command, TrainArgs, CHECKPOINT_EVERY, FOLDS};
use clap::ValueEnum;
use gpumlp::check::Outcome;
use gpumlp::data::table::Table;
use gpumlp::error::{Error, Result};
use gpumlp::files::FilePlan;
use gpumlp::gpu::{list_adapters, BackendChoice, GpuOptions};
use gpumlp::job::{Finished, Job, Outputs, ResumeArgs, Stopped};
use gpumlp::model_file::SavedModel;
use gpumlp::options::Settings;
use gpumlp::workflow::{self as pipeline, Device};
use gpumlp::{Checkpoint, Gpu};
use progress::Progress;
use serde_json::json;
use std::path::Path;

/// Runs one command line.
pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Train(args) => train(&cli, args),
        Command::Eval { model, data, plot } => eval(&cli, model, data, plot.as_deref()),
        Command::Predict { model, data, out } => predict(&cli, model, data, out.as_deref()),
        Command::Cv {
            data,
            config,
            settings,
            folds,
        } => {
            let flags = Settings {
                data: data.clone(),
                folds: *folds,
                ..settings.0.clone()
            };
            cv(&cli, merged_single(flags, config.as_deref(), "cv")?)
        }
        Command::Info { model: None } => info(&cli),
        Command::Info { model: Some(model) } => model_info(&cli, model),
        Command::Check => check(&cli),
        Command::Search(args) => search::run(&cli, args),
        Command::Export { model, out } => export(&cli, model, out.as_deref()),
    }
}

/// `gpumlp export`: the model as ONNX, written atomically.
fn export(cli: &Cli, model_path: &Path, out: Option<&Path>) -> Result<()> {
    let flag = if out.is_some() {
        "--out"
    } else {
        "--out (default)"
    };
    let out = out.map_or_else(|| model_path.with_extension("onnx"), Path::to_path_buf);
    FilePlan::new()
        .input("MODEL", model_path)
        .output(flag, &out)
        .check()?;
    // An ONNX file is named so: a slip of the flag cannot replace a data or model file.
    if !out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
    {
        return Err(Error::Output {
            flag: flag.into(),
            path: out.display().to_string(),
            message: "an ONNX model's file name ends in .onnx".into(),
        });
    }
    let model = SavedModel::load(model_path)?;
    gpumlp::onnx::save(&model, &out)?;
    if cli.json {
        print_json(&json!({"command": "export", "model": model_path, "onnx": out}));
    } else if !cli.quiet {
        println!("ONNX model written to {}", out.display());
    }
    Ok(())
}

/// `gpumlp check`: one line per item, a verdict, and an error (non-zero exit) on any failure.
fn check(cli: &Cli) -> Result<()> {
    let Some(gpu) = open_gpu(cli.backend)? else {
        return Err(Error::InvalidConfig(
            "check runs on a GPU adapter; the CPU reference is what it compares with".into(),
        ));
    };
    let report = gpumlp::check::run(&gpu);
    // The items run: skipped ones are counted apart, never as passed.
    let run = report.items.len() - report.skipped();
    if cli.json {
        print_json(&json!({
            "command": "check",
            "passed": report.passed(),
            "failed": report.failures(),
            "skipped": report.skipped(),
            "report": report,
        }));
    } else {
        println!("gpumlp check on {}", report.adapter);
        let width = report.items.iter().map(|i| i.name.chars().count()).max();
        let width = width.unwrap_or(0).max(28);
        println!(
            "{:<width$} {:>14}  {:<24} {:<7} {:>7}  note",
            "item", "worst |gpu-cpu|", "tolerance", "result", "seconds"
        );
        for item in &report.items {
            let worst = item
                .worst_error
                .map_or_else(|| "-".to_string(), |e| format!("{e:.3e}"));
            let tolerance = item.tolerance.map_or_else(
                || "-".to_string(),
                |t| match t == gpumlp::tolerance::EXACT {
                    true => "exact".to_string(),
                    false => format!("{:.0e} + {:.0e}·|want|", t.atol, t.rtol),
                },
            );
            let result = match item.outcome {
                Outcome::Passed => "ok",
                Outcome::Failed => "FAILED",
                Outcome::Skipped => "skipped",
            };
            println!(
                "{:<width$} {worst:>14}  {tolerance:<24} {result:<7} {:>7.2}  {}",
                item.name, item.seconds, item.note
            );
        }
        let skipped = match report.skipped() {
            0 => String::new(),
            n => format!(" ({n} skipped: paths training never takes on this adapter)"),
        };
        match report.passed() {
            true => println!(
                "verdict: all {run} checks passed{skipped} in {:.1} s; gpumlp's GPU results can \
                 be trusted here",
                report.seconds
            ),
            false => println!(
                "verdict: {} of {run} checks FAILED{skipped} in {:.1} s",
                report.failures(),
                report.seconds
            ),
        }
    }
    if report.passed() {
        Ok(())
    } else {
        Err(Error::CheckFailed {
            adapter: report.adapter.clone(),
            failed: report.failures(),
            total: run,
        })
    }
}

/// The GPU the flags ask for; `None` for the CPU reference.
fn open_gpu(backend: BackendArg) -> Result<Option<Gpu>> {
    let mut options = GpuOptions::from_env()?;
    let choice = match backend {
        BackendArg::Cpu => return Ok(None),
        BackendArg::Auto => return Gpu::new(&options).map(Some),
        BackendArg::Vulkan => BackendChoice::Vulkan,
        BackendArg::Metal => BackendChoice::Metal,
        BackendArg::Dx12 => BackendChoice::Dx12,
        BackendArg::Gl => BackendChoice::Gl,
    };
    options.backend = Some(choice);
    Gpu::new(&options).map(Some)
}

fn device(gpu: &Option<Gpu>) -> Device<'_> {
    match gpu {
        Some(gpu) => Device::Gpu(gpu),
        None => Device::Cpu,
    }
}

/// The flags over the `--config` file, if one is named.
fn merged(flags: Settings, config: Option<&Path>) -> Result<Settings> {
    match config {
        Some(path) => Ok(flags.or(Settings::load(path)?)),
        None => Ok(flags),
    }
}

/// [`merged`] for a command that trains one configuration: a `[search]` table is refused
/// rather than ignored.
fn merged_single(flags: Settings, config: Option<&Path>, command: &str) -> Result<Settings> {
    let s = merged(flags, config)?;
    if s.search.is_some() {
        return Err(Error::InvalidConfig(format!(
            "{}: a [search] table lists alternatives for `gpumlp search`; {command} trains one \
             configuration",
            config.map_or_else(String::new, |p| p.display().to_string())
        )));
    }
    Ok(s)
}

fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// The command line that continues a checkpoint.
fn resume_hint(cli: &Cli, checkpoint: &Path) -> String {
    let backend = match cli.backend {
        BackendArg::Auto => String::new(),
        b => format!(
            " --backend {}",
            b.to_possible_value()
                .map(|v| v.get_name().to_string())
                .unwrap_or_default()
        ),
    };
    format!("gpumlp train --resume {}{backend}", checkpoint.display())
}

/// The run `train` was asked for: from the flags and the config file, or from the checkpoint
/// it resumes (with the settings repeated on the command line checked against it).
fn train_job(args: &TrainArgs) -> Result<(Job, Option<Checkpoint>)> {
    let flags = Settings {
        data: args.data.clone(),
        out: args.out.clone(),
        plot: args.plot.clone(),
        metrics_csv: args.metrics_csv.clone(),
        checkpoint: args.checkpoint.clone(),
        checkpoint_every: args.checkpoint_every,
        ..args.settings.0.clone()
    };
    let s = merged_single(flags, args.config.as_deref(), "train")?;
    if s.checkpoint.is_none() && s.checkpoint_every.is_some() {
        return Err(Error::InvalidConfig(
            "--checkpoint-every needs --checkpoint FILE (on a stop, a checkpoint is saved beside \
             the model anyway)"
                .into(),
        ));
    }
    let checkpoint = s
        .checkpoint
        .clone()
        .map(|c| (c, s.checkpoint_every.unwrap_or(CHECKPOINT_EVERY)));
    if let Some(path) = &args.resume {
        let resume = ResumeArgs {
            data: s.data.clone(),
            options: Some(s.unchecked()?),
            given: s.given(),
            out: s.out.clone(),
            plot: s.plot.clone(),
            metrics_csv: s.metrics_csv.clone(),
            checkpoint,
            config: args.config.clone(),
        };
        let (job, checkpoint) = Job::resume(path, &resume)?;
        return Ok((job, Some(checkpoint)));
    }
    let (Some(data), Some(_)) = (&s.data, &s.target) else {
        return Err(Error::InvalidConfig(
            "train needs a data file and --target (on the command line or in --config FILE), \
             or --resume CHECKPOINT"
                .into(),
        ));
    };
    let outputs = Outputs {
        out: s.out.clone(),
        plot: s.plot.clone(),
        metrics_csv: s.metrics_csv.clone(),
        checkpoint,
        config: args.config.clone(),
    };
    let job = Job::new(data, s.resolve()?, outputs)?;
    Ok((job, None))
}

fn train(cli: &Cli, args: &TrainArgs) -> Result<()> {
    let (mut job, resume) = train_job(args)?;
    let gpu = open_gpu(cli.backend)?;
    let dev = device(&gpu);
    let mut progress = Progress::new(cli.quiet, job.options.config.epochs);
    if !cli.json && !cli.quiet {
        eprintln!("adapter: {}", dev.describe());
        if let (Some(c), Some(path)) = (&resume, &args.resume) {
            eprintln!(
                "resuming {}: {} epochs and {} steps done",
                path.display(),
                c.state.epochs_done,
                c.state.partial_losses.len()
            );
        }
    }
    job::install_ctrl_c(&job.checkpoint, job.resumed_from.as_deref());
    let result = job.run(
        resume,
        dev,
        &mut |e, metric| progress.epoch(e, metric),
        &job::stop_requested,
    );
    progress.finish();
    let Finished { trained, report } = match result {
        Ok(finished) => finished,
        Err(Stopped {
            error,
            last_checkpoint,
        }) => {
            let hint = resume_hint(cli, &job.checkpoint);
            match (&error, last_checkpoint) {
                (Error::Interrupted { .. }, _) => eprintln!(
                    "checkpoint saved to {}; continue with: {hint}",
                    job.checkpoint.display()
                ),
                (_, Some(epochs)) => eprintln!(
                    "the last checkpoint, {} (after epoch {epochs}), is intact; continue with: \
                     {hint}",
                    job.checkpoint.display()
                ),
                _ => {}
            }
            return Err(error);
        }
    };
    for skipped in &report.skipped_columns {
        eprintln!("warning: column {skipped:?} was skipped (empty, or an identifier)");
    }
    let meta = &trained.model.meta;
    if cli.json {
        let mut value = serde_json::to_value(&report)
            .map_err(|e| Error::InvalidConfig(format!("cannot write the report: {e}")))?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("command".into(), json!("train"));
        }
        print_json(&value);
    } else {
        println!(
            "{} rows × {} columns → {} inputs; task {} on {:?}{}",
            report.rows,
            report.columns,
            meta.spec.inputs,
            meta.task,
            meta.target,
            class_list(&meta.classes)
        );
        println!(
            "network {} ({} parameters), {} training rows, {} validation rows",
            report.network, report.parameters, report.train_rows, report.val_rows
        );
        let stop = match (report.stopped_early, report.best_epoch) {
            (true, Some(b)) => format!(", stopped early; kept epoch {b}"),
            (false, Some(b)) => format!("; kept the best epoch, {b}"),
            _ => String::new(),
        };
        println!(
            "trained {} epochs in {:.2} s ({:.0} samples/s){stop}; last epoch's training loss \
             {:.4}",
            report.epoch_losses.len(),
            report.train_seconds,
            report.samples_per_sec,
            meta.training.final_train_loss
        );
        println!("\nmetrics on the {} rows:", report.metrics_on);
        println!("{}", trained.metrics.report(&meta.classes));
        println!("model saved to {}", report.model);
        if let Some(plot) = &job.plot {
            println!("loss curves saved to {}", plot.display());
        }
        if let Some(csv) = &job.metrics_csv {
            println!("per-epoch metrics saved to {}", csv.display());
        }
    }
    Ok(())
}

fn class_list(classes: &[String]) -> String {
    if classes.is_empty() {
        String::new()
    } else {
        format!(" (classes: {})", classes.join(", "))
    }
}

fn eval(cli: &Cli, model_path: &Path, data: &Path, plot: Option<&Path>) -> Result<()> {
    let mut files = FilePlan::new()
        .input("MODEL", model_path)
        .input("DATA", data);
    if let Some(plot) = plot {
        files = files.output("--plot", plot);
    }
    files.check()?;
    if let Some(plot) = plot {
        gpumlp::plot::Format::of(plot)?;
    }
    let model = SavedModel::load(model_path)?;
    let table = Table::read(data)?;
    let gpu = open_gpu(cli.backend)?;
    let dev = device(&gpu);
    let evaluated = pipeline::evaluate_rows(&model, &table, dev)?;
    if let Some(plot) = plot {
        evaluated.draw(&model, &table, plot)?;
    }
    let scored = evaluated.truth.len();
    let unlabelled = table.rows.len() - scored;
    // The file the model was trained on: its scores include the rows it learned from.
    let trained_on = model
        .meta
        .training
        .data_checksum
        .as_ref()
        .is_some_and(|want| {
            gpumlp::job::fingerprint(data, None).is_ok_and(|(_, checksum)| checksum == *want)
        });
    let metrics = &evaluated.metrics;
    if cli.json {
        print_json(&json!({
            "command": "eval",
            "model": model_path.display().to_string(),
            "data": table.name,
            "adapter": dev.describe(),
            "task": model.meta.task,
            "rows": table.rows.len(),
            "scored_rows": scored,
            "rows_without_target": unlabelled,
            "training_data": trained_on,
            "metrics": metrics,
            "plot": plot,
        }));
    } else {
        let skipped = match unlabelled {
            0 => String::new(),
            n => format!(
                ", {n} of {} rows without a {:?} value left out",
                table.rows.len(),
                model.meta.target
            ),
        };
        println!(
            "{} on {} ({scored} rows scored{skipped}, task {}):",
            model_path.display(),
            table.name,
            model.meta.task
        );
        if trained_on {
            println!(
                "note: this is the file the model was trained on; these rows include the {} it \
                 learned from, so the metrics overstate how it does on new rows (its validation \
                 metrics: gpumlp info {})",
                model.meta.training.train_rows,
                model_path.display()
            );
        }
        println!("{}", metrics.report(&model.meta.classes));
        if let Some(plot) = plot {
            println!("evaluation plot saved to {}", plot.display());
        }
    }
    Ok(())
}

/// The predictions as CSV (stdout or `--out`), or with `--json` one JSON object: the data
/// row, then the class and each class's probability, or the value. Floats print in their
/// shortest exact form, so they read back bit for bit.
fn predict(cli: &Cli, model_path: &Path, data: &Path, out: Option<&Path>) -> Result<()> {
    let mut files = FilePlan::new()
        .input("MODEL", model_path)
        .input("DATA", data);
    if let Some(out) = out {
        files = files.output("--out", out);
    }
    files.check()?;
    let model = SavedModel::load(model_path)?;
    let table = Table::read(data)?;
    let gpu = open_gpu(cli.backend)?;
    let dev = device(&gpu);
    let predictions = pipeline::predict(&model, &table, dev)?;
    if let Some(path) = out {
        predictions.save(path)?;
    }
    if cli.json {
        let mut report = json!({
            "command": "predict",
            "model": model_path,
            "data": table.name,
            "adapter": dev.describe(),
            "task": model.meta.task,
            "rows": predictions.rows.len(),
            "classes": predictions.classes,
        });
        match out {
            Some(path) => report["out"] = json!(path),
            None => report["predictions"] = predictions.to_json(),
        }
        print_json(&report);
        return Ok(());
    }
    match out {
        Some(path) => {
            if !cli.quiet {
                eprintln!(
                    "{} predictions written to {}",
                    predictions.rows.len(),
                    path.display()
                );
            }
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&predictions.to_csv()?)
                .map_err(|source| Error::Io {
                    path: "stdout".into(),
                    source,
                })?;
        }
    }
    Ok(())
}

/// `gpumlp cv`, on the settings of the flags and the config file (whose output paths it
/// ignores: one file serves train and cv).
fn cv(cli: &Cli, settings: Settings) -> Result<()> {
    let (Some(data), Some(target)) = (&settings.data, &settings.target) else {
        return Err(Error::InvalidConfig(
            "cv needs a data file and --target (on the command line or in --config FILE)".into(),
        ));
    };
    let folds = settings.folds.unwrap_or(FOLDS);
    let opts = settings.resolve()?;
    gpumlp::workflow::streamed::check_fits(data, &opts, "cv")?;
    let table = Table::read(data)?;
    let gpu = open_gpu(cli.backend)?;
    let dev = device(&gpu);
    if !cli.json && !cli.quiet {
        eprintln!("adapter: {}", dev.describe());
    }
    let quiet = cli.quiet;
    let result = pipeline::cross_validate(&table, &opts, folds, dev, &mut |f, metrics| {
        if !quiet {
            let (name, value) = metrics.headline();
            eprintln!("fold {f}/{folds}: {name} {value:.4}");
        }
    })?;
    if cli.json {
        let summary: serde_json::Map<String, serde_json::Value> = result
            .summary
            .iter()
            .map(|s| (s.name.clone(), json!({"mean": s.mean, "std": s.std})))
            .collect();
        print_json(&json!({
            "command": "cv",
            "data": table.name,
            "adapter": dev.describe(),
            "task": result.task,
            "folds": folds,
            "train_seconds": result.train_seconds,
            "metrics": summary,
            "fold_metrics": result.folds,
        }));
    } else {
        println!(
            "{folds}-fold cross-validation of {} on {:?} ({}):",
            table.name, target, result.task
        );
        for s in &result.summary {
            println!("  {:<16} {:.4} ± {:.4}", s.name, s.mean, s.std);
        }
        println!("training took {:.2} s over all folds", result.train_seconds);
    }
    Ok(())
}

/// `gpumlp info MODEL`: what a model file says about itself.
fn model_info(cli: &Cli, model_path: &Path) -> Result<()> {
    let model = SavedModel::load(model_path)?;
    if cli.json {
        let meta = serde_json::to_value(&model.meta)
            .map_err(|e| Error::InvalidConfig(format!("cannot write the report: {e}")))?;
        print_json(&json!({
            "command": "info",
            "model": model_path,
            "parameters": model.mlp.num_params(),
            "meta": meta,
        }));
    } else {
        println!("{}", model_path.display());
        print!("{}", model.describe());
    }
    Ok(())
}

fn info(cli: &Cli) -> Result<()> {
    let mut options = GpuOptions::from_env()?;
    if let Some(choice) = match cli.backend {
        BackendArg::Vulkan => Some(BackendChoice::Vulkan),
        BackendArg::Metal => Some(BackendChoice::Metal),
        BackendArg::Dx12 => Some(BackendChoice::Dx12),
        BackendArg::Gl => Some(BackendChoice::Gl),
        BackendArg::Auto | BackendArg::Cpu => None,
    } {
        options.backend = Some(choice);
    }
    let adapters = list_adapters(&options);
    if cli.json {
        let list: Vec<_> = adapters
            .iter()
            .map(|a| {
                let l = a.limits.clone().unwrap_or_default();
                json!({
                    "name": a.name,
                    "backend": format!("{:?}", a.backend),
                    "type": format!("{:?}", a.device_type),
                    "driver": a.driver,
                    "max_storage_buffer_binding_size": l.max_storage_buffer_binding_size,
                    "max_buffer_size": l.max_buffer_size,
                    "max_storage_buffers_per_shader_stage": l.max_storage_buffers_per_shader_stage,
                    "max_compute_workgroup_size_x": l.max_compute_workgroup_size_x,
                    "max_compute_invocations_per_workgroup": l.max_compute_invocations_per_workgroup,
                    "max_compute_workgroup_storage_size": l.max_compute_workgroup_storage_size,
                    "max_compute_workgroups_per_dimension": l.max_compute_workgroups_per_dimension,
                })
            })
            .collect();
        print_json(&json!({"command": "info", "adapters": list}));
        return Ok(());
    }
    if adapters.is_empty() {
        println!("no GPU adapter found; `--backend cpu` still trains on the CPU reference.");
        println!(
            "To get a software adapter on Linux: apt-get install mesa-vulkan-drivers \
             (lavapipe), or libegl1 libgl1-mesa-dri (llvmpipe through GL)."
        );
        return Ok(());
    }
    for (i, a) in adapters.iter().enumerate() {
        let first = if i == 0 { "  (used by default)" } else { "" };
        println!("{}. {}{first}", i + 1, a.name);
        println!("   backend {:?}, type {:?}", a.backend, a.device_type);
        if !a.driver.is_empty() {
            println!("   driver {}", a.driver);
        }
        if let Some(l) = &a.limits {
            println!(
                "   max storage binding {} MiB, max buffer {} MiB, {} storage buffers per stage",
                l.max_storage_buffer_binding_size >> 20,
                l.max_buffer_size >> 20,
                l.max_storage_buffers_per_shader_stage
            );
            println!(
                "   workgroup: up to {} invocations, {} KiB shared memory; {} workgroups per \
                 dimension",
                l.max_compute_invocations_per_workgroup,
                l.max_compute_workgroup_storage_size >> 10,
                l.max_compute_workgroups_per_dimension
            );
        }
    }
    Ok(())
}
