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
    /// A shard or manifest file cannot be read or written. The message names the file and
    /// what was being done; the I/O error is only the [source](std::error::Error::source), so
    /// that a chain printed with `{:#}` shows it once.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, e.g. "open the shard".
        action: &'static str,
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
    /// A closure for `map_err` that wraps an I/O error with what was being done to `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<std::path::PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { action, path, source }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The message as `{:#}` chains print it: each error, then its sources, joined by ": ".
    fn chain(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        text
    }

    /// Issue 18: a missing shard printed "No such file or directory (os error 2)" twice, once
    /// from the message and once from the source.
    #[test]
    fn io_errors_print_their_cause_once() {
        let path = std::path::Path::new("/nonexistent/saescale/00001.npy");
        let error = std::fs::File::open(path).map_err(Error::io("open the shard", path)).unwrap_err();
        assert_eq!(error.to_string(), "cannot open the shard /nonexistent/saescale/00001.npy");
        let text = chain(&error);
        assert!(text.starts_with("cannot open the shard /nonexistent/saescale/00001.npy: "), "{text}");
        assert_eq!(text.matches("os error").count(), 1, "{text}");
    }
}
