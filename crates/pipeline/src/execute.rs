//! Stages 2 and 3, execute and table: the sweep's runs trained by the local or the Slurm
//! executor, and the results table written from the store.
//!
//! [`Overrides`] are what a caller (the command line) says over the spec's `[executor]`
//! table; [`Overrides::choose`] resolves them on this machine into an [`ExecutorChoice`].
//! [`Sweep::prepare`] takes the sweep directory's lock and records the plan, giving a
//! [`Driver`] whose store a progress display can read; [`Driver::execute`] trains every
//! unfinished run and writes the results table.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use saescale_sweep::executor::local::LocalRequest;
use saescale_sweep::executor::slurm::{self, SlurmRequest};
use saescale_sweep::spec::{Count, DeviceKind, ExecutorKind, ExecutorSpec};
use saescale_sweep::store::{layout, now_rfc3339};
use saescale_sweep::supervise;
use saescale_sweep::{LocalConfig, LocalExecutor, Options, RunStore, SlurmConfig, Summary};
use saescale_table::{write_results, ResultsPaths};

use crate::sweep::Sweep;
use crate::{Error, Result};

/// The program the executors start as `<program> train <run file> --out <run dir>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trainer {
    /// Its path.
    pub program: PathBuf,
    /// Whether this saescale was built with CUDA (`--features cuda`): `auto` then picks CUDA
    /// where a GPU is visible.
    pub cuda_build: bool,
    /// Whether `program` is another program than this saescale (a wrapper, a stand-in in
    /// tests), whose CUDA support is the caller's to know.
    pub external: bool,
}

/// Settings that override the spec's `[executor]` table; `None` keeps the spec's (or the
/// default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// Local child processes or Slurm job arrays.
    pub kind: Option<ExecutorKind>,
    /// Slurm: submit and return without watching.
    pub detach: bool,
    /// Runs at a time (Slurm: the array throttle).
    pub slots: Option<usize>,
    /// CPU threads per run (Slurm: `--cpus-per-task`).
    pub threads: Option<usize>,
    /// Runs sharing one GPU (local).
    pub runs_per_gpu: Option<usize>,
    /// `auto`, `cpu` or `cuda`.
    pub device: Option<DeviceKind>,
    /// Attempts per run before it is marked failed.
    pub max_attempts: Option<u32>,
    /// Time limit of one attempt (Slurm: `--time`).
    pub timeout: Option<Duration>,
    /// Try again the runs an earlier invocation marked failed.
    pub retry_failed: bool,
}

/// Attempts per run when neither the spec nor the caller says.
const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// The executor a sweep runs with, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorChoice {
    /// Child processes on this machine.
    Local(LocalConfig),
    /// Job arrays on a Slurm cluster; `detach` returns right after submitting.
    Slurm {
        /// The resolved Slurm settings.
        config: SlurmConfig,
        /// Submit without watching.
        detach: bool,
    },
}

impl ExecutorChoice {
    /// A one-line description for the user.
    pub fn describe(&self) -> String {
        match self {
            ExecutorChoice::Local(config) => config.describe(),
            ExecutorChoice::Slurm { config, .. } => config.describe(),
        }
    }
}

impl Overrides {
    /// The executor these settings pick for `spec`, resolved on this machine.
    ///
    /// # Errors
    /// [`Error::BadInput`] for `detach` without Slurm and for settings this machine or the
    /// trainer cannot honour (CUDA without a GPU or a CUDA build, a zero count…).
    pub fn choose(&self, sweep_name: &str, spec: &ExecutorSpec, trainer: &Trainer) -> Result<ExecutorChoice> {
        match self.kind.unwrap_or(spec.kind) {
            ExecutorKind::Local if self.detach => {
                Err(Error::bad_input("--detach needs the Slurm executor (--executor slurm); local runs stop with their manager"))
            }
            ExecutorKind::Local => Ok(ExecutorChoice::Local(self.local_config(spec, trainer)?)),
            ExecutorKind::Slurm => Ok(ExecutorChoice::Slurm { config: self.slurm_config(sweep_name, spec, trainer)?, detach: self.detach }),
        }
    }

    /// The local executor's settings: these over the spec's `[executor]` table over defaults.
    ///
    /// # Errors
    /// [`Error::BadInput`] for settings this machine cannot honour.
    pub fn local_config(&self, spec: &ExecutorSpec, trainer: &Trainer) -> Result<LocalConfig> {
        let request = LocalRequest {
            device: self.device.unwrap_or(spec.device),
            slots: self.slots.or(count(spec.slots)),
            threads_per_run: self.threads.or(count(spec.threads_per_run)),
            runs_per_gpu: self.runs_per_gpu.or(count(spec.runs_per_gpu)),
        };
        LocalConfig::resolve(trainer.program.clone(), request, trainer.cuda_build, self.timeout(spec)).map_err(|e| Error::bad_input(e.to_string()))
    }

    /// The Slurm executor's settings: these over the spec's `[executor]` tables over defaults.
    ///
    /// # Errors
    /// [`Error::BadInput`] for impossible settings, or CUDA runs with a trainer built without CUDA.
    pub fn slurm_config(&self, sweep_name: &str, spec: &ExecutorSpec, trainer: &Trainer) -> Result<SlurmConfig> {
        let request = SlurmRequest {
            device: self.device.unwrap_or(spec.device),
            slots: self.slots.or(count(spec.slots)),
            threads_per_run: self.threads.or(count(spec.threads_per_run)),
            timeout: self.timeout(spec),
        };
        // Jobs start in the directory sbatch ran in, but keep the trainer's path unambiguous.
        let program = std::path::absolute(&trainer.program)
            .map_err(|source| Error::Io { action: "resolve the path of", path: trainer.program.clone(), source })?;
        let config = SlurmConfig::resolve(program, sweep_name, spec.slurm.as_ref(), request).map_err(|e| Error::bad_input(e.to_string()))?;
        if config.cuda && !trainer.cuda_build && !trainer.external {
            return Err(Error::bad_input(
                "Slurm runs would train on CUDA, but this saescale was built without `--features cuda`; \
                 build it with CUDA, or set device = \"cpu\"",
            ));
        }
        Ok(config)
    }

    /// How the drivers treat runs: attempts per run and whether failed runs are retried.
    pub fn options(&self, spec: &ExecutorSpec) -> Options {
        let max_attempts = self.max_attempts.or(spec.max_attempts.map(|c| c.0.min(u64::from(u32::MAX)) as u32));
        Options { max_attempts: max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1), retry_failed: self.retry_failed, ..Options::default() }
    }

    fn timeout(&self, spec: &ExecutorSpec) -> Option<Duration> {
        self.timeout.or(spec.timeout_minutes.map(|m| Duration::from_secs_f64(m.0 * 60.0)))
    }
}

fn count(value: Option<Count>) -> Option<usize> {
    value.map(|c| usize::try_from(c.0).unwrap_or(usize::MAX))
}

/// A sweep whose directory is locked and holds its plan, ready to execute.
#[derive(Debug)]
pub struct Driver<'a> {
    sweep: &'a Sweep,
    store: Arc<RunStore>,
    executor: ExecutorChoice,
}

/// What [`Driver::execute`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    /// Where the sweep stands.
    pub summary: Summary,
    /// The results table, written when at least one run is done.
    pub results: Option<ResultsPaths>,
    /// Slurm jobs of the sweep still queued or running (Slurm executor).
    pub in_slurm: Vec<String>,
}

impl Sweep {
    /// Locks the sweep directory (creating it), and records the plan and the spec.
    ///
    /// # Errors
    /// [`Error::Sweep`] with [`saescale_sweep::Error::Locked`] when another manager drives the
    /// sweep; [`Error::BadInput`] when the local executor is asked for while the sweep's Slurm
    /// jobs may still run; store errors.
    pub fn prepare(&self, executor: ExecutorChoice) -> Result<Driver<'_>> {
        let store = RunStore::open_locked(&self.dir)?;
        if let ExecutorChoice::Local(_) = executor {
            let jobs = slurm::in_flight_jobs(&self.dir)?;
            if !jobs.is_empty() {
                return Err(Error::bad_input(format!(
                    "runs of {dir} were submitted to Slurm (jobs {}) and may still be queued or running; watch them with \
                     --executor slurm, or cancel them first with `saescale sweep cancel {dir}`",
                    jobs.join(", "),
                    dir = self.dir.display(),
                )));
            }
        }
        store.write_plan(&self.plan, self.spec.text())?;
        Ok(Driver { sweep: self, store: Arc::new(store), executor })
    }
}

impl Driver<'_> {
    /// The locked store, for a progress display to read.
    pub fn store(&self) -> Arc<RunStore> {
        self.store.clone()
    }

    /// The executor it drives the runs with.
    pub fn executor(&self) -> &ExecutorChoice {
        &self.executor
    }

    /// Trains every unfinished run, then records this invocation's timing
    /// (`last-invocation.json`) and, once a run is done, the results table.
    ///
    /// `shutdown` asks for a graceful stop (local trainers checkpoint and exit; on Slurm the
    /// watching stops and the jobs keep running); `kill` kills local trainers.
    ///
    /// # Cancel safety
    /// As [`supervise::run`]: use `shutdown` rather than dropping the future.
    ///
    /// # Errors
    /// Store and Slurm errors, and results-table errors. Failed runs are not errors: they are
    /// in [`Summary::failed`].
    pub async fn execute(
        self,
        options: Options,
        shutdown: impl Future<Output = ()>,
        kill: impl Future<Output = ()>,
    ) -> Result<Executed> {
        let plan = &self.sweep.plan;
        let summary = match &self.executor {
            ExecutorChoice::Local(config) => {
                let executor = Arc::new(LocalExecutor::new(config.clone()));
                supervise::run(plan, self.store.clone(), executor, options, shutdown, kill).await?
            }
            ExecutorChoice::Slurm { config, detach } => slurm::run(plan, &self.store, config, &options, *detach, shutdown).await?,
        };
        write_summary(&self.store, &summary)?;
        let results = if summary.done > 0 { Some(write_results(&self.store, plan)?) } else { None };
        let in_slurm = match self.executor {
            ExecutorChoice::Slurm { .. } => slurm::in_flight_jobs(&self.sweep.dir)?,
            ExecutorChoice::Local(_) => Vec::new(),
        };
        Ok(Executed { summary, results, in_slurm })
    }
}

/// Saves an invocation's timing next to the plan (`last-invocation.json`).
fn write_summary(store: &RunStore, summary: &Summary) -> Result<()> {
    let json = serde_json::json!({
        "finished_at": now_rfc3339(),
        "total": summary.total,
        "done": summary.done,
        "already_done": summary.already_done,
        "failed": summary.failed.len(),
        "pending": summary.pending,
        "attempts_started": summary.attempts_started,
        "stopped": summary.stopped,
        "slots": summary.slots,
        "wall_s": summary.wall.as_secs_f64(),
        "busy_slot_s": summary.busy.as_secs_f64(),
        "utilisation": summary.utilisation(),
    });
    store.write(layout::LAST_INVOCATION, format!("{json:#}\n").as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trainer() -> Trainer {
        Trainer { program: PathBuf::from("/bin/true"), cuda_build: false, external: false }
    }

    #[test]
    fn overrides_win_over_the_spec_and_detach_needs_slurm() {
        let spec = ExecutorSpec { slots: Some(Count(4)), threads_per_run: Some(Count(1)), max_attempts: Some(Count(5)), ..ExecutorSpec::default() };
        let overrides = Overrides { slots: Some(2), device: Some(DeviceKind::Cpu), ..Overrides::default() };
        match overrides.choose("s", &spec, &trainer()).unwrap() {
            ExecutorChoice::Local(config) => assert_eq!(config.slots, 2),
            other => panic!("expected the local executor, got {other:?}"),
        }
        assert_eq!(overrides.options(&spec).max_attempts, 5);
        assert_eq!(Overrides { max_attempts: Some(0), ..Overrides::default() }.options(&spec).max_attempts, 1);
        assert_eq!(Overrides::default().options(&ExecutorSpec::default()).max_attempts, DEFAULT_MAX_ATTEMPTS);
        let detached = Overrides { detach: true, ..Overrides::default() };
        assert!(detached.choose("s", &spec, &trainer()).unwrap_err().is_bad_input());
    }

    #[test]
    fn cuda_on_slurm_needs_a_cuda_trainer() {
        let spec = ExecutorSpec { kind: ExecutorKind::Slurm, device: DeviceKind::Cuda, ..ExecutorSpec::default() };
        let error = Overrides::default().choose("s", &spec, &trainer()).unwrap_err();
        assert!(error.is_bad_input() && error.to_string().contains("--features cuda"), "{error}");
        let cuda = Trainer { cuda_build: true, ..trainer() };
        assert!(matches!(Overrides::default().choose("s", &spec, &cuda), Ok(ExecutorChoice::Slurm { .. })));
    }
}
