//! Tables for saescale.
//!
//! In saescale's flow (spec → plan → runs → store → **table** → fit → report) this crate turns
//! a sweep's run store into its results table and reads tables back, the sweep's own or
//! external ones such as Epoch AI's Chinchilla points, for the fitter and the report. It is
//! the only crate of the pipeline that links polars; it links neither burn nor plotters.
//!
//! Principal items:
//! - [`Table`]: a CSV or Parquet file read with polars, row filters, and named `f64` columns
//!   whose errors name the file, the column and the row ([`TableError`]).
//! - [`results`]: the results table of a sweep (`results.parquet`, `results.csv`): one row per
//!   planned run, its config and its final metrics.
//!
//! Design decision: polars is built with only its CSV and Parquet readers and writers, as it
//! is heavy to compile; everything past the table (the fitter, the figures) works on plain
//! numbers.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("runs.csv");
//! std::fs::write(&path, "x,loss\n1,2.5\n2,2.0\n").unwrap();
//! let table = saescale_table::Table::read(&path)?;
//! assert_eq!(table.positive_column("loss")?, vec![2.5, 2.0]);
//! Ok::<(), saescale_table::TableError>(())
//! ```

pub mod results;
mod table;

pub use results::{results_frame, write_results, ResultsError, ResultsPaths};
pub use table::{Table, TableError, TableResult};
