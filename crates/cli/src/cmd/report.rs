//! `saescale report <sweep dir | fit.json> --out reports/<name>/`: figures, tables and a
//! self-contained HTML page.

use std::path::PathBuf;

use saescale_fit::Target;
use saescale_pipeline::{report, ReportOptions, Written};
use saescale_spec::Exit;

use crate::exit;

/// Write a report: publication figures, the numbers behind them, and one HTML page.
///
/// INPUT is a sweep directory (its runs, results table and fit.json), a nightly sweep's
/// directory (its latest night, with a history across nights: each run's loss and throughput
/// and the fit's exponents night by night, and what regressed since which night), or a fit.json
/// written by `saescale fit` (the table it names is read again for the points). The report
/// directory gets, for each figure, an SVG, a PNG at --dpi and a CSV of the numbers drawn; the
/// run table as runs.parquet and runs.csv; a copy of the fit; and index.html, one
/// self-contained page (no network) with the fitted law, the recommendation, the figures, failed
/// runs and the spec.
///
/// Figures: loss vs compute with the frontier and fitted L*(C); IsoFLOP curves; F*(C) and
/// S*(C) with power laws and CI bands; L0 and dead features vs F; training curves; fit
/// residuals; the learning-rate law (when fitted); for a nightly sweep, loss and throughput
/// across nights and the exponents across nights. Fonts are embedded: no system font is used.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sweep directory, nightly sweep directory or fit.json.
    pub input: PathBuf,
    /// Report directory [default: reports/<sweep or fit name>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// PNG resolution in dots per inch (300 for papers).
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u32).range(30..=1200))]
    pub dpi: u32,
    /// Recommend for this compute budget in FLOP [default: 10× the largest fitted budget].
    #[arg(long, conflicts_with = "features")]
    pub compute: Option<f64>,
    /// Recommend for this size X (SAE features): the budget at which it is optimal.
    #[arg(long)]
    pub features: Option<f64>,
    /// For a nightly sweep's directory: the night (YYYY-MM-DD) the latest night is compared
    /// with [default: the night before the latest].
    #[arg(long, value_name = "NIGHT")]
    pub baseline: Option<String>,
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let target = match (args.compute, args.features) {
        (Some(c), _) => Some(Target::Compute(positive("--compute", c)?)),
        (None, Some(f)) => Some(Target::Size(positive("--features", f)?)),
        (None, None) => None,
    };
    let options = ReportOptions { dpi: args.dpi, target };
    let (written, _) = report(&args.input, &options, args.out.as_deref(), args.baseline.as_deref())?;
    say_written(&written, options.dpi);
    Ok(Exit::Ok)
}

fn positive(flag: &str, value: f64) -> anyhow::Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(exit::bad_input(format!("{flag} must be a positive number, got {value}")))
    }
}

/// Tells the user what a report holds and which figures it left out.
pub fn say_written(written: &Written, dpi: u32) {
    for skipped in &written.skipped {
        eprintln!("report: no {} figure: {}", skipped.name, skipped.reason);
    }
    eprintln!("report: {} figures (SVG, PNG at {dpi} dpi, CSV) and {}", written.figures.len(), written.index.display());
}
