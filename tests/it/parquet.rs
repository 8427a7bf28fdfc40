//! Parquet input (src/data/parquet.rs): the same table, and so the same model and the same
//! predictions, as the CSV file of the same data; bad files named by column and row group.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
};
use gpumlp::data::table::Table;
use gpumlp::workflow::{self, Device, TrainOptions};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

const ROWS: usize = 50;

/// The test data: a number column with nulls and NaN, an integer column, a text column with
/// a null, an `NA` and padded cells, a boolean column and a class label.
fn columns() -> Vec<(&'static str, ArrayRef)> {
    let a: Vec<Option<f64>> = (0..ROWS)
        .map(|i| match i % 9 {
            4 => None,
            7 => Some(f64::NAN),
            _ => Some(i as f64 * 0.37 - 3.0),
        })
        .collect();
    let b: Vec<i32> = (0..ROWS).map(|i| (i * i % 11) as i32 - 5).collect();
    let colour: Vec<Option<String>> = (0..ROWS)
        .map(|i| match i % 10 {
            3 => None,
            6 => Some("NA".to_string()),
            _ => Some(format!(" {} ", ["red", "green", "blue"][i % 3])),
        })
        .collect();
    let flag: Vec<bool> = (0..ROWS).map(|i| i % 4 == 1).collect();
    let y: Vec<&str> = (0..ROWS)
        .map(|i| if (i * 7 + i / 3) % 5 < 2 { "yes" } else { "no" })
        .collect();
    vec![
        ("a", Arc::new(Float64Array::from(a)) as ArrayRef),
        ("b", Arc::new(Int32Array::from(b))),
        ("colour", Arc::new(StringArray::from(colour))),
        ("flag", Arc::new(BooleanArray::from(flag))),
        ("y", Arc::new(StringArray::from(y))),
    ]
}

/// `columns` as a Parquet file of row groups of 16 rows.
fn write_parquet(path: &std::path::Path, columns: Vec<(&'static str, ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(16))
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// The same data as CSV text, written as pandas would (NaN and null as empty cells).
fn csv_text() -> String {
    let mut text = String::from("a,b,colour,flag,y\n");
    for i in 0..ROWS {
        let a = match i % 9 {
            4 | 7 => String::new(),
            _ => format!("{}", i as f64 * 0.37 - 3.0),
        };
        let colour = match i % 10 {
            3 => String::new(),
            6 => "NA".to_string(),
            _ => ["red", "green", "blue"][i % 3].to_string(),
        };
        let y = if (i * 7 + i / 3) % 5 < 2 { "yes" } else { "no" };
        text += &format!(
            "{a},{},{colour},{},{y}\n",
            (i * i % 11) as i32 - 5,
            i % 4 == 1
        );
    }
    text
}

#[test]
fn a_parquet_file_trains_and_predicts_as_the_same_csv_does() {
    let dir = tempfile::tempdir().unwrap();
    // Told by its content: a Parquet file named .csv is still Parquet.
    let pq = dir.path().join("data.csv");
    write_parquet(&pq, columns());
    let csv = dir.path().join("data_text.csv");
    std::fs::write(&csv, csv_text()).unwrap();
    let (from_pq, from_csv) = (Table::read(&pq).unwrap(), Table::read(&csv).unwrap());
    assert_eq!(from_pq.columns, from_csv.columns);
    assert_eq!(from_pq.rows.len(), ROWS);
    assert_eq!(
        from_pq.row_groups,
        [0, 16, 32, 48],
        "four row groups of 16 rows"
    );
    for (r, (p, c)) in from_pq.rows.iter().zip(&from_csv.rows).enumerate() {
        for (k, (p, c)) in p.iter().zip(c).enumerate() {
            match (p, c) {
                (None, None) => {}
                (Some(p), Some(c)) => assert_eq!(
                    (p.number(), p.text()),
                    (c.number(), c.text()),
                    "row {r}, column {k}"
                ),
                _ => panic!("row {r}, column {k}: {p:?} against {c:?}"),
            }
        }
    }
    // The same model from either file, and the same predictions on either file.
    let mut opts = TrainOptions {
        target: "y".into(),
        hidden: vec![6],
        ..TrainOptions::default()
    };
    opts.config.epochs = 4;
    let trained = workflow::train(&from_pq, &opts, Device::Cpu, &mut |_, _| {}).unwrap();
    let again = workflow::train(&from_csv, &opts, Device::Cpu, &mut |_, _| {}).unwrap();
    assert_eq!(trained.model.mlp.params(), again.model.mlp.params());
    let on_pq = workflow::predict(&trained.model, &from_pq, Device::Cpu).unwrap();
    let on_csv = workflow::predict(&trained.model, &from_csv, Device::Cpu).unwrap();
    assert_eq!(on_pq.values, on_csv.values);
    assert_eq!(on_pq.labels, on_csv.labels);

    // Saved as Parquet (by its name), the predictions read back as their CSV does, each
    // probability the same 32-bit float.
    let (out_pq, out_csv) = (dir.path().join("p.parquet"), dir.path().join("p.csv"));
    on_pq.save(&out_pq).unwrap();
    on_pq.save(&out_csv).unwrap();
    let (back_pq, back_csv) = (
        Table::read(&out_pq).unwrap(),
        Table::read(&out_csv).unwrap(),
    );
    assert!(
        back_pq.row_groups == [0],
        "a Parquet file: {:?}",
        back_pq.row_groups
    );
    assert_eq!(back_pq.columns, ["row", "prediction", "p_no", "p_yes"]);
    assert_eq!(back_pq.columns, back_csv.columns);
    for (r, (p, c)) in back_pq.rows.iter().zip(&back_csv.rows).enumerate() {
        let as_f32 = |cell: &Option<gpumlp::data::table::Cell>| {
            cell.as_ref().and_then(|c| c.number()).map(|v| v as f32)
        };
        let text =
            |cell: &Option<gpumlp::data::table::Cell>| cell.as_ref().map(|c| c.text().to_string());
        assert_eq!(text(&p[1]), text(&c[1]), "row {r}: class");
        for k in [0, 2, 3] {
            assert_eq!(as_f32(&p[k]), as_f32(&c[k]), "row {r}, column {k}");
        }
    }
}

#[test]
fn a_parquet_column_gpumlp_cannot_read_is_named_with_its_row_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dates.parquet");
    let mut cols = columns();
    cols.insert(
        1,
        (
            "day",
            Arc::new(Date32Array::from((0..ROWS as i32).collect::<Vec<_>>())),
        ),
    );
    write_parquet(&path, cols);
    let message = Table::read(&path).unwrap_err().to_string();
    assert!(
        message.contains("column \"day\"")
            && message.contains("row group 0")
            && message.contains("Date32"),
        "{message}"
    );
    // A file cut short is refused with its name, not a panic.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, [&bytes[..bytes.len() / 2], b"PAR1"].concat()).unwrap();
    let message = Table::read(&cut).unwrap_err().to_string();
    assert!(message.contains("cut.parquet"), "{message}");
}
