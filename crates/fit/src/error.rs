//! Errors of the fitting library.

/// Everything that can go wrong while fitting a table of runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value that must be finite and positive (it is log-transformed) is not.
    #[error("{column} value {value} at row {row} must be finite and positive")]
    InvalidValue {
        /// Which input: `x`, `y`, `loss`, `compute`, `lr`.
        column: &'static str,
        /// Zero-based row of the input table (before any exclusions).
        row: usize,
        /// The offending value.
        value: f64,
    },
    /// Input columns of different lengths.
    #[error("input columns differ in length: {what}")]
    LengthMismatch {
        /// Which columns, with their lengths.
        what: String,
    },
    /// Fewer points than the model has parameters.
    #[error("{points} points cannot determine {needed} parameters ({what})")]
    TooFewPoints {
        /// Points available.
        points: usize,
        /// Points needed.
        needed: usize,
        /// What was being fitted.
        what: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid setting `{field}`: {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// No start of the optimiser converged to a finite objective.
    #[error("none of the {starts} optimiser starts converged to a finite objective")]
    NoConvergence {
        /// Number of starts tried.
        starts: usize,
    },
    /// An IsoFLOP or learning-rate analysis found no usable budget.
    #[error("{what}: {reason}")]
    Profile {
        /// Which analysis.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// argmin reported an error (its `anyhow`-style error, wrapped once).
    #[error("optimiser failed")]
    Solver(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<argmin::core::Error> for Error {
    fn from(error: argmin::core::Error) -> Self {
        Error::Solver(error.into())
    }
}

/// Result with the fitting library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
