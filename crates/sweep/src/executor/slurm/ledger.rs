//! The ledger: every job array this sweep submitted, in `<sweep dir>/slurm/jobs.json`.
//!
//! It is how a later manager, `sweep status` or `sweep cancel` finds the sweep's jobs (and
//! only those), and which runs they train. A submission is recorded *before* sbatch runs, with
//! a random token that sbatch puts into the job's `--comment`, so that a manager killed between
//! sbatch and recording the job id leaves a submission that can still be found in the queue.
//! A task is `settled` once its end has been applied to its run's status, so that no end is
//! counted twice however many managers look at it.

use std::path::{Path, PathBuf};

use saescale_spec::atomic::write_json_atomic;
use serde::{Deserialize, Serialize};

use crate::plan::RunId;
use crate::store::RunStore;
use crate::{Error, Result};

/// The directory of Slurm files inside a sweep directory.
pub const DIR: &str = "slurm";
/// The ledger's file name inside [`DIR`].
pub const FILE: &str = "jobs.json";

/// Every submission of a sweep, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Submissions, oldest first.
    pub submissions: Vec<Submission>,
}

/// One sbatch call: a job array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The array's job id; `None` while sbatch has not answered.
    pub job_id: Option<String>,
    /// Random token put into `--comment` as `saescale:TOKEN`.
    pub token: String,
    /// The job name (`saescale-<sweep>`).
    pub job_name: String,
    /// When it was submitted (RFC 3339).
    pub submitted_at: String,
    /// The batch script, relative to the sweep directory.
    pub script: String,
    /// Task `i` of the array trains `tasks[i].run`.
    pub tasks: Vec<Task>,
}

/// One array task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The run it trains.
    pub run: RunId,
    /// The run's attempt number.
    pub attempt: u32,
    /// Its end has been applied to the run's status.
    #[serde(default)]
    pub settled: bool,
    /// Requeues (Slurm's restart count) already counted as interruptions.
    #[serde(default)]
    pub restarts: u32,
}

impl Submission {
    /// The comment sbatch attaches to the job.
    pub fn comment(&self) -> String {
        format!("saescale:{}", self.token)
    }

    /// Whether some task has not ended yet, as far as this ledger knows.
    pub fn in_flight(&self) -> bool {
        self.tasks.iter().any(|t| !t.settled)
    }
}

impl Ledger {
    /// The ledger's path in a sweep directory.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(DIR).join(FILE)
    }

    /// Reads a sweep's ledger; an empty one when the sweep never used Slurm.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read, [`Error::Corrupt`] when it cannot be parsed.
    pub fn read(dir: &Path) -> Result<Ledger> {
        let path = Self::path(dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::Corrupt { path, reason: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ledger::default()),
            Err(e) => Err(Error::io("read", path)(e)),
        }
    }

    /// Writes it atomically (the caller holds the sweep's lock).
    ///
    /// # Errors
    /// [`Error::NotLocked`] without the lock, [`Error::Io`] when the write fails.
    pub fn write(&self, store: &RunStore) -> Result<()> {
        if !store.is_locked() {
            return Err(Error::NotLocked { dir: store.dir().to_path_buf() });
        }
        let path = Self::path(store.dir());
        let parent = path.parent().unwrap_or(store.dir());
        std::fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
        write_json_atomic(&path, self).map_err(Error::io("write", &path))
    }

    /// The latest task of `run` that has not ended, as (submission index, task index).
    pub fn in_flight(&self, run: &RunId) -> Option<(usize, usize)> {
        for (s, submission) in self.submissions.iter().enumerate().rev() {
            if let Some(t) = submission.tasks.iter().position(|t| &t.run == run) {
                return (!submission.tasks[t].settled).then_some((s, t));
            }
        }
        None
    }

    /// Job ids of the submissions with tasks that have not ended.
    pub fn live_job_ids(&self) -> Vec<String> {
        self.submissions.iter().filter(|s| s.in_flight()).filter_map(|s| s.job_id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(run: &str, settled: bool) -> Task {
        Task { run: RunId::parse(run).unwrap(), attempt: 1, settled, restarts: 0 }
    }

    #[test]
    fn the_latest_task_of_a_run_decides_whether_it_is_in_flight() {
        let a = "aaaaaaaaaaaa";
        let b = "bbbbbbbbbbbb";
        let submission = |id: &str, tasks| Submission {
            job_id: Some(id.into()),
            token: "t".into(),
            job_name: "saescale-x".into(),
            submitted_at: "2025-01-01T00:00:00Z".into(),
            script: "slurm/submit-0.sh".into(),
            tasks,
        };
        let ledger = Ledger { submissions: vec![submission("5", vec![task(a, false), task(b, true)]), submission("9", vec![task(b, false)])] };
        assert_eq!(ledger.in_flight(&RunId::parse(a).unwrap()), Some((0, 0)));
        assert_eq!(ledger.in_flight(&RunId::parse(b).unwrap()), Some((1, 0)));
        assert_eq!(ledger.live_job_ids(), ["5", "9"]);
        let mut settled = ledger.clone();
        settled.submissions[1].tasks[0].settled = true;
        assert_eq!(settled.in_flight(&RunId::parse(b).unwrap()), None);
        assert_eq!(settled.live_job_ids(), ["5"]);
    }
}
