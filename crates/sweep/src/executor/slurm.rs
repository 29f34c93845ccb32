//! The Slurm executor: a sweep's runs as sbatch job arrays on a Slurm cluster.
//!
//! Every run that needs training is submitted in one job array per submission (`--array` with
//! the throttle `%N` from `[executor] slots`); task `i` runs `saescale train` on the `i`-th run's
//! directory of the shared store. The manager then watches the array with `scontrol` (and
//! `sacct`, once scontrol has forgotten a job and the cluster keeps accounting), with capped
//! exponential backoff, and maps each task's Slurm state onto its run's `status.json`:
//!
//! | Slurm | run |
//! |---|---|
//! | PENDING (and held or requeued) | `pending`, reason `queued in Slurm as job A_i (Priority)` |
//! | RUNNING, COMPLETING, ... | `running`, host = node, device = `Slurm job A_i on NODE (...)` |
//! | COMPLETED with `final.json` | `done` |
//! | FAILED exit 75, PREEMPTED, a requeue | interrupted: resubmitted (or requeued by Slurm), resumes from its checkpoint, no attempt used |
//! | CANCELLED | interrupted, not resubmitted: `saescale sweep resume` runs it again |
//! | FAILED exit 2 / 3 | `failed` at once (bad input, diverged) |
//! | FAILED other exit, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ... | attempt failed: resubmitted up to `max_attempts`, then `failed` with Slurm's reason |
//!
//! The store stays the source of truth and Slurm's queue is only looked at, so the manager
//! may leave after submitting (`detach`, or Ctrl-C): `sweep status` (see [`refresh`]) maps the
//! queue onto the store later from any login node, and `sweep resume` adopts the jobs still
//! queued or running and resubmits the rest. [`ledger`] records every submission; [`cancel`]
//! scancels those and nothing else.
//!
//! Why not the per-attempt [`crate::Executor`] trait: an array is one submission for many
//! runs, its tasks outlive the manager, and a later manager must adopt them instead of
//! starting new attempts; a loop over the whole sweep expresses that directly.

pub mod ledger;
pub mod query;
pub mod script;

mod engine;
mod outcome;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use crate::events::{Options, Summary};
use crate::plan::Plan;
use crate::spec::{DeviceKind, SlurmSpec};
use crate::store::RunStore;
use crate::{Error, Result};

pub use ledger::Ledger;

/// Settings of the Slurm executor, resolved from the spec and the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmConfig {
    /// The trainer as the compute nodes see it (normally this `saescale` binary on a shared
    /// file system).
    pub program: PathBuf,
    /// `--job-name`, `saescale-<sweep>`.
    pub job_name: String,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--time`, rounded up to whole minutes.
    pub time_limit: Option<Duration>,
    /// Seconds before the time limit at which the trainer is told to checkpoint; 0 for none.
    pub signal_seconds: u32,
    /// `--gres=gpu:N`; 0 for none.
    pub gpus_per_run: u32,
    /// Whether the trainer runs on CUDA (`--device cuda`) rather than the CPU.
    pub cuda: bool,
    /// `--cpus-per-task`, also the trainer's `--threads` on the CPU.
    pub cpus_per_run: u32,
    /// `--mem`.
    pub mem: Option<String>,
    /// Tasks of one array running at once (`--array=...%N`).
    pub throttle: Option<usize>,
    /// More `#SBATCH` options.
    pub sbatch: Vec<String>,
    /// Shell lines run before the trainer.
    pub setup: Option<String>,
    /// Shortest pause between two looks at the queue (after a change).
    pub poll_min: Duration,
    /// Longest pause between two looks at the queue.
    pub poll_max: Duration,
}

/// What the user asked for in `[executor]` and on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlurmRequest {
    /// `auto`, `cpu` or `cuda`.
    pub device: DeviceKind,
    /// Runs at a time: the array throttle.
    pub slots: Option<usize>,
    /// CPUs of each run.
    pub threads_per_run: Option<usize>,
    /// Time limit of each attempt.
    pub timeout: Option<Duration>,
}

/// Default warning before the time limit: long enough for a large SAE to save its state.
const DEFAULT_SIGNAL_SECONDS: u32 = 120;
/// Default longest pause between polls.
const DEFAULT_POLL_SECONDS: f64 = 30.0;

impl SlurmConfig {
    /// Resolves the `[executor.slurm]` table and the shared `[executor]` settings.
    ///
    /// GPUs per run default to 1 for `device = "cuda"` and 0 otherwise; the trainer runs on
    /// CUDA when the run has a GPU and the device is not `cpu`. CPUs per run default to 1.
    ///
    /// # Errors
    /// [`Error::Executor`] for a zero count or `device = "cuda"` with `gpus_per_run = 0`.
    pub fn resolve(program: PathBuf, sweep_name: &str, spec: Option<&SlurmSpec>, request: SlurmRequest) -> Result<SlurmConfig> {
        let default = SlurmSpec::default();
        let spec = spec.unwrap_or(&default);
        if request.slots == Some(0) || request.threads_per_run == Some(0) {
            return Err(Error::Executor("slots and threads per run must be at least 1".into()));
        }
        let gpus_per_run = spec.gpus_per_run.unwrap_or(u32::from(request.device == DeviceKind::Cuda));
        if request.device == DeviceKind::Cuda && gpus_per_run == 0 {
            return Err(Error::Executor("device cuda, but [executor.slurm] gpus_per_run = 0".into()));
        }
        let poll_max = Duration::from_secs_f64(spec.poll_seconds.map_or(DEFAULT_POLL_SECONDS, |p| p.0));
        Ok(SlurmConfig {
            program,
            job_name: format!("saescale-{sweep_name}"),
            partition: spec.partition.clone(),
            account: spec.account.clone(),
            time_limit: request.timeout,
            signal_seconds: spec.signal_seconds.unwrap_or(DEFAULT_SIGNAL_SECONDS),
            gpus_per_run,
            cuda: gpus_per_run > 0 && request.device != DeviceKind::Cpu,
            cpus_per_run: request.threads_per_run.map_or(1, |t| t.min(u32::MAX as usize) as u32),
            mem: spec.mem.clone(),
            throttle: request.slots,
            sbatch: spec.sbatch.clone(),
            setup: spec.setup.clone(),
            poll_min: Duration::from_secs(1).min(poll_max),
            poll_max,
        })
    }

    /// A one-line description for the user.
    pub fn describe(&self) -> String {
        let mut parts = vec!["slurm".to_string()];
        if let Some(partition) = &self.partition {
            parts.push(format!("partition {partition}"));
        }
        parts.push(match self.throttle {
            Some(n) => format!("{n} run(s) at a time"),
            None => "no throttle".into(),
        });
        parts.push(format!("{} CPU(s)", self.cpus_per_run));
        if self.gpus_per_run > 0 {
            parts.push(format!("{} GPU(s) per run", self.gpus_per_run));
        }
        if let Some(limit) = self.time_limit {
            parts.push(format!("time limit {} min", limit.as_secs().div_ceil(60).max(1)));
        }
        parts.join(", ")
    }
}

/// Trains every unfinished run of `plan` through Slurm.
///
/// Adopts the sweep's tasks that are still queued or running (from an earlier, detached or
/// interrupted manager), submits the other unfinished runs as one array, and, unless
/// `detach`, watches until every run is done, failed or cancelled, resubmitting interrupted
/// and failed attempts. `shutdown` (Ctrl-C) stops the watching only: the jobs keep running,
/// and [`Summary::stopped`] is set.
///
/// # Cancel safety
/// Cancel safe between Slurm commands: what is submitted is in the ledger before sbatch runs,
/// and every status write is atomic. Use `shutdown` to stop watching cleanly.
///
/// # Errors
/// [`Error::NotLocked`] for an unlocked store; [`Error::Slurm`] when sbatch refuses the job
/// (bad partition, account, …) or Slurm cannot be asked for a long time; store errors.
pub async fn run(
    plan: &Plan,
    store: &RunStore,
    config: &SlurmConfig,
    options: &Options,
    detach: bool,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary> {
    engine::Engine::open(plan, store, options)?.drive(config, detach, shutdown).await
}

/// Maps what Slurm says about the sweep's jobs onto the store, without submitting anything
/// (`saescale sweep status` of a sweep no manager watches).
///
/// # Cancel safety
/// Cancel safe: every status write is atomic.
///
/// # Errors
/// As [`run`].
pub async fn refresh(plan: &Plan, store: &RunStore, options: &Options) -> Result<()> {
    let mut engine = engine::Engine::open(plan, store, options)?;
    engine.reconcile()?;
    engine.poll().await.map(|_| ())
}

/// Cancels the sweep's jobs that are queued or running (scancel of the job ids in the
/// ledger whose `--comment` still names this sweep, and nothing else); returns those ids.
///
/// With the store locked, it then waits up to `patience` for the tasks to end (trainers
/// checkpoint on the SIGTERM) and records them as interrupted, to be resumed by
/// `saescale sweep resume`. Without the lock (a manager on another machine watches the sweep)
/// it only scancels, and that manager records the ends.
///
/// # Cancel safety
/// Dropped after scancel, the jobs are cancelled but their ends are recorded only by the next
/// `sweep status`, `resume` or `cancel`.
///
/// # Errors
/// [`Error::Slurm`] when scancel or scontrol fail; store errors.
pub async fn cancel(plan: &Plan, store: &RunStore, options: &Options, patience: Duration) -> Result<Vec<String>> {
    let ids = scancel_ours(&Ledger::read(store.dir())?).await?;
    if store.is_locked() {
        let mut engine = engine::Engine::open(plan, store, options)?;
        engine.reconcile()?;
        engine.watch_until_ended(patience).await?;
    }
    Ok(ids)
}

/// scancels the ledger's submissions that Slurm still runs or queues, after checking that
/// each job id still names this sweep's job (its `--comment`), not a stranger's after a reset
/// of the cluster's job ids; returns the ids cancelled.
///
/// # Cancel safety
/// Cancel safe up to the scancel; after it, as [`cancel`].
///
/// # Errors
/// [`Error::Slurm`] when squeue, scontrol or scancel fail.
async fn scancel_ours(ledger: &Ledger) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for submission in ledger.submissions.iter().filter(|s| s.in_flight()) {
        let comment = submission.comment();
        let id = match &submission.job_id {
            Some(id) => id.clone(),
            None => match engine::find_by_comment(&submission.job_name, &comment).await? {
                Some(id) => id,
                None => continue,
            },
        };
        if let query::Report::Tasks(tasks) = query::scontrol(&id).await? {
            let ours = tasks.iter().any(|t| t.comment.as_deref() == Some(comment.as_str()));
            if ours && tasks.iter().any(|t| t.phase() != query::Phase::Ended) {
                ids.push(id);
            }
        }
    }
    if !ids.is_empty() {
        query::run("scancel", &ids).await?;
    }
    Ok(ids)
}

/// Job ids of the sweep in `dir` whose tasks may still be queued or running, as far as its
/// ledger knows (no Slurm command is run). Empty for a sweep that never used Slurm.
///
/// # Errors
/// [`Error::Io`] or [`Error::Corrupt`] when the ledger cannot be read.
pub fn in_flight_jobs(dir: &std::path::Path) -> Result<Vec<String>> {
    Ok(Ledger::read(dir)?.live_job_ids())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_follow_the_device_unless_given() {
        let resolve = |device, gpus| {
            let spec = SlurmSpec { gpus_per_run: gpus, ..SlurmSpec::default() };
            SlurmConfig::resolve("saescale".into(), "s", Some(&spec), SlurmRequest { device, ..SlurmRequest::default() })
        };
        let cuda = resolve(DeviceKind::Cuda, None).unwrap();
        assert_eq!((cuda.gpus_per_run, cuda.cuda), (1, true));
        let auto = resolve(DeviceKind::Auto, None).unwrap();
        assert_eq!((auto.gpus_per_run, auto.cuda), (0, false));
        let auto_gpu = resolve(DeviceKind::Auto, Some(2)).unwrap();
        assert_eq!((auto_gpu.gpus_per_run, auto_gpu.cuda), (2, true));
        let cpu_with_gpu = resolve(DeviceKind::Cpu, Some(1)).unwrap();
        assert_eq!((cpu_with_gpu.gpus_per_run, cpu_with_gpu.cuda), (1, false));
        assert!(resolve(DeviceKind::Cuda, Some(0)).is_err());
        assert_eq!(cuda.job_name, "saescale-s");
        assert_eq!((cuda.signal_seconds, cuda.poll_max), (120, Duration::from_secs(30)));
    }
}
