//! `saescale compare BASELINE CURRENT`: one measurement of a sweep against another.

use std::path::PathBuf;

use saescale_pipeline::compare::{compare, Comparison, Figure, RunComparison, Verdict};
use saescale_spec::Exit;
use saescale_sweep::plan::format_flops;
use saescale_sweep::spec::{Budget, NightlySpec, Tolerance};

use super::plan::{emit, render_table};

/// Compare one measurement of a sweep with another, e.g. tonight's with last night's.
///
/// Each side is a sweep directory, a night (`runs/<name>/nights/DATE`), a nightly sweep's
/// directory (its latest night) or a fit.json. Runs are matched by training config (their ids
/// hash it), so the same spec's nights line up. Per run: held-out loss, FVU, L0, dead
/// fraction, tokens/s and peak memory; per fit: alpha, beta, a, b, E and F*(C), S*(C), L*(C)
/// at a target compute, with bootstrap intervals where the fits have them.
///
/// A figure regresses when it moves the wrong way by more than its tolerance: loss and FVU 1%
/// (or 2 standard deviations of the baseline's seeds, whichever is larger), throughput -15%,
/// peak memory +10%, L0 1 latent either way, dead fraction +0.02, and an exponent when the two
/// 95% intervals stop overlapping. Improvements are reported, not failed. The current sweep's
/// [nightly] table sets other tolerances; these flags override it.
///
/// Exit status, as diff and cmp: 0 when everything is within tolerance, 1 when something
/// regressed, 2 on bad input (a missing side, unrelated sweeps, fits of different tables).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The baseline: a sweep directory, a night, a nightly sweep's directory or a fit.json.
    pub baseline: PathBuf,
    /// The measurement to judge, as the baseline.
    pub current: PathBuf,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Relative rise of held-out loss and FVU that regresses [default: 0.01].
    #[arg(long, value_parser = tolerance)]
    pub loss_tolerance: Option<Tolerance>,
    /// Standard deviations of the baseline's seed spread a loss may rise by [default: 2].
    #[arg(long, value_parser = tolerance)]
    pub seed_sigmas: Option<Tolerance>,
    /// Relative drop of tokens/s that regresses [default: 0.15].
    #[arg(long, value_parser = tolerance)]
    pub throughput_drop: Option<Tolerance>,
    /// Relative rise of peak memory that regresses [default: 0.10].
    #[arg(long, value_parser = tolerance)]
    pub memory_rise: Option<Tolerance>,
    /// Change of L0 (active latents per token, either way) that regresses [default: 1].
    #[arg(long, value_parser = tolerance)]
    pub l0_tolerance: Option<Tolerance>,
    /// Rise of the dead fraction that regresses [default: 0.02].
    #[arg(long, value_parser = tolerance)]
    pub dead_tolerance: Option<Tolerance>,
    /// Compute (FLOP) at which the fitted optima are compared [default: the spec's
    /// [nightly] target_compute, else 10x the largest fitted budget].
    #[arg(long, value_parser = budget)]
    pub target_compute: Option<Budget>,
}

fn tolerance(text: &str) -> Result<Tolerance, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(Tolerance(v)),
        _ => Err(format!("expected a number >= 0, got {text:?}")),
    }
}

fn budget(text: &str) -> Result<Budget, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(Budget(v)),
        _ => Err(format!("expected a positive number of FLOP, e.g. 1e18, got {text:?}")),
    }
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let overrides = NightlySpec {
        loss_relative: args.loss_tolerance,
        seed_sigmas: args.seed_sigmas,
        throughput_drop: args.throughput_drop,
        memory_rise: args.memory_rise,
        l0_absolute: args.l0_tolerance,
        dead_fraction_absolute: args.dead_tolerance,
        target_compute: args.target_compute,
    };
    let comparison = compare(&args.baseline, &args.current, &overrides)?;
    if args.json {
        let json = serde_json::json!({ "regressed": comparison.regressed(), "regressions": comparison.regressions(), "comparison": comparison });
        emit(&format!("{json:#}\n"))?;
    } else {
        emit(&render(&comparison))?;
    }
    Ok(if comparison.regressed() { Exit::Failure } else { Exit::Ok })
}

/// The comparison as tables: runs, then the fit, then the regressions and the verdict.
fn render(c: &Comparison) -> String {
    let mut out = format!("baseline {}\ncurrent  {}\n", c.baseline, c.current);
    if let Some(runs) = &c.runs {
        out.push_str(&format!(
            "\n{} runs matched by config ({} only in the baseline, {} only in the current sweep)\n",
            runs.matched.len(),
            runs.only_in_baseline.len(),
            runs.only_in_current.len()
        ));
        let headers = ["run", "F", "steps", "loss", "fvu", "l0", "dead", "tokens/s", "peak RSS"];
        let rows: Vec<Vec<String>> = runs.matched.iter().map(run_row).collect();
        out.push_str(&render_table(&headers, &rows, &[1, 2, 3, 4, 5, 6, 7, 8]));
    }
    if let Some(fit) = &c.fit {
        out.push_str(&format!("\nfit, optima at C = {} FLOP\n", format_flops(fit.target_compute)));
        let interval = |e: &saescale_fit::Estimate| match e.ci95 {
            Some([lo, hi]) => format!("{:.5e} [{lo:.4e}, {hi:.4e}]", e.value),
            None => format!("{:.5e}", e.value),
        };
        let rows: Vec<Vec<String>> =
            fit.quantities.iter().map(|q| vec![q.quantity.to_string(), interval(&q.baseline), interval(&q.current), word(q.verdict).to_string()]).collect();
        out.push_str(&render_table(&["quantity", "baseline [95% CI]", "current [95% CI]", "verdict"], &rows, &[]));
    }
    let regressions = c.regressions();
    if regressions.is_empty() {
        out.push_str("\nwithin tolerance\n");
    } else {
        out.push_str(&format!("\nREGRESSED ({}):\n", regressions.len()));
        for line in regressions {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// A run's row: each figure's change and a mark when it is outside its tolerance.
fn run_row(run: &RunComparison) -> Vec<String> {
    let mut row = vec![run.id.to_string(), run.features.to_string(), run.steps.to_string()];
    row.extend(run.figures.iter().map(cell));
    row
}

/// `+0.8%`, `=` for bit-identical, `-` when a side lacks it; `!` marks a regression and `+`
/// an improvement beyond the tolerance.
fn cell(f: &Figure) -> String {
    let change = match (f.baseline, f.current) {
        _ if f.verdict == Verdict::Equal => "=".to_string(),
        (Some(b), Some(c)) if matches!(f.figure, "l0" | "dead_fraction") => format!("{:+.3}", c - b),
        (Some(b), Some(c)) if b != 0.0 => format!("{:+.2}%", 100.0 * (c - b) / b.abs()),
        (Some(_), None) => "missing".to_string(),
        _ => "-".to_string(),
    };
    match f.verdict {
        Verdict::Regressed => format!("{change} !"),
        Verdict::Improved => format!("{change} +"),
        _ => change,
    }
}

fn word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Equal => "equal",
        Verdict::Within => "within",
        Verdict::Improved => "improved",
        Verdict::Regressed => "REGRESSED",
        Verdict::Moved => "moved",
        Verdict::Unjudged => "-",
    }
}
