//! `saescale plan <spec>`: the resolved run table, without running anything.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use saescale_pipeline::design::simulate::{Expected, Request, Simulator, DEFAULT_DRAWS};
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
///
/// With --target-compute C it also says what the design is expected to buy before anything
/// runs: its total FLOP and device-hours over every stage, and the 95% intervals of F*(C) and
/// L*(C) that a fit of it would give, from sweeps simulated on laws drawn from the spec's
/// [sweep.prior] (an earlier fit's bootstrap replicates, or SAE-like laws around the prior's
/// anchor) with noisy losses, each fitted as `saescale fit` does. Compare designs with it.
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
    /// Simulate the design and report the expected 95% intervals of F*(C) and L*(C) at this
    /// compute (FLOP), e.g. 10× the largest budget.
    #[arg(long, value_name = "FLOP")]
    pub target_compute: Option<f64>,
    /// Simulated sweeps for --target-compute (each is fitted once, about half a second).
    #[arg(long, default_value_t = DEFAULT_DRAWS, requires = "target_compute")]
    pub draws: usize,
    /// Seed of the simulated laws and noise.
    #[arg(long, default_value_t = 0, requires = "target_compute")]
    pub seed: u64,
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
    let expected = match args.target_compute {
        Some(target) => Some(simulate(&sweep, target, &args)?),
        None => None,
    };
    if args.json {
        let mut json = plan_json(&sweep.plan, &estimate);
        if let Some(expected) = &expected {
            json["expected"] = serde_json::to_value(expected)?;
            json["expected"]["device_hours"] = serde_json::json!(design_hours(&sweep.plan, &estimate, expected));
        }
        emit(&format!("{json:#}\n"))?;
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
        if let Some(expected) = &expected {
            emit(&expected_text(expected, design_hours(&sweep.plan, &estimate, expected)))?;
        }
    }
    Ok(Exit::Ok)
}

/// The design simulated at `target`, with a progress bar on a terminal.
fn simulate(sweep: &Sweep, target: f64, args: &Args) -> anyhow::Result<Expected> {
    if !(target > 0.0 && target.is_finite()) {
        return Err(exit::bad_input(format!("--target-compute: expected a positive number of FLOP, got {target}")));
    }
    if args.draws < 2 {
        return Err(exit::bad_input("--draws: expected at least 2 simulated sweeps to measure a spread"));
    }
    let simulator = Simulator::new(&sweep.spec)?;
    let request = Request { draws: args.draws, seed: args.seed, ..Request::new(target) };
    let bar = ProgressBar::new(args.draws as u64);
    bar.set_style(ProgressStyle::with_template("simulating the design [{bar:30}] {pos}/{len} sweeps ({eta})").expect("static template is valid").progress_chars("=> "));
    let expected = simulator.expected(&request, |done| bar.set_position(done as u64));
    bar.finish_and_clear();
    Ok(expected?)
}

/// Device-hours of the whole design: the measured seconds of the planned runs, scaled by FLOP
/// to every stage (an adaptive plan shows only the stages it can place yet).
fn design_hours(plan: &Plan, estimate: &PlanEstimate, expected: &Expected) -> Option<f64> {
    let seconds: Option<f64> = estimate.seconds.iter().copied().sum();
    seconds.map(|s| s * expected.flops / plan.total_flops() / 3600.0)
}

/// What the design is expected to buy, for people.
fn expected_text(e: &Expected, hours: Option<f64>) -> String {
    let percent = |x: f64| format!("{:+.2}%", 100.0 * x);
    let mut out = format!(
        "\nthe whole design: {} runs, {} FLOP, {}\n",
        e.runs,
        format_flops(e.flops),
        hours.map_or("device-hours unmeasured (give --bench or run `saescale bench`)".into(), |h| format!("{h:.3} device-hours"))
    );
    out.push_str(&format!(
        "expected at C = {} ({} simulated sweeps on {}, loss noise {:.2}%{}):\n",
        format_flops(e.target_compute),
        e.draws,
        e.laws,
        100.0 * e.noise,
        if e.failed > 0 { format!("; {} fits did not converge", e.failed) } else { String::new() }
    ));
    out.push_str(&format!(
        "  F*(C)  95% interval ×{:.3} wide: fits land at [{:.3}, {:.3}] × the true F*, median error {:.1}%\n",
        e.features_width(),
        e.features_ratio[0],
        e.features_ratio[1],
        100.0 * e.features_median_error.exp_m1()
    ));
    out.push_str(&format!(
        "  L*(C)  95% interval {:.2}% wide: fits land at [{}, {}] of the true L*, median error {:.2}%\n",
        100.0 * e.loss_width(),
        percent(e.loss_error[0]),
        percent(e.loss_error[1]),
        100.0 * e.loss_median_error
    ));
    out
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
    // The sparsity column: k for topk and batchtopk, λ for relu, λ0 for jumprelu.
    let sparsity_header = match (first.sae.k, first.sae.l0_coefficient) {
        (Some(_), _) => "k",
        (None, Some(_)) => "λ0",
        (None, None) => "λ",
    };
    let headers = ["id", "budget", "F", sparsity_header, "steps", "tokens", "FLOP", "lr", "seed", "est. time", "est. memory"];
    let rows: Vec<Vec<String>> = plan
        .runs
        .iter()
        .zip(&estimate.seconds)
        .map(|(run, seconds)| {
            vec![
                run.id.to_string(),
                run.budget.map_or("-".into(), format_flops),
                run.features.to_string(),
                match (run.spec.sae.k, run.spec.sae.l1_coefficient.or(run.spec.sae.l0_coefficient)) {
                    (Some(k), _) => k.to_string(),
                    (None, Some(lambda)) => lambda.to_string(),
                    (None, None) => "-".into(),
                },
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
    out.push_str(&render_table(&headers, &rows, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
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
