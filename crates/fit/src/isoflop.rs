//! IsoFLOP profiles (M3, Chinchilla Approach 2 / Porian et al. style): no parametric surface.
//!
//! 1. Group points by compute `C = κ·X·Y` (a new budget starts where `C` exceeds the group's
//!    first value by more than the relative tolerance); the budget is the geometric mean.
//! 2. Per budget, locate the minimum of loss against `ln X` ([`crate::interp`]; an Akima spline
//!    by default, as pitfall 7 advises, or a least-squares parabola); reject
//!    budgets whose minimiser is at the edge of the sampled range (warning).
//! 3. Fit power laws through the optima by least squares in log space:
//!
//! ```text
//! ln X*(C) = a·ln(C/κ) + ln G,   Y*(C) = C/(κ·X*) = G⁻¹·(C/κ)^(1−a),   ln L*(C) = ln K − γ·ln(C/κ)
//! ```
//!
//! giving a [`Frontier`] with `E = 0` (a pure power law for the loss through the optima).
//!
//! Warnings (SCALING.md M3, pitfall 7): a sampling grid that reaches more than 4× beyond the
//! minimiser on either side (the parabola vertex is then biased when α ≠ β), and a minimiser
//! outside the middle half of the sampled log-range (off-centre grid).
//!
//! ## Reference
//! Hoffmann et al. 2022, arXiv:2203.15556 §3.2 (Approach 2); Porian et al. 2024,
//! arXiv:2406.19146 (Akima interpolation, interior-minimum checks); Open-Athena
//! scaling-law-analysis (parabola bias on wide grids; SCALING.md T10).

use serde::{Deserialize, Serialize};

use crate::allocation::Frontier;
use crate::error::{Error, Result};
use crate::interp::{self, Interpolation};
use crate::points::{check_kappa, Points};
use crate::stats::fit_line;

/// Settings of an IsoFLOP analysis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IsoFlopConfig {
    /// Points whose compute is within this relative distance of a budget's first point share it.
    pub budget_tolerance: f64,
    /// How each budget's minimum is located.
    pub interpolation: Interpolation,
    /// A grid reaching further than this factor from the minimiser on either side is "wide".
    pub wide_factor: f64,
}

impl Default for IsoFlopConfig {
    fn default() -> Self {
        IsoFlopConfig { budget_tolerance: 0.1, interpolation: Interpolation::Akima, wide_factor: 4.0 }
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
    /// Minimiser of the Akima spline, for comparison.
    pub akima_x_opt: Option<f64>,
}

/// Result of an IsoFLOP analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsoFlopFit {
    /// Settings used.
    pub config: IsoFlopConfig,
    /// Per-budget optima (all budgets with a minimum, interior or not).
    pub budgets: Vec<BudgetOptimum>,
    /// The frontier through the interior optima (`E = 0`).
    pub frontier: Frontier,
    /// Warnings, per budget.
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

/// Runs the IsoFLOP analysis on `points` with compute `C = κ·X·Y`.
///
/// # Errors
/// [`Error::InvalidConfig`] for a bad κ or tolerance; [`Error::Profile`] when fewer than two
/// budgets have an interior minimum.
pub fn isoflop(points: &Points, kappa: f64, config: &IsoFlopConfig) -> Result<IsoFlopFit> {
    check_kappa(kappa)?;
    if !(config.budget_tolerance > 0.0 && config.budget_tolerance.is_finite()) {
        return Err(Error::InvalidConfig { field: "budget_tolerance", reason: "must be positive".into() });
    }
    let ln_c = points.ln_compute(kappa);
    let mut budgets = Vec::new();
    let mut warnings = Vec::new();
    for (compute, group) in group_by_budget(&ln_c, config.budget_tolerance) {
        let lx: Vec<f64> = group.iter().map(|&i| points.ln_x[i]).collect();
        let loss: Vec<f64> = group.iter().map(|&i| points.ln_loss[i].exp()).collect();
        let chosen = interp::minimum(config.interpolation, &lx, &loss);
        let Some(min) = chosen else {
            warnings.push(Warning::Skipped { compute, points: group.len() });
            continue;
        };
        let (lo, hi) = lx.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
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
        budgets.push(BudgetOptimum {
            compute,
            points: group.len(),
            x_range: [lo.exp(), hi.exp()],
            x_opt,
            y_opt: compute / (kappa * x_opt),
            loss_opt: min.y,
            interior: min.interior,
            parabola_x_opt: interp::parabola_minimum(&lx, &loss).map(|m| m.x.exp()),
            akima_x_opt: interp::Akima::new(&lx, &loss).map(|a| a.minimum().x.exp()),
        });
    }
    let frontier = frontier_through(&budgets, kappa)?;
    Ok(IsoFlopFit { config: *config, budgets, frontier, warnings })
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
        assert!((fit.frontier.a - f.a).abs() < 1e-9, "{} vs {}", fit.frontier.a, f.a);
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
}
