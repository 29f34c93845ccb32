//! A run's `status.json`: where it is in its life, and the history of its attempts.

use serde::{Deserialize, Serialize};

use super::clock::now_rfc3339;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Not started, or stopped and waiting to resume.
    Pending,
    /// A trainer is (or, if no manager holds the lock, was) working on it.
    Running,
    /// `final.json` is written.
    Done,
    /// Gave up: out of attempts, or an error that retrying cannot fix.
    Failed,
}

impl RunState {
    /// The state as the store writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Done => "done",
            RunState::Failed => "failed",
        }
    }
}

/// A run's `status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    /// Current state.
    pub state: RunState,
    /// Why the run failed (the last attempt's reason), or a note on the current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Attempts counted against the cap: failures plus the final success. Interruptions by a
    /// signal (exit 75) are not counted.
    pub attempts: u32,
    /// Times the run was stopped by a signal and later resumed.
    #[serde(default)]
    pub interruptions: u32,
    /// Every failed attempt, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
    /// When the run directory was created (RFC 3339, UTC).
    pub created_at: String,
    /// When this file was last written.
    pub updated_at: String,
    /// When the current or last attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the run reached done or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Machine of the current or last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Device of the current or last attempt, e.g. `cpu` or `cuda (CUDA_VISIBLE_DEVICES=1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The saescale build that managed the current or last attempt, e.g. `0.1.0 (3f2a…)`; the
    /// trainer's own build is in `final.json`'s provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// Process id of the running trainer (its process group has the same id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Exit code of the last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// One failed attempt, kept in `status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Which attempt (1-based).
    pub attempt: u32,
    /// When it ended.
    pub at: String,
    /// The trainer's exit code, if it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// What went wrong: the trainer's last `error:` line, or what the executor saw.
    pub reason: String,
}

impl RunStatus {
    /// A fresh pending status.
    pub fn new() -> Self {
        let now = now_rfc3339();
        RunStatus {
            state: RunState::Pending,
            reason: None,
            attempts: 0,
            interruptions: 0,
            failures: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
            started_at: None,
            finished_at: None,
            host: None,
            device: None,
            build: None,
            pid: None,
            exit_code: None,
        }
    }
}

impl Default for RunStatus {
    fn default() -> Self {
        Self::new()
    }
}
