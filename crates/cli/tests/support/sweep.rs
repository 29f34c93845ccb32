//! A sweep in a temporary directory, driven through the built `saescale` binary: the harness
//! of the sweep tests (sweep_cli.rs, local executor) and the Slurm tests (slurm_cli.rs).
//! Most tests use the sweep crate's fake trainer (via the hidden `--trainer` flag), which
//! ignores F and steps, takes its knobs from the environment and logs its starts.

#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_saescale");

/// The sweep crate's stand-in trainer script.
pub fn fake_trainer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sweep/tests/support/fake-trainer.sh")
}

/// A temporary directory holding `sweep.toml`; sweeps run into `out/` unless told otherwise.
pub struct Sweep {
    dir: tempfile::TempDir,
}

impl Sweep {
    pub fn new(spec: &str) -> Sweep {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sweep.toml"), spec).unwrap();
        Sweep { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The default sweep directory, `out/`.
    pub fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    /// `saescale ARGS` in the temporary directory, with extra environment (the fake trainer's
    /// knobs; Slurm jobs get them through sbatch's default --export=ALL).
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(BIN);
        command.current_dir(self.path()).args(args).env_remove("SAESCALE_TRAINER");
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    /// `saescale run sweep.toml --dir out --no-progress --trainer FAKE EXTRA`.
    pub fn run_fake(&self, extra: &[&str], env: &[(&str, &str)]) -> Command {
        let trainer = fake_trainer();
        let mut args = vec!["run", "sweep.toml", "--dir", "out", "--no-progress", "--trainer", trainer.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.command(&args, env)
    }

    /// The run directories of the sweep directory `dir`, sorted.
    pub fn run_dirs(&self, dir: &str) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.path().join(dir).join("runs")).unwrap().map(|e| e.unwrap().path()).collect();
        dirs.sort();
        dirs
    }

    /// A run's `status.json`.
    pub fn status(&self, run_dir: &Path) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("status.json")).unwrap()).unwrap()
    }
}

/// Runs `command` to its end with no stdin.
pub fn output(mut command: Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
