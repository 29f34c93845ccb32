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
    /// A shard or manifest file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A shard directory's manifest is missing a value, malformed or self-contradictory.
    #[error("manifest {}: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A shard file does not hold what its manifest says (wrong d, dtype, row count, format,
    /// or a file cut short).
    #[error("shard {}: {reason}", path.display())]
    Shard {
        /// The shard file.
        path: std::path::PathBuf,
        /// What is wrong.
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

impl Error {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn manifest(path: impl Into<std::path::PathBuf>, reason: impl Into<String>) -> Self {
        Error::Manifest { path: path.into(), reason: reason.into() }
    }
    pub(crate) fn shard(path: impl Into<std::path::PathBuf>, reason: impl Into<String>) -> Self {
        Error::Shard { path: path.into(), reason: reason.into() }
    }
}

/// Result with the data crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
