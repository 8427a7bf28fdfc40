//! Parquet files read into a [`Table`] (the `parquet` feature), recognised by their content
//! (`PAR1` at both ends), not their name: numbers become number cells, text becomes text
//! cells as a CSV's would (trimmed, the CSV missing spellings such as `NA` missing), nulls
//! and NaN are missing, booleans are the text `true` / `false`. Each row group is read in
//! turn; an error names the column and the row (its row group too).

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::table::{is_missing, Cell, Table};
use crate::error::{Error, Location, Result};

/// The magic bytes at the start and the end of every Parquet file.
const MAGIC: &[u8; 4] = b"PAR1";

/// Whether `bytes` are a Parquet file.
pub fn is_parquet(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes.starts_with(MAGIC) && bytes.ends_with(MAGIC)
}

/// Reads a Parquet file's `bytes` (already bounded by the caller); `name` stands for it in
/// messages.
pub fn read(name: &str, bytes: Vec<u8>) -> Result<Table> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| unreadable(name, e))?;
    let mut table = empty(name, &builder)?;
    let rows: u64 = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows().max(0) as u64)
        .sum();
    // A cell costs at least its slot; the table must fit the memory available, as a CSV's.
    let cells = rows.saturating_mul(table.columns.len().max(1) as u64);
    let budget = crate::files::memory_available();
    if cells.saturating_mul(std::mem::size_of::<Option<Cell>>() as u64) > budget / 2 {
        return Err(Error::Input {
            at: Location::file(name),
            message: format!(
                "{rows} rows of {} columns would not fit in the memory available",
                table.columns.len()
            ),
        });
    }
    table.rows.reserve(rows as usize);
    let reader = builder.build().map_err(|e| unreadable(name, e))?;
    for batch in reader {
        let rows = batch_rows(&table, batch)?;
        table.rows.extend(rows);
    }
    if table.rows.is_empty() {
        return Err(Error::Input {
            at: Location::file(name),
            message: "the file has no rows".into(),
        });
    }
    Ok(table)
}

/// The error for a file the parquet crate cannot read.
fn unreadable(name: &str, e: impl std::fmt::Display) -> Error {
    Error::Input {
        at: Location::file(name),
        message: format!("not a readable Parquet file: {e}"),
    }
}

/// An empty table of the file's columns (whose names must be non-empty and unique) and its
/// row groups' first rows.
fn empty<T: parquet::file::reader::ChunkReader + 'static>(
    name: &str,
    builder: &ParquetRecordBatchReaderBuilder<T>,
) -> Result<Table> {
    let columns: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().trim().to_string())
        .collect();
    let mut seen = std::collections::HashSet::new();
    for column in &columns {
        if column.is_empty() {
            return Err(Error::Input {
                at: Location::file(name),
                message: "a column has an empty name; every column needs a name".into(),
            });
        }
        if !seen.insert(column.as_str()) {
            return Err(Error::Input {
                at: Location::file(name).column(column.clone()),
                message: format!("the file names column {column:?} twice; names must be unique"),
            });
        }
    }
    let mut starts = Vec::with_capacity(builder.metadata().num_row_groups());
    let mut at = 0u64;
    for group in builder.metadata().row_groups() {
        starts.push(at);
        at += group.num_rows().max(0) as u64;
    }
    Ok(Table {
        name: name.to_string(),
        columns,
        rows: Vec::new(),
        lines: Vec::new(),
        row_groups: starts,
        row_base: 0,
    })
}

/// A batch's rows as cells, the batch coming next after `table`'s rows (for the locations
/// of its errors).
fn batch_rows(
    table: &Table,
    batch: std::result::Result<arrow_array::RecordBatch, arrow_schema::ArrowError>,
) -> Result<Vec<Vec<Option<Cell>>>> {
    let first = table.rows.len();
    let batch = batch.map_err(|e| Error::Input {
        at: table.row_location(first),
        message: format!("cannot decode the row group: {e}"),
    })?;
    let mut rows: Vec<Vec<Option<Cell>>> = (0..batch.num_rows())
        .map(|_| Vec::with_capacity(table.columns.len()))
        .collect();
    for (c, array) in batch.columns().iter().enumerate() {
        let column = cells(array).map_err(|what| Error::Input {
            at: table.location(first, c),
            message: format!("{what} columns cannot be read; store numbers, text or booleans"),
        })?;
        for (row, cell) in rows.iter_mut().zip(column) {
            row.push(cell);
        }
    }
    Ok(rows)
}

/// A Parquet file read a batch of rows at a time, for a file larger than memory: each chunk
/// a [`Table`] of the file's columns whose messages name the file's row and row group, its
/// cells as [`read`] makes them.
pub struct ParquetChunks {
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    /// The next chunk, empty, at the row it starts on.
    next: Table,
}

impl ParquetChunks {
    /// Opens `path` (a regular file, of any size), `rows` rows a chunk.
    pub fn open(path: &std::path::Path, rows: usize) -> Result<ParquetChunks> {
        let (name, builder) = builder(path)?;
        let next = empty(&name, &builder)?;
        let reader = builder
            .with_batch_size(rows.max(1))
            .build()
            .map_err(|e| unreadable(&name, e))?;
        Ok(ParquetChunks { reader, next })
    }

    /// The file's columns.
    pub fn columns(&self) -> &[String] {
        &self.next.columns
    }
}

impl Iterator for ParquetChunks {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        let batch = self.reader.next()?;
        Some(batch_rows(&self.next, batch).map(|rows| {
            let mut chunk = self.next.clone();
            self.next.row_base += rows.len() as u64;
            chunk.rows = rows;
            chunk
        }))
    }
}

/// Opens `path` for reading with the arrow reader.
fn builder(
    path: &std::path::Path,
) -> Result<(String, ParquetRecordBatchReaderBuilder<std::fs::File>)> {
    let kind = crate::files::Kind {
        name: "data",
        max_bytes: u64::MAX,
    };
    let (file, _) = crate::files::open_bounded(path, kind)?;
    let name = path.display().to_string();
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(&name, e))?;
    Ok((name, builder))
}

/// The rows of each row group of the file at `path`, from its footer.
pub fn row_groups(path: &std::path::Path) -> Result<Vec<usize>> {
    let (_, builder) = builder(path)?;
    let groups = builder.metadata().row_groups();
    Ok(groups
        .iter()
        .map(|g| g.num_rows().max(0) as usize)
        .collect())
}

/// One row group of a Parquet file read `rows` rows at a time from a row `offset` there:
/// the chunks of a streamed epoch, each slice of the group decoded once, in order. Its chunks'
/// messages name the file's rows and row groups.
pub struct GroupReader {
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    /// The next chunk, empty, at the row it starts on.
    next: Table,
    group: usize,
    offset: usize,
}

impl GroupReader {
    /// Row group `group` of the file at `path` from its row `offset`, `rows` rows a chunk.
    pub fn open(
        path: &std::path::Path,
        group: usize,
        offset: usize,
        rows: usize,
    ) -> Result<GroupReader> {
        let (name, builder) = builder(path)?;
        let mut next = empty(&name, &builder)?;
        let Some(&first) = next.row_groups.get(group) else {
            return Err(Error::Input {
                at: Location::file(name),
                message: format!(
                    "the file has no row group {group}; was it changed during the run?"
                ),
            });
        };
        next.row_base = first + offset as u64;
        let reader = builder
            .with_row_groups(vec![group])
            .with_offset(offset)
            .with_batch_size(rows.max(1))
            .build()
            .map_err(|e| unreadable(&name, e))?;
        Ok(GroupReader {
            reader,
            next,
            group,
            offset,
        })
    }

    /// The row group and the row in it the next chunk starts on.
    pub fn at(&self) -> (usize, usize) {
        (self.group, self.offset)
    }

    /// The next chunk; `None` past the group's last row.
    pub fn next_chunk(&mut self) -> Result<Option<Table>> {
        let Some(batch) = self.reader.next() else {
            return Ok(None);
        };
        let rows = batch_rows(&self.next, batch)?;
        let mut chunk = self.next.clone();
        self.next.row_base += rows.len() as u64;
        self.offset += rows.len();
        chunk.rows = rows;
        Ok(Some(chunk))
    }
}

/// A column's cells, or the name of its type where gpumlp does not read it.
fn cells(array: &ArrayRef) -> std::result::Result<Vec<Option<Cell>>, String> {
    let n = array.len();
    let number = |get: &dyn Fn(usize) -> f64| -> Vec<Option<Cell>> {
        (0..n)
            .map(|i| {
                let v = get(i);
                (array.is_valid(i) && !v.is_nan()).then_some(Cell::Number(v))
            })
            .collect()
    };
    let text = |get: &dyn Fn(usize) -> String| -> Vec<Option<Cell>> {
        (0..n)
            .map(|i| {
                let t = get(i);
                (array.is_valid(i) && !is_missing(&t)).then(|| Cell::Text(t.trim().to_string()))
            })
            .collect()
    };
    Ok(match array.data_type() {
        DataType::Null => vec![None; n],
        DataType::Int8 => number(&|i| f64::from(array.as_primitive::<Int8Type>().value(i))),
        DataType::Int16 => number(&|i| f64::from(array.as_primitive::<Int16Type>().value(i))),
        DataType::Int32 => number(&|i| f64::from(array.as_primitive::<Int32Type>().value(i))),
        DataType::Int64 => number(&|i| array.as_primitive::<Int64Type>().value(i) as f64),
        DataType::UInt8 => number(&|i| f64::from(array.as_primitive::<UInt8Type>().value(i))),
        DataType::UInt16 => number(&|i| f64::from(array.as_primitive::<UInt16Type>().value(i))),
        DataType::UInt32 => number(&|i| f64::from(array.as_primitive::<UInt32Type>().value(i))),
        DataType::UInt64 => number(&|i| array.as_primitive::<UInt64Type>().value(i) as f64),
        DataType::Float16 => {
            number(&|i| f64::from(array.as_primitive::<Float16Type>().value(i).to_f32()))
        }
        DataType::Float32 => number(&|i| f64::from(array.as_primitive::<Float32Type>().value(i))),
        DataType::Float64 => number(&|i| array.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => text(&|i| array.as_boolean().value(i).to_string()),
        DataType::Utf8 => text(&|i| array.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => text(&|i| array.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => text(&|i| array.as_string_view().value(i).to_string()),
        DataType::Dictionary(_, value) if is_text(value) => {
            let dict = array.as_any_dictionary();
            let values = cells(dict.values())?;
            let keys = dict.normalized_keys();
            (0..n)
                .map(|i| {
                    array
                        .is_valid(i)
                        .then(|| values.get(keys[i]).cloned().flatten())
                        .flatten()
                })
                .collect()
        }
        other => return Err(format!("{other}")),
    })
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// A Parquet file of `columns` (each a name and its values, all of one length), as bytes:
/// one row group, snappy pages.
pub fn write(columns: Vec<(String, ArrayRef)>) -> Result<Vec<u8>> {
    let failed =
        |e: &dyn std::fmt::Display| Error::InvalidData(format!("cannot write Parquet: {e}"));
    let batch = arrow_array::RecordBatch::try_from_iter(columns).map_err(|e| failed(&e))?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props))
        .map_err(|e| failed(&e))?;
    writer.write(&batch).map_err(|e| failed(&e))?;
    writer.close().map_err(|e| failed(&e))?;
    Ok(out)
}
