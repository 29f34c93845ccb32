//! What the two drivers of a sweep (the supervisor with the local executor, and the Slurm
//! engine) share with their caller: the [`Options`] they take, the [`Event`]s they report and
//! the [`Summary`] they return.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::executor::Placement;
use crate::plan::RunId;
use crate::store::{RunState, RunStatus};

/// How a driver treats runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Attempts per run, failures included, before it is marked failed.
    pub max_attempts: u32,
    /// Run again the runs an earlier invocation marked failed (with a fresh attempt count).
    pub retry_failed: bool,
    /// Pause before retrying a failed attempt.
    pub retry_delay: Duration,
    /// How long a trainer left running by a dead manager may take to checkpoint and exit
    /// after SIGTERM before it is killed.
    pub orphan_wait: Duration,
    /// Where to send progress events (the CLI draws progress from them).
    pub events: Option<mpsc::UnboundedSender<Event>>,
}

impl Options {
    /// Sends `event` to whoever watches; nobody watching is fine.
    pub(crate) fn emit(&self, event: Event) {
        if let Some(events) = &self.events {
            // A closed receiver means nobody is watching any more.
            let _ = events.send(event);
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options { max_attempts: 3, retry_failed: false, retry_delay: Duration::from_secs(2), orphan_wait: Duration::from_secs(120), events: None }
    }
}

/// Something that happened while a sweep was driven.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The store was reconciled with the plan.
    Reconciled {
        /// Runs in the plan.
        total: usize,
        /// Runs already done.
        done: usize,
        /// Runs already failed and not retried.
        failed: usize,
        /// Runs to run now.
        to_run: usize,
    },
    /// An attempt started.
    Started {
        /// The run.
        id: RunId,
        /// Attempt number.
        attempt: u32,
        /// Where it runs.
        placement: Placement,
    },
    /// A run finished.
    Done {
        /// The run.
        id: RunId,
        /// Wall time of its last attempt.
        seconds: f64,
    },
    /// An attempt failed and will be retried.
    Retrying {
        /// The run.
        id: RunId,
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        reason: String,
    },
    /// A run failed for good.
    Failed {
        /// The run.
        id: RunId,
        /// Why.
        reason: String,
    },
    /// A run stopped after checkpointing; it is pending again.
    Interrupted {
        /// The run.
        id: RunId,
    },
    /// Runs were submitted to Slurm as one job array (Slurm executor).
    Submitted {
        /// The array's job id.
        job: String,
        /// The runs, task 0 first.
        runs: Vec<RunId>,
    },
    /// Graceful shutdown began: trainers are checkpointing.
    Stopping,
    /// Trainers are being killed.
    Killing,
}

/// Where a sweep stands when its driver returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Runs in the plan.
    pub total: usize,
    /// Runs done (before or during this invocation).
    pub done: usize,
    /// Runs that were already done when this invocation started.
    pub already_done: usize,
    /// Failed runs with their reasons.
    pub failed: Vec<(RunId, String)>,
    /// Runs still pending (stopped, or never started because of a shutdown).
    pub pending: usize,
    /// Attempts started by this invocation.
    pub attempts_started: usize,
    /// Whether a shutdown was requested.
    pub stopped: bool,
    /// Concurrent slots.
    pub slots: usize,
    /// Wall time from the first attempt to the last one's end.
    pub wall: Duration,
    /// Sum over attempts of their wall time (slot-seconds of work).
    pub busy: Duration,
}

impl Summary {
    /// Busy slots / total slots over the sweep: `busy / (slots × wall)`.
    pub fn utilisation(&self) -> f64 {
        let capacity = self.slots as f64 * self.wall.as_secs_f64();
        if capacity > 0.0 {
            self.busy.as_secs_f64() / capacity
        } else {
            0.0
        }
    }

    /// Whether every run is done.
    pub fn all_done(&self) -> bool {
        self.done == self.total
    }

    /// Counts one run of the plan as done, failed (with its reason) or pending, from its status.
    pub(crate) fn count(&mut self, id: &RunId, status: Option<&RunStatus>) {
        match status {
            Some(s) if s.state == RunState::Done => self.done += 1,
            Some(s) if s.state == RunState::Failed => self.failed.push((id.clone(), s.reason.clone().unwrap_or_default())),
            _ => self.pending += 1,
        }
    }
}
