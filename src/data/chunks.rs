//! A data file read a chunk of rows at a time, for a file larger than memory: CSV (about
//! a number of parsed bytes a chunk) or Parquet (a number of rows a chunk), told apart by
//! content as [`Table::read`] tells them. Each chunk is a [`Table`] of the file's columns
//! whose rows keep their place in the file for messages. A chunk can also be read alone from
//! its [`ChunkStart`] (a streamed epoch reads the chunks in a shuffled order): CSV by the
//! byte its first row starts at, learnt on a first pass in order; Parquet by row group,
//! known from the file's footer.

use super::records::Records;
use super::table::Table;
use crate::error::Result;
use std::path::Path;

/// A CSV file read a chunk of rows at a time, for a file larger than memory: each chunk a
/// [`Table`] of the file's columns holding about `chunk_bytes` of parsed rows, each row with
/// its line in the file. The rows are checked as [`Table::from_bytes`] checks them.
pub struct CsvChunks {
    records: Records<std::io::BufReader<std::fs::File>>,
    chunk_bytes: u64,
    rows: u64,
    done: bool,
    /// Where each chunk read so far starts.
    starts: Vec<ChunkStart>,
}

/// Where a chunk starts in its file, to read it alone ([`Chunks::read_one`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkStart {
    /// The file's row number of the chunk's first row (from 0, the header aside).
    pub row: u64,
    at: At,
}

/// How to find a chunk's first row.
#[derive(Clone, Debug, PartialEq, Eq)]
enum At {
    /// The byte its record starts at, and its line.
    Csv { byte: u64, line: u64 },
    /// Its row group, the rows before it there, and the chunk's rows.
    #[cfg(feature = "parquet")]
    Parquet {
        group: usize,
        offset: usize,
        rows: usize,
    },
}

impl CsvChunks {
    /// Opens `path` (a regular file, of any size) and reads its header.
    pub fn open(path: &Path, chunk_bytes: u64) -> Result<CsvChunks> {
        let kind = crate::files::Kind {
            name: "data",
            max_bytes: u64::MAX,
        };
        let (file, _) = crate::files::open_bounded(path, kind)?;
        let name = path.display().to_string();
        Ok(CsvChunks {
            records: Records::new(&name, std::io::BufReader::new(file))?,
            chunk_bytes: chunk_bytes.max(1),
            rows: 0,
            done: false,
            starts: Vec::new(),
        })
    }

    /// The chunk of `path` (whose header is `columns`) that starts at `byte`, on `line`.
    fn read_at(
        path: &Path,
        columns: &[String],
        (byte, line): (u64, u64),
        chunk_bytes: u64,
    ) -> Result<Option<Table>> {
        use std::io::{Seek, SeekFrom};
        let kind = crate::files::Kind {
            name: "data",
            max_bytes: u64::MAX,
        };
        let (mut file, _) = crate::files::open_bounded(path, kind)?;
        let name = path.display().to_string();
        file.seek(SeekFrom::Start(byte))
            .map_err(|source| crate::error::Error::Io {
                path: name.clone(),
                source,
            })?;
        let reader = std::io::BufReader::new(file);
        let mut chunks = CsvChunks {
            records: Records::resume(&name, reader, columns.to_vec(), byte, line),
            chunk_bytes: chunk_bytes.max(1),
            // Rows before it: an empty chunk here is the end, not an empty file.
            rows: 1,
            done: false,
            starts: Vec::new(),
        };
        chunks.next_chunk()
    }

    /// The file's columns.
    pub fn columns(&self) -> &[String] {
        &self.records.columns
    }

    fn next_chunk(&mut self) -> Result<Option<Table>> {
        let mut chunk = self.records.empty();
        let mut bytes = 0;
        while bytes < self.chunk_bytes {
            let Some((row, line, size)) = self.records.next_row()? else {
                self.done = true;
                break;
            };
            if chunk.rows.is_empty() {
                let (byte, line) = self.records.row_start();
                self.starts.push(ChunkStart {
                    row: self.rows,
                    at: At::Csv { byte, line },
                });
            }
            chunk.rows.push(row);
            chunk.lines.push(line);
            bytes += size;
        }
        self.rows += chunk.rows.len() as u64;
        match (chunk.rows.is_empty(), self.rows) {
            (true, 0) => Err(self.records.no_rows()),
            (true, _) => Ok(None),
            (false, _) => Ok(Some(chunk)),
        }
    }
}

impl Iterator for CsvChunks {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        if self.done {
            return None;
        }
        let next = self.next_chunk();
        if next.is_err() {
            self.done = true;
        }
        next.transpose()
    }
}

/// A CSV or Parquet file read a chunk at a time.
pub enum Chunks {
    /// A CSV file.
    Csv(CsvChunks),
    /// A Parquet file (the `parquet` feature).
    #[cfg(feature = "parquet")]
    Parquet(super::parquet::ParquetChunks),
}

impl Chunks {
    /// Opens `path`, a CSV file or (by its content) a Parquet file, for chunks of about
    /// `chunk_bytes` bytes once parsed.
    pub fn open(path: &Path, chunk_bytes: u64) -> Result<Chunks> {
        #[cfg(feature = "parquet")]
        if is_parquet_file(path)? {
            let rows = parquet_rows(path, chunk_bytes)?;
            return Ok(Chunks::Parquet(super::parquet::ParquetChunks::open(
                path, rows,
            )?));
        }
        Ok(Chunks::Csv(CsvChunks::open(path, chunk_bytes)?))
    }

    /// Host bytes the file at `path` would take read whole and encoded: for CSV, 8 times its
    /// size (a 243 MB CSV of 30 columns peaked at 1.9 GiB in `train`); for Parquet, its
    /// cells at what a CSV cell costs parsed, twice over (the table and what it becomes).
    pub fn in_memory_bytes(path: &Path) -> Result<u64> {
        #[cfg(feature = "parquet")]
        if is_parquet_file(path)? {
            let columns = super::parquet::ParquetChunks::open(path, 1)?
                .columns()
                .len() as u64;
            let rows: u64 = super::parquet::row_groups(path)?
                .iter()
                .map(|&n| n as u64)
                .sum();
            return Ok(rows
                .saturating_mul(columns)
                .saturating_mul(2 * crate::files::CSV_CELL_OVERHEAD));
        }
        let len = std::fs::metadata(path)
            .map_err(|source| crate::error::Error::Io {
                path: path.display().to_string(),
                source,
            })?
            .len();
        Ok(len.saturating_mul(8))
    }

    /// Where each chunk of the file starts, to read them alone and in any order: for CSV,
    /// the chunks read so far (the whole file once the iterator is spent); for Parquet, each
    /// row group's rows in chunks of the same size, whatever has been read.
    pub fn starts(&self, path: &Path, chunk_bytes: u64) -> Result<Vec<ChunkStart>> {
        match self {
            Chunks::Csv(c) => {
                let _ = (path, chunk_bytes);
                Ok(c.starts.clone())
            }
            #[cfg(feature = "parquet")]
            Chunks::Parquet(_) => {
                let rows = parquet_rows(path, chunk_bytes)?;
                let groups = super::parquet::row_groups(path)?;
                let mut starts = Vec::new();
                let mut row = 0u64;
                for (group, &n) in groups.iter().enumerate() {
                    for offset in (0..n).step_by(rows) {
                        let take = rows.min(n - offset);
                        starts.push(ChunkStart {
                            row,
                            at: At::Parquet {
                                group,
                                offset,
                                rows: take,
                            },
                        });
                        row += take as u64;
                    }
                }
                Ok(starts)
            }
        }
    }

    /// The chunk of `path`, whose header is `columns`, that starts at `start` (from
    /// [`Chunks::starts`] with the same `chunk_bytes`).
    pub fn read_one(
        path: &Path,
        columns: &[String],
        start: &ChunkStart,
        chunk_bytes: u64,
    ) -> Result<Table> {
        ChunkReader::new(path, columns, chunk_bytes).read(start)
    }

    /// The file's columns.
    pub fn columns(&self) -> &[String] {
        match self {
            Chunks::Csv(c) => c.columns(),
            #[cfg(feature = "parquet")]
            Chunks::Parquet(c) => c.columns(),
        }
    }
}

impl Iterator for Chunks {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        match self {
            Chunks::Csv(c) => c.next(),
            #[cfg(feature = "parquet")]
            Chunks::Parquet(c) => c.next(),
        }
    }
}

impl ChunkStart {
    /// The row group it is a slice of (Parquet); `None` for a CSV chunk.
    pub fn row_group(&self) -> Option<usize> {
        match self.at {
            At::Csv { .. } => None,
            #[cfg(feature = "parquet")]
            At::Parquet { group, .. } => Some(group),
        }
    }
}

/// A file's chunks read by their [`ChunkStart`]s, in any order. The slices of a Parquet row
/// group read one after another share one reader, so none is decoded twice (a slice read
/// alone would decode the group's rows before it again).
pub struct ChunkReader {
    path: std::path::PathBuf,
    columns: Vec<String>,
    chunk_bytes: u64,
    /// The row group read last, at its next slice.
    #[cfg(feature = "parquet")]
    group: Option<super::parquet::GroupReader>,
}

impl ChunkReader {
    /// Chunks of `path`, whose header is `columns`, from starts found with `chunk_bytes`.
    pub fn new(path: &Path, columns: &[String], chunk_bytes: u64) -> ChunkReader {
        ChunkReader {
            path: path.to_path_buf(),
            columns: columns.to_vec(),
            chunk_bytes,
            #[cfg(feature = "parquet")]
            group: None,
        }
    }

    /// The chunk that starts at `start`.
    pub fn read(&mut self, start: &ChunkStart) -> Result<Table> {
        let path = &self.path;
        let gone = || crate::error::Error::Input {
            at: crate::error::Location::file(path.display().to_string()),
            message: format!(
                "row {} is no longer where it was when the file was first read; was the file \
                 changed during the run?",
                start.row
            ),
        };
        let chunk = match start.at {
            At::Csv { byte, line } => {
                CsvChunks::read_at(path, &self.columns, (byte, line), self.chunk_bytes)?
            }
            #[cfg(feature = "parquet")]
            At::Parquet {
                group,
                offset,
                rows,
            } => {
                let mut reader = match self.group.take() {
                    Some(reader) if reader.at() == (group, offset) => reader,
                    _ => super::parquet::GroupReader::open(path, group, offset, rows)?,
                };
                let chunk = reader.next_chunk()?;
                self.group = Some(reader);
                chunk.filter(|c| c.rows.len() == rows)
            }
        };
        let chunk = chunk.ok_or_else(gone)?;
        match chunk.columns == self.columns {
            true => Ok(chunk),
            false => Err(gone()),
        }
    }
}

/// Rows a Parquet chunk holds for about `chunk_bytes` parsed bytes: a row's cells cost at
/// least their slots and their text's overhead.
#[cfg(feature = "parquet")]
fn parquet_rows(path: &Path, chunk_bytes: u64) -> Result<usize> {
    let columns = super::parquet::ParquetChunks::open(path, 1)?
        .columns()
        .len();
    let row = columns.max(1) as u64 * crate::files::CSV_CELL_OVERHEAD;
    Ok((chunk_bytes / row).clamp(1, 1 << 20) as usize)
}

/// Whether the file at `path` is a Parquet file: `PAR1` at both ends.
#[cfg(feature = "parquet")]
fn is_parquet_file(path: &Path) -> Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |source| crate::error::Error::Io {
        path: path.display().to_string(),
        source,
    };
    // Through the bounded opener: a pipe or a device is refused, never waited on.
    let kind = crate::files::Kind {
        name: "data",
        max_bytes: u64::MAX,
    };
    let (mut file, len) = crate::files::open_bounded(path, kind)?;
    if len < 8 {
        return Ok(false);
    }
    let (mut head, mut tail) = ([0u8; 4], [0u8; 4]);
    file.read_exact(&mut head).map_err(io)?;
    file.seek(SeekFrom::End(-4)).map_err(io)?;
    file.read_exact(&mut tail).map_err(io)?;
    let mut bytes = head.to_vec();
    bytes.extend_from_slice(&tail);
    Ok(super::parquet::is_parquet(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in the temporary directory holding `text`, removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(tag: &str, text: &str) -> TempFile {
            let path = std::env::temp_dir()
                .join(format!("gpumlp-records-{}-{tag}.csv", std::process::id()));
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn chunks(path: &Path, bytes: u64) -> Result<Vec<Table>> {
        CsvChunks::open(path, bytes)?.collect()
    }

    #[test]
    fn a_file_read_in_chunks_is_its_table_row_for_row_and_line_for_line() {
        // Blank lines (empty and spaces), CRLF endings, a quoted field over two lines,
        // missing spellings, a byte-order mark.
        let mut text = String::from("\u{feff}a, b ,c\r\n\r\n");
        for r in 0..400 {
            match r % 50 {
                7 => text.push_str("   \n"),
                9 => text.push_str(&format!("{r},\"two\nlines\",NA\n")),
                _ => text.push_str(&format!("{r}, x{} ,{}\r\n", r % 3, r as f64 / 8.0)),
            }
        }
        let file = TempFile::new("rows", &text);
        let whole = Table::read(&file.0).unwrap();
        for bytes in [1, 700, 10_000, u64::MAX] {
            let parts = chunks(&file.0, bytes).unwrap();
            assert!(parts.iter().all(|c| c.columns == whole.columns));
            let rows: Vec<_> = parts.iter().flat_map(|c| c.rows.clone()).collect();
            let lines: Vec<u64> = parts.iter().flat_map(|c| c.lines.clone()).collect();
            assert_eq!(rows, whole.rows, "chunks of {bytes} bytes");
            assert_eq!(lines, whole.lines, "chunks of {bytes} bytes");
            if bytes == 1 {
                assert_eq!(parts.len(), whole.rows.len(), "a row a chunk");
            }
            // Each chunk read alone, last first, is the chunk read in order.
            let mut all = Chunks::open(&file.0, bytes).unwrap();
            let in_order: Vec<Table> = all.by_ref().map(|c| c.unwrap()).collect();
            let starts = all.starts(&file.0, bytes).unwrap();
            assert_eq!(starts.len(), in_order.len(), "chunks of {bytes} bytes");
            let mut row = 0;
            for (start, chunk) in starts.iter().zip(&in_order) {
                assert_eq!(start.row, row);
                row += chunk.rows.len() as u64;
            }
            for (start, chunk) in starts.iter().zip(&in_order).rev() {
                let alone = Chunks::read_one(&file.0, &whole.columns, start, bytes).unwrap();
                assert_eq!(
                    (&alone.rows, &alone.lines),
                    (&chunk.rows, &chunk.lines),
                    "the chunk at row {} of {bytes}-byte chunks",
                    start.row
                );
            }
        }
        assert_eq!(whole.columns, vec!["a", "b", "c"]);
    }

    #[test]
    fn a_bad_row_in_a_chunk_is_named_by_its_line() {
        let mut text = String::from("a,b\n");
        for r in 0..300 {
            text.push_str(&format!("{r},{r}\n"));
        }
        text.push_str("\n1,2,3\n");
        let file = TempFile::new("bad", &text);
        let err = chunks(&file.0, 500).unwrap_err().to_string();
        assert!(
            err.contains("line 303") && err.contains("3 fields"),
            "{err}"
        );
        let header_only = TempFile::new("header", "a,b\n\n");
        let err = chunks(&header_only.0, 500).unwrap_err().to_string();
        assert!(err.contains("no data rows"), "{err}");
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn a_parquet_file_read_in_chunks_is_its_table_and_names_the_file_s_rows() {
        use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
        use std::sync::Arc;
        let n = 250;
        let x: ArrayRef = Arc::new(Float64Array::from(
            (0..n)
                .map(|r| (r % 7 != 3).then_some(r as f64 / 4.0))
                .collect::<Vec<_>>(),
        ));
        let y: ArrayRef = Arc::new(StringArray::from(
            (0..n)
                .map(|r| Some(["a", "b", " NA "][r % 3]))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_from_iter([("x", x), ("y", y)]).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(100))
            .build();
        let mut bytes = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let path = std::env::temp_dir().join(format!("gpumlp-chunks-{}.bin", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let whole = Table::read(&path).unwrap();
        let parts: Result<Vec<Table>> = Chunks::open(&path, 2000).unwrap().collect();
        // Chunks read alone, by row group, last first, and their rows' places.
        let starts = Chunks::open(&path, 2000)
            .unwrap()
            .starts(&path, 2000)
            .unwrap();
        let alone: Vec<Table> = starts
            .iter()
            .rev()
            .map(|s| Chunks::read_one(&path, &whole.columns, s, 2000).unwrap())
            .collect();
        std::fs::remove_file(&path).unwrap();
        let alone_rows: Vec<_> = alone.iter().rev().flat_map(|c| c.rows.clone()).collect();
        assert_eq!(alone_rows, whole.rows, "chunks read alone");
        assert!(starts.len() >= 3, "{} chunks", starts.len());
        for (start, chunk) in starts.iter().zip(alone.iter().rev()) {
            assert_eq!(chunk.row_base, start.row);
            assert_eq!(
                chunk.row_location(0).to_string(),
                whole.row_location(start.row as usize).to_string()
            );
        }
        let parts = parts.unwrap();
        assert!(parts.len() > 3, "{} chunks", parts.len());
        let rows: Vec<_> = parts.iter().flat_map(|c| c.rows.clone()).collect();
        assert_eq!(rows, whole.rows);
        // The last chunk's last row is the file's row 250, in row group 2.
        let last = parts.last().unwrap();
        let at = last.row_location(last.rows.len() - 1).to_string();
        assert!(at.ends_with("row 250 (row group 2)"), "{at}");
    }
}
