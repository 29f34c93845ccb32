//! Tables read with polars: a CSV or Parquet file (a sweep's `results.*` or an external table
//! such as Epoch AI's Chinchilla points), row filters, and named `f64` columns with errors that
//! name the file, the column and the row.
//!
//! Rows are numbered from 0 in file order, header excluded, and keep their number through
//! filters, so an error points at the row a user would look up in the file.

use std::path::{Path, PathBuf};

use polars::prelude::*;

/// What can go wrong with a table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The file could not be read or parsed.
    #[error("cannot read table {}", path.display())]
    Read {
        /// File.
        path: PathBuf,
        /// polars' error.
        #[source]
        source: PolarsError,
    },
    /// The file name has no known table extension.
    #[error("{}: unknown table format (expected a .csv or .parquet file)", path.display())]
    Format {
        /// File.
        path: PathBuf,
    },
    /// A requested column is not in the table.
    #[error("{}: no column `{column}`; the table has: {available}", path.display())]
    MissingColumn {
        /// File.
        path: PathBuf,
        /// Requested column.
        column: String,
        /// The table's columns, comma-separated.
        available: String,
    },
    /// A cell that must be a number is not.
    #[error("{}: column `{column}`, row {row}: {value:?} is not a number", path.display())]
    NonNumeric {
        /// File.
        path: PathBuf,
        /// Column.
        column: String,
        /// Row (0-based, header excluded).
        row: usize,
        /// The cell as text.
        value: String,
    },
    /// A cell that must hold a number is empty.
    #[error("{}: column `{column}`, row {row} is empty", path.display())]
    Empty {
        /// File.
        path: PathBuf,
        /// Column.
        column: String,
        /// Row (0-based, header excluded).
        row: usize,
    },
    /// A number is NaN or infinite.
    #[error("{}: column `{column}`, row {row}: {value} is not finite", path.display())]
    NotFinite {
        /// File.
        path: PathBuf,
        /// Column.
        column: String,
        /// Row (0-based, header excluded).
        row: usize,
        /// The value.
        value: f64,
    },
    /// A number that must be positive is not.
    #[error("{}: column `{column}`, row {row}: {value} must be positive", path.display())]
    NonPositive {
        /// File.
        path: PathBuf,
        /// Column.
        column: String,
        /// Row (0-based, header excluded).
        row: usize,
        /// The value.
        value: f64,
    },
}

/// Result with [`TableError`].
pub type TableResult<T> = std::result::Result<T, TableError>;

/// A table and the file it came from.
#[derive(Debug, Clone)]
pub struct Table {
    path: PathBuf,
    frame: DataFrame,
    /// File row of each frame row.
    rows: Vec<usize>,
}

impl Table {
    /// Reads a `.csv` (header row, schema inferred from the whole file) or `.parquet` file.
    ///
    /// # Errors
    /// [`TableError::Format`] for another extension, [`TableError::Read`] if polars fails.
    pub fn read(path: &Path) -> TableResult<Table> {
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let read_error = |source| TableError::Read { path: path.to_path_buf(), source };
        let frame = match extension.as_deref() {
            Some("csv") => CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(None)
                .try_into_reader_with_file_path(Some(path.to_path_buf()))
                .and_then(|reader| reader.finish())
                .map_err(read_error)?,
            Some("parquet" | "pq") => {
                let file = std::fs::File::open(path).map_err(|e| read_error(e.into()))?;
                ParquetReader::new(file).finish().map_err(read_error)?
            }
            _ => return Err(TableError::Format { path: path.to_path_buf() }),
        };
        Ok(Table::from_frame(path, frame))
    }

    /// Wraps a frame that came from `path`.
    pub fn from_frame(path: &Path, frame: DataFrame) -> Table {
        let rows = (0..frame.height()).collect();
        Table { path: path.to_path_buf(), frame, rows }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The polars frame.
    pub fn frame(&self) -> &DataFrame {
        &self.frame
    }

    /// Number of rows.
    pub fn height(&self) -> usize {
        self.frame.height()
    }

    /// File row (0-based, header excluded) of each row, after filters.
    pub fn file_rows(&self) -> &[usize] {
        &self.rows
    }

    /// Column names in order.
    pub fn column_names(&self) -> Vec<String> {
        self.frame.get_column_names().iter().map(|n| n.to_string()).collect()
    }

    /// Whether the table has `column`.
    pub fn has_column(&self, column: &str) -> bool {
        self.frame.column(column).is_ok()
    }

    fn column(&self, column: &str) -> TableResult<&Column> {
        self.frame.column(column).map_err(|_| TableError::MissingColumn {
            path: self.path.clone(),
            column: column.to_string(),
            available: self.column_names().join(", "),
        })
    }

    /// The rows whose `column` equals `value`: numerically when the column is numeric and
    /// `value` parses as a number, case-insensitively for booleans (`False` matches `false`),
    /// as text otherwise.
    ///
    /// # Errors
    /// [`TableError::MissingColumn`], or [`TableError::Read`] if polars cannot compare.
    pub fn filter_eq(&self, column: &str, value: &str) -> TableResult<Table> {
        let col = self.column(column)?;
        let polars_error = |source| TableError::Read { path: self.path.clone(), source };
        let dtype = col.dtype().clone();
        let keep: Vec<bool> = if dtype.is_primitive_numeric() && value.trim().parse::<f64>().is_ok() {
            let want: f64 = value.trim().parse().unwrap_or(f64::NAN); // parse checked above
            let values = col.cast(&DataType::Float64).map_err(polars_error)?;
            values
                .f64()
                .map_err(polars_error)?
                .iter()
                .map(|v| v.is_some_and(|v| v == want || (v - want).abs() <= 1e-12 * want.abs()))
                .collect()
        } else {
            let text = col.cast(&DataType::String).map_err(polars_error)?;
            let boolean = dtype.is_bool();
            text.str()
                .map_err(polars_error)?
                .iter()
                .map(|v| v.is_some_and(|v| if boolean { v.eq_ignore_ascii_case(value) } else { v == value }))
                .collect()
        };
        let mask = BooleanChunked::from_iter_values("mask".into(), keep.iter().copied());
        let frame = self.frame.filter(&mask).map_err(polars_error)?;
        let rows = self.rows.iter().zip(&keep).filter(|(_, k)| **k).map(|(r, _)| *r).collect();
        Ok(Table { path: self.path.clone(), frame, rows })
    }

    /// The rows at the given positions (in the current table), in that order.
    pub fn select_rows(&self, positions: &[usize]) -> TableResult<Table> {
        let idx = IdxCa::from_vec("idx".into(), positions.iter().map(|&p| p as IdxSize).collect());
        let frame = self.frame.take(&idx).map_err(|source| TableError::Read { path: self.path.clone(), source })?;
        Ok(Table { path: self.path.clone(), frame, rows: positions.iter().map(|&p| self.rows[p]).collect() })
    }

    /// A numeric column as finite `f64` values. Integer columns are converted; text columns
    /// are parsed.
    ///
    /// # Errors
    /// [`TableError::MissingColumn`] (with the available columns), [`TableError::Empty`],
    /// [`TableError::NonNumeric`] and [`TableError::NotFinite`], each naming the row.
    pub fn f64_column(&self, column: &str) -> TableResult<Vec<f64>> {
        let col = self.column(column)?;
        let dtype = col.dtype().clone();
        let polars_error = |source| TableError::Read { path: self.path.clone(), source };
        let cells: Vec<Option<f64>> = if dtype.is_primitive_numeric() {
            col.cast(&DataType::Float64).map_err(polars_error)?.f64().map_err(polars_error)?.iter().collect()
        } else {
            let text = col.cast(&DataType::String).map_err(polars_error)?;
            let text = text.str().map_err(polars_error)?;
            text.iter()
                .enumerate()
                .map(|(i, cell)| match cell {
                    None => Ok(None),
                    Some(s) if s.trim().is_empty() => Ok(None),
                    Some(s) if !dtype.is_bool() => s.trim().parse::<f64>().map(Some).map_err(|_| s.to_string()),
                    Some(s) => Err(s.to_string()),
                }
                .map_err(|value| TableError::NonNumeric {
                    path: self.path.clone(),
                    column: column.to_string(),
                    row: self.rows[i],
                    value,
                }))
                .collect::<TableResult<_>>()?
        };
        cells
            .into_iter()
            .enumerate()
            .map(|(i, cell)| {
                let row = self.rows[i];
                match cell {
                    None => Err(TableError::Empty { path: self.path.clone(), column: column.to_string(), row }),
                    Some(value) if !value.is_finite() => {
                        Err(TableError::NotFinite { path: self.path.clone(), column: column.to_string(), row, value })
                    }
                    Some(value) => Ok(value),
                }
            })
            .collect()
    }

    /// A column of finite, strictly positive `f64` values (sizes, durations, compute, losses:
    /// anything a power law takes the log of).
    ///
    /// # Errors
    /// As [`Table::f64_column`], and [`TableError::NonPositive`] naming the row.
    pub fn positive_column(&self, column: &str) -> TableResult<Vec<f64>> {
        let values = self.f64_column(column)?;
        if let Some(i) = values.iter().position(|&v| v <= 0.0) {
            return Err(TableError::NonPositive { path: self.path.clone(), column: column.to_string(), row: self.rows[i], value: values[i] });
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_numeric_columns_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.csv", "name,n,loss,flag\na,1,2.5,True\nb,2,3e-1,False\nc,3,4,False\n");
        let table = Table::read(&path).unwrap();
        assert_eq!(table.height(), 3);
        assert_eq!(table.f64_column("n").unwrap(), vec![1.0, 2.0, 3.0]);
        let kept = table.filter_eq("flag", "false").unwrap();
        assert_eq!(kept.f64_column("loss").unwrap(), vec![0.3, 4.0]);
        assert_eq!(kept.file_rows(), &[1, 2]);
        assert_eq!(table.filter_eq("n", "2").unwrap().file_rows(), &[1]);
        assert_eq!(table.filter_eq("name", "c").unwrap().file_rows(), &[2]);
    }

    #[test]
    fn missing_column_lists_available_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.csv", "x,loss\n1,2\n");
        let err = Table::read(&path).unwrap().f64_column("y").unwrap_err().to_string();
        assert!(err.contains("no column `y`") && err.contains("x, loss") && err.contains("t.csv"), "{err}");
    }

    #[test]
    fn bad_cells_name_column_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.csv", "x,loss,word\n1,2,a\n2,,b\n3,NaN,c\n4,-1,d\n");
        let table = Table::read(&path).unwrap();
        let err = table.f64_column("loss").unwrap_err();
        assert!(matches!(err, TableError::Empty { row: 1, .. }), "{err}");
        let later = table.select_rows(&[2, 3]).unwrap();
        let err = later.f64_column("loss").unwrap_err();
        assert!(matches!(err, TableError::NotFinite { row: 2, .. }), "{err}");
        let err = table.select_rows(&[0, 3]).unwrap().positive_column("loss").unwrap_err();
        assert!(matches!(err, TableError::NonPositive { row: 3, .. }), "{err}");
        assert!(err.to_string().contains("column `loss`, row 3"), "{err}");
        let err = table.f64_column("word").unwrap_err();
        assert!(matches!(err, TableError::NonNumeric { row: 0, .. }), "{err}");
    }

    #[test]
    fn parquet_round_trip_and_unknown_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut frame = df!("x" => [1.0, 2.0], "loss" => [3.0, 4.0]).unwrap();
        let path = dir.path().join("t.parquet");
        ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut frame).unwrap();
        assert_eq!(Table::read(&path).unwrap().positive_column("loss").unwrap(), vec![3.0, 4.0]);
        assert!(matches!(Table::read(&dir.path().join("t.txt")), Err(TableError::Format { .. })));
    }
}
