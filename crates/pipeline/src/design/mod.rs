//! Sweep designs: where a sweep's runs go ([`plan`]) and, before any is trained, how well a
//! design is expected to pin down the optimum ([`simulate`]).
//!
//! A grid sweep is planned from its spec alone. An isoflop sweep centres each budget's
//! `points_per_budget` feature counts on the predicted optimum F*(C): the spec's prior (a power
//! law through an anchor, or an earlier fit's frontier) or, with `adaptive = true`, the fit of
//! the budgets already finished. Adaptive budgets train smallest first, one stage each; stage
//! `k` is planned once every run of the stages before it has finished (done or failed), from
//! their IsoFLOP minima:
//!
//! - two or more budgets with an interior minimum: the power law through the minima
//!   (saescale-fit's isoflop method), `F*(C) = G·(C/κ)^a`;
//! - one: the prior's exponent through that minimum;
//! - none (all minima at the edge): the prior.
//!
//! Placement is a pure function of the spec and the finished runs ([`stages`]), so a resumed,
//! re-run or killed-and-restarted sweep plans exactly the same runs, and a simulation that
//! feeds it simulated losses places runs exactly as the real sweep would. Each run records
//! which stage's fit (or the prior) placed it.

pub mod laws;
pub(crate) mod prior;
pub mod simulate;

use std::path::Path;

use saescale_fit::isoflop::{isoflop, profile};
use saescale_fit::{IsoFlopConfig, Points};
use saescale_sweep::plan::{Centre, PlacedBy};
use saescale_sweep::spec::Design;
use saescale_sweep::store::RunState;
use saescale_sweep::{Plan, RunStore, SweepSpec};

use crate::Result;
use prior::{LoadedPrior, PriorLaw};

/// A run that finished with a loss: what the next stage is placed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FinishedRun {
    pub features: f64,
    pub steps: f64,
    pub loss: f64,
}

/// The plan of `spec` for its sweep directory `dir`: a grid's, or an isoflop design's as far as
/// the finished runs in `dir` let it go.
///
/// # Errors
/// Spec errors (a prior that cannot be read or used, a budget too small for its span), store
/// errors.
pub(crate) fn plan(spec: &SweepSpec, dir: &Path) -> Result<Plan> {
    if spec.design() == Design::Grid {
        return Ok(Plan::new(spec)?);
    }
    let prior = LoadedPrior::of(spec)?;
    let store = if dir.join(saescale_sweep::store::layout::PLAN).is_file() { Some(RunStore::open(dir)?) } else { None };
    stages(spec, &prior.law, |plan| match &store {
        Some(store) => finished_runs(store, plan),
        None => Ok(None),
    })
}

/// The isoflop plan of `spec` as far as `finished` lets it go: `finished(plan)` gives the
/// finished runs of the stages planned so far, or `None` while some still has to run.
/// Non-adaptive designs centre every budget on the prior at once.
pub(crate) fn stages(spec: &SweepSpec, prior: &PriorLaw, mut finished: impl FnMut(&Plan) -> Result<Option<Vec<FinishedRun>>>) -> Result<Plan> {
    let budgets: Vec<f64> = spec.budgets_smallest_first().iter().map(|b| b.get_ref().0).collect();
    let from_prior = |c: f64| Centre { features: prior.centre(c), placed_by: PlacedBy::Prior };
    if !spec.axes.adaptive.as_ref().is_some_and(|a| *a.get_ref()) {
        return Ok(Plan::isoflop(spec, &budgets.iter().map(|&c| from_prior(c)).collect::<Vec<_>>())?);
    }
    let kappa = spec.kappa();
    let mut centres = vec![from_prior(budgets[0])];
    loop {
        let plan = Plan::isoflop(spec, &centres)?;
        let stage = centres.len();
        if stage == budgets.len() {
            return Ok(plan);
        }
        let Some(runs) = finished(&plan)? else { return Ok(plan) };
        let features = fitted_centre(&runs, kappa, prior, budgets[stage]).unwrap_or_else(|| prior.centre(budgets[stage]));
        centres.push(Centre { features, placed_by: PlacedBy::StageFit { stage } });
    }
}

/// The plan's done runs with a loss, once every run has finished (done or failed); `None`
/// while some still has to run.
fn finished_runs(store: &RunStore, plan: &Plan) -> Result<Option<Vec<FinishedRun>>> {
    let mut done = Vec::new();
    for record in store.records(plan)? {
        match (record.state(), record.final_metrics.as_ref().and_then(|m| m.loss)) {
            (RunState::Done, Some(loss)) if loss > 0.0 && loss.is_finite() => {
                done.push(FinishedRun { features: record.run.features as f64, steps: record.run.steps as f64, loss });
            }
            (RunState::Done | RunState::Failed, _) => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(done))
}

/// F*(`compute`) from the IsoFLOP minima of the finished runs, or `None` when no budget has
/// an interior minimum.
fn fitted_centre(finished: &[FinishedRun], kappa: f64, prior: &PriorLaw, compute: f64) -> Option<f64> {
    let column = |get: fn(&FinishedRun) -> f64| finished.iter().map(get).collect::<Vec<f64>>();
    let points = Points::new(&column(|r| r.features), &column(|r| r.steps), &column(|r| r.loss)).ok()?;
    let config = IsoFlopConfig::default();
    if let Some(frontier) = isoflop(&points, kappa, &config).ok().and_then(|fit| fit.frontier) {
        return Some(frontier.x_opt(compute, kappa));
    }
    let minima = profile(&points, kappa, &config).ok()?;
    let best = minima.budgets.iter().filter(|b| b.interior).max_by(|a, b| a.compute.total_cmp(&b.compute))?;
    Some(best.x_opt * (compute / best.compute).powf(prior.exponent()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Losses of a Chinchilla-style law whose optimum is known in closed form.
    fn law(f: f64, s: f64) -> f64 {
        1.0 + 40.0 / f.powf(0.5) + 60.0 / s.powf(0.5)
    }

    #[test]
    fn stage_fits_recover_the_optimum_of_a_known_law() {
        // α = β = 0.5, A = 40, B = 60: F*(C) = G (C/κ)^0.5 with G = (αA/(βB))^(1/(α+β)) = 2/3.
        let kappa = 12.0 * 64.0 * 256.0;
        let prior = PriorLaw::Power { exponent: 0.5, compute: 1e11, features: 100.0 };
        let mut finished = Vec::new();
        for c in [1e11f64, 4e11] {
            let centre = (2.0 / 3.0) * (c / kappa).sqrt();
            for i in 0..7 {
                let features = centre * 8f64.powf(i as f64 / 6.0 - 0.5);
                let steps = c / (kappa * features);
                finished.push(FinishedRun { features, steps, loss: law(features, steps) });
            }
        }
        let predicted = fitted_centre(&finished, kappa, &prior, 1.6e12).unwrap();
        let exact = (2.0 / 3.0) * (1.6e12 / kappa).sqrt();
        assert!((predicted / exact - 1.0).abs() < 0.05, "{predicted} vs {exact}");
        // One budget: its minimum with the prior's exponent.
        let one = fitted_centre(&finished[..7], kappa, &prior, 4e11).unwrap();
        assert!((one / ((2.0 / 3.0) * (4e11 / kappa).sqrt()) - 1.0).abs() < 0.05, "{one}");
        // Minima at the edge only (three sizes below the optimum): no centre from the runs.
        assert!(fitted_centre(&finished[..3], kappa, &prior, 4e11).is_none());
    }
}
