//! Exit codes, chosen in one place from the error that ended a command.
//!
//! | code | meaning | what a sweep manager should do |
//! |---|---|---|
//! | 0 | success | nothing |
//! | 1 | failure (I/O, internal error) | retry |
//! | 2 | bad input: command line, run file, table | do not retry; fix the input |
//! | 3 | training diverged (non-finite loss) | do not retry with the same settings |
//! | 75 | interrupted by SIGINT/SIGTERM after writing a checkpoint | run again to resume |

use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// A failure worth retrying.
pub const FAILURE: u8 = 1;
/// Bad input; retrying cannot help.
pub const BAD_INPUT: u8 = 2;
/// The loss became NaN or infinite.
pub const DIVERGED: u8 = 3;
/// Stopped by a signal after checkpointing (EX_TEMPFAIL in sysexits.h).
pub const INTERRUPTED: u8 = 75;

/// An error that carries the exit code the process should end with.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Coded {
    /// Exit code.
    pub code: u8,
    /// Message for the user.
    pub message: String,
}

/// Wraps a message as bad input (exit code 2).
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    Coded { code: BAD_INPUT, message: message.into() }.into()
}

/// Prints the error (with its chain of causes) once and picks the exit code.
pub fn report(outcome: anyhow::Result<u8>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(code_of(&error))
        }
    }
}

/// The exit code an error chain maps to: the first cause that knows its code wins.
pub fn code_of(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(coded) = cause.downcast_ref::<Coded>() {
            return coded.code;
        }
        if cause.downcast_ref::<saescale_spec::Error>().is_some() {
            return BAD_INPUT;
        }
        if let Some(error) = cause.downcast_ref::<saescale_sae::Error>() {
            return match error {
                saescale_sae::Error::Diverged { .. } => DIVERGED,
                saescale_sae::Error::Spec(_) | saescale_sae::Error::Data(_) | saescale_sae::Error::DifferentRun { .. } => BAD_INPUT,
                _ => FAILURE,
            };
        }
    }
    FAILURE
}
