//! What a run leaves for people to look at and reuse, through the command line: config files
//! (flags over the file, the model recording the result, `info MODEL` printing it), PNG and
//! SVG plots of the curves and of an evaluation, the per-epoch CSV, sample weights and the
//! metric early stopping watches.

use crate::cli::{fails, json, messy_csv, ok, path, write, BREAST_CANCER};
use std::path::Path;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A decoded PNG, RGBA.
struct Picture {
    file: String,
    width: usize,
    rgba: Vec<u8>,
}

/// The series colours of src/plot (Tableau 10): the first and second line of a chart.
const FIRST: [u8; 3] = [0x4e, 0x79, 0xa7];
const SECOND: [u8; 3] = [0xf2, 0x8e, 0x2b];

/// `colour` laid over white at an opacity of at least `min_alpha` (a line or a translucent
/// dot of that colour, or its anti-aliased edge), within 6 per channel.
fn tinted(p: &[u8], colour: [u8; 3], min_alpha: f32) -> bool {
    let k = (0..3).max_by_key(|&k| 255 - colour[k]).unwrap();
    let alpha = (255.0 - f32::from(p[k])) / (255.0 - f32::from(colour[k]));
    (min_alpha..=1.05).contains(&alpha)
        && (0..3).all(|c| {
            let want = 255.0 - alpha * (255.0 - f32::from(colour[c]));
            (f32::from(p[c]) - want).abs() <= 6.0
        })
}

/// A confusion-matrix cell's sequential blue (white to dark blue) at a share of 0.2 or more:
/// no axis, gridline, text or series colour is one.
fn cell_blue(p: &[u8]) -> bool {
    let t = (247.0 - f32::from(p[0])) / 239.0;
    (0.2..=1.02).contains(&t)
        && (f32::from(p[1]) - (251.0 - 203.0 * t)).abs() <= 6.0
        && (f32::from(p[2]) - (255.0 - 148.0 * t)).abs() <= 6.0
}

impl Picture {
    /// The pixels in the vertical band `part` of `parts` (a panel of a figure) that `paint`
    /// accepts: how many, and in how many distinct columns.
    fn painted(&self, part: usize, parts: usize, paint: impl Fn(&[u8]) -> bool) -> (usize, usize) {
        let (from, to) = (self.width * part / parts, self.width * (part + 1) / parts);
        let mut columns = vec![false; self.width];
        let mut pixels = 0;
        for (i, p) in self.rgba.chunks(4).enumerate() {
            let x = i % self.width;
            if (from..to).contains(&x) && paint(p) {
                pixels += 1;
                columns[x] = true;
            }
        }
        (pixels, columns.iter().filter(|&&c| c).count())
    }

    /// A line of `colour` runs across at least `columns` columns of band `part` of `parts`:
    /// more than its legend swatch, so the data itself is drawn.
    fn has_line(&self, part: usize, parts: usize, colour: [u8; 3], columns: usize) {
        let (_, got) = self.painted(part, parts, |p| tinted(p, colour, 0.5));
        assert!(
            got >= columns,
            "{}: a line of {colour:x?} in panel {part} spans {got} columns, not {columns}",
            self.file
        );
    }
}

/// A real PNG: the signature, the header chunk and a size of `width` × `height` at least.
fn assert_png(file: &str, min_width: u32, min_height: u32) -> Picture {
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
    let mut rgba = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut rgba).expect("its pixels decode");
    assert_eq!(frame.color_type, png::ColorType::Rgba, "{file}");
    Picture {
        file: file.to_string(),
        width: width as usize,
        rgba,
    }
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
    // Both curves drawn across the plot, not only their legend swatches (36 pixels wide).
    let picture = assert_png(&curves, 600, 300);
    picture.has_line(0, 1, FIRST, 400);
    picture.has_line(0, 1, SECOND, 400);
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
    // Three panels: the ROC curve, the precision-recall curve, the confusion matrix's cells.
    let picture = assert_png(&roc, 1000, 400);
    picture.has_line(0, 3, FIRST, 300);
    picture.has_line(1, 3, SECOND, 300);
    let (cells, _) = picture.painted(2, 3, cell_blue);
    assert!(cells > 20_000, "{roc}: {cells} pixels of filled cells");
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
        let picture = assert_png(&png, 1000, 400);
        if target == "animal" {
            // Two confusion matrices (counts, row-normalised), their cells filled.
            for panel in 0..2 {
                let (cells, _) = picture.painted(panel, 2, cell_blue);
                assert!(
                    cells > 10_000,
                    "{png}, panel {panel}: {cells} pixels of cells"
                );
            }
        } else {
            // A dot per row: predicted against true, then the residuals.
            for (panel, colour) in [(0, FIRST), (1, SECOND)] {
                let (dots, columns) = picture.painted(panel, 2, |p| tinted(p, colour, 0.3));
                assert!(
                    dots > 2000 && columns > 100,
                    "{png}, panel {panel}: {dots} pixels of dots in {columns} columns"
                );
            }
        }
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

/// Early stopping replayed on per-epoch values, lower being better, as the trainer decides it
/// with `--min-delta 0`: the epoch kept, and the epoch the run stopped after when it stopped
/// early.
fn replay_early_stopping(
    values: &[f64],
    patience: usize,
    epochs: usize,
) -> (Option<usize>, Option<usize>) {
    let (mut best, mut since, mut kept) = (f64::INFINITY, 0, None);
    for (i, &v) in values.iter().enumerate() {
        if v < best {
            (best, since, kept) = (v, 0, Some(i + 1));
        } else {
            since += 1;
            if since >= patience && i + 1 < epochs {
                return (kept, Some(i + 1));
            }
        }
    }
    (kept, None)
}

/// Each metric's per-epoch values (from `--metrics-csv`) decide the epoch kept and when the
/// run stops, and not the validation loss, which would have decided otherwise.
#[test]
fn early_stopping_watches_the_metric_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (epochs, patience) = (60, 3);
    let (epochs_arg, patience_arg) = (epochs.to_string(), patience.to_string());
    let run = |metric: &str, extra: &[&str]| {
        let out = path(d, &format!("{metric}.safetensors"));
        let csv = path(d, &format!("{metric}.csv"));
        let args = [
            &[
                "train",
                BREAST_CANCER,
                "--target",
                "malignant",
                "--epochs",
                &epochs_arg,
                "--patience",
                &patience_arg,
                "--early-stopping-metric",
                metric,
                "--out",
                &out,
                "--metrics-csv",
                &csv,
                "--json",
                "--backend",
                "cpu",
            ][..],
            extra,
        ]
        .concat();
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let (mut stopped, mut loss_differs) = (0, 0);
    for metric in ["accuracy", "f1", "roc_auc"] {
        let args = run(metric, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let report = json(&ok(&args));
        let ran = report["epochs"].as_u64().unwrap() as usize;
        let best = report["best_epoch"].as_u64().map(|b| b as usize);
        let stopped_early = report["stopped_early"].as_bool().unwrap();
        // Each epoch's validation loss and metrics, as the run saw them.
        let text = std::fs::read_to_string(path(d, &format!("{metric}.csv"))).unwrap();
        let mut rows = text.lines();
        let header: Vec<&str> = rows.next().unwrap().split(',').collect();
        let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (loss_at, metric_at) = (column("val_loss"), column(&format!("val_{metric}")));
        let cells: Vec<Vec<f64>> = rows
            .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
            .collect();
        assert_eq!(cells.len(), ran, "{metric}: one CSV row per epoch");
        let watched: Vec<f64> = cells.iter().map(|r| -r[metric_at]).collect();
        let losses: Vec<f64> = cells.iter().map(|r| r[loss_at]).collect();
        let (kept, stop) = replay_early_stopping(&watched, patience, epochs);
        assert_eq!(best, kept, "{metric}: the best {metric} is kept: {report}");
        assert_eq!(
            stop,
            stopped_early.then_some(ran),
            "{metric}: stopped {patience} epochs after the best {metric}: {report}"
        );
        stopped += usize::from(stopped_early);
        loss_differs +=
            usize::from(replay_early_stopping(&losses, patience, epochs) != (kept, stop));
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
    assert!(stopped > 0, "early stopping never fired");
    assert!(
        loss_differs > 0,
        "watching the loss would have decided the same: the test cannot tell them apart"
    );
    let args = run("r2", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let e = fails(&args);
    assert!(e.contains("r2") && e.contains("regression"), "{e}");
    let args = run("f1", &["--val-fraction", "0"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let e = fails(&args);
    assert!(e.contains("validation"), "{e}");
}
