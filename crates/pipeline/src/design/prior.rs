//! The spec's `[sweep.prior]`, read: the predicted optimum F*(C) that centres an isoflop
//! design before any run has finished, and what `saescale plan --target-compute` draws its
//! simulated laws and noise from.

use saescale_fit::law::JointParams;
use saescale_fit::objective::Objective;
use saescale_fit::{FitResult, Frontier};
use saescale_sweep::spec::Prior;
use saescale_sweep::SweepSpec;

use crate::{Error, Result};

/// The prior's prediction F*(C).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PriorLaw {
    /// `F*(C) = features · (C / compute)^exponent`.
    Power { exponent: f64, compute: f64, features: f64 },
    /// An earlier fit's frontier `F*(C) = G·(C/κ)^a`, with the fit's κ.
    Fit { frontier: Frontier, kappa: f64 },
}

/// A `[sweep.prior]` with its fit (if it names one) read.
#[derive(Debug, Clone)]
pub(crate) struct LoadedPrior {
    /// The predicted optimum.
    pub law: PriorLaw,
    /// The fit it came from, for its laws and residuals.
    pub fit: Option<FitResult>,
    /// The spec's `noise`, if written.
    pub noise: Option<f64>,
}

impl LoadedPrior {
    /// The spec's prior (its `fit` path, like a shard directory's, relative to the working
    /// directory).
    ///
    /// # Errors
    /// A bad-input error without a prior; a spec error at the prior's key for a fit that
    /// cannot be read or has no usable frontier.
    pub(crate) fn of(spec: &SweepSpec) -> Result<LoadedPrior> {
        let prior: &Prior = spec
            .axes
            .prior
            .as_ref()
            .map(|p| p.get_ref())
            .ok_or_else(|| Error::bad_input(format!("sweep {} has no [sweep.prior]: add `exponent` and `anchor`, or `fit`", spec.name)))?;
        if let (Some(exponent), Some(anchor)) = (prior.exponent, prior.anchor) {
            let law = PriorLaw::Power { exponent, compute: anchor.compute.0, features: anchor.features.0 };
            return Ok(LoadedPrior { law, fit: None, noise: prior.noise });
        }
        let Some(path) = &prior.fit else { return Err(Error::bad_input("[sweep.prior] needs `exponent` and `anchor`, or `fit`")) };
        let fail = |why: String| -> Error { saescale_sweep::Error::from(spec.error_at(&["sweep", "prior", "fit"], why)).into() };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read the prior's fit {}: {e}", path.display())))?;
        let fit: FitResult = serde_json::from_str(&text).map_err(|e| fail(format!("{} is not a fit written by `saescale fit`: {e}", path.display())))?;
        let frontier = fit.frontier;
        if !(frontier.a > 0.0 && frontier.a < 1.0 && frontier.G > 0.0 && frontier.G.is_finite()) {
            return Err(fail(format!("the frontier of {} (a = {}, G = {}) cannot place runs: expected 0 < a < 1 and G > 0", path.display(), frontier.a, frontier.G)));
        }
        let law = PriorLaw::Fit { frontier, kappa: fit.kappa };
        Ok(LoadedPrior { law, fit: Some(fit), noise: prior.noise })
    }

    /// The fit's laws to simulate on: its bootstrap replicates, else its point estimate;
    /// `None` without a fit, or for an isoflop-method fit (which has no joint law).
    pub(crate) fn fitted_laws(&self) -> Option<Vec<JointParams>> {
        let fit = self.fit.as_ref()?;
        match fit.bootstrap.as_ref().map(|b| b.param_samples.clone()) {
            Some(samples) if !samples.is_empty() => Some(samples),
            _ => fit.params.map(|p| vec![p]),
        }
    }

    /// Relative noise of a run's loss: the spec's, else the fit's residuals.
    pub(crate) fn noise(&self) -> Option<f64> {
        self.noise.or_else(|| self.fit.as_ref().and_then(residual_noise))
    }
}

impl PriorLaw {
    /// The predicted optimal feature count at compute `c`.
    pub(crate) fn centre(&self, c: f64) -> f64 {
        match *self {
            PriorLaw::Power { exponent, compute, features } => features * (c / compute).powf(exponent),
            PriorLaw::Fit { frontier, kappa } => frontier.x_opt(c, kappa),
        }
    }

    /// The exponent a of F*(C) ∝ C^a.
    pub(crate) fn exponent(&self) -> f64 {
        match *self {
            PriorLaw::Power { exponent, .. } => exponent,
            PriorLaw::Fit { frontier, .. } => frontier.a,
        }
    }
}

/// The standard deviation of a parametric fit's log residuals (≈ the relative noise of a
/// loss), recovered from its objective: the scale σ of the Huber likelihood (mle); for least
/// squares √(2·V/n); for the summed Huber loss V with threshold δ, whose terms are
/// δ(|r| − δ/2) beyond δ, the mean |r| = V/(n·δ) + δ/2 scaled to an SD by √(π/2) as for
/// normal residuals. Each is corrected for the 5 fitted parameters by √(n/(n − 5)).
pub(crate) fn residual_noise(fit: &FitResult) -> Option<f64> {
    let n = fit.n_points as f64;
    if n <= 5.0 {
        return None;
    }
    let value = fit.objective.as_ref()?.value;
    let sd = match fit.objective.as_ref()?.objective {
        Objective::HuberLikelihood { .. } => fit.log_sigma?.exp(),
        Objective::LeastSquares => (2.0 * value / n).sqrt(),
        Objective::Huber { delta } if value > n * delta * delta / 2.0 => (value / (n * delta) + delta / 2.0) * std::f64::consts::FRAC_PI_2.sqrt(),
        Objective::Huber { .. } => (2.0 * value / n).sqrt(),
    };
    let sd = sd * (n / (n - 5.0)).sqrt();
    (sd > 0.0 && sd.is_finite()).then_some(sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_law_prior_goes_through_its_anchor() {
        let prior = PriorLaw::Power { exponent: 0.6, compute: 1e12, features: 512.0 };
        assert_eq!(prior.centre(1e12), 512.0);
        assert!((prior.centre(1e13) / (512.0 * 10f64.powf(0.6)) - 1.0).abs() < 1e-12);
    }
}
