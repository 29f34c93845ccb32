//! `saescale plan <spec>`: the resolved run table, without running anything.

use std::path::PathBuf;

use saescale_sweep::estimate::{makespan, Throughput};
use saescale_sweep::executor::LocalDevice;
use saescale_sweep::plan::{format_bytes, format_duration, format_flops};

use super::run::{load_plan, sweep_error, ExecutorArgs};
use crate::exit;

/// Print the runs a sweep spec expands to, without running anything.
///
/// For each run: its id (a hash of its training config), budget, feature count F, steps,
/// tokens, FLOP (12·d·F per token), estimated wall time and estimated memory. Wall times come
/// from the throughput `saescale bench` measured on this machine; without a measurement they
/// are shown as unmeasured.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sweep spec (TOML).
    pub spec: PathBuf,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The throughput measurement to estimate from [default: $XDG_CACHE_HOME/saescale/bench-<device>.json].
    #[arg(long)]
    pub bench: Option<PathBuf>,
    #[command(flatten)]
    pub executor: ExecutorArgs,
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let (spec, plan) = load_plan(&args.spec)?;
    // Planning must work anywhere, e.g. a GPU sweep on a laptop: when this machine cannot
    // run the sweep's executor, the table is printed without time estimates.
    let config = match args.executor.local_config(&spec.executor) {
        Ok(config) => Some(config),
        Err(error) => {
            eprintln!("note: no time estimates, this machine cannot run the sweep as configured: {error:#}");
            None
        }
    };
    let (device, threads, slots) = match config.as_ref().map(|c| (&c.device, c.slots)) {
        Some((LocalDevice::Cpu { threads_per_run }, slots)) => (Some("cpu"), Some(*threads_per_run), Some(slots)),
        Some((LocalDevice::Cuda { .. }, slots)) => (Some("cuda"), None, Some(slots)),
        None => (None, None, None),
    };
    let bench_path = args.bench.clone().or_else(|| device.and_then(Throughput::default_path));
    let throughput = match &bench_path {
        Some(path) => Throughput::load(path).map_err(sweep_error)?,
        None => None,
    };
    if args.bench.is_some() && throughput.is_none() {
        return Err(exit::bad_input(format!("no throughput measurement at {}", bench_path.unwrap_or_default().display())));
    }
    let seconds: Vec<Option<f64>> = plan.runs.iter().map(|run| throughput.as_ref().map(|t| t.seconds(run, threads))).collect();
    let wall = throughput
        .as_ref()
        .zip(slots)
        .map(|(_, slots)| makespan(&seconds.iter().flatten().copied().collect::<Vec<_>>(), slots));

    if args.json {
        let runs: Vec<serde_json::Value> = plan
            .runs
            .iter()
            .zip(&seconds)
            .map(|(run, seconds)| {
                serde_json::json!({
                    "id": run.id,
                    "name": run.spec.name,
                    "budget": run.budget,
                    "features": run.features,
                    "steps": run.steps,
                    "batch_size": run.spec.train.batch_size,
                    "d_in": run.spec.d_in(),
                    "lr": run.spec.train.lr,
                    "lr_multiplier": run.lr_multiplier,
                    "seed": run.spec.seed,
                    "tokens": run.tokens,
                    "flops": run.flops,
                    "memory_bytes": run.memory_bytes,
                    "est_seconds": seconds,
                })
            })
            .collect();
        let json = serde_json::json!({
            "name": plan.name,
            "runs": runs,
            "total_flops": plan.total_flops(),
            "slots": slots,
            "device": device,
            "threads_per_run": threads,
            "est_wall_seconds": wall,
            "throughput": throughput.as_ref().map(|t| t.path.display().to_string()),
        });
        emit(&format!("{json:#}\n"))?;
        return Ok(exit::OK);
    }

    let first = &plan.runs[0].spec;
    let mut out = format!(
        "sweep {}: {} runs; d = {}, batch {}, {}; {} FLOP in all\n",
        plan.name,
        plan.runs.len(),
        first.d_in(),
        first.train.batch_size,
        format!("{:?}", first.sae.architecture).to_lowercase(),
        format_flops(plan.total_flops())
    );
    let headers = ["id", "budget", "F", "steps", "tokens", "FLOP", "lr", "seed", "est. time", "est. memory"];
    let rows: Vec<Vec<String>> = plan
        .runs
        .iter()
        .zip(&seconds)
        .map(|(run, seconds)| {
            vec![
                run.id.to_string(),
                run.budget.map_or("-".into(), format_flops),
                run.features.to_string(),
                run.steps.to_string(),
                run.tokens.to_string(),
                format_flops(run.flops),
                run.spec.train.lr.map_or("-".into(), |lr| format!("{lr:.3e}")),
                run.spec.seed.to_string(),
                seconds.map_or("unmeasured".into(), format_duration),
                format_bytes(run.memory_bytes),
            ]
        })
        .collect();
    out.push_str(&render_table(&headers, &rows, &[1, 2, 3, 4, 5, 6, 7, 8, 9]));
    out.push_str(&match (wall, &throughput, &config) {
        (Some(wall), Some(t), Some(config)) => format!(
            "estimated wall time: {} on {} (from the throughput measured in {})\n",
            format_duration(wall),
            config.describe(),
            t.path.display()
        ),
        (_, _, Some(config)) => format!(
            "estimated wall time: unmeasured (run `saescale bench --device {}`); {}\n",
            device.unwrap_or("cpu"),
            config.describe()
        ),
        (_, _, None) => "estimated wall time: unknown on this machine\n".to_string(),
    });
    emit(&out)?;
    Ok(exit::OK)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A plain text table: columns padded to their widest cell, `right` columns right-aligned.
pub fn render_table(headers: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if right.contains(&i) {
                    format!("{cell:>width$}", width = widths[i])
                } else {
                    format!("{cell:<width$}", width = widths[i])
                }
            })
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}
