//! The supervisor: drives a plan's runs through an executor, keeping the store up to date.
//!
//! [`run`] first reconciles the store with the plan ([`crate::lifecycle`]: finished runs are
//! skipped, a run left `running` by a dead manager goes back to pending, after its orphaned
//! trainer, if still alive, was stopped with SIGTERM and has checkpointed), then feeds runs,
//! largest first so that the last slots to free up hold short runs, to at most
//! `executor.slots()` concurrent attempts (a [`Semaphore`]), each in a task of a
//! [`TaskTracker`]. A run that fails is retried on its slot up to `max_attempts`; one that is
//! interrupted resumes from its checkpoint without using an attempt.
//!
//! Shutdown is structured like mini-redis: the caller passes a `shutdown` future (first
//! Ctrl-C) and a `kill` future (second Ctrl-C). The first cancels the graceful
//! [`CancellationToken`](tokio_util::sync::CancellationToken): no new attempts start and
//! running trainers checkpoint and exit; the second cancels the kill token. Either way [`run`]
//! returns only when every task has ended and the store says where each run stands.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

pub use crate::events::{Event, Options, Summary};
use crate::executor::{Executor, Job, Outcome, Placement, Stop};
use crate::lifecycle::{self, Found, Unfinished, Verdict};
use crate::plan::{Plan, PlannedRun};
use crate::store::{hostname, RunStatus, RunStore};
use crate::{error_chain, Error, Result};

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
    shared.options.emit(Event::Reconciled { total: plan.runs.len(), done: already_done, failed: already_failed, to_run: queue.len() });

    let started = Instant::now();
    let (handles, stopped) = feed(queue, &shared, slots, shutdown, kill).await;
    let wall = started.elapsed();
    first_error(handles).await?;

    let mut summary = Summary {
        total: plan.runs.len(),
        done: 0,
        already_done,
        failed: Vec::new(),
        pending: 0,
        attempts_started: *shared.attempts_started.lock().expect("tasks have ended"),
        stopped,
        slots,
        wall,
        busy: *shared.busy.lock().expect("tasks have ended"),
    };
    for run in &plan.runs {
        summary.count(&run.id, store.status(&run.id)?.as_ref());
    }
    Ok(summary)
}

/// Starts a task per queued run as slots free up, and waits for them all, passing on
/// `shutdown` (graceful) and `kill` to the tasks. Returns the tasks' handles and whether a
/// stop was asked for.
async fn feed<E: Executor + 'static>(
    queue: Vec<(PlannedRun, RunStatus)>,
    shared: &Arc<Shared<E>>,
    slots: usize,
    shutdown: impl Future<Output = ()>,
    kill: impl Future<Output = ()>,
) -> (Vec<JoinHandle<Result<()>>>, bool) {
    let semaphore = Arc::new(Semaphore::new(slots));
    let tracker = TaskTracker::new();
    let handles = Mutex::new(Vec::new());
    let feeder = async {
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
    tokio::pin!(feeder, shutdown, kill);
    let (mut fed, mut stopping, mut killing) = (false, false, false);
    loop {
        tokio::select! {
            _ = &mut feeder, if !fed => fed = true,
            _ = tracker.wait(), if fed => break,
            _ = &mut shutdown, if !stopping => {
                stopping = true;
                shared.options.emit(Event::Stopping);
                shared.stop.graceful.cancel();
            }
            _ = &mut kill, if !killing => {
                killing = true;
                shared.options.emit(Event::Killing);
                shared.stop.graceful.cancel();
                shared.stop.kill.cancel();
            }
        }
    }
    let handles = std::mem::take(&mut *handles.lock().expect("the feeder has finished"));
    (handles, stopping || killing)
}

/// The first error of the ended tasks, a panic included.
async fn first_error(handles: Vec<JoinHandle<Result<()>>>) -> Result<()> {
    let mut first = None;
    for handle in handles {
        let error = match handle.await {
            Ok(Ok(())) => continue,
            Ok(Err(error)) => error,
            Err(join_error) => Error::Executor(format!("a run's task panicked: {join_error}")),
        };
        first.get_or_insert(error);
    }
    first.map_or(Ok(()), Err)
}

/// Brings every run's status in line with the files and the lock; returns the runs to run
/// (largest first), and how many are already done and already failed.
async fn reconcile<E>(plan: &Plan, shared: &Shared<E>) -> Result<(Vec<(PlannedRun, RunStatus)>, usize, usize)> {
    let store = &shared.store;
    let mut queue = Vec::new();
    let (mut done, mut failed) = (0, 0);
    for run in &plan.runs {
        let (mut status, found) = lifecycle::examine(store, run, shared.options.retry_failed)?;
        let why = match found {
            Found::Done => {
                done += 1;
                continue;
            }
            Found::Failed => {
                failed += 1;
                continue;
            }
            Found::Unfinished(why) => why,
        };
        // We hold the lock, so the manager that left it running is gone; its trainer may
        // still run. Stop it gracefully so it checkpoints, then resume.
        if let Unfinished::Orphaned { pid: Some(pid), host: Some(host) } = &why {
            if *host == hostname() {
                stop_orphan(*pid, &store.run_dir(&run.id), shared.options.orphan_wait).await;
            }
        }
        lifecycle::requeue(store, &run.id, &mut status, &why)?;
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
    let slot = shared.free_slots.lock().expect("slot list lock is never poisoned").pop();
    // The permit guarantees a free slot: there are as many permits as slots.
    let slot = slot.expect("a permit always comes with a free slot");
    let status = Mutex::new(status);
    let result = async {
        while !shared.stopping() {
            let verdict = attempt(&run, slot, &status, &shared).await?;
            let go_on = match verdict {
                Verdict::Done | Verdict::Failed { .. } => false,
                // Stopped by someone else (a stray SIGTERM): resume at once, within reason.
                Verdict::Interrupted { resumes } => resumes && !shared.stopping(),
                Verdict::Retry { .. } => tokio::select! {
                    _ = tokio::time::sleep(shared.options.retry_delay) => true,
                    _ = shared.stop.graceful.cancelled() => false,
                },
            };
            if !go_on {
                break;
            }
        }
        Ok(())
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

/// One attempt of `run` on `slot`: records its start, carries it out and records its end.
async fn attempt<E: Executor>(run: &PlannedRun, slot: usize, status: &Mutex<RunStatus>, shared: &Shared<E>) -> Result<Verdict> {
    let (store, id) = (&shared.store, &run.id);
    let attempt = {
        let mut s = status.lock().expect("status lock is never poisoned");
        lifecycle::start(&mut s, hostname());
        store.write_status(id, &s)?;
        s.attempts + 1
    };
    let job = Job { id: id.clone(), run_dir: store.run_dir(id), run_file: store.run_file(id), slot, attempt };
    let on_start = |placement: Placement| {
        let mut s = status.lock().expect("status lock is never poisoned");
        s.device = Some(placement.device.clone());
        s.pid = placement.pid;
        // A failed write here only loses the pid and device of a running attempt;
        // the final status below is written (and its errors reported) regardless.
        let _ = store.write_status(id, &s);
        shared.options.emit(Event::Started { id: id.clone(), attempt, placement });
    };
    *shared.attempts_started.lock().expect("counter lock is never poisoned") += 1;
    let began = Instant::now();
    let outcome = shared.executor.execute(&job, store, &shared.stop, &on_start).await;
    let seconds = began.elapsed();
    *shared.busy.lock().expect("busy lock is never poisoned") += seconds;
    let outcome = outcome.unwrap_or_else(|error| Outcome::Failed { exit_code: None, signal: None, reason: error_chain(&error), retryable: false });

    let mut s = status.lock().expect("status lock is never poisoned");
    let verdict = lifecycle::settle(&mut s, attempt, outcome, shared.options.max_attempts, "interrupted; resumes from its checkpoint".into());
    store.write_status(id, &s)?;
    shared.options.emit(verdict.event(id, attempt, seconds.as_secs_f64()));
    Ok(verdict)
}
