//! IsoFLOP profiles (M3, Chinchilla Approach 2 / Porian et al. style): no parametric surface.
//!
//! 1. Group points by compute `C = κ·X·Y` (a new budget starts where `C` exceeds the group's
//!    first value by more than the relative tolerance); the budget is the geometric mean.
//! 2. Per budget, draw a curve of loss against `ln X` ([`crate::interp`]; an Akima spline by
//!    default, as pitfall 7 advises, or a least-squares parabola) and take its minimum. Two
//!    rules make that minimum sound on real tables:
//!    - *Near-equal sizes are one node.* Sizes within [`IsoFlopConfig::same_size`] (5%) of a
//!      cluster's mean are averaged (mean `ln X`, mean loss) before the spline is built.
//!      Digitised tables scatter one model size over several nearby values (Epoch AI's
//!      extraction of Chinchilla's Figure 4, tests/data/chinchilla_epoch_svg_extracted.csv),
//!      and an interpolating spline through two almost coincident nodes with different losses
//!      has slopes of any size. The parabola is a least-squares fit and takes every point.
//!    - *A curve that swings is not used.* When the curve leaves the band of its own points'
//!      losses by more than [`IsoFlopConfig::max_swing`] (half) of their span anywhere in the
//!      sampled range (found exactly, at the curve's stationary points), its minimum is an
//!      artefact of noise and the budget is skipped.
//!
//!    A budget needs three distinct sizes after merging. Budgets whose minimiser is at the
//!    edge of the sampled range are kept in the profile but not used for the frontier.
//! 3. Fit power laws through the interior optima by least squares in log space:
//!
//! ```text
//! ln X*(C) = a·ln(C/κ) + ln G,   Y*(C) = C/(κ·X*) = G⁻¹·(C/κ)^(1−a),   ln L*(C) = ln K − γ·ln(C/κ)
//! ```
//!
//! giving a [`Frontier`] with `E = 0` (a pure power law for the loss through the optima).
//!
//! [`isoflop`] is the method (it fails without two interior optima); [`profile`] runs the same
//! steps and never fails for lack of budgets, which is how every parametric fit records its
//! IsoFLOP profile as a diagnostic ([`IsoFlopFit::diagnostic`], without warnings). Each budget of the result
//! holds everything a figure needs to draw it without recomputing: its points (indices into
//! the fitted [`Points`]), its minimum, and the curve sampled at [`CURVE_SAMPLES`] sizes.
//!
//! Warnings (docs/METHODS.md M3, pitfall 7): a sampling grid that reaches more than 4× beyond the
//! minimiser on either side (the parabola vertex is then biased when α ≠ β), and a minimiser
//! outside the middle half of the sampled log-range (off-centre grid).
//!
//! ## Reference
//! Hoffmann et al. 2022, arXiv:2203.15556 §3.2 (Approach 2); Porian et al. 2024,
//! arXiv:2406.19146 (Akima interpolation, interior-minimum checks); Open-Athena
//! scaling-law-analysis (parabola bias on wide grids; docs/METHODS.md T10).

use serde::{Deserialize, Serialize};

use crate::allocation::Frontier;
use crate::error::{Error, Result};
use crate::interp::{self, Interpolant, Interpolation};
use crate::points::{check_kappa, Points};
use crate::stats::fit_line;

/// Number of `(x, loss)` samples of each budget's curve in [`BudgetOptimum::curve`]: 60
/// equal steps in `ln X` over the curve's range, both ends included.
pub const CURVE_SAMPLES: usize = 61;

/// Settings of an IsoFLOP analysis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IsoFlopConfig {
    /// Points whose compute is within this relative distance of a budget's first point share it.
    pub budget_tolerance: f64,
    /// How each budget's minimum is located.
    pub interpolation: Interpolation,
    /// A grid reaching further than this factor from the minimiser on either side is "wide".
    pub wide_factor: f64,
    /// Sizes within this factor of a cluster's mean size are one node of the spline (their
    /// `ln X` and losses averaged); 1 merges equal sizes only. Read as 1 from fit.json of
    /// schema 1, whose analyses merged equal sizes only.
    #[serde(default = "schema_1_same_size")]
    pub same_size: f64,
    /// A curve that leaves the band of its points' losses by more than this fraction of their
    /// span (max − min) is not used and its budget is skipped. Read as `f64::MAX` (no such
    /// rule) from fit.json of schema 1.
    #[serde(default = "schema_1_max_swing")]
    pub max_swing: f64,
}

/// Near-equal sizes are one node when within 5% (the report's figures used the same factor).
const SAME_SIZE: f64 = 1.05;

/// A curve may leave its points' loss band by half their span.
const MAX_SWING: f64 = 0.5;

fn schema_1_same_size() -> f64 {
    1.0
}

fn schema_1_max_swing() -> f64 {
    f64::MAX
}

impl Default for IsoFlopConfig {
    fn default() -> Self {
        IsoFlopConfig {
            budget_tolerance: 0.1,
            interpolation: Interpolation::Akima,
            wide_factor: 4.0,
            same_size: SAME_SIZE,
            max_swing: MAX_SWING,
        }
    }
}

impl IsoFlopConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: &str| Err(Error::InvalidConfig { field, reason: reason.into() });
        if !(self.budget_tolerance > 0.0 && self.budget_tolerance.is_finite()) {
            return bad("budget_tolerance", "must be positive");
        }
        if !(self.wide_factor >= 1.0 && self.wide_factor.is_finite()) {
            return bad("wide_factor", "must be a finite factor of at least 1");
        }
        if !(self.same_size >= 1.0 && self.same_size.is_finite()) {
            return bad("same_size", "must be a finite factor of at least 1");
        }
        if !(self.max_swing > 0.0 && self.max_swing.is_finite()) {
            return bad("max_swing", "must be finite and positive");
        }
        Ok(())
    }
}

/// Something the analysis wants the reader to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// A budget had too few distinct sizes (or no positive curvature) and was skipped.
    Skipped {
        /// Budget.
        compute: f64,
        /// Points in the budget.
        points: usize,
    },
    /// A budget's curve swings beyond its points (see [`IsoFlopConfig::max_swing`]); skipped.
    Unsteady {
        /// Budget.
        compute: f64,
        /// How far the curve leaves the band of its points' losses (loss units).
        swing: f64,
        /// Span (max − min) of those losses.
        span: f64,
    },
    /// A budget's minimiser was at the edge of its sampled range; the budget was rejected.
    EdgeMinimum {
        /// Budget.
        compute: f64,
        /// Where the interpolant is lowest.
        x: f64,
    },
    /// The sampled sizes reach further than the wide factor from the minimiser.
    WideGrid {
        /// Budget.
        compute: f64,
        /// Largest ratio between a sampled size and the minimiser (either side).
        factor: f64,
    },
    /// The minimiser lies outside the middle half of the sampled log-range.
    OffCentre {
        /// Budget.
        compute: f64,
        /// Minimiser's position in the sampled log-range (0 = smallest size, 1 = largest).
        position: f64,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::Skipped { compute, points } => {
                write!(f, "budget C = {compute:.4e}: {points} points give no usable minimum; skipped")
            }
            Warning::Unsteady { compute, swing, span } => write!(
                f,
                "budget C = {compute:.4e}: the curve through its points swings {swing:.3e} beyond their losses (span {span:.3e}); skipped — the points are too noisy or too close for an interpolating spline"
            ),
            Warning::EdgeMinimum { compute, x } => write!(
                f,
                "budget C = {compute:.4e}: the minimum (x = {x:.4e}) is at the edge of the sampled sizes; rejected — sample beyond it"
            ),
            Warning::WideGrid { compute, factor } => write!(
                f,
                "budget C = {compute:.4e}: sizes reach {factor:.1}x from the minimiser (> 4x); a parabola vertex is biased when alpha != beta — prefer --interp akima or a parametric fit"
            ),
            Warning::OffCentre { compute, position } => write!(
                f,
                "budget C = {compute:.4e}: the minimiser sits at {:.0}% of the sampled log-range (off-centre grid)",
                position * 100.0
            ),
        }
    }
}

/// The optimum of one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetOptimum {
    /// Budget (geometric mean of the group's compute).
    pub compute: f64,
    /// Points in the budget.
    pub points: usize,
    /// Smallest and largest sampled size.
    pub x_range: [f64; 2],
    /// Optimal size with the chosen interpolation.
    pub x_opt: f64,
    /// Optimal duration `C/(κ·X*)`.
    pub y_opt: f64,
    /// Interpolated loss at the optimum.
    pub loss_opt: f64,
    /// Whether the minimiser is inside the sampled range (budgets that are not are not used).
    pub interior: bool,
    /// Minimiser of the least-squares parabola, for comparison.
    pub parabola_x_opt: Option<f64>,
    /// Minimiser of the Akima spline (through the merged sizes), for comparison.
    pub akima_x_opt: Option<f64>,
    /// The budget's points: indices into the [`Points`] that were fitted, by increasing size
    /// (empty in fit.json of schema 1).
    #[serde(default)]
    pub indices: Vec<usize>,
    /// The curve whose minimum this is, as `[x, loss]` pairs at [`CURVE_SAMPLES`] sizes evenly
    /// spaced in `ln X` over the curve's range (the merged sizes for the spline, so it may
    /// start and end a little inside `x_range`); empty in fit.json of schema 1.
    #[serde(default)]
    pub curve: Vec<[f64; 2]>,
}

/// Why a budget has no optimum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// Fewer than three distinct sizes (after merging near-equal ones for the spline).
    TooFewSizes {
        /// Distinct sizes.
        sizes: usize,
    },
    /// The least-squares parabola does not open upwards.
    NoCurvature,
    /// The curve swings beyond its points' losses (see [`IsoFlopConfig::max_swing`]).
    Unsteady {
        /// How far the curve leaves the band of its points' losses (loss units).
        swing: f64,
        /// Span (max − min) of those losses.
        span: f64,
    },
}

/// A budget without an optimum: its points, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedBudget {
    /// Budget (geometric mean of the group's compute).
    pub compute: f64,
    /// The budget's points: indices into the fitted [`Points`], by increasing size.
    pub indices: Vec<usize>,
    /// Why it has no optimum.
    pub reason: SkipReason,
}

/// Result of an IsoFLOP analysis, or the IsoFLOP profile of a parametric fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsoFlopFit {
    /// Settings used.
    pub config: IsoFlopConfig,
    /// Per-budget optima (all budgets with a minimum, interior or not), by increasing compute.
    pub budgets: Vec<BudgetOptimum>,
    /// Budgets without a minimum, by increasing compute (empty in fit.json of schema 1).
    #[serde(default)]
    pub skipped: Vec<SkippedBudget>,
    /// The frontier through the interior optima (`E = 0`). Always present for the isoflop
    /// method; for a profile, `None` with fewer than two interior optima.
    pub frontier: Option<Frontier>,
    /// Whether this is the diagnostic profile of a parametric fit (whose frontier is the joint
    /// law's, not this one's) rather than the isoflop method's own analysis.
    #[serde(default)]
    pub diagnostic: bool,
    /// Warnings, by budget: skipped budgets, minima at the edge, wide or off-centre grids. A
    /// diagnostic profile has none — a sweep need not be IsoFLOP-shaped for a parametric fit,
    /// and what they would say is in each budget's `interior` and `x_range` and in `skipped`.
    pub warnings: Vec<Warning>,
}

/// Indices of the points grouped by budget, in increasing compute, with each budget's value
/// (also used by the report to draw one IsoFLOP curve per budget).
pub fn group_by_budget(ln_compute: &[f64], tolerance: f64) -> Vec<(f64, Vec<usize>)> {
    let mut order: Vec<usize> = (0..ln_compute.len()).collect();
    order.sort_by(|&i, &j| ln_compute[i].total_cmp(&ln_compute[j]));
    let gap = (1.0 + tolerance).ln();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match groups.last_mut() {
            Some(group) if ln_compute[i] - ln_compute[group[0]] <= gap => group.push(i),
            _ => groups.push(vec![i]),
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let mean = g.iter().map(|&i| ln_compute[i]).sum::<f64>() / g.len() as f64;
            (mean.exp(), g)
        })
        .collect()
}

/// Runs the IsoFLOP analysis on `points` with compute `C = κ·X·Y`: the steps of
/// [`profile`], the frontier through the interior optima (which must exist), and the
/// warnings.
///
/// # Errors
/// [`Error::InvalidConfig`] for a bad κ or setting; [`Error::Profile`] when fewer than two
/// budgets have an interior minimum.
pub fn isoflop(points: &Points, kappa: f64, config: &IsoFlopConfig) -> Result<IsoFlopFit> {
    let (mut fit, mut warnings) = analyse(points, kappa, config)?;
    if fit.frontier.is_none() {
        // Repeats the frontier's fit for its error message.
        frontier_through(&fit.budgets, kappa)?;
    }
    for s in &fit.skipped {
        warnings.push(match s.reason {
            SkipReason::Unsteady { swing, span } => Warning::Unsteady { compute: s.compute, swing, span },
            SkipReason::TooFewSizes { .. } | SkipReason::NoCurvature => Warning::Skipped { compute: s.compute, points: s.indices.len() },
        });
    }
    sort_warnings(&mut warnings);
    fit.warnings = warnings;
    Ok(fit)
}

/// The per-budget IsoFLOP profile of `points` with compute `C = κ·X·Y`, as every parametric
/// fit records it: the steps of [`isoflop`] without requiring any budget. The frontier is
/// there when at least two budgets have an interior optimum. The result is marked
/// [`IsoFlopFit::diagnostic`] and has no warnings (see [`IsoFlopFit::warnings`]).
///
/// # Errors
/// [`Error::InvalidConfig`] for a bad κ or setting.
pub fn profile(points: &Points, kappa: f64, config: &IsoFlopConfig) -> Result<IsoFlopFit> {
    let (mut fit, _) = analyse(points, kappa, config)?;
    fit.diagnostic = true;
    Ok(fit)
}

/// Groups, budget optima, skipped budgets and the frontier when there is one; with the
/// warnings about the optima, by budget.
fn analyse(points: &Points, kappa: f64, config: &IsoFlopConfig) -> Result<(IsoFlopFit, Vec<Warning>)> {
    check_kappa(kappa)?;
    config.validate()?;
    let ln_c = points.ln_compute(kappa);
    let mut budgets = Vec::new();
    let mut skipped = Vec::new();
    let mut warnings = Vec::new();
    for (compute, mut group) in group_by_budget(&ln_c, config.budget_tolerance) {
        group.sort_by(|&i, &j| points.ln_x[i].total_cmp(&points.ln_x[j]).then(i.cmp(&j)));
        match budget_optimum(points, kappa, config, compute, &group) {
            Ok((budget, budget_warnings)) => {
                budgets.push(budget);
                warnings.extend(budget_warnings);
            }
            Err(reason) => skipped.push(SkippedBudget { compute, indices: group, reason }),
        }
    }
    let frontier = frontier_through(&budgets, kappa).ok();
    let fit = IsoFlopFit { config: *config, budgets, skipped, frontier, diagnostic: false, warnings: Vec::new() };
    Ok((fit, warnings))
}

/// The optimum of the budget `compute` made of the points `group` (sorted by size), with the
/// warnings it raises, or why it has none.
fn budget_optimum(
    points: &Points,
    kappa: f64,
    config: &IsoFlopConfig,
    compute: f64,
    group: &[usize],
) -> std::result::Result<(BudgetOptimum, Vec<Warning>), SkipReason> {
    let lx: Vec<f64> = group.iter().map(|&i| points.ln_x[i]).collect();
    let loss: Vec<f64> = group.iter().map(|&i| points.ln_loss[i].exp()).collect();
    let (node_x, node_loss) = interp::merge_nearby(&lx, &loss, config.same_size.ln());
    let (curve_x, curve_loss) = match config.interpolation {
        Interpolation::Akima => (&node_x, &node_loss),
        Interpolation::Parabola => (&lx, &loss),
    };
    let Some(curve) = Interpolant::new(config.interpolation, curve_x, curve_loss) else {
        let sizes = match config.interpolation {
            Interpolation::Akima => node_x.len(),
            Interpolation::Parabola => interp::merge_nearby(&lx, &loss, 0.0).0.len(),
        };
        return Err(SkipReason::TooFewSizes { sizes });
    };
    let min = curve.minimum().ok_or(SkipReason::NoCurvature)?;
    let (low, high) = curve_loss.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &l| (a.min(l), b.max(l)));
    let (curve_low, curve_high) = curve.extremes();
    let swing = (low - curve_low).max(curve_high - high).max(0.0);
    let span = high - low;
    if swing > config.max_swing * span {
        return Err(SkipReason::Unsteady { swing, span });
    }
    let (lo, hi) = (lx[0], lx[lx.len() - 1]);
    let mut warnings = Vec::new();
    if min.interior {
        let factor = (hi - min.x).max(min.x - lo).exp();
        if factor > config.wide_factor {
            warnings.push(Warning::WideGrid { compute, factor });
        }
        let position = (min.x - lo) / (hi - lo);
        if !(0.25..=0.75).contains(&position) {
            warnings.push(Warning::OffCentre { compute, position });
        }
    } else {
        warnings.push(Warning::EdgeMinimum { compute, x: min.x.exp() });
    }
    let x_opt = min.x.exp();
    let budget = BudgetOptimum {
        compute,
        points: group.len(),
        x_range: [lo.exp(), hi.exp()],
        x_opt,
        y_opt: compute / (kappa * x_opt),
        loss_opt: min.y,
        interior: min.interior,
        parabola_x_opt: interp::parabola_minimum(&lx, &loss).map(|m| m.x.exp()),
        akima_x_opt: interp::Akima::new(&node_x, &node_loss).map(|a| a.minimum().x.exp()),
        indices: group.to_vec(),
        curve: curve.sample(CURVE_SAMPLES).into_iter().map(|(u, l)| [u.exp(), l]).collect(),
    };
    Ok((budget, warnings))
}

/// Orders warnings by budget (stable, so a budget's own warnings keep their order).
fn sort_warnings(warnings: &mut [Warning]) {
    let compute = |w: &Warning| match *w {
        Warning::Skipped { compute, .. }
        | Warning::Unsteady { compute, .. }
        | Warning::EdgeMinimum { compute, .. }
        | Warning::WideGrid { compute, .. }
        | Warning::OffCentre { compute, .. } => compute,
    };
    warnings.sort_by(|a, b| compute(a).total_cmp(&compute(b)));
}

/// Power laws through the interior optima.
fn frontier_through(budgets: &[BudgetOptimum], kappa: f64) -> Result<Frontier> {
    let used: Vec<&BudgetOptimum> = budgets.iter().filter(|b| b.interior && b.loss_opt > 0.0).collect();
    let fail = |reason: String| Error::Profile { what: "IsoFLOP analysis", reason };
    if used.len() < 2 {
        return Err(fail(format!(
            "{} of {} budgets have an interior minimum; at least 2 are needed",
            used.len(),
            budgets.len()
        )));
    }
    let ln_c: Vec<f64> = used.iter().map(|b| (b.compute / kappa).ln()).collect();
    let ones = vec![1.0; used.len()];
    let x_line = fit_line(&ln_c, &used.iter().map(|b| b.x_opt.ln()).collect::<Vec<_>>(), &ones)
        .ok_or_else(|| fail("all budgets have the same compute".into()))?;
    let loss_line = fit_line(&ln_c, &used.iter().map(|b| b.loss_opt.ln()).collect::<Vec<_>>(), &ones)
        .ok_or_else(|| fail("all budgets have the same compute".into()))?;
    Ok(Frontier {
        a: x_line.slope,
        b: 1.0 - x_line.slope,
        G: x_line.intercept.exp(),
        E: 0.0,
        K: loss_line.intercept.exp(),
        gamma: -loss_line.slope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::law::JointParams;

    #[test]
    fn groups_budgets_by_relative_tolerance() {
        let ln_c: Vec<f64> = [1e18, 1.05e18, 3e18, 1e18, 2.9e18].iter().map(|c: &f64| c.ln()).collect();
        let groups = group_by_budget(&ln_c, 0.1);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].1.len(), 3);
        assert_eq!(groups[1].1, vec![4, 2]);
    }

    #[test]
    fn symmetric_grids_around_true_optimum_give_exact_exponent() {
        let p = JointParams::hoffmann_rounded();
        let f = Frontier::from_joint(&p);
        let (mut x, mut c) = (Vec::new(), Vec::new());
        for k in 0..5 {
            let budget = 10f64.powi(17 + k);
            for j in -4..=4 {
                x.push(f.x_opt(budget, 6.0) * 2f64.powf(j as f64 / 4.0));
                c.push(budget);
            }
        }
        let loss: Vec<f64> = x.iter().zip(&c).map(|(&x, &c)| p.predict(x, c / (6.0 * x))).collect();
        let points = Points::from_compute(&x, &c, &loss, 6.0).unwrap();
        let config = IsoFlopConfig { interpolation: Interpolation::Parabola, ..Default::default() };
        let fit = isoflop(&points, 6.0, &config).unwrap();
        assert_eq!(fit.budgets.len(), 5);
        let frontier = fit.frontier.unwrap();
        assert!((frontier.a - f.a).abs() < 1e-9, "{} vs {}", frontier.a, f.a);
        assert!(fit.warnings.is_empty(), "{:?}", fit.warnings);
    }

    #[test]
    fn edge_minimum_is_rejected_with_warning() {
        // Loss decreasing in x within every budget: no interior minimum.
        let x = [1.0, 2.0, 4.0, 1.0, 2.0, 4.0];
        let c = [8.0, 8.0, 8.0, 80.0, 80.0, 80.0];
        let loss = [3.0, 2.0, 1.5, 2.0, 1.5, 1.2];
        let points = Points::from_compute(&x, &c, &loss, 1.0).unwrap();
        let err = isoflop(&points, 1.0, &IsoFlopConfig { interpolation: Interpolation::Akima, ..Default::default() });
        assert!(matches!(err, Err(Error::Profile { .. })), "{err:?}");
    }

    /// Points `(x, loss)` of one budget at compute `c` (κ = 1).
    fn budget_points(x: &[f64], loss: &[f64], c: f64) -> Points {
        Points::from_compute(x, &vec![c; x.len()], loss, 1.0).unwrap()
    }

    #[test]
    fn budgets_record_their_points_and_curve() {
        let p = JointParams::hoffmann_rounded();
        let f = Frontier::from_joint(&p);
        let (mut x, mut c) = (Vec::new(), Vec::new());
        // Sizes in decreasing order, budgets interleaved: indices must come back sorted by size.
        for j in (-4..=4).rev() {
            for k in 0..3 {
                let budget = 10f64.powi(18 + k);
                x.push(f.x_opt(budget, 6.0) * 2f64.powf(j as f64 / 2.0));
                c.push(budget);
            }
        }
        let loss: Vec<f64> = x.iter().zip(&c).map(|(&x, &c)| p.predict(x, c / (6.0 * x))).collect();
        let points = Points::from_compute(&x, &c, &loss, 6.0).unwrap();
        for interpolation in [Interpolation::Akima, Interpolation::Parabola] {
            let fit = isoflop(&points, 6.0, &IsoFlopConfig { interpolation, ..Default::default() }).unwrap();
            assert!(!fit.diagnostic && fit.skipped.is_empty());
            let mut seen: Vec<usize> = fit.budgets.iter().flat_map(|b| b.indices.iter().copied()).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..points.len()).collect::<Vec<_>>());
            for b in &fit.budgets {
                assert_eq!(b.indices.len(), 9);
                assert!(b.indices.windows(2).all(|w| x[w[0]] < x[w[1]]), "{:?}", b.indices);
                assert!(b.indices.iter().all(|&i| (c[i] / b.compute - 1.0).abs() < 1e-9));
                assert_eq!(b.curve.len(), CURVE_SAMPLES);
                // No sizes merge on this grid, so the curve spans the sampled sizes exactly.
                assert!((b.curve[0][0] / b.x_range[0] - 1.0).abs() < 1e-12 && (b.curve[60][0] / b.x_range[1] - 1.0).abs() < 1e-12);
                assert!(b.curve.windows(2).all(|w| w[0][0] < w[1][0]));
                // The minimum is the curve's lowest value: no sample lies below it.
                assert!(b.curve.iter().all(|s| s[1] >= b.loss_opt - 1e-12), "{interpolation:?}");
                if interpolation == Interpolation::Akima {
                    // An interpolating spline passes through its (unmerged) nodes.
                    let first = b.indices[0];
                    assert!((b.curve[0][1] - loss[first]).abs() < 1e-12);
                }
            }
        }
    }

    /// Sizes within 5% are one node: a digitised table that lists a size twice (1e9 and
    /// 1.02e9) with losses quantised apart gives the spline one averaged node there.
    #[test]
    fn near_equal_sizes_are_merged_before_the_spline() {
        let x = [1e8, 3e8, 1e9, 1.02e9, 3e9, 1e10];
        let loss = [2.6, 2.4, 2.30, 2.36, 2.35, 2.5];
        let points = budget_points(&x, &loss, 1e20);
        let fit = profile(&points, 1.0, &IsoFlopConfig::default()).unwrap();
        let b = &fit.budgets[0];
        assert_eq!((b.points, b.indices.len()), (6, 6));
        // Five nodes: the merged one at the geometric mean of 1e9 and 1.02e9, loss 2.33.
        let merged = (1e9f64 * 1.02e9).sqrt();
        let at = b.curve.iter().map(|s| (s[0] / merged).ln().abs()).enumerate().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
        let spline = interp::Akima::new(&[1e8f64.ln(), 3e8f64.ln(), merged.ln(), 3e9f64.ln(), 1e10f64.ln()], &[2.6, 2.4, 2.33, 2.35, 2.5]).unwrap();
        assert!((b.curve[at][1] - spline.eval(b.curve[at][0].ln())).abs() < 1e-12);
        assert!((b.x_opt / spline.minimum().x.exp() - 1.0).abs() < 1e-12 && b.interior);
        // Merging equal sizes only keeps both nodes (and a different curve).
        let unmerged = profile(&points, 1.0, &IsoFlopConfig { same_size: 1.0, ..Default::default() }).unwrap();
        assert_ne!(unmerged.budgets.first().map(|b| b.x_opt), Some(b.x_opt));
        // Three distinct sizes are needed after merging.
        let few = budget_points(&[1e9, 1.01e9, 1.02e9, 3e9], &[2.0, 2.1, 2.2, 2.3], 1e20);
        let fit = profile(&few, 1.0, &IsoFlopConfig::default()).unwrap();
        assert!(fit.budgets.is_empty());
        assert_eq!(fit.skipped[0].reason, SkipReason::TooFewSizes { sizes: 2 });
        assert_eq!(fit.skipped[0].indices, vec![0, 1, 2, 3]);
    }

    /// A curve that swings far beyond its points is not used. Akima's node slope at 0.2 copies
    /// the steep slope on its left (the two slopes before it are equal), so the long flat
    /// piece after it bulges: with losses 1, 2, 3, 3, 2.5 (span 2) it rises to about 4.5.
    #[test]
    fn a_swinging_spline_is_skipped() {
        let x: Vec<f64> = [0.0, 0.1, 0.2, 1.2, 2.2].iter().map(|u: &f64| u.exp()).collect();
        let points = budget_points(&x, &[1.0, 2.0, 3.0, 3.0, 2.5], 1e20);
        let fit = profile(&points, 1.0, &IsoFlopConfig::default()).unwrap();
        assert!(fit.budgets.is_empty());
        let SkipReason::Unsteady { swing, span } = fit.skipped[0].reason else { panic!("{:?}", fit.skipped) };
        assert!((span - 2.0).abs() < 1e-12 && swing > 1.0, "{swing} {span}");
        // The figure's sampled check (101 points of the spline) sees it too.
        let spline = interp::Akima::new(&points.ln_x, &[1.0, 2.0, 3.0, 3.0, 2.5]).unwrap();
        assert!((0..=100).map(|i| spline.eval(2.2 * f64::from(i) / 100.0)).any(|v| v > 3.0 + 0.5 * span));
        // Allowing a larger swing keeps the budget; the isoflop method warns about a skip.
        let loose = profile(&points, 1.0, &IsoFlopConfig { max_swing: 1.0, ..Default::default() }).unwrap();
        assert_eq!(loose.budgets.len(), 1);
        let mut two = x.clone();
        two.extend(&x);
        let mut c = vec![1e20; 5];
        c.extend([1e22; 5]);
        let mut loss = vec![1.0, 2.0, 3.0, 3.0, 2.5];
        loss.extend([3.0, 2.0, 1.5, 1.6, 2.0]);
        let points = Points::from_compute(&two, &c, &loss, 1.0).unwrap();
        let err = isoflop(&points, 1.0, &IsoFlopConfig::default()).unwrap_err();
        assert!(err.to_string().contains("1 of 1 budgets"), "{err}");
        let diagnostic = profile(&points, 1.0, &IsoFlopConfig::default()).unwrap();
        assert!(diagnostic.diagnostic && diagnostic.frontier.is_none() && diagnostic.skipped.len() == 1);
        assert!(diagnostic.warnings.is_empty());
    }

    #[test]
    fn a_profile_without_budgets_is_not_an_error() {
        // Every point its own budget (compute grows 16× per point).
        let x: Vec<f64> = (0..6).map(|i| 1e6 * 4f64.powi(i)).collect();
        let loss: Vec<f64> = (0..6).map(|i| 3.0 - 0.2 * f64::from(i)).collect();
        let points = Points::new(&x, &x, &loss).unwrap();
        let fit = profile(&points, 6.0, &IsoFlopConfig::default()).unwrap();
        assert!(fit.budgets.is_empty() && fit.frontier.is_none() && fit.warnings.is_empty());
        assert_eq!(fit.skipped.len(), 6);
        assert!(fit.skipped.iter().all(|s| s.indices.len() == 1 && s.reason == SkipReason::TooFewSizes { sizes: 1 }));
        assert!(matches!(isoflop(&points, 6.0, &IsoFlopConfig::default()), Err(Error::Profile { .. })));
        let bad = IsoFlopConfig { same_size: 0.5, ..Default::default() };
        assert!(matches!(profile(&points, 6.0, &bad), Err(Error::InvalidConfig { field: "same_size", .. })));
    }

    /// fit.json of schema 1 (no indices, curves, skipped budgets or merge settings)
    /// still reads.
    #[test]
    fn schema_1_isoflop_results_deserialize() {
        let v1 = r#"{"config":{"budget_tolerance":0.1,"interpolation":"akima","wide_factor":4.0},
            "budgets":[{"compute":1e20,"points":5,"x_range":[1e8,1e10],"x_opt":1e9,"y_opt":1e11,
            "loss_opt":2.3,"interior":true,"parabola_x_opt":1.1e9,"akima_x_opt":1e9}],
            "frontier":{"a":0.5,"b":0.5,"G":0.1,"E":0.0,"K":10.0,"gamma":0.1},
            "warnings":[{"kind":"skipped","compute":1e21,"points":2}]}"#;
        let fit: IsoFlopFit = serde_json::from_str(v1).unwrap();
        assert_eq!(fit.config, IsoFlopConfig { budget_tolerance: 0.1, same_size: 1.0, max_swing: f64::MAX, ..Default::default() });
        assert!(fit.budgets[0].indices.is_empty() && fit.budgets[0].curve.is_empty());
        assert!(fit.skipped.is_empty() && !fit.diagnostic && fit.frontier.is_some());
        let round_trip: IsoFlopFit = serde_json::from_str(&serde_json::to_string(&fit).unwrap()).unwrap();
        assert_eq!(round_trip, fit);
    }
}
