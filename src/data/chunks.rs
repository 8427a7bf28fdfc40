//! A data file read a chunk of rows at a time, for a file larger than memory: CSV (about
//! a number of parsed bytes a chunk) or Parquet (a number of rows a chunk), told apart by
//! content as [`Table::read`] tells them. Each chunk is a [`Table`] of the file's columns
//! whose rows keep their place in the file for messages.

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
        })
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
            let chunks = super::parquet::ParquetChunks::open(path, 1)?;
            // A row's cells cost at least their slots and their text's overhead.
            let row = chunks.columns().len().max(1) as u64 * crate::files::CSV_CELL_OVERHEAD;
            let rows = (chunk_bytes / row).clamp(1, 1 << 20) as usize;
            return Ok(Chunks::Parquet(super::parquet::ParquetChunks::open(
                path, rows,
            )?));
        }
        Ok(Chunks::Csv(CsvChunks::open(path, chunk_bytes)?))
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

/// Whether the file at `path` is a Parquet file: `PAR1` at both ends.
#[cfg(feature = "parquet")]
fn is_parquet_file(path: &Path) -> Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |source| crate::error::Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
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
        std::fs::remove_file(&path).unwrap();
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
