//! A nightly sweep's history for its report: every night's runs and fit in order, the trend
//! rule applied to each run's loss and throughput ([`super::trend`]), and the latest night's
//! exponents judged against the baseline night's.

use std::path::{Path, PathBuf};

use saescale_report::dataset::{ExponentHistory, Finding, History, RunHistory};
use saescale_sweep::spec::NightlySpec;
use saescale_sweep::store::RunRecord;

use super::side::{nights, Side, SweepSide};
use super::tolerance::{Better, Tolerances, Verdict};
use super::trend::{trend, TrendStatus};
use crate::{Error, Result};

/// The history of the nightly sweep in `dir` (its `nights/`), with the latest night compared
/// with `baseline` (a night's date; default the night before the latest). Returns the latest
/// night's directory and the history.
///
/// # Errors
/// [`Error::BadInput`] when `dir` has no nights or `baseline` is not one of them; store errors.
pub fn history(dir: &Path, baseline: Option<&str>, overrides: &NightlySpec) -> Result<(PathBuf, History)> {
    let paths = nights(dir)?;
    let Some(latest) = paths.last().cloned() else {
        return Err(Error::bad_input(format!("{} has no nights (run the sweep with --night first)", dir.display())));
    };
    let dates: Vec<String> = paths.iter().map(|p| p.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())).collect();
    let baseline = match baseline {
        Some(date) => dates.iter().position(|d| d == date).ok_or_else(|| {
            Error::bad_input(format!("--baseline {date}: {} has no such night; it has {}", dir.display(), dates.join(", ")))
        })?,
        None => dates.len().saturating_sub(2),
    };
    let sides: Vec<SweepSide> = paths
        .iter()
        .map(|p| match Side::open(p)? {
            Side::Sweep(sweep) => Ok(sweep),
            Side::Fit { .. } => Err(Error::bad_input(format!("{} is not a night", p.display()))),
        })
        .collect::<Result<_>>()?;
    let latest_side = sides.last().expect("there is a latest night");
    let nightly = super::merged(overrides, &latest_side.nightly);
    let tolerances = Tolerances::from_spec(&nightly);
    let runs = run_histories(&sides);
    let exponents = exponent_histories(&sides);
    let mut findings = trend_findings(&runs, &dates, &tolerances);
    if let (Some(before), Some(now)) = (sides[baseline].fit.as_deref(), latest_side.fit.as_deref()) {
        let target = super::target_compute(&nightly, now);
        for q in super::fits::compare_fits(before, now, target)?.quantities.iter().filter(|q| q.verdict == Verdict::Regressed) {
            findings.push(Finding {
                subject: "fit".into(),
                figure: q.quantity.into(),
                status: format!("regressed against {}: its 95% interval no longer overlaps", dates[baseline]),
            });
        }
    }
    let history = History {
        nights: dates,
        baseline,
        loss_tolerance: tolerances.loss_relative,
        throughput_drop: tolerances.throughput_drop,
        runs,
        exponents,
        findings,
    };
    Ok((latest, history))
}

/// Each run of the latest night with its loss and throughput on every night (matched by id).
fn run_histories(sides: &[SweepSide]) -> Vec<RunHistory> {
    let latest = sides.last().map_or(&[][..], |s| &s.records[..]);
    let on = |side: &SweepSide, record: &RunRecord| side.records.iter().find(|r| r.run.id == record.run.id).and_then(|r| r.final_metrics.clone());
    latest
        .iter()
        .map(|record| {
            let nights: Vec<_> = sides.iter().map(|side| on(side, record)).collect();
            RunHistory {
                id: record.run.id.to_string(),
                features: record.run.features as f64,
                loss: nights.iter().map(|m| m.as_ref().and_then(|m| m.loss)).collect(),
                tokens_per_s: nights.iter().map(|m| m.as_ref().and_then(|m| m.tokens_per_s)).collect(),
            }
        })
        .collect()
}

/// α, β, a and b of every night's fit, with their bootstrap intervals.
fn exponent_histories(sides: &[SweepSide]) -> Vec<ExponentHistory> {
    type Pick = fn(&saescale_fit::FitResult) -> Option<(f64, Option<[f64; 2]>)>;
    let picks: [(&str, Pick); 4] = [
        ("alpha", |f| f.params.map(|p| (p.alpha, f.bootstrap.as_ref().and_then(|b| b.params).map(|s| s.alpha.ci95)))),
        ("beta", |f| f.params.map(|p| (p.beta, f.bootstrap.as_ref().and_then(|b| b.params).map(|s| s.beta.ci95)))),
        ("a", |f| Some((f.derived.a, f.bootstrap.as_ref().map(|b| b.derived.a.ci95)))),
        ("b", |f| Some((f.derived.b, f.bootstrap.as_ref().map(|b| b.derived.b.ci95)))),
    ];
    picks
        .into_iter()
        .map(|(name, pick)| ExponentHistory { name: name.into(), values: sides.iter().map(|s| s.fit.as_deref().and_then(pick)).collect() })
        .filter(|e| e.values.iter().any(Option::is_some))
        .collect()
}

/// The trend rule on each run's loss and throughput.
fn trend_findings(runs: &[RunHistory], dates: &[String], t: &Tolerances) -> Vec<Finding> {
    let mut findings = Vec::new();
    for run in runs {
        let figures: [(&str, &[Option<f64>], Better, f64); 2] =
            [("loss", &run.loss, Better::Lower, t.loss_relative), ("tokens_per_s", &run.tokens_per_s, Better::Higher, t.throughput_drop)];
        for (figure, values, better, relative) in figures {
            let status = match trend(values, |m| relative * m.abs(), better) {
                TrendStatus::Steady => continue,
                TrendStatus::Suspicious => "suspicious: the last night only".to_string(),
                TrendStatus::Regressed { since } => format!("regressed since {}", dates[since]),
            };
            findings.push(Finding { subject: run.id.clone(), figure: figure.into(), status });
        }
    }
    findings
}
