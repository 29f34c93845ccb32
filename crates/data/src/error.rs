//! Errors of the data crate.

/// What can go wrong when opening or reading an activation source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A data setting is out of its valid range.
    #[error("invalid data setting `{field}`: {reason}")]
    InvalidConfig {
        /// The setting's name as written in a run file, e.g. `data.d_in`.
        field: &'static str,
        /// What was expected instead.
        reason: String,
    },
    /// A batch buffer does not hold a whole number of rows.
    #[error("batch buffer of {len} values is not a whole number of rows of width {d_in}")]
    RaggedBatch {
        /// Length of the buffer passed in.
        len: usize,
        /// Row width of the source.
        d_in: usize,
    },
}

/// Result with the data crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
