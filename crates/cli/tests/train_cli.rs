//! End-to-end tests of `saescale train` with the built binary (issue 3): the files a run
//! writes, the errors a bad run file gives, and exact resumption after SIGKILL and SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use saescale_spec::{Architecture, RunSpec};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_saescale");

/// A ReLU run of `steps` steps, big enough (a few ms a step) to be killed mid-way.
fn relu_run(steps: u64) -> String {
    format!(
        r#"seed = 3
[data]
source = "synthetic"
d_in = 64
n_features = 512
seed = 11
[sae]
architecture = "relu"
features = 256
[train]
steps = {steps}
batch_size = 256
lr = 1e-3
[eval]
rows = 2048
[log]
every_steps = 10
checkpoint_every_steps = 50
"#
    )
}

fn topk_run(steps: u64) -> String {
    relu_run(steps).replace(r#"architecture = "relu""#, "architecture = \"topk\"\nk = 8")
}

fn write_run(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn train(run_file: &Path, out: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.args(["train", "--quiet", "--threads", "1", "--out"]).arg(out).arg(run_file);
    command
}

fn output(mut command: Command) -> Output {
    command.output().expect("cannot start saescale")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn metrics_lines(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn weights(out: &Path) -> Vec<u8> {
    std::fs::read(out.join("checkpoint/sae/sae_weights.safetensors")).unwrap()
}

/// Trains `text` without interruption in `dir/name` and returns the output directory.
fn uninterrupted(dir: &Path, name: &str, text: &str) -> PathBuf {
    let run_file = write_run(dir, &format!("{name}.toml"), text);
    let out = dir.join(name);
    let result = output(train(&run_file, &out));
    assert!(result.status.success(), "{}", stderr(&result));
    out
}

/// Metrics that must agree between two runs of the same config (timings excluded).
fn comparable(metrics: &Value) -> Value {
    let mut metrics = metrics.clone();
    for key in ["tokens_per_s", "wall_s", "elapsed_s"] {
        metrics.as_object_mut().unwrap().remove(key);
    }
    // Peak memory is a measurement of the process, like the wall time, not of the run.
    if let Some(provenance) = metrics.get_mut("provenance").and_then(Value::as_object_mut) {
        provenance.remove("peak_rss_bytes");
    }
    metrics
}

/// A step to interrupt at, different on every test run; printed so a failure can be replayed
/// with SAESCALE_TEST_STEP.
fn random_step(low: u64, high: u64) -> u64 {
    let step = match std::env::var("SAESCALE_TEST_STEP") {
        Ok(step) => step.parse().unwrap(),
        Err(_) => {
            let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
            low + nanos % (high - low)
        }
    };
    eprintln!("interrupting at step ≥ {step} (replay with SAESCALE_TEST_STEP={step})");
    step
}

/// Starts a training and sends `signal` once its log shows `step`; returns its exit status.
fn interrupt_at(run_file: &Path, out: &Path, step: u64, signal: i32) -> std::process::ExitStatus {
    let mut child = train(run_file, out).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let reached = metrics_lines(out).last().and_then(|m| m["step"].as_u64()).unwrap_or(0) >= step;
        if reached {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before step {step}");
        }
        assert!(Instant::now() < deadline, "step {step} not reached in time");
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { kill(child.id() as i32, signal) }, 0);
    child.wait().unwrap()
}

extern "C" {
    fn kill(pid: i32, signal: i32) -> i32;
}
const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

#[test]
fn a_run_writes_config_metrics_final_and_a_saelens_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = uninterrupted(dir.path(), "relu", &relu_run(100));

    let config = read_json(&out.join("config.json"));
    assert_eq!(config["sae"]["features"], 256);
    // Resolved: the recipe's defaults are written out.
    assert_eq!(config["sae"]["l1_coefficient"], 5.0);
    assert_eq!(config["train"]["lr_decay_fraction"], 0.2);

    let lines = metrics_lines(&out);
    assert_eq!(lines.iter().map(|m| m["step"].as_u64().unwrap()).collect::<Vec<_>>(), (1..=10).map(|i| 10 * i).collect::<Vec<_>>());
    for key in ["step", "tokens", "loss", "mse", "fvu", "l1", "l0", "dead_fraction", "lr", "l1_coefficient", "tokens_per_s"] {
        assert!(lines[0][key].is_number(), "metrics.jsonl lacks {key}: {}", lines[0]);
    }
    assert_eq!(lines[9]["tokens"], 100 * 256);
    // The lr is flat for 80% of the steps, then decays linearly to zero: the 100th and last
    // step uses 1/20 of it.
    let lr = |i: usize| lines[i]["lr"].as_f64().unwrap();
    assert_eq!(lr(7), 1e-3);
    assert!((lr(9) - 1e-3 / 20.0).abs() < 1e-12, "{}", lines[9]);
    assert!(lines[9]["loss"].as_f64().unwrap() < lines[0]["loss"].as_f64().unwrap());

    let final_metrics = read_json(&out.join("final.json"));
    for key in ["loss", "mse", "fvu", "l0", "dead_fraction"] {
        assert!(final_metrics[key].is_number(), "final.json lacks {key}: {final_metrics}");
    }
    assert_eq!(final_metrics["flops"].as_f64().unwrap(), 12.0 * 64.0 * 256.0 * 100.0 * 256.0);

    let cfg = read_json(&out.join("checkpoint/sae/cfg.json"));
    assert_eq!(cfg["architecture"], "standard");
    assert_eq!((cfg["d_in"].as_u64(), cfg["d_sae"].as_u64()), (Some(64), Some(256)));
    assert!(out.join("checkpoint/sae/sae_weights.safetensors").is_file());
    assert!(out.join("checkpoint/trainer_state.safetensors").is_file());

    // Training a finished run again does nothing and changes nothing.
    let before = weights(&out);
    let again = output(train(&out.parent().unwrap().join("relu.toml"), &out));
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(weights(&out), before);
}

fn batchtopk_run(steps: u64) -> String {
    relu_run(steps).replace(r#"architecture = "relu""#, "architecture = \"batchtopk\"\nk = 8")
}

#[test]
fn sigkill_at_a_random_step_then_resume_ends_bit_identical() {
    assert_sigkill_then_resume_is_exact(tempfile::tempdir().unwrap().path(), &relu_run(600));
}

#[test]
fn a_batchtopk_run_resumes_exactly_after_sigkill_and_exports_as_jumprelu() {
    // Its threshold is trainer state: a resume that lost it would export another one.
    let dir = tempfile::tempdir().unwrap();
    let out = assert_sigkill_then_resume_is_exact(dir.path(), &batchtopk_run(400));
    let cfg = read_json(&out.join("checkpoint/sae/cfg.json"));
    assert_eq!((cfg["architecture"].as_str(), cfg.get("k")), (Some("jumprelu"), None));
    let final_metrics = read_json(&out.join("final.json"));
    let l0 = final_metrics["l0"].as_f64().unwrap();
    assert!(l0 > 2.0 && l0 < 16.0, "held-out L0 {l0} by the learned threshold, k = 8");
}

#[test]
fn a_jumprelu_run_resumes_exactly_after_sigkill_and_exports_its_thresholds() {
    // Its thresholds and their Adam moments are trainer state, a fifth parameter beside the four.
    let dir = tempfile::tempdir().unwrap();
    let text = relu_run(400).replace(r#"architecture = "relu""#, "architecture = \"jumprelu\"");
    let out = assert_sigkill_then_resume_is_exact(dir.path(), &text);
    let cfg = read_json(&out.join("checkpoint/sae/cfg.json"));
    assert_eq!((cfg["architecture"].as_str(), cfg["apply_b_dec_to_input"].as_bool()), (Some("jumprelu"), Some(false)));
    let final_metrics = read_json(&out.join("final.json"));
    assert_eq!(final_metrics["l0_coefficient"].as_f64(), Some(1e-3));
    let line = metrics_lines(&out).pop().unwrap();
    assert_eq!((line["l0_coefficient"].as_f64(), line.get("auxk")), (Some(1e-3), None));
}

/// Kills a training of `text` in `dir` with SIGKILL at a random step, resumes it, and checks
/// that it ends exactly as an uninterrupted run (weights, final.json, the log); returns its
/// output directory.
fn assert_sigkill_then_resume_is_exact(dir: &Path, text: &str) -> PathBuf {
    let steps = RunSpec::from_toml_str(text).unwrap().steps();
    let reference = uninterrupted(dir, "reference", text);

    let run_file = write_run(dir, "killed.toml", text);
    let out = dir.join("killed");
    let status = interrupt_at(&run_file, &out, random_step(20, steps - 20), SIGKILL);
    assert!(!status.success());
    assert!(!out.join("final.json").exists(), "the run finished before it was killed");

    let resumed = output(train(&run_file, &out));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(weights(&out) == weights(&reference), "resumed weights differ from the uninterrupted run's");
    assert_eq!(comparable(&read_json(&out.join("final.json"))), comparable(&read_json(&reference.join("final.json"))));
    // The log is continuous: every step once, as in the uninterrupted run.
    let steps_logged = |out: &Path| metrics_lines(out).iter().map(|m| m["step"].as_u64().unwrap()).collect::<Vec<_>>();
    assert_eq!(steps_logged(&out), steps_logged(&reference));
    out
}

#[test]
fn sigterm_checkpoints_and_exits_75_and_a_topk_run_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let steps = 400;
    let reference = uninterrupted(dir.path(), "reference", &topk_run(steps));

    let run_file = write_run(dir.path(), "stopped.toml", &topk_run(steps));
    let out = dir.path().join("stopped");
    let status = interrupt_at(&run_file, &out, random_step(20, steps - 20), SIGTERM);
    assert_eq!(status.code(), Some(75), "SIGTERM must checkpoint and exit 75");
    assert!(out.join("checkpoint/trainer_state.safetensors").is_file());

    let resumed = output(train(&run_file, &out));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(weights(&out) == weights(&reference), "resumed weights differ from the uninterrupted run's");
    let cfg = read_json(&out.join("checkpoint/sae/cfg.json"));
    assert_eq!((cfg["architecture"].as_str(), cfg["k"].as_u64()), (Some("topk"), Some(8)));
}

#[test]
fn bad_run_files_exit_2_and_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, String, &str)] = &[
        ("unknown key", relu_run(10).replace("lr = 1e-3", "learning_rate = 1e-3"), "learning_rate"),
        ("wrong type", relu_run(10).replace("features = 256", "features = \"many\""), "features"),
        ("zero features", relu_run(10).replace("features = 256", "features = 0"), "features"),
        ("no data section", relu_run(10).replace("[data]", "[unused]"), "data"),
        ("k without topk", relu_run(10).replace("features = 256", "features = 256\nk = 8"), "k"),
        ("not TOML", "seed = = 3".to_string(), "line 1"),
    ];
    for (what, text, expected) in cases {
        let run_file = write_run(dir.path(), "bad.toml", text);
        let out = dir.path().join("bad-out");
        let result = output(train(&run_file, &out));
        let message = stderr(&result);
        assert_eq!(result.status.code(), Some(2), "{what}: {message}");
        assert!(message.contains(expected), "{what}: the error does not mention {expected:?}: {message}");
        assert!(message.contains("bad.toml"), "{what}: the error does not name the file: {message}");
        assert!(message.matches("TOML parse error").count() <= 1, "{what}: the parse error is printed twice: {message}");
        assert!(!out.exists(), "{what}: a bad run file must not create the output directory");
    }

    let missing = output(train(&dir.path().join("absent.toml"), &dir.path().join("x")));
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("absent.toml"));
}

#[test]
fn a_directory_holding_another_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = uninterrupted(dir.path(), "first", &relu_run(20));
    let other = write_run(dir.path(), "other.toml", &relu_run(30));
    let before = weights(&out);
    let result = output(train(&other, &out));
    assert_eq!(result.status.code(), Some(2));
    assert!(stderr(&result).contains("different"), "{}", stderr(&result));
    assert_eq!(weights(&out), before, "nothing already stored may be lost");
}

#[test]
fn every_example_run_file_trains() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
    files.sort();
    assert!(!files.is_empty(), "no run files in {}", examples.display());
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        let out = dir.path().join(file.file_stem().unwrap());
        let mut command = Command::new(BIN);
        command.args(["train", "--quiet", "--out"]).arg(&out).arg(&file);
        let result = output(command);
        assert!(result.status.success(), "{}: {}", file.display(), stderr(&result));
        let metrics = read_json(&out.join("final.json"));
        let spec = RunSpec::from_toml_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        // Every example keeps about k latents per row, by whatever mechanism it trains.
        if let Some(k) = spec.sae.k {
            let l0 = metrics["l0"].as_f64().unwrap();
            assert!((l0 / k as f64 - 1.0).abs() < 0.25, "{}: held-out L0 {l0} with k = {k}", file.display());
        }
        // A JumpReLU penalty keeps well under every latent (the thresholds learned at all:
        // left near θ₀ they let about 140 of 512 through; measured 79).
        if spec.sae.architecture == Architecture::Jumprelu {
            let (l0, features) = (metrics["l0"].as_f64().unwrap(), spec.sae.features.unwrap() as f64);
            assert!(l0 < features / 5.0, "{}: held-out L0 {l0} of {features} latents", file.display());
        }
        assert!(metrics["fvu"].as_f64().unwrap() < 0.5, "{}: {metrics}", file.display());
    }
}

/// `saescale bench --json` with the given extra arguments, on a tiny TopK step, saving into
/// `dir`; returns the printed report.
fn bench_topk(dir: &Path, extra: &[&str]) -> Value {
    let save = dir.join("bench.json");
    let mut command = Command::new(BIN);
    command.args(["bench", "--arch", "topk", "--k", "4", "--sizes", "16x64,8x32", "--batch", "32", "--steps", "2", "--warmup", "1"]);
    command.args(["--threads", "1", "--json", "--save"]).arg(&save).args(extra);
    let result = output(command);
    assert!(result.status.success(), "{}", stderr(&result));
    let printed: Value = serde_json::from_slice(&result.stdout).expect("--json prints the report");
    assert_eq!(printed, read_json(&save), "the saved report is the printed one");
    printed
}

#[test]
fn bench_measures_each_size_and_kernel_in_its_own_process_or_in_one() {
    let dir = tempfile::tempdir().unwrap();
    for extra in [&[][..], &["--same-process"][..]] {
        let report = bench_topk(dir.path(), extra);
        assert_eq!(report["threads"], 1, "{extra:?}");
        assert!(report["matmul_peak_gflops"].as_f64().unwrap() > 0.0, "{extra:?}");
        let results = report["results"].as_array().unwrap();
        let measured: Vec<(u64, u64, &str)> = results
            .iter()
            .map(|r| (r["d_in"].as_u64().unwrap(), r["features"].as_u64().unwrap(), r["kernel"].as_str().unwrap()))
            .collect();
        assert_eq!(measured, [(16, 64, "dense"), (16, 64, "sparse"), (8, 32, "dense"), (8, 32, "sparse")], "{extra:?}");
        for result in results {
            assert_eq!((result["steps"].as_u64(), result["k"].as_u64(), result["batch_size"].as_u64()), (Some(2), Some(4), Some(32)));
            assert!(result["tokens_per_s"].as_f64().unwrap() > 0.0, "{result}");
        }
    }
}

#[test]
fn a_bench_that_cannot_run_exits_non_zero_and_says_which_step() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("bench.json");
    std::fs::write(&save, "kept").unwrap();
    // k = 40 of 32 latents cannot be trained; the child's error reaches the user.
    let mut command = Command::new(BIN);
    command.args(["bench", "--arch", "topk", "--k", "40", "--sizes", "8x32", "--batch", "8", "--steps", "1", "--threads", "1", "--save"]).arg(&save);
    let result = output(command);
    assert_eq!(result.status.code(), Some(2), "bad input: {}", stderr(&result));
    let message = stderr(&result);
    assert!(message.contains("topk40 dense at 8x32 in f32"), "{message}");
    assert_eq!(std::fs::read_to_string(&save).unwrap(), "kept", "a failed bench leaves the saved file alone");
}
