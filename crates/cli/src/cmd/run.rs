//! `saescale run <spec>`: plan → train every run → results table → fit → report (reports/<name>/).
//! `drive` is also the engine of `saescale sweep resume`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use saescale_sweep::executor::local::LocalRequest;
use saescale_sweep::executor::slurm::{self, SlurmRequest};
use saescale_sweep::plan::{format_duration, format_flops};
use saescale_sweep::spec::{DeviceKind, ExecutorKind, ExecutorSpec};
use saescale_sweep::store::write_atomic;
use saescale_sweep::supervise::{self, Event, Options, Summary};
use saescale_sweep::{LocalConfig, LocalExecutor, Plan, RunId, RunStore, SlurmConfig, SweepSpec};

use crate::exit;

/// Run a sweep: plan it, train every run, and collect the results table.
///
/// When every run is done it fits the joint law (<dir>/fit.json, as `saescale fit <dir>`) and
/// writes the report to reports/<name>/ (as `saescale report <dir>`).
///
/// Runs are stored in the sweep directory (default runs/<name>/): runs/<id>/ holds each run's
/// run file, status, metrics, checkpoint and output. Running the same spec again skips
/// finished runs and resumes unfinished ones from their checkpoints, also after a crash or a
/// kill -9 of this command. Ctrl-C (or SIGTERM) stops gracefully: trainers checkpoint and
/// exit, and the sweep can be resumed; a second Ctrl-C kills them.
///
/// With the Slurm executor (--executor slurm, or kind = "slurm" in the spec's [executor]),
/// runs are submitted as sbatch job arrays and watched until they end; Ctrl-C only stops the
/// watching (the jobs keep running), and --detach exits right after submitting. `saescale
/// sweep status|resume|cancel <dir>` look after the jobs later.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sweep spec (TOML), e.g. sweeps/quickstart.toml.
    pub spec: PathBuf,
    /// The sweep directory [default: runs/<name> from the spec].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub executor: ExecutorArgs,
}

/// How runs are executed; each flag overrides the spec's [executor] table.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExecutorArgs {
    /// Where runs train: local (child processes on this machine) or slurm (sbatch job arrays,
    /// settings from the spec's [executor.slurm]) [default: the spec's, else local].
    #[arg(long = "executor", value_parser = parse_kind)]
    pub kind: Option<ExecutorKind>,
    /// Slurm: submit the runs and exit; `saescale sweep status` maps the queue onto the store
    /// later, `sweep resume` watches again, `sweep cancel` cancels.
    #[arg(long)]
    pub detach: bool,
    /// Runs at a time [default: GPUs × runs per GPU, or CPU cores / threads per run; on Slurm,
    /// the job array's throttle %N, default none].
    #[arg(long)]
    pub slots: Option<usize>,
    /// CPU threads per run [default: CPU cores / slots; on Slurm, --cpus-per-task, default 1].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Runs sharing one GPU [default: 1].
    #[arg(long)]
    pub runs_per_gpu: Option<usize>,
    /// Where runs train: auto, cpu or cuda [default: the spec's, else auto].
    #[arg(long, value_parser = parse_device)]
    pub device: Option<DeviceKind>,
    /// Attempts per run before it is marked failed [default: 3].
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Time limit of one attempt, e.g. 90s, 30m, 2h (a bare number is minutes; on Slurm, --time).
    #[arg(long, value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Try again the runs an earlier invocation marked failed.
    #[arg(long)]
    pub retry_failed: bool,
    /// Plain lines instead of progress bars, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// The trainer program [default: this saescale binary, or $SAESCALE_TRAINER].
    #[arg(long, hide = true)]
    pub trainer: Option<PathBuf>,
}

fn parse_device(text: &str) -> Result<DeviceKind, String> {
    match text {
        "auto" => Ok(DeviceKind::Auto),
        "cpu" => Ok(DeviceKind::Cpu),
        "cuda" => Ok(DeviceKind::Cuda),
        other => Err(format!("expected auto, cpu or cuda, got {other:?} (runs are pinned to GPUs by the sweep)")),
    }
}

fn parse_kind(text: &str) -> Result<ExecutorKind, String> {
    match text {
        "local" => Ok(ExecutorKind::Local),
        "slurm" => Ok(ExecutorKind::Slurm),
        other => Err(format!("expected local or slurm, got {other:?}")),
    }
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "m"),
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("expected a duration such as 90s, 30m or 2h, got {text:?}"))?;
    let seconds = match unit {
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit {other:?}: use s, m or h")),
    };
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(format!("expected a positive duration, got {text:?}"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl ExecutorArgs {
    /// The local executor's settings: flags over the spec's [executor] table over defaults.
    pub fn local_config(&self, spec: &ExecutorSpec) -> anyhow::Result<LocalConfig> {
        let count = |c: Option<saescale_sweep::spec::Count>| c.map(|c| c.0 as usize);
        let request = LocalRequest {
            device: self.device.unwrap_or(spec.device),
            slots: self.slots.or(count(spec.slots)),
            threads_per_run: self.threads.or(count(spec.threads_per_run)),
            runs_per_gpu: self.runs_per_gpu.or(count(spec.runs_per_gpu)),
        };
        LocalConfig::resolve(self.program()?, request, cfg!(feature = "cuda"), self.timeout(spec)).map_err(|e| exit::bad_input(e.to_string()))
    }

    /// The Slurm executor's settings: flags over the spec's [executor] tables over defaults.
    pub fn slurm_config(&self, sweep_name: &str, spec: &ExecutorSpec) -> anyhow::Result<SlurmConfig> {
        let count = |c: Option<saescale_sweep::spec::Count>| c.map(|c| c.0 as usize);
        let request = SlurmRequest {
            device: self.device.unwrap_or(spec.device),
            slots: self.slots.or(count(spec.slots)),
            threads_per_run: self.threads.or(count(spec.threads_per_run)),
            timeout: self.timeout(spec),
        };
        // Jobs start in the directory sbatch ran in, but keep the trainer's path unambiguous.
        let program = std::path::absolute(self.program()?).context("cannot resolve the trainer's path")?;
        let config = SlurmConfig::resolve(program, sweep_name, spec.slurm.as_ref(), request).map_err(|e| exit::bad_input(e.to_string()))?;
        if config.cuda && self.trainer.is_none() && std::env::var_os("SAESCALE_TRAINER").is_none() && !cfg!(feature = "cuda") {
            return Err(exit::bad_input(
                "Slurm runs would train on CUDA, but this saescale was built without `--features cuda`; \
                 build it with CUDA, or set device = \"cpu\"",
            ));
        }
        Ok(config)
    }

    /// The executor the flags or the spec name.
    pub fn kind(&self, spec: &ExecutorSpec) -> ExecutorKind {
        self.kind.unwrap_or(spec.kind)
    }

    fn timeout(&self, spec: &ExecutorSpec) -> Option<Duration> {
        self.timeout.or(spec.timeout_minutes.map(|m| Duration::from_secs_f64(m.0 * 60.0)))
    }

    /// The trainer: `--trainer`, else $SAESCALE_TRAINER, else this binary.
    fn program(&self) -> anyhow::Result<PathBuf> {
        Ok(match (&self.trainer, std::env::var_os("SAESCALE_TRAINER")) {
            (Some(path), _) => path.clone(),
            (None, Some(path)) if !path.is_empty() => PathBuf::from(path),
            _ => std::env::current_exe().context("cannot find the saescale binary to start trainers")?,
        })
    }

    /// Attempts per run.
    pub fn max_attempts(&self, spec: &ExecutorSpec) -> u32 {
        self.max_attempts.or(spec.max_attempts.map(|c| c.0.min(u32::MAX as u64) as u32)).unwrap_or(3).max(1)
    }
}

/// Reads and plans a spec; spec errors are bad input (exit 2).
pub fn load_plan(path: &Path) -> anyhow::Result<(SweepSpec, Plan)> {
    let spec = SweepSpec::from_file(path).map_err(|error| match error {
        // Its only I/O is reading the spec: a missing or unreadable spec is bad input.
        saescale_sweep::Error::Io { .. } => exit::bad_input(error.to_string()),
        other => sweep_error(other),
    })?;
    let plan = Plan::new(&spec).map_err(sweep_error)?;
    Ok((spec, plan))
}

/// Maps the sweep library's errors to the CLI's: spec errors are bad input.
pub fn sweep_error(error: saescale_sweep::Error) -> anyhow::Error {
    match error {
        saescale_sweep::Error::Spec(spec) => exit::bad_input(spec.to_string()),
        saescale_sweep::Error::NoSweep { .. } => exit::bad_input(error.to_string()),
        other => anyhow::Error::new(other),
    }
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let (spec, plan) = load_plan(&args.spec)?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("runs").join(&spec.name));
    let code = drive(&spec, &plan, &dir, &args.executor)?;
    if code != exit::OK || args.executor.detach {
        return Ok(code);
    }
    fit_sweep(&dir)?;
    // The report goes to reports/<name>/ (issue 7), next to the runs/ directory by default.
    crate::cmd::report::for_sweep(&dir, &spec.name)
}

/// Fits the joint law to a finished sweep's results table: `<dir>/fit.json`.
///
/// A sweep the law cannot be fitted to (too few runs, say) is not a failed sweep: its runs
/// and table stand, so the problem is reported as a warning and the report is drawn without
/// a fit. A fit.json left from an earlier invocation is removed so it cannot be mistaken for
/// a fit of these runs.
fn fit_sweep(dir: &Path) -> anyhow::Result<()> {
    let out = dir.join("fit.json");
    eprintln!("fitting L(F, S) = E + A/F^alpha + B/S^beta to {}", dir.display());
    match crate::cmd::fit::run(crate::cmd::fit::Args::for_sweep(dir, &out)?) {
        Ok(_) => Ok(()),
        Err(error) if exit::code_of(&error) == exit::BAD_INPUT => {
            eprintln!("warning: no fit of this sweep: {error:#}");
            match std::fs::remove_file(&out) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(anyhow::Error::new(e).context(format!("cannot remove the stale {}", out.display())))
                }
                _ => Ok(()),
            }
        }
        Err(error) => Err(error),
    }
}

/// Locks the sweep directory, saves the plan and trains every unfinished run; then writes
/// the results table. Shared by `run` and `sweep resume`.
pub fn drive(spec: &SweepSpec, plan: &Plan, dir: &Path, executor_args: &ExecutorArgs) -> anyhow::Result<u8> {
    let config = match executor_args.kind(&spec.executor) {
        ExecutorKind::Local if executor_args.detach => {
            return Err(exit::bad_input("--detach needs the Slurm executor (--executor slurm); local runs stop with their manager"));
        }
        ExecutorKind::Local => Chosen::Local(executor_args.local_config(&spec.executor)?),
        ExecutorKind::Slurm => Chosen::Slurm { config: executor_args.slurm_config(&plan.name, &spec.executor)?, detach: executor_args.detach },
    };
    let store = RunStore::open_locked(dir).map_err(sweep_error)?;
    if let Chosen::Local(_) = config {
        let jobs = slurm::in_flight_jobs(dir).map_err(sweep_error)?;
        if !jobs.is_empty() {
            return Err(exit::bad_input(format!(
                "runs of {} were submitted to Slurm (jobs {}) and may still be queued or running; watch them with \
                 --executor slurm, or cancel them first with `saescale sweep cancel {}`",
                dir.display(),
                jobs.join(", "),
                dir.display()
            )));
        }
    }
    store.write_plan(plan, spec.text()).map_err(sweep_error)?;
    eprintln!(
        "sweep {}: {} runs, {} FLOP in all, in {}; {}",
        plan.name,
        plan.runs.len(),
        format_flops(plan.total_flops()),
        dir.display(),
        config.describe()
    );
    let options = Options { max_attempts: executor_args.max_attempts(&spec.executor), retry_failed: executor_args.retry_failed, ..Options::default() };
    let store = Arc::new(store);
    let fancy = !executor_args.no_progress && std::io::stderr().is_terminal();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let slurm = matches!(config, Chosen::Slurm { .. });
    let summary = runtime.block_on(supervise_with_progress(plan, store.clone(), config, options, fancy))?;
    write_summary(dir, &summary)?;
    report_summary(&summary);

    if summary.done > 0 {
        let paths = saescale_report::results::write_results(&store, plan).context("cannot write the results table")?;
        eprintln!("results: {} and {}", paths.parquet.display(), paths.csv.display());
    }
    let in_slurm = if slurm { slurm::in_flight_jobs(dir).map_err(sweep_error)? } else { Vec::new() };
    if executor_args.detach {
        if !in_slurm.is_empty() {
            eprintln!(
                "detached: Slurm job(s) {} train the sweep; `saescale sweep status {dir}` shows where it stands, \
                 `saescale sweep resume {dir}` watches it and collects the results, `saescale sweep cancel {dir}` cancels it",
                in_slurm.join(", "),
                dir = dir.display()
            );
        }
        return Ok(if summary.failed.is_empty() { exit::OK } else { exit::FAILURE });
    }
    Ok(if summary.stopped && !summary.all_done() {
        if in_slurm.is_empty() {
            eprintln!("stopped; resume with `saescale sweep resume {}`", dir.display());
        } else {
            eprintln!(
                "stopped watching; Slurm job(s) {} keep running; `saescale sweep resume {dir}` watches them again, \
                 `saescale sweep cancel {dir}` cancels them",
                in_slurm.join(", "),
                dir = dir.display()
            );
        }
        exit::INTERRUPTED
    } else if !summary.failed.is_empty() {
        exit::FAILURE
    } else {
        exit::OK
    })
}

/// The executor `drive` uses, resolved.
enum Chosen {
    Local(LocalConfig),
    Slurm { config: SlurmConfig, detach: bool },
}

impl Chosen {
    fn describe(&self) -> String {
        match self {
            Chosen::Local(config) => config.describe(),
            Chosen::Slurm { config, .. } => config.describe(),
        }
    }
}

/// Runs the supervisor (or the Slurm loop) with signal handling and a progress display.
///
/// On Slurm, the first Ctrl-C (or SIGTERM) stops the watching; the jobs keep running.
async fn supervise_with_progress(
    plan: &Plan,
    store: Arc<RunStore>,
    config: Chosen,
    mut options: Options,
    fancy: bool,
) -> anyhow::Result<Summary> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let (second_tx, second_rx) = tokio::sync::oneshot::channel::<()>();
    let signals = tokio::spawn(async move {
        tokio::select! { _ = interrupt.recv() => {}, _ = terminate.recv() => {} }
        let _ = first_tx.send(());
        tokio::select! { _ = interrupt.recv() => {}, _ = terminate.recv() => {} }
        let _ = second_tx.send(());
    });
    // A dropped sender (the signal task ended) must not read as a signal.
    let shutdown = async move {
        if first_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let kill = async move {
        if second_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };

    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    options.events = Some(events_tx);
    let display = tokio::spawn(show_progress(plan.clone(), store.clone(), events_rx, fancy));
    let summary = match config {
        Chosen::Local(config) => supervise::run(plan, store, Arc::new(LocalExecutor::new(config)), options, shutdown, kill).await,
        Chosen::Slurm { config, detach } => {
            let summary = slurm::run(plan, &store, &config, &options, detach, shutdown).await;
            drop(options);
            summary
        }
    };
    signals.abort();
    // The supervisor dropped its sender, so the display ends after the last event.
    let _ = display.await;
    summary.map_err(sweep_error)
}

/// Draws progress from the supervisor's events: bars on a terminal, plain lines otherwise.
async fn show_progress(plan: Plan, store: Arc<RunStore>, mut events: tokio::sync::mpsc::UnboundedReceiver<Event>, fancy: bool) {
    let label = |id: &RunId| match plan.run(id) {
        Some(run) => format!("{id} F={} S={}", run.features, run.steps),
        None => id.to_string(),
    };
    let multi = MultiProgress::with_draw_target(if fancy { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
    let overall = multi.add(ProgressBar::new(plan.runs.len() as u64));
    overall.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} runs done  {elapsed_precise}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    overall.set_prefix("sweep");
    if fancy {
        overall.enable_steady_tick(Duration::from_secs(1));
    }
    let run_style = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} steps  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let mut bars: std::collections::HashMap<RunId, ProgressBar> = std::collections::HashMap::new();
    let say = |line: String| {
        if fancy {
            multi.suspend(|| eprintln!("{line}"));
        } else {
            eprintln!("{line}");
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                match event {
                    Event::Reconciled { total, done, failed, to_run } => {
                        overall.set_position(done as u64);
                        say(format!("{total} runs: {done} done, {failed} failed earlier, {to_run} to run"));
                    }
                    Event::Started { id, attempt, placement } => {
                        let steps = plan.run(&id).map_or(0, |r| r.steps);
                        let bar = multi.add(ProgressBar::new(steps));
                        bar.set_style(run_style.clone());
                        bar.set_prefix(id.as_str()[..8].to_string());
                        bars.insert(id.clone(), bar);
                        let again = if attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
                        if !fancy {
                            say(format!("start   {}{again} on {}", label(&id), placement.device));
                        }
                    }
                    Event::Done { id, seconds } => {
                        overall.inc(1);
                        if let Some(bar) = bars.remove(&id) { bar.finish_and_clear(); multi.remove(&bar); }
                        let loss = store.final_metrics(&id).ok().flatten().and_then(|m| m.loss);
                        let loss = loss.map_or(String::new(), |l| format!(", held-out loss {l:.5}"));
                        say(format!("done    {} in {}{loss}", label(&id), format_duration(seconds)));
                    }
                    Event::Retrying { id, attempt, reason } => {
                        if let Some(bar) = bars.remove(&id) { bar.finish_and_clear(); multi.remove(&bar); }
                        say(format!("retry   {} after attempt {attempt} failed: {reason}", label(&id)));
                    }
                    Event::Failed { id, reason } => {
                        if let Some(bar) = bars.remove(&id) { bar.finish_and_clear(); multi.remove(&bar); }
                        say(format!("FAILED  {}: {reason}", label(&id)));
                    }
                    Event::Interrupted { id } => {
                        if let Some(bar) = bars.remove(&id) { bar.finish_and_clear(); multi.remove(&bar); }
                        say(format!("stopped {} (checkpointed; resumes next time)", label(&id)));
                    }
                    Event::Submitted { job, runs } => {
                        let last = runs.len().saturating_sub(1);
                        say(format!("submitted {} run(s) as Slurm job array {job} (tasks {job}_0..{job}_{last})", runs.len()));
                    }
                    Event::Stopping => say("stopping: trainers are checkpointing; press Ctrl-C again to kill them".into()),
                    Event::Killing => say("killing trainers".into()),
                }
            }
            _ = tick.tick(), if fancy => {
                for (id, bar) in &bars {
                    if let Ok(Some(last)) = store.last_metrics(id) {
                        bar.set_position(last.step);
                        let loss = last.loss.map_or(String::new(), |l| format!("loss {l:.4}"));
                        let rate = last.tokens_per_s.map_or(String::new(), |t| format!("  {t:.0} tok/s"));
                        bar.set_message(format!("{loss}{rate}"));
                    }
                }
            }
        }
    }
    overall.finish_and_clear();
}

/// Saves this invocation's timing next to the plan (`last-invocation.json`).
fn write_summary(dir: &Path, summary: &Summary) -> anyhow::Result<()> {
    let json = serde_json::json!({
        "finished_at": saescale_sweep::store::now_rfc3339(),
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
    let path = dir.join("last-invocation.json");
    write_atomic(&path, format!("{json:#}\n").as_bytes()).map_err(sweep_error)
}

fn report_summary(summary: &Summary) {
    eprintln!(
        "{} of {} runs done ({} already), {} failed, {} pending; {} attempts in {} on {} slots, utilisation {:.0}%",
        summary.done,
        summary.total,
        summary.already_done,
        summary.failed.len(),
        summary.pending,
        summary.attempts_started,
        format_duration(summary.wall.as_secs_f64()),
        summary.slots,
        100.0 * summary.utilisation()
    );
    for (id, reason) in &summary.failed {
        eprintln!("  failed {id}: {reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_with_units() {
        assert_eq!(parse_timeout("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_timeout("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_timeout("5"), Ok(Duration::from_secs(300)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("3d").is_err());
    }
}
