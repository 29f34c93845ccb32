//! Learning-rate law (M7): `lr*(C) = c·C^(−p)` through per-budget optimal learning rates.
//!
//! Rows (compute, learning rate, loss) are grouped by budget as in [`crate::isoflop`]; each
//! budget's optimal learning rate is the minimiser of loss against `ln lr` (parabola or Akima
//! spline, [`crate::interp`]); budgets whose minimiser is at the edge of the swept range are
//! rejected. Then `ln lr* = ln c − p·ln C` by least squares. Anthropic fitted this after
//! sweeping lr at compute-optimal settings for several budgets (docs/METHODS.md §1.5, finding 3).
//!
//! ## Reference
//! Templeton et al. 2024 (Anthropic), "Scaling Monosemanticity", scaling-law section;
//! Porian et al. 2024, arXiv:2406.19146 (per-budget optima by interpolation).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bootstrap::{stratified_counts, BootstrapConfig};
use crate::error::{Error, Result};
use crate::interp::{self, Interpolation};
use crate::isoflop::group_by_budget;
use crate::points::ln_column;
use crate::stats::fit_line;

/// `lr*(C) = c·C^(−p)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrLaw {
    /// Prefactor c.
    pub c: f64,
    /// Exponent p (positive when the optimal learning rate falls with compute).
    pub p: f64,
}

impl LrLaw {
    /// `lr*(C)`.
    pub fn lr(&self, compute: f64) -> f64 {
        self.c * compute.powf(-self.p)
    }
}

/// The optimal learning rate of one budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrBudget {
    /// Budget (geometric mean of the group's compute).
    pub compute: f64,
    /// Rows in the budget.
    pub points: usize,
    /// Optimal learning rate.
    pub lr_opt: f64,
    /// Whether the minimiser lies inside the swept range (others are not used).
    pub interior: bool,
}

/// Result of a learning-rate law fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrFit {
    /// The law through the interior optima.
    pub law: LrLaw,
    /// Per-budget optima.
    pub budgets: Vec<LrBudget>,
    /// How the per-budget minima were located.
    pub interpolation: Interpolation,
}

/// Validated columns of a learning-rate sweep, in log space.
#[derive(Debug, Clone, PartialEq)]
pub struct LrData {
    ln_compute: Vec<f64>,
    ln_lr: Vec<f64>,
    loss: Vec<f64>,
}

impl LrData {
    /// Checks that compute, lr and loss are finite and positive and equally long.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] naming the column and row, or [`Error::LengthMismatch`].
    pub fn new(compute: &[f64], lr: &[f64], loss: &[f64]) -> Result<Self> {
        if compute.len() != lr.len() || compute.len() != loss.len() {
            return Err(Error::LengthMismatch {
                what: format!("compute {}, lr {}, loss {}", compute.len(), lr.len(), loss.len()),
            });
        }
        ln_column("loss", loss)?;
        Ok(LrData { ln_compute: ln_column("compute", compute)?, ln_lr: ln_column("lr", lr)?, loss: loss.to_vec() })
    }

    fn select(&self, rows: &[usize]) -> LrData {
        LrData {
            ln_compute: rows.iter().map(|&i| self.ln_compute[i]).collect(),
            ln_lr: rows.iter().map(|&i| self.ln_lr[i]).collect(),
            loss: rows.iter().map(|&i| self.loss[i]).collect(),
        }
    }
}

/// Fits the learning-rate law.
///
/// # Errors
/// [`Error::Profile`] when fewer than two budgets have an interior optimum.
pub fn fit_lr_law(data: &LrData, budget_tolerance: f64, interpolation: Interpolation) -> Result<LrFit> {
    let mut budgets = Vec::new();
    for (compute, group) in group_by_budget(&data.ln_compute, budget_tolerance) {
        let x: Vec<f64> = group.iter().map(|&i| data.ln_lr[i]).collect();
        let y: Vec<f64> = group.iter().map(|&i| data.loss[i]).collect();
        if let Some(min) = interp::minimum(interpolation, &x, &y) {
            budgets.push(LrBudget { compute, points: group.len(), lr_opt: min.x.exp(), interior: min.interior });
        }
    }
    let used: Vec<&LrBudget> = budgets.iter().filter(|b| b.interior).collect();
    let fail = |reason: String| Error::Profile { what: "learning-rate law", reason };
    if used.len() < 2 {
        return Err(fail(format!("{} budgets have an interior optimal learning rate; at least 2 are needed", used.len())));
    }
    let ln_c: Vec<f64> = used.iter().map(|b| b.compute.ln()).collect();
    let ln_lr: Vec<f64> = used.iter().map(|b| b.lr_opt.ln()).collect();
    let line = fit_line(&ln_c, &ln_lr, &vec![1.0; used.len()]).ok_or_else(|| fail("all budgets have the same compute".into()))?;
    Ok(LrFit { law: LrLaw { c: line.intercept.exp(), p: -line.slope }, budgets, interpolation })
}

/// Laws of `config.replicates` within-budget resamples, and the number of replicates with
/// fewer than two interior optima.
///
/// # Errors
/// [`Error::InvalidConfig`] for fewer than two replicates.
pub fn bootstrap_lr_law(
    data: &LrData,
    budget_tolerance: f64,
    interpolation: Interpolation,
    config: &BootstrapConfig,
) -> Result<(Vec<LrLaw>, usize)> {
    if config.replicates < 2 {
        return Err(Error::InvalidConfig { field: "bootstrap.replicates", reason: "must be at least 2".into() });
    }
    let n = data.loss.len();
    let groups: Vec<Vec<usize>> = group_by_budget(&data.ln_compute, budget_tolerance).into_iter().map(|(_, g)| g).collect();
    let laws: Vec<Option<LrLaw>> = (0..config.replicates as u64)
        .into_par_iter()
        .map(|r| {
            let counts = stratified_counts(&groups, n, config.seed, r);
            let rows: Vec<usize> = (0..n).flat_map(|i| std::iter::repeat_n(i, counts[i] as usize)).collect();
            fit_lr_law(&data.select(&rows), budget_tolerance, interpolation).ok().map(|f| f.law)
        })
        .collect();
    let failed = laws.iter().filter(|l| l.is_none()).count();
    Ok((laws.into_iter().flatten().collect(), failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_lr_law() {
        // Loss quadratic in ln lr around lr*(C) = 0.3·C^−0.25 at each of four budgets.
        let truth = LrLaw { c: 0.3, p: 0.25 };
        let (mut c, mut lr, mut loss) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..4 {
            let budget = 10f64.powi(12 + k);
            for j in -3..=3 {
                let v = truth.lr(budget) * 2f64.powi(j);
                c.push(budget);
                lr.push(v);
                loss.push(1.0 + 0.1 * (v / truth.lr(budget)).ln().powi(2));
            }
        }
        let data = LrData::new(&c, &lr, &loss).unwrap();
        let fit = fit_lr_law(&data, 0.1, Interpolation::Parabola).unwrap();
        assert!((fit.law.p - 0.25).abs() < 1e-9 && (fit.law.c / 0.3 - 1.0).abs() < 1e-8, "{:?}", fit.law);
        let (laws, failed) = bootstrap_lr_law(&data, 0.1, Interpolation::Parabola, &BootstrapConfig::new(20, 1)).unwrap();
        assert_eq!(failed + laws.len(), 20);
    }

    #[test]
    fn rejects_non_positive_lr() {
        let err = LrData::new(&[1.0, 1.0], &[1e-3, 0.0], &[1.0, 1.0]).unwrap_err();
        assert!(matches!(err, Error::InvalidValue { column: "lr", row: 1, .. }));
    }
}
