//! Stage 1 for an isoflop design: where each budget's feature counts are centred.
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
//! Placement is a pure function of the spec and the finished runs, so a resumed, re-run or
//! killed-and-restarted sweep plans exactly the same runs; each run records which stage's fit
//! (or the prior) placed it.

use std::path::Path;

use saescale_fit::isoflop::{isoflop, profile};
use saescale_fit::{FitResult, IsoFlopConfig, Points};
use saescale_spec::compute::run_flops;
use saescale_sweep::plan::{Centre, PlacedBy};
use saescale_sweep::spec::{Design, Prior};
use saescale_sweep::store::RunState;
use saescale_sweep::{Plan, RunStore, SweepSpec};

use crate::{Error, Result};

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
    let prior = PriorLaw::of(spec)?;
    let mut budgets: Vec<f64> = spec.axes.budgets.as_ref().map(|b| b.get_ref().iter().map(|b| b.get_ref().0).collect()).unwrap_or_default();
    budgets.sort_by(f64::total_cmp);
    let from_prior = |c: f64| Centre { features: prior.centre(c), placed_by: PlacedBy::Prior };
    if !spec.axes.adaptive.as_ref().is_some_and(|a| *a.get_ref()) {
        return Ok(Plan::isoflop(spec, &budgets.iter().map(|&c| from_prior(c)).collect::<Vec<_>>())?);
    }
    let store = if dir.join(saescale_sweep::store::layout::PLAN).is_file() { Some(RunStore::open(dir)?) } else { None };
    let kappa = run_flops(spec.template.d_in(), 1, 1, spec.template.batch_size());
    let mut centres = vec![from_prior(budgets[0])];
    loop {
        let plan = Plan::isoflop(spec, &centres)?;
        let stage = centres.len();
        let Some(store) = &store else { return Ok(plan) };
        if stage == budgets.len() {
            return Ok(plan);
        }
        let Some(finished) = finished_runs(store, &plan)? else { return Ok(plan) };
        let features = fitted_centre(&finished, kappa, &prior, budgets[stage]).unwrap_or_else(|| prior.centre(budgets[stage]));
        centres.push(Centre { features, placed_by: PlacedBy::StageFit { stage } });
    }
}

/// The (F, steps, loss) of the plan's done runs, once every run has finished (done or
/// failed); `None` while some still has to run.
fn finished_runs(store: &RunStore, plan: &Plan) -> Result<Option<Vec<(f64, f64, f64)>>> {
    let mut done = Vec::new();
    for record in store.records(plan)? {
        match (record.state(), record.final_metrics.as_ref().and_then(|m| m.loss)) {
            (RunState::Done, Some(loss)) if loss > 0.0 && loss.is_finite() => done.push((record.run.features as f64, record.run.steps as f64, loss)),
            (RunState::Done | RunState::Failed, _) => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(done))
}

/// F*(`compute`) from the IsoFLOP minima of the finished runs, or `None` when no budget has
/// an interior minimum.
fn fitted_centre(finished: &[(f64, f64, f64)], kappa: f64, prior: &PriorLaw, compute: f64) -> Option<f64> {
    let column = |i: usize| finished.iter().map(|r| [r.0, r.1, r.2][i]).collect::<Vec<f64>>();
    let points = Points::new(&column(0), &column(1), &column(2)).ok()?;
    let config = IsoFlopConfig::default();
    if let Some(frontier) = isoflop(&points, kappa, &config).ok().and_then(|fit| fit.frontier) {
        return Some(frontier.x_opt(compute, kappa));
    }
    let minima = profile(&points, kappa, &config).ok()?;
    let best = minima.budgets.iter().filter(|b| b.interior).max_by(|a, b| a.compute.total_cmp(&b.compute))?;
    Some(best.x_opt * (compute / best.compute).powf(prior.exponent()))
}

/// The prior's prediction F*(C).
#[derive(Debug, Clone, Copy, PartialEq)]
enum PriorLaw {
    /// `F*(C) = features · (C / compute)^exponent`.
    Power { exponent: f64, compute: f64, features: f64 },
    /// An earlier fit's frontier `F*(C) = G·(C/κ)^a`.
    Fit { a: f64, g: f64, kappa: f64 },
}

impl PriorLaw {
    /// The spec's prior (its `fit` path, like a shard directory's, relative to the working
    /// directory).
    ///
    /// # Errors
    /// A spec error at the prior's key for a fit that cannot be read or has no usable frontier.
    fn of(spec: &SweepSpec) -> Result<PriorLaw> {
        let prior: &Prior = spec.axes.prior.as_ref().map(|p| p.get_ref()).ok_or_else(|| Error::bad_input("design = \"isoflop\" needs a [sweep.prior]"))?;
        if let (Some(exponent), Some(anchor)) = (prior.exponent, prior.anchor) {
            return Ok(PriorLaw::Power { exponent, compute: anchor.compute.0, features: anchor.features.0 });
        }
        let Some(path) = &prior.fit else { return Err(Error::bad_input("[sweep.prior] needs `exponent` and `anchor`, or `fit`")) };
        let fail = |why: String| -> Error { saescale_sweep::Error::from(spec.error_at(&["sweep", "prior", "fit"], why)).into() };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read the prior's fit {}: {e}", path.display())))?;
        let fit: FitResult = serde_json::from_str(&text).map_err(|e| fail(format!("{} is not a fit written by `saescale fit`: {e}", path.display())))?;
        let frontier = fit.frontier;
        if !(frontier.a > 0.0 && frontier.a < 1.0 && frontier.G > 0.0 && frontier.G.is_finite()) {
            return Err(fail(format!("the frontier of {} (a = {}, G = {}) cannot place runs: expected 0 < a < 1 and G > 0", path.display(), frontier.a, frontier.G)));
        }
        Ok(PriorLaw::Fit { a: frontier.a, g: frontier.G, kappa: fit.kappa })
    }

    fn centre(&self, c: f64) -> f64 {
        match *self {
            PriorLaw::Power { exponent, compute, features } => features * (c / compute).powf(exponent),
            PriorLaw::Fit { a, g, kappa } => g * (c / kappa).powf(a),
        }
    }

    fn exponent(&self) -> f64 {
        match *self {
            PriorLaw::Power { exponent, .. } => exponent,
            PriorLaw::Fit { a, .. } => a,
        }
    }
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
                let f = centre * 8f64.powf(i as f64 / 6.0 - 0.5);
                let s = c / (kappa * f);
                finished.push((f, s, law(f, s)));
            }
        }
        let predicted = fitted_centre(&finished, kappa, &prior, 1.6e12).unwrap();
        let exact = (2.0 / 3.0) * (1.6e12 / kappa).sqrt();
        assert!((predicted / exact - 1.0).abs() < 0.05, "{predicted} vs {exact}");
        // One budget: its minimum with the prior's exponent.
        let one = fitted_centre(&finished[..7], kappa, &prior, 4e11).unwrap();
        assert!((one / ((2.0 / 3.0) * (4e11 / kappa).sqrt()) - 1.0).abs() < 0.05, "{one}");
        // Minima at the edge only (three sizes below the optimum): no centre from the runs.
        let edge: Vec<(f64, f64, f64)> = finished[..3].to_vec();
        assert!(fitted_centre(&edge, kappa, &prior, 4e11).is_none());
    }

    #[test]
    fn a_power_law_prior_goes_through_its_anchor() {
        let prior = PriorLaw::Power { exponent: 0.6, compute: 1e12, features: 512.0 };
        assert_eq!(prior.centre(1e12), 512.0);
        assert!((prior.centre(1e13) / (512.0 * 10f64.powf(0.6)) - 1.0).abs() < 1e-12);
    }
}
