//! Recommendations from a fit: the compute-optimal setting for a budget, or the budget at which
//! a given size is optimal, each number with the percentile interval of its bootstrap
//! replicates (computed per replicate, never from rounded point estimates; docs/METHODS.md M8).

use serde::{Deserialize, Serialize};

use crate::allocation::Frontier;
use crate::error::{Error, Result};
use crate::result::FitResult;
use crate::stats::percentile;

/// Extrapolating more than this factor beyond the fitted compute range earns a warning
/// (E is weakly identified far from the data; docs/METHODS.md pitfall 8).
pub const FAR_EXTRAPOLATION: f64 = 100.0;

/// What to recommend for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// A compute budget in FLOP.
    Compute(f64),
    /// A size X (e.g. SAE features): the budget at which it is compute-optimal.
    Size(f64),
}

/// A number with its 95% percentile interval (when the fit was bootstrapped).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Point estimate (from the full-data fit).
    pub value: f64,
    /// 2.5th and 97.5th percentiles over bootstrap replicates.
    pub ci95: Option<[f64; 2]>,
}

/// The recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Compute budget (FLOP).
    pub compute: Estimate,
    /// Optimal size X* (features, parameters).
    pub x: Estimate,
    /// Optimal duration Y* (steps for SAE sweeps, tokens for LM tables).
    pub y: Estimate,
    /// Tokens `Y*·tokens_per_y`.
    pub tokens: Estimate,
    /// Predicted loss on the frontier.
    pub loss: Estimate,
    /// Learning rate from the lr law, if one was fitted.
    pub lr: Option<Estimate>,
    /// Factor by which the budget lies outside the fitted compute range (1 inside).
    pub extrapolation: f64,
    /// Fitted compute range.
    pub compute_range: [f64; 2],
}

impl Recommendation {
    /// Whether the budget lies more than [`FAR_EXTRAPOLATION`] outside the fitted range.
    pub fn extrapolates_far(&self) -> bool {
        self.extrapolation > FAR_EXTRAPOLATION
    }
}

fn interval(mut values: Vec<f64>) -> Option<[f64; 2]> {
    values.retain(|v| v.is_finite());
    if values.len() < 2 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some([percentile(&values, 2.5), percentile(&values, 97.5)])
}

/// The recommendation for `target` from `fit`.
///
/// # Errors
/// [`Error::InvalidConfig`] for a target that is not finite and positive.
pub fn recommend(fit: &FitResult, target: Target) -> Result<Recommendation> {
    let value = match target {
        Target::Compute(v) | Target::Size(v) => v,
    };
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::InvalidConfig { field: "target", reason: format!("{value} is not finite and positive") });
    }
    let kappa = fit.kappa;
    // (compute, x) of a frontier for the target.
    let at = |f: &Frontier| match target {
        Target::Compute(c) => (c, f.x_opt(c, kappa)),
        Target::Size(x) => (f.compute_for_x(x, kappa), x),
    };
    let samples: &[Frontier] = fit.bootstrap.as_ref().map_or(&[], |b| &b.frontier_samples);
    let per_sample: Vec<(f64, f64, f64)> = samples
        .iter()
        .map(|f| {
            let (c, x) = at(f);
            (c, x, f.loss_opt(c, kappa))
        })
        .collect();
    let (c, x) = at(&fit.frontier);
    let tokens_per_y = fit.source.tokens_per_y;
    let estimate = |value: f64, pick: &dyn Fn(&(f64, f64, f64)) -> f64| Estimate {
        value,
        ci95: interval(per_sample.iter().map(pick).collect()),
    };
    let y = c / (kappa * x);
    let loss = fit.frontier.loss_opt(c, kappa);
    let compute = match target {
        Target::Compute(_) => Estimate { value: c, ci95: None },
        Target::Size(_) => estimate(c, &|s| s.0),
    };
    let lr = fit.lr_law.as_ref().map(|report| Estimate {
        value: report.fit.law.lr(c),
        ci95: interval(report.samples.iter().map(|l| l.lr(c)).collect()),
    });
    let x = match target {
        Target::Compute(_) => estimate(x, &|s| s.1),
        Target::Size(_) => Estimate { value: x, ci95: None },
    };
    Ok(Recommendation {
        compute,
        x,
        y: estimate(y, &|s| s.0 / (kappa * s.1)),
        tokens: estimate(y * tokens_per_y, &|s| s.0 / (kappa * s.1) * tokens_per_y),
        loss: estimate(loss, &|s| s.2),
        lr,
        extrapolation: fit.extrapolation(c),
        compute_range: fit.compute_range,
    })
}

fn fmt_estimate(e: &Estimate) -> String {
    e.to_string()
}

impl std::fmt::Display for Estimate {
    /// The value, right-aligned in scientific notation, and its 95% interval when there is one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ci95 {
            Some([lo, hi]) => write!(f, "{:>14.6e}   95% CI [{lo:.4e}, {hi:.4e}]", self.value),
            None => write!(f, "{:>14.6e}", self.value),
        }
    }
}

impl std::fmt::Display for Recommendation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "compute (FLOP) {}", fmt_estimate(&self.compute))?;
        writeln!(f, "size X*        {}", fmt_estimate(&self.x))?;
        writeln!(f, "duration Y*    {}", fmt_estimate(&self.y))?;
        writeln!(f, "tokens         {}", fmt_estimate(&self.tokens))?;
        writeln!(f, "loss L*        {}", fmt_estimate(&self.loss))?;
        if let Some(lr) = &self.lr {
            writeln!(f, "learning rate  {}", fmt_estimate(lr))?;
        }
        let [lo, hi] = self.compute_range;
        if self.extrapolation > 1.0 {
            writeln!(f, "extrapolation  {:.1}x outside the fitted compute range [{lo:.3e}, {hi:.3e}]", self.extrapolation)?;
        } else {
            writeln!(f, "extrapolation  none: inside the fitted compute range [{lo:.3e}, {hi:.3e}]")?;
        }
        if self.extrapolates_far() {
            writeln!(
                f,
                "warning: more than {FAR_EXTRAPOLATION}x beyond the fitted range; the irreducible loss and the exponents are weakly identified there — treat these numbers as rough"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::law::JointParams;
    use crate::{fit, BootstrapConfig, FitConfig, Method, Points, Starts};

    fn fitted() -> FitResult {
        let truth = JointParams { E: 1.5, A: 300.0, B: 900.0, alpha: 0.3, beta: 0.35 };
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..6 {
            for j in 0..6 {
                x.push(1e6 * 4f64.powi(i));
                y.push(1e8 * 4f64.powi(j));
            }
        }
        // ±0.5% deterministic wiggle so that bootstrap replicates differ.
        let loss: Vec<f64> = x.iter().zip(&y).enumerate().map(|(i, (&x, &y))| truth.predict(x, y) * (1.0 + 0.005 * ((i * 7 % 5) as f64 - 2.0) / 2.0)).collect();
        let points = Points::new(&x, &y, &loss).unwrap();
        let mut config = FitConfig::new(Method::Huber, 6.0);
        config.starts = Starts::Given(vec![truth.to_log()]);
        config.bootstrap = Some(BootstrapConfig::new(30, 3));
        fit(&points, &config).unwrap()
    }

    /// The compute-optimal size of the law `p` at compute `c` with `C = κ·X·Y`, written out
    /// from docs/METHODS.md M2 without the crate's [`Frontier`]:
    /// `X*(C) = G·(C/κ)^a`, `G = (α·A/(β·B))^(1/(α+β))`, `a = β/(α+β)`.
    fn closed_form_x(p: &JointParams, c: f64, kappa: f64) -> f64 {
        let g = (p.alpha * p.A / (p.beta * p.B)).powf(1.0 / (p.alpha + p.beta));
        let a = p.beta / (p.alpha + p.beta);
        g * (c / kappa).powf(a)
    }

    /// The minimiser of the reducible loss `A/x^α + B/y^β` with `y = C/(κx)` over `ln x`, by
    /// golden-section search on `[ln x₀ − 10, ln x₀ + 10]` (unimodal in `ln x`).
    fn numeric_x(p: &JointParams, c: f64, kappa: f64, around: f64) -> f64 {
        let f = |u: f64| p.A * (-p.alpha * u).exp() + p.B * (c / kappa).powf(-p.beta) * (p.beta * u).exp();
        let (mut lo, mut hi) = (around.ln() - 10.0, around.ln() + 10.0);
        let r = (5f64.sqrt() - 1.0) / 2.0;
        while hi - lo > 1e-10 {
            let (m1, m2) = (hi - r * (hi - lo), lo + r * (hi - lo));
            if f(m1) < f(m2) {
                hi = m2;
            } else {
                lo = m1;
            }
        }
        (0.5 * (lo + hi)).exp()
    }

    #[test]
    fn compute_and_size_targets_agree() {
        let result = fitted();
        let p = result.params.unwrap();
        let (c, kappa) = (1e22, 6.0);
        let by_compute = recommend(&result, Target::Compute(c)).unwrap();
        // Against the closed form written out here and against a direct minimisation of the
        // fitted law along the budget, neither of which uses `Frontier`.
        let x = closed_form_x(&p, c, kappa);
        assert!((by_compute.x.value / x - 1.0).abs() < 1e-12, "{} vs {x}", by_compute.x.value);
        let numeric = numeric_x(&p, c, kappa, 1e9);
        assert!((by_compute.x.value / numeric - 1.0).abs() < 1e-6, "{} vs {numeric}", by_compute.x.value);
        let y = c / (kappa * x);
        assert!((by_compute.y.value / y - 1.0).abs() < 1e-12);
        assert!((by_compute.loss.value / p.predict(x, y) - 1.0).abs() < 1e-12);
        let [lo, hi] = by_compute.x.ci95.unwrap();
        assert!(lo < hi && lo < by_compute.x.value * 1.5 && hi > by_compute.x.value / 1.5);
        // The budget at which a size is optimal inverts the closed form:
        // C = κ·(X/G)^(1/a) = κ·(X/G)^((α+β)/β).
        let size = 3e9;
        let by_size = recommend(&result, Target::Size(size)).unwrap();
        let g = (p.alpha * p.A / (p.beta * p.B)).powf(1.0 / (p.alpha + p.beta));
        let compute = kappa * (size / g).powf((p.alpha + p.beta) / p.beta);
        assert!((by_size.compute.value / compute - 1.0).abs() < 1e-9, "{} vs {compute}", by_size.compute.value);
        assert!((closed_form_x(&p, by_size.compute.value, kappa) / size - 1.0).abs() < 1e-9);
        assert!(by_size.x.ci95.is_none() && by_size.compute.ci95.is_some());
        let round_trip = recommend(&result, Target::Size(by_compute.x.value)).unwrap();
        assert!((round_trip.compute.value / c - 1.0).abs() < 1e-9);
        // Fitted range: 6·1e6·1e8 .. 6·1e6·4⁵·1e8·4⁵ ≈ 6.3e20; 1e22 is ~16× above it.
        assert!(by_compute.extrapolation > 10.0 && !by_compute.extrapolates_far());
        assert!(recommend(&result, Target::Compute(1e26)).unwrap().extrapolates_far());
        assert!(recommend(&result, Target::Compute(-1.0)).is_err());
    }
}
