//! Errors of report generation.

use std::path::PathBuf;

use saescale_table::TableError;

use crate::canvas::DrawError;

/// What can go wrong while loading a report's inputs or writing it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is neither a sweep directory nor a fit.
    #[error("{}: expected a sweep directory (with plan.json) or a fit written by `saescale fit` (.json)", path.display())]
    Input {
        /// What was given.
        path: PathBuf,
    },
    /// A fit file that does not parse.
    #[error("{}: not a fit written by `saescale fit`", path.display())]
    Fit {
        /// File.
        path: PathBuf,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
    /// The fit's source cannot be mapped back to points.
    #[error("{}: {reason}", path.display())]
    Source {
        /// The source table.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The sweep's store could not be read.
    #[error(transparent)]
    Store(#[from] saescale_sweep::Error),
    /// A table could not be read.
    #[error(transparent)]
    Table(#[from] TableError),
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// File.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// File.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// polars could not build or encode the run table.
    #[error("cannot write the run table")]
    Polars(#[from] polars::prelude::PolarsError),
    /// A figure could not be drawn.
    #[error("figure {name}")]
    Draw {
        /// Figure.
        name: String,
        /// What failed.
        #[source]
        source: DrawError,
    },
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
