//! The supervisor: drives a plan's runs through an executor, keeping the store up to date.
//!
//! [`run`] first reconciles the store with the plan (finished runs are skipped, a run left
//! `running` by a dead manager goes back to pending, after its orphaned trainer, if still
//! alive, was stopped with SIGTERM and has checkpointed),
//! then feeds runs, largest first so that the last slots to free up hold short runs, to at
//! most `executor.slots()` concurrent attempts (a [`Semaphore`]), each in a task of a
//! [`TaskTracker`]. A run that fails is retried on its slot up to `max_attempts`; one that is
//! interrupted resumes from its checkpoint without using an attempt.
//!
//! Shutdown is structured like mini-redis: the caller passes a `shutdown` future (first
//! Ctrl-C) and a `kill` future (second Ctrl-C). The first cancels the graceful
//! [`CancellationToken`]: no new attempts start and running trainers checkpoint and exit; the
//! second cancels the kill token. Either way [`run`] returns only when every task has ended
//! and the store says where each run stands.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::executor::{Executor, Job, Outcome, Placement, Stop};
use crate::plan::{Plan, PlannedRun, RunId};
use crate::store::{hostname, now_rfc3339, Failure, RunState, RunStatus, RunStore};
use crate::{Error, Result};

/// How the supervisor treats runs.
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

impl Default for Options {
    fn default() -> Self {
        Options { max_attempts: 3, retry_failed: false, retry_delay: Duration::from_secs(2), orphan_wait: Duration::from_secs(120), events: None }
    }
}

/// Something that happened during [`run`].
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

/// Where a sweep stands when [`run`] returns.
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
}

/// What the tasks share.
struct Shared<E> {
    store: Arc<RunStore>,
    executor: Arc<E>,
    options: Options,
    stop: Stop,
    /// Slot numbers not held by an attempt.
    free_slots: Mutex<Vec<usize>>,
    /// Slot-time spent in attempts.
    busy: Mutex<Duration>,
    attempts_started: Mutex<usize>,
}

impl<E> Shared<E> {
    fn emit(&self, event: Event) {
        if let Some(events) = &self.options.events {
            // A closed receiver means nobody is watching, which is fine.
            let _ = events.send(event);
        }
    }

    fn stopping(&self) -> bool {
        self.stop.graceful.is_cancelled() || self.stop.kill.is_cancelled()
    }
}

/// Runs every unfinished run of `plan` to done or failed, or until `shutdown`.
///
/// The store must be opened with [`RunStore::open_locked`]; call
/// [`RunStore::write_plan`] first so `sweep status` can read the plan.
///
/// # Cancel safety
/// Not cancel safe: dropping the future drops the executor's futures, which kills their
/// trainers (they resume from their last periodic checkpoint) and may leave statuses at
/// `running`, which the next invocation recovers. Use `shutdown` to stop cleanly.
///
/// # Errors
/// [`Error::NotLocked`] for an unlocked store; [`Error::Io`]/[`Error::Corrupt`] when the
/// store cannot be read or written (the sweep is then stopped gracefully first). Failed runs
/// are not errors: they are in [`Summary::failed`].
pub async fn run<E: Executor + 'static>(
    plan: &Plan,
    store: Arc<RunStore>,
    executor: Arc<E>,
    options: Options,
    shutdown: impl Future<Output = ()>,
    kill: impl Future<Output = ()>,
) -> Result<Summary> {
    if !store.is_locked() {
        return Err(Error::NotLocked { dir: store.dir().to_path_buf() });
    }
    let slots = executor.slots().max(1);
    let shared = Arc::new(Shared {
        store: store.clone(),
        executor,
        options,
        stop: Stop::default(),
        free_slots: Mutex::new((0..slots).rev().collect()),
        busy: Mutex::new(Duration::ZERO),
        attempts_started: Mutex::new(0),
    });

    let (queue, already_done, already_failed) = reconcile(plan, &shared).await?;
    shared.emit(Event::Reconciled { total: plan.runs.len(), done: already_done, failed: already_failed, to_run: queue.len() });

    let started = Instant::now();
    let semaphore = Arc::new(Semaphore::new(slots));
    let tracker = TaskTracker::new();
    let handles = Mutex::new(Vec::new());
    let feed = async {
        for (run, status) in queue {
            let permit = tokio::select! {
                // The semaphore is never closed, so acquire_owned cannot fail.
                permit = semaphore.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                _ = shared.stop.graceful.cancelled() => break,
            };
            let handle = tracker.spawn(drive(run, status, permit, shared.clone()));
            handles.lock().expect("no task panics while holding this lock").push(handle);
        }
        tracker.close();
    };
    tokio::pin!(feed, shutdown, kill);
    let (mut fed, mut stopping, mut killing) = (false, false, false);
    loop {
        tokio::select! {
            _ = &mut feed, if !fed => fed = true,
            _ = tracker.wait(), if fed => break,
            _ = &mut shutdown, if !stopping => {
                stopping = true;
                shared.emit(Event::Stopping);
                shared.stop.graceful.cancel();
            }
            _ = &mut kill, if !killing => {
                killing = true;
                shared.emit(Event::Killing);
                shared.stop.graceful.cancel();
                shared.stop.kill.cancel();
            }
        }
    }
    let wall = started.elapsed();

    let mut first_error = None;
    let handles = std::mem::take(&mut *handles.lock().expect("the feeder has finished"));
    for handle in handles {
        match handle.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                first_error.get_or_insert(error);
            }
            Err(join_error) => {
                first_error.get_or_insert(Error::Executor(format!("a run's task panicked: {join_error}")));
            }
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }

    let mut summary = Summary {
        total: plan.runs.len(),
        done: 0,
        already_done,
        failed: Vec::new(),
        pending: 0,
        attempts_started: *shared.attempts_started.lock().expect("tasks have ended"),
        stopped: stopping || killing,
        slots,
        wall,
        busy: *shared.busy.lock().expect("tasks have ended"),
    };
    for run in &plan.runs {
        match store.status(&run.id)?.map(|s| (s.state, s.reason)) {
            Some((RunState::Done, _)) => summary.done += 1,
            Some((RunState::Failed, reason)) => summary.failed.push((run.id.clone(), reason.unwrap_or_default())),
            _ => summary.pending += 1,
        }
    }
    Ok(summary)
}

/// Brings every run's status in line with the files and the lock; returns the runs to run
/// (largest first), and how many are already done and already failed.
async fn reconcile<E>(plan: &Plan, shared: &Shared<E>) -> Result<(Vec<(PlannedRun, RunStatus)>, usize, usize)> {
    let store = &shared.store;
    let mut queue = Vec::new();
    let (mut done, mut failed) = (0, 0);
    for run in &plan.runs {
        let mut status = store.prepare(run)?;
        if store.is_finished(&run.id) {
            if status.state != RunState::Done {
                // The trainer finished but its manager died before recording it.
                status.state = RunState::Done;
                status.pid = None;
                status.finished_at.get_or_insert_with(now_rfc3339);
                status.reason = None;
                store.write_status(&run.id, &status)?;
            }
            done += 1;
            continue;
        }
        match status.state {
            RunState::Pending => {}
            RunState::Done => {
                status.state = RunState::Pending;
                status.reason = Some("status said done but final.json is missing; running again".into());
                store.write_status(&run.id, &status)?;
            }
            RunState::Failed if !shared.options.retry_failed => {
                failed += 1;
                continue;
            }
            RunState::Failed => {
                status.state = RunState::Pending;
                status.attempts = 0;
                status.reason = None;
                status.finished_at = None;
                store.write_status(&run.id, &status)?;
            }
            RunState::Running => {
                // We hold the lock, so the manager that wrote this is gone; its trainer may
                // still be running. Stop it gracefully so it checkpoints, then resume.
                if status.host.as_deref() == Some(hostname().as_str()) {
                    if let Some(pid) = status.pid {
                        stop_orphan(pid, &store.run_dir(&run.id), shared.options.orphan_wait).await;
                    }
                }
                status.state = RunState::Pending;
                status.pid = None;
                status.interruptions += 1;
                status.reason = Some("its manager stopped while it ran; resumes from its checkpoint".into());
                store.write_status(&run.id, &status)?;
            }
        }
        queue.push((run.clone(), status));
    }
    queue.sort_by(|a, b| b.0.flops.total_cmp(&a.0.flops));
    Ok((queue, done, failed))
}

/// Stops process `pid` if it is still a trainer of `run_dir` (left by a dead manager): SIGTERM
/// to its process group so it checkpoints and exits, then SIGKILL after `patience`.
async fn stop_orphan(pid: u32, run_dir: &Path, patience: Duration) {
    let is_ours = || {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|cmdline| {
                let needle = run_dir.as_os_str().as_encoded_bytes();
                cmdline.split(|&b| b == 0).any(|arg| arg == needle)
            })
            .unwrap_or(false)
    };
    if !is_ours() {
        return;
    }
    // SAFETY: killpg has no memory effects; the group is led by the orphaned trainer, whose
    // command line names this run directory.
    unsafe {
        libc::killpg(pid as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + patience;
    while is_ours() {
        if Instant::now() >= deadline {
            // SAFETY: as above.
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGKILL);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One run's task: attempts until done, failed, or stopped.
///
/// # Cancel safety
/// Runs inside a tracked task and is never cancelled; it watches `shared.stop` instead.
async fn drive<E: Executor>(run: PlannedRun, status: RunStatus, permit: OwnedSemaphorePermit, shared: Arc<Shared<E>>) -> Result<()> {
    let store = &shared.store;
    let id = run.id.clone();
    let slot = shared.free_slots.lock().expect("slot list lock is never poisoned").pop();
    // The permit guarantees a free slot: there are as many permits as slots.
    let slot = slot.expect("a permit always comes with a free slot");
    let status = Mutex::new(status);
    let result = async {
        loop {
            if shared.stopping() {
                return Ok(());
            }
            let attempt = {
                let mut s = status.lock().expect("status lock is never poisoned");
                s.state = RunState::Running;
                s.started_at = Some(now_rfc3339());
                s.host = Some(hostname());
                s.pid = None;
                store.write_status(&id, &s)?;
                s.attempts + 1
            };
            let job = Job { id: id.clone(), run_dir: store.run_dir(&id), run_file: store.run_file(&id), slot, attempt };
            let on_start = |placement: Placement| {
                let mut s = status.lock().expect("status lock is never poisoned");
                s.device = Some(placement.device.clone());
                s.pid = placement.pid;
                // A failed write here only loses the pid and device of a running attempt;
                // the final status below is written (and its errors reported) regardless.
                let _ = store.write_status(&id, &s);
                shared.emit(Event::Started { id: id.clone(), attempt, placement });
            };
            *shared.attempts_started.lock().expect("counter lock is never poisoned") += 1;
            let began = Instant::now();
            let outcome = shared.executor.execute(&job, store, &shared.stop, &on_start).await;
            let seconds = began.elapsed();
            *shared.busy.lock().expect("busy lock is never poisoned") += seconds;
            let outcome = outcome.unwrap_or_else(|error| Outcome::Failed {
                exit_code: None,
                signal: None,
                reason: error_chain(&error),
                retryable: false,
            });

            let mut s = status.lock().expect("status lock is never poisoned").clone();
            s.pid = None;
            match outcome {
                Outcome::Done => {
                    s.state = RunState::Done;
                    s.attempts = attempt;
                    s.exit_code = Some(0);
                    s.reason = None;
                    s.finished_at = Some(now_rfc3339());
                    store.write_status(&id, &s)?;
                    shared.emit(Event::Done { id: id.clone(), seconds: seconds.as_secs_f64() });
                    return Ok(());
                }
                Outcome::Interrupted => {
                    s.state = RunState::Pending;
                    s.interruptions += 1;
                    s.exit_code = Some(75);
                    s.reason = Some("interrupted; resumes from its checkpoint".into());
                    store.write_status(&id, &s)?;
                    *status.lock().expect("status lock is never poisoned") = s;
                    shared.emit(Event::Interrupted { id: id.clone() });
                    // Stopped by someone else (a stray SIGTERM): resume at once, within reason.
                    if shared.stopping() || status.lock().expect("status lock is never poisoned").interruptions > MAX_INTERRUPTIONS {
                        return Ok(());
                    }
                }
                Outcome::Failed { exit_code, signal, reason, retryable } => {
                    s.attempts = attempt;
                    s.exit_code = exit_code;
                    s.failures.push(Failure { attempt, at: now_rfc3339(), exit_code, signal, reason: reason.clone() });
                    let retry = retryable && attempt < shared.options.max_attempts;
                    if retry {
                        s.state = RunState::Pending;
                        s.reason = Some(format!("attempt {attempt} failed: {reason}"));
                        shared.emit(Event::Retrying { id: id.clone(), attempt, reason });
                    } else {
                        s.state = RunState::Failed;
                        let why = if retryable { format!("{reason} (after {attempt} attempts)") } else { reason };
                        s.reason = Some(why.clone());
                        s.finished_at = Some(now_rfc3339());
                        shared.emit(Event::Failed { id: id.clone(), reason: why });
                    }
                    store.write_status(&id, &s)?;
                    *status.lock().expect("status lock is never poisoned") = s;
                    if !retry {
                        return Ok(());
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(shared.options.retry_delay) => {}
                        _ = shared.stop.graceful.cancelled() => return Ok(()),
                    }
                }
            }
        }
    }
    .await;
    shared.free_slots.lock().expect("slot list lock is never poisoned").push(slot);
    drop(permit);
    if result.is_err() {
        // The store cannot be written: stop the whole sweep rather than lose track of runs.
        shared.stop.graceful.cancel();
    }
    result
}

/// Interruptions not caused by this manager after which a run stops being resumed at once.
const MAX_INTERRUPTIONS: u32 = 100;

/// An error with its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
