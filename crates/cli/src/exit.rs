//! The exit code of a command, chosen in one place from the error that ended it. The codes
//! and what a sweep manager makes of them are saescale-spec's [`Exit`].

use std::process::ExitCode;

use saescale_spec::Exit;

/// An error that carries the exit the process should end with.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Coded {
    /// How the process ends.
    pub exit: Exit,
    /// Message for the user.
    pub message: String,
}

/// Wraps a message as bad input (exit code 2).
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    Coded { exit: Exit::BadInput, message: message.into() }.into()
}

/// Prints the error (with its chain of causes) once and picks the exit code.
pub fn report(outcome: anyhow::Result<Exit>) -> ExitCode {
    match outcome {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit_of(&error).code())
        }
    }
}

/// The exit an error chain maps to: the first cause that knows its kind wins.
pub fn exit_of(error: &anyhow::Error) -> Exit {
    for cause in error.chain() {
        if let Some(coded) = cause.downcast_ref::<Coded>() {
            return coded.exit;
        }
        if cause.downcast_ref::<saescale_spec::Error>().is_some() {
            return Exit::BadInput;
        }
        if let Some(error) = cause.downcast_ref::<saescale_pipeline::Error>() {
            return if error.is_bad_input() { Exit::BadInput } else { Exit::Failure };
        }
        if let Some(error) = cause.downcast_ref::<saescale_sae::Error>() {
            return match error {
                saescale_sae::Error::Diverged { .. } => Exit::Diverged,
                saescale_sae::Error::Spec(_) | saescale_sae::Error::Data(_) | saescale_sae::Error::DifferentRun { .. } => Exit::BadInput,
                _ => Exit::Failure,
            };
        }
    }
    Exit::Failure
}
