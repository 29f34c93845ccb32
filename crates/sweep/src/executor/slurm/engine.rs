//! The loop behind [`super::run`], [`super::refresh`] and [`super::cancel`]: reconcile the
//! store with the plan and the ledger, submit, poll, and apply what Slurm says to the runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use saescale_spec::atomic::write_atomic;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::ledger::{Ledger, Submission, Task};
use super::outcome::{classify, done, last_error, Ending};
use super::query::{self, Phase, Report, TaskInfo};
use super::script;
use super::SlurmConfig;
use crate::events::{Event, Options, Summary};
use crate::executor::{Outcome, Placement};
use crate::lifecycle::{self, Found, Verdict};
use crate::plan::{Plan, RunId};
use crate::store::files::read_tail;
use crate::store::{now_rfc3339, RunState, RunStatus, RunStore};
use crate::{Error, Result};

/// Slurm's default `MaxArraySize` is 1001, so task indices up to 1000.
const MAX_ARRAY_TASKS: usize = 1000;
/// Failed looks at the queue in a row (slurmctld down or overloaded) before giving up.
const MAX_POLL_ERRORS: u32 = 20;

/// A run whose Slurm task has not ended yet.
#[derive(Debug, Clone)]
struct Watch {
    submission: usize,
    task: usize,
    /// When this manager first saw the task running (since its last requeue).
    running_since: Option<Instant>,
}

pub(super) struct Engine<'a> {
    plan: &'a Plan,
    store: &'a RunStore,
    options: &'a Options,
    ledger: Ledger,
    ledger_dirty: bool,
    statuses: HashMap<RunId, RunStatus>,
    watched: BTreeMap<RunId, Watch>,
    resubmit: Vec<RunId>,
    already_done: usize,
    submitted: usize,
    cancelled: usize,
    busy: Duration,
    poll_errors: u32,
}

impl<'a> Engine<'a> {
    /// Reads the ledger of a locked store.
    pub(super) fn open(plan: &'a Plan, store: &'a RunStore, options: &'a Options) -> Result<Self> {
        if !store.is_locked() {
            return Err(Error::NotLocked { dir: store.dir().to_path_buf() });
        }
        Ok(Engine {
            plan,
            store,
            options,
            ledger: Ledger::read(store.dir())?,
            ledger_dirty: false,
            statuses: HashMap::new(),
            watched: BTreeMap::new(),
            resubmit: Vec::new(),
            already_done: 0,
            submitted: 0,
            cancelled: 0,
            busy: Duration::ZERO,
            poll_errors: 0,
        })
    }

    /// Changes a run's status and writes it if anything changed.
    fn update(&mut self, id: &RunId, change: impl FnOnce(&mut RunStatus)) -> Result<()> {
        let Some(status) = self.statuses.get_mut(id) else { return Ok(()) };
        let before = status.clone();
        change(status);
        if *status != before {
            self.store.write_status(id, status)?;
        }
        Ok(())
    }

    fn write_ledger(&mut self) -> Result<()> {
        if self.ledger_dirty {
            self.ledger.write(self.store)?;
            self.ledger_dirty = false;
        }
        Ok(())
    }

    /// Brings every run's status in line with its files and the ledger; runs with a task in
    /// flight are watched, other unfinished ones wait for submission. Returns how many runs
    /// are already done and already failed.
    pub(super) fn reconcile(&mut self) -> Result<(usize, usize)> {
        let (mut finished, mut failed) = (0, 0);
        for run in &self.plan.runs {
            let id = run.id.clone();
            let (mut status, found) = lifecycle::examine(self.store, run, self.options.retry_failed)?;
            let in_flight = self.ledger.in_flight(&id);
            match (found, in_flight) {
                (Found::Done, in_flight) => {
                    if let Some((s, t)) = in_flight {
                        // It finished while no manager watched its task.
                        let task = &mut self.ledger.submissions[s].tasks[t];
                        task.settled = true;
                        status.attempts = status.attempts.max(task.attempt);
                        status.exit_code = Some(0);
                        self.ledger_dirty = true;
                        self.store.write_status(&id, &status)?;
                    }
                    finished += 1;
                }
                (_, Some((submission, task))) => {
                    self.watched.insert(id.clone(), Watch { submission, task, running_since: None });
                }
                (Found::Failed, None) => failed += 1,
                (Found::Unfinished(why), None) => {
                    lifecycle::requeue(self.store, &id, &mut status, &why)?;
                    self.resubmit.push(id.clone());
                }
            }
            self.statuses.insert(id, status);
        }
        self.already_done = finished;
        self.write_ledger()?;
        Ok((finished, failed))
    }

    /// Submits the runs waiting for it, as arrays of at most [`MAX_ARRAY_TASKS`] tasks.
    ///
    /// # Cancel safety
    /// A submission is in the ledger (with its token) before sbatch runs, so a drop at any
    /// await leaves a job that the next manager finds, or none.
    ///
    /// # Errors
    /// [`Error::Slurm`] when sbatch refuses the job; store errors.
    async fn submit(&mut self, config: &SlurmConfig) -> Result<()> {
        let mut runs = std::mem::take(&mut self.resubmit);
        let flops = |id: &RunId| self.plan.run(id).map_or(0.0, |r| r.flops);
        runs.sort_by(|a, b| flops(b).total_cmp(&flops(a)));
        runs.dedup();
        let dir = std::fs::canonicalize(self.store.dir()).map_err(Error::io("resolve", self.store.dir()))?;
        let logs = dir.join(super::ledger::DIR).join("logs");
        std::fs::create_dir_all(&logs).map_err(Error::io("create", &logs))?;
        for chunk in runs.chunks(MAX_ARRAY_TASKS) {
            let tasks = chunk
                .iter()
                .map(|id| Task { run: id.clone(), attempt: self.statuses.get(id).map_or(0, |s| s.attempts) + 1, settled: false, restarts: 0 })
                .collect();
            let index = self.ledger.submissions.len();
            let submission = Submission {
                job_id: None,
                token: token(&dir, index),
                job_name: config.job_name.clone(),
                submitted_at: now_rfc3339(),
                script: format!("{}/submit-{index}.sh", super::ledger::DIR),
                tasks,
            };
            let script_path = dir.join(&submission.script);
            write_atomic(&script_path, script::render(config, &dir, &submission).as_bytes()).map_err(Error::io("write", &script_path))?;
            // Recorded before sbatch runs, so a manager killed meanwhile leaves a findable token.
            self.ledger.submissions.push(submission);
            self.ledger_dirty = true;
            self.write_ledger()?;
            let job = match query::run("sbatch", ["--parsable".as_ref(), script_path.as_os_str()]).await {
                Ok(out) => out.trim().split(';').next().unwrap_or("").to_string(),
                Err(error) => {
                    self.ledger.submissions.pop();
                    self.ledger_dirty = true;
                    self.write_ledger()?;
                    return Err(error);
                }
            };
            if job.is_empty() || !job.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::Slurm { command: "sbatch --parsable".into(), message: format!("unexpected answer {job:?}") });
            }
            self.ledger.submissions[index].job_id = Some(job.clone());
            self.ledger_dirty = true;
            self.write_ledger()?;
            for (task, id) in chunk.iter().enumerate() {
                self.watched.insert(id.clone(), Watch { submission: index, task, running_since: None });
                let reason = format!("queued in Slurm as job {job}_{task}");
                self.update(id, |s| {
                    s.state = RunState::Pending;
                    s.reason = Some(reason);
                })?;
            }
            self.submitted += chunk.len();
            self.options.emit(Event::Submitted { job, runs: chunk.to_vec() });
        }
        Ok(())
    }

    /// Looks at the queue once and applies what changed; returns whether anything did.
    ///
    /// # Cancel safety
    /// Cancel safe: every change is written (atomically) before the next await.
    ///
    /// # Errors
    /// Store errors; Slurm errors only after [`MAX_POLL_ERRORS`] failed looks in a row.
    pub(super) async fn poll(&mut self) -> Result<bool> {
        let before = (self.watched.len(), self.statuses.clone());
        let submissions: BTreeSet<usize> = self.watched.values().map(|w| w.submission).collect();
        for s in submissions {
            let tasks = match self.report(s).await {
                Ok(tasks) => {
                    self.poll_errors = 0;
                    tasks
                }
                Err(error) => {
                    self.poll_errors += 1;
                    if self.poll_errors > MAX_POLL_ERRORS {
                        return Err(error);
                    }
                    continue;
                }
            };
            let ids: Vec<RunId> = self.watched.iter().filter(|(_, w)| w.submission == s).map(|(id, _)| id.clone()).collect();
            for id in ids {
                let index = self.watched[&id].task as u32;
                let info = tasks.as_ref().and_then(|t| t.iter().find(|t| t.task == index));
                self.observe(&id, info)?;
            }
        }
        self.write_ledger()?;
        Ok(before != (self.watched.len(), self.statuses.clone()))
    }

    /// What Slurm says about submission `s`: `None` when it was never submitted, else the
    /// tasks Slurm still knows that are really ours (same comment or job name).
    ///
    /// # Cancel safety
    /// Cancel safe: it only reads, and marks the ledger dirty when it finds a lost job id.
    ///
    /// # Errors
    /// [`Error::Slurm`] when squeue, scontrol or sacct fail.
    async fn report(&mut self, s: usize) -> Result<Option<Vec<TaskInfo>>> {
        let submission = &self.ledger.submissions[s];
        let (comment, name, wanted) = (submission.comment(), submission.job_name.clone(), submission.tasks.len());
        let job = match submission.job_id.clone() {
            Some(job) => job,
            None => match find_by_comment(&name, &comment).await? {
                Some(job) => {
                    self.ledger.submissions[s].job_id = Some(job.clone());
                    self.ledger_dirty = true;
                    job
                }
                None => return Ok(None),
            },
        };
        let mut tasks = match query::scontrol(&job).await? {
            // A job id reused by a restarted cluster is someone else's job.
            Report::Tasks(tasks) => tasks.into_iter().filter(|t| t.comment.as_deref().is_none_or(|c| c == comment)).collect(),
            Report::Unknown => Vec::new(),
        };
        if tasks.len() < wanted {
            if let Some(Report::Tasks(more)) = query::sacct(&job).await? {
                for task in more.into_iter().filter(|t| t.name == name) {
                    if !tasks.iter().any(|k| k.task == task.task) {
                        tasks.push(task);
                    }
                }
            }
        }
        Ok(Some(tasks))
    }

    /// Applies one task's state to its run.
    fn observe(&mut self, id: &RunId, info: Option<&TaskInfo>) -> Result<()> {
        let watch = self.watched[id].clone();
        let job = self.ledger.submissions[watch.submission].job_id.clone();
        let label = job.as_ref().map(|j| format!("{j}_{}", watch.task));
        let Some(info) = info else {
            let ending = self.forgotten(id, label.as_deref())?;
            return self.settle(id, ending);
        };
        let label = info.label();
        let task = &mut self.ledger.submissions[watch.submission].tasks[watch.task];
        let requeues = info.restarts.saturating_sub(task.restarts);
        if requeues > 0 {
            task.restarts = info.restarts;
            self.ledger_dirty = true;
            self.close_running(id);
            self.update(id, |s| s.interruptions += requeues)?;
            self.options.emit(Event::Interrupted { id: id.clone() });
        }
        match info.phase() {
            Phase::Queued => {
                let mut reason = format!("queued in Slurm as job {label}");
                if let Some(why) = &info.reason {
                    reason.push_str(&format!(" ({why})"));
                }
                if info.restarts > 0 {
                    reason = format!("requeued by Slurm; {reason}; resumes from its checkpoint");
                }
                self.update(id, |s| {
                    s.state = RunState::Pending;
                    s.reason = Some(reason);
                    s.pid = None;
                })
            }
            Phase::Running if self.watched[id].running_since.is_none() => {
                if let Some(watch) = self.watched.get_mut(id) {
                    watch.running_since = Some(Instant::now());
                }
                let node = info.node.clone().unwrap_or_else(|| "?".into());
                let what = match &info.gres {
                    Some(gres) => gres.clone(),
                    None => "no GPU".into(),
                };
                let device = format!("Slurm job {label} on {node} ({what})");
                let attempt = self.ledger.submissions[watch.submission].tasks[watch.task].attempt;
                self.update(id, |s| {
                    lifecycle::start(s, node);
                    s.device = Some(device.clone());
                })?;
                self.options.emit(Event::Started { id: id.clone(), attempt, placement: Placement { device, pid: None } });
                Ok(())
            }
            Phase::Running => Ok(()),
            Phase::Ended => {
                let ending = self.classify_end(id, info)?;
                self.settle(id, ending)
            }
        }
    }

    /// Adds the time a task ran to the busy total and forgets that it runs.
    fn close_running(&mut self, id: &RunId) -> Duration {
        let ran = self.watched.get_mut(id).and_then(|w| w.running_since.take()).map_or(Duration::ZERO, |t| t.elapsed());
        self.busy += ran;
        ran
    }

    /// How a task Slurm reports as ended went.
    fn classify_end(&self, id: &RunId, info: &TaskInfo) -> Result<Ending> {
        let log = log_tail(&self.store.stdout_path(id))?;
        let trainer_exit = script::trailer_exit_code(&log, &info.label());
        let last_error = last_error(&log, &info.label());
        Ok(classify(info, self.store.is_finished(id), trainer_exit, last_error))
    }

    /// How a task ended that Slurm no longer knows (or never knew): from the run's files.
    fn forgotten(&self, id: &RunId, label: Option<&str>) -> Result<Ending> {
        let finished = self.store.is_finished(id);
        let log = log_tail(&self.store.stdout_path(id))?;
        let Some(label) = label else {
            return Ok(if finished { done("finished") } else { Ending::NotStarted });
        };
        if finished {
            return Ok(done("finished"));
        }
        if !log.contains(&format!("as Slurm job {label} ")) {
            return Ok(Ending::NotStarted);
        }
        let (array_job, task) = label.split_once('_').unwrap_or((label, "0"));
        let mut info = TaskInfo {
            array_job: array_job.to_string(),
            task: task.parse().unwrap_or(0),
            name: String::new(),
            comment: None,
            state: "FAILED".into(),
            reason: None,
            exit_code: None,
            signal: None,
            restarts: 0,
            node: None,
            gres: None,
        };
        match script::trailer_exit_code(&log, label) {
            Some(code) => {
                info.exit_code = Some(code);
                if code == 0 {
                    info.state = "COMPLETED".into();
                }
                Ok(classify(&info, false, Some(code), last_error(&log, label)))
            }
            None => Ok(Ending::Ended {
                outcome: Outcome::Failed {
                    exit_code: None,
                    signal: None,
                    reason: format!("Slurm job {label} ended while no manager watched it, and Slurm no longer knows how"),
                    retryable: true,
                },
                cancelled: false,
                how: "unknown".into(),
            }),
        }
    }

    /// Applies the end of a run's task to its status, and queues the run again when it should
    /// go on.
    fn settle(&mut self, id: &RunId, ending: Ending) -> Result<()> {
        let seconds = self.close_running(id).as_secs_f64();
        let Some(watch) = self.watched.remove(id) else { return Ok(()) };
        let task = &mut self.ledger.submissions[watch.submission].tasks[watch.task];
        task.settled = true;
        let attempt = task.attempt;
        self.ledger_dirty = true;
        let job = self.ledger.submissions[watch.submission].job_id.clone().unwrap_or_else(|| "?".into());
        let label = format!("{job}_{}", watch.task);
        let (outcome, cancelled, how) = match ending {
            Ending::NotStarted => {
                self.update(id, |s| {
                    s.state = RunState::Pending;
                    s.reason = Some(format!("Slurm job {label} never started; submitting it again"));
                })?;
                self.resubmit.push(id.clone());
                return Ok(());
            }
            Ending::Ended { outcome, cancelled, how } => (outcome, cancelled, how),
        };
        let note = if cancelled {
            format!("cancelled in Slurm (job {label}); `saescale sweep resume` resumes it from its checkpoint")
        } else {
            format!("interrupted (Slurm job {label}, {how}); resumes from its checkpoint")
        };
        let Some(status) = self.statuses.get_mut(id) else { return Ok(()) };
        let verdict = lifecycle::settle(status, attempt, outcome, self.options.max_attempts, note);
        self.store.write_status(id, status)?;
        match &verdict {
            Verdict::Done | Verdict::Failed { .. } => {}
            Verdict::Interrupted { .. } if cancelled => self.cancelled += 1,
            Verdict::Interrupted { resumes } => {
                if *resumes {
                    self.resubmit.push(id.clone());
                }
            }
            Verdict::Retry { .. } => self.resubmit.push(id.clone()),
        }
        self.options.emit(verdict.event(id, attempt, seconds));
        Ok(())
    }

    /// Submits, then watches until nothing is in flight (or at once when `detach`).
    ///
    /// # Cancel safety
    /// As [`super::run`].
    ///
    /// # Errors
    /// As [`super::run`].
    pub(super) async fn drive(mut self, config: &SlurmConfig, detach: bool, shutdown: impl Future<Output = ()>) -> Result<Summary> {
        let (done, failed) = self.reconcile()?;
        let to_run = self.resubmit.len() + self.watched.len();
        self.options.emit(Event::Reconciled { total: self.plan.runs.len(), done, failed, to_run });
        let started = Instant::now();
        if !self.watched.is_empty() {
            self.poll().await?;
        }
        tokio::pin!(shutdown);
        let mut pause = config.poll_min;
        let mut stopped = false;
        loop {
            if !self.resubmit.is_empty() {
                self.submit(config).await?;
            }
            if detach || self.watched.is_empty() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = &mut shutdown => {
                    stopped = true;
                    break;
                }
            }
            let changed = self.poll().await?;
            pause = if changed { config.poll_min } else { (pause * 2).min(config.poll_max) };
        }
        let throttle = config.throttle.unwrap_or(self.plan.runs.len());
        Ok(self.summary(started.elapsed(), stopped || self.cancelled > 0, throttle))
    }

    /// Watches the tasks in flight until they have all ended or `patience` is over (after
    /// a scancel, while trainers checkpoint).
    ///
    /// # Cancel safety
    /// As [`Engine::poll`].
    ///
    /// # Errors
    /// As [`Engine::poll`].
    pub(super) async fn watch_until_ended(&mut self, patience: Duration) -> Result<()> {
        let deadline = Instant::now() + patience;
        let mut pause = Duration::from_millis(200);
        self.poll().await?;
        while !self.watched.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(pause).await;
            self.poll().await?;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
        Ok(())
    }

    fn summary(&self, wall: Duration, stopped: bool, slots: usize) -> Summary {
        let mut summary = Summary {
            total: self.plan.runs.len(),
            done: 0,
            already_done: self.already_done,
            failed: Vec::new(),
            pending: 0,
            attempts_started: self.submitted,
            stopped,
            slots: slots.max(1),
            wall,
            busy: self.busy,
        };
        for run in &self.plan.runs {
            summary.count(&run.id, self.statuses.get(&run.id));
        }
        summary
    }
}

/// The last 64 KiB of a log (lossy UTF-8); empty when it does not exist.
fn log_tail(path: &Path) -> Result<String> {
    Ok(read_tail(path, 64 * 1024)?.unwrap_or_default())
}

/// A token no other submission has: hash of the sweep directory, the submission's index,
/// the time and this process.
fn token(dir: &Path, index: usize) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut hasher = Sha256::new();
    hasher.update(dir.as_os_str().as_encoded_bytes());
    hasher.update(format!("\n{index}\n{nanos}\n{}", std::process::id()).as_bytes());
    hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The array job id of a submission sbatch accepted but whose id was not recorded: the job
/// with this name and comment that squeue still knows.
///
/// # Cancel safety
/// Cancel safe (a read).
///
/// # Errors
/// [`Error::Slurm`] when squeue fails.
pub(super) async fn find_by_comment(name: &str, comment: &str) -> Result<Option<String>> {
    let text = query::run("squeue", ["--noheader", "--states=all", "--name", name, "--format=%F|%k"]).await?;
    Ok(text.lines().find_map(|l| l.split_once('|').filter(|(_, c)| c.trim() == comment).map(|(id, _)| id.trim().to_string())))
}
