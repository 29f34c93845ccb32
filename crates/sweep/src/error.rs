//! Errors of the sweep crate.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What can go wrong while planning, storing or running a sweep.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sweep spec is malformed or inconsistent; carries file, line and column.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Reading or writing a file of the store failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done, e.g. "write".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file of the store exists but cannot be understood.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another manager holds the sweep's lock.
    #[error(
        "another sweep manager is already driving {dir} ({holder}); wait for it to finish, \
         or stop it (Ctrl-C) before starting a new one"
    )]
    Locked {
        /// The sweep directory.
        dir: PathBuf,
        /// Who holds the lock, as recorded in the lock file.
        holder: String,
    },
    /// A store opened read-only was asked to drive runs.
    #[error("the run store in {dir} was opened without its lock; open it with RunStore::open_locked to run a sweep")]
    NotLocked {
        /// The sweep directory.
        dir: PathBuf,
    },
    /// The directory holds no sweep (no `plan.json`).
    #[error("{dir} holds no sweep (no plan.json); start one with `saescale run <spec> --dir {dir}`", dir = .dir.display())]
    NoSweep {
        /// The directory.
        dir: PathBuf,
    },
    /// An executor could not start a run at all (not a failure of the run itself).
    #[error("cannot start {program}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An executor setting is out of range or impossible on this machine.
    #[error("executor: {0}")]
    Executor(String),
    /// A Slurm command failed or could not be run.
    #[error("`{command}` failed: {message}")]
    Slurm {
        /// The command line.
        command: String,
        /// Its error output, or why it could not run.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}

/// Result with the sweep crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// An error in a sweep spec, located in its file.
///
/// Displays as `path:line:column: message` followed by the offending line and a caret, as
/// compilers do, so that an editor can jump to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The spec file (or `<spec>` for a string).
    pub path: PathBuf,
    /// 1-based line, when the error has a place in the file.
    pub line: Option<usize>,
    /// 1-based column (in characters), when the error has a place in the file.
    pub column: Option<usize>,
    /// What is wrong and what was expected.
    pub message: String,
    /// The line of the file the error points at, for display.
    pub snippet: Option<String>,
}

impl std::error::Error for SpecError {}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)?;
        if let (Some(line), Some(column), Some(snippet)) = (self.line, self.column, &self.snippet) {
            let gutter = line.to_string().len();
            write!(f, "\n{:gutter$} |\n{line} | {snippet}\n{:gutter$} | {:>column$}", "", "", "^")?;
        }
        Ok(())
    }
}

impl SpecError {
    /// An error at byte range `span` of `text` (or without a place when `span` is `None`).
    pub(crate) fn at(path: &std::path::Path, text: &str, span: Option<std::ops::Range<usize>>, message: impl Into<String>) -> Self {
        let (line, column, snippet) = match span {
            Some(span) => {
                let start = span.start.min(text.len());
                let before = &text[..start];
                let line = before.matches('\n').count() + 1;
                let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                let column = text[line_start..start].chars().count() + 1;
                let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
                let snippet = text[line_start..line_end].trim_end_matches('\r').to_string();
                (Some(line), Some(column), Some(snippet))
            }
            None => (None, None, None),
        };
        SpecError { path: path.to_path_buf(), line, column, message: message.into(), snippet }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_errors_show_line_column_and_caret() {
        let text = "a = 1\nbb = 2\n";
        let error = SpecError::at(std::path::Path::new("s.toml"), text, Some(9..11), "bad");
        assert_eq!((error.line, error.column), (Some(2), Some(4)));
        assert_eq!(error.to_string(), "s.toml:2:4: bad\n  |\n2 | bb = 2\n  |    ^");
    }
}
