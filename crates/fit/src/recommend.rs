//! Recommendations from a fit: the compute-optimal setting for a budget, or the budget at which
//! a given size is optimal, each number with the percentile interval of its bootstrap
//! replicates (computed per replicate, never from rounded point estimates; SCALING.md M8).

use serde::{Deserialize, Serialize};

use crate::allocation::Frontier;
use crate::error::{Error, Result};
use crate::result::FitResult;
use crate::stats::percentile;

/// Extrapolating more than this factor beyond the fitted compute range earns a warning
/// (E is weakly identified far from the data; SCALING.md pitfall 8).
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
    match e.ci95 {
        Some([lo, hi]) => format!("{:>14.6e}   95% CI [{lo:.4e}, {hi:.4e}]", e.value),
        None => format!("{:>14.6e}", e.value),
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

    #[test]
    fn compute_and_size_targets_agree() {
        let result = fitted();
        let c = 1e22;
        let by_compute = recommend(&result, Target::Compute(c)).unwrap();
        assert!((by_compute.x.value / result.frontier.x_opt(c, 6.0) - 1.0).abs() < 1e-12);
        let [lo, hi] = by_compute.x.ci95.unwrap();
        assert!(lo < hi && lo < by_compute.x.value * 1.5 && hi > by_compute.x.value / 1.5);
        assert!((by_compute.y.value * by_compute.x.value * 6.0 / c - 1.0).abs() < 1e-12);
        let by_size = recommend(&result, Target::Size(by_compute.x.value)).unwrap();
        assert!((by_size.compute.value / c - 1.0).abs() < 1e-9);
        assert!(by_size.x.ci95.is_none() && by_size.compute.ci95.is_some());
        // Fitted range: 6·1e6·1e8 .. 6·1e6·4⁵·1e8·4⁵ ≈ 6.3e20; 1e22 is ~16× above it.
        assert!(by_compute.extrapolation > 10.0 && !by_compute.extrapolates_far());
        assert!(recommend(&result, Target::Compute(1e26)).unwrap().extrapolates_far());
        assert!(recommend(&result, Target::Compute(-1.0)).is_err());
    }
}
