//! Tables, figures and reports for saescale.
//!
//! In saescale's flow (spec → plan → runs → store → table → fit → **report**) this crate draws
//! the report of a sweep or a fit: publication figures, the numbers behind them and one
//! self-contained HTML page. Tables come from saescale-table; the fit from saescale-fit, whose
//! numbers the figures draw rather than recompute.
//!
//! Principal items:
//! - [`load()`]: a sweep directory or a `fit.json` → a [`Dataset`] (runs, fit, run table).
//! - [`figures`]: the figures as data ([`plot::Figure`]); [`plot::draw`] draws them with
//!   plotters through [`canvas`]; [`plot::csv`] writes the same numbers as CSV.
//! - [`write()`]: the report directory (SVG + PNG + CSV per figure, `runs.parquet`/`runs.csv`,
//!   `fit.json`, `index.html`).
//!
//! Design decisions:
//! - The fitter knows only numbers, so `fit` never links polars; this crate uses polars only
//!   for the run table it publishes (read through saescale-table).
//! - Figures never use a system font: DejaVu Sans is compiled in ([`font`]); SVG text is glyph
//!   outlines and PNG text is rasterised from them, so output is identical on every machine.
//! - A figure is a value (panels of layers of points) before it is a picture, so the CSV next to
//!   each figure holds exactly the numbers drawn, and figures can be tested without pixels.
//! - The page inlines every figure as an SVG data URI and carries a Content-Security-Policy
//!   that forbids network loads; every string from a spec, a table or a fit is escaped.
//!
//! ```no_run
//! use saescale_report::{load, write, Options};
//! let data = load("runs/quickstart".as_ref())?;
//! let written = write(&data, &Options { dpi: 300, target: None }, "reports/quickstart".as_ref())?;
//! println!("{}", written.index.display());
//! Ok::<(), saescale_report::Error>(())
//! ```

pub mod canvas;
pub mod dataset;
mod error;
pub mod figures;
pub mod font;
pub mod html;
pub mod load;
mod page;
pub mod plot;
pub mod report;

pub use dataset::Dataset;
pub use error::{Error, Result};
pub use load::load;
pub use report::{write, Options, Written};
