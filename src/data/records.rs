//! CSV records into a table's rows, the same way for a file read whole ([`Table::from_bytes`])
//! and one read a chunk at a time ([`super::chunks::CsvChunks`], a file larger than memory): the header is
//! the first record that is not blank, and each data row must have the header's fields, in
//! UTF-8, trimmed, with the missing spellings read as missing. Every row keeps the line it
//! starts on in the file.

use super::table::{is_missing, Cell, Table};
use crate::error::{Error, Location, Result};
use std::collections::HashSet;
use std::io::Read;

/// A reader that remembers the bytes the csv crate has read past the last record it was asked
/// about, to turn records' byte offsets into line numbers (the csv crate's own line numbers
/// are wrong where it skips blank lines), and refuses a physical line longer than
/// [`crate::files::MAX_CSV_LINE`] before the csv crate buffers it.
pub(crate) struct Lines<R> {
    inner: R,
    /// Bytes from `window_start` on, as read.
    window: Vec<u8>,
    window_start: u64,
    /// Bytes before this have been counted.
    byte: u64,
    /// The line `byte` is on.
    line: u64,
    /// Bytes since the last newline read.
    line_len: usize,
}

/// The io error a line too long becomes, told apart from the reader's own.
#[derive(Debug)]
struct LineTooLong(u64);

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} is too long", self.0)
    }
}

impl std::error::Error for LineTooLong {}

impl<R: Read> Lines<R> {
    pub(crate) fn new(inner: R) -> Lines<R> {
        Lines {
            inner,
            window: Vec::new(),
            window_start: 0,
            byte: 0,
            line: 1,
            line_len: 0,
        }
    }

    /// The line a record starting at byte `start` begins on (1-based). The offset may point
    /// at blank lines the csv crate skipped before it; those are stepped over.
    fn line_of(&mut self, start: u64) -> u64 {
        let mut start = start.max(self.byte);
        let at = |i: u64| {
            let i = i.checked_sub(self.window_start)?;
            self.window.get(usize::try_from(i).ok()?).copied()
        };
        while matches!(at(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let from = (self.byte - self.window_start) as usize;
        let to = ((start - self.window_start) as usize).min(self.window.len());
        let newlines = self.window[from.min(to)..to]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += newlines as u64;
        self.byte = start;
        // Forget what is counted once it is most of the window.
        let dead = (self.byte - self.window_start) as usize;
        if dead > 1 << 16 && dead * 2 > self.window.len() {
            self.window.drain(..dead.min(self.window.len()));
            self.window_start += dead as u64;
        }
        self.line
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let max = crate::files::MAX_CSV_LINE;
        for (i, &b) in buf[..n].iter().enumerate() {
            self.line_len = if b == b'\n' { 0 } else { self.line_len + 1 };
            if self.line_len > max {
                // The line it is on: the counted line, and the newlines read since.
                let uncounted = &self.window[(self.byte - self.window_start) as usize..];
                let newlines = uncounted.iter().chain(&buf[..i]).filter(|&&b| b == b'\n');
                let line = self.line + newlines.count() as u64;
                return Err(std::io::Error::other(LineTooLong(line)));
            }
        }
        self.window.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// A data row's cells, the line it starts on and its parsed size in bytes.
pub(crate) type Row = (Vec<Option<Cell>>, u64, u64);

/// A CSV source's records, parsed into rows.
pub(crate) struct Records<R> {
    name: String,
    /// The file offset the reader started at (a chunk read alone starts past the header).
    base: u64,
    csv: csv::Reader<Lines<R>>,
    record: csv::ByteRecord,
    /// The header's columns.
    pub(crate) columns: Vec<String>,
}

/// `message` about line `line` (or the whole file) of `name`.
fn input(name: &str, line: Option<u64>, message: String) -> Error {
    let at = Location::file(name);
    Error::Input {
        at: match line {
            Some(line) => at.line(line),
            None => at,
        },
        message,
    }
}

impl<R: Read> Records<R> {
    /// Reads the header of `reader` (`name` stands for it in messages): the first record
    /// that is not blank, whose names must be non-empty and unique.
    pub(crate) fn new(name: &str, reader: R) -> Result<Records<R>> {
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(Lines::new(reader));
        let mut records = Records {
            name: name.to_string(),
            base: 0,
            csv,
            record: csv::ByteRecord::new(),
            columns: Vec::new(),
        };
        let (columns, line) = loop {
            if !records.read()? {
                return Err(input(name, None, "the file is empty".into()));
            }
            let line = records.line();
            if is_blank(&records.record) {
                continue;
            }
            let cells = decode(&records.record, |index| {
                input(
                    name,
                    line,
                    format!(
                        "header field {} is not valid UTF-8; save the file as UTF-8",
                        index + 1
                    ),
                )
            })?;
            break (cells, line);
        };
        let columns: Vec<String> = columns
            .into_iter()
            .enumerate()
            .map(|(i, c)| match i {
                0 => c.trim_start_matches('\u{feff}').trim().to_string(),
                _ => c,
            })
            .collect();
        let mut seen = HashSet::new();
        for (i, column) in columns.iter().enumerate() {
            if column.is_empty() {
                return Err(input(
                    name,
                    line,
                    format!(
                        "column {} of the header has an empty name; every column needs a name",
                        i + 1
                    ),
                ));
            }
            if !seen.insert(column.as_str()) {
                let at = Location::file(name).column(column.clone());
                return Err(Error::Input {
                    at: match line {
                        Some(line) => at.line(line),
                        None => at,
                    },
                    message: format!(
                        "the header names column {column:?} twice; column names must be unique"
                    ),
                });
            }
        }
        records.columns = columns;
        Ok(records)
    }

    /// Records of a file whose header is `columns`, from `reader` placed at byte `base` of
    /// the file, at the start of a record on line `line`: a chunk read alone.
    pub(crate) fn resume(
        name: &str,
        reader: R,
        columns: Vec<String>,
        base: u64,
        line: u64,
    ) -> Records<R> {
        let mut lines = Lines::new(reader);
        lines.line = line;
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(lines);
        Records {
            name: name.to_string(),
            base,
            csv,
            record: csv::ByteRecord::new(),
            columns,
        }
    }

    /// The file offset and line of the row [`Records::next_row`] returned last: where to
    /// start reading it again.
    pub(crate) fn row_start(&self) -> (u64, u64) {
        let lines = self.csv.get_ref();
        (self.base + lines.byte, lines.line)
    }

    /// The line the current record starts on.
    fn line(&mut self) -> Option<u64> {
        let start = self.record.position()?.byte();
        Some(self.csv.get_mut().line_of(start))
    }

    /// Reads the next record; false at the end. Read failures become errors naming the file.
    fn read(&mut self) -> Result<bool> {
        let name = &self.name;
        self.csv.read_byte_record(&mut self.record).map_err(|e| {
            let line = e.position().map(|p| p.line());
            let message = e.to_string();
            match e.into_kind() {
                csv::ErrorKind::Io(source) => match source
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<LineTooLong>())
                {
                    Some(&LineTooLong(line)) => {
                        let max = crate::files::MAX_CSV_LINE;
                        input(
                            name,
                            Some(line),
                            format!(
                                "the line is more than {max} bytes long; a CSV line may be at \
                                 most {max} bytes ({})",
                                crate::files::size_words(max as u64)
                            ),
                        )
                    }
                    None => Error::Io {
                        path: name.to_string(),
                        source,
                    },
                },
                _ => input(name, line, format!("cannot read the CSV: {message}")),
            }
        })
    }

    /// The next data row, its line and its parsed size (its text and
    /// [`crate::files::CSV_CELL_OVERHEAD`] a cell); `None` at the end.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row>> {
        loop {
            if !self.read()? {
                return Ok(None);
            }
            if is_blank(&self.record) {
                continue;
            }
            let line = self.line();
            let (name, columns, record) = (&self.name, &self.columns, &self.record);
            if record.len() != columns.len() {
                return Err(input(
                    name,
                    line,
                    format!(
                        "the row has {} field{} but the header has {}",
                        record.len(),
                        if record.len() == 1 { "" } else { "s" },
                        columns.len()
                    ),
                ));
            }
            let size = record.len() as u64 * crate::files::CSV_CELL_OVERHEAD
                + record.as_slice().len() as u64;
            let cells = decode(record, |index| {
                let at = Location::file(name.as_str());
                let at = match line {
                    Some(line) => at.line(line),
                    None => at,
                };
                let at = match columns.get(index) {
                    Some(column) => at.column(column.clone()),
                    None => at,
                };
                Error::Input {
                    at,
                    message: "the cell is not valid UTF-8; save the file as UTF-8".into(),
                }
            })?;
            let row = cells
                .into_iter()
                .map(|cell| (!is_missing(&cell)).then_some(Cell::Text(cell)))
                .collect();
            return Ok(Some((row, line.unwrap_or(0), size)));
        }
    }

    /// An empty table of the source's columns, for rows to go in.
    pub(crate) fn empty(&self) -> Table {
        Table {
            name: self.name.clone(),
            columns: self.columns.clone(),
            rows: Vec::new(),
            lines: Vec::new(),
            row_groups: Vec::new(),
            row_base: 0,
        }
    }

    /// The error for a source with a header and no rows.
    pub(crate) fn no_rows(&self) -> Error {
        input(
            &self.name,
            None,
            "the file has a header but no data rows".into(),
        )
    }
}

/// A line holding only whitespace: the csv crate skips truly empty lines, and this skips the
/// ones with stray spaces as well.
fn is_blank(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace))
}

/// The record's fields as trimmed text; `bad(index)` builds the error for a field that is not
/// UTF-8.
fn decode(record: &csv::ByteRecord, bad: impl Fn(usize) -> Error) -> Result<Vec<String>> {
    record
        .iter()
        .enumerate()
        .map(|(i, field)| match std::str::from_utf8(field) {
            Ok(text) => Ok(text.trim().to_string()),
            Err(_) => Err(bad(i)),
        })
        .collect()
}
