//! Shared by the Slurm tests of the sweep and cli crates (included with `#[path]`): whether a
//! real Slurm cluster answers here, and helpers to ask it about jobs.
//!
//! The tests never mock Slurm. `scripts/test-slurm.sh` brings a single-node cluster up with
//! `scripts/slurm-local.sh`, runs them with `SAESCALE_REQUIRE_SLURM=1` and tears it down.

#![allow(dead_code)]

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether a Slurm cluster answers (`sinfo` works with the current `SLURM_CONF`).
///
/// Without one the calling test should return at once: this says `SKIPPED` on stderr
/// (written past the test harness's capture, so it shows in `cargo test` output), unless
/// `SAESCALE_REQUIRE_SLURM=1`, when it panics so that CI cannot skip silently.
pub fn cluster_or_skip(test: &str) -> bool {
    let problem = match Command::new("sinfo").args(["--noheader", "--format=%t"]).output() {
        Err(e) => Some(format!("Slurm's commands are not installed ({e})")),
        Ok(out) if !out.status.success() => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            Some(format!("no Slurm cluster answers (sinfo: {})", stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim()))
        }
        Ok(_) => None,
    };
    let Some(problem) = problem else { return true };
    if required() {
        panic!("SAESCALE_REQUIRE_SLURM=1, but {problem}; run scripts/test-slurm.sh, or start a cluster with scripts/slurm-local.sh up and source its env.sh");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {problem}. Run scripts/test-slurm.sh (or set SAESCALE_REQUIRE_SLURM=1 to fail instead).");
    false
}

/// Whether CI demands the Slurm tests (and accounting) to run.
pub fn required() -> bool {
    std::env::var("SAESCALE_REQUIRE_SLURM").is_ok_and(|v| v == "1")
}

/// `KEY=VALUE` fields of every task of job `id`, from `scontrol -o show job`.
pub fn scontrol_tasks(id: &str) -> Vec<Vec<(String, String)>> {
    let out = Command::new("scontrol").args(["-o", "show", "job", id]).output().expect("scontrol runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.split_whitespace().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .collect()
}

/// One field of a task record.
pub fn field<'a>(task: &'a [(String, String)], key: &str) -> &'a str {
    task.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
}

/// Waits until `done` holds, failing the test after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `sbatch --parsable ARGS`: the job id.
pub fn sbatch(args: &[&str]) -> String {
    let out = Command::new("sbatch").arg("--parsable").args(args).output().expect("sbatch runs");
    assert!(out.status.success(), "sbatch {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap_or("").to_string()
}
