//! The streaming section: the same generated table as CSV and as Parquet, trained read whole
//! and streamed from disk (as a file larger than `--max-memory` trains), in the same run.
//! Rows a second of the training loop (streamed epochs read, encode and shuffle their rows
//! inside it) and of the whole run (reading, statistics and scoring included).

use super::{Options, Report, Stats};
use gpumlp::data::table::Table;
use gpumlp::options::MemoryLimit;
use gpumlp::workflow::{self, streamed, Device, TrainOptions, Trained};
use gpumlp::Gpu;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// Features of the generated table: this many numbers, a colour, a binary label.
const NUMBERS: usize = 16;

/// The table's CSV text: numbers (one cell in 53 missing), a colour, and a label that
/// follows them with noise.
fn csv_text(rows: usize) -> String {
    let x = super::uniform(21, rows * (NUMBERS + 1));
    let mut text = (0..NUMBERS).map(|c| format!("x{c},")).collect::<String>();
    text.push_str("colour,label\n");
    for r in 0..rows {
        let v = &x[r * (NUMBERS + 1)..(r + 1) * (NUMBERS + 1)];
        let colour = ["red", "green", "blue", "amber"][r % 4];
        let score =
            v[0] - v[1] + 0.5 * v[2] + if r % 4 == 0 { 0.3 } else { 0.0 } + 0.3 * v[NUMBERS];
        for (c, value) in v[..NUMBERS].iter().enumerate() {
            if (r + c) % 53 != 0 {
                text.push_str(&format!("{value:.5}"));
            }
            text.push(',');
        }
        text.push_str(colour);
        text.push_str(if score > 0.0 { ",pos\n" } else { ",neg\n" });
    }
    text
}

/// The same cells as a Parquet file (numbers with nulls, text).
#[cfg(feature = "parquet")]
fn parquet_bytes(text: &str) -> gpumlp::Result<Vec<u8>> {
    use arrow_array::{ArrayRef, Float64Array, StringArray};
    use std::sync::Arc;
    let table = Table::from_reader("bench.csv", text.as_bytes())?;
    let mut columns: Vec<(String, ArrayRef)> = Vec::new();
    for (c, name) in table.columns.iter().enumerate() {
        let cells = table.rows.iter().map(|row| row[c].as_ref());
        let array: ArrayRef = match c < NUMBERS {
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
    gpumlp::data::parquet::write(columns)
}

/// One run: read whole (`whole`) or streamed; its seconds and what it trained.
fn train(
    gpu: &Gpu,
    path: &Path,
    opts: &TrainOptions,
    whole: bool,
) -> gpumlp::Result<(f64, Trained)> {
    let t = Instant::now();
    let device = Device::Gpu(gpu);
    let trained = match whole {
        true => workflow::train(&Table::read(path)?, opts, device, &mut |_, _| {})?,
        false => {
            let control = gpumlp::train::fit::FitControl::none();
            streamed::train_file(path, opts, device, &mut |_, _| {}, control)?.0
        }
    };
    Ok((t.elapsed().as_secs_f64(), trained))
}

pub(super) fn streaming_section(gpu: &Gpu, o: &Options, r: &mut Report) -> gpumlp::Result<()> {
    let rows = if o.quick { 40_000 } else { 300_000 };
    let epochs = if o.quick { 1 } else { 3 };
    let runs = if o.quick { 1 } else { 3 };
    let dir = tempfile::tempdir().map_err(|source| gpumlp::Error::Io {
        path: "a temporary folder".into(),
        source,
    })?;
    let text = csv_text(rows);
    // Parquet joins it where the `parquet` feature is on.
    #[cfg_attr(not(feature = "parquet"), allow(unused_mut))]
    let mut files = vec![(
        "CSV",
        dir.path().join("bench.csv"),
        text.clone().into_bytes(),
    )];
    #[cfg(feature = "parquet")]
    files.push((
        "Parquet",
        dir.path().join("bench.parquet"),
        parquet_bytes(&text)?,
    ));
    drop(text);
    let mut opts = TrainOptions {
        target: "label".into(),
        ..TrainOptions::default()
    };
    opts.config.epochs = epochs;
    opts.config.patience = None;
    // Small enough that a chunk, the buffer and the window are each a small part of the data.
    opts.max_memory = MemoryLimit::Bytes(16 << 20);
    r.line(format!(
        "\nstreaming: {rows} rows × {} columns, {epochs} epochs of a {NUMBERS}+4-64-32-1 \
         network, read whole and streamed (--max-memory 16MiB); medians of {runs} runs",
        NUMBERS + 2
    ));
    r.line(format!(
        "  {:<8} {:<9} {:>9} {:>14} {:>14} {:>9}",
        "file", "mode", "bytes", "loop rows/s", "run rows/s", "accuracy"
    ));
    let mut results = Vec::new();
    for (format, path, bytes) in &files {
        std::fs::write(path, bytes).map_err(|source| gpumlp::Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        for whole in [true, false] {
            let mut loop_rates = Vec::new();
            let mut run_rates = Vec::new();
            let mut accuracy = 0.0;
            for _ in 0..runs {
                let (seconds, trained) = train(gpu, path, &opts, whole)?;
                let trained_rows = trained.model.meta.training.train_rows * epochs;
                loop_rates.push(trained.report.samples_per_sec);
                run_rates.push(trained_rows as f64 / seconds);
                accuracy = trained.metrics.headline().1;
            }
            let (loop_rate, run_rate) = (Stats::of(loop_rates), Stats::of(run_rates));
            let mode = if whole { "in memory" } else { "streamed" };
            r.line(format!(
                "  {format:<8} {mode:<9} {:>9} {:>14.0} {:>14.0} {accuracy:>9.4}",
                bytes.len(),
                loop_rate.median,
                run_rate.median
            ));
            results.push(json!({
                "file": format, "mode": mode, "bytes": bytes.len(), "rows": rows,
                "epochs": epochs, "loop_rows_per_sec": loop_rate.json(),
                "run_rows_per_sec": run_rate.json(), "accuracy": accuracy,
            }));
        }
    }
    r.sections.insert("streaming".into(), json!(results));
    Ok(())
}
