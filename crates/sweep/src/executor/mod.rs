//! Executors: how one attempt of one run is carried out.
//!
//! The supervisor ([`crate::supervise`]) decides *which* run goes next, on which slot, and
//! what its outcome means for the store; an [`Executor`] only carries out one attempt and
//! reports how it ended. The local executor starts a child process per attempt. The Slurm
//! executor ([`slurm`]) drives a whole sweep as job arrays instead (tasks outlive the manager
//! and a later manager adopts them), but shares [`Outcome`], the store and the supervisor's
//! options, events and summary.

pub mod local;
pub mod slurm;

use std::future::Future;
use std::path::PathBuf;

use saescale_spec::Exit;
use tokio_util::sync::CancellationToken;

use crate::plan::RunId;
use crate::store::RunStore;
use crate::Result;

pub use local::{LocalConfig, LocalDevice, LocalExecutor};
pub use slurm::SlurmConfig;

/// One attempt of one run, as handed to an executor.
#[derive(Debug, Clone)]
pub struct Job {
    /// The run.
    pub id: RunId,
    /// Its directory in the store.
    pub run_dir: PathBuf,
    /// Its run file (`run.toml`).
    pub run_file: PathBuf,
    /// The slot it holds, `0..executor.slots()`; the local executor maps slots to GPUs.
    pub slot: usize,
    /// Attempt number, from 1 (interrupted attempts that resume keep their number).
    pub attempt: u32,
}

/// The two ways the supervisor can end an attempt early.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    /// Graceful: ask the trainer to checkpoint and exit (SIGTERM), and wait for it.
    pub graceful: CancellationToken,
    /// Immediate: kill the trainer (SIGKILL) without waiting for a checkpoint.
    pub kill: CancellationToken,
}

/// Where an attempt ran, recorded in the run's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Human-readable device, e.g. `cpu (1 thread)` or `cuda:0 (CUDA_VISIBLE_DEVICES=1)`.
    pub device: String,
    /// Process id of the trainer (and of its process group), when there is a local process.
    pub pid: Option<u32>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The trainer finished the run (exit 0).
    Done,
    /// The trainer stopped on a signal after checkpointing (exit 75); running it again resumes.
    Interrupted,
    /// The attempt failed.
    Failed {
        /// Exit code, when the trainer exited.
        exit_code: Option<i32>,
        /// Signal that ended it, when it was killed.
        signal: Option<i32>,
        /// What went wrong.
        reason: String,
        /// Whether trying again can help (exit 1, crashes, timeouts) or not (bad input,
        /// divergence).
        retryable: bool,
    },
}

impl Outcome {
    /// What a trainer's non-zero exit `code` means ([`saescale_spec::Exit`]): an interruption
    /// (75), or a failure described as `bad input (exit 2)`, `diverged (exit 3)` or `exit N`,
    /// retryable unless retrying cannot help. `describe` adds what the executor knows (the
    /// trainer's last error line, the Slurm job) to the description.
    pub fn of_exit(code: i32, signal: Option<i32>, describe: impl FnOnce(String) -> String) -> Outcome {
        let (what, retryable) = match Exit::from_code(code) {
            Some(Exit::Interrupted) => return Outcome::Interrupted,
            Some(Exit::BadInput) => ("bad input (exit 2)".to_string(), false),
            Some(Exit::Diverged) => ("diverged (exit 3)".to_string(), false),
            _ => (format!("exit {code}"), true),
        };
        Outcome::Failed { exit_code: Some(code), signal, reason: describe(what), retryable }
    }
}

/// Carries out attempts of runs.
pub trait Executor: Send + Sync {
    /// How many attempts may run at once.
    fn slots(&self) -> usize;

    /// Runs one attempt of `job` to its end.
    ///
    /// `on_start` is called once the attempt runs, with where it runs, so the supervisor can
    /// record it in the store before waiting. A cancelled `stop.graceful` asks the attempt to
    /// checkpoint and stop, which normally ends it as [`Outcome::Interrupted`]; a cancelled
    /// `stop.kill` ends it at once.
    ///
    /// # Cancel safety
    /// Dropping the future kills whatever the attempt started (the local executor's child is
    /// spawned with `kill_on_drop`), and the run resumes from its last checkpoint next time.
    /// Use `stop` to end an attempt gracefully instead.
    ///
    /// # Errors
    /// Only when the attempt cannot be started or watched at all (e.g. the trainer binary is
    /// missing); everything that happens to a started attempt is an [`Outcome`].
    fn execute(
        &self,
        job: &Job,
        store: &RunStore,
        stop: &Stop,
        on_start: &(dyn Fn(Placement) + Send + Sync),
    ) -> impl Future<Output = Result<Outcome>> + Send;
}
