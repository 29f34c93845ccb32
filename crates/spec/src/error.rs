//! Errors of the spec crate.

/// What can be wrong with a run file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not valid TOML, or a key is unknown, missing or of the wrong type. The
    /// message carries the line and column.
    #[error("{0}")]
    Parse(#[from] toml::de::Error),
    /// A value is out of its valid range, or values contradict each other.
    #[error("`{field}` {reason}")]
    Invalid {
        /// The key as written in a run file, e.g. `sae.features`.
        field: String,
        /// What was expected.
        reason: String,
    },
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), reason: reason.into() }
    }
}

impl From<saescale_data::Error> for Error {
    fn from(error: saescale_data::Error) -> Self {
        match error {
            saescale_data::Error::InvalidConfig { field, reason } => Error::invalid(field, reason),
            other => Error::invalid("data", other.to_string()),
        }
    }
}

/// Result with the spec crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
