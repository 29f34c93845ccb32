//! Errors of the spec crate.

/// What can be wrong with a run file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not valid TOML, or a key is unknown, missing or of the wrong type. The
    /// message carries the line and column. Transparent, so that `{:#}` prints toml's message
    /// once rather than once as this error and again as its source.
    #[error(transparent)]
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
            // The message carries the causes (e.g. the OS error of a missing shard), since
            // this error has no source of its own.
            other => Error::invalid("data", error_chain(&other)),
        }
    }
}

/// Result with the spec crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// An error with its causes on one line (`error: cause: cause`): for a run's recorded failure
/// reason and for messages that are not printed through `{:#}`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
