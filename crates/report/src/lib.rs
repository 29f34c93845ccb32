//! Tables, figures and reports for saescale.
//!
//! In saescale's flow (spec → plan → runs → store → **table** → fit → **report**) this crate
//! turns a sweep's run store into a results table, reads tables (the sweep's own or external
//! ones) for the fitter, and will draw the figures and the HTML report.
//!
//! Principal items:
//! - [`table::Table`]: a CSV or Parquet file read with polars, row filters, and named `f64`
//!   columns whose errors name the file, the column and the row ([`table::TableError`]).
//! - [`results`]: the results table of a sweep (`results.parquet`, `results.csv`).
//!
//! Design decisions: polars stays in this crate (the fitter knows only numbers, so `fit`
//! never links polars); polars is built with only its CSV and Parquet readers, as it is heavy.
//!
//! ```no_run
//! use saescale_report::table::Table;
//! let table = Table::read("tests/data/chinchilla_epoch_svg_extracted.csv".as_ref())?;
//! let sizes = table.positive_column("Model Size")?;
//! assert_eq!(sizes.len(), 245);
//! Ok::<(), saescale_report::table::TableError>(())
//! ```

pub mod canvas;
pub mod font;
pub mod results;
pub mod table;
