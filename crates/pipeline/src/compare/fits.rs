//! Fit against fit: the law's exponents and the compute-optimal allocation at a target compute,
//! each with its bootstrap interval where the fits have one.
//!
//! Only the exponents (α, β and the allocation exponents a, b) can fail a comparison: one
//! regresses when the two 95% intervals stop overlapping. E and the optima F*(C), S*(C) and
//! L*(C) are reported with their intervals (they extrapolate, and their intervals are wide), as
//! `moved` when the intervals do not overlap.

use saescale_fit::stats::Spread;
use saescale_fit::{recommend, Estimate, FitResult, Target};
use serde::Serialize;

use super::tolerance::Verdict;
use crate::{Error, Result};

/// A fitted quantity on both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantity {
    /// Its name: `alpha`, `beta`, `a`, `b`, `E`, `F*(C)`, `S*(C)`, `L*(C)`.
    pub quantity: &'static str,
    /// The baseline's value and interval.
    pub baseline: Estimate,
    /// The current value and interval.
    pub current: Estimate,
    /// The verdict.
    pub verdict: Verdict,
}

/// Two fits compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitComparison {
    /// The compute at which the optima are compared (FLOP).
    pub target_compute: f64,
    /// The quantities, exponents first.
    pub quantities: Vec<Quantity>,
}

/// Compares `current` with `baseline` at `target_compute`.
///
/// # Errors
/// [`Error::BadInput`] when the fits are not of the same kind of table (other columns, κ or
/// method, or an SAE sweep against another table), or the target is out of range.
pub fn compare_fits(baseline: &FitResult, current: &FitResult, target_compute: f64) -> Result<FitComparison> {
    comparable(baseline, current)?;
    let estimate = |value: f64, spread: Option<&Spread>| Estimate { value, ci95: spread.map(|s| s.ci95) };
    let mut quantities = Vec::new();
    let mut exponent = |quantity, b: Estimate, c: Estimate| quantities.push(Quantity { quantity, verdict: overlap(&b, &c, true), baseline: b, current: c });
    if let (Some(pb), Some(pc)) = (&baseline.params, &current.params) {
        let (sb, sc) = (spreads(baseline), spreads(current));
        exponent("alpha", estimate(pb.alpha, sb.map(|s| &s.alpha)), estimate(pc.alpha, sc.map(|s| &s.alpha)));
        exponent("beta", estimate(pb.beta, sb.map(|s| &s.beta)), estimate(pc.beta, sc.map(|s| &s.beta)));
    }
    let derived = |fit: &FitResult| fit.bootstrap.as_ref().map(|b| b.derived);
    let (db, dc) = (derived(baseline), derived(current));
    exponent("a", estimate(baseline.derived.a, db.as_ref().map(|d| &d.a)), estimate(current.derived.a, dc.as_ref().map(|d| &d.a)));
    exponent("b", estimate(baseline.derived.b, db.as_ref().map(|d| &d.b)), estimate(current.derived.b, dc.as_ref().map(|d| &d.b)));
    if let (Some(pb), Some(pc)) = (&baseline.params, &current.params) {
        let (sb, sc) = (spreads(baseline), spreads(current));
        let (b, c) = (estimate(pb.E, sb.map(|s| &s.E)), estimate(pc.E, sc.map(|s| &s.E)));
        quantities.push(Quantity { quantity: "E", verdict: overlap(&b, &c, false), baseline: b, current: c });
    }
    let at = |fit: &FitResult| recommend(fit, Target::Compute(target_compute)).map_err(|e| Error::bad_input(format!("target compute {target_compute:e}: {e}")));
    let (rb, rc) = (at(baseline)?, at(current)?);
    for (quantity, b, c) in [("F*(C)", rb.x, rc.x), ("S*(C)", rb.y, rc.y), ("L*(C)", rb.loss, rc.loss)] {
        quantities.push(Quantity { quantity, verdict: overlap(&b, &c, false), baseline: b, current: c });
    }
    Ok(FitComparison { target_compute, quantities })
}

fn spreads(fit: &FitResult) -> Option<&saescale_fit::result::ParamSpreads> {
    fit.bootstrap.as_ref().and_then(|b| b.params.as_ref())
}

/// Equal to the bit, or within: the two intervals overlap; without intervals a change cannot
/// be judged. Intervals that do not overlap regress a quantity that is `judged`, and mark the
/// others as moved.
fn overlap(baseline: &Estimate, current: &Estimate, judged: bool) -> Verdict {
    if baseline.value.to_bits() == current.value.to_bits() {
        return Verdict::Equal;
    }
    match (baseline.ci95, current.ci95) {
        (Some([bl, bh]), Some([cl, ch])) if bl <= ch && cl <= bh => Verdict::Within,
        (Some(_), Some(_)) if judged => Verdict::Regressed,
        (Some(_), Some(_)) => Verdict::Moved,
        _ => Verdict::Unjudged,
    }
}

/// Fits of the same kind of table: the same columns, κ, method and SAE setting.
fn comparable(baseline: &FitResult, current: &FitResult) -> Result<()> {
    let (b, c) = (&baseline.source, &current.source);
    let differences: Vec<String> = [
        (b.x_col != c.x_col, format!("X column {} vs {}", b.x_col, c.x_col)),
        (b.y_col != c.y_col || b.compute_col != c.compute_col, "Y column".to_string()),
        (baseline.kappa != current.kappa, format!("kappa {} vs {}", baseline.kappa, current.kappa)),
        (baseline.method != current.method, format!("method {} vs {}", baseline.method.as_str(), current.method.as_str())),
        (b.sae != c.sae, format!("SAE setting {:?} vs {:?}", b.sae, c.sae)),
    ]
    .into_iter()
    .filter_map(|(differs, what)| differs.then_some(what))
    .collect();
    if differences.is_empty() {
        Ok(())
    } else {
        Err(Error::bad_input(format!("the two fits are not of the same kind of table ({}); compare fits of one sweep's nights", differences.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(value: f64, ci: Option<[f64; 2]>) -> Estimate {
        Estimate { value, ci95: ci }
    }

    #[test]
    fn exponents_regress_only_when_the_intervals_part() {
        assert_eq!(overlap(&at(0.3, Some([0.2, 0.4])), &at(0.3, Some([0.2, 0.4])), true), Verdict::Equal);
        assert_eq!(overlap(&at(0.3, Some([0.2, 0.4])), &at(0.35, Some([0.3, 0.5])), true), Verdict::Within);
        assert_eq!(overlap(&at(0.3, Some([0.2, 0.4])), &at(0.6, Some([0.5, 0.7])), true), Verdict::Regressed);
        assert_eq!(overlap(&at(0.3, Some([0.2, 0.4])), &at(0.6, Some([0.5, 0.7])), false), Verdict::Moved);
        assert_eq!(overlap(&at(0.3, None), &at(0.6, None), true), Verdict::Unjudged);
    }
}
