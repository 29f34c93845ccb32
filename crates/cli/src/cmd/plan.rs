//! `saescale plan <spec>`: the resolved run table, without running anything.

use std::path::PathBuf;

use saescale_pipeline::{PlanEstimate, Sweep};
use saescale_spec::Exit;
use saescale_sweep::plan::{format_bytes, format_duration, format_flops};
use saescale_sweep::Plan;

use super::run::ExecutorArgs;
use crate::exit;

/// Print the runs a sweep spec expands to, without running anything.
///
/// For each run: its id (a hash of its training config), budget, feature count F, steps,
/// tokens, FLOP (12·d·F per token), estimated wall time and estimated memory. Wall times come
/// from the throughput `saescale bench` measured on this machine; without a measurement they
/// are shown as unmeasured. A spec this machine cannot run (a GPU sweep on a laptop) is still
/// planned, without estimates; a `--device` this machine cannot honour is an error.
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
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let sweep = Sweep::load(&args.spec, None)?;
    let estimate = sweep.estimate(&args.executor.overrides(), &args.executor.trainer()?, args.bench.as_deref())?;
    match &estimate.executor {
        // A device asked for on the command line is a request for estimates on it.
        Err(why) if args.executor.device.is_some() => return Err(exit::bad_input(why.clone())),
        Err(why) => eprintln!("note: no time estimates, this machine cannot run the sweep as configured: {why}"),
        Ok(_) => {}
    }
    if args.json {
        emit(&format!("{:#}\n", plan_json(&sweep.plan, &estimate)))?;
    } else {
        emit(&plan_table(&sweep.plan, &estimate))?;
        let adaptive = sweep.spec.axes.adaptive.as_ref().is_some_and(|a| *a.get_ref());
        let budgets = sweep.spec.axes.budgets.as_ref().map_or(0, |b| b.get_ref().len());
        let planned: std::collections::BTreeSet<u64> = sweep.plan.runs.iter().filter_map(|r| r.budget).map(f64::to_bits).collect();
        if adaptive && planned.len() < budgets {
            emit(&format!(
                "adaptive design: {} of {budgets} budgets planned; each later budget is centred on the fit of the ones before it once they finish\n",
                planned.len()
            ))?;
        }
    }
    Ok(Exit::Ok)
}

/// The plan and its estimates for scripts.
fn plan_json(plan: &Plan, estimate: &PlanEstimate) -> serde_json::Value {
    let runs: Vec<serde_json::Value> = plan
        .runs
        .iter()
        .zip(&estimate.seconds)
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
    serde_json::json!({
        "name": plan.name,
        "runs": runs,
        "total_flops": plan.total_flops(),
        "slots": estimate.slots,
        "device": estimate.device,
        "threads_per_run": estimate.threads_per_run,
        "est_wall_seconds": estimate.wall_seconds,
        "throughput": estimate.throughput.as_ref().map(|t| t.path.display().to_string()),
    })
}

/// The plan and its estimates as a table, with the sweep's wall time under it.
fn plan_table(plan: &Plan, estimate: &PlanEstimate) -> String {
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
        .zip(&estimate.seconds)
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
    out.push_str(&match (estimate.wall_seconds, &estimate.throughput, &estimate.executor) {
        (Some(wall), Some(t), Ok(config)) => format!(
            "estimated wall time: {} on {} (from the throughput measured in {})\n",
            format_duration(wall),
            config.describe(),
            t.path.display()
        ),
        (_, _, Ok(config)) => format!(
            "estimated wall time: unmeasured (run `saescale bench --device {}`); {}\n",
            estimate.device.unwrap_or("cpu"),
            config.describe()
        ),
        (_, _, Err(_)) => "estimated wall time: unknown on this machine\n".to_string(),
    });
    out
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
