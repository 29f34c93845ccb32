//! `saescale sweep status|resume|cancel <dir>`: look after a sweep directory.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use saescale_pipeline::{Error as PipelineError, Sweep};
use saescale_spec::Exit;
use saescale_sweep::executor::local::stop_manager;
use saescale_sweep::executor::slurm;
use saescale_sweep::plan::{format_duration, format_flops};
use saescale_sweep::progress::{progress, SweepProgress};
use saescale_sweep::{Error, Options, Plan, RunState, RunStore};

use super::plan::{emit, render_table};
use super::run::{drive_stages, ExecutorArgs};

/// Look after a sweep directory: show its status, resume it, or stop its manager.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// The `sweep` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show every run's state, progress, loss, throughput and ETA, and the sweep's progress.
    Status(StatusArgs),
    /// Run the sweep again from its saved spec: finished runs are skipped, the rest resume.
    Resume(ResumeArgs),
    /// Stop the sweep: a local manager stops gracefully (its trainers checkpoint and exit); on
    /// Slurm, the jobs this sweep submitted are scancelled (and nothing else). Runs stay
    /// resumable.
    Cancel(CancelArgs),
}

/// Arguments of `sweep status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The sweep directory (e.g. runs/quickstart).
    pub dir: PathBuf,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Redraw every few seconds while a manager drives the sweep.
    #[arg(long)]
    pub watch: bool,
}

/// Arguments of `sweep resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The sweep directory.
    pub dir: PathBuf,
    #[command(flatten)]
    pub executor: ExecutorArgs,
}

/// Arguments of `sweep cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The sweep directory.
    pub dir: PathBuf,
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    match args.command {
        Command::Status(args) => status(args),
        Command::Resume(args) => Ok(drive_stages(Sweep::resume(&args.dir)?, &args.executor)?.1),
        Command::Cancel(args) => {
            let store = RunStore::open(&args.dir).map_err(PipelineError::from)?;
            if !slurm::in_flight_jobs(&args.dir).map_err(PipelineError::from)?.is_empty() {
                return cancel_slurm(store, &args.dir);
            }
            match stop_manager(&store).map_err(PipelineError::from)? {
                Some(pid) => {
                    eprintln!("asked the manager (pid {pid}) to stop; its runs checkpoint and stay resumable");
                    Ok(Exit::Ok)
                }
                None => {
                    eprintln!("no manager is driving {}; nothing to cancel", args.dir.display());
                    Ok(Exit::Ok)
                }
            }
        }
    }
}

fn status(args: StatusArgs) -> anyhow::Result<Exit> {
    let store = RunStore::open(&args.dir).map_err(PipelineError::from)?;
    let plan = store.read_plan().map_err(PipelineError::from)?;
    let redraw = args.watch && std::io::stdout().is_terminal();
    loop {
        let in_slurm = refresh_from_slurm(&store, &plan)?;
        let now = progress(&store, &plan).map_err(PipelineError::from)?;
        if args.json {
            emit(&format!("{}\n", serde_json::to_string_pretty(&now)?))?;
        } else {
            // Clear the screen and go home before redrawing.
            let clear = if redraw { "\x1b[2J\x1b[H" } else { "" };
            emit(&format!("{clear}{}", render(&now)))?;
        }
        if !args.watch || (now.manager.is_none() && !in_slurm) {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    Ok(Exit::Ok)
}

/// When no manager watches a sweep with Slurm jobs in flight, maps what Slurm says onto the
/// store (taking the lock for that moment); returns whether jobs are still in flight.
fn refresh_from_slurm(store: &RunStore, plan: &Plan) -> anyhow::Result<bool> {
    if slurm::in_flight_jobs(store.dir()).map_err(PipelineError::from)?.is_empty() {
        return Ok(false);
    }
    let locked = match RunStore::open_locked(store.dir()) {
        Ok(locked) => locked,
        // A manager watches the sweep and keeps the store up to date itself.
        Err(Error::Locked { .. }) => return Ok(true),
        Err(error) => return Err(PipelineError::from(error).into()),
    };
    let runtime = runtime()?;
    if let Err(error) = runtime.block_on(slurm::refresh(plan, &locked, &Options::default())) {
        eprintln!("warning: cannot ask Slurm where the sweep's jobs stand ({error}); showing the store as last written");
    }
    Ok(!slurm::in_flight_jobs(store.dir()).map_err(PipelineError::from)?.is_empty())
}

/// `sweep cancel` of a sweep with Slurm jobs: stop a manager on this machine (it only
/// watches), then scancel the sweep's jobs and record the runs as interrupted.
fn cancel_slurm(store: RunStore, dir: &std::path::Path) -> anyhow::Result<Exit> {
    let plan = store.read_plan().map_err(PipelineError::from)?;
    match stop_manager(&store) {
        Ok(Some(pid)) => {
            eprintln!("asked the manager (pid {pid}) to stop watching");
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while store.manager().map_err(PipelineError::from)?.is_some() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(None) => {}
        // A manager on another machine records the cancellations itself.
        Err(error) => eprintln!("note: {error}"),
    }
    let locked = RunStore::open_locked(dir).ok();
    let store = locked.as_ref().unwrap_or(&store);
    // Trainers get SIGTERM, checkpoint and exit; give them Slurm's KillWait and some slack.
    let patience = Duration::from_secs(120);
    let jobs = runtime()?.block_on(slurm::cancel(&plan, store, &Options::default(), patience)).map_err(PipelineError::from)?;
    if jobs.is_empty() {
        eprintln!("no job of {} is queued or running in Slurm; nothing to cancel", dir.display());
    } else {
        eprintln!(
            "cancelled Slurm job(s) {} of {}; its runs keep their checkpoints: `saescale sweep resume {}` finishes them",
            jobs.join(", "),
            dir.display(),
            dir.display()
        );
    }
    Ok(Exit::Ok)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

/// The status table and the overall progress line.
fn render(p: &SweepProgress) -> String {
    // An isoflop design's runs say what placed them (the prior, or which stage's fit).
    let placed = p.runs.iter().any(|r| r.placed_by.is_some());
    let mut headers = vec!["id", "budget", "F", "steps", "state", "progress", "loss", "tokens/s", "ETA", "tries", "note"];
    if placed {
        headers.insert(4, "placed by");
    }
    let rows: Vec<Vec<String>> = p
        .runs
        .iter()
        .map(|r| {
            let mut note = r.reason.clone().unwrap_or_default();
            if note.chars().count() > 60 {
                note = note.chars().take(59).collect::<String>() + "…";
            }
            let mut row = vec![
                r.id.to_string(),
                r.budget.map_or("-".into(), format_flops),
                r.features.to_string(),
                r.steps.to_string(),
                r.state.as_str().to_string(),
                format!("{:.0}%", 100.0 * r.fraction),
                r.loss.map_or("-".into(), |l| format!("{l:.5}")),
                r.tokens_per_s.filter(|_| r.state == RunState::Running).map_or("-".into(), |t| format!("{t:.0}")),
                r.eta_s.map_or("-".into(), format_duration),
                r.attempts.to_string(),
                note,
            ];
            if placed {
                row.insert(4, r.placed_by.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    let mut out = format!(
        "sweep {}: {}\n",
        p.name,
        match &p.manager {
            Some(holder) => format!("running ({holder})"),
            None => "no manager running".into(),
        }
    );
    // Right-aligned: budget, F, steps, progress, loss, tokens/s, ETA, tries (one further right
    // past the "placed by" column).
    let right: Vec<usize> = [1, 2, 3, 5, 6, 7, 8, 9].into_iter().map(|i| if placed && i >= 4 { i + 1 } else { i }).collect();
    out.push_str(&render_table(&headers, &rows, &right));
    let width = 30;
    let filled = ((p.fraction * width as f64).round() as usize).min(width);
    out.push_str(&format!(
        "[{}{}] {:.0}% of FLOP; {} done, {} running, {} pending, {} failed of {}{}\n",
        "=".repeat(filled),
        " ".repeat(width - filled),
        100.0 * p.fraction,
        p.done,
        p.running,
        p.pending,
        p.failed,
        p.runs.len(),
        p.eta_s.map_or(String::new(), |eta| format!("; ETA {}", format_duration(eta)))
    ));
    out
}
