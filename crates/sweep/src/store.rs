//! The run store: a sweep's directory on disk, the single source of truth about its runs.
//!
//! ```text
//! <sweep dir>/
//!   manager.lock        flock held by the live manager; holds "pid N on HOST since TIME"
//!   sweep.toml          the spec as last run
//!   plan.json           the resolved plan (ids, F, steps, FLOP, run specs)
//!   results.parquet     one row per run (written by the report crate)
//!   results.csv
//!   runs/<id>/
//!     run.toml          the resolved run file the trainer reads (written once)
//!     status.json       pending | running | done | failed, reason, attempts, times, host, device, pid
//!     stdout.log        the trainer's stdout and stderr, every attempt appended under a header
//!     config.json       }
//!     metrics.jsonl     } written by `saescale train`
//!     final.json        } (final.json last: its presence means the run is done)
//!     checkpoint/       }
//! ```
//!
//! Every file the manager writes is written atomically: a temporary file in the same
//! directory, fsync, rename, fsync of the directory. So a kill -9 at any moment leaves each
//! file either old or new, never half written. `final.json` outranks `status.json`: a run
//! whose trainer finished while its manager died is done.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::plan::{Plan, PlannedRun, RunId};
use crate::{Error, Result};

/// File names inside the sweep directory and run directories.
pub mod names {
    /// The manager's lock.
    pub const LOCK: &str = "manager.lock";
    /// The spec as last run.
    pub const SPEC: &str = "sweep.toml";
    /// The resolved plan.
    pub const PLAN: &str = "plan.json";
    /// The directory of run directories.
    pub const RUNS: &str = "runs";
    /// A run's run file.
    pub const RUN_FILE: &str = "run.toml";
    /// A run's status.
    pub const STATUS: &str = "status.json";
    /// A run's captured output.
    pub const STDOUT: &str = "stdout.log";
    /// A run's training log (trainer).
    pub const METRICS: &str = "metrics.jsonl";
    /// A run's held-out metrics (trainer; written last).
    pub const FINAL: &str = "final.json";
    /// A run's resolved config (trainer).
    pub const CONFIG: &str = "config.json";
    /// A run's checkpoint directory (trainer).
    pub const CHECKPOINT: &str = "checkpoint";
}

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

/// One line of the trainer's `metrics.jsonl`. Fields the trainer may leave out are optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsLine {
    /// Optimiser steps done.
    pub step: u64,
    /// Training tokens seen.
    #[serde(default)]
    pub tokens: Option<u64>,
    /// Training loss.
    #[serde(default)]
    pub loss: Option<f64>,
    /// Mean squared error.
    #[serde(default)]
    pub mse: Option<f64>,
    /// Fraction of variance unexplained.
    #[serde(default)]
    pub fvu: Option<f64>,
    /// Sparsity penalty.
    #[serde(default)]
    pub l1: Option<f64>,
    /// Mean active latents per token.
    #[serde(default)]
    pub l0: Option<f64>,
    /// Fraction of dead latents.
    #[serde(default)]
    pub dead_fraction: Option<f64>,
    /// Current learning rate.
    #[serde(default)]
    pub lr: Option<f64>,
    /// Current λ.
    #[serde(default)]
    pub l1_coefficient: Option<f64>,
    /// Training throughput.
    #[serde(default)]
    pub tokens_per_s: Option<f64>,
    /// Seconds of training so far.
    #[serde(default)]
    pub elapsed_s: Option<f64>,
}

/// The trainer's `final.json`: held-out metrics of the finished run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FinalMetrics {
    /// Held-out loss.
    #[serde(default)]
    pub loss: Option<f64>,
    /// Held-out MSE.
    #[serde(default)]
    pub mse: Option<f64>,
    /// Held-out FVU.
    #[serde(default)]
    pub fvu: Option<f64>,
    /// Held-out sparsity penalty.
    #[serde(default)]
    pub l1: Option<f64>,
    /// Held-out L0.
    #[serde(default)]
    pub l0: Option<f64>,
    /// Dead fraction at the end of training.
    #[serde(default)]
    pub dead_fraction: Option<f64>,
    /// Training FLOP, as the trainer counted them.
    #[serde(default)]
    pub flops: Option<f64>,
    /// Steps trained.
    #[serde(default)]
    pub steps: Option<u64>,
    /// Tokens trained on.
    #[serde(default)]
    pub tokens: Option<u64>,
    /// Wall time of the training, seconds.
    #[serde(default)]
    pub wall_s: Option<f64>,
    /// Any other numbers the trainer wrote.
    #[serde(flatten)]
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Everything the store knows about one planned run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The run as planned.
    pub run: PlannedRun,
    /// Its status, if the run directory exists.
    pub status: Option<RunStatus>,
    /// The last metrics line.
    pub last: Option<MetricsLine>,
    /// Held-out metrics, once done.
    pub final_metrics: Option<FinalMetrics>,
}

/// A sweep directory. Opened locked by the one manager that drives it, unlocked by readers.
#[derive(Debug)]
pub struct RunStore {
    dir: PathBuf,
    /// The manager's lock, held for the store's lifetime (closing the file releases it).
    lock: Option<File>,
}

impl RunStore {
    /// Opens a sweep directory for reading (`sweep status`, the results table).
    ///
    /// # Errors
    /// [`Error::NoSweep`] when the directory holds no `plan.json`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<RunStore> {
        let dir = dir.into();
        if !dir.join(names::PLAN).is_file() {
            return Err(Error::NoSweep { dir });
        }
        Ok(RunStore { dir, lock: None })
    }

    /// Creates (if needed) and locks a sweep directory, to drive its runs.
    ///
    /// The lock is an advisory `flock` on `manager.lock`, released by the kernel when the
    /// manager exits in any way, kill -9 included, so a dead manager never blocks the next.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder when another manager drives the sweep;
    /// [`Error::Io`] when the directory cannot be created.
    pub fn open_locked(dir: impl Into<PathBuf>) -> Result<RunStore> {
        let dir = dir.into();
        fs::create_dir_all(dir.join(names::RUNS)).map_err(Error::io("create", dir.join(names::RUNS)))?;
        let path = dir.join(names::LOCK);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(Error::io("open", &path))?;
        if !flock(&file, libc::LOCK_EX | libc::LOCK_NB).map_err(Error::io("lock", &path))? {
            let mut holder = String::new();
            // The holder's note is for the message only; an unreadable one still means locked.
            let _ = file.read_to_string(&mut holder);
            let holder = if holder.trim().is_empty() { "holder unknown".to_string() } else { holder.trim().to_string() };
            return Err(Error::Locked { dir, holder });
        }
        let note = format!("pid {} on {} since {}\n", std::process::id(), hostname(), now_rfc3339());
        file.set_len(0).and_then(|_| file.seek(SeekFrom::Start(0))).and_then(|_| file.write_all(note.as_bytes())).map_err(Error::io("write", &path))?;
        Ok(RunStore { dir, lock: Some(file) })
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
        let path = self.dir.join(names::LOCK);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open", &path)(e)),
        };
        // A shared lock succeeds only while no manager holds the exclusive one; it is
        // released when `file` is closed at the end of this function.
        if flock(&file, libc::LOCK_SH | libc::LOCK_NB).map_err(Error::io("lock", &path))? {
            return Ok(None);
        }
        let mut holder = String::new();
        file.read_to_string(&mut holder).map_err(Error::io("read", &path))?;
        Ok(Some(holder.trim().to_string()))
    }

    /// The process id and host of the manager driving the sweep now, if any.
    ///
    /// # Errors
    /// As [`RunStore::manager`].
    pub fn manager_process(&self) -> Result<Option<(u32, String)>> {
        Ok(self.manager()?.and_then(|note| parse_holder(&note)))
    }

    /// Saves the plan and the spec it came from.
    ///
    /// # Errors
    /// [`Error::NotLocked`] without the lock; [`Error::Io`] when a write fails.
    pub fn write_plan(&self, plan: &Plan, spec_text: &str) -> Result<()> {
        self.require_lock()?;
        write_atomic(&self.dir.join(names::SPEC), spec_text.as_bytes())?;
        write_json(&self.dir.join(names::PLAN), plan)
    }

    /// Reads the saved plan.
    ///
    /// # Errors
    /// [`Error::NoSweep`] without a plan; [`Error::Corrupt`] when it cannot be parsed.
    pub fn read_plan(&self) -> Result<Plan> {
        let path = self.dir.join(names::PLAN);
        match read_json(&path)? {
            Some(plan) => Ok(plan),
            None => Err(Error::NoSweep { dir: self.dir.clone() }),
        }
    }

    /// The saved spec's path (`sweep.toml`).
    pub fn spec_path(&self) -> PathBuf {
        self.dir.join(names::SPEC)
    }

    /// A run's directory.
    pub fn run_dir(&self, id: &RunId) -> PathBuf {
        self.dir.join(names::RUNS).join(id.as_str())
    }

    /// A run's run file.
    pub fn run_file(&self, id: &RunId) -> PathBuf {
        self.run_dir(id).join(names::RUN_FILE)
    }

    /// A run's captured output.
    pub fn stdout_path(&self, id: &RunId) -> PathBuf {
        self.run_dir(id).join(names::STDOUT)
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
        fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        let run_file = dir.join(names::RUN_FILE);
        if !run_file.exists() {
            write_atomic(&run_file, run.spec.to_toml_string().as_bytes())?;
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
        read_json(&self.run_dir(id).join(names::STATUS))
    }

    /// Writes a run's status atomically, stamping `updated_at`.
    ///
    /// # Errors
    /// [`Error::NotLocked`] without the lock; [`Error::Io`] when the write fails.
    pub fn write_status(&self, id: &RunId, status: &RunStatus) -> Result<()> {
        self.require_lock()?;
        let mut status = status.clone();
        status.updated_at = now_rfc3339();
        write_json(&self.run_dir(id).join(names::STATUS), &status)
    }

    /// Whether the trainer finished the run (`final.json` exists).
    pub fn is_finished(&self, id: &RunId) -> bool {
        self.run_dir(id).join(names::FINAL).is_file()
    }

    /// A finished run's held-out metrics.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Corrupt`].
    pub fn final_metrics(&self, id: &RunId) -> Result<Option<FinalMetrics>> {
        read_json(&self.run_dir(id).join(names::FINAL))
    }

    /// The last complete line of a run's `metrics.jsonl`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file exists but cannot be read. A torn or unparsable last line
    /// (the trainer may be writing it) is skipped for the line before it.
    pub fn last_metrics(&self, id: &RunId) -> Result<Option<MetricsLine>> {
        let path = self.run_dir(id).join(names::METRICS);
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

/// Reads back the note [`RunStore::open_locked`] writes: `pid N on HOST since TIME`.
fn parse_holder(note: &str) -> Option<(u32, String)> {
    let rest = note.strip_prefix("pid ")?;
    let (pid, rest) = rest.split_once(" on ")?;
    let host = rest.split_once(" since ").map_or(rest, |(host, _)| host);
    Some((pid.parse().ok()?, host.to_string()))
}

/// The line that starts each attempt's section of `stdout.log`.
pub const ATTEMPT_HEADER: &str = "=== saescale sweep: attempt";

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max_chars).collect();
        cut.push('…');
        cut
    }
}

/// `flock(2)` without blocking: `Ok(true)` when the lock was taken, `Ok(false)` when held elsewhere.
fn flock(file: &File, operation: libc::c_int) -> std::io::Result<bool> {
    // SAFETY: flock only reads the descriptor, which `file` keeps open for this call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), operation) };
    if rc == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(error)
    }
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the directory.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("write", path)(e)
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    // Plain structs of numbers, strings and enums always serialise.
    let mut text = serde_json::to_string_pretty(value).expect("store types always serialise to JSON");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Reads and parses a JSON file; `Ok(None)` when it does not exist.
fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path)(e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| Error::Corrupt { path: path.to_path_buf(), reason: e.to_string() })
}

/// The last `max_bytes` of a file (lossy UTF-8, starting at a line boundary when cut);
/// `Ok(None)` when it does not exist.
fn read_tail(path: &Path, max_bytes: u64) -> Result<Option<String>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path)(e)),
    };
    let mut read = || -> std::io::Result<String> {
        let len = file.metadata()?.len();
        let start = len.saturating_sub(max_bytes);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(if start > 0 { text.split_once('\n').map_or(String::new(), |(_, rest)| rest.to_string()) } else { text })
    };
    read().map(Some).map_err(Error::io("read", path))
}

/// This machine's host name.
pub fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `buffer.len()` bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// The current time as RFC 3339 in UTC, to the second, e.g. `2025-01-31T12:00:00Z`.
pub fn now_rfc3339() -> String {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    rfc3339(seconds)
}

/// Unix seconds as RFC 3339 in UTC.
///
/// ## Reference
/// Days to civil date: H. Hinnant, "chrono-Compatible Low-Level Date Algorithms",
/// `civil_from_days`.
pub fn rfc3339(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let rem = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Parses [`rfc3339`]'s own output back to unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Civil date to days: Hinnant's `days_from_civil`.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // `date -u -d @1700000000` → Tue Nov 14 22:13:20 UTC 2023.
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
    }

    #[test]
    fn atomic_writes_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"1").unwrap();
        write_atomic(&path, b"2").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "2");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn second_lock_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunStore::open_locked(dir.path()).unwrap();
        match RunStore::open_locked(dir.path()) {
            Err(Error::Locked { holder, .. }) => assert!(holder.contains(&format!("pid {}", std::process::id())), "{holder}"),
            other => panic!("expected Locked, got {other:?}"),
        }
        fs::write(dir.path().join(names::PLAN), "{}").unwrap();
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
        fs::create_dir_all(store.run_dir(&id)).unwrap();
        let path = store.run_dir(&id).join(names::METRICS);
        fs::write(&path, "{\"step\":1,\"loss\":2.0}\n{\"step\":2,\"loss\":1.5}\n{\"step\":3,\"lo").unwrap();
        let last = store.last_metrics(&id).unwrap().unwrap();
        assert_eq!((last.step, last.loss), (2, Some(1.5)));
    }

    #[test]
    fn failure_reason_is_the_last_error_line_of_the_last_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open_locked(dir.path()).unwrap();
        let id = RunId::parse("0123456789ab").unwrap();
        fs::create_dir_all(store.run_dir(&id)).unwrap();
        let log = format!("{ATTEMPT_HEADER} 1\nerror: old\n{ATTEMPT_HEADER} 2\nstep 10\nerror: disk full\n\n");
        fs::write(store.stdout_path(&id), log).unwrap();
        assert_eq!(store.failure_reason(&id).unwrap().as_deref(), Some("disk full"));
    }
}
