//! End-to-end tests of `saescale plan`, `run` and `sweep status|resume|cancel` with the built
//! binary in temporary directories (issue 5). Most use the fake trainer script of the sweep
//! crate (via the hidden `--trainer` flag) so that they take seconds; the last ones train real
//! SAEs with `saescale train`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/sweep.rs"]
mod sweep;
use sweep::{fake_trainer, output, text, Sweep};

/// A sweep of 2 budgets × 2 feature counts; the fake trainer ignores its numbers.
const SPEC: &str = r#"name = "cli"
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
lr = 1e-3
[run.eval]
rows = 2048
[run.log]
every_steps = 10
checkpoint_every_steps = 50
[sweep]
budgets = [2e9, 4e9]
features = [128, 256]
[executor]
slots = 2
max_attempts = 2
"#;

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn(mut command: Command) -> Child {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// How many attempts of a run started from scratch (the fake logs "scratch", the real
/// trainer prints "training N steps"; resumptions say "resume"/"resuming").
fn fresh_starts(run_dir: &Path) -> usize {
    match std::fs::read_to_string(run_dir.join("starts.log")) {
        Ok(log) => log.lines().filter(|l| *l == "scratch").count(),
        Err(_) => {
            let log = std::fs::read_to_string(run_dir.join("stdout.log")).unwrap_or_default();
            log.lines().filter(|l| l.contains(": training ") && l.ends_with(" steps")).count()
        }
    }
}

#[test]
fn plan_prints_the_run_table_and_json() {
    let sweep = Sweep::new(SPEC);
    let out = output(sweep.command(&["plan", "sweep.toml"], &[("XDG_CACHE_HOME", sweep.path().to_str().unwrap())]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains("id") && table.contains("est. memory"), "{table}");
    // S = ⌊2e9 / (12·64·128·256)⌋ = ⌊79.5⌋ = 79.
    assert!(table.contains(" 79 "), "{table}");
    assert!(table.contains("unmeasured"), "{table}");

    // With a measured throughput, times are estimated.
    let cache = sweep.path().join("saescale");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        cache.join("bench-cpu.json"),
        r#"{"device":"cpu","threads":1,"matmul_peak_gflops":40.0,"results":[{"d_in":64,"features":256,"batch_size":256,"tokens_per_s":1e5,"gflops":20.0}]}"#,
    )
    .unwrap();
    let out = output(sweep.command(&["plan", "sweep.toml", "--json", "--threads", "1"], &[("XDG_CACHE_HOME", sweep.path().to_str().unwrap())]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    assert_eq!(runs[0]["steps"], 79);
    assert_eq!(runs[0]["flops"], 12.0 * 64.0 * 128.0 * 79.0 * 256.0);
    // 1.99e9 FLOP at 20 GFLOP/s ≈ 0.1 s.
    let seconds = runs[0]["est_seconds"].as_f64().unwrap();
    assert!((seconds - runs[0]["flops"].as_f64().unwrap() / 20e9).abs() < 1e-9, "{seconds}");
    assert!(json["est_wall_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn malformed_specs_exit_2_with_file_line_and_column() {
    let sweep = Sweep::new(&SPEC.replace("features = [128, 256]", "features = [128, 0]"));
    let out = output(sweep.command(&["plan", "sweep.toml"], &[]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: sweep.toml:17:18: invalid value: integer `0`, expected a positive integer"), "{stderr}");

    let sweep = Sweep::new(&SPEC.replace("budgets = [2e9, 4e9]", "budgets = [1e3, 4e9]"));
    let out = output(sweep.run_fake(&[], &[]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("sweep.toml:16:12: budget 1e3 FLOP is too small for one step"), "{}", text(&out.stderr));
    assert!(!sweep.out().exists(), "a bad spec must not create the sweep directory");

    let out = output(sweep.command(&["run", "absent.toml"], &[]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("absent.toml"), "{}", text(&out.stderr));
}

#[test]
fn a_sweep_finishes_and_a_rerun_starts_nothing() {
    let sweep = Sweep::new(SPEC);
    let out = output(sweep.run_fake(&[], &[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("4 of 4 runs done (0 already), 0 failed, 0 pending; 4 attempts"), "{}", text(&out.stderr));
    for run in sweep.run_dirs("out") {
        assert_eq!(sweep.status(&run)["state"], "done");
        for file in ["run.toml", "status.json", "stdout.log", "metrics.jsonl", "final.json"] {
            assert!(run.join(file).is_file(), "{} lacks {file}", run.display());
        }
    }
    let csv = std::fs::read_to_string(sweep.out().join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    assert!(sweep.out().join("results.parquet").is_file());

    let out = output(sweep.run_fake(&[], &[]));
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("4 of 4 runs done (4 already), 0 failed, 0 pending; 0 attempts"), "{}", text(&out.stderr));
    for run in sweep.run_dirs("out") {
        assert_eq!(fresh_starts(&run), 1);
        assert_eq!(std::fs::read_to_string(run.join("starts.log")).unwrap().lines().count(), 1);
    }

    let out = output(sweep.command(&["sweep", "status", "out"], &[]));
    assert!(out.status.success());
    let status = text(&out.stdout);
    assert!(status.contains("no manager running") && status.contains("100% of FLOP; 4 done, 0 running, 0 pending, 0 failed of 4"), "{status}");
}

#[test]
fn an_always_failing_run_is_retried_then_failed_with_its_reason() {
    let sweep = Sweep::new(SPEC);
    let out = output(sweep.run_fake(&[], &[("FAKE_FAIL_FEATURES", "256")]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("2 of 4 runs done"), "{stderr}");
    let mut failed = 0;
    for run in sweep.run_dirs("out") {
        let status = sweep.status(&run);
        if status["state"] == "failed" {
            failed += 1;
            assert_eq!(status["attempts"], 2);
            assert_eq!(status["failures"].as_array().unwrap().len(), 2);
            assert_eq!(status["reason"], "exit 1: injected failure at F = 256 (after 2 attempts)");
            assert_eq!(status["exit_code"], 1);
        } else {
            assert_eq!(status["state"], "done");
        }
    }
    assert_eq!(failed, 2);
    let out = output(sweep.command(&["sweep", "status", "out"], &[]));
    assert!(text(&out.stdout).contains("injected failure"), "{}", text(&out.stdout));
    let csv = std::fs::read_to_string(sweep.out().join("results.csv")).unwrap();
    assert_eq!(csv.lines().filter(|l| l.contains(",failed,")).count(), 2, "{csv}");
}

#[test]
fn a_second_manager_gets_a_clear_error() {
    let sweep = Sweep::new(SPEC);
    let mut first = spawn(sweep.run_fake(&[], &[("FAKE_CHUNK_SECONDS", "0.5")]));
    wait_until("the first manager to start runs", Duration::from_secs(30), || {
        sweep.out().join("runs").is_dir() && sweep.run_dirs("out").iter().any(|r| r.join("starts.log").exists())
    });
    let second = output(sweep.run_fake(&[], &[]));
    assert_eq!(second.status.code(), Some(1));
    let stderr = text(&second.stderr);
    assert!(stderr.contains("another sweep manager is already driving out") && stderr.contains(&format!("pid {}", first.id())), "{stderr}");

    // `sweep status` sees the live manager; `sweep cancel` stops it gracefully.
    let status = output(sweep.command(&["sweep", "status", "out"], &[]));
    assert!(text(&status.stdout).contains(&format!("running (pid {}", first.id())), "{}", text(&status.stdout));
    let cancel = output(sweep.command(&["sweep", "cancel", "out"], &[]));
    assert!(cancel.status.success(), "{}", text(&cancel.stderr));
    let ended = first.wait().unwrap();
    assert_eq!(ended.code(), Some(75));
    let resumed = output(sweep.command(&["sweep", "resume", "out", "--trainer", fake_trainer().to_str().unwrap()], &[]));
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    for run in sweep.run_dirs("out") {
        assert_eq!(sweep.status(&run)["state"], "done");
        assert_eq!(fresh_starts(&run), 1, "{}", run.display());
    }
}

#[test]
fn sigkill_of_the_manager_then_a_rerun_finishes_every_run_without_starting_any_twice() {
    let sweep = Sweep::new(SPEC);
    // Slow trainers, so that the orphans the killed manager leaves are still running when
    // the next manager starts and stops them (SIGTERM: checkpoint, exit 75).
    let mut manager = spawn(sweep.run_fake(&[], &[("FAKE_CHUNK_SECONDS", "0.5")]));
    // Wait until two runs are part-way through.
    wait_until("two runs to make progress", Duration::from_secs(30), || {
        sweep.out().join("runs").is_dir()
            && sweep.run_dirs("out").iter().filter(|r| std::fs::read_to_string(r.join("metrics.jsonl")).is_ok_and(|m| m.lines().count() >= 2)).count() >= 2
    });
    manager.kill().unwrap(); // SIGKILL
    manager.wait().unwrap();
    let running = sweep.run_dirs("out").iter().filter(|r| sweep.status(r)["state"] == "running").count();
    assert_eq!(running, 2, "the killed manager left its runs marked running");

    let out = output(sweep.run_fake(&[], &[("FAKE_CHUNK_SECONDS", "0.02")]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    for run in sweep.run_dirs("out") {
        assert_eq!(sweep.status(&run)["state"], "done");
        assert_eq!(fresh_starts(&run), 1, "{} was started from scratch more than once", run.display());
    }
    let resumed = sweep.run_dirs("out").iter().filter(|r| std::fs::read_to_string(r.join("starts.log")).unwrap().contains("resume")).count();
    assert_eq!(resumed, 2);
}

#[test]
fn sigterm_stops_gracefully_with_exit_75_and_resume_finishes() {
    let sweep = Sweep::new(SPEC);
    let manager = spawn(sweep.run_fake(&[], &[("FAKE_CHUNK_SECONDS", "0.2")]));
    wait_until("runs to start", Duration::from_secs(30), || {
        sweep.out().join("runs").is_dir() && sweep.run_dirs("out").iter().filter(|r| r.join("metrics.jsonl").exists()).count() >= 2
    });
    // SAFETY: sends SIGTERM to the manager we spawned.
    unsafe { libc_kill(manager.id() as i32, 15) };
    let out = manager.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("saescale sweep resume out"), "{}", text(&out.stderr));
    for run in sweep.run_dirs("out") {
        assert_ne!(sweep.status(&run)["state"], "running");
    }
    let out = output(sweep.command(&["sweep", "resume", "out", "--trainer", fake_trainer().to_str().unwrap()], &[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    for run in sweep.run_dirs("out") {
        assert_eq!(fresh_starts(&run), 1);
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

/// The real trainer: a small sweep trains, the manager is SIGKILLed mid-sweep (its trainers
/// live on as orphans), and the rerun stops them gracefully, then finishes every run with none
/// trained from scratch twice.
#[test]
fn real_trainer_sweep_survives_sigkill_of_its_manager() {
    let spec = SPEC.replace("budgets = [2e9, 4e9]", "budgets = [1.5e11, 2e11]").replace("checkpoint_every_steps = 50", "checkpoint_every_steps = 100");
    let sweep = Sweep::new(&spec);
    let mut manager = spawn(sweep.command(&["run", "sweep.toml", "--dir", "out", "--threads", "1"], &[]));
    wait_until("two real runs to log progress", Duration::from_secs(120), || {
        sweep.out().join("runs").is_dir()
            && sweep.run_dirs("out").iter().filter(|r| std::fs::read_to_string(r.join("metrics.jsonl")).is_ok_and(|m| m.lines().count() >= 3)).count() >= 1
    });
    manager.kill().unwrap();
    manager.wait().unwrap();

    let out = output(sweep.command(&["run", "sweep.toml", "--dir", "out", "--threads", "1"], &[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut resumed = 0;
    for run in sweep.run_dirs("out") {
        assert_eq!(sweep.status(&run)["state"], "done");
        assert_eq!(fresh_starts(&run), 1, "{}", std::fs::read_to_string(run.join("stdout.log")).unwrap());
        resumed += usize::from(std::fs::read_to_string(run.join("stdout.log")).unwrap().contains("resuming at step"));
        assert!(run.join("checkpoint/sae").is_dir(), "{} has no SAELens export", run.display());
    }
    assert!(resumed >= 1);
    let csv = std::fs::read_to_string(sweep.out().join("results.csv")).unwrap();
    assert_eq!(csv.lines().filter(|l| l.contains(",done,")).count(), 4, "{csv}");
}

/// An adaptive IsoFLOP design (issue 14): budgets train smallest first, each centred on the fit
/// of the ones before it; the placement is a pure function of the finished runs, so a sweep
/// whose manager is killed with SIGKILL mid-way and run again plans exactly the same runs.
#[test]
fn an_adaptive_isoflop_sweep_plans_the_same_runs_after_kill_9_and_resume() {
    let spec = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sweeps/quickstart-isoflop.toml")).unwrap();
    let sweep = Sweep::new(&spec);
    let lawful = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/lawful-trainer.sh");
    let run = |dir: &str, env: &[(&str, &str)]| sweep.command(&["run", "sweep.toml", "--dir", dir, "--no-progress", "--trainer", lawful.to_str().unwrap()], env);
    let reference = output(run("reference", &[]));
    assert!(reference.status.success(), "{}", text(&reference.stderr));
    let placed = |dir: &str| -> Vec<(String, u64, String)> {
        let plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sweep.path().join(dir).join("plan.json")).unwrap()).unwrap();
        plan["runs"].as_array().unwrap().iter().map(|r| (r["id"].as_str().unwrap().into(), r["features"].as_u64().unwrap(), r["placed_by"].to_string())).collect()
    };
    let expected = placed("reference");
    assert_eq!(expected.len(), 16, "4 budgets × 4 feature counts");
    let stages: Vec<&str> = expected.iter().map(|r| r.2.as_str()).collect();
    assert!(stages[..4].iter().all(|s| s.contains("prior")) && stages[12..].iter().all(|s| s.contains("\"stage\":3")), "{stages:?}");
    // The stand-in follows 1 + 40/√F + 60/√S: F*(C) = (2/3)·√(C/κ). The last budget's four
    // feature counts bracket its optimum.
    let last: Vec<u64> = expected[12..].iter().map(|r| r.1).collect();
    let optimum = (2.0 / 3.0) * (8e11f64 / (12.0 * 64.0 * 256.0)).sqrt();
    assert!((last[0] as f64) < optimum && (last[3] as f64) > optimum, "{last:?} around {optimum}");
    let status = output(sweep.command(&["sweep", "status", "reference"], &[]));
    assert!(text(&status.stdout).contains("placed by") && text(&status.stdout).contains("fit of stages 0-2"), "{}", text(&status.stdout));

    // The same sweep, its manager killed with SIGKILL once the second stage is under way.
    let mut manager = spawn(run("killed", &[("LAWFUL_SLEEP", "0.4")]));
    wait_until("the second stage", Duration::from_secs(60), || {
        std::fs::read_to_string(sweep.path().join("killed/plan.json")).is_ok_and(|p| p.contains("\"stage\": 1"))
    });
    manager.kill().unwrap();
    manager.wait().unwrap();
    let resumed = output(run("killed", &[]));
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    assert_eq!(placed("killed"), expected, "the resumed sweep planned other runs");

    // The finished sweep's fit as the prior of the next design: its frontier centres the
    // budgets, and --target-compute draws laws from its bootstrap replicates, with the noise of
    // its residuals (the stand-in's 0.2% wobble, not the 1% default).
    let with_fit = spec.replace("exponent = 0.5\nanchor = { compute = 1e11, features = 256 }", "fit = \"reference/fit.json\"");
    assert_ne!(with_fit, spec);
    std::fs::write(sweep.path().join("from-fit.toml"), with_fit).unwrap();
    let out = output(sweep.command(&["plan", "from-fit.toml", "--target-compute", "8e12", "--draws", "2", "--json"], &[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["expected"]["laws"].as_str().unwrap().contains("bootstrap replicates of the prior's fit"), "{json:#}");
    let noise = json["expected"]["noise"].as_f64().unwrap();
    assert!(noise > 1e-4 && noise < 5e-3, "{noise}");
    let first: Vec<f64> = json["runs"].as_array().unwrap().iter().map(|r| r["features"].as_f64().unwrap()).collect();
    let centre = (first[0] * first[3]).sqrt();
    assert!((centre / ((2.0 / 3.0) * (1e11f64 / (12.0 * 64.0 * 256.0)).sqrt())).ln().abs() < 0.5, "{first:?}");
}

/// `plan --target-compute` (issue 14): what a design is expected to buy, before anything runs;
/// a spec it cannot simulate, or a prior that cannot be used, is an error with exit 2.
#[test]
fn plan_target_compute_reports_the_expected_intervals_and_refuses_bad_priors() {
    let spec = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sweeps/quickstart-isoflop.toml")).unwrap();
    let sweep = Sweep::new(&spec);
    let cache = [("XDG_CACHE_HOME", sweep.path().to_str().unwrap())];
    let out = output(sweep.command(&["plan", "sweep.toml", "--target-compute", "8e12", "--draws", "3", "--json"], &cache));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = &json["expected"];
    // Every stage counted, though only the first can be placed before anything has run.
    assert_eq!((expected["draws"].as_u64(), expected["runs"].as_u64()), (Some(3), Some(16)), "{expected:#}");
    assert_eq!(json["runs"].as_array().unwrap().len(), 4);
    let flops = expected["flops"].as_f64().unwrap();
    assert!((flops / 6e12 - 1.0).abs() < 0.01, "{flops}");
    let ratio: Vec<f64> = expected["features_ratio"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(ratio[0] > 0.0 && ratio[0] <= ratio[1], "{ratio:?}");
    assert!(expected["device_hours"].is_null(), "no bench file: no device-hours");
    let out = output(sweep.command(&["plan", "sweep.toml", "--target-compute", "8e12", "--draws", "2"], &cache));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains("the whole design: 16 runs") && table.contains("F*(C)  95% interval") && table.contains("device-hours unmeasured"), "{table}");
    // With a measured throughput (20 GFLOP/s), the whole design's 6e12 FLOP take 6e12 / 20e9 s.
    let bench = sweep.path().join("bench.json");
    std::fs::write(
        &bench,
        r#"{"device":"cpu","threads":1,"matmul_peak_gflops":40.0,"results":[{"d_in":64,"features":256,"batch_size":256,"tokens_per_s":1e5,"gflops":20.0}]}"#,
    )
    .unwrap();
    let args = ["plan", "sweep.toml", "--target-compute", "8e12", "--draws", "2", "--json", "--bench", bench.to_str().unwrap()];
    let out = output(sweep.command(&args, &cache));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hours = json["expected"]["device_hours"].as_f64().unwrap();
    assert!((hours / (6e12 / 20e9 / 3600.0) - 1.0).abs() < 0.01, "{hours}");

    let refused = |spec: &str, args: &[&str], message: &str| {
        let sweep = Sweep::new(spec);
        let mut all = vec!["plan", "sweep.toml"];
        all.extend_from_slice(args);
        let out = output(sweep.command(&all, &[]));
        assert_eq!(out.status.code(), Some(2), "{message}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
    };
    refused(SPEC, &["--target-compute", "8e12"], "has no [sweep.prior] to draw laws from");
    refused(&spec, &["--target-compute", "8e12", "--draws", "1"], "at least 2 simulated sweeps");
    refused(&spec, &["--target-compute=-1"], "expected a positive number of FLOP");
    refused(&spec.replace("exponent = 0.5", "exponent = -0.5"), &[], "sweep.toml:");
    let missing_fit = spec.replace("exponent = 0.5\nanchor = { compute = 1e11, features = 256 }", "fit = \"absent/fit.json\"");
    refused(&missing_fit, &[], "absent/fit.json");
}

/// A sweep with a k axis (issue 16) through `saescale run` end to end, on the lawful trainer
/// (loss = the joint law × (k/8)^-0.2): the joint law is fitted once per k and never across
/// them, L(n, k) across k on the longest-trained runs, and the report draws the frontier.
#[test]
fn a_k_axis_sweep_is_fitted_at_each_k_and_across_k() {
    let quickstart = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sweeps/quickstart.toml")).unwrap();
    let spec = quickstart
        .replace("architecture = \"relu\" #", "architecture = \"topk\" #")
        .replace("features = [128, 256, 512, 1024, 2048]", "features = [128, 256, 512, 1024, 2048]\nk = [8, 32]");
    let sweep = Sweep::new(&spec);
    let lawful = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/lawful-trainer.sh");
    let out = output(sweep.command(&["run", "sweep.toml", "--dir", "out", "--no-progress", "--trainer", lawful.to_str().unwrap()], &[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("at k = 8:") && stdout.contains("at k = 32:") && stdout.contains("L(n, k) ="), "{stdout}");
    assert!(!sweep.out().join("fit.json").exists(), "no joint fit across k");
    for k in [8, 32] {
        let fit: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sweep.out().join(format!("fit-k{k}.json"))).unwrap()).unwrap();
        assert_eq!(fit["n_points"], 20, "the 4 budgets × 5 F of k = {k}");
        // The lawful trainer's exponents are α = β = 0.5.
        let alpha = fit["params"]["alpha"].as_f64().unwrap();
        assert!((alpha - 0.5).abs() < 0.1, "k = {k}: α = {alpha}");
    }
    let law: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sweep.out().join("sparsity-fit.json")).unwrap()).unwrap();
    assert_eq!(law["n_points"], 10, "the longest-trained run of each of 5 F × 2 k");
    // The report of sweep "quickstart" goes to reports/quickstart/ beside the working directory.
    assert!(sweep.path().join("reports/quickstart/sparsity_frontier.svg").is_file(), "the report has no frontier figure");
}
