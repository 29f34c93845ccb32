//! `saescale activations prepare` and `saescale train` on a shard directory (issue 6): a run
//! file with `source = "shards"` trains, uses the stored normalisation constant, and resumes
//! bit-identically after SIGKILL at a random step.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use saescale_data::shards::{write_shard, Dtype, Manifest, ShardEntry, MANIFEST_VERSION};
use saescale_data::{Source, Split, SyntheticConfig, SyntheticSource};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_saescale");
const D: usize = 32;

/// Four f16 .npy shards of 3000 synthetic rows (the last held out), then `activations prepare`.
fn shard_dir(root: &Path) -> PathBuf {
    let dir = root.join("acts");
    std::fs::create_dir_all(&dir).unwrap();
    let config = SyntheticConfig { d_in: D, n_features: 128, seed: 5, ..SyntheticConfig::default() };
    let mut source = SyntheticSource::new(&config, Split::Train).unwrap();
    let mut shards = Vec::new();
    for s in 0..4 {
        let mut rows = vec![0f32; 3000 * D];
        source.fill(&mut rows).unwrap();
        // Scale up, as real residual streams are far from norm √d.
        rows.iter_mut().for_each(|v| *v *= 7.0);
        let file = format!("{s:03}.npy");
        write_shard(&dir.join(&file), &rows, D, Dtype::F16).unwrap();
        shards.push(ShardEntry { file, tokens: 3000, outliers: Vec::new() });
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        d: D,
        dtype: Dtype::F16,
        model: "synthetic".into(),
        layer: None,
        hook: None,
        heldout_shards: 1,
        shards,
        outlier_filter: None,
        normalization: None,
    };
    manifest.write(&dir).unwrap();
    let prepared = output(Command::new(BIN).args(["activations", "prepare", "--json", "--sample-rows", "4000"]).arg(&dir));
    assert!(prepared.status.success(), "{}", stderr(&prepared));
    let summary: Value = serde_json::from_slice(&prepared.stdout).unwrap();
    assert_eq!((summary["tokens"].as_u64(), summary["d"].as_u64()), (Some(12_000), Some(D as u64)));
    dir
}

fn relu_run(dir: &Path, steps: u64) -> String {
    format!(
        r#"seed = 3
[data]
source = "shards"
path = "{}"
d_in = {D}
shuffle_buffer = 1024
chunk_rows = 64
seed = 1
[sae]
architecture = "relu"
features = 256
l1_coefficient = 2.0
[train]
steps = {steps}
batch_size = 256
lr = 1e-3
[eval]
rows = 2048
[log]
every_steps = 10
checkpoint_every_steps = 50
"#,
        dir.display()
    )
}

fn output(command: &mut Command) -> Output {
    command.output().expect("cannot start saescale")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn train(run_file: &Path, out: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.args(["train", "--quiet", "--threads", "1", "--out"]).arg(out).arg(run_file);
    command
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn last_step(out: &Path) -> u64 {
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap_or_default();
    text.lines().last().and_then(|l| serde_json::from_str::<Value>(l).ok()).and_then(|m| m["step"].as_u64()).unwrap_or(0)
}

fn weights(out: &Path) -> Vec<u8> {
    std::fs::read(out.join("checkpoint/sae/sae_weights.safetensors")).unwrap()
}

extern "C" {
    fn kill(pid: i32, signal: i32) -> i32;
}

#[test]
fn a_shard_run_trains_and_resumes_bit_identically_after_sigkill() {
    let root = tempfile::tempdir().unwrap();
    let dir = shard_dir(root.path());
    let steps = 1200;
    let run_file = root.path().join("run.toml");
    std::fs::write(&run_file, relu_run(&dir, steps)).unwrap();

    let reference = root.path().join("reference");
    let result = output(&mut train(&run_file, &reference));
    assert!(result.status.success(), "{}", stderr(&result));
    let final_metrics = read_json(&reference.join("final.json"));
    let fvu = final_metrics["fvu"].as_f64().unwrap();
    assert!(fvu < 0.5, "an SAE on the shards should explain most variance: {final_metrics}");
    // The trainer used the constant `activations prepare` stored, not a fresh estimate.
    let stored = Manifest::read(&dir).unwrap().normalization.unwrap().scale;
    assert_eq!(final_metrics["scale"].as_f64(), Some(stored));
    // 1200 steps × 256 rows: about 34 epochs of the 9,000 training rows.
    assert_eq!(read_json(&reference.join("config.json"))["data"]["source"], "shards");

    let step = match std::env::var("SAESCALE_TEST_STEP") {
        Ok(step) => step.parse().unwrap(),
        Err(_) => 20 + SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos() as u64 % (steps - 40),
    };
    eprintln!("killing at step ≥ {step} (replay with SAESCALE_TEST_STEP={step})");
    let killed = root.path().join("killed");
    let mut child = train(&run_file, &killed).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while last_step(&killed) < step {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before step {step}");
        assert!(Instant::now() < deadline, "step {step} not reached in time");
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: kill(2) on our own child's pid; 9 = SIGKILL.
    assert_eq!(unsafe { kill(child.id() as i32, 9) }, 0);
    assert!(!child.wait().unwrap().success());
    assert!(!killed.join("final.json").exists(), "the run finished before it was killed");

    let resumed = output(&mut train(&run_file, &killed));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(weights(&killed) == weights(&reference), "resumed weights differ from the uninterrupted run's");
    assert_eq!(read_json(&killed.join("final.json"))["fvu"], final_metrics["fvu"]);
}

#[test]
fn the_stored_scale_is_used_and_bad_shards_are_named() {
    let root = tempfile::tempdir().unwrap();
    let dir = shard_dir(root.path());
    let manifest = Manifest::read(&dir).unwrap();
    let scale = manifest.normalization.as_ref().unwrap().scale;
    // The synthetic rows were multiplied by 7, so s is well below 1; its exact value is what
    // the trainer must use (scale_for prefers the manifest's).
    let mut source = saescale_data::open(&saescale_data::DataConfig::Shards(saescale_data::ShardsConfig::new(&dir, D)), Split::Train).unwrap();
    assert_eq!(saescale_data::scale_for(source.as_mut(), 100).unwrap(), scale);
    assert!(scale < 0.5, "{scale}");

    // A shard cut short: training refuses with exit 2, naming the file.
    let shard = dir.join("001.npy");
    let len = std::fs::metadata(&shard).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&shard).unwrap().set_len(len - 2).unwrap();
    let run_file = root.path().join("run.toml");
    std::fs::write(&run_file, relu_run(&dir, 10)).unwrap();
    let result = output(&mut train(&run_file, &root.path().join("out")));
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    assert!(stderr(&result).contains("001.npy") && stderr(&result).contains("cut short"), "{}", stderr(&result));

    // A run file whose d_in disagrees with the manifest.
    std::fs::write(&run_file, relu_run(&dir, 10).replace(&format!("d_in = {D}"), "d_in = 48")).unwrap();
    let result = output(&mut train(&run_file, &root.path().join("out2")));
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    assert!(stderr(&result).contains("manifest.json") && stderr(&result).contains("48"), "{}", stderr(&result));

    let missing = output(Command::new(BIN).args(["activations", "prepare"]).arg(root.path().join("nowhere")));
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("nowhere"), "{}", stderr(&missing));
}

/// A sweep whose shard source every run would fail on is refused once, when planning (issue
/// 18, item 6): exit 2 naming the spec's line and key and what is wrong, and no sweep
/// directory is made.
#[test]
fn issue_18_a_sweep_with_a_bad_shard_source_stops_when_planning() {
    let root = tempfile::tempdir().unwrap();
    let dir = shard_dir(root.path());
    let spec = |path: &Path, d_in: usize| {
        format!(
            "name = \"bad-source\"\n[run.data]\nsource = \"shards\"\npath = \"{}\"\nd_in = {d_in}\n[run.sae]\narchitecture = \"relu\"\n\
             [run.train]\nbatch_size = 64\n[sweep]\ngrid = [{{ features = 64, steps = 10 }}]\n",
            path.display()
        )
    };
    let cases = [
        (spec(&dir, 48), "s.toml:5:1", vec!["d_in = 48", "have d = 32"]),
        (spec(&root.path().join("nowhere"), D), "s.toml:4:1", vec!["nowhere", "No such file"]),
    ];
    for (text, place, needles) in cases {
        let path = root.path().join("s.toml");
        std::fs::write(&path, text).unwrap();
        let sweep_dir = root.path().join("sweep");
        for command in ["plan", "run"] {
            let mut cmd = Command::new(BIN);
            cmd.arg(command).arg(&path).current_dir(root.path());
            if command == "run" {
                cmd.arg("--dir").arg(&sweep_dir);
            }
            let result = output(&mut cmd);
            let message = stderr(&result);
            assert_eq!(result.status.code(), Some(2), "{command}: {message}");
            assert!(message.contains(place) && needles.iter().all(|n| message.contains(n)), "{command}: {message}");
            assert!(!sweep_dir.exists(), "{command} made the sweep directory");
        }
    }
}
