//! The run store: a sweep's directory on disk, the single source of truth about its runs.
//!
//! Its files are listed in [`layout`] (the sweep directory) and saescale-spec's
//! [`saescale_spec::layout`] (each run directory). Every file the manager writes is written
//! atomically ([`saescale_spec::atomic`]): a kill -9 at any moment leaves each file either
//! old or new, never half written. `final.json` outranks `status.json`: a run whose trainer
//! finished while its manager died is done.
//!
//! Modules by job: [`layout`] (file names), [`status`] (the `status.json` types), `lock`
//! (the manager's lock), [`files`] (reading JSON and log tails), [`clock`] (timestamps).

pub mod clock;
pub mod files;
pub mod layout;
mod lock;
pub mod status;

use std::path::{Path, PathBuf};

use saescale_spec::atomic::{write_atomic, write_json_atomic};
use saescale_spec::layout::RunDir;
use saescale_spec::{FinalMetrics, StepMetrics};

pub use crate::machine::hostname;
pub use clock::now_rfc3339;
pub use status::{Failure, RunState, RunStatus};

use crate::plan::{Plan, PlannedRun, RunId};
use crate::{Error, Result};
use files::{read_json, read_tail, truncate};
use lock::ManagerLock;

/// Everything the store knows about one planned run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The run as planned.
    pub run: PlannedRun,
    /// Its status, if the run directory exists.
    pub status: Option<RunStatus>,
    /// The last metrics line.
    pub last: Option<StepMetrics>,
    /// Held-out metrics, once done.
    pub final_metrics: Option<FinalMetrics>,
}

impl RunRecord {
    /// Where the run stands: done once `final.json` is there, whatever the status says (its
    /// trainer may have finished while no manager watched), else as its status says.
    pub fn state(&self) -> RunState {
        if self.final_metrics.is_some() {
            RunState::Done
        } else {
            self.status.as_ref().map_or(RunState::Pending, |s| s.state)
        }
    }
}

/// A sweep directory. Opened locked by the one manager that drives it, unlocked by readers.
#[derive(Debug)]
pub struct RunStore {
    dir: PathBuf,
    /// The manager's lock, held for the store's lifetime.
    lock: Option<ManagerLock>,
}

impl RunStore {
    /// Opens a sweep directory for reading (`sweep status`, the results table).
    ///
    /// # Errors
    /// [`Error::NoSweep`] when the directory holds no `plan.json`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<RunStore> {
        let dir = dir.into();
        if !dir.join(layout::PLAN).is_file() {
            return Err(Error::NoSweep { dir });
        }
        Ok(RunStore { dir, lock: None })
    }

    /// Creates (if needed) and locks a sweep directory, to drive its runs.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder when another manager drives the sweep;
    /// [`Error::Io`] when the directory cannot be created.
    pub fn open_locked(dir: impl Into<PathBuf>) -> Result<RunStore> {
        let dir = dir.into();
        let runs = dir.join(layout::RUNS);
        std::fs::create_dir_all(&runs).map_err(Error::io("create", &runs))?;
        let lock = ManagerLock::acquire(&dir.join(layout::LOCK), &dir)?;
        Ok(RunStore { dir, lock: Some(lock) })
    }

    /// The sweep directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this store holds the manager's lock.
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }

    /// Who drives the sweep now, if anyone: the lock holder's note.
    ///
    /// # Errors
    /// [`Error::Io`] when the lock file exists but cannot be opened.
    pub fn manager(&self) -> Result<Option<String>> {
        if self.lock.is_some() {
            return Ok(Some(format!("pid {} (this process)", std::process::id())));
        }
        lock::holder(&self.dir.join(layout::LOCK))
    }

    /// The process id and host of the manager driving the sweep now, if any.
    ///
    /// # Errors
    /// As [`RunStore::manager`].
    pub fn manager_process(&self) -> Result<Option<(u32, String)>> {
        Ok(self.manager()?.and_then(|note| lock::parse_holder(&note)))
    }

    /// Saves the plan and the spec it came from.
    ///
    /// # Errors
    /// [`Error::NotLocked`] without the lock; [`Error::Io`] when a write fails.
    pub fn write_plan(&self, plan: &Plan, spec_text: &str) -> Result<()> {
        self.require_lock()?;
        self.write(layout::SPEC, spec_text.as_bytes())?;
        let path = self.dir.join(layout::PLAN);
        write_json_atomic(&path, plan).map_err(Error::io("write", &path))
    }

    /// Reads the saved plan.
    ///
    /// # Errors
    /// [`Error::NoSweep`] without a plan; [`Error::Corrupt`] when it cannot be parsed.
    pub fn read_plan(&self) -> Result<Plan> {
        let path = self.dir.join(layout::PLAN);
        match read_json(&path)? {
            Some(plan) => Ok(plan),
            None => Err(Error::NoSweep { dir: self.dir.clone() }),
        }
    }

    /// The saved spec's path (`sweep.toml`).
    pub fn spec_path(&self) -> PathBuf {
        self.dir.join(layout::SPEC)
    }

    /// Writes `bytes` atomically to the file `name` of the sweep directory (e.g.
    /// [`layout::LAST_INVOCATION`], the results table); returns its path.
    ///
    /// # Errors
    /// [`Error::NotLocked`] without the lock; [`Error::Io`] naming the file.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        self.require_lock()?;
        let path = self.dir.join(name);
        write_atomic(&path, bytes).map_err(Error::io("write", &path))?;
        Ok(path)
    }

    /// A run's directory.
    pub fn run_dir(&self, id: &RunId) -> PathBuf {
        self.dir.join(layout::RUNS).join(id.as_str())
    }

    /// The layout of a run's directory.
    pub fn run(&self, id: &RunId) -> RunDir {
        RunDir::new(self.run_dir(id))
    }

    /// A run's run file.
    pub fn run_file(&self, id: &RunId) -> PathBuf {
        self.run(id).run_file()
    }

    /// A run's captured output.
    pub fn stdout_path(&self, id: &RunId) -> PathBuf {
        self.run(id).stdout()
    }

    /// Creates a run's directory, its run file (once: an existing one, which may differ only
    /// in name or log cadence, is kept, since the trainer refuses a changed config) and a
    /// pending status if it has none; returns the status.
    ///
    /// # Errors
    /// [`Error::NotLocked`] without the lock; [`Error::Io`] or [`Error::Corrupt`].
    pub fn prepare(&self, run: &PlannedRun) -> Result<RunStatus> {
        self.require_lock()?;
        let dir = self.run_dir(&run.id);
        std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        let run_file = self.run_file(&run.id);
        if !run_file.exists() {
            write_atomic(&run_file, run.spec.to_toml_string().as_bytes()).map_err(Error::io("write", &run_file))?;
        }
        match self.status(&run.id)? {
            Some(status) => Ok(status),
            None => {
                let status = RunStatus::new();
                self.write_status(&run.id, &status)?;
                Ok(status)
            }
        }
    }

    /// A run's status, if it has one.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; [`Error::Corrupt`] when it cannot be parsed.
    pub fn status(&self, id: &RunId) -> Result<Option<RunStatus>> {
        read_json(&self.run(id).status())
    }

    /// Writes a run's status atomically, stamping `updated_at`.
    ///
    /// # Errors
    /// [`Error::NotLocked`] without the lock; [`Error::Io`] when the write fails.
    pub fn write_status(&self, id: &RunId, status: &RunStatus) -> Result<()> {
        self.require_lock()?;
        let mut status = status.clone();
        status.updated_at = now_rfc3339();
        let path = self.run(id).status();
        write_json_atomic(&path, &status).map_err(Error::io("write", &path))
    }

    /// Whether the trainer finished the run (`final.json` exists).
    pub fn is_finished(&self, id: &RunId) -> bool {
        self.run(id).is_finished()
    }

    /// A finished run's held-out metrics.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Corrupt`].
    pub fn final_metrics(&self, id: &RunId) -> Result<Option<FinalMetrics>> {
        read_json(&self.run(id).final_metrics())
    }

    /// The last complete line of a run's `metrics.jsonl`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file exists but cannot be read. A torn or unparsable last line
    /// (the trainer may be writing it) is skipped for the line before it.
    pub fn last_metrics(&self, id: &RunId) -> Result<Option<StepMetrics>> {
        let path = self.run(id).metrics();
        let Some(tail) = read_tail(&path, 64 * 1024)? else { return Ok(None) };
        // Only lines ended by a newline are complete.
        let complete = match tail.rfind('\n') {
            Some(end) => &tail[..end],
            None => return Ok(None),
        };
        Ok(complete.lines().rev().filter(|l| !l.trim().is_empty()).find_map(|l| serde_json::from_str(l).ok()))
    }

    /// The reason the last attempt failed, from the end of its captured output: the last
    /// `error: ` line the trainer printed, else its last non-empty line.
    ///
    /// # Errors
    /// [`Error::Io`] when the log exists but cannot be read.
    pub fn failure_reason(&self, id: &RunId) -> Result<Option<String>> {
        let Some(tail) = read_tail(&self.stdout_path(id), 16 * 1024)? else { return Ok(None) };
        let attempt = match tail.rfind(ATTEMPT_HEADER) {
            Some(start) => tail[start..].split_once('\n').map_or("", |(_, rest)| rest),
            None => tail.as_str(),
        };
        let lines: Vec<&str> = attempt.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let reason = lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .or_else(|| lines.last().copied())
            .map(|l| truncate(l, 500));
        Ok(reason)
    }

    /// Everything known about every run of `plan`, in plan order.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Corrupt`] from any run's files.
    pub fn records(&self, plan: &Plan) -> Result<Vec<RunRecord>> {
        plan.runs
            .iter()
            .map(|run| {
                Ok(RunRecord {
                    run: run.clone(),
                    status: self.status(&run.id)?,
                    last: self.last_metrics(&run.id)?,
                    final_metrics: self.final_metrics(&run.id)?,
                })
            })
            .collect()
    }

    fn require_lock(&self) -> Result<()> {
        if self.lock.is_some() {
            Ok(())
        } else {
            Err(Error::NotLocked { dir: self.dir.clone() })
        }
    }
}

/// The line that starts each attempt's section of `stdout.log`.
pub const ATTEMPT_HEADER: &str = "=== saescale sweep: attempt";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunStore::open_locked(dir.path()).unwrap();
        match RunStore::open_locked(dir.path()) {
            Err(Error::Locked { holder, .. }) => assert!(holder.contains(&format!("pid {}", std::process::id())), "{holder}"),
            other => panic!("expected Locked, got {other:?}"),
        }
        std::fs::write(dir.path().join(layout::PLAN), "{}").unwrap();
        let reader = RunStore::open(dir.path()).unwrap();
        assert_eq!(reader.manager_process().unwrap(), Some((std::process::id(), hostname())));
        drop(first);
        assert_eq!(reader.manager().unwrap(), None);
        RunStore::open_locked(dir.path()).unwrap();
    }

    #[test]
    fn last_metrics_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open_locked(dir.path()).unwrap();
        let id = RunId::parse("0123456789ab").unwrap();
        std::fs::create_dir_all(store.run_dir(&id)).unwrap();
        let path = store.run(&id).metrics();
        std::fs::write(&path, "{\"step\":1,\"loss\":2.0}\n{\"step\":2,\"loss\":1.5}\n{\"step\":3,\"lo").unwrap();
        let last = store.last_metrics(&id).unwrap().unwrap();
        assert_eq!((last.step, last.loss), (2, Some(1.5)));
    }

    #[test]
    fn failure_reason_is_the_last_error_line_of_the_last_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open_locked(dir.path()).unwrap();
        let id = RunId::parse("0123456789ab").unwrap();
        std::fs::create_dir_all(store.run_dir(&id)).unwrap();
        let log = format!("{ATTEMPT_HEADER} 1\nerror: old\n{ATTEMPT_HEADER} 2\nstep 10\nerror: disk full\n\n");
        std::fs::write(store.stdout_path(&id), log).unwrap();
        assert_eq!(store.failure_reason(&id).unwrap().as_deref(), Some("disk full"));
    }
}
