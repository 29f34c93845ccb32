//! How an array task ended, in the terms of the store: Slurm's state, the batch script's exit
//! code, the trainer's own exit code from the log's trailer and its last error line become an
//! [`Outcome`] like a local attempt's.

use super::query::TaskInfo;
use crate::executor::Outcome;
use crate::store::files::truncate;
use crate::store::ATTEMPT_HEADER;

/// How a task ended, as far as the manager can tell.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ending {
    /// An outcome like a local attempt's; `cancelled` when someone scancelled it.
    Ended { outcome: Outcome, cancelled: bool, how: String },
    /// The task never started (its submission was lost, or Slurm forgot a job that never ran).
    NotStarted,
}

/// A run that is done, whatever Slurm says (`final.json` exists).
pub(super) fn done(how: &str) -> Ending {
    Ending::Ended { outcome: Outcome::Done, cancelled: false, how: how.into() }
}

/// Turns an ended task into an [`Ending`]. `trainer_exit` is the trainer's own exit code from
/// the log's trailer (the batch script exits with it too, but Slurm reports a signal instead
/// when the job was killed); `last_error` is the trainer's last `error:` line.
pub(super) fn classify(info: &TaskInfo, finished: bool, trainer_exit: Option<i32>, last_error: Option<String>) -> Ending {
    if finished {
        return done(&info.state);
    }
    let label = info.label();
    let state = info.state.as_str();
    let code = trainer_exit.or(info.exit_code);
    // The trainer's last words explain a failed exit, not a kill from outside.
    let failed = |what: String, retryable: bool| {
        let reason = match last_error.as_ref().filter(|_| state == "FAILED") {
            Some(error) => format!("{state} (Slurm job {label}): {what}: {error}"),
            None => format!("{state} (Slurm job {label}): {what}"),
        };
        Ending::Ended { outcome: Outcome::Failed { exit_code: code, signal: info.signal, reason, retryable }, cancelled: false, how: state.into() }
    };
    let interrupted = |cancelled| Ending::Ended { outcome: Outcome::Interrupted, cancelled, how: state.to_string() };
    match state {
        "CANCELLED" => interrupted(true),
        "PREEMPTED" => interrupted(false),
        "TIMEOUT" => failed("killed at its time limit".into(), true),
        "OUT_OF_MEMORY" => failed("killed for using more memory than it asked for (--mem)".into(), true),
        "NODE_FAIL" => failed("its node failed".into(), true),
        "COMPLETED" => failed("the trainer exited 0 without writing final.json".into(), true),
        _ => match (code, info.signal) {
            (Some(c), _) if c != 0 => match Outcome::of_exit(c, info.signal, |what| what) {
                Outcome::Failed { reason, retryable, .. } => failed(reason, retryable),
                _ => interrupted(false),
            },
            (_, Some(signal)) => failed(format!("killed by signal {signal}"), true),
            _ => failed(info.reason.clone().unwrap_or_else(|| "ended without an exit code".into()), true),
        },
    }
}

/// The trainer's last `error:` line in the log section of Slurm job `label`, else its last
/// line that is not one of the script's own.
pub(super) fn last_error(log: &str, label: &str) -> Option<String> {
    let start = log.rfind(&format!("as Slurm job {label} "))?;
    let section = log[start..].split_once('\n').map_or("", |(_, rest)| rest);
    let section = section.find(ATTEMPT_HEADER).map_or(section, |end| &section[..end]);
    let lines: Vec<&str> = section.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("=== saescale sweep:")).collect();
    let line = lines.iter().rev().find_map(|l| l.strip_prefix("error: ")).or_else(|| lines.last().copied())?;
    Some(truncate(line, 300))
}

#[cfg(test)]
mod tests {
    use super::super::script::TRAILER;
    use super::*;

    fn ended(state: &str, exit_code: Option<i32>, signal: Option<i32>) -> TaskInfo {
        TaskInfo {
            array_job: "7".into(),
            task: 2,
            name: "saescale-x".into(),
            comment: None,
            state: state.into(),
            reason: None,
            exit_code,
            signal,
            restarts: 0,
            node: Some("n1".into()),
            gres: None,
        }
    }

    fn failure(ending: &Ending) -> (String, bool) {
        match ending {
            Ending::Ended { outcome: Outcome::Failed { reason, retryable, .. }, .. } => (reason.clone(), *retryable),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn slurm_ends_map_to_outcomes() {
        assert_eq!(classify(&ended("COMPLETED", Some(0), None), true, Some(0), None), done("COMPLETED"));
        // final.json decides, whatever the state.
        assert_eq!(classify(&ended("CANCELLED", Some(0), Some(15)), true, None, None), done("CANCELLED"));
        let cancelled = classify(&ended("CANCELLED", Some(75), None), false, Some(75), None);
        assert!(matches!(cancelled, Ending::Ended { outcome: Outcome::Interrupted, cancelled: true, .. }));
        let warned = classify(&ended("FAILED", Some(75), None), false, Some(75), None);
        assert!(matches!(warned, Ending::Ended { outcome: Outcome::Interrupted, cancelled: false, .. }));
        assert_eq!(
            failure(&classify(&ended("FAILED", Some(1), None), false, Some(1), Some("disk full".into()))),
            ("FAILED (Slurm job 7_2): exit 1: disk full".into(), true)
        );
        assert_eq!(failure(&classify(&ended("FAILED", Some(2), None), false, Some(2), None)), ("FAILED (Slurm job 7_2): bad input (exit 2)".into(), false));
        assert!(!failure(&classify(&ended("FAILED", Some(3), None), false, None, None)).1, "diverged is not retried");
        // The trainer checkpointed at the time limit (exit 75), but the job still counts as timed out.
        assert_eq!(
            failure(&classify(&ended("TIMEOUT", Some(0), Some(15)), false, Some(75), Some("interrupted at chunk 6".into()))),
            ("TIMEOUT (Slurm job 7_2): killed at its time limit".into(), true)
        );
        assert!(failure(&classify(&ended("OUT_OF_MEMORY", Some(0), Some(125)), false, None, None)).0.starts_with("OUT_OF_MEMORY"));
        assert!(failure(&classify(&ended("NODE_FAIL", Some(0), Some(15)), false, None, None)).0.starts_with("NODE_FAIL"));
        assert_eq!(failure(&classify(&ended("FAILED", Some(0), Some(9)), false, None, None)).0, "FAILED (Slurm job 7_2): killed by signal 9");
    }

    #[test]
    fn the_last_error_comes_from_the_jobs_own_section() {
        let log = format!(
            "{ATTEMPT_HEADER} 1 as Slurm job 7_2 (restart 0) on n1 at t, CUDA_VISIBLE_DEVICES=unset\nerror: old\n{TRAILER} 1 (Slurm job 7_2)\n\
             {ATTEMPT_HEADER} 2 as Slurm job 9_0 (restart 0) on n1 at t, CUDA_VISIBLE_DEVICES=unset\nstep 5\nerror: disk full\nmore\n{TRAILER} 1 (Slurm job 9_0)\n"
        );
        assert_eq!(last_error(&log, "9_0").as_deref(), Some("disk full"));
        assert_eq!(last_error(&log, "7_2").as_deref(), Some("old"));
        assert_eq!(last_error(&log, "8_0"), None);
    }
}
