//! `saescale report <sweep dir | fit.json> --out reports/<name>/`: figures, tables and a
//! self-contained HTML page.

use std::path::{Path, PathBuf};

use anyhow::Context;
use saescale_fit::Target;
use saescale_report::{load, write, Error, Options};

use crate::exit;

/// Write a report: publication figures, the numbers behind them, and one HTML page.
///
/// INPUT is a sweep directory (its runs, results table and fit.json) or a fit.json written by
/// `saescale fit` (the table it names is read again for the points). The report directory gets,
/// for each figure, an SVG, a PNG at --dpi and a CSV of the numbers drawn; the run table as
/// runs.parquet and runs.csv; a copy of the fit; and index.html, one self-contained page (no
/// network) with the fitted law, the recommendation, the figures, failed runs and the spec.
///
/// Figures: loss vs compute with the frontier and fitted L*(C); IsoFLOP curves; F*(C) and
/// S*(C) with power laws and CI bands; L0 and dead features vs F; training curves; fit
/// residuals; the learning-rate law (when fitted). Fonts are embedded: no system font is used.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sweep directory or fit.json.
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
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let target = match (args.compute, args.features) {
        (Some(c), _) => Some(Target::Compute(positive("--compute", c)?)),
        (None, Some(f)) => Some(Target::Size(positive("--features", f)?)),
        (None, None) => None,
    };
    let data = load(&args.input).map_err(load_error)?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("reports").join(&data.title));
    write_report(&data, &Options { dpi: args.dpi, target }, &out)
}

fn positive(flag: &str, value: f64) -> anyhow::Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(exit::bad_input(format!("{flag} must be a positive number, got {value}")))
    }
}

/// Input errors (not a sweep or fit, unreadable fit or table) are bad input (exit 2).
fn load_error(error: Error) -> anyhow::Error {
    match error {
        Error::Input { .. } | Error::Fit { .. } | Error::Source { .. } | Error::Table(_) => exit::bad_input(format!("{:#}", anyhow::Error::new(error))),
        Error::Store(saescale_sweep::Error::NoSweep { .. }) => exit::bad_input(error.to_string()),
        other => anyhow::Error::new(other).context("cannot read the report's input"),
    }
}

fn write_report(data: &saescale_report::Dataset, options: &Options, out: &Path) -> anyhow::Result<u8> {
    let written = write(data, options, out).with_context(|| format!("cannot write the report to {}", out.display()))?;
    for skipped in &written.skipped {
        eprintln!("report: no {} figure: {}", skipped.name, skipped.reason);
    }
    eprintln!("report: {} figures (SVG, PNG at {} dpi, CSV) and {}", written.figures.len(), options.dpi, written.index.display());
    Ok(exit::OK)
}

/// The report `saescale run` writes after fitting a sweep: reports/<name>/ at the default DPI.
pub fn for_sweep(dir: &Path, name: &str) -> anyhow::Result<u8> {
    let data = load(dir).map_err(load_error)?;
    write_report(&data, &Options::default(), &PathBuf::from("reports").join(name))
}
