//! Nightly sweeps (issue 15): `saescale run SPEC --night DATE` measures every run afresh in
//! `<dir>/nights/DATE/`, and `saescale compare` judges one night against another with exit
//! codes a scheduler can act on. The runs are the sweep crate's stand-in trainer, whose
//! reported loss, throughput and peak memory come from its FAKE_* knobs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/sweep.rs"]
mod sweep;
use sweep::{output, text, Sweep};

const SPEC: &str = r#"name = "nightly"
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
[sweep]
budgets = [2e9, 4e9]
features = [128, 256]
[executor]
slots = 2
"#;

/// `saescale run sweep.toml --dir out --night DATE` with the stand-in trainer.
fn night(sweep: &Sweep, date: &str, env: &[(&str, &str)]) -> std::process::Output {
    output(sweep.run_fake(&["--night", date], env))
}

/// `saescale compare BASELINE CURRENT --json EXTRA`, in the sweep's directory.
fn compare(sweep: &Sweep, baseline: &str, current: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut args = vec!["compare", baseline, current, "--json"];
    args.extend_from_slice(extra);
    let out = output(sweep.command(&args, &[]));
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), json, text(&out.stderr))
}

fn starts(run_dir: &Path) -> String {
    std::fs::read_to_string(run_dir.join("starts.log")).unwrap_or_default()
}

#[test]
fn two_nights_of_the_same_spec_compare_equal_and_each_night_trains_afresh() {
    let sweep = Sweep::new(SPEC);
    for date in ["2026-11-30", "2026-12-01"] {
        let out = night(&sweep, date, &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    // Each night is a sweep directory of its own; every run of the second night started from
    // scratch (nothing of the first night was reused), and the first night is as it was.
    for date in ["2026-11-30", "2026-12-01"] {
        let runs = sweep.run_dirs(&format!("out/nights/{date}"));
        assert_eq!(runs.len(), 4);
        assert!(runs.iter().all(|r| starts(r) == "scratch\n"), "{date}: {:?}", runs.iter().map(|r| starts(r)).collect::<Vec<_>>());
    }
    let (code, json, stderr) = compare(&sweep, "out/nights/2026-11-30", "out/nights/2026-12-01", &[]);
    assert_eq!(code, Some(0), "{stderr}{json:#}");
    let runs = json["comparison"]["runs"]["matched"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "runs are matched by config across the nights' directories");
    for run in runs {
        for figure in run["figures"].as_array().unwrap() {
            assert_eq!(figure["verdict"], "equal", "{figure}");
        }
    }
    assert_eq!(json["regressed"], false);
    // A nightly sweep's directory stands for its latest night.
    let (code, json, _) = compare(&sweep, "out/nights/2026-11-30", "out", &[]);
    assert_eq!(code, Some(0));
    assert!(json["comparison"]["current"].as_str().unwrap().ends_with("2026-12-01"), "{json:#}");
}

#[test]
fn a_night_whose_trainer_got_worse_is_flagged_with_the_run_and_the_figure() {
    let sweep = Sweep::new(SPEC);
    assert!(night(&sweep, "2026-11-30", &[]).status.success());
    // 5% more loss and half the throughput: both beyond their tolerances (1%, -15%).
    let worse = night(&sweep, "2026-12-01", &[("FAKE_LOSS", "0.105"), ("FAKE_TOKENS_PER_S", "500.0")]);
    assert!(worse.status.success(), "{}", text(&worse.stderr));
    let (code, json, stderr) = compare(&sweep, "out/nights/2026-11-30", "out/nights/2026-12-01", &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let regressions: Vec<&str> = json["regressions"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(regressions.len(), 8, "{regressions:#?}");
    let first_run = sweep.run_dirs("out/nights/2026-12-01")[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(regressions.iter().any(|r| r.contains(&first_run) && r.contains(": loss 0.1 → 0.105")), "{regressions:#?}");
    assert!(regressions.iter().any(|r| r.contains(&first_run) && r.contains(": tokens_per_s 1000 → 500")), "{regressions:#?}");
    // Looser tolerances from the command line let the same nights pass; a better night is an
    // improvement, not a failure.
    let (code, _, _) = compare(&sweep, "out/nights/2026-11-30", "out/nights/2026-12-01", &["--loss-tolerance", "0.1", "--throughput-drop", "0.6"]);
    assert_eq!(code, Some(0));
    let (code, json, _) = compare(&sweep, "out/nights/2026-12-01", "out/nights/2026-11-30", &[]);
    assert_eq!(code, Some(0), "{json:#}");
    let figures = &json["comparison"]["runs"]["matched"][0]["figures"];
    assert_eq!((figures[0]["figure"].as_str(), figures[0]["verdict"].as_str()), (Some("loss"), Some("improved")));
    // The table says the same for a human.
    let table = output(sweep.command(&["compare", "out/nights/2026-11-30", "out/nights/2026-12-01"], &[]));
    assert_eq!(table.status.code(), Some(1));
    let table = text(&table.stdout);
    assert!(table.contains("REGRESSED (8)") && table.contains("+5.00% !") && table.contains("-50.00% !"), "{table}");
}

/// A night killed mid-way (SIGKILL of its manager) resumes within that night; the next night
/// starts every run from scratch.
#[test]
fn a_killed_night_resumes_within_the_night_and_the_next_night_starts_fresh() {
    let sweep = Sweep::new(SPEC);
    // Slow trainers (5 s a run), so that the ones the killed manager orphans still run when
    // the night is started again.
    let mut manager = sweep.run_fake(&["--night", "2026-11-30"], &[("FAKE_CHUNK_SECONDS", "0.5")]);
    let mut manager = manager.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let runs = sweep.path().join("out/nights/2026-11-30/runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !runs.is_dir()
        || std::fs::read_dir(&runs).unwrap().filter(|r| r.as_ref().is_ok_and(|r| r.path().join("checkpoint/trainer_state").is_file())).count() < 2
    {
        assert!(Instant::now() < deadline, "the night made no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    manager.kill().unwrap(); // SIGKILL: its trainers are orphaned mid-run
    manager.wait().unwrap();
    let again = night(&sweep, "2026-11-30", &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let resumed = sweep.run_dirs("out/nights/2026-11-30").iter().filter(|r| starts(r).contains("resume")).count();
    assert!(resumed >= 2, "the runs cut short resumed within the night");
    for run in sweep.run_dirs("out/nights/2026-11-30") {
        assert_eq!(starts(&run).matches("scratch").count(), 1, "{}: {}", run.display(), starts(&run));
    }
    assert!(night(&sweep, "2026-12-01", &[]).status.success());
    assert!(sweep.run_dirs("out/nights/2026-12-01").iter().all(|r| starts(r) == "scratch\n"));
}

#[test]
fn bad_input_exits_2_naming_what_is_wrong_and_changes_nothing() {
    let sweep = Sweep::new(SPEC);
    assert!(night(&sweep, "2026-11-30", &[]).status.success());
    // An unrelated sweep: another spec, no run in common.
    std::fs::write(sweep.path().join("other.toml"), SPEC.replace("name = \"nightly\"", "name = \"other\"").replace("d_in = 64", "d_in = 32")).unwrap();
    let trainer = sweep::fake_trainer();
    let other = output(sweep.command(&["run", "other.toml", "--dir", "other", "--no-progress", "--trainer", trainer.to_str().unwrap()], &[]));
    assert!(other.status.success(), "{}", text(&other.stderr));
    let before = snapshot(&sweep.path().join("out"));
    for (baseline, current, needle) in [
        ("out/nights/2026-11-30", "other", "no run in common"),
        ("out/nights/2026-11-30", "missing", "missing does not exist"),
        ("sweep.toml", "out", "not a fit"),
        ("out/nights/2026-11-30", "out/nights/2026-11-30/runs", "neither a sweep directory"),
    ] {
        let (code, _, stderr) = compare(&sweep, baseline, current, &[]);
        assert_eq!(code, Some(2), "{baseline} vs {current}: {stderr}");
        assert!(stderr.contains(needle) && stderr.lines().count() == 1, "{baseline} vs {current}: {stderr}");
    }
    let bad = output(sweep.run_fake(&["--night", "tomorrow"], &[]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("YYYY-MM-DD"), "{}", text(&bad.stderr));
    assert_eq!(snapshot(&sweep.path().join("out")), before, "bad input changed the stored nights");
}

/// Every file under `dir` with its bytes, sorted: what a command must leave as it was.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    files.sort();
    files
}

/// The real trainer records where and how it trained in final.json, and the results table
/// carries it (issue 15, item 1).
#[test]
fn a_real_run_records_its_provenance() {
    let sweep = Sweep::new(SPEC);
    let run_file = sweep.path().join("run.toml");
    std::fs::write(
        &run_file,
        "[data]\nsource = \"synthetic\"\nd_in = 16\n[sae]\narchitecture = \"relu\"\nfeatures = 32\n[train]\nsteps = 20\nbatch_size = 32\n[eval]\nrows = 256\n",
    )
    .unwrap();
    let out = output({
        let mut command = Command::new(sweep::BIN);
        command.arg("train").arg(&run_file).arg("--out").arg(sweep.path().join("one")).args(["--threads", "1", "--quiet"]);
        command
    });
    assert!(out.status.success(), "{}", text(&out.stderr));
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sweep.path().join("one/final.json")).unwrap()).unwrap();
    let provenance = &metrics["provenance"];
    assert_eq!(provenance["version"], env!("CARGO_PKG_VERSION"));
    let commit = provenance["commit"].as_str().unwrap();
    assert!(commit == "unknown" || commit.len() == 12, "{commit}");
    assert!(provenance["device"].as_str().unwrap().starts_with("cpu"), "{provenance}");
    assert_eq!((provenance["precision"].as_str(), provenance["threads"].as_u64()), (Some("f32"), Some(1)));
    assert!(!provenance["host"].as_str().unwrap().is_empty());
    assert!(provenance["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{provenance}");
}

/// The report of a nightly sweep's directory: its latest night, with the history across nights,
/// what the trend rule flags (two breaking nights in a row regress, one is suspicious) and the
/// baseline used.
#[test]
fn the_report_of_a_nightly_sweep_shows_its_history_and_when_a_regression_began() {
    let sweep = Sweep::new(SPEC);
    for (date, loss) in [("2026-11-27", "0.1"), ("2026-11-28", "0.1"), ("2026-11-29", "0.105"), ("2026-11-30", "0.105")] {
        assert!(night(&sweep, date, &[("FAKE_LOSS", loss)]).status.success());
    }
    let out = output(sweep.command(&["report", "out", "--out", "history", "--dpi", "40"], &[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(sweep.path().join("history/index.html")).unwrap();
    assert!(html.contains("id=\"history\"") && html.contains("4 nights, 2026-11-27 to 2026-11-30"), "the history section");
    assert!(html.contains("compared with the baseline night 2026-11-29"), "the baseline used");
    assert_eq!(html.matches("regressed since 2026-11-29").count(), 4, "each run's loss regressed since the night it began");
    for figure in ["history_loss", "history_throughput"] {
        assert!(sweep.path().join(format!("history/{figure}.svg")).is_file(), "{figure}");
    }
    // The loss ratios drawn are each night's loss over the baseline night's.
    let csv = std::fs::read_to_string(sweep.path().join("history/history_loss.csv")).unwrap();
    assert!(csv.lines().any(|l| l.contains(",4,1,")), "{csv}");
    assert!(csv.lines().any(|l| l.contains(",1,0.952380952380952")), "{csv}");
    // Another baseline; one that is not a night is bad input.
    let other = output(sweep.command(&["report", "out", "--out", "history2", "--dpi", "40", "--baseline", "2026-11-27"], &[]));
    assert!(other.status.success());
    assert!(std::fs::read_to_string(sweep.path().join("history2/index.html")).unwrap().contains("baseline night 2026-11-27"));
    let bad = output(sweep.command(&["report", "out", "--baseline", "2026-01-01"], &[]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("no such night"), "{}", text(&bad.stderr));
}

/// A sweep whose stand-in runs follow a known law, so that every night has a fit.
fn lawful_spec() -> String {
    SPEC.replace("budgets = [2e9, 4e9]\nfeatures = [128, 256]", "budgets = [1e11, 2e11, 4e11, 8e11]\nfeatures = [128, 256, 512, 1024, 2048]")
}

fn lawful_night(sweep: &Sweep, date: &str) -> std::process::Output {
    let trainer = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/lawful-trainer.sh");
    output(sweep.command(&["run", "sweep.toml", "--dir", "out", "--no-progress", "--night", date, "--trainer", trainer.to_str().unwrap()], &[]))
}

/// Nights with fits compare fit by fit too; a fit of another kind of table is bad input.
#[test]
fn fits_of_two_nights_compare_and_a_fit_of_another_table_is_bad_input() {
    let sweep = Sweep::new(&lawful_spec());
    for date in ["2026-11-30", "2026-12-01"] {
        let out = lawful_night(&sweep, date);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(sweep.path().join(format!("out/nights/{date}/fit.json")).is_file());
    }
    let (code, json, stderr) = compare(&sweep, "out/nights/2026-11-30", "out/nights/2026-12-01", &["--target-compute", "1e13"]);
    assert_eq!(code, Some(0), "{stderr}");
    let fit = &json["comparison"]["fit"];
    assert_eq!(fit["target_compute"], 1e13);
    let quantities: Vec<&str> = fit["quantities"].as_array().unwrap().iter().map(|q| q["quantity"].as_str().unwrap()).collect();
    assert_eq!(quantities, ["alpha", "beta", "a", "b", "E", "F*(C)", "S*(C)", "L*(C)"]);
    assert!(fit["quantities"].as_array().unwrap().iter().all(|q| q["verdict"] == "equal" && q["current"]["ci95"].is_array()), "{fit:#}");
    // A fit of the Chinchilla table against a night's fit.
    let chinchilla = sweep.path().join("chinchilla.json");
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/chinchilla_epoch_svg_extracted.csv");
    let fitted = output(sweep.command(
        &["fit", csv.to_str().unwrap(), "--x-col", "Model Size", "--compute-col", "Training FLOP", "--kappa", "6", "--out", chinchilla.to_str().unwrap()],
        &[],
    ));
    assert!(fitted.status.success(), "{}", text(&fitted.stderr));
    let before = snapshot(&sweep.path().join("out"));
    let (code, _, stderr) = compare(&sweep, chinchilla.to_str().unwrap(), "out", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not of the same kind of table") && stderr.contains("X column Model Size vs features"), "{stderr}");
    assert_eq!(snapshot(&sweep.path().join("out")), before);
}

/// The real trainer on the CPU: two nights of a small sweep train the same SAEs to the bit, so
/// every figure of the runs themselves compares equal. (Throughput and peak memory are
/// measurements of a shared machine; their tolerances are opened here, as this test is about
/// the trained SAEs.)
#[test]
fn two_cpu_nights_of_the_real_trainer_compare_equal() {
    let spec = SPEC
        .replace("d_in = 64", "d_in = 16\nn_features = 64")
        .replace("batch_size = 256", "batch_size = 64\n[run.eval]\nrows = 512")
        .replace("budgets = [2e9, 4e9]\nfeatures = [128, 256]", "budgets = [2e8, 4e8]\nfeatures = [32, 64]");
    let sweep = Sweep::new(&spec);
    for date in ["2026-11-30", "2026-12-01"] {
        let out = output(sweep.command(&["run", "sweep.toml", "--dir", "out", "--no-progress", "--night", date, "--threads", "1"], &[]));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let (code, json, stderr) =
        compare(&sweep, "out/nights/2026-11-30", "out/nights/2026-12-01", &["--throughput-drop", "1", "--memory-rise", "100"]);
    assert_eq!(code, Some(0), "{stderr}{json:#}");
    let runs = json["comparison"]["runs"]["matched"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    for run in runs {
        for figure in run["figures"].as_array().unwrap().iter().filter(|f| matches!(f["figure"].as_str(), Some("loss" | "fvu" | "l0" | "dead_fraction"))) {
            assert_eq!(figure["verdict"], "equal", "{figure}");
        }
    }
}
