//! Talking to Slurm: running its commands and reading what they print.
//!
//! Only the plain-text forms are read (`scontrol -o -d show job`, `sacct -P`), because their
//! keys have been stable for many releases, while the JSON of `squeue --json` and
//! `sacct --json` changed shape between 22.05 and 23.02 (and 22.05's `sacct --json` reports every
//! exit code as 0).
//!
//! `scontrol show job` knows a job until `MinJobAge` after it ends (300 s by default); after
//! that only `sacct` does, when the cluster keeps accounting.

use std::ffi::OsStr;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::{Error, Result};

/// How long one Slurm command may take; a busy controller can be slow, a hung one must not
/// hang the manager.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The phase of a job, from its Slurm state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Waiting in the queue (also held, or requeued and waiting again).
    Queued,
    /// Allocated: starting, running, suspended or completing.
    Running,
    /// Ended; the state says how (`COMPLETED`, `FAILED`, `TIMEOUT`, ...).
    Ended,
}

impl Phase {
    /// The phase of a Slurm job state as scontrol or sacct print it (`CANCELLED by 0` included).
    pub fn of(state: &str) -> Phase {
        match state.split_whitespace().next().unwrap_or("") {
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "SPECIAL_EXIT" | "RESV_DEL_HOLD" => Phase::Queued,
            "RUNNING" | "CONFIGURING" | "COMPLETING" | "SUSPENDED" | "STOPPED" | "SIGNALING" | "STAGE_OUT" | "RESIZING" => {
                Phase::Running
            }
            // COMPLETED FAILED CANCELLED TIMEOUT NODE_FAIL PREEMPTED BOOT_FAIL DEADLINE
            // OUT_OF_MEMORY REVOKED, and anything newer: a state we do not know is treated as
            // an end, so that a run is never watched forever.
            _ => Phase::Ended,
        }
    }
}

/// One array task as Slurm reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The array's job id.
    pub array_job: String,
    /// The task's index in the array.
    pub task: u32,
    /// Job name.
    pub name: String,
    /// `--comment`, when the source reports it (scontrol does, sacct usually does not).
    pub comment: Option<String>,
    /// State, first word only (`CANCELLED by 0` → `CANCELLED`).
    pub state: String,
    /// Why it is pending, or why it ended (`None` when Slurm has no reason).
    pub reason: Option<String>,
    /// Exit code of the batch script, once ended.
    pub exit_code: Option<i32>,
    /// Signal that ended the batch script, if any.
    pub signal: Option<i32>,
    /// Times Slurm requeued it.
    pub restarts: u32,
    /// Node it runs or ran on.
    pub node: Option<String>,
    /// GPUs it holds, e.g. `gpu:1(IDX:0)` (scontrol, while running).
    pub gres: Option<String>,
}

impl TaskInfo {
    /// The task's phase.
    pub fn phase(&self) -> Phase {
        Phase::of(&self.state)
    }

    /// `ARRAY_TASK`, the task's name in Slurm commands.
    pub fn label(&self) -> String {
        format!("{}_{}", self.array_job, self.task)
    }
}

/// What Slurm says about one array job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Its tasks (for a pending range, one entry per task).
    Tasks(Vec<TaskInfo>),
    /// Slurm no longer knows the job (or never did).
    Unknown,
}

/// Runs a Slurm command and returns its stdout.
///
/// # Cancel safety
/// Dropping the future kills the command (`kill_on_drop`); nothing else is left behind.
///
/// # Errors
/// [`Error::Slurm`] when the command cannot be started (Slurm not installed), times out, or
/// exits non-zero, with its stderr.
pub async fn run<I, S>(program: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_os_string()).collect();
    let shown = std::iter::once(program.to_string()).chain(args.iter().map(|a| a.to_string_lossy().into_owned())).collect::<Vec<_>>().join(" ");
    let child = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::Slurm { command: shown.clone(), message: format!("cannot start it ({e}); is Slurm installed and on PATH?") })?;
    let output = match tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await {
        Ok(output) => output.map_err(|e| Error::Slurm { command: shown.clone(), message: e.to_string() })?,
        Err(_) => return Err(Error::Slurm { command: shown, message: format!("no answer within {} s", COMMAND_TIMEOUT.as_secs()) }),
    };
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        let message = if stderr.is_empty() { format!("exit status {}", output.status) } else { stderr };
        Err(Error::Slurm { command: shown, message })
    }
}

/// Whether an error says that Slurm does not know a job id.
fn is_unknown_job(error: &Error) -> bool {
    matches!(error, Error::Slurm { message, .. } if message.contains("Invalid job id"))
}

/// Asks `scontrol` about an array job: every task it still knows.
///
/// # Cancel safety
/// Cancel safe, as [`run`].
///
/// # Errors
/// [`Error::Slurm`] when scontrol fails for another reason than an unknown job.
pub async fn scontrol(array_job: &str) -> Result<Report> {
    match run("scontrol", ["-o", "-d", "show", "job", array_job]).await {
        Ok(text) => {
            let tasks = parse_scontrol(&text, array_job);
            Ok(if tasks.is_empty() { Report::Unknown } else { Report::Tasks(tasks) })
        }
        Err(error) if is_unknown_job(&error) => Ok(Report::Unknown),
        Err(error) => Err(error),
    }
}

/// Asks the accounting database (`sacct`) about an array job; `Ok(None)` when the cluster
/// keeps no accounting.
///
/// # Cancel safety
/// Cancel safe, as [`run`].
///
/// # Errors
/// [`Error::Slurm`] when sacct fails for another reason.
pub async fn sacct(array_job: &str) -> Result<Option<Report>> {
    match run("sacct", ["-n", "-P", "-X", "-j", array_job, "-o", "JobID,JobName,State,ExitCode,NodeList,Reason"]).await {
        Ok(text) => {
            let tasks = parse_sacct(&text, array_job);
            Ok(Some(if tasks.is_empty() { Report::Unknown } else { Report::Tasks(tasks) }))
        }
        Err(Error::Slurm { message, .. }) if message.contains("accounting storage is disabled") => Ok(None),
        Err(error) => Err(error),
    }
}

/// Parses `scontrol -o -d show job ARRAY` output: one line per task record; a pending range
/// (`ArrayTaskId=2-5%2`) becomes one entry per task. Records of other arrays are skipped.
pub fn parse_scontrol(text: &str, array_job: &str) -> Vec<TaskInfo> {
    let mut tasks = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields = key_values(line);
        let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str());
        if get("ArrayJobId") != Some(array_job) {
            continue;
        }
        let Some(indices) = get("ArrayTaskId").and_then(task_range) else { continue };
        let (exit_code, signal) = get("ExitCode").map_or((None, None), exit_pair);
        let state = get("JobState").unwrap_or("UNKNOWN").to_string();
        let ended = Phase::of(&state) == Phase::Ended;
        let node = get("NodeList").filter(|n| !n.is_empty() && *n != "(null)").map(str::to_string);
        // With -d, the allocation detail `GRES=gpu:1(IDX:0)` follows `JOB_GRES=`.
        let gres = get("GRES").filter(|g| !g.is_empty() && *g != "(null)").map(str::to_string);
        for task in indices {
            tasks.push(TaskInfo {
                array_job: array_job.to_string(),
                task,
                name: get("JobName").unwrap_or("").to_string(),
                comment: get("Comment").filter(|c| *c != "(null)").map(str::to_string),
                state: state.clone(),
                reason: get("Reason").filter(|r| *r != "None" && !r.is_empty()).map(str::to_string),
                exit_code: exit_code.filter(|_| ended),
                signal: signal.filter(|_| ended),
                restarts: get("Restarts").and_then(|r| r.parse().ok()).unwrap_or(0),
                node: node.clone(),
                gres: gres.clone(),
            });
        }
    }
    tasks
}

/// Parses `sacct -n -P -X -o JobID,JobName,State,ExitCode,NodeList,Reason` output.
pub fn parse_sacct(text: &str, array_job: &str) -> Vec<TaskInfo> {
    let mut tasks = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('|').collect();
        if cols.len() < 6 {
            continue;
        }
        let Some(index) = cols[0].strip_prefix(array_job).and_then(|rest| rest.strip_prefix('_')) else { continue };
        let Some(indices) = task_range(index.trim_start_matches('[').trim_end_matches(']')) else { continue };
        let state = cols[2].split_whitespace().next().unwrap_or("UNKNOWN").to_string();
        let ended = Phase::of(&state) == Phase::Ended;
        let (exit_code, signal) = exit_pair(cols[3]);
        for task in indices {
            tasks.push(TaskInfo {
                array_job: array_job.to_string(),
                task,
                name: cols[1].to_string(),
                comment: None,
                state: state.clone(),
                reason: Some(cols[5].to_string()).filter(|r| r != "None" && !r.is_empty()),
                exit_code: exit_code.filter(|_| ended),
                signal: signal.filter(|_| ended),
                restarts: 0,
                node: Some(cols[4].to_string()).filter(|n| !n.is_empty() && n != "None assigned"),
                gres: None,
            });
        }
    }
    tasks
}

/// Splits a `scontrol -o` line into `Key=Value` pairs. Values never hold spaces in the keys
/// read here; a word without `=` is glued to the value before it.
fn key_values(line: &str) -> Vec<(&str, String)> {
    let mut fields: Vec<(&str, String)> = Vec::new();
    for word in line.split_whitespace() {
        match word.split_once('=') {
            Some((key, value)) if !key.is_empty() => fields.push((key, value.to_string())),
            _ => {
                if let Some((_, value)) = fields.last_mut() {
                    value.push(' ');
                    value.push_str(word);
                }
            }
        }
    }
    fields
}

/// `3:0` → (exit 3, no signal); `0:15` → (exit 0, signal 15).
fn exit_pair(text: &str) -> (Option<i32>, Option<i32>) {
    let (code, signal) = text.split_once(':').unwrap_or((text, "0"));
    let code = code.trim().parse().ok();
    let signal = signal.trim().parse().ok().filter(|s: &i32| *s != 0);
    (code, signal)
}

/// Task indices of an array task spec: `3`, `1-4`, `1-4%2`, `0,2,5-7`, `0-10:2`.
fn task_range(text: &str) -> Option<Vec<u32>> {
    let text = text.split('%').next()?;
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = part.split_once(':').map_or((part, 1), |(r, s)| (r, s.parse().unwrap_or(1)));
        let step = step.max(1);
        match range.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                out.extend((a..=b).step_by(step as usize));
            }
            None => out.push(range.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as `scontrol -o -d show job 11` printed them on Slurm 22.05.8 (Debian 12) for
    /// `sbatch --array=0-4%1 --wrap 'sleep 3'` one second after submission, shortened to the
    /// keys read here plus a few neighbours.
    const SCONTROL: &str = "\
JobId=11 ArrayJobId=11 ArrayTaskId=1-4%1 ArrayTaskThrottle=1 JobName=saescale-q UserId=root(0) JobState=PENDING Reason=JobArrayTaskLimit Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 ExitCode=0:0 NodeList= Comment=saescale:ab12
JobId=12 ArrayJobId=11 ArrayTaskId=0 ArrayTaskThrottle=1 JobName=saescale-q UserId=root(0) JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=1 BatchFlag=1 ExitCode=0:0 NodeList=localhost JOB_GRES=gpu:1   Nodes=localhost CPU_IDs=0 Mem=0 GRES=gpu:1(IDX:1) Comment=saescale:ab12
JobId=9 ArrayJobId=9 ArrayTaskId=0 JobName=other JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0
";

    #[test]
    fn scontrol_lines_become_one_entry_per_task() {
        let tasks = parse_scontrol(SCONTROL, "11");
        assert_eq!(tasks.iter().map(|t| t.task).collect::<Vec<_>>(), [1, 2, 3, 4, 0]);
        let pending = &tasks[0];
        assert_eq!((pending.phase(), pending.reason.as_deref(), pending.exit_code), (Phase::Queued, Some("JobArrayTaskLimit"), None));
        assert_eq!(pending.comment.as_deref(), Some("saescale:ab12"));
        let running = &tasks[4];
        assert_eq!(running.phase(), Phase::Running);
        assert_eq!((running.node.as_deref(), running.gres.as_deref(), running.restarts), (Some("localhost"), Some("gpu:1(IDX:1)"), 1));
        assert_eq!(running.label(), "11_0");
    }

    #[test]
    fn ended_tasks_carry_exit_code_and_signal() {
        let line = "JobId=20 ArrayJobId=19 ArrayTaskId=2 JobName=x JobState=TIMEOUT Reason=TimeLimit Restarts=0 ExitCode=0:15 NodeList=n1";
        let task = &parse_scontrol(line, "19")[0];
        assert_eq!((task.phase(), task.exit_code, task.signal), (Phase::Ended, Some(0), Some(15)));
        assert_eq!(task.reason.as_deref(), Some("TimeLimit"));
    }

    #[test]
    fn sacct_rows_are_read_with_their_array_index() {
        // `sacct -n -P -X -j 3 -o JobID,JobName,State,ExitCode,NodeList,Reason` on the same
        // cluster: a finished 4-task array, then a cancelled pending remainder.
        let text = "3_0|saescale-q|COMPLETED|0:0|localhost|None\n3_1|saescale-q|FAILED|3:0|localhost|None\n\
                    3_[2-3]|saescale-q|CANCELLED by 0|0:0|None assigned|JobArrayTaskLimit\n30_0|other|COMPLETED|0:0|x|None\n";
        let tasks = parse_sacct(text, "3");
        assert_eq!(tasks.len(), 4);
        assert_eq!((tasks[1].state.as_str(), tasks[1].exit_code), ("FAILED", Some(3)));
        assert_eq!((tasks[2].task, tasks[2].state.as_str(), tasks[2].node.as_deref()), (2, "CANCELLED", None));
        assert_eq!(tasks[3].task, 3);
    }

    #[test]
    fn task_ranges_expand() {
        assert_eq!(task_range("3"), Some(vec![3]));
        assert_eq!(task_range("1-4%2"), Some(vec![1, 2, 3, 4]));
        assert_eq!(task_range("0,2,5-6"), Some(vec![0, 2, 5, 6]));
        assert_eq!(task_range("0-6:3"), Some(vec![0, 3, 6]));
        assert_eq!(task_range("x"), None);
    }

    #[test]
    fn states_map_to_phases() {
        assert_eq!(Phase::of("PENDING"), Phase::Queued);
        assert_eq!(Phase::of("SPECIAL_EXIT"), Phase::Queued);
        assert_eq!(Phase::of("COMPLETING"), Phase::Running);
        assert_eq!(Phase::of("CANCELLED by 0"), Phase::Ended);
        assert_eq!(Phase::of("OUT_OF_MEMORY"), Phase::Ended);
    }
}
