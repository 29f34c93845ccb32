//! The run lifecycle, written once for both drivers (the supervisor of the local executor and
//! the Slurm engine):
//!
//! - [`examine`]: what a manager taking a sweep over finds for each run, from the files alone.
//!   `final.json` means done whatever `status.json` says; a run left `running` belonged to a
//!   manager that is gone (the new one holds the lock), so it is orphaned and resumes.
//! - [`requeue`]: makes an unfinished run pending again, with a note saying why.
//! - [`start`]: an attempt starts.
//! - [`settle`]: how an attempt's [`Outcome`] changes the run's status: attempts count
//!   failures plus the final success, interruptions (exit 75, preemption) do not use an
//!   attempt, a retryable failure is retried up to `max_attempts`, and the reason says why.

use saescale_spec::Exit;

use crate::events::Event;
use crate::executor::Outcome;
use crate::plan::{PlannedRun, RunId};
use crate::store::{now_rfc3339, Failure, RunState, RunStatus, RunStore};
use crate::Result;

/// Interruptions not caused by this manager after which a run stops being resumed by
/// itself; it then waits for the next `saescale sweep resume`.
pub(crate) const MAX_INTERRUPTIONS: u32 = 100;

/// What the store says of a run when a manager takes the sweep over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// The trainer finished it; its status now says done.
    Done,
    /// An earlier invocation marked it failed, and it is not to be retried.
    Failed,
    /// It is to run (again).
    Unfinished(Unfinished),
}

/// Why an unfinished run is to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unfinished {
    /// It is pending.
    Pending,
    /// Its status said done, but there is no `final.json`.
    LostFinal,
    /// It failed earlier and the caller asked to retry failed runs.
    RetryFailed,
    /// It was running under a manager that is gone; its trainer, `pid` on `host`, may still run.
    Orphaned {
        /// The trainer's process id, when it was a local process.
        pid: Option<u32>,
        /// The host it ran on.
        host: Option<String>,
    },
}

/// Prepares `run`'s directory and reads where it stands; a finished run's status is brought
/// to done (and written) here.
///
/// # Errors
/// Store errors.
pub(crate) fn examine(store: &RunStore, run: &PlannedRun, retry_failed: bool) -> Result<(RunStatus, Found)> {
    let mut status = store.prepare(run)?;
    if store.is_finished(&run.id) {
        let before = status.clone();
        status.state = RunState::Done;
        status.pid = None;
        status.reason = None;
        status.finished_at.get_or_insert_with(now_rfc3339);
        if status != before {
            store.write_status(&run.id, &status)?;
        }
        return Ok((status, Found::Done));
    }
    let found = match status.state {
        RunState::Pending => Found::Unfinished(Unfinished::Pending),
        RunState::Done => Found::Unfinished(Unfinished::LostFinal),
        RunState::Failed if retry_failed => Found::Unfinished(Unfinished::RetryFailed),
        RunState::Failed => Found::Failed,
        RunState::Running => Found::Unfinished(Unfinished::Orphaned { pid: status.pid, host: status.host.clone() }),
    };
    Ok((status, found))
}

/// Makes a run that [`examine`] found unfinished pending again, noting why, and writes its
/// status when that changed it.
///
/// # Errors
/// Store errors.
pub(crate) fn requeue(store: &RunStore, id: &RunId, status: &mut RunStatus, why: &Unfinished) -> Result<()> {
    let note = match why {
        Unfinished::Pending => return Ok(()),
        Unfinished::LostFinal => "status said done but final.json is missing; running again",
        Unfinished::RetryFailed => {
            status.attempts = 0;
            status.finished_at = None;
            "retrying a failed run"
        }
        Unfinished::Orphaned { .. } => {
            status.interruptions += 1;
            "its manager stopped while it ran; resumes from its checkpoint"
        }
    };
    status.state = RunState::Pending;
    status.pid = None;
    status.reason = Some(note.into());
    store.write_status(id, status)
}

/// An attempt starts on `host` (the device and pid follow once it runs), managed by this build.
pub(crate) fn start(status: &mut RunStatus, host: String) {
    status.state = RunState::Running;
    status.reason = None;
    status.started_at = Some(now_rfc3339());
    status.host = Some(host);
    status.build = Some(format!("{} ({})", saescale_spec::records::VERSION, saescale_spec::records::GIT_COMMIT));
    status.pid = None;
}

/// What [`settle`] made of an attempt's end.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// The run is done.
    Done,
    /// Stopped after checkpointing; pending again. `resumes` says whether it may be resumed
    /// at once (it has not been interrupted more than [`MAX_INTERRUPTIONS`] times).
    Interrupted {
        /// Whether to resume it without being asked.
        resumes: bool,
    },
    /// The attempt failed and the run is pending for another.
    Retry {
        /// Why the attempt failed.
        reason: String,
    },
    /// The run failed for good.
    Failed {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// The event a driver reports for it.
    pub(crate) fn event(&self, id: &RunId, attempt: u32, seconds: f64) -> Event {
        let id = id.clone();
        match self {
            Verdict::Done => Event::Done { id, seconds },
            Verdict::Interrupted { .. } => Event::Interrupted { id },
            Verdict::Retry { reason } => Event::Retrying { id, attempt, reason: reason.clone() },
            Verdict::Failed { reason } => Event::Failed { id, reason: reason.clone() },
        }
    }
}

/// Applies the end of attempt number `attempt` to the run's status. `interrupted_note` is the
/// reason recorded when the outcome is an interruption (the drivers say by whom).
pub(crate) fn settle(status: &mut RunStatus, attempt: u32, outcome: Outcome, max_attempts: u32, interrupted_note: String) -> Verdict {
    status.pid = None;
    match outcome {
        Outcome::Done => {
            status.state = RunState::Done;
            status.attempts = attempt;
            status.exit_code = Some(Exit::Ok.into());
            status.reason = None;
            status.finished_at = Some(now_rfc3339());
            Verdict::Done
        }
        Outcome::Interrupted => {
            status.state = RunState::Pending;
            status.interruptions += 1;
            status.exit_code = Some(Exit::Interrupted.into());
            status.reason = Some(interrupted_note);
            Verdict::Interrupted { resumes: status.interruptions <= MAX_INTERRUPTIONS }
        }
        Outcome::Failed { exit_code, signal, reason, retryable } => {
            status.attempts = attempt;
            status.exit_code = exit_code;
            status.failures.push(Failure { attempt, at: now_rfc3339(), exit_code, signal, reason: reason.clone() });
            if retryable && attempt < max_attempts {
                status.state = RunState::Pending;
                status.reason = Some(format!("attempt {attempt} failed: {reason}"));
                Verdict::Retry { reason }
            } else {
                let why = if retryable { format!("{reason} (after {attempt} attempts)") } else { reason };
                status.state = RunState::Failed;
                status.reason = Some(why.clone());
                status.finished_at = Some(now_rfc3339());
                Verdict::Failed { reason: why }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(retryable: bool) -> Outcome {
        Outcome::Failed { exit_code: Some(1), signal: None, reason: "exit 1: boom".into(), retryable }
    }

    #[test]
    fn failures_are_retried_up_to_the_cap_and_then_fail_with_the_count() {
        let mut status = RunStatus::new();
        assert_eq!(settle(&mut status, 1, failed(true), 2, String::new()), Verdict::Retry { reason: "exit 1: boom".into() });
        assert_eq!((status.state, status.attempts, status.reason.as_deref()), (RunState::Pending, 1, Some("attempt 1 failed: exit 1: boom")));
        let verdict = settle(&mut status, 2, failed(true), 2, String::new());
        assert_eq!(verdict, Verdict::Failed { reason: "exit 1: boom (after 2 attempts)".into() });
        assert_eq!((status.state, status.failures.len()), (RunState::Failed, 2));
        assert!(status.finished_at.is_some());
    }

    #[test]
    fn a_failure_retrying_cannot_fix_fails_at_once_and_interruptions_use_no_attempt() {
        let mut status = RunStatus::new();
        assert_eq!(settle(&mut status, 1, failed(false), 3, String::new()), Verdict::Failed { reason: "exit 1: boom".into() });
        let mut status = RunStatus { attempts: 1, ..RunStatus::new() };
        let verdict = settle(&mut status, 2, Outcome::Interrupted, 3, "stopped".into());
        assert_eq!(verdict, Verdict::Interrupted { resumes: true });
        assert_eq!((status.attempts, status.interruptions, status.exit_code), (1, 1, Some(75)));
        status.interruptions = MAX_INTERRUPTIONS;
        assert_eq!(settle(&mut status, 2, Outcome::Interrupted, 3, "stopped".into()), Verdict::Interrupted { resumes: false });
        assert_eq!(settle(&mut status, 2, Outcome::Done, 3, String::new()), Verdict::Done);
        assert_eq!((status.state, status.attempts, status.reason, status.exit_code), (RunState::Done, 2, None, Some(0)));
    }
}
