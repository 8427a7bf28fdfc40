//! Training on rows streamed from disk, as a file larger than `--max-memory` trains: the GPU
//! trainer fed by a stream through its window trains bit for bit as it trains on the same
//! rows in memory, a streamed run stopped part way through an epoch continues bit for bit,
//! and `gpumlp train` streams a file too large for its bound, from CSV and from Parquet.

use crate::common::{assert_bits, gpu, report, uniform};
use gpumlp::data::stream::RowStream;
use gpumlp::data::{Dataset, Shuffler};
use gpumlp::{Activation, Error, Mlp, MlpSpec, Result, TrainConfig, Trainer};
use std::cell::Cell;
use std::process::Command;

/// A dataset's rows, each epoch in the order the in-memory trainer draws for it.
struct InShuffleOrder {
    data: Dataset,
    seed: u64,
    order: Vec<u32>,
    next: usize,
}

impl RowStream for InShuffleOrder {
    fn rows(&self) -> usize {
        self.data.rows()
    }

    fn features(&self) -> usize {
        self.data.features()
    }

    fn outputs(&self) -> usize {
        self.data.outputs()
    }

    fn start_epoch(&mut self, epoch: u64) -> Result<()> {
        let mut shuffler = Shuffler::new(self.seed);
        for _ in 0..=epoch {
            self.order = shuffler.next_order(self.data.rows());
        }
        self.next = 0;
        Ok(())
    }

    fn next_rows(&mut self, n: usize, x: &mut Vec<f32>, t: &mut Vec<f32>) -> Result<()> {
        if self.next + n > self.data.rows() {
            return Err(Error::InvalidData("past the epoch's end".into()));
        }
        let (f, o) = (self.data.features(), self.data.outputs() + 1);
        for &r in &self.order[self.next..self.next + n] {
            let r = r as usize;
            x.extend_from_slice(&self.data.x()[r * f..(r + 1) * f]);
            t.extend_from_slice(&self.data.targets()[r * o..(r + 1) * o]);
        }
        self.next += n;
        Ok(())
    }
}

/// `rows` rows of 5 features and a binary label, and a network for them.
fn problem(rows: usize) -> (Dataset, Mlp) {
    let x = uniform(7, rows * 5, -1.0, 1.0);
    let y = (0..rows)
        .map(|r| f32::from(x[r * 5] + 0.5 * x[r * 5 + 1] > 0.0))
        .collect();
    let data = Dataset::new(x, y, 5).unwrap();
    let spec = MlpSpec::new(5)
        .hidden(16, Activation::Relu)
        .hidden(8, Activation::Tanh);
    (data, Mlp::new(&spec, 3).unwrap())
}

fn stream(data: &Dataset, seed: u64) -> Box<dyn RowStream> {
    Box::new(InShuffleOrder {
        data: data.clone(),
        seed,
        order: Vec::new(),
        next: 0,
    })
}

#[test]
fn a_streamed_trainer_trains_bit_for_bit_as_on_the_same_rows_in_memory() {
    // One row; fewer rows than a batch; a short last batch and a window of a step and a
    // half; a window of exactly two steps.
    for (rows, batch, window) in [(1, 4, 4), (9, 16, 16), (203, 16, 24), (256, 32, 64)] {
        let (data, start) = problem(rows);
        for fused in [false, true] {
            let config = TrainConfig {
                epochs: 4,
                batch_size: batch,
                seed: 11,
                allow_fused: fused,
                ..TrainConfig::default()
            };
            let lrs = [1e-2, 1e-2, 5e-3, 5e-3];
            let mut whole = Trainer::new(gpu(), &start, &data, &config).unwrap();
            let want = whole.run_epochs(&lrs).unwrap();
            let mut streamed =
                Trainer::streamed(gpu(), &start, stream(&data, 11), window, &config).unwrap();
            assert!(streamed.streams_data());
            assert_eq!(streamed.path(), whole.path());
            let got = streamed.run_epochs(&lrs).unwrap();
            let what = format!(
                "{rows} rows, batch {batch}, window {window}, {}",
                whole.path()
            );
            assert_bits(&format!("{what}: epoch losses"), &got, &want);
            let (a, b) = (streamed.model().unwrap(), whole.model().unwrap());
            assert_bits(&format!("{what}: weights"), a.params(), b.params());
            assert_eq!(streamed.state().unwrap().shuffle_pos, 0, "{what}");
        }
    }
}

#[test]
fn a_streamed_run_stopped_inside_an_epoch_continues_bit_for_bit() {
    let (data, start) = problem(203);
    for fused in [false, true] {
        let config = TrainConfig {
            epochs: 3,
            batch_size: 16,
            seed: 4,
            allow_fused: fused,
            ..TrainConfig::default()
        };
        let lrs = [1e-2; 3];
        let new = || {
            let mut t = Trainer::streamed(gpu(), &start, stream(&data, 4), 40, &config).unwrap();
            t.set_steps_per_submission(2);
            t
        };
        let mut whole = new();
        let want = whole.run_epochs(&lrs).unwrap();
        // Stopped after 9 submissions of 2 steps: 5 steps into the second epoch of 13.
        let asked = Cell::new(0);
        let mut stopped = new();
        let stop = || {
            asked.set(asked.get() + 1);
            asked.get() > 9
        };
        let done = stopped.run_epochs_until(&lrs, &stop).unwrap();
        let state = stopped.state().unwrap();
        assert_eq!((done.len(), state.partial_losses.len()), (1, 5));
        let mut resumed = new();
        resumed.set_state(&state).unwrap();
        let rest = resumed.run_epochs(&lrs[1..]).unwrap();
        let what = resumed.path();
        assert_bits(&format!("{what}: losses"), &[done, rest].concat(), &want);
        let (a, b) = (resumed.model().unwrap(), whole.model().unwrap());
        assert_bits(&format!("{what}: weights"), a.params(), b.params());
    }
}

/// A CSV of `rows` rows: 6 numbers (some missing), a colour, an amount and a label that
/// follow them.
pub fn csv(rows: usize) -> String {
    let x = uniform(3, rows * 6, -1.0, 1.0);
    let mut text = String::from("a,b,c,d,e,f,colour,amount,label\n");
    for r in 0..rows {
        let v = &x[r * 6..(r + 1) * 6];
        let colour = ["red", "green", "blue"][r % 3];
        let score = v[0] - v[1] + 0.5 * v[2] + if r % 3 == 0 { 0.4 } else { -0.2 };
        let cells: Vec<String> = v
            .iter()
            .enumerate()
            .map(|(i, x)| match (r + i) % 41 {
                0 => String::new(),
                _ => format!("{x:.4}"),
            })
            .collect();
        let label = if score > 0.0 { "pos" } else { "neg" };
        let amount = 20.0 + 8.0 * v[3] - 4.0 * v[4] + v[5];
        text.push_str(&format!(
            "{},{colour},{amount:.3},{label}\n",
            cells.join(",")
        ));
    }
    text
}

fn gpumlp(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_gpumlp"))
        .args(args)
        .output()
        .expect("gpumlp runs");
    assert!(
        out.status.success(),
        "gpumlp {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn train_streams_a_file_too_large_for_max_memory_and_the_model_predicts_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("rows.csv");
    // 3 MB: 24 MB in memory by gpumlp's estimate, more than the 16 MiB allowed.
    std::fs::write(&data, csv(60_000)).unwrap();
    let data = data.display().to_string();
    let model = dir.path().join("m.safetensors").display().to_string();
    let run = |bound: &str, out: &str| {
        let out = gpumlp(&[
            "train",
            &data,
            "--target",
            "label",
            "--epochs",
            "3",
            "--max-memory",
            bound,
            "--out",
            out,
            "--json",
        ]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let streamed = run("16MiB", &model);
    assert_eq!(streamed["streamed"], true, "{streamed}");
    assert_eq!(streamed["rows"], 60_000);
    let accuracy = streamed["metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "validation accuracy {accuracy}");
    let whole = run(
        "1GiB",
        &dir.path().join("w.safetensors").display().to_string(),
    );
    assert_eq!(whole["streamed"], false);
    let rows =
        |j: &serde_json::Value| j["train_rows"].as_u64().unwrap() + j["val_rows"].as_u64().unwrap();
    assert_eq!(
        rows(&streamed),
        rows(&whole),
        "every row trains or validates"
    );
    report(&format!(
        "streamed: accuracy {accuracy:.4}; in memory: {:.4}",
        whole["metrics"]["accuracy"].as_f64().unwrap()
    ));
    // The streamed model reads the file as any model does.
    let out = gpumlp(&["eval", &model, &data, "--json"]);
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let on_all = eval["metrics"]["accuracy"].as_f64().unwrap();
    assert!(on_all > 0.9, "accuracy on every row {on_all}");
    // Streaming trains on the GPU only: on the CPU reference it says what to do.
    let out = Command::new(env!("CARGO_BIN_EXE_gpumlp"))
        .args(["train", &data, "--target", "label", "--max-memory", "16MiB"])
        .args(["--backend", "cpu", "--out", &model])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("raise --max-memory"),
        "{stderr}"
    );
}

#[cfg(feature = "parquet")]
#[test]
fn train_streams_a_parquet_file_by_row_group_and_predicts_it_as_its_csv() {
    use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let text = csv(60_000);
    let table = gpumlp::data::table::Table::from_reader("rows.csv", text.as_bytes()).unwrap();
    // The same cells as Parquet: numbers with nulls, text; row groups of 7,000 rows.
    let mut columns: Vec<(String, ArrayRef)> = Vec::new();
    for (c, name) in table.columns.iter().enumerate() {
        let cells = table.rows.iter().map(|row| row[c].as_ref());
        let array: ArrayRef = match c < 6 || c == 7 {
            true => Arc::new(Float64Array::from(
                cells
                    .map(|v| v.and_then(|v| v.number()))
                    .collect::<Vec<_>>(),
            )),
            false => Arc::new(StringArray::from(
                cells
                    .map(|v| v.map(|v| v.text().into_owned()))
                    .collect::<Vec<_>>(),
            )),
        };
        columns.push((name.clone(), array));
    }
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(7_000))
        .build();
    let (pq, csv_path) = (dir.path().join("rows.pq"), dir.path().join("rows.csv"));
    let file = std::fs::File::create(&pq).unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    std::fs::write(&csv_path, &text).unwrap();
    let (pq, csv_path) = (pq.display().to_string(), csv_path.display().to_string());
    let model = dir.path().join("m.safetensors").display().to_string();
    let out = gpumlp(&[
        "train",
        &pq,
        "--target",
        "label",
        "--epochs",
        "3",
        "--max-memory",
        "16MiB",
        "--out",
        &model,
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["streamed"], true, "{report}");
    let accuracy = report["metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "validation accuracy {accuracy}");
    let predict = |data: &str| gpumlp(&["predict", &model, data]).stdout;
    assert_eq!(
        predict(&pq),
        predict(&csv_path),
        "the Parquet file predicts as its CSV"
    );
}

#[test]
fn a_streamed_regression_and_a_streamed_multiclass_run_score_as_their_models_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("rows.csv");
    std::fs::write(&data, csv(60_000)).unwrap();
    let data = data.display().to_string();
    for (target, metric) in [("amount", "r2"), ("colour", "accuracy")] {
        let model = dir.path().join(format!("{target}.safetensors"));
        let model = model.display().to_string();
        let out = gpumlp(&[
            "train",
            &data,
            "--target",
            target,
            "--epochs",
            "2",
            "--max-memory",
            "16MiB",
            "--out",
            &model,
            "--json",
        ]);
        let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(run["streamed"], true, "{run}");
        let trained = run["metrics"][metric].as_f64().unwrap();
        let out = gpumlp(&["eval", &model, &data, "--json"]);
        let eval: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let on_all = eval["metrics"][metric].as_f64().unwrap();
        report(&format!(
            "{target}: {metric} {trained:.4} on the validation sample, {on_all:.4} on every row"
        ));
        // The validation sample is scored in the target's units and classes, as eval is.
        assert!(
            (trained - on_all).abs() < 0.03,
            "{target}: {trained} against {on_all}"
        );
        if target == "amount" {
            assert!(trained > 0.9, "r2 {trained}");
        } else {
            assert_eq!(run["classes"].as_array().unwrap().len(), 3);
        }
    }
}
