//! Errors of the pipeline, and which of them are the user's input to fix.

use std::path::PathBuf;

/// What can go wrong in a stage of the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input that retrying cannot fix: an option, a spec, a table or a fit that is wrong;
    /// the message says what and where.
    #[error("{0}")]
    BadInput(String),
    /// Planning, storing or running the sweep failed.
    #[error(transparent)]
    Sweep(#[from] saescale_sweep::Error),
    /// A table could not be read or holds something else than the fit needs.
    #[error(transparent)]
    Table(#[from] saescale_table::TableError),
    /// The results table could not be written.
    #[error(transparent)]
    Results(#[from] saescale_table::ResultsError),
    /// The fit failed.
    #[error(transparent)]
    Fit(#[from] saescale_fit::Error),
    /// The report could not be read or written.
    #[error(transparent)]
    Report(#[from] saescale_report::Error),
    /// A file could not be written or removed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done, e.g. "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the error is bad input (exit code 2): the user must change a spec, a table, a
    /// fit or an option; running again as is gives the same error.
    pub fn is_bad_input(&self) -> bool {
        use saescale_fit::Error as Fit;
        use saescale_report::Error as Report;
        use saescale_sweep::Error as Sweep;
        match self {
            Error::BadInput(_) | Error::Table(_) => true,
            Error::Sweep(error) => matches!(error, Sweep::Spec(_) | Sweep::NoSweep { .. }),
            Error::Fit(error) => {
                matches!(error, Fit::InvalidValue { .. } | Fit::LengthMismatch { .. } | Fit::TooFewPoints { .. } | Fit::InvalidConfig { .. } | Fit::Profile { .. })
            }
            Error::Report(error) => matches!(
                error,
                Report::Input { .. } | Report::Fit { .. } | Report::Source { .. } | Report::Table(_) | Report::Store(Sweep::NoSweep { .. })
            ),
            Error::Results(_) | Error::Io { .. } => false,
        }
    }

    pub(crate) fn bad_input(message: impl Into<String>) -> Error {
        Error::BadInput(message.into())
    }
}

/// Result with the pipeline's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
