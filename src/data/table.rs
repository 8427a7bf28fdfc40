//! A CSV file read into memory as trimmed text, with every row's line in the file kept so
//! that any later complaint about a cell can name the file, the line and the column.

use super::records::Records;
use crate::error::{Error, Location, Result};
use std::io::Read;
use std::path::Path;

/// How many column names an error message lists before it stops.
const LISTED_COLUMNS: usize = 20;

/// A table with named columns: a CSV file read into memory as text, or rows handed over as
/// numbers (the estimators); missing cells are None.
///
/// Kept as read so the column kinds (numeric, categorical, label) can be decided later from
/// all the rows at once, and so a predict file can be checked against what the model expects.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The path as the user gave it, for messages.
    pub name: String,
    /// Column names from the header, trimmed, unique and non-empty.
    pub columns: Vec<String>,
    /// Cells row by row; `None` where the cell is missing ([`is_missing`] text, or NaN).
    /// Every row has exactly `columns.len()` cells.
    pub rows: Vec<Vec<Option<Cell>>>,
    /// The file line each row starts on (the header is line 1), so messages can point at it
    /// (empty for a Parquet file, which has no lines).
    pub lines: Vec<u64>,
    /// A Parquet file's first row of each row group, so messages can name it (empty for a
    /// CSV file).
    pub row_groups: Vec<u64>,
    /// The file row (from 0) of the table's first row: 0, or where a chunk of a Parquet file
    /// read a part at a time starts, so messages name the file's row.
    pub row_base: u64,
}

/// One present cell: text as read from a file (trimmed), or a number handed over as one,
/// never NaN (a missing cell is `None`).
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text, which may spell a number.
    Text(String),
    /// A number, which may be infinite (refused where a finite one is needed).
    Number(f64),
}

impl Cell {
    /// The cell as a finite number, if it is one (text that spells one, or a finite number).
    pub fn number(&self) -> Option<f64> {
        match self {
            Cell::Text(text) => text.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
            Cell::Number(v) => Some(*v).filter(|v| v.is_finite()),
        }
    }

    /// Whether the cell is a number that is not finite: `inf`, `-infinity`, `1e999`, or an
    /// infinite number.
    pub fn non_finite(&self) -> bool {
        match self {
            Cell::Text(text) => text.trim().parse::<f64>().is_ok_and(|v| !v.is_finite()),
            Cell::Number(v) => !v.is_finite(),
        }
    }

    /// The cell as text: a number in its shortest exact form (`1`, `0.25`), as a category
    /// or a class label names it.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Cell::Text(text) => std::borrow::Cow::Borrowed(text),
            Cell::Number(v) => std::borrow::Cow::Owned(v.to_string()),
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::Text(text.to_string())
    }
}

impl Table {
    /// The cell at `row` and `column`: `None` where it is missing or out of range.
    pub fn cell(&self, row: usize, column: usize) -> Option<&Cell> {
        self.rows.get(row)?.get(column)?.as_ref()
    }

    /// Reads a CSV file, or a Parquet file (told by its content, with the `parquet`
    /// feature); a missing or unreadable file is an [`Error::Io`] naming the path. Only a
    /// regular file of at most [`crate::files::max_csv_bytes`] is read, and the table parsed
    /// from it must fit in the memory available (see [`Table::from_bytes`]).
    pub fn read(path: &Path) -> Result<Table> {
        let kind = crate::files::Kind {
            name: "data",
            max_bytes: crate::files::max_csv_bytes(),
        };
        let bytes = crate::files::read_bounded(path, kind)?;
        let name = path.display().to_string();
        #[cfg(feature = "parquet")]
        if super::parquet::is_parquet(&bytes) {
            return super::parquet::read(&name, bytes);
        }
        Table::from_bytes(&name, &bytes)
    }

    /// Reads CSV text from any reader, at most [`crate::files::max_csv_bytes`] of it; `name`
    /// stands for the source in messages, which lets tests and stdin use the same checks as
    /// files.
    pub fn from_reader<R: std::io::Read>(name: &str, reader: R) -> Result<Table> {
        let max = crate::files::max_csv_bytes();
        let mut data = Vec::new();
        reader
            .take(max + 1)
            .read_to_end(&mut data)
            .map_err(|source| Error::Io {
                path: name.to_string(),
                source,
            })?;
        if data.len() as u64 > max {
            return Err(Error::Input {
                at: Location::file(name),
                message: format!(
                    "more than {max} bytes ({}): a CSV file may be at most half the memory \
                     available",
                    crate::files::size_words(max)
                ),
            });
        }
        Table::from_bytes(name, &data)
    }

    /// Parses CSV text held in memory (read whole first: the bytes give true line numbers,
    /// which the csv crate does not when it skips blank lines). A physical line longer than
    /// [`crate::files::MAX_CSV_LINE`] is refused, and so is a table whose cells would need
    /// more than the memory available once parsed (each cell costs its text and
    /// [`crate::files::CSV_CELL_OVERHEAD`] bytes).
    pub fn from_bytes(name: &str, data: &[u8]) -> Result<Table> {
        check_line_lengths(name, data)?;
        let budget = crate::files::memory_available();
        let mut records = Records::new(name, data)?;
        let mut table = records.empty();
        let mut parsed_bytes = 0u64;
        while let Some((row, line, size)) = records.next_row()? {
            parsed_bytes += size;
            if parsed_bytes > budget {
                return Err(Error::Input {
                    at: Location::file(name).line(line),
                    message: format!(
                        "the table parsed so far needs {} and this machine has {} available; \
                         gpumlp holds a CSV file in memory, {} bytes per cell besides its text",
                        crate::files::size_words(parsed_bytes),
                        crate::files::size_words(budget),
                        crate::files::CSV_CELL_OVERHEAD
                    ),
                });
            }
            table.rows.push(row);
            table.lines.push(line);
        }
        if table.rows.is_empty() {
            return Err(records.no_rows());
        }
        Ok(table)
    }

    /// The index of a column, so callers can name columns the way the user does; a name that
    /// is not there is an error listing the columns that are.
    pub fn column(&self, name: &str) -> Result<usize> {
        if let Some(index) = self.columns.iter().position(|c| c == name) {
            return Ok(index);
        }
        Err(Error::Input {
            at: Location::file(self.name.clone()),
            message: format!(
                "no column {name:?}; the columns are {}",
                list_columns(&self.columns)
            ),
        })
    }

    /// Where row `row` is: its line in a CSV file, or its row and row group in a Parquet file.
    pub fn row_location(&self, row: usize) -> Location {
        let at = Location::file(self.name.clone());
        if let Some(&line) = self.lines.get(row) {
            at.line(line)
        } else if !self.row_groups.is_empty() {
            let row = self.row_base + row as u64;
            let group = self.row_groups.partition_point(|&start| start <= row);
            at.row(row + 1, group.saturating_sub(1))
        } else {
            at
        }
    }

    /// Where a cell sits in the file, so messages about it can point there. Out-of-range
    /// indices give as much of the location as exists.
    pub fn location(&self, row: usize, column: usize) -> Location {
        let mut at = self.row_location(row);
        if let Some(name) = self.columns.get(column) {
            at = at.column(name.clone());
        }
        at
    }
}

/// The spellings of a missing value besides the empty cell, lower case; [`is_missing`] compares
/// them ASCII case-insensitively (and the ONNX export builds its pattern from them).
pub(crate) const MISSING: [&str; 6] = ["na", "n/a", "nan", "null", "none", "?"];

/// True for the spellings of a missing value: empty, NA, N/A, NaN, null, None, ? (trimmed,
/// case-insensitive), so that files exported by R, pandas, SQL tools and spreadsheets all
/// read the same way.
pub fn is_missing(cell: &str) -> bool {
    let cell = cell.trim();
    cell.is_empty() || MISSING.iter().any(|m| cell.eq_ignore_ascii_case(m))
}

/// Refuses a physical line longer than [`crate::files::MAX_CSV_LINE`], naming it.
fn check_line_lengths(name: &str, data: &[u8]) -> Result<()> {
    let max = crate::files::MAX_CSV_LINE;
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        if line.len() > max {
            return Err(Error::Input {
                at: Location::file(name).line(i as u64 + 1),
                message: format!(
                    "the line is {} bytes long; a CSV line may be at most {max} bytes ({})",
                    line.len(),
                    crate::files::size_words(max as u64)
                ),
            });
        }
    }
    Ok(())
}

/// Column names for a message: at most [`LISTED_COLUMNS`], then how many more there are.
pub(crate) fn list_columns(columns: &[String]) -> String {
    let mut listed = columns
        .iter()
        .take(LISTED_COLUMNS)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if columns.len() > LISTED_COLUMNS {
        listed.push_str(&format!(" and {} more", columns.len() - LISTED_COLUMNS));
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Table> {
        Table::from_reader("data.csv", text.as_bytes())
    }

    fn error(text: &str) -> String {
        match table(text) {
            Ok(t) => panic!("expected an error, read {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn reads_numbers_text_and_missing_values() {
        let t =
            table("age, color ,score\n 31 ,red,1.5\n\nNA,  ,?\n40,\"blue, dark\",n/a\n").unwrap();
        assert_eq!(t.columns, ["age", "color", "score"]);
        assert_eq!(
            t.rows,
            vec![
                vec![Some("31".into()), Some("red".into()), Some("1.5".into())],
                vec![None, None, None],
                vec![Some("40".into()), Some("blue, dark".into()), None],
            ]
        );
        assert_eq!(t.lines, [2, 4, 5]);
        assert_eq!(t.column("score").unwrap(), 2);
        assert_eq!(
            t.location(1, 1).to_string(),
            "data.csv, line 4, column \"color\""
        );
    }

    #[test]
    fn missing_spellings() {
        for m in [
            "", " ", "NA", "na", "N/A", "NaN", "nan", "null", "NULL", "None", "?", " ? ",
        ] {
            assert!(is_missing(m), "{m:?}");
        }
        for v in ["0", "n", "NAN1", "-", "none!"] {
            assert!(!is_missing(v), "{v:?}");
        }
    }

    #[test]
    fn accepts_a_bom_and_crlf() {
        let t = table("\u{feff}a,b\r\n1,2\r\n").unwrap();
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(t.rows, vec![vec![Some("1".into()), Some("2".into())]]);
    }

    #[test]
    fn errors_name_the_file_line_and_column() {
        assert_eq!(error(""), "data.csv: the file is empty");
        assert_eq!(error("\n\n"), "data.csv: the file is empty");
        assert!(error("a,b\n").contains("data.csv: the file has a header but no data rows"));
        let ragged = error("a,b,c\n1,2,3\n4,5\n6,7,8\n");
        assert!(
            ragged.contains("data.csv, line 3: the row has 2 fields but the header has 3"),
            "{ragged}"
        );
        let empty = error("a,,c\n1,2,3\n");
        assert!(
            empty.contains("data.csv, line 1: column 2 of the header has an empty name"),
            "{empty}"
        );
        let duplicate = error("a,b,a\n1,2,3\n");
        assert!(
            duplicate
                .contains("data.csv, line 1, column \"a\": the header names column \"a\" twice"),
            "{duplicate}"
        );
        let missing = table("a,b,c\n1,2,3\n").unwrap().column("x").unwrap_err();
        assert_eq!(
            missing.to_string(),
            "data.csv: no column \"x\"; the columns are a, b, c"
        );
    }

    #[test]
    fn invalid_utf8_names_the_line_and_column() {
        let bytes: &[u8] = b"a,b\n1,2\n3,\xff\xfe\n";
        let e = Table::from_reader("data.csv", bytes)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data.csv, line 3, column \"b\": the cell is not valid UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn long_column_lists_are_cut() {
        let header: Vec<String> = (0..25).map(|i| format!("c{i}")).collect();
        let text = format!("{}\n{}\n", header.join(","), vec!["1"; 25].join(","));
        let e = table(&text).unwrap().column("x").unwrap_err().to_string();
        assert!(e.ends_with("c19 and 5 more"), "{e}");
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let e = Table::read(Path::new("/no/such/dir/data.csv")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        assert!(e.to_string().starts_with("/no/such/dir/data.csv: "));
    }

    #[test]
    fn the_memory_check_counts_what_a_cell_costs() {
        // The cell, and at least 16 bytes of allocator bookkeeping for its text.
        let cell = std::mem::size_of::<Option<Cell>>() as u64;
        assert!(cell + 16 <= crate::files::CSV_CELL_OVERHEAD, "{cell}");
    }

    #[test]
    fn blank_lines_keep_line_numbers() {
        let t = table("a\n\n1\n   \n2\n").unwrap();
        assert_eq!(t.lines, [3, 5]);
    }

    #[test]
    fn quoted_newlines_and_crlf_blank_lines_keep_line_numbers() {
        let t = table("a,b\n1,\"x\ny\"\n2,3\n").unwrap();
        assert_eq!(t.lines, [2, 4]);
        assert_eq!(t.cell(0, 1), Some(&Cell::from("x\ny")));
        let t = table("a,b\r\n\r\n1,2\r\n\r\n\r\n3,4").unwrap();
        assert_eq!(t.lines, [3, 6]);
        let e = error("\n\na,b\n\n1,2\n\n3\n");
        assert!(
            e.contains("data.csv, line 7: the row has 1 field but"),
            "{e}"
        );
    }
}
