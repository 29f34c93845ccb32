//! Errors of the SAE crate.

use std::path::PathBuf;

/// What can go wrong while training, checkpointing or exporting an SAE.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The run file is invalid.
    #[error(transparent)]
    Spec(#[from] saescale_spec::Error),
    /// The activation source failed or is misconfigured.
    #[error(transparent)]
    Data(#[from] saescale_data::Error),
    /// A file or directory could not be read or written. The I/O error is the source, so a
    /// chain printed with `{:#}` shows it once.
    #[error("{path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file could not be read or written.
    #[error("{path}: not the JSON expected")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A checkpoint or weights file is malformed or does not fit this run.
    #[error("{path}: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The output directory belongs to a different run.
    #[error("{dir} holds a different run (its config.json differs from this run file); use a new --out directory or delete it")]
    DifferentRun {
        /// The output directory.
        dir: PathBuf,
    },
    /// The loss stopped being a finite number.
    #[error("training diverged at step {step}: loss is {loss}; lower train.lr or check the data")]
    Diverged {
        /// The step at which it was noticed.
        step: u64,
        /// The value of the loss.
        loss: f64,
    },
    /// The requested precision or device is not available in this build.
    #[error("{0}")]
    Unsupported(String),
}

/// Result with the SAE crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::Checkpoint { path: path.into(), reason: reason.into() }
    }
}
