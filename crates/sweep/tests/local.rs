//! The local executor against a fake trainer script (tests/support/fake-trainer.sh) that
//! follows `saescale train`'s contract: real child processes, process groups, signals, exit
//! codes, timeouts and GPU pinning.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use saescale_spec::layout;
use saescale_sweep::executor::{Executor, Job, LocalDevice, Outcome, Placement, Stop};
use saescale_sweep::supervise::{self, Options};
use saescale_sweep::{LocalConfig, LocalExecutor, Plan, RunState, RunStore, SweepSpec};

const SPEC: &str = r#"name = "local"
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
[sweep]
budgets = [1e11, 2e11]
features = [128, 256]
"#;

fn fake_trainer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake-trainer.sh")
}

fn executor(device: LocalDevice, slots: usize, timeout: Option<Duration>) -> LocalExecutor {
    with_env(device, slots, timeout, &[])
}

/// An executor whose fake trainer gets these `FAKE_*` knobs.
fn with_env(device: LocalDevice, slots: usize, timeout: Option<Duration>, env: &[(&str, &str)]) -> LocalExecutor {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    LocalExecutor::new(LocalConfig { program: fake_trainer(), device, slots, timeout, grace: Duration::from_secs(1), env })
}

fn cpu() -> LocalDevice {
    LocalDevice::Cpu { threads_per_run: 1 }
}

/// A locked store with the plan written and every run prepared.
fn store(dir: &Path) -> (Arc<RunStore>, Plan) {
    let plan = Plan::new(&SweepSpec::parse(SPEC, "local.toml").unwrap()).unwrap();
    let store = RunStore::open_locked(dir).unwrap();
    store.write_plan(&plan, SPEC).unwrap();
    for run in &plan.runs {
        store.prepare(run).unwrap();
    }
    (Arc::new(store), plan)
}

fn job(store: &RunStore, plan: &Plan, index: usize, slot: usize) -> Job {
    let id = plan.runs[index].id.clone();
    Job { run_dir: store.run_dir(&id), run_file: store.run_file(&id), id, slot, attempt: 1 }
}

async fn execute(executor: &LocalExecutor, store: &RunStore, job: &Job, stop: &Stop) -> (Outcome, Vec<Placement>) {
    let placements = Mutex::new(Vec::new());
    let record = |p: Placement| placements.lock().unwrap().push(p);
    let outcome = executor.execute(job, store, stop, &record).await.unwrap();
    (outcome, placements.into_inner().unwrap())
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Waits (polling, up to 10 s) until the trainer of `run_dir` has logged a metrics line: it
/// has started, set its signal handlers and finished a chunk of work. Real processes run on
/// the real clock, so the tests wait for what they need instead of for a fixed time.
async fn first_progress(run_dir: &Path) {
    let metrics = run_dir.join(layout::METRICS);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&metrics).is_ok_and(|m| m.lines().count() >= 1) {
        assert!(Instant::now() < deadline, "the trainer of {} made no progress", run_dir.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_run_finishes_with_its_output_captured() {
    let dir = tempfile::tempdir().unwrap();
    let (store, plan) = store(dir.path());
    let job = job(&store, &plan, 0, 0);
    let (outcome, placements) = execute(&executor(cpu(), 1, None), &store, &job, &Stop::default()).await;
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(placements.len(), 1);
    assert_eq!(placements[0].device, "cpu (1 thread)");
    assert!(placements[0].pid.is_some());
    let log = read(job.run_dir.join(layout::STDOUT));
    assert!(log.starts_with("=== saescale sweep: attempt 1 on ") && log.trim_end().ends_with("done"), "{log}");
    assert_eq!(read(job.run_dir.join("placement.log")).trim(), "device=cpu threads=1 CUDA_VISIBLE_DEVICES=unset");
    assert_eq!(store.last_metrics(&job.id).unwrap().unwrap().step, plan.runs[0].steps);
    assert_eq!(store.final_metrics(&job.id).unwrap().unwrap().l0, Some(12.0));
}

#[tokio::test]
async fn exit_codes_map_to_outcomes_with_the_last_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let (store, plan) = store(dir.path());
    let executor = with_env(cpu(), 1, None, &[("FAKE_FAIL_FEATURES", "128"), ("FAKE_BAD_FEATURES", "256")]);
    let (failed, _) = execute(&executor, &store, &job(&store, &plan, 0, 0), &Stop::default()).await;
    let (bad, _) = execute(&executor, &store, &job(&store, &plan, 1, 0), &Stop::default()).await;
    assert_eq!(
        failed,
        Outcome::Failed { exit_code: Some(1), signal: None, reason: "exit 1: injected failure at F = 128".into(), retryable: true }
    );
    assert_eq!(
        bad,
        Outcome::Failed { exit_code: Some(2), signal: None, reason: "bad input (exit 2): bad run file at F = 256".into(), retryable: false }
    );
}

#[tokio::test]
async fn a_graceful_stop_checkpoints_and_the_next_attempt_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, plan) = store(dir.path());
    let job = job(&store, &plan, 0, 0);
    let executor = executor(cpu(), 1, None);
    let stop = Stop::default();
    let (trigger, run_dir) = (stop.graceful.clone(), job.run_dir.clone());
    tokio::spawn(async move {
        first_progress(&run_dir).await;
        trigger.cancel();
    });
    let (outcome, _) = execute(&executor, &store, &job, &stop).await;
    assert_eq!(outcome, Outcome::Interrupted);
    assert!(!store.is_finished(&job.id));
    let (outcome, _) = execute(&executor, &store, &job, &Stop::default()).await;
    assert_eq!(outcome, Outcome::Done);
    let starts = read(job.run_dir.join("starts.log"));
    let lines: Vec<&str> = starts.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], "scratch");
    assert!(lines[1].starts_with("resume ") && lines[1] != "resume 0", "{starts}");
}

/// The timeout and the kill that follows an ignored SIGTERM are the executor's timers, so they
/// run on tokio's paused clock: the test does not wait for them in real time.
#[tokio::test(start_paused = true)]
async fn a_timeout_fails_the_attempt_and_a_kill_ends_a_trainer_that_ignores_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (store, plan) = store(dir.path());
    let executor_with_timeout = with_env(cpu(), 1, Some(Duration::from_secs(300)), &[("FAKE_CHUNK_SECONDS", "10")]);
    let (outcome, _) = execute(&executor_with_timeout, &store, &job(&store, &plan, 0, 0), &Stop::default()).await;
    assert!(matches!(&outcome, Outcome::Failed { reason, retryable: true, .. } if reason.starts_with("timed out after 5m")), "{outcome:?}");

    let stop = Stop::default();
    let (graceful, kill) = (stop.graceful.clone(), stop.kill.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        graceful.cancel();
        tokio::time::sleep(Duration::from_secs(60)).await;
        kill.cancel();
    });
    let began = Instant::now();
    let stubborn = with_env(cpu(), 1, None, &[("FAKE_CHUNK_SECONDS", "10"), ("FAKE_IGNORE_TERM", "1")]);
    let (outcome, _) = execute(&stubborn, &store, &job(&store, &plan, 1, 0), &stop).await;
    assert_eq!(outcome, Outcome::Interrupted);
    assert!(began.elapsed() < Duration::from_secs(5), "a minute on tokio's clock took {:?} of real time", began.elapsed());
}

#[tokio::test]
async fn stopping_a_run_signals_its_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let (store, plan) = store(dir.path());
    let stop = Stop::default();
    let job = job(&store, &plan, 0, 0);
    let (trigger, run_dir) = (stop.graceful.clone(), job.run_dir.clone());
    tokio::spawn(async move {
        first_progress(&run_dir).await;
        trigger.cancel();
    });
    let spawner = with_env(cpu(), 1, None, &[("FAKE_SPAWN_CHILD", "1")]);
    let (outcome, placements) = execute(&spawner, &store, &job, &stop).await;
    assert_eq!(outcome, Outcome::Interrupted);
    let group = placements[0].pid.unwrap() as libc::pid_t;
    // The `sleep 1000` grandchild got the SIGTERM too; give it a moment to be reaped.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // SAFETY: signal 0 only checks whether the group has members.
        let alive = unsafe { libc::killpg(group, 0) } == 0;
        if !alive {
            break;
        }
        assert!(Instant::now() < deadline, "process group {group} still has members");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn gpu_runs_are_pinned_by_slot() {
    let dir = tempfile::tempdir().unwrap();
    let (store, plan) = store(dir.path());
    let device = LocalDevice::Cuda { gpus: vec!["3".into(), "5".into()], runs_per_gpu: 2 };
    let executor = executor(device, 4, None);
    for (index, slot) in [(0, 0), (1, 1), (2, 2), (3, 3)] {
        let job = job(&store, &plan, index, slot);
        let (outcome, placements) = execute(&executor, &store, &job, &Stop::default()).await;
        assert_eq!(outcome, Outcome::Done);
        let gpu = ["3", "5"][slot % 2];
        assert_eq!(placements[0].device, format!("cuda:0 (CUDA_VISIBLE_DEVICES={gpu})"));
        assert_eq!(read(job.run_dir.join("placement.log")).trim(), format!("device=cuda:0 threads= CUDA_VISIBLE_DEVICES={gpu}"));
    }
}

#[tokio::test]
async fn a_sweep_runs_to_the_end_through_real_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, plan) = store(dir.path());
    let summary = supervise::run(&plan, store.clone(), Arc::new(executor(cpu(), 2, None)), Options::default(), std::future::pending(), std::future::pending())
        .await
        .unwrap();
    assert_eq!((summary.done, summary.attempts_started), (4, 4));
    for run in &plan.runs {
        let status = store.status(&run.id).unwrap().unwrap();
        assert_eq!((status.state, status.attempts, status.exit_code, status.pid), (RunState::Done, 1, Some(0), None));
    }
}

#[tokio::test]
async fn a_trainer_orphaned_by_a_dead_manager_is_stopped_gracefully_and_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let plan = Plan::new(&SweepSpec::parse(SPEC, "local.toml").unwrap()).unwrap();
    let run = &plan.runs[0];
    let (run_dir, mut orphan) = {
        let store = RunStore::open_locked(dir.path()).unwrap();
        store.write_plan(&plan, SPEC).unwrap();
        let mut status = store.prepare(run).unwrap();
        // What a manager killed with SIGKILL leaves: a trainer still running in its own
        // process group, and a status that says so.
        let orphan = std::process::Command::new(fake_trainer())
            .arg("train")
            .arg(store.run_file(&run.id))
            .arg("--out")
            .arg(store.run_dir(&run.id))
            .env("FAKE_CHUNK_SECONDS", "0.3")
            .process_group(0)
            .spawn()
            .unwrap();
        status.state = RunState::Running;
        status.pid = Some(orphan.id());
        status.host = Some(saescale_sweep::store::hostname());
        store.write_status(&run.id, &status).unwrap();
        (store.run_dir(&run.id), orphan)
    };
    // Let it log some progress, then start a new manager.
    first_progress(&run_dir).await;
    let store = Arc::new(RunStore::open_locked(dir.path()).unwrap());
    let summary = supervise::run(&plan, store.clone(), Arc::new(executor(cpu(), 2, None)), Options::default(), std::future::pending(), std::future::pending())
        .await
        .unwrap();
    assert_eq!(orphan.wait().unwrap().code(), Some(75), "the orphan was stopped with SIGTERM and checkpointed");
    assert_eq!(summary.done, 4);
    let starts = read(run_dir.join("starts.log"));
    let lines: Vec<&str> = starts.lines().collect();
    assert_eq!(lines.len(), 2, "{starts}");
    assert_eq!(lines[0], "scratch");
    assert!(lines[1].starts_with("resume ") && lines[1] != "resume 0", "{starts}");
    let status = store.status(&run.id).unwrap().unwrap();
    assert_eq!((status.state, status.interruptions), (RunState::Done, 1));
}
