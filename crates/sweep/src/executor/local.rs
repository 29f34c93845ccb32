//! The local executor: one `saescale train` child process per attempt, on this machine.
//!
//! Each child runs in its own process group (so a signal reaches the trainer and anything it
//! starts, and a Ctrl-C in the manager's terminal reaches only the manager), with its stdout
//! and stderr appended to the run's `stdout.log`. On a graceful stop the group gets SIGTERM
//! and the trainer checkpoints and exits 75; a kill sends SIGKILL.
//!
//! A manager killed with SIGKILL leaves its trainers running; the next manager finds them
//! through the pids in `status.json` and stops them gracefully before resuming their runs
//! (see [`crate::supervise`]). `PR_SET_PDEATHSIG` is deliberately not used: the kernel sends
//! that signal each time the child's parent *thread* exits, so the death of a multi-threaded
//! manager delivers several SIGTERMs, and a trainer's second SIGTERM means "exit now, without
//! a checkpoint".
//!
//! GPU runs are pinned with `CUDA_VISIBLE_DEVICES`: slot `i` of `G` GPUs uses GPU `i mod G`,
//! so `runs_per_gpu` runs share each GPU when there are `G × runs_per_gpu` slots.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use saescale_spec::Exit;

use super::{Executor, Job, Outcome, Placement, Stop};
use crate::machine::{cuda_driver, visible_gpus};
use crate::spec::DeviceKind;
use crate::store::{hostname, now_rfc3339, RunStore, ATTEMPT_HEADER};
use crate::{Error, Result};

/// Where local runs train.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalDevice {
    /// The CPU, with this many threads per run.
    Cpu {
        /// `--threads` of each trainer.
        threads_per_run: usize,
    },
    /// CUDA GPUs.
    Cuda {
        /// GPU ids as `CUDA_VISIBLE_DEVICES` names them.
        gpus: Vec<String>,
        /// Runs sharing one GPU.
        runs_per_gpu: usize,
    },
}

/// Settings of the local executor.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalConfig {
    /// The `saescale` binary (or anything that takes `train <run file> --out <dir> --device D
    /// [--threads N]` and follows its exit codes).
    pub program: PathBuf,
    /// Where runs train.
    pub device: LocalDevice,
    /// Runs at a time.
    pub slots: usize,
    /// Wall-clock limit of one attempt.
    pub timeout: Option<Duration>,
    /// After a timeout's SIGTERM, how long the trainer may take to checkpoint before SIGKILL.
    pub grace: Duration,
    /// Extra environment variables for every trainer (e.g. `RUST_LOG`).
    pub env: Vec<(String, String)>,
}

/// What the user asked for, before looking at the machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalRequest {
    /// `auto`, `cpu` or `cuda`.
    pub device: DeviceKind,
    /// Runs at a time.
    pub slots: Option<usize>,
    /// CPU threads per run.
    pub threads_per_run: Option<usize>,
    /// Runs per GPU.
    pub runs_per_gpu: Option<usize>,
}

impl LocalConfig {
    /// Resolves a request on this machine: GPUs visible (see [`visible_gpus`]), CPU cores.
    ///
    /// Defaults: on CUDA, one slot per GPU × `runs_per_gpu` (default 1); on the CPU,
    /// `threads_per_run` = cores / slots, or slots = cores / `threads_per_run`, or one thread
    /// per run and one run per core when neither is given. `auto` picks CUDA when `cuda_built`
    /// and a GPU is visible.
    ///
    /// # Errors
    /// [`Error::Executor`] for `cuda` without a visible GPU or a CUDA build, or a zero count.
    pub fn resolve(program: PathBuf, request: LocalRequest, cuda_built: bool, timeout: Option<Duration>) -> Result<LocalConfig> {
        let gpus = visible_gpus();
        let zero = |name: &str, v: Option<usize>| if v == Some(0) { Err(Error::Executor(format!("{name} must be at least 1"))) } else { Ok(()) };
        zero("slots", request.slots)?;
        zero("threads per run", request.threads_per_run)?;
        zero("runs per GPU", request.runs_per_gpu)?;
        let use_cuda = match request.device {
            DeviceKind::Cpu => false,
            // A GPU listed without a driver that loads (CUDA_VISIBLE_DEVICES set on a machine
            // without one) cannot train: auto falls back to the CPU.
            DeviceKind::Auto => cuda_built && !gpus.is_empty() && cuda_driver().is_ok(),
            DeviceKind::Cuda if !cuda_built => {
                return Err(Error::Executor("device cuda needs a saescale built with `--features cuda`".into()));
            }
            DeviceKind::Cuda => {
                let what_to_do = "use --device cpu (or device = \"cpu\" in the spec's [executor]), or run where an NVIDIA GPU and its driver are";
                if let Err(reason) = cuda_driver() {
                    return Err(Error::Executor(format!("device cuda, but {reason}; {what_to_do}")));
                }
                if gpus.is_empty() {
                    return Err(Error::Executor(format!("device cuda, but no GPU is visible (nvidia-smi, CUDA_VISIBLE_DEVICES); {what_to_do}")));
                }
                true
            }
        };
        let (device, slots) = if use_cuda {
            let runs_per_gpu = request.runs_per_gpu.unwrap_or(1);
            let slots = request.slots.unwrap_or(gpus.len() * runs_per_gpu);
            (LocalDevice::Cuda { gpus, runs_per_gpu }, slots)
        } else {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let (slots, threads) = match (request.slots, request.threads_per_run) {
                (Some(slots), Some(threads)) => (slots, threads),
                (Some(slots), None) => (slots, (cores / slots).max(1)),
                (None, Some(threads)) => ((cores / threads).max(1), threads),
                (None, None) => (cores, 1),
            };
            (LocalDevice::Cpu { threads_per_run: threads }, slots)
        };
        Ok(LocalConfig { program, device, slots, timeout, grace: Duration::from_secs(60), env: Vec::new() })
    }

    /// `--device` argument, extra environment and description of a slot.
    fn placement(&self, slot: usize) -> (String, Option<String>, String) {
        match &self.device {
            LocalDevice::Cpu { threads_per_run } => {
                let plural = if *threads_per_run == 1 { "" } else { "s" };
                ("cpu".into(), None, format!("cpu ({threads_per_run} thread{plural})"))
            }
            LocalDevice::Cuda { gpus, .. } => {
                let gpu = gpus[slot % gpus.len()].clone();
                ("cuda:0".into(), Some(gpu.clone()), format!("cuda:0 (CUDA_VISIBLE_DEVICES={gpu})"))
            }
        }
    }

    /// A one-line description for the user, e.g. `2 slots, cpu (1 thread)`.
    pub fn describe(&self) -> String {
        let what = match &self.device {
            LocalDevice::Cpu { threads_per_run } => format!("cpu, {threads_per_run} thread(s) per run"),
            LocalDevice::Cuda { gpus, runs_per_gpu } => format!("cuda, GPUs [{}], {runs_per_gpu} run(s) per GPU", gpus.join(",")),
        };
        format!("{} slot(s), {what}", self.slots)
    }
}

/// Asks the local manager driving the sweep in `store` to stop gracefully, as Ctrl-C in its
/// terminal would: SIGTERM to its process, after which its trainers checkpoint and exit.
/// Returns the manager's pid, or `None` when no manager drives the sweep.
///
/// # Errors
/// [`Error::Executor`] when the manager runs on another host or cannot be signalled.
pub fn stop_manager(store: &RunStore) -> Result<Option<u32>> {
    let Some((pid, host)) = store.manager_process()? else { return Ok(None) };
    if host != hostname() {
        return Err(Error::Executor(format!("the manager (pid {pid}) runs on {host}; run this there")));
    }
    // SAFETY: kill has no memory effects; the pid is the lock holder's, alive while it holds it.
    if unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) } != 0 {
        return Err(Error::Executor(format!("cannot signal the manager (pid {pid}): {}", std::io::Error::last_os_error())));
    }
    Ok(Some(pid))
}

/// The local executor.
#[derive(Debug, Clone)]
pub struct LocalExecutor {
    config: LocalConfig,
}

impl LocalExecutor {
    /// An executor with these settings.
    pub fn new(config: LocalConfig) -> Self {
        LocalExecutor { config }
    }

    /// Its settings.
    pub fn config(&self) -> &LocalConfig {
        &self.config
    }

    /// Starts the trainer for `job` in its own process group.
    fn spawn(&self, job: &Job) -> Result<(Child, String)> {
        let log_path = saescale_spec::layout::RunDir::new(&job.run_dir).stdout();
        let mut log = OpenOptions::new().create(true).append(true).open(&log_path).map_err(Error::io("open", &log_path))?;
        let (device, cuda_visible, description) = self.config.placement(job.slot);
        writeln!(log, "{ATTEMPT_HEADER} {} on {} at {}, device {description}", job.attempt, hostname(), now_rfc3339())
            .map_err(Error::io("write", &log_path))?;
        let stderr = log.try_clone().map_err(Error::io("open", &log_path))?;

        let mut command = Command::new(&self.config.program);
        command.arg("train").arg(&job.run_file).arg("--out").arg(&job.run_dir).arg("--device").arg(device);
        if let LocalDevice::Cpu { threads_per_run } = self.config.device {
            command.arg("--threads").arg(threads_per_run.to_string());
        }
        command.envs(self.config.env.iter().map(|(k, v)| (k, v)));
        if let Some(gpu) = cuda_visible {
            command.env("CUDA_VISIBLE_DEVICES", gpu);
        }
        command.stdin(Stdio::null()).stdout(log).stderr(stderr).process_group(0).kill_on_drop(true);
        let child = command.spawn().map_err(|source| Error::Spawn { program: self.config.program.clone(), source })?;
        Ok((child, description))
    }

    /// SIGTERM to the group, then wait for the child: until `stop.kill`, or `grace` if given.
    ///
    /// # Cancel safety
    /// Dropping it leaves the child to `kill_on_drop`.
    async fn terminate(child: &mut Child, stop: &Stop, grace: Option<Duration>) -> std::io::Result<ExitStatus> {
        signal_group(child, libc::SIGTERM);
        let grace_over = async {
            match grace {
                Some(grace) => tokio::time::sleep(grace).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = child.wait() => status,
            _ = stop.kill.cancelled() => Self::kill(child).await,
            _ = grace_over => Self::kill(child).await,
        }
    }

    /// SIGKILL to the group, then reap the child.
    ///
    /// # Cancel safety
    /// Dropping it after the signal leaves the child to `kill_on_drop`.
    async fn kill(child: &mut Child) -> std::io::Result<ExitStatus> {
        signal_group(child, libc::SIGKILL);
        child.wait().await
    }
}

/// Sends `signal` to the child's process group (its pid, since it leads the group).
fn signal_group(child: &Child, signal: libc::c_int) {
    if let Some(pid) = child.id() {
        // SAFETY: killpg has no memory effects; a group that is already gone gives ESRCH,
        // which is fine to ignore: there is nothing left to signal.
        unsafe {
            libc::killpg(pid as libc::pid_t, signal);
        }
    }
}

/// Why the manager ended an attempt early.
enum Ended {
    Naturally,
    Stopped,
    TimedOut,
    Killed,
}

impl Executor for LocalExecutor {
    fn slots(&self) -> usize {
        self.config.slots
    }

    async fn execute(
        &self,
        job: &Job,
        store: &RunStore,
        stop: &Stop,
        on_start: &(dyn Fn(Placement) + Send + Sync),
    ) -> Result<Outcome> {
        let (mut child, device) = self.spawn(job)?;
        on_start(Placement { device, pid: child.id() });
        let timeout = self.config.timeout;
        let timed_out = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let grace = self.config.grace;
        let (status, ended) = tokio::select! {
            status = child.wait() => (status, Ended::Naturally),
            _ = stop.graceful.cancelled() => (Self::terminate(&mut child, stop, None).await, Ended::Stopped),
            _ = stop.kill.cancelled() => (Self::kill(&mut child).await, Ended::Killed),
            _ = timed_out => (Self::terminate(&mut child, stop, Some(grace)).await, Ended::TimedOut),
        };
        let status = status.map_err(Error::io("wait for", &self.config.program))?;
        let reason = || store.failure_reason(&job.id).ok().flatten();
        Ok(classify(status, ended, timeout, reason, store.is_finished(&job.id)))
    }
}

/// Turns how a child ended into an [`Outcome`].
fn classify(status: ExitStatus, ended: Ended, timeout: Option<Duration>, reason: impl Fn() -> Option<String>, finished: bool) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    let code = status.code();
    let signal = status.signal();
    let with_log = |what: String| match reason() {
        Some(last) => format!("{what}: {last}"),
        None => what,
    };
    if code == Some(Exit::Ok.into()) {
        return if finished {
            Outcome::Done
        } else {
            Outcome::Failed { exit_code: code, signal, reason: "the trainer exited 0 without writing final.json".into(), retryable: true }
        };
    }
    match ended {
        Ended::TimedOut => {
            let limit = timeout.map_or_else(String::new, |t| format!(" after {}", crate::plan::format_duration(t.as_secs_f64())));
            return Outcome::Failed { exit_code: code, signal, reason: format!("timed out{limit}"), retryable: true };
        }
        Ended::Stopped | Ended::Killed if code == Some(Exit::Interrupted.into()) || signal.is_some() => return Outcome::Interrupted,
        _ => {}
    }
    match (code, signal) {
        (Some(c), _) => Outcome::of_exit(c, signal, with_log),
        (None, Some(s)) => {
            let hint = if s == libc::SIGKILL { " (SIGKILL: out of memory?)" } else { "" };
            Outcome::Failed { exit_code: None, signal, reason: with_log(format!("killed by signal {s}{hint}")), retryable: true }
        }
        (None, None) => Outcome::Failed { exit_code: None, signal: None, reason: "ended without an exit code".into(), retryable: true },
    }
}
