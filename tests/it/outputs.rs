//! What a run leaves for people to look at and reuse, through the command line: config files
//! (flags over the file, the model recording the result, `info MODEL` printing it), PNG and
//! SVG plots of the curves and of an evaluation, the per-epoch CSV, sample weights and the
//! metric early stopping watches.

use crate::cli::{fails, json, messy_csv, ok, path, write, BREAST_CANCER};
use std::path::Path;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A real PNG: the signature, the header chunk and a size of `width` × `height` at least.
fn assert_png(file: &str, min_width: u32, min_height: u32) {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(bytes.starts_with(PNG_MAGIC), "{file} is not a PNG");
    assert_eq!(
        &bytes[12..16],
        b"IHDR",
        "{file}: the first chunk is the header"
    );
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(
        width >= min_width && height >= min_height,
        "{file}: {width} × {height}"
    );
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("the PNG decodes");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut pixels).expect("its pixels decode");
    let ink = pixels.chunks(4).filter(|p| p[0] < 128).count();
    assert!(ink > 1000, "{file}: something is drawn ({ink} dark pixels)");
}

#[test]
fn a_config_file_trains_flags_win_and_info_prints_what_the_model_records() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = write(
        d,
        "run.toml",
        &format!(
            "# breast cancer, small\ndata = {BREAST_CANCER:?}\ntarget = \"malignant\"\n\
             hidden = [8]\nactivation = \"tanh\"\nepochs = 9\nbatch-size = 32\nlr = 0.003\n\
             patience = 0\nout = \"from-config.safetensors\"\n"
        ),
    );
    let report = json(&ok(&[
        "train",
        "--config",
        &config,
        "--epochs",
        "4",
        "--json",
        "--backend",
        "cpu",
    ]));
    assert_eq!(report["epochs"], 4, "the flag wins over the file's 9");
    assert_eq!(report["network"], "30-8-1", "{report}");
    let model = path(d, "from-config.safetensors");
    assert_eq!(
        report["model"].as_str(),
        Some(model.as_str()),
        "out is relative to the file"
    );

    let info = ok(&["info", &model]);
    for line in [
        "target = \"malignant\"",
        "hidden = [8]",
        "activation = \"tanh\"",
        "epochs = 4",
        "batch-size = 32",
        "lr = 0.003",
        "patience = 0",
    ] {
        assert!(info.contains(line), "info prints {line:?}:\n{info}");
    }
    assert!(info.contains("network") && info.contains("columns") && info.contains("metrics"));
    let meta = json(&ok(&["info", &model, "--json"]));
    assert_eq!(meta["meta"]["training"]["options"]["config"]["epochs"], 4);

    // What info prints is a config that trains the same model again, bit for bit.
    let block: String = info
        .split_once("configuration")
        .unwrap()
        .1
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    let again = write(d, "again.toml", &block);
    let copy = path(d, "again.safetensors");
    ok(&[
        "train",
        BREAST_CANCER,
        "--config",
        &again,
        "--out",
        &copy,
        "-q",
        "--backend",
        "cpu",
    ]);
    let weights = |p: &str| {
        gpumlp::model_file::SavedModel::load(Path::new(p))
            .unwrap()
            .mlp
            .params()
            .to_vec()
    };
    assert_eq!(weights(&model), weights(&copy));

    // cv reads the same file (its output paths aside).
    let cv = json(&ok(&[
        "cv",
        "--config",
        &config,
        "--folds",
        "3",
        "--epochs",
        "2",
        "--json",
        "--backend",
        "cpu",
    ]));
    assert_eq!(cv["folds"], 3);

    // Bad files: one line naming the file and the line.
    let bad = write(d, "bad.toml", "target = \"malignant\"\nepoch = 5\n");
    let e = fails(&["train", BREAST_CANCER, "--config", &bad]);
    assert!(e.contains("bad.toml, line 2") && e.contains("epoch"), "{e}");
    let e = fails(&["train", "--config", &path(d, "absent.toml")]);
    assert!(e.contains("absent.toml"), "{e}");
    let no_data = write(d, "no-data.toml", "target = \"malignant\"\n");
    let e = fails(&["train", "--config", &no_data]);
    assert!(e.contains("needs a data file"), "{e}");
}

#[test]
fn png_and_svg_plots_of_curves_and_evaluations_and_the_per_epoch_csv() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Binary, on the GPU: curves as PNG, every epoch in the CSV.
    let model = path(d, "bc.safetensors");
    let (curves, csv) = (path(d, "curves.png"), path(d, "epochs.csv"));
    let report = json(&ok(&[
        "train",
        BREAST_CANCER,
        "--target",
        "malignant",
        "--epochs",
        "12",
        "--out",
        &model,
        "--plot",
        &curves,
        "--metrics-csv",
        &csv,
        "--json",
    ]));
    assert_png(&curves, 600, 300);
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "epoch,train_loss,val_loss,lr,seconds,val_accuracy,val_precision,val_recall,val_f1,\
         val_roc_auc,val_log_loss"
    );
    assert_eq!(lines.len(), 1 + report["epochs"].as_u64().unwrap() as usize);
    let last: Vec<f64> = lines[lines.len() - 1]
        .split(',')
        .map(|c| c.parse().unwrap())
        .collect();
    let losses = report["val_losses"].as_array().unwrap();
    let want = losses[losses.len() - 1].as_f64().unwrap();
    assert!(
        (last[2] - want).abs() <= 1e-6 * want.abs(),
        "{last:?} vs {want}"
    );
    assert!(last[5] > 0.8 && last[5] <= 1.0, "accuracy {}", last[5]);

    let roc = path(d, "eval.png");
    let eval = json(&ok(&[
        "eval",
        &model,
        BREAST_CANCER,
        "--plot",
        &roc,
        "--json",
    ]));
    assert!(eval["metrics"]["roc_auc"].as_f64().unwrap() > 0.95);
    assert_png(&roc, 1000, 400);
    let svg = path(d, "eval.svg");
    ok(&["eval", &model, BREAST_CANCER, "--plot", &svg, "-q"]);
    let svg = std::fs::read_to_string(&svg).unwrap();
    for part in [
        "ROC curve",
        "precision-recall curve",
        "ROC AUC",
        "average precision",
    ] {
        assert!(svg.contains(part), "the binary figure has {part:?}");
    }

    // Multiclass with text columns and missing cells; then a numeric target.
    let data = write(d, "animals.csv", &messy_csv(240));
    for (target, file, parts) in [
        (
            "animal",
            "animals.svg",
            &["confusion matrix", "bird", "row-normalised"][..],
        ),
        (
            "price",
            "price.svg",
            &["predicted against true", "residuals"][..],
        ),
    ] {
        let model = path(d, &format!("{target}.safetensors"));
        ok(&[
            "train", &data, "--target", target, "--epochs", "15", "--out", &model, "-q",
        ]);
        let figure = path(d, file);
        ok(&["eval", &model, &data, "--plot", &figure, "-q"]);
        let svg = std::fs::read_to_string(&figure).unwrap();
        for part in parts {
            assert!(svg.contains(part), "{file} has {part:?}");
        }
        let png = figure.replace(".svg", ".png");
        ok(&["eval", &model, &data, "--plot", &png, "-q"]);
        assert_png(&png, 1000, 400);
    }

    // A plot that cannot be written: one line, no model, no partial plot.
    let e = fails(&["eval", &model, BREAST_CANCER, "--plot", &path(d, "e.gif")]);
    assert!(e.contains(".svg or .png"), "{e}");
    let e = fails(&[
        "eval",
        &model,
        BREAST_CANCER,
        "--plot",
        &path(d, "missing-folder/e.png"),
    ]);
    assert!(e.contains("missing-folder"), "{e}");
    assert!(!Path::new(&path(d, "missing-folder")).exists());
}

/// Rows whose labels contradict the rest, all of weight 0: weighted training ignores them,
/// unweighted training cannot. The weight column is no feature, and a bad weight names its
/// row and column.
#[test]
fn sample_weights_count_in_the_loss_and_are_not_a_feature() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut csv = String::from("x,noise,w,y\n");
    for i in 0..200 {
        let x = (i % 100) as f64 / 100.0;
        let clean = i < 100;
        let y = (x > 0.5) == clean;
        let w = if clean { "1" } else { "0" };
        csv += &format!("{x},{},{w},{}\n", (i % 100 * 37 % 11), u8::from(y));
    }
    let data = write(d, "flipped.csv", &csv);
    let clean: String = csv.lines().take(101).map(|l| format!("{l}\n")).collect();
    let clean = write(d, "clean.csv", &clean);
    // The same rows without the weights, which would otherwise tell the rows apart.
    let unweighted_csv: String = csv
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            format!("{},{},{}\n", cells[0], cells[1], cells[3])
        })
        .collect();
    let unweighted_data = write(d, "unweighted.csv", &unweighted_csv);
    let train = |data: &str, extra: &[&str], out: &str| {
        let model = path(d, out);
        let args = [
            &[
                "train",
                data,
                "--target",
                "y",
                "--hidden",
                "8",
                "--epochs",
                "150",
                "--lr",
                "0.03",
                "--val-fraction",
                "0",
                "--patience",
                "0",
                "--out",
                &model,
                "-q",
                "--backend",
                "cpu",
            ][..],
            extra,
        ]
        .concat();
        ok(&args);
        let eval = json(&ok(&["eval", &model, &clean, "--json", "--backend", "cpu"]));
        (model, eval["metrics"]["accuracy"].as_f64().unwrap())
    };
    let (weighted, accuracy) = train(&data, &["--sample-weight", "w"], "weighted.safetensors");
    let (_, unweighted) = train(&unweighted_data, &[], "plain.safetensors");
    assert!(
        accuracy >= 0.95,
        "weighted: accuracy {accuracy} on the clean rows"
    );
    assert!(
        unweighted < 0.8,
        "unweighted: accuracy {unweighted} on the clean rows"
    );
    let info = json(&ok(&["info", &weighted, "--json"]));
    let columns: Vec<&str> = info["meta"]["preprocessor"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["x", "noise"], "the weight is not a feature");
    assert_eq!(
        info["meta"]["training"]["options"]["sample_weight"], "w",
        "the model records its weight column"
    );
    // Predicting needs no weight column.
    let unweighted_rows = write(d, "x.csv", "x,noise\n0.2,3\n0.9,4\n");
    let predictions = ok(&["predict", &weighted, &unweighted_rows, "--backend", "cpu"]);
    assert_eq!(predictions.lines().count(), 3);

    let bad = write(d, "bad.csv", "x,w,y\n1,1,0\n2,-3,1\n3,1,0\n4,1,1\n");
    let e = fails(&["train", &bad, "--target", "y", "--sample-weight", "w"]);
    assert!(
        e.contains("bad.csv") && e.contains("\"w\"") && e.contains("-3"),
        "{e}"
    );
    let gap = write(d, "gap.csv", "x,w,y\n1,1,0\n2,,1\n3,1,0\n4,1,1\n");
    let e = fails(&["train", &gap, "--target", "y", "--sample-weight", "w"]);
    assert!(e.contains("gap.csv") && e.contains("missing"), "{e}");
    let e = fails(&["train", &gap, "--target", "y", "--sample-weight", "weight"]);
    assert!(e.contains("weight"), "{e}");
}

#[test]
fn early_stopping_watches_the_metric_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |metric: &str, extra: &[&str]| {
        let out = path(d, &format!("{metric}.safetensors"));
        let args = [
            &[
                "train",
                BREAST_CANCER,
                "--target",
                "malignant",
                "--epochs",
                "60",
                "--patience",
                "3",
                "--early-stopping-metric",
                metric,
                "--out",
                &out,
                "--json",
                "--backend",
                "cpu",
            ][..],
            extra,
        ]
        .concat();
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    for metric in ["accuracy", "f1", "roc_auc"] {
        let args = run(metric, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let report = json(&ok(&args));
        let best = report["best_epoch"].as_u64().expect("a best epoch is kept") as usize;
        assert!(
            best <= report["epochs"].as_u64().unwrap() as usize,
            "{report}"
        );
        let info = json(&ok(&[
            "info",
            &path(d, &format!("{metric}.safetensors")),
            "--json",
        ]));
        assert_eq!(
            info["meta"]["training"]["options"]["config"]["early_stopping_metric"],
            metric
        );
    }
    let args = run("r2", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let e = fails(&args);
    assert!(e.contains("r2") && e.contains("regression"), "{e}");
    let args = run("f1", &["--val-fraction", "0"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let e = fails(&args);
    assert!(e.contains("validation"), "{e}");
}
