//! Exit codes of saescale's commands, and what a sweep manager makes of a trainer's.
//!
//! | code | [`Exit`] | meaning | what a sweep manager does |
//! |---|---|---|---|
//! | 0 | `Ok` | success | records the run as done (once `final.json` exists) |
//! | 1 | `Failure` | failure (I/O, internal error) | retries, up to its cap |
//! | 2 | `BadInput` | bad input: command line, run file, table | fails the run; retrying cannot help |
//! | 3 | `Diverged` | training diverged (non-finite loss) | fails the run; the same settings diverge again |
//! | 75 | `Interrupted` | stopped by SIGINT/SIGTERM after writing a checkpoint (EX_TEMPFAIL in sysexits.h) | resumes it, without using an attempt |
//!
//! The trainer (`saescale train`) picks its code from the error that ended it; the local and
//! Slurm executors read it back with [`Exit::from_code`].

/// How a saescale command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// Success.
    Ok,
    /// A failure worth retrying.
    Failure,
    /// Bad input; retrying cannot help.
    BadInput,
    /// The loss became NaN or infinite.
    Diverged,
    /// Stopped by a signal after checkpointing; running again resumes.
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::BadInput => 2,
            Exit::Diverged => 3,
            Exit::Interrupted => 75,
        }
    }

    /// The exit a process status code stands for; `None` for codes saescale does not use.
    pub fn from_code(code: i32) -> Option<Exit> {
        [Exit::Ok, Exit::Failure, Exit::BadInput, Exit::Diverged, Exit::Interrupted].into_iter().find(|e| i32::from(e.code()) == code)
    }
}

impl From<Exit> for i32 {
    fn from(exit: Exit) -> i32 {
        i32::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_none() {
        for exit in [Exit::Ok, Exit::Failure, Exit::BadInput, Exit::Diverged, Exit::Interrupted] {
            assert_eq!(Exit::from_code(exit.into()), Some(exit));
        }
        assert_eq!(Exit::Interrupted.code(), 75);
        assert_eq!(Exit::from_code(137), None);
        assert_eq!(Exit::from_code(-1), None);
    }
}
