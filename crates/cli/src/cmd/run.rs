//! `saescale run <spec>`: plan → train every run → results table → fit → report (reports/<name>/),
//! each stage a call into saescale-pipeline. `drive` is also the engine of `saescale sweep resume`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use saescale_pipeline::{today, Driver, Executed, Overrides, ReportOptions, Sweep, SweepFit, Trainer};
use saescale_spec::Exit;
use saescale_sweep::plan::{format_duration, format_flops};
use saescale_sweep::spec::{DeviceKind, ExecutorKind};
use saescale_sweep::{Options, Summary};

use crate::cmd::report::say_written;

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
    /// Measure the sweep afresh for one night: every run trains into <dir>/nights/DATE/
    /// (default: today, UTC), reusing nothing of earlier nights; running again the same night
    /// resumes it. Judge a night with `saescale compare`.
    #[arg(long, value_name = "DATE", num_args = 0..=1, default_missing_value = "today")]
    pub night: Option<String>,
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
    /// What the flags say over the spec's [executor] table.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            kind: self.kind,
            detach: self.detach,
            slots: self.slots,
            threads: self.threads,
            runs_per_gpu: self.runs_per_gpu,
            device: self.device,
            max_attempts: self.max_attempts,
            timeout: self.timeout,
            retry_failed: self.retry_failed,
        }
    }

    /// The trainer: `--trainer`, else $SAESCALE_TRAINER, else this binary.
    pub fn trainer(&self) -> anyhow::Result<Trainer> {
        let external = match (&self.trainer, std::env::var_os("SAESCALE_TRAINER")) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(path)) if !path.is_empty() => Some(PathBuf::from(path)),
            _ => None,
        };
        let program = match &external {
            Some(path) => path.clone(),
            None => std::env::current_exe().context("cannot find the saescale binary to start trainers")?,
        };
        Ok(Trainer { program, cuda_build: cfg!(feature = "cuda"), external: external.is_some() })
    }
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let mut sweep = Sweep::load(&args.spec, args.dir.clone())?;
    if let Some(night) = &args.night {
        let date = if night == "today" { today() } else { night.clone() };
        sweep = sweep.night(&date)?;
    }
    let (sweep, exit) = drive_stages(sweep, &args.executor)?;
    if exit != Exit::Ok || args.executor.detach {
        return Ok(exit);
    }
    eprintln!("fitting L(F, S) = E + A/F^alpha + B/S^beta to {}", sweep.dir.display());
    match sweep.fit()? {
        SweepFit::Fitted { result, path } => {
            print!("{result}");
            println!("\nwrote {}", path.display());
        }
        SweepFit::Unfittable { reason } => eprintln!("warning: no fit of this sweep: {reason}"),
        SweepFit::PerSparsity { axis, fits, law } => {
            for (value, fit) in fits {
                match fit {
                    SweepFit::Fitted { result, path } => {
                        println!("\nat {} = {value}:", axis.column());
                        print!("{result}");
                        println!("wrote {}", path.display());
                    }
                    SweepFit::Unfittable { reason } => eprintln!("warning: no fit at {} = {value}: {reason}", axis.column()),
                    SweepFit::PerSparsity { .. } => unreachable!("one sparsity's fit has one sparsity"),
                }
            }
            match law {
                Some(Ok((law, path))) => {
                    println!("\nL(n, k) = exp(alpha + beta_k ln k + beta_n ln n + gamma ln k ln n) + exp(zeta + eta ln k):");
                    print!("{law}");
                    println!("wrote {}", path.display());
                }
                Some(Err(reason)) => eprintln!("warning: no fit of L(n, k): {reason}"),
                None => {}
            }
        }
    }
    // The report goes to reports/<name>/, next to the runs/ directory by default.
    let (written, _) = sweep.report()?;
    say_written(&written, ReportOptions::default().dpi);
    Ok(Exit::Ok)
}

/// Drives the sweep and, for an adaptive isoflop design, each next stage once the one before
/// it has finished; returns the sweep as last planned and how it ended. Shared by `run` and
/// `sweep resume`.
pub fn drive_stages(mut sweep: Sweep, args: &ExecutorArgs) -> anyhow::Result<(Sweep, Exit)> {
    loop {
        let exit = drive(&sweep, args)?;
        if exit != Exit::Ok || args.detach {
            return Ok((sweep, exit));
        }
        let Some(next) = sweep.next_stage()? else { return Ok((sweep, exit)) };
        let added = &next.plan.runs[sweep.plan.runs.len()..];
        if let Some(first) = added.first() {
            let features: Vec<String> = added.iter().map(|r| r.features.to_string()).collect();
            let why = first.placed_by.map_or_else(String::new, |p| format!(", placed by the {p}"));
            eprintln!("next stage: budget {} FLOP at F = {}{why}", format_flops(first.budget.unwrap_or(first.flops)), features.join(", "));
        }
        sweep = next;
    }
}

/// Locks the sweep directory, saves the plan and trains every unfinished run; then writes
/// the results table. One stage of [`drive_stages`].
pub fn drive(sweep: &Sweep, args: &ExecutorArgs) -> anyhow::Result<Exit> {
    let overrides = args.overrides();
    let executor = overrides.choose(sweep.name(), &sweep.spec.executor, &args.trainer()?)?;
    let driver = sweep.prepare(executor)?;
    eprintln!(
        "sweep {}: {} runs, {} FLOP in all, in {}; {}",
        sweep.name(),
        sweep.plan.runs.len(),
        format_flops(sweep.plan.total_flops()),
        sweep.dir.display(),
        driver.executor().describe()
    );
    let fancy = !args.no_progress && std::io::stderr().is_terminal();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let executed = runtime.block_on(execute_with_progress(sweep, driver, overrides.options(&sweep.spec.executor), fancy))?;
    report_summary(&executed.summary);
    if let Some(paths) = &executed.results {
        eprintln!("results: {} and {}", paths.parquet.display(), paths.csv.display());
    }
    Ok(ending(sweep, &executed, args.detach))
}

/// The exit of a driven sweep, with what to do next when it is not finished.
fn ending(sweep: &Sweep, executed: &Executed, detach: bool) -> Exit {
    let (summary, dir, jobs) = (&executed.summary, sweep.dir.display(), executed.in_slurm.join(", "));
    if detach {
        if !executed.in_slurm.is_empty() {
            eprintln!(
                "detached: Slurm job(s) {jobs} train the sweep; `saescale sweep status {dir}` shows where it stands, \
                 `saescale sweep resume {dir}` watches it and collects the results, `saescale sweep cancel {dir}` cancels it"
            );
        }
        return if summary.failed.is_empty() { Exit::Ok } else { Exit::Failure };
    }
    if summary.stopped && !summary.all_done() {
        if executed.in_slurm.is_empty() {
            eprintln!("stopped; resume with `saescale sweep resume {dir}`");
        } else {
            eprintln!(
                "stopped watching; Slurm job(s) {jobs} keep running; `saescale sweep resume {dir}` watches them again, \
                 `saescale sweep cancel {dir}` cancels them"
            );
        }
        Exit::Interrupted
    } else if !summary.failed.is_empty() {
        Exit::Failure
    } else {
        Exit::Ok
    }
}

/// Executes the sweep with signal handling and a progress display.
///
/// The first Ctrl-C (or SIGTERM) stops gracefully (on Slurm: stops the watching; the jobs keep
/// running); a second one kills local trainers.
async fn execute_with_progress(sweep: &Sweep, driver: Driver<'_>, mut options: Options, fancy: bool) -> anyhow::Result<Executed> {
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
    let display = tokio::spawn(crate::watch::show(sweep.plan.clone(), driver.store(), events_rx, fancy));
    let executed = driver.execute(options, shutdown, kill).await;
    signals.abort();
    // The driver dropped the events' sender, so the display ends after the last event.
    let _ = display.await;
    Ok(executed?)
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
