//! A run directory's files: the names the trainer writes and the manager reads, in one place.
//!
//! ```text
//! <run dir>/
//!   run.toml                          the run file the manager hands to the trainer (manager)
//!   status.json                       pending | running | done | failed, attempts, times (manager)
//!   stdout.log                        the trainer's output, every attempt under a header (manager)
//!   config.json                       the resolved run spec; a different run is refused (trainer)
//!   metrics.jsonl                     one StepMetrics per logged step, append-only (trainer)
//!   final.json                        FinalMetrics; written last, so it marks a finished run (trainer)
//!   checkpoint/trainer_state.safetensors  everything needed to resume exactly (trainer)
//!   checkpoint/sae/                   SAELens v6 export of the final weights (trainer)
//! ```

use std::path::{Path, PathBuf};

/// `run.toml`: the run file.
pub const RUN_FILE: &str = "run.toml";
/// `status.json`: the manager's record of the run.
pub const STATUS: &str = "status.json";
/// `stdout.log`: the trainer's captured output.
pub const STDOUT: &str = "stdout.log";
/// `config.json`: the resolved run spec.
pub const CONFIG: &str = "config.json";
/// `metrics.jsonl`: the training log.
pub const METRICS: &str = "metrics.jsonl";
/// `final.json`: held-out metrics, written last.
pub const FINAL: &str = "final.json";
/// `checkpoint/`: the trainer state and the SAELens export.
pub const CHECKPOINT: &str = "checkpoint";
/// `checkpoint/trainer_state.safetensors`.
pub const TRAINER_STATE: &str = "trainer_state.safetensors";
/// `checkpoint/sae/`: the SAELens directory.
pub const SAELENS: &str = "sae";

/// The paths of one run directory (nothing is created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The layout rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `run.toml`.
    pub fn run_file(&self) -> PathBuf {
        self.root.join(RUN_FILE)
    }

    /// `status.json`.
    pub fn status(&self) -> PathBuf {
        self.root.join(STATUS)
    }

    /// `stdout.log`.
    pub fn stdout(&self) -> PathBuf {
        self.root.join(STDOUT)
    }

    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG)
    }

    /// `metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join(METRICS)
    }

    /// `final.json`.
    pub fn final_metrics(&self) -> PathBuf {
        self.root.join(FINAL)
    }

    /// `checkpoint/`.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join(CHECKPOINT)
    }

    /// `checkpoint/trainer_state.safetensors`.
    pub fn trainer_state(&self) -> PathBuf {
        self.checkpoint().join(TRAINER_STATE)
    }

    /// `checkpoint/sae/`.
    pub fn saelens(&self) -> PathBuf {
        self.checkpoint().join(SAELENS)
    }

    /// Whether the trainer finished the run: `final.json` exists.
    pub fn is_finished(&self) -> bool {
        self.final_metrics().is_file()
    }
}
