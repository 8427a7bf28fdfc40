//! The `gpumlp` command end to end, as a user runs it: real CSV files in, models, reports,
//! predictions and plots out, and a clear one-line error (never a panic, never a partial
//! file) for each kind of bad input. GPU runs use the adapter GPUMLP_BACKEND picks.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const BREAST_CANCER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/breast_cancer.csv"
);

/// Runs the command as a user on a headless machine would: with no XDG_RUNTIME_DIR, so that
/// a driver's complaint about it would show up as an extra stderr line.
pub(crate) fn gpumlp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpumlp"))
        .args(args)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("gpumlp runs")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; returns stdout.
pub(crate) fn ok(args: &[&str]) -> String {
    let out = gpumlp(args);
    assert!(
        out.status.success(),
        "gpumlp {args:?} failed ({}).\nstderr: {}\nIf no adapter was found, install Mesa's \
         lavapipe (apt-get install mesa-vulkan-drivers) or run with a GPU.",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs a command that must fail cleanly; returns its one-line message.
pub(crate) fn fails(args: &[&str]) -> String {
    let out = gpumlp(args);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "gpumlp {args:?} must fail with exit code 1; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    errors[0].to_string()
}

pub(crate) fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("stdout is one JSON object ({e}): {stdout}"))
}

pub(crate) fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

pub(crate) fn write(dir: &Path, name: &str, contents: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p.display().to_string()
}

/// A table as users have them: text columns, numbers, missing values spelled four ways, three
/// text classes and a numeric target. Deterministic.
pub(crate) fn messy_csv(rows: usize) -> String {
    let mut s = String::from("id,colour,size,weight,shape,animal,price\n");
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64) / (1u64 << 31) as f64
    };
    for i in 0..rows {
        let colour = ["red", "green", "blue"][(next() * 3.0) as usize % 3];
        let size = next() * 10.0;
        let weight = 2.0 * size + next();
        let shape = ["round", "square"][(next() * 2.0) as usize % 2];
        let animal = match (colour, size > 5.0) {
            ("red", _) => "cat",
            (_, true) => "dog",
            _ => "bird",
        };
        let price = 3.0 * size + if colour == "red" { 5.0 } else { 0.0 };
        let size_cell = match i % 17 {
            3 => "NA".to_string(),
            9 => String::new(),
            _ => format!("{size:.3}"),
        };
        let weight_cell = if i % 23 == 5 {
            "?".into()
        } else {
            format!("{weight:.3}")
        };
        let shape_cell = if i % 19 == 7 { "null" } else { shape };
        s += &format!("{i},{colour},{size_cell},{weight_cell},{shape_cell},{animal},{price:.3}\n");
    }
    s
}

#[test]
fn train_eval_predict_on_breast_cancer() {
    let dir = tempfile::tempdir().unwrap();
    let model = path(dir.path(), "bc.safetensors");
    let plot = path(dir.path(), "curves.svg");
    let out = ok(&[
        "train",
        BREAST_CANCER,
        "--target",
        "malignant",
        "--epochs",
        "40",
        "--out",
        &model,
        "--plot",
        &plot,
        "--json",
    ]);
    let report = json(&out);
    for key in [
        "train_seconds",
        "epochs",
        "samples_per_sec",
        "final_train_loss",
        "adapter",
    ] {
        assert!(
            report.get(key).is_some(),
            "train --json has {key}: {report}"
        );
    }
    let epochs = report["epochs"].as_u64().unwrap() as usize;
    assert_eq!(report["epoch_losses"].as_array().unwrap().len(), epochs);
    assert_eq!(report["task"], "binary");
    let acc = report["metrics"]["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.93, "validation accuracy {acc}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("validation loss"),
        "{svg:.200}"
    );

    let eval = json(&ok(&["eval", &model, BREAST_CANCER, "--json"]));
    let eval_acc = eval["metrics"]["accuracy"].as_f64().unwrap();
    assert!(eval_acc >= 0.95, "accuracy on all rows {eval_acc}");
    assert!(eval["metrics"]["roc_auc"].as_f64().unwrap() > 0.98);

    // Loading the model again gives bit-identical predictions.
    let p1 = path(dir.path(), "p1.csv");
    ok(&["predict", &model, BREAST_CANCER, "--out", &p1]);
    let stdout = ok(&["predict", &model, BREAST_CANCER]);
    let written = std::fs::read_to_string(&p1).unwrap();
    assert_eq!(written, stdout, "the same model predicts the same bits");
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines[0], "row,prediction,p_0,p_1");
    assert_eq!(lines.len(), 570);

    // The CPU reference agrees with the GPU on every probability.
    let cpu = ok(&["predict", &model, BREAST_CANCER, "--backend", "cpu"]);
    let probs = |csv: &str| -> Vec<f32> {
        csv.lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
            .collect()
    };
    let (g, c) = (probs(&written), probs(&cpu));
    let close = gpumlp::tolerance::Tolerance::new(1e-5, 0.0).compare(&g, &c);
    assert!(close.passed(), "gpu and cpu probabilities: {close}");
}

#[test]
fn readable_report_without_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = path(dir.path(), "m.safetensors");
    let out = ok(&[
        "train",
        BREAST_CANCER,
        "--target",
        "malignant",
        "--epochs",
        "5",
        "--out",
        &model,
        "--hidden",
        "8",
        "--activation",
        "tanh",
        "--lr-schedule",
        "cosine",
    ]);
    for needle in [
        "task binary",
        "accuracy",
        "roc_auc",
        "confusion matrix",
        "model saved to",
    ] {
        assert!(out.contains(needle), "report mentions {needle}: {out}");
    }
}

#[test]
fn messy_multiclass_and_regression_tables() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "animals.csv", &messy_csv(400));
    let model = path(dir.path(), "animals.safetensors");
    let report = json(&ok(&[
        "train",
        &data,
        "--target",
        "animal",
        "--epochs",
        "150",
        "--lr",
        "0.01",
        "--out",
        &model,
        "--json",
        "--class-weight",
        "balanced",
        "--optimizer",
        "adamw",
        "--weight-decay",
        "0.001",
        "--lr-schedule",
        "plateau",
    ]));
    assert_eq!(report["task"], "multiclass");
    assert_eq!(report["classes"], serde_json::json!(["bird", "cat", "dog"]));
    let acc = report["metrics"]["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.9, "multiclass validation accuracy {acc}");
    assert!(report["metrics"]["macro_f1"].as_f64().is_some());

    // Predict on rows whose columns come in another order, without the target.
    let predict_csv = "price,shape,weight,size,colour,id\n1,round,3.1,1.5,red,0\n\
                       1,square,17,8.2,blue,1\n1,,2,1,green,2\n";
    let unseen = write(dir.path(), "unseen.csv", predict_csv);
    let out = ok(&["predict", &model, &unseen]);
    let labels: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(labels, ["cat", "dog", "bird"], "{out}");
    assert!(
        out.starts_with("row,prediction,p_bird,p_cat,p_dog"),
        "{out}"
    );

    let reg = json(&ok(&[
        "train",
        &data,
        "--target",
        "price",
        "--epochs",
        "150",
        "--out",
        &path(dir.path(), "price.safetensors"),
        "--json",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--lr-schedule",
        "step",
    ]));
    assert_eq!(reg["task"], "regression");
    let r2 = reg["metrics"]["r2"].as_f64().unwrap();
    assert!(r2 >= 0.95, "regression R² {r2}");

    let cv = json(&ok(&[
        "cv", &data, "--target", "animal", "--folds", "3", "--epochs", "40", "--lr", "0.01",
        "--json",
    ]));
    let mean = cv["metrics"]["accuracy"]["mean"].as_f64().unwrap();
    let std = cv["metrics"]["accuracy"]["std"].as_f64().unwrap();
    assert!(
        mean >= 0.85 && std.is_finite(),
        "cv accuracy {mean} ± {std}"
    );
    assert_eq!(cv["fold_metrics"].as_array().unwrap().len(), 3);
}

#[test]
fn cv_on_breast_cancer_reports_every_metric() {
    let cv = json(&ok(&[
        "cv",
        BREAST_CANCER,
        "--target",
        "malignant",
        "--folds",
        "3",
        "--epochs",
        "30",
        "--json",
    ]));
    for metric in [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
    ] {
        let m = &cv["metrics"][metric];
        assert!(
            m["mean"].as_f64().is_some() && m["std"].as_f64().is_some(),
            "{metric}: {cv}"
        );
    }
    assert!(cv["metrics"]["accuracy"]["mean"].as_f64().unwrap() >= 0.93);
}

#[test]
fn info_lists_adapters() {
    let out = json(&ok(&["info", "--json"]));
    let adapters = out["adapters"].as_array().unwrap();
    assert!(!adapters.is_empty(), "at least one adapter: {out}");
    assert!(
        adapters[0]["max_storage_buffer_binding_size"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// Bad input of every kind: a one-line error naming the file (and line and column where they
/// apply), exit code 1, and no model or prediction file left behind.
#[test]
fn bad_inputs_give_one_line_errors_and_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model_out = path(d, "never.safetensors");
    let train = |data: &str, target: &str| {
        fails(&[
            "train", data, "--target", target, "--epochs", "2", "--out", &model_out,
        ])
    };

    let missing = path(d, "nope.csv");
    let e = train(&missing, "y");
    assert!(e.contains("nope.csv"), "{e}");

    let good = write(d, "good.csv", "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n");
    let e = train(&good, "label");
    assert!(
        e.contains("good.csv") && e.contains("\"label\"") && e.contains("a, b, y"),
        "{e}"
    );

    let ragged = write(d, "ragged.csv", "a,b,y\n1,2,0\n3,1\n5,6,0\n");
    let e = train(&ragged, "y");
    assert!(e.contains("ragged.csv, line 3"), "{e}");

    let mut rows = String::from("a,b,y\n");
    for i in 0..40 {
        rows += &format!(
            "{i},{},{}\n",
            if i == 30 { "abc".into() } else { i.to_string() },
            i % 2
        );
    }
    let bad_number = write(d, "badnum.csv", &rows);
    let e = train(&bad_number, "y");
    assert!(
        e.contains("badnum.csv, line 32, column \"b\"") && e.contains("abc"),
        "{e}"
    );

    // Infinite numbers in a numeric column: refused by file, line and column, never
    // standardised into NaN inputs (`nan` itself is a missing cell).
    for (i, spelling) in ["inf", "-inf", "1e999", "-Infinity"].iter().enumerate() {
        let rows = rows
            .replace("abc", spelling)
            .replace("\n7,7,1\n", "\n7,nan,1\n");
        let file = format!("inf{i}.csv");
        let e = train(&write(d, &file, &rows), "y");
        assert!(
            e.contains(&format!("{file}, line 32, column \"b\""))
                && e.contains(spelling)
                && e.contains("not a finite number"),
            "{e}"
        );
    }

    let empty = write(d, "empty.csv", "");
    assert!(train(&empty, "y").contains("empty.csv"));

    let one_class = write(d, "one.csv", "a,y\n1,1\n2,1\n3,1\n");
    let e = train(&one_class, "y");
    assert!(e.contains("one.csv") && e.contains("one class"), "{e}");

    let e = fails(&[
        "train",
        &good,
        "--target",
        "y",
        "--plot",
        &path(d, "c.jpg"),
        "--out",
        &model_out,
    ]);
    assert!(e.contains(".svg"), "{e}");
    assert!(
        !Path::new(&model_out).exists(),
        "no model written after a failure"
    );

    // Model files that are not ours, damaged, or truncated.
    let model = path(d, "m.safetensors");
    ok(&[
        "train",
        &good,
        "--target",
        "y",
        "--epochs",
        "2",
        "--val-fraction",
        "0",
        "--out",
        &model,
        "-q",
    ]);
    let bytes = std::fs::read(&model).unwrap();
    let not_ours = write(d, "notours.safetensors", "a,b\n1,2\n");
    let truncated = d.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 7]).unwrap();
    let mut flipped = bytes.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x10;
    let flipped_path = d.join("flipped.safetensors");
    std::fs::write(&flipped_path, &flipped).unwrap();
    let preds = path(d, "preds.csv");
    for bad in [
        PathBuf::from(&not_ours),
        truncated,
        flipped_path,
        PathBuf::from(path(d, "absent.safetensors")),
    ] {
        let bad = bad.display().to_string();
        let e = fails(&["predict", &bad, &good, "--out", &preds]);
        assert!(e.contains(&bad), "{e}");
        assert!(
            !Path::new(&preds).exists(),
            "no predictions written after a failure"
        );
    }

    // A predict file without a column the model needs, and one with text where it had numbers.
    let wrong_columns = write(d, "wrong.csv", "a,c\n1,2\n");
    let e = fails(&["predict", &model, &wrong_columns, "--out", &preds]);
    assert!(e.contains("wrong.csv") && e.contains("\"b\""), "{e}");
    let text_in_numbers = write(d, "text.csv", "a,b\n1,2\n3,x\n");
    let e = fails(&["predict", &model, &text_in_numbers, "--out", &preds]);
    assert!(e.contains("text.csv, line 3, column \"b\""), "{e}");
    assert!(!Path::new(&preds).exists());

    // A learning rate that makes training blow up: the error names the epoch and step.
    let mut rows = String::from("a,b,y\n");
    for i in 0..40 {
        rows += &format!("{i},{},{}\n", 40 - i, 1000 * i);
    }
    let big = write(d, "big.csv", &rows);
    let e = fails(&[
        "train",
        &big,
        "--target",
        "y",
        "--optimizer",
        "sgd",
        "--lr",
        "1000",
        "--out",
        &model_out,
    ]);
    assert!(
        e.contains("diverged at epoch") && e.contains("learning rate"),
        "{e}"
    );
    assert!(!Path::new(&model_out).exists());

    // An eval file with a label the model never saw.
    let new_label = write(d, "newlabel.csv", "a,b,y\n1,2,7\n");
    let e = fails(&["eval", &model, &new_label]);
    assert!(e.contains("newlabel.csv, line 2, column \"y\""), "{e}");
}

#[test]
fn check_passes_on_this_adapter_and_prints_a_line_per_item() {
    let out = ok(&["check"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("gpumlp check on "), "{out}");
    for item in [
        "loop budget",
        "matmul block8",
        "loss bce",
        "train fused mse adamw",
    ] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(item))
            .unwrap_or_else(|| panic!("a line for {item}: {out}"));
        assert!(line.contains(" ok "), "{line}");
    }
    assert!(lines.last().unwrap().starts_with("verdict: all "), "{out}");
    let report = json(&ok(&["check", "--json"]));
    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let items = report["report"]["items"].as_array().unwrap();
    assert!(items.len() >= 20, "{report}");
    // Each item ran and passed, or was skipped, visibly and saying why; never both.
    let skipped: Vec<&Value> = items.iter().filter(|i| i["outcome"] == "skipped").collect();
    assert!(
        items
            .iter()
            .all(|i| i["outcome"] == "passed" || i["outcome"] == "skipped"),
        "{report}"
    );
    assert_eq!(report["skipped"], skipped.len(), "{report}");
    for item in items.iter().filter(|i| i["outcome"] == "passed") {
        assert!(
            item["name"] == "loop budget" || item["worst_error"].is_number(),
            "passed without being compared: {item}"
        );
    }
    for item in &skipped {
        assert!(
            item["worst_error"].is_null() && !item["note"].as_str().unwrap().is_empty(),
            "{item}"
        );
        let name = item["name"].as_str().unwrap();
        let line = lines.iter().find(|l| l.starts_with(name)).unwrap();
        assert!(line.contains(" skipped "), "{line}");
    }
    if !skipped.is_empty() {
        assert!(lines.last().unwrap().contains(" skipped"), "{out}");
    }
}

/// Runs gpumlp with `GPUMLP_FAULT` set: the named module compiled wrong on purpose (see
/// src/gpu/pipelines.rs), its verdicts kept in a cache of their own.
fn with_fault(program: &str, module: &str, args: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    Command::new(program)
        .args(args)
        .env_remove("XDG_RUNTIME_DIR")
        .env("GPUMLP_FAULT", module)
        .env("GPUMLP_CACHE_DIR", cache.path())
        .output()
        .expect("it runs")
}

/// Runs `gpumlp check` with `module` compiled wrong: it must exit 1 with exactly one item
/// FAILED, the one named `item`. Returns its stdout and stderr.
fn check_failing_only(module: &str, item: &str) -> (String, String) {
    let out = with_fault(env!("CARGO_BIN_EXE_gpumlp"), module, &["check"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let failed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" FAILED ") && !l.starts_with("verdict"))
        .collect();
    assert_eq!(failed.len(), 1, "only the wrong kernel fails: {stdout}");
    assert!(failed[0].starts_with(&format!("{item} ")), "{stdout}");
    (stdout, stderr)
}

/// A kernel that computes the wrong thing fails `gpumlp check` with a non-zero exit; training
/// on the same adapter does not use it.
#[test]
fn check_fails_on_a_deliberately_wrong_kernel() {
    let (stdout, stderr) = check_failing_only("matmul block8", "matmul block8");
    let verdict = stdout.lines().last().unwrap();
    assert!(verdict.starts_with("verdict: 1 of "), "{verdict}");
    assert!(
        stderr.contains("error: 1 of ") && stderr.contains("do not trust GPU results"),
        "{stderr}"
    );
    // The training runs took another variant, and passed.
    for line in stdout.lines().filter(|l| l.starts_with("train per-op ")) {
        assert!(line.contains(" ok "), "{line}");
    }
}

/// The kernel generated per network, computing the wrong thing, fails its own check item and
/// nothing else: the training runs that would take it take another path, and pass.
#[test]
fn check_fails_on_a_deliberately_wrong_generated_kernel() {
    check_failing_only("fused_unrolled", "fused kernel, unrolled");
}

/// The benchmark validates before it times: a kernel that fails validation is reported, and
/// the run exits non-zero (validation only here: `--quick` times for half a minute more, and
/// ends the same way).
#[test]
fn bench_exits_non_zero_when_a_kernel_fails_validation() {
    let out = with_fault(
        env!("CARGO_BIN_EXE_bench"),
        "matmul block8",
        &["--quick", "--validate-only", "--json"],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report = json(&stdout);
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 3, "each product of block8: {failures:?}");
    assert!(
        failures
            .iter()
            .all(|f| f.as_str().unwrap().starts_with("matmul block8 ")),
        "{failures:?}"
    );
    assert!(
        stderr.contains("error: 3 failed validation") && stderr.contains("matmul block8"),
        "{stderr}"
    );
    // The other kernels and the workloads were validated, and passed.
    let matmul = report["matmul"].as_array().unwrap();
    assert!(
        matmul
            .iter()
            .any(|r| r["variant"] == "block4" && r["validated"] == true),
        "{report}"
    );
    let workloads = report["workloads"].as_array().unwrap();
    assert!(
        workloads.len() == 3 && workloads.iter().all(|w| w["validated"] == true),
        "{report}"
    );
}

/// A resumed run writes where its command line says, or to the files its checkpoint recorded
/// when they are the run's own; repeating the original command with `--resume` works when its
/// settings agree, and a checkpoint that names someone else's file is refused.
#[test]
fn resume_writes_only_the_runs_own_files_and_checks_repeated_settings() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("models");
    std::fs::create_dir(&other).unwrap();
    let data = write(dir.path(), "t.csv", &messy_csv(80));
    let ck = path(dir.path(), "run.ckpt");
    let model = other.join("m.safetensors").display().to_string();
    let run = [
        "train",
        &data,
        "--target",
        "animal",
        "--backend",
        "cpu",
        "--epochs",
        "3",
        "-q",
        "--checkpoint",
        &ck,
        "--checkpoint-every",
        "1",
        "--out",
        &model,
    ];
    ok(&run);
    // The model exists and carries the run's name: the checkpoint may write it again.
    ok(&["train", "--resume", &ck, "--backend", "cpu", "-q"]);
    // Gone, and not beside the checkpoint: the resume asks for --out.
    std::fs::remove_file(&model).unwrap();
    let e = fails(&["train", "--resume", &ck, "--backend", "cpu", "-q"]);
    assert!(
        e.contains("run.ckpt") && e.contains("model") && e.contains("out"),
        "{e}"
    );
    let named = path(dir.path(), "named.safetensors");
    ok(&[
        "train",
        "--resume",
        &ck,
        "--backend",
        "cpu",
        "-q",
        "--out",
        &named,
    ]);
    assert!(Path::new(&named).exists());
    // The same command again, with --resume: accepted; with another setting: refused by name.
    ok(&[&run[..], &["--resume", &ck]].concat());
    let mut changed = run.to_vec();
    changed[7] = "5";
    let e = fails(&[&changed[..], &["--resume", &ck]].concat());
    assert!(e.contains("epochs 3, not 5"), "{e}");

    // A checkpoint whose recorded model is someone else's file: refused, the file untouched.
    let victim = dir.path().join("notes.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let good = std::fs::read(&ck).unwrap();
    let forged =
        crate::common::lies::rewrite(crate::common::lies::Kind::Checkpoint, &good, |meta| {
            meta["job"]["out"] = serde_json::Value::String(victim.display().to_string());
        });
    let forged_path = dir.path().join("forged.ckpt");
    std::fs::write(&forged_path, forged).unwrap();
    let e = fails(&[
        "train",
        "--resume",
        &forged_path.display().to_string(),
        "-q",
        "--backend",
        "cpu",
    ]);
    assert!(
        e.contains("notes.txt") && e.contains("not this run's own"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}

/// The parts of ONNX's protobuf messages the export test reads, written here from
/// onnx/onnx.proto's field numbers (and not taken from src/onnx), so that the file is decoded
/// as any ONNX runtime would decode it.
mod onnx {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Model {
        #[prost(int64, tag = "1")]
        pub ir_version: i64,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<Graph>,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OpsetId>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OpsetId {
        #[prost(string, tag = "1")]
        pub domain: String,
        #[prost(int64, tag = "2")]
        pub version: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Graph {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<Node>,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<Tensor>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfo>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfo>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Node {
        #[prost(string, repeated, tag = "1")]
        pub input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub output: Vec<String>,
        #[prost(string, tag = "4")]
        pub op_type: String,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<Attribute>,
        #[prost(string, tag = "7")]
        pub domain: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Attribute {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(bytes = "vec", tag = "4")]
        pub s: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tensor {
        #[prost(int64, repeated, tag = "1")]
        pub dims: Vec<i64>,
        #[prost(int32, tag = "2")]
        pub data_type: i32,
        #[prost(float, repeated, tag = "4")]
        pub float_data: Vec<f32>,
        #[prost(string, tag = "8")]
        pub name: String,
        #[prost(bytes = "vec", tag = "9")]
        pub raw_data: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfo {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<Type>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Type {
        #[prost(message, optional, tag = "1")]
        pub tensor_type: Option<TensorType>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorType {
        #[prost(int32, tag = "1")]
        pub elem_type: i32,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<Shape>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Shape {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<Dim>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dim {
        #[prost(int64, optional, tag = "1")]
        pub dim_value: Option<i64>,
        #[prost(string, optional, tag = "2")]
        pub dim_param: Option<String>,
    }

    /// TensorProto.DataType: FLOAT and STRING.
    pub const FLOAT: i32 = 1;
    pub const STRING: i32 = 8;

    /// A value's element type and shape, `None` for a symbolic dimension.
    pub type Signature = (i32, Vec<Option<i64>>);

    impl ValueInfo {
        /// Its element type and shape.
        pub fn signature(&self) -> Signature {
            let t = self.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
            let t = t.unwrap_or_else(|| panic!("{} has a tensor type", self.name));
            let dims = t.shape.as_ref().map_or(&[][..], |s| &s.dim[..]);
            (t.elem_type, dims.iter().map(|d| d.dim_value).collect())
        }
    }

    impl Tensor {
        /// Its floats, stored either way ONNX allows.
        pub fn floats(&self) -> Vec<f32> {
            match self.raw_data.is_empty() {
                true => self.float_data.clone(),
                false => self
                    .raw_data
                    .chunks(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
            }
        }
    }
}

/// `gpumlp export` writes an ONNX model (run in CI by onnx.checker and onnxruntime against
/// `gpumlp predict`, scripts/onnx_ci.sh); here it is decoded with ONNX's own field numbers:
/// one input per feature column of the right type, the outputs, a graph whose every value is
/// defined before it is used, the text columns' categories and the network's very weights;
/// and a model that cannot be exported, or is not there, gets a one-line error.
#[test]
fn export_writes_an_onnx_model_or_one_error_line() {
    use gpumlp::data::prep::ColumnKind;
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "m.csv", &messy_csv(80));
    let model = path(dir.path(), "m.safetensors");
    ok(&[
        "train", &data, "--target", "animal", "--epochs", "3", "-q", "--out", &model,
    ]);
    let onnx_file = path(dir.path(), "m.onnx");
    ok(&["export", &model, "--out", &onnx_file, "-q"]);
    let saved = gpumlp::model_file::SavedModel::load(Path::new(&model)).unwrap();
    let bytes = std::fs::read(&onnx_file).unwrap();
    let decoded = onnx::Model::decode(bytes.as_slice()).expect("an ONNX ModelProto");
    assert!(decoded.ir_version >= 3, "ir_version {}", decoded.ir_version);
    let opsets: Vec<&str> = decoded
        .opset_import
        .iter()
        .map(|o| o.domain.as_str())
        .collect();
    assert_eq!(opsets, [""], "only the standard opset");
    let graph = decoded.graph.expect("a graph");

    // One [N, 1] input per feature column, float for numbers and string for text.
    let columns = &saved.meta.preprocessor.columns;
    let names: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    let want: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, want, "the inputs are the feature columns");
    for name in ["colour", "size", "weight", "shape", "price"] {
        assert!(names.contains(&name), "{name} is an input: {names:?}");
    }
    for (input, column) in graph.input.iter().zip(columns) {
        let elem = match column.kind {
            ColumnKind::Numeric { .. } => onnx::FLOAT,
            ColumnKind::Categorical { .. } => onnx::STRING,
        };
        assert_eq!(
            input.signature(),
            (elem, vec![None, Some(1)]),
            "{}",
            input.name
        );
    }
    // The label and the three classes' probabilities.
    let outputs: Vec<(&str, onnx::Signature)> = graph
        .output
        .iter()
        .map(|o| (o.name.as_str(), o.signature()))
        .collect();
    assert_eq!(saved.meta.classes.len(), 3);
    assert_eq!(
        outputs,
        [
            ("label", (onnx::STRING, vec![None, Some(1)])),
            ("probabilities", (onnx::FLOAT, vec![None, Some(3)])),
        ]
    );

    // Every node reads only what is defined before it; every output is computed once.
    let mut defined: std::collections::HashSet<&str> = names.iter().copied().collect();
    defined.extend(graph.initializer.iter().map(|t| t.name.as_str()));
    for node in &graph.node {
        for input in node.input.iter().filter(|i| !i.is_empty()) {
            assert!(
                defined.contains(input.as_str()),
                "{} reads {input} before it is defined",
                node.op_type
            );
        }
        for output in &node.output {
            assert!(defined.insert(output), "{output} is defined twice");
        }
    }
    for output in &graph.output {
        assert!(
            defined.contains(output.name.as_str()),
            "{} is computed",
            output.name
        );
    }

    // Each text column is matched against each of its categories (RegexFullMatch: trimmed,
    // as predict reads it) and against the missing spellings.
    for column in columns {
        let ColumnKind::Categorical { categories, .. } = &column.kind else {
            continue;
        };
        let patterns: Vec<String> = graph
            .node
            .iter()
            .filter(|n| n.op_type == "RegexFullMatch" && n.input == [column.name.clone()])
            .filter_map(|n| n.attribute.iter().find(|a| a.name == "pattern"))
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
            .collect();
        assert_eq!(
            patterns.len(),
            categories.len() + 1,
            "{}: a match per category and one for missing cells: {patterns:?}",
            column.name
        );
        for category in categories {
            assert!(
                patterns.iter().any(|p| p.contains(category.as_str())),
                "{}: {category} in {patterns:?}",
                column.name
            );
        }
    }

    // The network's weights and biases, bit for bit, as (inputs, outputs) and (outputs).
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let holds = |dims: Vec<i64>, values: &[f32]| {
        graph.initializer.iter().any(|t| {
            t.dims == dims && t.data_type == onnx::FLOAT && bits(&t.floats()) == bits(values)
        })
    };
    let mlp = &saved.mlp;
    for (l, layer) in mlp.layers().iter().enumerate() {
        let (i, o) = (layer.inputs as i64, layer.outputs as i64);
        assert!(holds(vec![i, o], mlp.weights(l)), "layer {l}'s weights");
        assert!(holds(vec![o], mlp.bias(l)), "layer {l}'s bias");
    }

    let e = fails(&["export", &path(dir.path(), "none.safetensors")]);
    assert!(e.contains("none.safetensors"), "{e}");
    let labelled = write(dir.path(), "l.csv", "label,y\n1,0\n2,1\n3,0\n4,1\n");
    let bad = path(dir.path(), "l.safetensors");
    ok(&[
        "train", &labelled, "--target", "y", "--epochs", "2", "-q", "--out", &bad,
    ]);
    let e = fails(&["export", &bad, "--out", &path(dir.path(), "l.onnx")]);
    assert!(e.contains("\"label\"") && e.contains("rename"), "{e}");
    assert!(!dir.path().join("l.onnx").exists(), "no partial file");
}
