//! The supervisor with an in-process fake executor and paused tokio time: retries, failure
//! reasons, reruns, graceful shutdown and resumption, slot limits and utilisation.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use saescale_spec::layout;
use saescale_spec::RunSpec;
use saescale_sweep::executor::{Executor, Job, Outcome, Placement, Stop};
use saescale_sweep::store::RunState;
use saescale_sweep::supervise::{self, Event, Options};
use saescale_sweep::{Plan, RunId, RunStatus, RunStore, SweepSpec};

const SPEC: &str = r#"name = "fake"
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
[sweep]
budgets = [1e11, 2e11, 4e11]
features = [128, 256, 512]
"#;

/// Chunks of work per run; the fake "checkpoints" after each one.
const CHUNKS: u32 = 10;

/// A trainer stand-in: each run takes `steps` ms of (paused) time in `CHUNKS` chunks, keeps
/// its progress in `checkpoint` in the run directory, and obeys a graceful stop after a chunk.
#[derive(Default)]
struct Fake {
    slots: usize,
    /// Feature counts whose runs always fail (retryably).
    failing: HashSet<usize>,
    /// Feature counts whose runs fail with bad input (not retryable).
    bad_input: HashSet<usize>,
    /// (run, checkpointed chunk it resumed from, `None` from scratch), for every attempt.
    starts: Mutex<Vec<(RunId, Option<u32>)>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

impl Fake {
    fn new(slots: usize) -> Self {
        Fake { slots, ..Default::default() }
    }

    fn starts_from_scratch(&self) -> HashMap<RunId, usize> {
        let mut counts = HashMap::new();
        for (id, chunk) in self.starts.lock().unwrap().iter() {
            if chunk.is_none() {
                *counts.entry(id.clone()).or_insert(0) += 1;
            }
        }
        counts
    }
}

impl Executor for Fake {
    fn slots(&self) -> usize {
        self.slots
    }

    async fn execute(&self, job: &Job, _store: &RunStore, stop: &Stop, on_start: &(dyn Fn(Placement) + Send + Sync)) -> saescale_sweep::Result<Outcome> {
        let spec = RunSpec::from_toml_str(&std::fs::read_to_string(&job.run_file).unwrap()).unwrap();
        let checkpoint = job.run_dir.join("checkpoint");
        let resumed: Option<u32> = std::fs::read_to_string(&checkpoint).ok().map(|s| s.trim().parse().unwrap());
        self.starts.lock().unwrap().push((job.id.clone(), resumed));
        let mut chunk = resumed.unwrap_or(0);
        on_start(Placement { device: format!("fake slot {}", job.slot), pid: None });
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let _running = Decrement(&self.running);

        if self.failing.contains(&spec.features()) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Ok(Outcome::Failed { exit_code: Some(1), signal: None, reason: "exit 1: injected failure".into(), retryable: true });
        }
        if self.bad_input.contains(&spec.features()) {
            return Ok(Outcome::Failed { exit_code: Some(2), signal: None, reason: "bad input (exit 2): nope".into(), retryable: false });
        }
        let chunk_time = Duration::from_millis(spec.steps() / CHUNKS as u64);
        while chunk < CHUNKS {
            tokio::select! {
                _ = tokio::time::sleep(chunk_time) => {
                    chunk += 1;
                    std::fs::write(&checkpoint, chunk.to_string()).unwrap();
                }
                _ = stop.graceful.cancelled() => {
                    // Like the real trainer: checkpoint on SIGTERM, then exit 75.
                    std::fs::write(&checkpoint, chunk.to_string()).unwrap();
                    return Ok(Outcome::Interrupted);
                }
            }
        }
        std::fs::write(job.run_dir.join(layout::FINAL), r#"{"loss": 1.0, "flops": 1.0}"#).unwrap();
        Ok(Outcome::Done)
    }
}

struct Decrement<'a>(&'a AtomicUsize);
impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn plan() -> Plan {
    Plan::new(&SweepSpec::parse(SPEC, "fake.toml").unwrap()).unwrap()
}

fn options() -> Options {
    Options { max_attempts: 3, retry_delay: Duration::from_secs(1), ..Options::default() }
}

async fn sweep(dir: &std::path::Path, fake: Arc<Fake>, options: Options, shutdown_after: Option<Duration>) -> supervise::Summary {
    let store = Arc::new(RunStore::open_locked(dir).unwrap());
    let plan = plan();
    store.write_plan(&plan, SPEC).unwrap();
    let shutdown = async move {
        match shutdown_after {
            Some(after) => tokio::time::sleep(after).await,
            None => std::future::pending().await,
        }
    };
    supervise::run(&plan, store, fake, options, shutdown, std::future::pending()).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn every_run_finishes_within_the_slot_limit_and_a_rerun_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(2));
    let summary = sweep(dir.path(), fake.clone(), options(), None).await;
    assert_eq!((summary.total, summary.done, summary.pending, summary.attempts_started), (9, 9, 0, 9));
    assert!(summary.failed.is_empty());
    assert_eq!(fake.max_running.load(Ordering::SeqCst), 2);
    // Largest first keeps both slots busy almost to the end.
    assert!(summary.utilisation() > 0.9 && summary.utilisation() <= 1.0, "{}", summary.utilisation());

    let store = RunStore::open(dir.path()).unwrap();
    for run in &plan().runs {
        let status = store.status(&run.id).unwrap().unwrap();
        assert_eq!((status.state, status.attempts, status.pid), (RunState::Done, 1, None));
        assert!(status.finished_at.is_some() && status.device.is_some());
    }
    drop(store);

    let again = Arc::new(Fake::new(2));
    let summary = sweep(dir.path(), again.clone(), options(), None).await;
    assert_eq!((summary.done, summary.already_done, summary.attempts_started), (9, 9, 0));
    assert!(again.starts.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failing_run_is_retried_then_failed_with_its_reason_while_the_rest_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut fake = Fake::new(2);
    fake.failing.insert(256);
    fake.bad_input.insert(512);
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let with_events = Options { events: Some(events_tx), ..options() };
    let fake = Arc::new(fake);
    let summary = sweep(dir.path(), fake.clone(), with_events, None).await;
    assert_eq!((summary.done, summary.failed.len()), (3, 6));

    let store = RunStore::open(dir.path()).unwrap();
    for run in &plan().runs {
        let status: RunStatus = store.status(&run.id).unwrap().unwrap();
        let attempts = fake.starts.lock().unwrap().iter().filter(|(id, _)| id == &run.id).count();
        match run.features {
            256 => {
                assert_eq!((status.state, status.attempts, attempts), (RunState::Failed, 3, 3));
                assert_eq!(status.failures.len(), 3);
                assert_eq!(status.reason.as_deref(), Some("exit 1: injected failure (after 3 attempts)"));
            }
            512 => {
                assert_eq!((status.state, status.attempts, attempts), (RunState::Failed, 1, 1));
                assert_eq!(status.reason.as_deref(), Some("bad input (exit 2): nope"));
            }
            _ => assert_eq!((status.state, attempts), (RunState::Done, 1)),
        }
    }
    let mut retries = 0;
    while let Ok(event) = events.try_recv() {
        retries += usize::from(matches!(event, Event::Retrying { .. }));
    }
    assert_eq!(retries, 3 * 2);

    // Failed runs stay failed on a plain rerun, and are tried again with retry_failed.
    drop(store);
    let plain = Arc::new(Fake::new(2));
    let summary = sweep(dir.path(), plain.clone(), options(), None).await;
    assert_eq!((summary.attempts_started, summary.failed.len()), (0, 6));
    let healed = Arc::new(Fake::new(2));
    let summary = sweep(dir.path(), healed, Options { retry_failed: true, ..options() }, None).await;
    assert_eq!((summary.attempts_started, summary.done), (6, 9));
}

#[tokio::test(start_paused = true)]
async fn a_graceful_shutdown_leaves_runs_pending_and_the_rerun_resumes_them() {
    let dir = tempfile::tempdir().unwrap();
    let first = Arc::new(Fake::new(2));
    // The largest runs take 15624 steps → 1.56 s of fake time; stop in the middle of them.
    let summary = sweep(dir.path(), first.clone(), options(), Some(Duration::from_millis(800))).await;
    assert!(summary.stopped);
    assert_eq!((summary.done, summary.pending), (0, 9));
    assert_eq!(summary.attempts_started, 2, "no new attempt starts after the shutdown");

    let store = RunStore::open(dir.path()).unwrap();
    let interrupted: Vec<RunStatus> =
        plan().runs.iter().map(|r| store.status(&r.id).unwrap().unwrap()).filter(|s| s.interruptions > 0).collect();
    assert_eq!(interrupted.len(), 2);
    assert!(interrupted.iter().all(|s| s.state == RunState::Pending && s.attempts == 0));
    drop(store);

    let second = Arc::new(Fake::new(2));
    let summary = sweep(dir.path(), second.clone(), options(), None).await;
    assert_eq!(summary.done, 9);
    // Each run started from scratch exactly once over both invocations.
    let mut scratch = first.starts_from_scratch();
    for (id, n) in second.starts_from_scratch() {
        *scratch.entry(id).or_insert(0) += n;
    }
    assert_eq!(scratch.len(), 9);
    assert!(scratch.values().all(|&n| n == 1), "{scratch:?}");
    let resumed = second.starts.lock().unwrap().iter().filter(|(_, chunk)| chunk.is_some()).count();
    assert_eq!(resumed, 2);
}

#[tokio::test(start_paused = true)]
async fn a_stale_running_status_from_a_dead_manager_is_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan();
    {
        let store = RunStore::open_locked(dir.path()).unwrap();
        store.write_plan(&plan, SPEC).unwrap();
        for run in &plan.runs {
            store.prepare(run).unwrap();
        }
        let run = &plan.runs[0];
        let mut status = store.status(&run.id).unwrap().unwrap();
        status.state = RunState::Running;
        status.attempts = 1;
        store.write_status(&run.id, &status).unwrap();
        // A run whose trainer finished while the manager was dead.
        let done = &plan.runs[1];
        status.attempts = 0;
        store.write_status(&done.id, &status).unwrap();
        std::fs::write(store.run(&done.id).final_metrics(), "{}").unwrap();
    } // the "manager" dies: its lock is released
    let fake = Arc::new(Fake::new(2));
    let summary = sweep(dir.path(), fake.clone(), options(), None).await;
    assert_eq!((summary.done, summary.already_done, summary.attempts_started), (9, 1, 8));
    let store = RunStore::open(dir.path()).unwrap();
    let status = store.status(&plan.runs[0].id).unwrap().unwrap();
    assert_eq!((status.state, status.attempts, status.interruptions), (RunState::Done, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn the_supervisor_refuses_an_unlocked_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RunStore::open_locked(dir.path()).unwrap();
        store.write_plan(&plan(), SPEC).unwrap();
    }
    let store = Arc::new(RunStore::open(dir.path()).unwrap());
    let result = supervise::run(&plan(), store, Arc::new(Fake::new(1)), options(), std::future::pending(), std::future::pending()).await;
    assert!(matches!(result, Err(saescale_sweep::Error::NotLocked { .. })));
}
