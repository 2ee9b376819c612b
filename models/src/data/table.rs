//! A numeric table read from a CSV file with a header line.

use ferrograd_nn::{Error, Result};
use ferrograd_tensor::Tensor;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The UTF-8 byte order mark some spreadsheet programs write first.
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Longest cell text quoted in an error message.
const SHOWN_CHARS: usize = 32;

/// A table of finite numbers with named columns, read from a CSV file.
///
/// The file's first non-blank, non-comment line names the columns; every
/// further line is a row of numbers. Cells are separated by `,`, may be
/// surrounded by spaces and by double quotes; CRLF line endings, a UTF-8 byte
/// order mark, blank lines and lines starting with `#` are accepted.
///
/// ```
/// use ferrograd_models::data::Table;
/// let dir = std::env::temp_dir().join(format!("ferrograd-table-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("t.csv");
/// std::fs::write(&path, "x, y\n1, 2\n3, 4\n").unwrap();
/// let table = Table::read(&path).unwrap();
/// assert_eq!(table.names(), ["x", "y"]);
/// let y = table.columns(&["y"]).unwrap();
/// assert_eq!((y.dims(), y.data()), (&[2, 1][..], &[2.0, 4.0][..]));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Table {
    path: PathBuf,
    names: Vec<String>,
    /// Row-major values, `rows × names.len()`.
    values: Vec<f64>,
    /// The 1-based line of the file each row came from.
    lines: Vec<usize>,
}

fn format_error(path: &Path, problem: String) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        problem,
    }
}

/// The cells of one line as byte ranges: split at commas outside double
/// quotes, each trimmed of spaces (quotes stay in; [`unquote`] removes them).
/// `Err` for an unterminated quote.
fn split_cells(line: &[u8], cells: &mut Vec<Range<usize>>) -> std::result::Result<(), ()> {
    cells.clear();
    let mut push = |start: usize, end: usize| {
        let cell = &line[start..end];
        let lead = cell.len() - cell.trim_ascii_start().len();
        let trail = cell.len() - cell.trim_ascii_end().len();
        cells.push(start + lead..(end - trail).max(start + lead));
    };
    let mut start = 0;
    let mut quoted = false;
    for (i, &b) in line.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                push(start, i);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(start, line.len());
    if quoted {
        Err(())
    } else {
        Ok(())
    }
}

/// A trimmed cell without its surrounding double quotes.
fn unquote(cell: &[u8]) -> &[u8] {
    match cell {
        [b'"', inner @ .., b'"'] => inner.trim_ascii(),
        _ => cell,
    }
}

/// The cell's text for an error message, cut after [`SHOWN_CHARS`].
fn shown(cell: &[u8]) -> String {
    let text = String::from_utf8_lossy(cell);
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

impl Table {
    /// Reads the CSV file at `path`.
    ///
    /// Errors: [`Error::Io`] when the file cannot be read, [`Error::Format`]
    /// (naming the file, the line and the column) for an empty or duplicate
    /// column name, a row with a different number of cells than the header,
    /// an unterminated quote (a cell cannot span lines), an empty or
    /// non-numeric cell, NaN or infinity, and a file without a header or
    /// without data rows.
    pub fn read(path: &Path) -> Result<Table> {
        let file = File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Table::from_reader(BufReader::with_capacity(1 << 16, file), path)
    }

    /// Parses CSV text already in memory, as [`Table::read`] does a file;
    /// `path` is the file named in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Table> {
        Table::from_reader(bytes, path)
    }

    fn from_reader(mut input: impl BufRead, path: &Path) -> Result<Table> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut buf = Vec::with_capacity(256);
        let mut cells = Vec::new();
        let mut names: Option<Vec<String>> = None;
        let mut values = Vec::new();
        let mut lines = Vec::new();
        let mut line = 0;
        loop {
            buf.clear();
            if input.read_until(b'\n', &mut buf).map_err(io)? == 0 {
                break;
            }
            line += 1;
            let mut text = buf.as_slice();
            if line == 1 {
                text = text.strip_prefix(BOM).unwrap_or(text);
            }
            let text = text.trim_ascii();
            if text.is_empty() || text[0] == b'#' {
                continue;
            }
            if split_cells(text, &mut cells).is_err() {
                return Err(format_error(
                    path,
                    format!("line {line}: unterminated quote (a cell cannot span lines)"),
                ));
            }
            let Some(names) = &names else {
                names = Some(Table::parse_header(path, line, text, &cells)?);
                continue;
            };
            if cells.len() != names.len() {
                return Err(format_error(
                    path,
                    format!(
                        "line {line}: got {} cells, header has {}",
                        cells.len(),
                        names.len()
                    ),
                ));
            }
            for (cell, name) in cells.iter().zip(names) {
                values.push(Table::parse_cell(path, line, name, &text[cell.clone()])?);
            }
            lines.push(line);
        }
        let Some(names) = names else {
            return Err(format_error(
                path,
                "empty file: no header line, fewer rows than the 1 needed".into(),
            ));
        };
        if lines.is_empty() {
            return Err(format_error(
                path,
                "header only: 0 data rows, fewer rows than the 1 needed".into(),
            ));
        }
        Ok(Table {
            path: path.to_path_buf(),
            names,
            values,
            lines,
        })
    }

    fn parse_header(
        path: &Path,
        line: usize,
        text: &[u8],
        cells: &[Range<usize>],
    ) -> Result<Vec<String>> {
        let mut seen = HashMap::with_capacity(cells.len());
        let mut names = Vec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            let name = std::str::from_utf8(unquote(&text[cell.clone()]))
                .map_err(|_| {
                    format_error(
                        path,
                        format!("line {line}: column {} name is not UTF-8", i + 1),
                    )
                })?
                .replace("\"\"", "\"");
            if name.is_empty() {
                return Err(format_error(
                    path,
                    format!("line {line}: column {} of the header has no name", i + 1),
                ));
            }
            if let Some(first) = seen.insert(name.clone(), i) {
                return Err(format_error(
                    path,
                    format!(
                        "line {line}: duplicate column name \"{name}\" (columns {} and {})",
                        first + 1,
                        i + 1
                    ),
                ));
            }
            names.push(name);
        }
        Ok(names)
    }

    fn parse_cell(path: &Path, line: usize, name: &str, cell: &[u8]) -> Result<f64> {
        let text = unquote(cell);
        let bad =
            |what: &str| format_error(path, format!("line {line}, column \"{name}\": {what}"));
        if text.is_empty() {
            return Err(bad("empty cell"));
        }
        let value: f64 = std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(&format!("\"{}\" is not a number", shown(text))))?;
        if !value.is_finite() {
            return Err(bad(&format!(
                "\"{}\" is not finite (NaN or infinity)",
                shown(text)
            )));
        }
        Ok(value)
    }

    /// The file the table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The column names, in file order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The number of data rows.
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    /// The 1-based line of the file that row `row` came from.
    pub fn line(&self, row: usize) -> Option<usize> {
        self.lines.get(row).copied()
    }

    /// All values, row-major (`rows × names().len()`).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The position of column `name`, or an error naming it and listing the
    /// columns the file has.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            format_error(
                &self.path,
                format!(
                    "no column \"{name}\"; the file has {}",
                    self.names
                        .iter()
                        .map(|n| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    }

    /// The named columns as an f32 tensor `[rows, names.len()]`, in the
    /// order asked for; an error names a missing column, or a value too
    /// large for f32 with its line.
    pub fn columns<S: AsRef<str>>(&self, names: &[S]) -> Result<Tensor> {
        let picked: Vec<usize> = names
            .iter()
            .map(|n| self.index_of(n.as_ref()))
            .collect::<Result<_>>()?;
        let width = self.names.len();
        let mut out = Vec::with_capacity(self.rows() * picked.len());
        for (row, values) in self.values.chunks_exact(width).enumerate() {
            for &c in &picked {
                let v = values[c] as f32;
                if !v.is_finite() {
                    return Err(format_error(
                        &self.path,
                        format!(
                            "line {}, column \"{}\": {} is too large for f32",
                            self.lines[row], self.names[c], values[c]
                        ),
                    ));
                }
                out.push(v);
            }
        }
        Ok(Tensor::from_vec(out, &[self.rows(), picked.len()])?)
    }
}
