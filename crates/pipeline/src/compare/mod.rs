//! Nightly comparisons: one measurement of a sweep against another, under tolerances suited to
//! each figure's noise, with a verdict a scheduler can act on.
//!
//! Each side is a sweep directory, a night, a sweep with nights (its latest) or a `fit.json`
//! ([`Side`]). Two sweeps are compared run by run ([`runs`]: matched by training config, so a
//! night and the one before line up whatever their directories) and, when both have a fit,
//! fit by fit ([`fits`]); a fit and a sweep compare the sweep's fit. The tolerances are the
//! defaults ([`Tolerances`]) under the current sweep's `[nightly]` table under the caller's.
//! Across many nights, [`trend`] tells a regression (two nights in a row) from a blip, and
//! [`history()`] gathers what a nightly sweep's report draws.

mod fits;
mod history;
mod runs;
mod side;
mod tolerance;
pub mod trend;

use std::path::Path;

use saescale_sweep::spec::NightlySpec;
use serde::Serialize;

pub use fits::{FitComparison, Quantity};
pub use history::history;
pub use runs::{Figure, RunComparison, RunsComparison};
pub use side::{latest_night, nights, Side, SweepSide};
pub use tolerance::{judge, Better, Tolerances, Verdict};

use crate::{Error, Result};

/// What a comparison found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The baseline, as opened (a night's directory, a file).
    pub baseline: String,
    /// The current side, as opened.
    pub current: String,
    /// The tolerances applied.
    pub tolerances: Tolerances,
    /// Run against run, when both sides are sweeps.
    pub runs: Option<RunsComparison>,
    /// Fit against fit, when both sides have one.
    pub fit: Option<FitComparison>,
}

impl Comparison {
    /// Whether anything regressed.
    pub fn regressed(&self) -> bool {
        !self.regressions().is_empty()
    }

    /// Every regression, one line each, naming the run (or the fit) and the figure.
    pub fn regressions(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for run in self.runs.iter().flat_map(|r| &r.matched) {
            for f in run.figures.iter().filter(|f| f.verdict == Verdict::Regressed) {
                let value = |v: Option<f64>| v.map_or_else(|| "missing".to_string(), |v| format!("{v}"));
                let tolerance = f.tolerance.map_or_else(String::new, |t| format!(" (tolerance {})", saescale_report::plot::number(t, 3)));
                lines.push(format!("run {} (F = {}, S = {}): {} {} → {}{tolerance}", run.id, run.features, run.steps, f.figure, value(f.baseline), value(f.current)));
            }
        }
        for q in self.fit.iter().flat_map(|f| &f.quantities).filter(|q| q.verdict == Verdict::Regressed) {
            lines.push(format!("fit: {} {} → {}, their 95% intervals do not overlap", q.quantity, q.baseline.value, q.current.value));
        }
        lines
    }
}

/// Compares `current` with `baseline`, with `overrides` (the command line's) over the current
/// sweep's `[nightly]` table over the defaults.
///
/// # Errors
/// [`Error::BadInput`] for a side that is missing or neither a sweep nor a fit, two sweeps
/// without a run in common (unrelated sweeps), fits of different kinds of table, or nothing to
/// compare (a fit against a sweep without one); store errors.
pub fn compare(baseline: &Path, current: &Path, overrides: &NightlySpec) -> Result<Comparison> {
    let (before, now) = (Side::open(baseline)?, Side::open(current)?);
    let spec = match &now {
        Side::Sweep(sweep) => merged(overrides, &sweep.nightly),
        Side::Fit { .. } => overrides.clone(),
    };
    let tolerances = Tolerances::from_spec(&spec);
    let runs = match (&before, &now) {
        (Side::Sweep(b), Side::Sweep(c)) => {
            let runs = runs::compare_runs(&b.records, &c.records, &tolerances);
            if runs.matched.is_empty() && !b.records.is_empty() && !c.records.is_empty() {
                return Err(Error::bad_input(format!(
                    "{} and {} have no run in common (their training configs differ): compare nights of one spec",
                    b.dir.display(),
                    c.dir.display()
                )));
            }
            Some(runs)
        }
        _ => None,
    };
    let fit = match (before.fit(), now.fit()) {
        (Some(b), Some(c)) => Some(fits::compare_fits(b, c, target_compute(&spec, c))?),
        _ if runs.is_none() => {
            return Err(Error::bad_input(format!(
                "nothing to compare: {} or {} has no fit (fit the sweep first, `saescale fit DIR`)",
                before.label(),
                now.label()
            )))
        }
        _ => None,
    };
    Ok(Comparison { baseline: before.label(), current: now.label(), tolerances, runs, fit })
}

/// Where the fitted optima are compared: the `[nightly]` target, else the report's default
/// recommendation target, 10× the current fit's largest budget.
fn target_compute(nightly: &NightlySpec, current: &saescale_fit::FitResult) -> f64 {
    nightly.target_compute.map_or(saescale_report::report::DEFAULT_TARGET_FACTOR * current.compute_range[1], |t| t.0)
}

/// `first`'s settings where it has them, else `second`'s.
fn merged(first: &NightlySpec, second: &NightlySpec) -> NightlySpec {
    NightlySpec {
        loss_relative: first.loss_relative.or(second.loss_relative),
        seed_sigmas: first.seed_sigmas.or(second.seed_sigmas),
        throughput_drop: first.throughput_drop.or(second.throughput_drop),
        memory_rise: first.memory_rise.or(second.memory_rise),
        l0_absolute: first.l0_absolute.or(second.l0_absolute),
        dead_fraction_absolute: first.dead_fraction_absolute.or(second.dead_fraction_absolute),
        target_compute: first.target_compute.or(second.target_compute),
    }
}
