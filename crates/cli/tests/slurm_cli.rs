//! End-to-end tests of `saescale run --executor slurm`, `sweep status|resume|cancel` against a
//! real single-node Slurm cluster (issue 8). `scripts/test-slurm.sh` brings one up with
//! scripts/slurm-local.sh (2 fake GPUs, accounting), runs these tests with
//! SAESCALE_REQUIRE_SLURM=1 and tears it down; without a cluster each test says SKIPPED on
//! stderr and passes. The first test trains real SAEs; the others use the sweep crate's fake
//! trainer, whose `starts.log` tells a resumption from a start from scratch.

#[path = "../../sweep/tests/support/slurm.rs"]
mod support;
#[path = "support/sweep.rs"]
mod sweep;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{cluster_or_skip, field, scontrol_tasks, wait_until};
use sweep::{fake_trainer, output, text, Sweep};

/// A sweep for the fake trainer (which ignores F and steps): `sweep` is the [sweep] table's
/// body, `executor` lines go into [executor] (kind = "slurm" is set), `slurm` lines into
/// [executor.slurm] (poll_seconds = 1 is set).
fn spec(sweep: &str, executor: &str, slurm: &str) -> String {
    format!(
        "name = \"slurm-test\"\n[run.data]\nsource = \"synthetic\"\nd_in = 16\n[run.sae]\narchitecture = \"relu\"\n\
         [run.train]\nbatch_size = 64\n[sweep]\n{sweep}\n[executor]\nkind = \"slurm\"\n{executor}\n\
         [executor.slurm]\npoll_seconds = 1\n{slurm}\n"
    )
}

const FOUR_RUNS: &str = "grid = [{ features = 32, steps = 10 }, { features = 64, steps = 10 }, { features = 32, steps = 20 }, { features = 64, steps = 20 }]";

impl Sweep {
    /// `saescale sweep resume out --no-progress --trainer FAKE`.
    fn resume_fake(&self, env: &[(&str, &str)]) -> Command {
        let trainer = fake_trainer();
        self.command(&["sweep", "resume", "out", "--no-progress", "--trainer", trainer.to_str().unwrap()], env)
    }

    /// `run --detach`, then `sweep resume`, which adopts the queued or running jobs and
    /// watches them to their end (and, unlike `run`, does not fit laws to a handful of runs).
    fn detach_then_resume(&self, env: &[(&str, &str)]) -> Output {
        let out = output(self.run_fake(&["--detach"], env));
        assert!(out.status.success(), "{}", text(&out.stderr));
        output(self.resume_fake(env))
    }

    /// `saescale sweep status out --json`, which maps the Slurm queue onto the store first.
    fn status_json(&self) -> serde_json::Value {
        let out = output(self.command(&["sweep", "status", "out", "--json"], &[]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn ledger(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.out().join("slurm/jobs.json")).unwrap()).unwrap()
    }

    /// The Slurm task (`ARRAY_TASK`) that trains the run in `run_dir`, from the ledger.
    fn task_of(&self, run_dir: &Path) -> String {
        let id = run_dir.file_name().unwrap().to_str().unwrap();
        let ledger = self.ledger();
        for submission in ledger["submissions"].as_array().unwrap().iter().rev() {
            if let Some(i) = submission["tasks"].as_array().unwrap().iter().position(|t| t["run"] == id) {
                return format!("{}_{i}", submission["job_id"].as_str().unwrap());
            }
        }
        panic!("{id} is not in the ledger: {ledger:#}");
    }
}

/// Lines of the fake trainer's start log: `scratch` or `resume <chunk>`.
fn starts(run_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(run_dir.join("starts.log")).unwrap_or_default().lines().map(str::to_string).collect()
}

fn metrics_lines(run_dir: &Path) -> usize {
    std::fs::read_to_string(run_dir.join("metrics.jsonl")).map_or(0, |m| m.lines().count())
}

/// Seconds since the epoch of a scontrol time such as `2026-11-23T11:33:27` (UTC on the test
/// machine; only differences matter).
fn seconds(time: &str) -> i64 {
    let n: Vec<i64> = time.split(['-', 'T', ':']).map(|p| p.parse().unwrap()).collect();
    ((n[0] * 372 + n[1] * 31 + n[2]) * 24 + n[3]) * 3600 + n[4] * 60 + n[5]
}

/// The quickstart sweep (sweeps/quickstart.toml, shrunk to 3 budgets × 3 feature counts of a
/// few dozen steps) trains through Slurm to the same numbers as with the local executor.
#[test]
fn quickstart_through_slurm_matches_the_local_executor() {
    if !cluster_or_skip("quickstart_through_slurm_matches_the_local_executor") {
        return;
    }
    let quickstart = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sweeps/quickstart.toml")).unwrap();
    let mut spec = String::new();
    for line in quickstart.lines() {
        let line = match line.split_whitespace().next() {
            Some("budgets") => "budgets = [1e9, 2e9, 4e9]",
            Some("features") => "features = [64, 128, 256]",
            Some("rows") => "rows = 2048",
            Some("every_steps") => "every_steps = 20",
            Some("checkpoint_every_steps") => "checkpoint_every_steps = 100",
            _ => line,
        };
        spec.push_str(line);
        spec.push('\n');
    }
    spec.push_str("[executor.slurm]\npoll_seconds = 1\n");
    let sweep = Sweep::new(&spec);

    // `run` fits laws after the sweep; that stage is the fit crate's business, so the exit
    // status is not asserted here, only that the sweep itself completed.
    let local = output(sweep.command(&["run", "sweep.toml", "--dir", "local", "--no-progress"], &[]));
    assert!(text(&local.stderr).contains("9 of 9 runs done (0 already), 0 failed, 0 pending; 9 attempts"), "{}", text(&local.stderr));
    let started = Instant::now();
    let slurm = output(sweep.command(&["run", "sweep.toml", "--dir", "out", "--no-progress", "--executor", "slurm"], &[]));
    let stderr = text(&slurm.stderr);
    eprintln!("9 real runs through Slurm took {:.1} s", started.elapsed().as_secs_f64());
    assert!(stderr.contains("submitted 9 run(s) as Slurm job array"), "{stderr}");
    assert!(stderr.contains("9 of 9 runs done (0 already), 0 failed, 0 pending; 9 attempts"), "{stderr}");
    assert!(stderr.contains("results: out/results.parquet and out/results.csv"), "{stderr}");

    let local_runs = sweep.run_dirs("local");
    assert_eq!(local_runs.len(), 9);
    for local_run in local_runs {
        let slurm_run = sweep.out().join("runs").join(local_run.file_name().unwrap());
        assert_eq!(sweep.status(&slurm_run)["state"], "done");
        let log = std::fs::read_to_string(slurm_run.join("stdout.log")).unwrap();
        assert!(log.contains("as Slurm job ") && log.contains("trainer exited with 0"), "{log}");
        let read = |dir: &Path| -> serde_json::Map<String, serde_json::Value> {
            let mut json: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&std::fs::read_to_string(dir.join("final.json")).unwrap()).unwrap();
            json.retain(|key, _| !key.contains("wall") && !key.ends_with("per_s"));
            // Peak memory is a measurement of the trainer process, like its wall time.
            if let Some(provenance) = json.get_mut("provenance").and_then(serde_json::Value::as_object_mut) {
                provenance.remove("peak_rss_bytes");
            }
            json
        };
        let expected = read(&local_run);
        assert!(expected["loss"].as_f64().unwrap() > 0.0);
        assert_eq!(read(&slurm_run), expected, "{} differs between executors", slurm_run.display());
    }
    // The tables without the columns that measure the processes (wall time, throughput, memory).
    let measured = ["wall_s", "tokens_per_s", "peak_rss_bytes", "peak_device_bytes"];
    let table = |dir: &str| -> Vec<String> {
        let csv = std::fs::read_to_string(sweep.path().join(dir).join("results.csv")).unwrap();
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let keep: Vec<usize> = (0..header.len()).filter(|&i| !measured.contains(&header[i])).collect();
        let mut rows: Vec<String> = csv
            .lines()
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                keep.iter().map(|&i| cells.get(i).copied().unwrap_or("")).collect::<Vec<_>>().join(",")
            })
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(table("out"), table("local"), "results.csv (without its measurements) differs");
}

/// A run that always exits 1 is resubmitted up to max_attempts, then failed with Slurm's
/// state, job and the trainer's error.
#[test]
fn a_failing_run_is_retried_then_failed_with_slurms_reason() {
    if !cluster_or_skip("a_failing_run_is_retried_then_failed_with_slurms_reason") {
        return;
    }
    let sweep = Sweep::new(&spec(FOUR_RUNS, "slots = 2\nmax_attempts = 2", ""));
    let out = output(sweep.run_fake(&[], &[("FAKE_FAIL_FEATURES", "64")]));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2 of 4 runs done (0 already), 2 failed, 0 pending; 6 attempts"), "{stderr}");
    let mut failed = 0;
    for run in sweep.run_dirs("out") {
        let status = sweep.status(&run);
        if status["state"] == "done" {
            assert_eq!(status["attempts"], 1);
            continue;
        }
        failed += 1;
        assert_eq!(status["state"], "failed", "{status:#}");
        assert_eq!(status["attempts"], 2);
        let failures = status["failures"].as_array().unwrap();
        assert_eq!(failures.len(), 2);
        let jobs: Vec<&str> = failures.iter().map(|f| f["reason"].as_str().unwrap()).collect();
        assert!(jobs[0] != jobs[1], "each attempt was its own Slurm job: {jobs:?}");
        for reason in &jobs {
            assert!(reason.starts_with("FAILED (Slurm job ") && reason.ends_with("exit 1: injected failure at F = 64"), "{reason}");
        }
        let reason = status["reason"].as_str().unwrap();
        assert!(reason.starts_with("FAILED (Slurm job") && reason.ends_with("injected failure at F = 64 (after 2 attempts)"), "{reason}");
        assert_eq!(status["exit_code"], 1);
    }
    assert_eq!(failed, 2);
    // One array for the sweep, then retries in later arrays.
    let submissions = sweep.ledger()["submissions"].as_array().unwrap().len();
    assert!((2..=3).contains(&submissions), "{submissions} submissions");
    let status = output(sweep.command(&["sweep", "status", "out"], &[]));
    assert!(text(&status.stdout).contains("injected failure"), "{}", text(&status.stdout));
}

/// A job killed by its time limit (TIMEOUT; no warning signal) used an attempt, and its run
/// resumed from the checkpoint in the resubmitted job and finished.
#[test]
fn a_time_limit_kill_resumes_from_its_checkpoint_on_resubmission() {
    if !cluster_or_skip("a_time_limit_kill_resumes_from_its_checkpoint_on_resubmission") {
        return;
    }
    // 10 chunks of 9 s outlast the 1-minute limit, which Slurm enforces 60 to 90 s after start.
    let sweep = Sweep::new(&spec("grid = [{ features = 32, steps = 100 }]", "timeout_minutes = 1\nmax_attempts = 3", "signal_seconds = 0"));
    let started = Instant::now();
    let out = sweep.detach_then_resume(&[("FAKE_CHUNK_SECONDS", "9")]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    eprintln!("time-limit test took {:.0} s", started.elapsed().as_secs_f64());
    let run = &sweep.run_dirs("out")[0];
    let status = sweep.status(run);
    assert_eq!(status["state"], "done");
    assert_eq!(status["attempts"], 2, "{status:#}");
    let reason = status["failures"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("TIMEOUT (Slurm job ") && reason.ends_with("killed at its time limit"), "{reason}");
    let starts = starts(run);
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert_eq!(starts[0], "scratch");
    let chunk: u32 = starts[1].strip_prefix("resume ").expect("the second job resumed").parse().unwrap();
    assert!(chunk >= 5, "resumed from chunk {chunk}: the first job's progress was kept");
    let job = status["failures"][0]["reason"].as_str().unwrap().split(['(', ')']).nth(1).unwrap().trim_start_matches("Slurm job ").to_string();
    let slurm_log = std::fs::read_to_string(sweep.out().join("slurm/logs").join(format!("{job}.out"))).unwrap();
    assert!(slurm_log.contains("DUE TO TIME LIMIT"), "{slurm_log}");
}

/// With `signal_seconds`, Slurm warns the trainer before the time limit; it checkpoints and
/// exits 75, and the run is resubmitted without using an attempt.
#[test]
fn the_warning_before_the_time_limit_interrupts_without_using_an_attempt() {
    if !cluster_or_skip("the_warning_before_the_time_limit_interrupts_without_using_an_attempt") {
        return;
    }
    // A 1-minute limit with a 50-s warning: slurmctld sends USR1 at its first time-limit check
    // after the start (one every 30 s), so a run of 10 chunks of 4 s is warned at least once,
    // and every attempt long before its limit.
    let sweep = Sweep::new(&spec("grid = [{ features = 32, steps = 100 }]", "timeout_minutes = 1\nmax_attempts = 1", "signal_seconds = 50"));
    let out = sweep.detach_then_resume(&[("FAKE_CHUNK_SECONDS", "4")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run = &sweep.run_dirs("out")[0];
    let status = sweep.status(run);
    assert_eq!((status["state"].as_str(), status["attempts"].as_u64()), (Some("done"), Some(1)), "{status:#}");
    assert!(status["failures"].as_array().is_none_or(|f| f.is_empty()), "{status:#}");
    assert!(status["interruptions"].as_u64().unwrap() >= 1, "{status:#}");
    let starts = starts(run);
    assert_eq!(starts[0], "scratch");
    assert!(starts.len() >= 2 && starts[1..].iter().all(|s| s.starts_with("resume ")), "{starts:?}");
    let log = std::fs::read_to_string(run.join("stdout.log")).unwrap();
    assert!(log.contains("trainer exited with 75"), "{log}");
}

/// A running task that Slurm requeues (as on preemption, or a node failure with --requeue)
/// resumes from its checkpoint in the same job: no new submission, no attempt used.
#[test]
fn a_requeued_task_resumes_from_its_checkpoint() {
    if !cluster_or_skip("a_requeued_task_resumes_from_its_checkpoint") {
        return;
    }
    let sweep = Sweep::new(&spec("grid = [{ features = 32, steps = 100 }]", "max_attempts = 1", ""));
    let env = [("FAKE_CHUNK_SECONDS", "0.5")];
    let out = output(sweep.run_fake(&["--detach"], &env));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manager = sweep.resume_fake(&env).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let run = sweep.run_dirs("out").remove(0);
    wait_until("the run to be part-way through", Duration::from_secs(60), || metrics_lines(&run) >= 3);
    let task = sweep.task_of(&run);
    let requeue = output({
        let mut c = Command::new("scontrol");
        c.args(["requeue", &task]);
        c
    });
    assert!(requeue.status.success(), "{}", text(&requeue.stderr));
    let out = manager.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = sweep.status(&run);
    assert_eq!((status["state"].as_str(), status["attempts"].as_u64()), (Some("done"), Some(1)), "{status:#}");
    assert!(status["interruptions"].as_u64().unwrap() >= 1, "{status:#}");
    let starts = starts(&run);
    assert!(starts.len() == 2 && starts[0] == "scratch" && starts[1].starts_with("resume "), "{starts:?}");
    assert_eq!(sweep.ledger()["submissions"].as_array().unwrap().len(), 1);
    let log = std::fs::read_to_string(run.join("stdout.log")).unwrap();
    assert!(log.contains(&format!("as Slurm job {task} (restart 1)")), "{log}");
}

/// `run --detach` submits and exits; a task scancelled mid-run is recorded (by `sweep status`)
/// as interrupted; `sweep resume` then finishes every run, none started from scratch twice.
#[test]
fn scancel_of_one_task_then_resume_finishes_with_no_run_started_from_scratch() {
    if !cluster_or_skip("scancel_of_one_task_then_resume_finishes_with_no_run_started_from_scratch") {
        return;
    }
    let sweep = Sweep::new(&spec(FOUR_RUNS, "slots = 4", ""));
    let env = [("FAKE_CHUNK_SECONDS", "0.5")];
    let started = Instant::now();
    let out = output(sweep.run_fake(&["--detach"], &env));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10) && stderr.contains("detached: Slurm job(s) "), "{stderr}");
    assert!(!sweep.out().join("fit.json").exists(), "a detached sweep is not fitted");

    let runs = sweep.run_dirs("out");
    let mut victim = None;
    wait_until("a run to be part-way through", Duration::from_secs(60), || {
        victim = runs.iter().find(|r| metrics_lines(r) >= 2).cloned();
        victim.is_some()
    });
    let victim = victim.unwrap();
    let task = sweep.task_of(&victim);
    let status = sweep.status_json();
    let states: Vec<&str> = status["runs"].as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert!(states.contains(&"running"), "{status:#}");
    assert!(status["manager"].is_null());
    assert!(Command::new("scancel").arg(&task).status().unwrap().success());

    wait_until("the other runs to finish and the cancel to be seen", Duration::from_secs(60), || {
        let status = sweep.status_json();
        status["done"] == 3 && status["pending"] == 1
    });
    let cancelled = sweep.status(&victim);
    assert_eq!(cancelled["state"], "pending");
    assert!(cancelled["reason"].as_str().unwrap().starts_with(&format!("cancelled in Slurm (job {task})")), "{cancelled:#}");
    assert_eq!(cancelled["attempts"], 0);

    let out = output(sweep.resume_fake(&env));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("4 of 4 runs done (3 already), 0 failed, 0 pending; 1 attempts"), "{stderr}");
    for run in sweep.run_dirs("out") {
        assert_eq!(sweep.status(&run)["state"], "done");
        let starts = starts(&run);
        assert_eq!(starts.iter().filter(|s| *s == "scratch").count(), 1, "{}: {starts:?}", run.display());
    }
    assert!(starts(&victim).last().unwrap().starts_with("resume "), "{:?}", starts(&victim));
    assert!(sweep.out().join("results.csv").is_file());
}

/// `sweep cancel` scancels the sweep's queued and running tasks and nothing else; the
/// sweep then resumes to the end from the checkpoints.
#[test]
fn sweep_cancel_scancels_only_this_sweeps_jobs() {
    if !cluster_or_skip("sweep_cancel_scancels_only_this_sweeps_jobs") {
        return;
    }
    let bystander = support::sbatch(&["--job-name=bystander", "--output=/dev/null", "--wrap", "sleep 120"]);
    let sweep = Sweep::new(&spec(FOUR_RUNS, "slots = 2", ""));
    let env = [("FAKE_CHUNK_SECONDS", "0.5")];
    let out = output(sweep.run_fake(&["--detach"], &env));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs = sweep.run_dirs("out");
    wait_until("two runs to be part-way through", Duration::from_secs(60), || runs.iter().filter(|r| metrics_lines(r) >= 2).count() >= 2);

    let out = output(sweep.command(&["sweep", "cancel", "out"], &[]));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let job = sweep.ledger()["submissions"][0]["job_id"].as_str().unwrap().to_string();
    assert!(stderr.contains(&format!("cancelled Slurm job(s) {job} of out")), "{stderr}");
    for run in &runs {
        let status = sweep.status(run);
        assert_ne!(status["state"], "running", "{status:#}");
        if status["state"] == "pending" {
            assert!(status["reason"].as_str().unwrap().starts_with("cancelled in Slurm"), "{status:#}");
        }
    }
    for task in scontrol_tasks(&job) {
        assert_eq!(field(&task, "JobState"), "CANCELLED", "{task:?}");
    }
    let bystander_state = field(&scontrol_tasks(&bystander)[0], "JobState").to_string();
    assert!(bystander_state == "RUNNING" || bystander_state == "PENDING", "the other job was touched: {bystander_state}");
    Command::new("scancel").arg(&bystander).status().unwrap();
    let out = output(sweep.command(&["sweep", "cancel", "out"], &[]));
    assert!(text(&out.stderr).contains("nothing to cancel"), "{}", text(&out.stderr));

    let out = output(sweep.resume_fake(&env));
    assert!(out.status.success(), "{}", text(&out.stderr));
    for run in &runs {
        assert_eq!(sweep.status(run)["state"], "done");
        assert_eq!(starts(run).iter().filter(|s| *s == "scratch").count(), 1, "{}: {:?}", run.display(), starts(run));
    }
}

/// Two runs with one fake GPU each run at the same time with different CUDA_VISIBLE_DEVICES.
#[test]
fn concurrent_tasks_see_different_gpus() {
    if !cluster_or_skip("concurrent_tasks_see_different_gpus") {
        return;
    }
    let sweep = Sweep::new(&spec("grid = [{ features = 32, steps = 10 }, { features = 64, steps = 10 }]", "", "gpus_per_run = 1"));
    let out = sweep.detach_then_resume(&[("FAKE_CHUNK_SECONDS", "0.4")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut seen = Vec::new();
    for run in sweep.run_dirs("out") {
        let placement = std::fs::read_to_string(run.join("placement.log")).unwrap();
        assert!(placement.starts_with("device=cuda "), "{placement}");
        seen.push(placement.trim().rsplit_once("CUDA_VISIBLE_DEVICES=").unwrap().1.to_string());
        let device = sweep.status(&run)["device"].as_str().unwrap().to_string();
        assert!(device.contains("(gpu:1(IDX:"), "{device}");
    }
    seen.sort();
    assert_eq!(seen, ["0", "1"]);
    let job = sweep.ledger()["submissions"][0]["job_id"].as_str().unwrap().to_string();
    let tasks = scontrol_tasks(&job);
    assert_eq!(tasks.len(), 2);
    let span = |t: &[(String, String)]| (seconds(field(t, "StartTime")), seconds(field(t, "EndTime")));
    let (a, b) = (span(&tasks[0]), span(&tasks[1]));
    assert!(a.0 < b.1 && b.0 < a.1, "the tasks did not overlap: {a:?} {b:?}");
}

/// A night of a nightly sweep goes through Slurm like any sweep (issue 15): `run --night
/// --detach` submits into `<dir>/nights/DATE/`, `sweep resume` of that night watches it to its
/// end, and the next night's runs start from scratch.
#[test]
fn a_night_runs_through_slurm_detached_and_the_next_night_starts_fresh() {
    if !cluster_or_skip("a_night_runs_through_slurm_detached_and_the_next_night_starts_fresh") {
        return;
    }
    let sweep = Sweep::new(&spec(FOUR_RUNS, "", ""));
    let trainer = fake_trainer();
    for date in ["2026-11-30", "2026-12-01"] {
        let submitted = output(sweep.run_fake(&["--night", date, "--detach"], &[]));
        assert!(submitted.status.success(), "{}", text(&submitted.stderr));
        let night = format!("out/nights/{date}");
        let resumed = output(sweep.command(&["sweep", "resume", &night, "--no-progress", "--trainer", trainer.to_str().unwrap()], &[]));
        assert!(resumed.status.success(), "{}", text(&resumed.stderr));
        for run in sweep.run_dirs(&night) {
            assert_eq!(sweep.status(&run)["state"], "done");
            assert_eq!(starts(&run), ["scratch"], "{}", run.display());
        }
    }
    let compared = output(sweep.command(&["compare", "out/nights/2026-11-30", "out/nights/2026-12-01"], &[]));
    assert_eq!(compared.status.code(), Some(0), "{}", text(&compared.stdout));
}

/// An adaptive IsoFLOP design through Slurm (issue 14): `run --detach` submits the first
/// budget only (the later ones are placed on its results), `sweep resume` drives every next
/// stage to the end, and the runs placed are exactly those of the local executor.
#[test]
fn an_adaptive_isoflop_sweep_through_slurm_places_the_runs_of_the_local_executor() {
    if !cluster_or_skip("an_adaptive_isoflop_sweep_through_slurm_places_the_runs_of_the_local_executor") {
        return;
    }
    let mut spec = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sweeps/quickstart-isoflop.toml")).unwrap();
    spec.push_str("[executor.slurm]\npoll_seconds = 1\n");
    let sweep = Sweep::new(&spec);
    let lawful = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/lawful-trainer.sh");
    let lawful = lawful.to_str().unwrap();
    let placed = |dir: &str| -> Vec<(String, u64, String)> {
        let plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sweep.path().join(dir).join("plan.json")).unwrap()).unwrap();
        plan["runs"].as_array().unwrap().iter().map(|r| (r["id"].as_str().unwrap().into(), r["features"].as_u64().unwrap(), r["placed_by"].to_string())).collect()
    };
    let local = output(sweep.command(&["run", "sweep.toml", "--dir", "local", "--no-progress", "--trainer", lawful], &[]));
    assert!(local.status.success(), "{}", text(&local.stderr));
    let expected = placed("local");
    assert_eq!(expected.len(), 16);

    let submitted = output(sweep.command(&["run", "sweep.toml", "--dir", "out", "--no-progress", "--executor", "slurm", "--detach", "--trainer", lawful], &[]));
    assert!(submitted.status.success(), "{}", text(&submitted.stderr));
    assert_eq!(placed("out"), expected[..4], "a detached first submission places the first budget only");
    let resumed = output(sweep.command(&["sweep", "resume", "out", "--no-progress", "--executor", "slurm", "--trainer", lawful], &[]));
    let stderr = text(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert_eq!(stderr.matches("next stage: budget").count(), 3, "{stderr}");
    assert_eq!(placed("out"), expected, "Slurm placed other runs than the local executor");
    for run in sweep.run_dirs("out") {
        assert_eq!(sweep.status(&run)["state"], "done", "{}", run.display());
    }
    let status = output(sweep.command(&["sweep", "status", "out"], &[]));
    assert!(text(&status.stdout).contains("fit of stages 0-2"), "{}", text(&status.stdout));
}
